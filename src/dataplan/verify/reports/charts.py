"""Inline SVG charts of a diff: histogram overlays, per-column mismatch bars, top values.

Built on the dashboard's helpers (``svgkit`` elements and escaping, ``scales`` ticks and
number formats), so the diff page looks like the dashboards and needs no script: hovering
a bin or a bar shows its numbers through SVG ``<title>`` tooltips.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from dataplan.dashboard.scales import PALETTE, format_tick, format_value, nice_step, nice_ticks
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
from dataplan.verify.model import Histogram
from dataplan.verify.reports.common import fmt_int, fmt_pct, fmt_pp, shares

A_COLOR = PALETTE[0]  # blue
B_COLOR = PALETTE[1]  # orange
WIDTH = 560
HEIGHT = 250


def middle_cut(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` characters, cut in the middle: its start and its end stay.

    Long column names and values often share a prefix (``..._metric_value``, ``..._metric_text``);
    cut at the end they would all read the same.
    """
    if len(text) <= limit:
        return text
    keep = max(2, limit - 1)
    head = keep // 2
    return text[:head] + "\u2026" + text[len(text) - (keep - head) :]


def _share_axis(top_share: float, length: float) -> tuple[float, list[float], list[str]]:
    count = max(2, int(length / 45))
    _, hi, ticks = nice_ticks(0.0, top_share or 0.01, count)
    step = ticks[1] - ticks[0] if len(ticks) > 1 else hi
    return hi, ticks, [format_tick(t, step, percent=True) for t in ticks]


def _number_ticks(lo: float, hi: float, plot_w: float) -> list[tuple[float, str]]:
    step = nice_step(hi - lo, max(2, int(plot_w / 80)))
    first, last = math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9)
    return [(i * step, format_tick(i * step, step)) for i in range(first, last + 1)]


def histogram_svg(
    column: str,
    histogram: Histogram,
    labels: tuple[str, str] = ("A", "B"),
    *,
    width: float = WIDTH,
    height: float = HEIGHT,
) -> str:
    """A's bins as filled bars and B's as a step line, both as shares of their side's rows."""
    title = f"Distribution of {column}: A vs B"
    edges, a_counts, b_counts = histogram.edges, histogram.a_counts, histogram.b_counts
    bins = len(a_counts)
    usable = (
        bins > 0
        and len(edges) == bins + 1
        and len(b_counts) == bins
        and all(math.isfinite(e) for e in edges)
        and edges[-1] > edges[0]
    )
    if not usable:
        return message_svg(width, height, title, "No histogram")
    a_share, b_share = shares(a_counts), shares(b_counts)
    legend_labels = [f"A · {labels[0]}", f"B · {labels[1]}"]
    legend_h = legend_height(legend_labels, width - 24)
    top = 10 + legend_h + 26
    bottom = height - 38
    y_hi, y_ticks, y_labels = _share_axis(max(a_share + b_share), bottom - top)
    left = 14 + max(text_width(label) for label in y_labels)
    right = width - 16
    lo, hi = edges[0], edges[-1]

    def x(value: float) -> float:
        return left + (value - lo) / (hi - lo) * (right - left)

    def y(share: float) -> float:
        return bottom - share / y_hi * (bottom - top)

    out = [open_svg(width, height, title)]
    out += legend(legend_labels, [A_COLOR, B_COLOR], 12, 8, width - 24, "box")
    out.append(text(12, top - 12, "% of rows", fill=MUTED, weight="600"))
    out.append('<g class="y-axis">')
    for tick, label in zip(y_ticks, y_labels, strict=True):
        out.append(line(left, y(tick), right, y(tick), AXIS if tick == 0 else GRID))
        out.append(text(left - 8, y(tick), label, anchor="end", fill=MUTED, baseline="central"))
    out.append("</g>")
    points = [f"{num(x(edges[0]))},{num(bottom)}"]
    for i in range(bins):
        points += [f"{num(x(edges[i]))},{num(y(b_share[i]))}", f"{num(x(edges[i + 1]))},{num(y(b_share[i]))}"]
    points.append(f"{num(x(edges[-1]))},{num(bottom)}")
    path = "M" + " L".join(points)
    out.append(f'<path d="{path}Z" fill="{B_COLOR}" fill-opacity="0.08" stroke="none"/>')
    out.append('<g class="bars-a">')
    for i in range(bins):
        x0, x1 = x(edges[i]), x(edges[i + 1])
        gap = 1.0 if x1 - x0 > 4 else 0.0
        out.append(
            rect(
                x0 + gap / 2,
                y(a_share[i]),
                x1 - x0 - gap,
                bottom - y(a_share[i]),
                A_COLOR,
                extra=' fill-opacity="0.62"',
            )
        )
    out.append("</g>")
    out.append(
        f'<path d="{path}" fill="none" stroke="{B_COLOR}" stroke-width="2" stroke-linejoin="round" class="step-b"/>'
    )
    out.append(f'<g class="x-axis">{line(left, bottom, right, bottom, AXIS)}')
    for position, label in _number_ticks(lo, hi, right - left):
        px = x(position)
        out.append(line(px, bottom, px, bottom + 4, AXIS))
        half = text_width(label) / 2
        anchor = "start" if px - half < 2 else "end" if px + half > width - 2 else "middle"
        out.append(text(px, bottom + 16, label, anchor=anchor, fill=MUTED))
    out.append(text(right, bottom + 32, truncate(column, 60), anchor="end", fill=MUTED, weight="600"))
    out.append("</g>")
    out.append('<g class="hover">')
    for i in range(bins):
        tip = (
            f"{column} in [{format_value(edges[i])}, {format_value(edges[i + 1])})\n"
            f"A: {fmt_int(a_counts[i])} rows ({fmt_pct(a_share[i])})\n"
            f"B: {fmt_int(b_counts[i])} rows ({fmt_pct(b_share[i])})"
        )
        x0, x1 = x(edges[i]), x(edges[i + 1])
        out.append(rect(x0, top, x1 - x0, bottom - top, "transparent", tooltip=tip))
    out.append("</g></svg>")
    return "".join(out)


