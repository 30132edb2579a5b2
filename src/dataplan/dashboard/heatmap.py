"""Heatmap charts: x and y are two categorical axes, ``value`` colors each cell."""

from __future__ import annotations

import math

import pyarrow as pa

from dataplan.dashboard.data import HeatmapData, heatmap_data
from dataplan.dashboard.scales import (
    SEQUENTIAL,
    format_short,
    format_value,
    humanize,
    is_dark,
    sequential_color,
)
from dataplan.dashboard.spec import ChartSpec
from dataplan.dashboard.svgkit import (
    CHAR_WIDTH,
    MUTED,
    TEXT,
    message_svg,
    open_svg,
    rect,
    text,
    text_width,
    titled,
    truncate,
)

WIDTH = 1200
MAX_CELL_HEIGHT = 24
MIN_HEADER_CHARS = 6  # column headers are shortened to no fewer characters, then thinned
HEADER_GAP = 8
NULL_FILL = "#f3f4f6"


def _color_domain(values: list[float]) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    if 0 <= lo < 0.5 * hi:
        lo = 0.0
    return lo, hi


def render_heatmap(
    spec: ChartSpec,
    table: pa.Table,
    width: float | None = None,
    height: float | None = None,
    *,
    xmlns: bool = False,
) -> str:
    """The heatmap as an ``<svg>``; its height follows the number of rows unless given."""
    data = heatmap_data(spec, table)
    width = width or WIDTH
    if not data.cells:
        return message_svg(width, height or 320, spec.title, "No data", xmlns=xmlns)
    return _Heatmap(spec, data, width, height).render(xmlns)


