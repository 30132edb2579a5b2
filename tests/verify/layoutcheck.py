"""Measuring a report's layout in headless Chromium: what overflows its box, how large chart text is drawn.

A copy of the page gets a small script (the page itself has none) that measures after layout and
writes the figures into the DOM, which Chromium's ``--dump-dom`` prints.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.htmlcheck import find_chromium

_MEASURE = """<script>
window.addEventListener("load", () => {
  const out = {overflow: {}, fonts: [], pageOverflow: document.documentElement.scrollWidth - innerWidth};
  for (const el of document.querySelectorAll(".scroll")) {
    const where = el.closest("[id]") ? el.closest("[id]").id : "";
    out.overflow[where] = Math.max(out.overflow[where] || 0, el.scrollWidth - el.clientWidth);
  }
  for (const svg of document.querySelectorAll("svg.chart")) {
    const box = svg.viewBox.baseVal;
    if (!box || !box.width) continue;
    const size = parseFloat(svg.getAttribute("font-size") || "11");
    out.fonts.push({label: svg.getAttribute("aria-label"), px: svg.getBoundingClientRect().width / box.width * size});
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
    fonts: list[tuple[str, float]]  # per chart: its aria-label and the drawn size of 11-unit text, px
    page_overflow: float  # how far the whole page is wider than the window, px

    def smallest_font(self) -> float:
        return min(px for _, px in self.fonts)


def measure(page: str, tmp_path: Path, width: int, height: int = 1200) -> Layout:
    """``page`` laid out by headless Chromium in a ``width`` px window (skips when none is installed)."""
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("no chromium / google-chrome on PATH to measure the layout with")
    html_file = tmp_path / f"measure-{width}.html"
    html_file.write_text(page.replace("</body>", _MEASURE + "</body>", 1), encoding="utf-8")
    command = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'profile'}", f"--window-size={width},{height}", "--dump-dom",
        html_file.as_uri(),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    found = re.search(r'<pre id="layout-measure">(.*?)</pre>', result.stdout, flags=re.S)
    assert found, result.stderr[-2000:]
    data = json.loads(html.unescape(found.group(1)))
    fonts = [(f["label"] or "", float(f["px"])) for f in data["fonts"]]
    return Layout({k: float(v) for k, v in data["overflow"].items()}, fonts, float(data["pageOverflow"]))
