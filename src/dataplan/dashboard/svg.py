"""Render a chart (a ChartSpec and its query result) as an SVG string. Pure functions only.

Charts scale to their container (``width="100%"`` and a ``viewBox``); hovering a point,
bar or cell shows its values through SVG ``<title>`` tooltips, so no script is needed.
"""

from __future__ import annotations

import math

import pyarrow as pa

from dataplan.dashboard.data import XYData, xy_data
from dataplan.dashboard.heatmap import render_heatmap
from dataplan.dashboard.scales import (
    Tick,
    format_tick,
    format_value,
    humanize,
    nice_step,
    nice_ticks,
    time_ticks,
)
from dataplan.dashboard.spec import ChartSpec
from dataplan.dashboard.svgkit import (
    AXIS,
    GRID,
    MUTED,
    esc,
    legend,
    legend_height,
    line,
    message_svg,
    num,
    open_svg,
    rect,
    text,
    text_width,
    truncate,
)

WIDTH = 640
HEIGHT = 320
MARKER_LIMIT = 60  # draw point markers on lines with at most this many points
_GRAIN_DAYS = {"day": 1.0, "week": 7.0, "month": 30.44}


def is_wide(spec: ChartSpec) -> bool:
    """Whether the chart should span the full width of a page (heatmaps do)."""
    return spec.kind == "heatmap"


def render_chart_svg(
    spec: ChartSpec,
    table: pa.Table,
    *,
    width: float | None = None,
    height: float | None = None,
    xmlns: bool = False,
) -> str:
    """The chart as one ``<svg>`` element.

    ``xmlns=True`` adds the SVG namespace, for a standalone ``.svg`` file; inline in HTML5
    it is not needed. Raises ValueError when ``table`` lacks a column the spec names.
    """
    if spec.kind == "heatmap":
        return render_heatmap(spec, table, width, height, xmlns=xmlns)
    w, h = width or WIDTH, height or HEIGHT
    data = xy_data(spec, table)
    if data.empty:
        return message_svg(w, h, spec.title, "No data", xmlns=xmlns)
    return _XYChart(spec, data, w, h).render(xmlns)


