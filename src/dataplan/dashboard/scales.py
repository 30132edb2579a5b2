"""Value conversion, number / date formatting, tick generation and colors for the charts."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

EPOCH = date(1970, 1, 1).toordinal()
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

# Tableau 10: distinguishable, colorblind-friendlier than most defaults.
PALETTE = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
]  # fmt: skip
# ColorBrewer "Blues", light to dark: the heatmap's sequential scale.
SEQUENTIAL = [
    "#f7fbff", "#deebf7", "#c6dbef", "#9ecae1", "#6baed6",
    "#4292c6", "#2171b5", "#08519c", "#08306b",
]  # fmt: skip

_RATE_WORDS = {
    "rate", "ratio", "pct", "percent", "percentage", "share", "retention", "conversion", "fraction",
}  # fmt: skip


# --- values -------------------------------------------------------------------------------


def to_number(value: object) -> float | None:
    """A numeric cell as a float; None for nulls, NaN and non-numbers."""
    if value is None:
        return None
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float | Decimal):
        number = float(value)
        return number if math.isfinite(number) else None
    return None


def is_temporal(value: object) -> bool:
    return isinstance(value, date)  # datetime is a subclass of date


def to_days(value: date) -> float:
    """A date or datetime as (fractional) days since 1970-01-01."""
    days = float(value.toordinal() - EPOCH)
    if isinstance(value, datetime):
        days += (value.hour * 3600 + value.minute * 60 + value.second) / 86400
    return days


def from_days(days: float) -> datetime:
    whole = math.floor(days)
    base = datetime.combine(date.fromordinal(int(whole) + EPOCH), time())
    return base + timedelta(seconds=round((days - whole) * 86400))


def is_rate(name: str, values: Sequence[float]) -> bool:
    """Whether a measure reads best as a percentage.

    Its name has a rate-like word (``retention_rate``, ``net_revenue_retention``,
    ``churn_pct``; not ``churned_customers``) and its values look like fractions: all within
    [-5, 5], so ratios above one (a 105% net revenue retention) still qualify.
    """
    words = set(re.split(r"[^a-z0-9]+", name.lower()))
    return bool(words & _RATE_WORDS) and bool(values) and all(-5.0 <= v <= 5.0 for v in values)


_ACRONYMS = {
    "mrr", "arr", "arpu", "ltv", "cac", "aov", "gmv", "roi", "ctr", "cpc", "cpm", "nps",
    "dau", "wau", "mau", "kpi", "id", "url", "sku", "utm", "usd", "eur", "gbp",
}  # fmt: skip


def humanize(name: str) -> str:
    """``new_customers`` -> ``New customers``; ``mrr_usd`` -> ``MRR USD``."""
    words = [
        word.upper() if word.lower() in _ACRONYMS else word for word in name.replace("_", " ").replace(".", " ").split()
    ]
    text = " ".join(words)
    return text[:1].upper() + text[1:] if text else name


# --- numbers ------------------------------------------------------------------------------


def _strip_zeros(text: str) -> str:
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _step_decimals(step: float) -> int:
    """Decimals that write every multiple of ``step`` exactly: 1 for 2.5, 2 for 0.25, 0 for 500 (at most 6).

    The step's order of magnitude alone is not enough: a 2.5 step labelled with 0 decimals
    reads 0, 2, 5, 8, 10 and a 250k step in millions reads 1, 1.2, 1.5.
    """
    if step <= 0 or not math.isfinite(step):
        return 0
    decimals = max(0, -math.floor(math.log10(step)))
    while decimals < 6 and abs(round(step, decimals) - step) > step * 1e-9:
        decimals += 1
    return decimals


def format_tick(value: float, step: float, percent: bool = False) -> str:
    """A short axis label (``2.5k``, ``1.2M``, ``40%``) precise enough for ``step``."""
    if value == 0:
        return "0%" if percent else "0"
    if percent:
        return _strip_zeros(f"{value * 100:.{_step_decimals(step * 100)}f}") + "%"
    if 0 < step < 1e-4:
        return f"{value:.3g}"  # tiny measures: scientific notation beats "0.000001"
    magnitude = abs(value) if value else abs(step)
    unit, suffix = 1.0, ""
    for threshold, name in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if magnitude >= threshold:
            unit, suffix = threshold, name
            break
    return _strip_zeros(f"{value / unit:.{_step_decimals(step / unit)}f}") + suffix


def format_value(value: float | None, percent: bool = False) -> str:
    """A tooltip / cell value: exact-ish with thousands separators, or a percentage."""
    if value is None:
        return "no value"
    if percent:
        return f"{value * 100:.1f}%"
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.1f}"
    if abs(value) >= 1:
        return f"{value:,.2f}"
    return f"{value:.3g}"


def format_short(value: float, percent: bool = False) -> str:
    """A compact label for a heatmap cell or a legend: ``12.3k``, ``45%``."""
    if percent:
        return f"{value * 100:.0f}%"
    magnitude = abs(value)
    for threshold, name in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if magnitude >= threshold:
            return _strip_zeros(f"{value / threshold:.1f}") + name
    if value == int(value):
        return str(int(value))
    return _strip_zeros(f"{value:.2f}" if magnitude < 10 else f"{value:.1f}")


def nice_step(span: float, count: int, integer: bool = False) -> float:
    """A 1 / 2 / 2.5 / 5 x 10^n step giving about ``count`` intervals over ``span``.

    ``integer`` steps are whole numbers (no 2.5, nothing below 1).
    """
    if span <= 0 or count <= 0:
        return 1.0
    raw = span / count
    if integer and raw <= 1:
        return 1.0
    power = 10.0 ** math.floor(math.log10(raw))
    factors = (1, 2, 5, 10) if integer and power < 10 else (1, 2, 2.5, 5, 10)
    for factor in factors:
        if raw <= factor * power * 1.0000001:
            return factor * power
    return 10 * power


def nice_ticks(lo: float, hi: float, count: int = 5, integer: bool = False) -> tuple[float, float, list[float]]:
    """Round the domain [lo, hi] outwards to multiples of a nice step; return it and the ticks. ``integer``
    data (counts) gets whole-number steps: no 0.5 orders."""
    if hi < lo:
        lo, hi = hi, lo
    if hi == lo:
        pad = abs(lo) * 0.1 or 1.0
        lo, hi = (lo - pad, hi + pad) if lo != 0 else (0.0, 1.0)
    step = nice_step(hi - lo, count, integer)
    start = math.floor(lo / step + 1e-9) * step
    stop = math.ceil(hi / step - 1e-9) * step
    n = int(round((stop - start) / step))
    ticks = [round(start + i * step, 12) for i in range(n + 1)]
    return start, stop, ticks


@dataclass(frozen=True)
class Tick:
    position: float  # in domain units (days for time axes)
    label: str


def format_date(value: date, grain: str | None) -> str:
    """A date for tooltips and category labels, at the precision of its grain."""
    if grain == "month":
        return f"{MONTHS[value.month - 1]} {value.year}"
    if grain == "week":
        return f"week of {value.isoformat()[:10]}"
    if isinstance(value, datetime) and (value.hour or value.minute or value.second):
        return value.strftime("%Y-%m-%d %H:%M")
    return value.isoformat()[:10]


def infer_grain(values: Sequence[date]) -> str | None:
    """``month`` when every date is a first of month (and there are several), else None."""
    if len(values) > 1 and all(v.day == 1 for v in values):
        if not any(isinstance(v, datetime) and (v.hour or v.minute) for v in values):
            return "month"
    return None


def _month_starts(lo: float, hi: float, every: int) -> list[datetime]:
    first = from_days(math.ceil(lo))
    year, month = first.year, first.month
    if first.day != 1 or first.time() != time():
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    out: list[datetime] = []
    while True:
        current = datetime(year, month, 1)
        if to_days(current) > hi + 1e-9:
            return out
        if (year * 12 + month - 1) % every == 0:
            out.append(current)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def _candidate_ticks(lo: float, hi: float, unit: str, every: int) -> list[datetime]:
    if unit == "hour":
        start = math.ceil(lo * 24 / every) * every
        stop = math.floor(hi * 24 + 1e-9)
        return [from_days(h / 24) for h in range(start, stop + 1, every)]
    if unit == "day":
        start = math.ceil(lo - 1e-9)
        start += (-start) % every
        return [from_days(d) for d in range(start, math.floor(hi + 1e-9) + 1, every)]
    if unit == "week":
        start = math.ceil(lo - 1e-9)
        start += (-from_days(start).weekday()) % 7  # the first Monday
        return [from_days(d) for d in range(start, math.floor(hi + 1e-9) + 1, 7 * every)]
    if unit == "month":
        return _month_starts(lo, hi, every)
    return [m for m in _month_starts(lo, hi, 12) if m.year % every == 0]


_TIME_STEPS: list[tuple[str, int, float]] = [
    ("hour", 1, 1 / 24), ("hour", 3, 3 / 24), ("hour", 6, 6 / 24), ("hour", 12, 0.5),
    ("day", 1, 1), ("day", 2, 2), ("week", 1, 7), ("week", 2, 14),
    ("month", 1, 30), ("month", 2, 61), ("month", 3, 91), ("month", 6, 182),
    ("year", 1, 365), ("year", 2, 730), ("year", 5, 1826), ("year", 10, 3652),
    ("year", 25, 9131), ("year", 50, 18262), ("year", 100, 36524),
]  # fmt: skip


def time_ticks(lo: float, hi: float, max_ticks: int, dates_only: bool = False) -> list[Tick]:
    """Calendar-aligned ticks (hours, days, Mondays, month or year starts) over [lo, hi] days.

    ``dates_only`` never ticks at hours (the data are dates without a time of day).
    """
    span = max(hi - lo, 1e-9)
    for unit, every, approx in _TIME_STEPS:
        if span / approx > max_ticks * 1.5 or (dates_only and unit == "hour"):
            continue
        moments = _candidate_ticks(lo, hi, unit, every)
        if 0 < len(moments) <= max_ticks or (unit, every) == ("year", 100):
            return _label_moments(moments, unit)
    return []


def _label_moments(moments: list[datetime], unit: str) -> list[Tick]:
    ticks: list[Tick] = []
    previous: datetime | None = None
    for moment in moments:
        new_year = previous is None or previous.year != moment.year
        if unit == "hour":
            new_day = previous is None or previous.date() != moment.date()
            label = moment.strftime("%H:%M")
            if new_day:
                label = f"{MONTHS[moment.month - 1]} {moment.day} {label}"
        elif unit in ("day", "week"):
            label = f"{MONTHS[moment.month - 1]} {moment.day}"
            if new_year:
                label += f", {moment.year}"
        elif unit == "month":
            label = MONTHS[moment.month - 1]
            if new_year:
                label += f" {moment.year}"
        else:
            label = str(moment.year)
        ticks.append(Tick(to_days(moment), label))
        previous = moment
    return ticks


# --- colors -------------------------------------------------------------------------------


def _rgb(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def sequential_color(t: float) -> str:
    """The color at ``t`` in [0, 1] of the sequential scale."""
    t = min(1.0, max(0.0, t)) * (len(SEQUENTIAL) - 1)
    i = min(int(t), len(SEQUENTIAL) - 2)
    a, b = _rgb(SEQUENTIAL[i]), _rgb(SEQUENTIAL[i + 1])
    f = t - i
    r, g, bl = (round(a[k] + (b[k] - a[k]) * f) for k in range(3))
    return f"#{r:02x}{g:02x}{bl:02x}"


def is_dark(color: str) -> bool:
    """Whether white text reads better than dark text on ``color``."""
    r, g, b = _rgb(color)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b < 140
