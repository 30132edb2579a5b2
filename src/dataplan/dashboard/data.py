"""Turn a query result (a pyarrow.Table) into the series a chart draws."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Literal

import pyarrow as pa

from dataplan.dashboard.scales import (
    PALETTE,
    format_date,
    humanize,
    infer_grain,
    is_rate,
    is_temporal,
    to_days,
    to_number,
)
from dataplan.dashboard.spec import ChartSpec

XKind = Literal["time", "number", "category"]
MAX_SERIES = 10
NULL_LABEL = "(empty)"


@dataclass
class Series:
    label: str
    color: str
    values: dict[float | str, float | None] = field(default_factory=dict)


@dataclass
class XYData:
    """Rows of a line / area / bar chart, keyed by x (days, numbers or category labels)."""

    x_kind: XKind
    keys: list[float | str]  # distinct x keys, in drawing order
    labels: dict[float | str, str]  # key -> label for tooltips
    series: list[Series]
    percent: bool
    grain: str | None
    omitted: int = 0  # rows dropped because x was null
    has_time: bool = False  # x holds timestamps with a time of day

    @property
    def empty(self) -> bool:
        return not self.keys or all(v is None for s in self.series for v in s.values.values())


def _require_columns(table: pa.Table, names: list[str]) -> None:
    missing = [n for n in names if n not in table.column_names]
    if missing:
        raise ValueError(
            f"the query result has no column {', '.join(missing)} "
            f"(it has {', '.join(table.column_names) or 'no columns'})"
        )


def category_label(value: object) -> str:
    if value is None:
        return NULL_LABEL
    if isinstance(value, date):
        return format_date(value, None)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def x_kind_of(values: list[object]) -> XKind:
    present = [v for v in values if v is not None]
    if present and all(is_temporal(v) for v in present):
        return "time"
    if present and all(isinstance(v, int | float | Decimal) and not isinstance(v, bool) for v in present):
        return "number"
    return "category"


def xy_data(spec: ChartSpec, table: pa.Table) -> XYData:
    """Group the rows into series: one per ``series`` value, else one per ``y`` column."""
    _require_columns(table, [spec.x] + ([spec.series] if spec.series else []) + spec.y)
    raw_x = table.column(spec.x).to_pylist()
    kind = x_kind_of(raw_x)
    if kind == "number" and spec.kind in ("bar", "stacked_bar"):
        if len({v for v in raw_x if v is not None}) <= 60:
            kind = "category"  # a few numbers (months 0..23) read best as bar slots

    keep = [i for i, v in enumerate(raw_x) if v is not None]
    omitted = len(raw_x) - len(keep)
    keys: list[float | str] = []
    labels: dict[float | str, str] = {}
    row_keys: list[float | str] = []
    grain: str | None = spec.time_grain
    if kind == "time":
        grain = grain or infer_grain([raw_x[i] for i in keep])
    for i in keep:
        value = raw_x[i]
        key: float | str
        if kind == "time":
            key = to_days(value)
            label = format_date(value, grain)
        elif kind == "number":
            key = float(to_number(value) or 0.0)
            label = category_label(value)
        else:
            key = label = category_label(value)
        if key not in labels:
            labels[key] = label
            keys.append(key)
        row_keys.append(key)
    if kind != "category":
        keys.sort(key=float)

    groups: dict[str, dict[float | str, float | None]] = {}
    if spec.series:
        series_values = table.column(spec.series).to_pylist()
        measure = table.column(spec.y[0]).to_pylist()
        for key, i in zip(row_keys, keep, strict=True):
            _add(groups.setdefault(category_label(series_values[i]), {}), key, measure[i])
        ordered = sorted(groups, key=lambda name: (name == NULL_LABEL, name.lower()))
        groups = _limit_series({name: groups[name] for name in ordered})
    else:
        for column in spec.y:
            measure = table.column(column).to_pylist()
            target = groups.setdefault(humanize(column), {})
            for key, i in zip(row_keys, keep, strict=True):
                _add(target, key, measure[i])

    all_values = [v for g in groups.values() for v in g.values() if v is not None]
    percent = all(is_rate(name, all_values) for name in spec.y)
    series = [Series(name, PALETTE[i % len(PALETTE)], values) for i, (name, values) in enumerate(groups.items())]
    has_time = kind == "time" and any(float(k) % 1 for k in keys)
    return XYData(kind, keys, labels, series, percent, grain, omitted, has_time)


def _add(target: dict[float | str, float | None], key: float | str, raw: object) -> None:
    value = to_number(raw)
    previous = target.get(key)
    if value is None:
        target.setdefault(key, None)
    else:
        target[key] = value if previous is None else previous + value


def _limit_series(
    groups: dict[str, dict[float | str, float | None]],
) -> dict[str, dict[float | str, float | None]]:
    """Keep the largest MAX_SERIES - 1 series and sum the rest into "Other"."""
    if len(groups) <= MAX_SERIES:
        return groups

    def total(name: str) -> float:
        return sum(abs(v) for v in groups[name].values() if v is not None)

    largest = set(sorted(groups, key=total, reverse=True)[: MAX_SERIES - 1])
    kept = {name: values for name, values in groups.items() if name in largest}
    other: dict[float | str, float | None] = {}
    for name, values in groups.items():
        if name not in largest:
            for key, value in values.items():
                _add(other, key, value)
    label = "Other"
    while label in kept:
        label += " "
    kept[label] = other
    return kept


@dataclass
class HeatmapData:
    x_labels: list[str]
    y_labels: list[str]
    cells: dict[tuple[int, int], float | None]  # (x index, y index) -> value
    percent: bool
    omitted: int = 0


def _axis(values: list[object]) -> tuple[list[str], dict[object, int]]:
    """Distinct non-null values sorted naturally (numbers / dates by value), with labels."""
    present = {v for v in values if v is not None}
    kind = x_kind_of(list(present))
    if kind == "number":
        ordered = sorted(present, key=lambda v: float(to_number(v) or 0.0))
    elif kind == "time":
        ordered = sorted(present, key=lambda v: to_days(v))  # type: ignore[arg-type]
    else:
        ordered = sorted(present, key=str)
    grain = infer_grain(ordered) if kind == "time" else None  # type: ignore[arg-type]
    labels = [format_date(v, grain) if isinstance(v, date) else category_label(v) for v in ordered]
    return labels, {v: i for i, v in enumerate(ordered)}


def heatmap_data(spec: ChartSpec, table: pa.Table) -> HeatmapData:
    assert spec.value is not None
    _require_columns(table, [spec.x, spec.y[0], spec.value])
    xs = table.column(spec.x).to_pylist()
    ys = table.column(spec.y[0]).to_pylist()
    values = table.column(spec.value).to_pylist()
    x_labels, x_index = _axis(xs)
    y_labels, y_index = _axis(ys)
    cells: dict[tuple[int, int], float | None] = {}
    omitted = 0
    for x, y, raw in zip(xs, ys, values, strict=True):
        if x is None or y is None:
            omitted += 1
            continue
        cell = (x_index[x], y_index[y])
        value = to_number(raw)
        previous = cells.get(cell)
        cells[cell] = value if previous is None else previous + (value or 0.0)
    present = [v for v in cells.values() if v is not None]
    return HeatmapData(x_labels, y_labels, cells, is_rate(spec.value, present), omitted)