class _XYChart:
    def __init__(self, spec: ChartSpec, data: XYData, width: float, height: float) -> None:
        self.spec, self.data, self.width, self.height = spec, data, width, height
        self.stacked = spec.kind == "stacked_bar"
        self.bars = spec.kind in ("bar", "stacked_bar")
        labels = [s.label for s in data.series]
        self.legend_h = legend_height(labels, width - 24)
        self.top = 12 + self.legend_h + (14 if self.legend_h else 0) + 18
        self.bottom = height - (50 if data.omitted else 40)
        y_lo, y_hi = self._y_extent()
        count = max(2, int((self.bottom - self.top) / 40))
        whole = not data.percent and all(
            float(v).is_integer() for series in data.series for v in series.values.values() if v is not None
        )
        self.y_lo, self.y_hi, self.y_ticks = nice_ticks(y_lo, y_hi, count, integer=whole)
        self.y_step = self.y_ticks[1] - self.y_ticks[0] if len(self.y_ticks) > 1 else 1.0
        self.y_labels = [format_tick(t, self.y_step, data.percent) for t in self.y_ticks]
        self.left = 14 + max(text_width(label) for label in self.y_labels)
        self.right = width - 18
        self._x_setup()

    # --- scales ---------------------------------------------------------------------------

    def _y_extent(self) -> tuple[float, float]:
        values: list[float] = [0.0] if self.bars or self.spec.kind == "area" else []
        if self.stacked:
            for key in self.data.keys:
                up = sum(max(s.values.get(key) or 0.0, 0.0) for s in self.data.series)
                down = sum(min(s.values.get(key) or 0.0, 0.0) for s in self.data.series)
                values += [up, down]
        else:
            values += [v for s in self.data.series for v in s.values.values() if v is not None]
        lo, hi = min(values), max(values)
        if 0 < lo < 0.5 * hi:
            lo = 0.0  # a line close to zero: keep the baseline honest
        elif lo < hi < 0 and hi > 0.5 * lo:
            hi = 0.0  # the mirror image: an all-negative line close to zero
        return lo, hi

    def y(self, value: float) -> float:
        span = (self.y_hi - self.y_lo) or 1.0
        return self.bottom - (value - self.y_lo) / span * (self.bottom - self.top)

    def _x_setup(self) -> None:
        keys = self.data.keys
        plot_w = self.right - self.left
        if self.data.x_kind == "category":
            self.band = plot_w / len(keys)
            self.index = {k: i for i, k in enumerate(keys)}
            return
        numbers = [float(k) for k in keys]
        gaps = [b - a for a, b in zip(numbers, numbers[1:], strict=False) if b > a]
        grain = _GRAIN_DAYS.get(self.data.grain or "", 1.0)
        step = min(gaps) if gaps else (grain if self.data.x_kind == "time" else 1.0)
        lo, hi = numbers[0], numbers[-1]
        if self.bars:
            lo, hi = lo - step / 2, hi + step / 2
        elif hi == lo:
            lo, hi = lo - step, hi + step
        self.x_lo, self.x_hi = lo, hi
        self.band = step / (hi - lo) * plot_w

    def x(self, key: float | str) -> float:
        if self.data.x_kind == "category":
            return self.left + (self.index[key] + 0.5) * self.band
        span = self.x_hi - self.x_lo
        return self.left + (float(key) - self.x_lo) / span * (self.right - self.left)

    def _x_ticks(self) -> list[tuple[float, str]]:
        plot_w = self.right - self.left
        if self.data.x_kind == "time":
            dates_only = not self.data.has_time
            ticks = time_ticks(self.x_lo, self.x_hi, max(2, int(plot_w / 85)), dates_only)
            return [(self.x(t.position), t.label) for t in ticks]
        if self.data.x_kind == "number":
            return [(self.x(t.position), t.label) for t in self._number_ticks(plot_w)]
        labels = [truncate(self.data.labels[k], 14) for k in self.data.keys]
        widest = max(text_width(label) for label in labels) + 10
        every = max(1, math.ceil(widest / self.band))
        return [(self.x(k), labels[i]) for i, k in enumerate(self.data.keys) if i % every == 0]

    def _number_ticks(self, plot_w: float) -> list[Tick]:
        count = max(2, int(plot_w / 70))
        integral = all(float(k).is_integer() for k in self.data.keys)
        step = nice_step(self.x_hi - self.x_lo, count, integer=integral)
        first = math.ceil(self.x_lo / step - 1e-9)
        last = math.floor(self.x_hi / step + 1e-9)
        return [Tick(i * step, format_tick(i * step, step)) for i in range(first, last + 1)]

    # --- drawing --------------------------------------------------------------------------

    def render(self, xmlns: bool) -> str:
        out = [open_svg(self.width, self.height, self.spec.title, xmlns=xmlns)]
        colors = [s.color for s in self.data.series]
        labels = [s.label for s in self.data.series]
        out += legend(labels, colors, 12, 10, self.width - 24, "box" if self.bars else "line")
        out += self._axes()
        if self.bars:
            out += self._draw_bars()
        else:
            out += self._draw_lines()
        out += self._x_axis()
        if not self.bars:
            out += self._hover_columns()
        if self.data.omitted:
            note = f"{self.data.omitted} row(s) with an empty {self.spec.x} not shown"
            out.append(text(12, self.height - 6, note, size=10, fill=MUTED))
        out.append("</svg>")
        return "".join(out)

    def _axes(self) -> list[str]:
        out = ['<g class="y-axis">']
        for tick, label in zip(self.y_ticks, self.y_labels, strict=True):
            y = self.y(tick)
            color = AXIS if tick == 0 else GRID
            out.append(line(self.left, y, self.right, y, color))
            out.append(text(self.left - 8, y, label, anchor="end", fill=MUTED, baseline="central"))
        out.append("</g>")
        title = self._y_title()
        if title:
            out.append(text(12, self.top - 12, title, fill=MUTED, weight="600"))
        return out

    def _y_title(self) -> str:
        spec = self.spec
        if spec.series:
            return f"{humanize(spec.y[0])} by {humanize(spec.series).lower()}"
        return humanize(spec.y[0]) if len(spec.y) == 1 else ""

    def _x_axis(self) -> list[str]:
        out = ['<g class="x-axis">', line(self.left, self.bottom, self.right, self.bottom, AXIS)]
        label_y = self.bottom + 16
        for x, label in self._x_ticks():
            half = text_width(label) / 2
            anchor = "middle"
            if x - half < 4:
                anchor, x_text = "start", max(x - 4, 4.0)
            elif x + half > self.width - 4:
                anchor, x_text = "end", min(x + 4, self.width - 4)
            else:
                x_text = x
            out.append(line(x, self.bottom, x, self.bottom + 4, AXIS))
            out.append(text(x_text, label_y, label, anchor=anchor, fill=MUTED))
        title = humanize(self.spec.x)
        if self.spec.time_grain:
            title += f" (by {self.spec.time_grain})"
        out.append(text(self.right, self.bottom + 33, title, anchor="end", fill=MUTED, weight="600"))
        out.append("</g>")
        return out

    def _tooltip(self, key: float | str, series_label: str | None, value: float | None) -> str:
        label = self.data.labels[key]
        shown = format_value(value, self.data.percent)
        if series_label is None or len(self.data.series) == 1:
            name = humanize(self.spec.y[0]) if len(self.spec.y) == 1 else series_label
            return f"{label}\n{name}: {shown}"
        return f"{label}\n{series_label}: {shown}"

    def _draw_bars(self) -> list[str]:
        out = ['<g class="bars">']
        series = self.data.series
        slot = self.band * (0.8 if self.band >= 4 else 1.0)
        zero = self.y(min(max(0.0, self.y_lo), self.y_hi))
        rounded = ' rx="1.5"' if slot / (1 if self.stacked else len(series)) >= 8 else ""
        for key in self.data.keys:
            center = self.x(key)
            if self.stacked:
                up, down = 0.0, 0.0
                for s in series:
                    value = s.values.get(key)
                    if not value:
                        continue
                    base = up if value > 0 else down
                    top, bottom = self.y(base + value), self.y(base)
                    if value > 0:
                        up += value
                    else:
                        down += value
                    out.append(
                        rect(
                            center - slot / 2,
                            min(top, bottom),
                            slot,
                            abs(bottom - top),
                            s.color,
                            tooltip=self._tooltip(key, s.label, value),
                        )
                    )
                continue
            width = slot / len(series)
            for j, s in enumerate(series):
                value = s.values.get(key)
                if value is None:
                    continue
                y = self.y(value)
                out.append(
                    rect(
                        center - slot / 2 + j * width,
                        min(y, zero),
                        width,
                        max(abs(zero - y), 0.5),
                        s.color,
                        tooltip=self._tooltip(key, s.label, value),
                        extra=rounded,
                    )
                )
        out.append("</g>")
        return out

    def _segments(self, values: dict[float | str, float | None]) -> list[list[tuple[float, float]]]:
        """Runs of drawable points; a null value breaks the line, a missing x does not."""
        segments: list[list[tuple[float, float]]] = [[]]
        for key in self.data.keys:
            if key not in values:
                continue
            value = values[key]
            if value is None:
                if segments[-1]:
                    segments.append([])
                continue
            segments[-1].append((self.x(key), self.y(value)))
        return [s for s in segments if s]

    def _draw_lines(self) -> list[str]:
        out = ['<g class="lines">']
        many = len(self.data.series) > 1
        baseline = self.y(min(max(0.0, self.y_lo), self.y_hi))
        markers = len(self.data.keys) <= MARKER_LIMIT
        width = "2" if len(self.data.keys) <= 400 else "1.5"
        for s in self.data.series:
            for segment in self._segments(s.values):
                points = " L".join(f"{num(x)},{num(y)}" for x, y in segment)
                if self.spec.kind == "area":
                    first, last = segment[0][0], segment[-1][0]
                    area = f"M{points} L{num(last)},{num(baseline)} L{num(first)},{num(baseline)}Z"
                    opacity = "0.15" if many else "0.22"
                    out.append(f'<path d="{area}" fill="{s.color}" fill-opacity="{opacity}"/>')
                out.append(
                    f'<path d="M{points}" fill="none" stroke="{s.color}" stroke-width="{width}" '
                    'stroke-linejoin="round" stroke-linecap="round"/>'
                )
                if markers or len(segment) == 1:
                    for x, y in segment:
                        out.append(
                            f'<circle cx="{num(x)}" cy="{num(y)}" r="3" fill="#fff" '
                            f'stroke="{s.color}" stroke-width="2"/>'
                        )
        out.append("</g>")
        return out

    def _hover_columns(self) -> list[str]:
        """Invisible full-height strips, one per x, whose tooltip lists every series."""
        out = ['<g class="hover">']
        keys = self.data.keys
        xs = [self.x(k) for k in keys]
        for i, key in enumerate(keys):
            left = (xs[i - 1] + xs[i]) / 2 if i else self.left
            right = (xs[i] + xs[i + 1]) / 2 if i + 1 < len(keys) else self.right
            lines = [self.data.labels[key]]
            for s in self.data.series:
                if key in s.values:
                    lines.append(f"{s.label}: {format_value(s.values[key], self.data.percent)}")
            out.append(
                f'<rect x="{num(left)}" y="{num(self.top)}" width="{num(max(right - left, 0.1))}" '
                f'height="{num(self.bottom - self.top)}" fill="transparent">'
                f"<title>{esc(chr(10).join(lines))}</title></rect>"
            )
        out.append("</g>")
        return out