class _Heatmap:
    def __init__(self, spec: ChartSpec, data: HeatmapData, width: float, height: float | None) -> None:
        self.spec, self.data, self.width = spec, data, width
        nx, ny = len(data.x_labels), len(data.y_labels)
        y_labels = [truncate(label, 18) for label in data.y_labels]
        self.y_title = humanize(spec.y[0]) + " \u2193"
        self.x_title = humanize(spec.x) + " \u2192"
        widest = max(max(text_width(label) for label in y_labels), text_width(self.y_title))
        self.left = 24 + widest
        self.right = width - 16
        self.top = 52
        legend_space = 56 + (12 if data.omitted else 0)
        if height is None:
            cell_h = max(4.0, min(MAX_CELL_HEIGHT, 640 / ny))
            height = self.top + ny * cell_h + legend_space
        self.height = height
        self.bottom = height - legend_space
        self.cell_w = (self.right - self.left) / nx
        self.cell_h = (self.bottom - self.top) / ny
        values = [v for v in data.cells.values() if v is not None]
        self.lo, self.hi = _color_domain(values) if values else (0.0, 1.0)

    def color(self, value: float) -> str:
        span = self.hi - self.lo
        return sequential_color((value - self.lo) / span if span else 1.0)

    def render(self, xmlns: bool) -> str:
        spec, data = self.spec, self.data
        out = [open_svg(self.width, self.height, spec.title, xmlns=xmlns)]
        x_title, y_title = humanize(spec.x), humanize(spec.y[0])
        value_title = humanize(spec.value or "value")
        # The x title above the column headers; the y title heads the row-label column.
        out.append(text(self.left, self.top - 32, self.x_title, fill=MUTED, weight="600"))
        out.append(text(12, self.top - 10, self.y_title, fill=MUTED, weight="600"))

        # Column headers above the grid, shortened to fit a column (full name as tooltip) and
        # thinned only when even the shortest form does not fit; rows on the left.
        out.append('<g class="x-labels">')
        for label, full, x in self._column_headers():
            element = text(x, self.top - 10, label, anchor="middle", fill=MUTED)
            out.append(titled(label, full, element))
        out.append("</g>")
        y_every = max(1, math.ceil(13 / self.cell_h))
        out.append('<g class="y-labels">')
        for j, full in enumerate(data.y_labels):
            if j % y_every == 0:
                y = self.top + (j + 0.5) * self.cell_h
                label = truncate(full, 18)
                element = text(self.left - 8, y, label, anchor="end", fill=MUTED, baseline="central")
                out.append(titled(label, full, element))
        out.append("</g>")

        out += self._cells(x_title, y_title, value_title)
        out += self._legend(value_title)
        if data.omitted:
            note = f"{data.omitted} row(s) with an empty {spec.x} or {spec.y[0]} not shown"
            out.append(text(12, self.height - 6, note, size=10, fill=MUTED))
        out.append("</svg>")
        return "".join(out)

    def _column_headers(self) -> list[tuple[str, str, float]]:
        """(shown label, full label, x centre) per labelled column, every one inside the grid.

        Labels longer than a column are cut to the characters that fit (never fewer than
        ``MIN_HEADER_CHARS``); a label is skipped only if it would overlap the one before it.
        """
        fulls = self.data.x_labels
        room = self.cell_w - HEADER_GAP
        if max(text_width(s) for s in fulls) > room:
            limit = max(MIN_HEADER_CHARS, int(room / CHAR_WIDTH))
            # "Enterprise Annual (legacy…", not "Enterprise Annual (legacy …"
            shown = [truncate(s, limit).replace(" \u2026", "\u2026") for s in fulls]
        else:
            shown = list(fulls)
        out: list[tuple[str, str, float]] = []
        previous_end = -math.inf
        for i, (label, full) in enumerate(zip(shown, fulls, strict=True)):
            half = text_width(label) / 2
            x = self.left + (i + 0.5) * self.cell_w
            x = min(max(x, self.left + half), self.right - half)  # never past the grid's edges
            if x - half >= previous_end + HEADER_GAP:
                out.append((label, full, x))
                previous_end = x + half
        return out

    def _cells(self, x_title: str, y_title: str, value_title: str) -> list[str]:
        data = self.data
        gap = 1.0 if self.cell_w >= 4 and self.cell_h >= 4 else 0.0
        widest = (
            max(text_width(format_short(v, data.percent)) for v in data.cells.values() if v is not None)
            if any(v is not None for v in data.cells.values())
            else 0.0
        )
        labelled = self.cell_w >= widest + 6 and self.cell_h >= 14 and len(data.cells) <= 1500
        out = ['<g class="cells">']
        for (i, j), value in sorted(data.cells.items(), key=lambda item: (item[0][1], item[0][0])):
            x = self.left + i * self.cell_w
            y = self.top + j * self.cell_h
            fill = NULL_FILL if value is None else self.color(value)
            tooltip = (
                f"{y_title}: {data.y_labels[j]}\n{x_title}: {data.x_labels[i]}\n"
                f"{value_title}: {format_value(value, data.percent)}"
            )
            out.append(rect(x, y, self.cell_w - gap, self.cell_h - gap, fill, tooltip=tooltip))
            if labelled and value is not None:
                out.append(
                    text(
                        x + (self.cell_w - gap) / 2,
                        y + (self.cell_h - gap) / 2,
                        format_short(value, data.percent),
                        anchor="middle",
                        baseline="central",
                        size=10,
                        fill="#ffffff" if is_dark(fill) else TEXT,
                    )
                )
        out.append("</g>")
        return out

    def _legend(self, value_title: str) -> list[str]:
        """A stepped color ramp from the lowest to the highest value."""
        steps = len(SEQUENTIAL)
        box = 28.0
        y = self.bottom + 22
        out = ['<g class="color-legend">']
        out.append(text(12, y + 6, value_title, fill=MUTED, weight="600", baseline="central"))
        x0 = max(self.left, 12 + text_width(value_title) + 12)
        for k in range(steps):
            color = sequential_color(k / (steps - 1))
            out.append(rect(x0 + k * box, y, box, 12, color))
        low = format_short(self.lo, self.data.percent)
        high = format_short(self.hi, self.data.percent)
        out.append(text(x0, y + 26, low, fill=MUTED))
        out.append(text(x0 + steps * box, y + 26, high, anchor="end", fill=MUTED))
        out.append("</g>")
        return out
