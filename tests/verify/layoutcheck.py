"""Measuring a report's layout in headless Chromium: what overflows its box, how large chart text is drawn.

The page is laid out in an iframe ``width`` px wide (headless Chromium will not make a window
narrower than 500 px, a phone is 390) inside a wrapper whose script measures it after layout and
writes the figures into the wrapper's DOM, which ``--dump-dom`` prints. The page itself gets no script.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.htmlcheck import require_chromium

_MEASURE = """<script>
const frame = document.getElementById("page");
frame.addEventListener("load", () => {
  const doc = frame.contentDocument, win = frame.contentWindow;
  const out = {overflow: {}, fonts: [], pageOverflow: doc.documentElement.scrollWidth - win.innerWidth};
  for (const el of doc.querySelectorAll(".scroll")) {
    const where = el.closest("[id]") ? el.closest("[id]").id : "";
    out.overflow[where] = Math.max(out.overflow[where] || 0, el.scrollWidth - el.clientWidth);
  }
  for (const svg of doc.querySelectorAll("svg.chart")) {
    const box = svg.viewBox.baseVal;
    if (!box || !box.width) continue;
    const size = parseFloat(svg.getAttribute("font-size") || "11");
    out.fonts.push([svg.getAttribute("aria-label") || "", svg.getBoundingClientRect().width / box.width * size]);
  }
  const node = document.createElement("pre");
  node.id = "layout-measure";
  node.textContent = JSON.stringify(out);
  document.body.appendChild(node);
});
</script>"""


@dataclass
class Layout:
    overflow: dict[str, float]  # per element id holding a .scroll box: how far its content overflows, px
    fonts: list[tuple[str, float]]  # per chart: its aria-label and the drawn size of its 11-unit text, px
    page_overflow: float  # how far the whole page is wider than its window, px

    def smallest_font(self) -> float:
        return min(px for _, px in self.fonts)


def measure(page: str, tmp_path: Path, width: int, height: int = 1200) -> Layout:
    """``page`` laid out by headless Chromium ``width`` px wide (skips when no Chromium is installed)."""
    chromium = require_chromium("measure the layout with")
    wrapper = (
        '<!DOCTYPE html><html><body style="margin:0">'
        f'<iframe id="page" style="border:0;width:{width}px;height:{height}px" srcdoc="{html.escape(page)}"></iframe>'
        f"{_MEASURE}</body></html>"
    )
    html_file = tmp_path / f"measure-{width}.html"
    html_file.write_text(wrapper, encoding="utf-8")
    command = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'profile'}", f"--window-size={max(width, 800)},{height}", "--dump-dom",
        html_file.as_uri(),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    found = re.search(r'<pre id="layout-measure">(.*?)</pre>', result.stdout, flags=re.S)
    assert found, result.stderr[-2000:]
    data = json.loads(html.unescape(found.group(1)))
    fonts = [(str(label), float(px)) for label, px in data["fonts"]]
    return Layout({k: float(v) for k, v in data["overflow"].items()}, fonts, float(data["pageOverflow"]))