def mismatch_svg(columns: Sequence[tuple[str, int, float]], *, width: float = 760) -> str:
    """One horizontal bar per column: its mismatch rate, labelled with count and rate."""
    title = "Mismatches by column"
    if not columns:
        return message_svg(width, 80, title, "No mismatches")
    names = [middle_cut(name, 36 if width >= 700 else 28) for name, _, _ in columns]
    values = [f"{fmt_int(count)} · {fmt_pct(rate)}" for _, count, rate in columns]
    row_h, top = 24, 30
    left = 16 + max(text_width(n) for n in names)
    right = width - 16 - max(text_width(v) for v in values) - 10
    _, x_hi, ticks = nice_ticks(0.0, max(rate for _, _, rate in columns) or 0.01, max(2, int((right - left) / 90)))
    step = ticks[1] - ticks[0] if len(ticks) > 1 else x_hi
    height = top + row_h * len(columns) + 8

    def x(rate: float) -> float:
        return left + rate / x_hi * (right - left)

    out = [open_svg(width, height, title), '<g class="x-axis">']
    for tick in ticks:
        out.append(line(x(tick), top - 6, x(tick), height - 6, AXIS if tick == 0 else GRID))
        out.append(text(x(tick), top - 12, format_tick(tick, step, percent=True), anchor="middle", fill=MUTED))
    out.append("</g>")
    for i, ((name, count, rate), label, value) in enumerate(zip(columns, names, values, strict=True)):
        cy = top + i * row_h + row_h / 2
        tip = f"{name}\n{fmt_int(count)} mismatching rows ({fmt_pct(rate)} of the rows on both sides)"
        out.append(f"<g><title>{esc(tip)}</title>")
        out.append(text(left - 8, cy, label, anchor="end", baseline="central"))
        out.append(rect(left, cy - 8, max(x(rate) - left, 1.5), 16, PALETTE[2], extra=' rx="2"'))
        out.append(text(max(x(rate), left + 1.5) + 6, cy, value, fill=MUTED, baseline="central"))
        out.append("</g>")
    out.append("</svg>")
    return "".join(out)


def top_values_svg(
    column: str,
    values: Sequence[tuple[str, int, int]],
    labels: tuple[str, str] = ("A", "B"),
    *,
    totals: tuple[int, int] | None = None,
    width: float = WIDTH,
    limit: int = 10,
) -> str:
    """A categorical column's most frequent values: paired bars of each side's share.

    Shares are of ``totals`` (each side's row count) when given, else of the listed counts.
    """
    title = f"Top values of {column}: A vs B"
    if not values:
        return message_svg(width, HEIGHT, title, "No values")
    a_total = (totals[0] if totals else 0) or sum(v[1] for v in values) or 1
    b_total = (totals[1] if totals else 0) or sum(v[2] for v in values) or 1
    shown = list(values[:limit])
    legend_labels = [f"A · {labels[0]}", f"B · {labels[1]}"]
    legend_h = legend_height(legend_labels, width - 24)
    top, row_h = 10 + legend_h + 28, 26
    height = top + row_h * len(shown) + 8
    names = [middle_cut(v[0], 24) for v in shown]
    left = 16 + max(text_width(n) for n in names)
    right = width - 70
    top_share = max(max(v[1] / a_total, v[2] / b_total) for v in shown)
    _, x_hi, ticks = nice_ticks(0.0, top_share or 0.01, max(2, int((right - left) / 90)))
    step = ticks[1] - ticks[0] if len(ticks) > 1 else x_hi

    def x(share: float) -> float:
        return left + share / x_hi * (right - left)

    out = [open_svg(width, height, title)]
    out += legend(legend_labels, [A_COLOR, B_COLOR], 12, 8, width - 24, "box")
    for tick in ticks:
        out.append(line(x(tick), top - 6, x(tick), height - 6, AXIS if tick == 0 else GRID))
        out.append(text(x(tick), top - 12, format_tick(tick, step, percent=True), anchor="middle", fill=MUTED))
    for i, ((value, a_count, b_count), name) in enumerate(zip(shown, names, strict=True)):
        y0 = top + i * row_h + 3
        a_share, b_share = a_count / a_total, b_count / b_total
        tip = f"{value}\nA: {fmt_int(a_count)} ({fmt_pct(a_share)})\nB: {fmt_int(b_count)} ({fmt_pct(b_share)})"
        out.append(f"<g><title>{esc(tip)}</title>")
        out.append(text(left - 8, y0 + 10, name, anchor="end", baseline="central"))
        out.append(rect(left, y0, max(x(a_share) - left, 1), 9, A_COLOR))
        out.append(rect(left, y0 + 10, max(x(b_share) - left, 1), 9, B_COLOR))
        out.append(text(max(x(max(a_share, b_share)), left) + 6, y0 + 10, fmt_pp((b_share - a_share) * 100),
                        fill=MUTED, baseline="central", size=10))  # fmt: skip
        out.append("</g>")
    out.append("</svg>")
    return "".join(out)
