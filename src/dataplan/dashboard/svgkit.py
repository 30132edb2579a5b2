"""Small SVG building blocks: escaping, elements, legends and the "no data" chart.

Charts are built as lists of strings. No element carries an ``id``, so any number of
charts can be inlined into one HTML page without collisions.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
TEXT = "#1f2937"
MUTED = "#6b7280"
GRID = "#e5e7eb"
AXIS = "#9ca3af"
FONT_SIZE = 11
CHAR_WIDTH = 6.4  # average glyph advance at FONT_SIZE, for layout estimates

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def esc(value: object) -> str:
    """Text for XML / HTML content or a quoted attribute; control characters dropped."""
    return html.escape(_NOT_XML.sub("", str(value)), quote=True)


def num(value: float) -> str:
    """A coordinate with at most two decimals."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def text_width(text: str, size: float = FONT_SIZE) -> float:
    return len(text) * CHAR_WIDTH * size / FONT_SIZE


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(1, limit - 1)] + "\u2026"


def titled(label: str, full: str, element: str) -> str:
    """``element`` (drawing ``label``) with ``full`` as its tooltip when ``label`` was shortened."""
    return element if label == full else f"<g><title>{esc(full)}</title>{element}</g>"


def open_svg(width: float, height: float, title: str, *, xmlns: bool = False) -> str:
    namespace = ' xmlns="http://www.w3.org/2000/svg"' if xmlns else ""
    return (
        f'<svg{namespace} viewBox="0 0 {num(width)} {num(height)}" width="100%" '
        f'preserveAspectRatio="xMidYMid meet" role="img" aria-label="{esc(title)}" '
        f'font-family="{esc(FONT)}" font-size="{FONT_SIZE}" fill="{TEXT}" class="chart">'
        f"<title>{esc(title)}</title>"
    )


def text(
    x: float,
    y: float,
    content: str,
    *,
    anchor: str = "start",
    size: float | None = None,
    fill: str | None = None,
    weight: str | None = None,
    baseline: str | None = None,
) -> str:
    attrs = [f'x="{num(x)}"', f'y="{num(y)}"']
    if anchor != "start":
        attrs.append(f'text-anchor="{anchor}"')
    if size is not None:
        attrs.append(f'font-size="{num(size)}"')
    if fill is not None:
        attrs.append(f'fill="{fill}"')
    if weight is not None:
        attrs.append(f'font-weight="{weight}"')
    if baseline is not None:
        attrs.append(f'dominant-baseline="{baseline}"')
    return f"<text {' '.join(attrs)}>{esc(content)}</text>"


def line(x1: float, y1: float, x2: float, y2: float, stroke: str, width: float = 1) -> str:
    return (
        f'<line x1="{num(x1)}" y1="{num(y1)}" x2="{num(x2)}" y2="{num(y2)}" '
        f'stroke="{stroke}" stroke-width="{num(width)}"/>'
    )


def rect(
    x: float,
    y: float,
    width: float,
    height: float,
    fill: str,
    *,
    tooltip: str | None = None,
    extra: str = "",
) -> str:
    attrs = (
        f'x="{num(x)}" y="{num(y)}" width="{num(max(width, 0))}" height="{num(max(height, 0))}" fill="{fill}"{extra}'
    )
    if tooltip is None:
        return f"<rect {attrs}/>"
    return f"<rect {attrs}><title>{esc(tooltip)}</title></rect>"


def legend_height(labels: Sequence[str], width: float) -> float:
    return len(_legend_rows(labels, width)) * 18 if len(labels) > 1 else 0


def _legend_rows(labels: Sequence[str], width: float) -> list[list[int]]:
    rows: list[list[int]] = [[]]
    used = 0.0
    for i, label in enumerate(labels):
        item = 22 + text_width(truncate(label, 32)) + 16
        if rows[-1] and used + item > width:
            rows.append([])
            used = 0.0
        rows[-1].append(i)
        used += item
    return rows


def legend(labels: Sequence[str], colors: Sequence[str], x: float, y: float, width: float, swatch: str) -> list[str]:
    """A wrapping horizontal legend; ``swatch`` is ``line`` or ``box``."""
    if len(labels) < 2:
        return []
    out = ['<g class="legend">']
    for row_index, row in enumerate(_legend_rows(labels, width)):
        cx = x
        cy = y + row_index * 18 + 9
        for i in row:
            label = truncate(labels[i], 32)
            out.append(f"<g><title>{esc(labels[i])}</title>")
            if swatch == "line":
                out.append(
                    f'<line x1="{num(cx)}" y1="{num(cy)}" x2="{num(cx + 16)}" y2="{num(cy)}" '
                    f'stroke="{colors[i]}" stroke-width="3" stroke-linecap="round"/>'
                )
            else:
                out.append(rect(cx + 3, cy - 5, 10, 10, colors[i], extra=' rx="2"'))
            out.append(text(cx + 22, cy, label, baseline="central"))
            out.append("</g>")
            cx += 22 + text_width(label) + 16
    out.append("</g>")
    return out


def message_svg(width: float, height: float, title: str, message: str, *, xmlns: bool = False) -> str:
    """A chart-sized placeholder with a centred message, e.g. "No data"."""
    return "".join(
        [
            open_svg(width, height, title, xmlns=xmlns),
            rect(0.5, 0.5, width - 1, height - 1, "#f9fafb", extra=f' stroke="{GRID}" rx="6"'),
            text(width / 2, height / 2, message, anchor="middle", size=14, fill=MUTED),
            "</svg>",
        ]
    )
