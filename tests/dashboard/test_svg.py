"""SVG rendering: well-formed XML, the right number of marks, escaped text, edge cases."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date, datetime, timedelta
from decimal import Decimal

import pyarrow as pa
import pytest

from dataplan.dashboard import ChartSpec, render_chart_svg
from dataplan.dashboard.scales import (
    format_tick,
    format_value,
    humanize,
    is_rate,
    time_ticks,
    to_days,
)
from dataplan.dashboard.svgkit import text_width
from tests.dashboard.helpers import RETENTION, SIGNUPS, acquisition_table, cohort_table


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == "svg"
    return root


def group(root: ET.Element, name: str) -> ET.Element:
    found = root.find(f".//g[@class='{name}']")
    assert found is not None, f"no <g class={name}>"
    return found


def texts(element: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in element.iter("text")]


def days(n: int, start: date = date(2024, 1, 1)) -> list[date]:
    return [start + timedelta(days=i) for i in range(n)]


def spec(kind: str = "line", **fields: object) -> ChartSpec:
    base: dict[str, object] = {"title": "Chart", "model": "m", "kind": kind, "x": "d", "y": ["v"]}
    return ChartSpec.model_validate({**base, **fields})


# --- line / area --------------------------------------------------------------------------


def test_line_with_two_y_columns_draws_two_lines_and_a_legend() -> None:
    table = pa.table({"d": days(10), "a": list(range(10)), "b": [2 * i for i in range(10)]})
    root = parse(render_chart_svg(spec(y=["a", "b"]), table))
    assert len(group(root, "lines").findall("path")) == 2
    assert texts(group(root, "legend")) == ["A", "B"]
    hover = group(root, "hover").findall("rect")
    assert len(hover) == 10
    assert hover[3].findtext("title") == "2024-01-04\nA: 3\nB: 6"
    assert root.findtext("title") == "Chart"


def test_line_per_series_value_and_markers_for_few_points() -> None:
    table = pa.table({"d": days(3) * 2, "s": ["x"] * 3 + ["y"] * 3, "v": [1, 2, 3, 30, 20, 10]})
    root = parse(render_chart_svg(spec(series="s"), table))
    lines = group(root, "lines")
    assert len(lines.findall("path")) == 2
    assert len(lines.findall("circle")) == 6
    assert texts(group(root, "legend")) == ["x", "y"]


def test_area_fills_under_each_line() -> None:
    table = pa.table({"d": days(5), "v": [1, 3, 2, 5, 4]})
    paths = group(parse(render_chart_svg(spec("area"), table)), "lines").findall("path")
    assert [p.get("fill") != "none" for p in paths] == [True, False]
    assert paths[0].get("d", "").endswith("Z")


def test_null_values_break_the_line() -> None:
    table = pa.table({"d": days(5), "v": [1, 2, None, 4, 5]})
    paths = group(parse(render_chart_svg(spec(), table)), "lines").findall("path")
    assert len(paths) == 2


def test_null_x_rows_are_left_out_and_counted() -> None:
    table = pa.table({"d": [*days(3), None], "v": [1, 2, 3, 99]})
    root = parse(render_chart_svg(spec(), table))
    assert len(group(root, "hover").findall("rect")) == 3
    assert "1 row(s) with an empty d not shown" in texts(root)


def test_a_single_point_is_drawn_as_a_marker() -> None:
    table = pa.table({"d": [date(2024, 5, 1)], "v": [42]})
    root = parse(render_chart_svg(spec(), table))
    assert len(group(root, "lines").findall("circle")) == 1
    assert "May 1" in texts(group(root, "x-axis"))


def test_thousands_of_days_thin_the_ticks_and_drop_markers() -> None:
    n = 3000
    table = pa.table({"d": days(n), "v": [1000 + i * 500 for i in range(n)]})
    root = parse(render_chart_svg(spec(), table))
    labels = texts(group(root, "x-axis"))
    assert 3 <= len(labels) <= 12
    assert "2024" in labels[0]
    assert not group(root, "lines").findall("circle")
    assert len(group(root, "hover").findall("rect")) == n
    y_labels = texts(group(root, "y-axis"))
    assert y_labels[-1].endswith("M") and y_labels[0] == "0"


def test_numeric_x_uses_a_linear_axis() -> None:
    table = pa.table({"d": [0, 1, 2, 5, 10], "v": [5.5, 4, 3, 2, 1]})
    root = parse(render_chart_svg(spec(), table))
    assert texts(group(root, "x-axis"))[:3] == ["0", "2", "4"]


@pytest.mark.parametrize(
    ("values", "first", "last", "has_zero"),
    [
        ([100.0, 103.0, 106.0], "100", "106", False),  # far from zero: no baseline
        ([2.0, 6.0, 10.0], "0", "10", True),  # close to zero: the baseline is kept
        ([-100.0, -103.0, -106.0], "-106", "-100", False),  # the mirror images
        ([-2.0, -6.0, -10.0], "-10", "0", True),
    ],
)
def test_zero_is_on_the_axis_only_when_values_are_near_it(
    values: list[float], first: str, last: str, has_zero: bool
) -> None:
    table = pa.table({"d": days(3), "v": values})
    labels = texts(group(parse(render_chart_svg(spec(), table)), "y-axis"))
    assert (labels[0], labels[-1]) == (first, last)
    assert ("0" in labels) is has_zero


def test_rates_are_shown_as_percentages() -> None:
    table = pa.table({"d": days(3), "churn_rate": [0.02, 0.025, 0.031]})
    root = parse(render_chart_svg(spec(y=["churn_rate"]), table))
    assert all(label.endswith("%") for label in texts(group(root, "y-axis")))
    assert group(root, "hover").findall("rect")[2].findtext("title") == "2024-01-03\nChurn rate: 3.1%"


# --- bars ---------------------------------------------------------------------------------


def test_bar_draws_one_rect_per_non_null_value_with_tooltips() -> None:
    table = pa.table({"plan": ["Starter", "Growth", "Legacy"], "revenue": [1200.5, 99000, None]})
    root = parse(render_chart_svg(spec("bar", x="plan", y=["revenue"]), table))
    bars = group(root, "bars").findall("rect")
    assert len(bars) == 2
    assert bars[1].findtext("title") == "Growth\nRevenue: 99,000"
    assert texts(group(root, "x-axis"))[:3] == ["Starter", "Growth", "Legacy"]



def test_counts_get_whole_number_ticks() -> None:
    """Before: a chart of 0 to 2 orders had ticks at 0.5 and 1.5; measures with fractions keep them."""
    counts = pa.table({"status": ["paid", "refunded", "pending"], "orders": [2, 1, 1]})
    ticks = texts(group(parse(render_chart_svg(spec("bar", x="status", y=["orders"]), counts)), "y-axis"))
    assert ticks and all(t.isdigit() for t in ticks), ticks
    amounts = pa.table({"status": ["paid", "refunded"], "amount": [1.5, 0.25]})
    ticks = texts(group(parse(render_chart_svg(spec("bar", x="status", y=["amount"]), amounts)), "y-axis"))
    assert any("." in t for t in ticks), ticks

def test_grouped_bars_per_y_column() -> None:
    table = pa.table({"m": [1, 2, 3], "a": [1, 2, 3], "b": [3, 2, 1]})
    root = parse(render_chart_svg(spec("bar", x="m", y=["a", "b"]), table))
    assert len(group(root, "bars").findall("rect")) == 6


def test_stacked_bar_stacks_every_series_per_x() -> None:
    table = acquisition_table(days=90)  # 90 days x 4 channels, daily rows
    root = parse(render_chart_svg(SIGNUPS.model_copy(update={"time_grain": None}), table))
    bars = group(root, "bars").findall("rect")
    assert len(bars) == 90 * 4
    legend = texts(group(root, "legend"))
    assert legend == ["Organic", "Paid search", 'Partners <&> "co"', "Referral"]
    # Segments of one day sit on top of each other.
    first_day = [b for b in bars if (b.findtext("title") or "").startswith("2024-01-01")]
    tops = sorted(float(b.get("y", 0)) for b in first_day)
    heights = {float(b.get("y", 0)): float(b.get("height", 0)) for b in first_day}
    for upper, lower in zip(tops, tops[1:], strict=False):
        assert upper + heights[upper] == pytest.approx(lower, abs=0.02)


def test_many_series_are_folded_into_other() -> None:
    names = [f"s{i:02d}" for i in range(15)]
    table = pa.table({"d": [date(2024, 1, 1)] * 15, "s": names, "v": list(range(1, 16))})
    root = parse(render_chart_svg(spec("stacked_bar", series="s"), table))
    legend = texts(group(root, "legend"))
    assert len(legend) == 10 and legend[-1] == "Other"
    assert "s00" not in legend and "s14" in legend


def test_decimal_and_huge_integer_sums_are_plotted() -> None:
    table = pa.table({"d": days(2), "v": pa.array([Decimal("10.50"), Decimal("2")], pa.decimal128(38, 2))})
    root = parse(render_chart_svg(spec("bar"), table))
    assert [b.findtext("title") for b in group(root, "bars").findall("rect")] == [
        "2024-01-01\nV: 10.50",
        "2024-01-02\nV: 2",
    ]


# --- heatmap ------------------------------------------------------------------------------


def test_cohort_heatmap_has_a_cell_per_row_and_percent_labels() -> None:
    root = parse(render_chart_svg(RETENTION, cohort_table(24)))
    cells = group(root, "cells")
    rects = cells.findall("rect")
    assert len(rects) == 24 * 25 // 2
    labels = texts(cells)
    assert len(labels) == len(rects) and "100%" in labels
    assert all(label.endswith("%") for label in labels)
    assert rects[0].findtext("title") == ("Cohort month: Jan 2024\nMonths since signup: 0\nRetention rate: 100.0%")
    all_text = texts(root)
    assert "Jan 2024" in all_text and "Dec 2025" in all_text and "23" in all_text


def test_large_heatmap_drops_cell_labels_but_keeps_tooltips() -> None:
    table = pa.table(
        {
            "x": [i % 60 for i in range(3600)],
            "y": [i // 60 for i in range(3600)],
            "n": [float(i) for i in range(3600)],
        }
    )
    root = parse(render_chart_svg(spec("heatmap", x="x", y=["y"], value="n"), table))
    cells = group(root, "cells")
    assert len(cells.findall("rect")) == 3600
    assert not cells.findall("text")
    assert all(r.find("title") is not None for r in cells.findall("rect"))


PLANS = [
    "Enterprise Annual (legacy pricing 2019)",
    "Enterprise Monthly (legacy pricing)",
    "Growth Annual with premium support",
    "Growth Monthly with premium support",
    "Starter Annual self-serve (EU VAT)",
    "Starter Monthly self-serve (EU VAT)",
]


def plan_heatmap(plans: list[str], regions: list[str]) -> ET.Element:
    table = pa.table(
        {
            "plan": [p for _ in regions for p in plans],
            "region": [r for r in regions for _ in plans],
            "mrr": [float(i * 1000) for i in range(len(plans) * len(regions))],
        }
    )
    return parse(render_chart_svg(spec("heatmap", x="plan", y=["region"], value="mrr"), table))


def column_headers(root: ET.Element) -> list[tuple[str, str, float, float]]:
    """(shown, tooltip, left, right) per column header, extents estimated like the layout."""
    out = []
    for element in group(root, "x-labels"):
        node = element.find("text") if element.tag == "g" else element
        assert node is not None
        shown = "".join(node.itertext())
        tooltip = element.findtext("title") if element.tag == "g" else shown
        half = text_width(shown) / 2
        x = float(node.attrib["x"])
        out.append((shown, tooltip or "", x - half, x + half))
    return out


def grid_edges(root: ET.Element) -> tuple[float, float]:
    rects = group(root, "cells").findall("rect")
    left = min(float(r.attrib["x"]) for r in rects)
    right = max(float(r.attrib["x"]) + float(r.attrib["width"]) for r in rects)
    return left, right


def test_long_column_headers_are_shortened_with_the_full_name_as_tooltip() -> None:
    root = plan_heatmap(PLANS, ["APAC", "EMEA", "LATAM", "NA"])
    headers = column_headers(root)
    assert [tooltip for _, tooltip, _, _ in headers] == PLANS  # every column is labelled
    assert [shown for shown, _, _, _ in headers][:2] == [
        "Enterprise Annual (legacy\u2026",
        "Enterprise Monthly (legacy\u2026",
    ]
    left, right = grid_edges(root)
    cell_w = (right - left) / len(PLANS)
    region_title = root.find(".//text[.='Region \u2193']")
    assert region_title is not None
    title_end = float(region_title.attrib["x"]) + text_width(region_title.text or "")
    for shown, _, start, end in headers:
        assert end - start <= cell_w - 8, shown  # no header runs into its neighbour
        assert left - 0.5 <= start and end <= right + 0.5, shown  # inside the grid
        assert start > title_end
    assert all(r.find("title") is not None for r in group(root, "cells").findall("rect"))


def test_crowded_long_column_headers_are_thinned_inside_the_grid() -> None:
    plans = [f"{name} #{i}" for i in range(5) for name in PLANS]  # 30 long, distinct labels
    root = plan_heatmap(plans, ["EMEA", "NA"])
    headers = column_headers(root)
    left, right = grid_edges(root)
    assert headers[0][1] == plans[0] and 5 <= len(headers) < len(plans)
    assert all(shown.endswith("\u2026") and len(shown) == 6 for shown, _, _, _ in headers)
    assert all(left - 0.5 <= start and end <= right + 0.5 for _, _, start, end in headers)
    assert all(a[3] + 8 <= b[2] + 0.01 for a, b in zip(headers, headers[1:], strict=False))


def test_short_column_headers_are_shown_in_full_without_tooltips() -> None:
    root = parse(render_chart_svg(RETENTION, cohort_table(24)))
    labels = group(root, "x-labels")
    assert texts(labels) == [str(i) for i in range(24)]
    assert not labels.findall("g")


# --- text, emptiness, errors --------------------------------------------------------------


def test_text_from_data_is_escaped() -> None:
    evil = '<script>alert("x")</script> & co'
    table = pa.table({"d": [evil, "ok"], "s": [evil, "b"], "v": [1, 2]})
    svg = render_chart_svg(spec("bar", title=f"{evil} chart", series="s"), table)
    assert "<script>" not in svg
    root = parse(svg)
    assert root.findtext("title") == f"{evil} chart"
    assert evil in texts(group(root, "legend"))


def test_control_characters_do_not_break_the_xml() -> None:
    table = pa.table({"d": ["a\x00b\x1bc"], "v": [1]})
    parse(render_chart_svg(spec("bar"), table))


@pytest.mark.parametrize("kind", ["line", "area", "bar", "stacked_bar", "heatmap"])
def test_empty_results_show_no_data(kind: str) -> None:
    fields = {"value": "n"} if kind == "heatmap" else {}
    schema = {"d": pa.date32(), "v": pa.int64(), "n": pa.float64()}
    table = pa.table({k: pa.array([], t) for k, t in schema.items()})
    root = parse(render_chart_svg(spec(kind, **fields), table))
    assert "No data" in texts(root)


def test_all_null_values_show_no_data() -> None:
    table = pa.table({"d": days(3), "v": pa.array([None, None, None], pa.int64())})
    assert "No data" in texts(parse(render_chart_svg(spec(), table)))


def test_a_missing_column_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="no column v"):
        render_chart_svg(spec(), pa.table({"d": days(2)}))


def test_standalone_svg_declares_the_namespace() -> None:
    svg = render_chart_svg(spec(), pa.table({"d": days(2), "v": [1, 2]}), xmlns=True)
    assert ET.fromstring(svg).tag == "{http://www.w3.org/2000/svg}svg"


# --- formatting helpers -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "step", "expected"),
    [
        (0, 1000, "0"),
        (2500, 500, "2.5k"),
        (4000, 2000, "4k"),
        (1_500_000, 500_000, "1.5M"),
        (3e9, 1e9, "3B"),
        (0.5, 0.25, "0.5"),
        (-2000, 1000, "-2k"),
        (3e-7, 1e-7, "3e-07"),
    ],
)
def test_tick_numbers_use_suffixes(value: float, step: float, expected: str) -> None:
    assert format_tick(value, step) == expected


def test_tick_percentages_and_tooltip_values() -> None:
    assert format_tick(0.25, 0.05, percent=True) == "25%"
    assert format_tick(0.015, 0.005, percent=True) == "1.5%"
    assert format_value(1234567) == "1,234,567"
    assert format_value(1234.567) == "1,234.6"
    assert format_value(0.4567, percent=True) == "45.7%"
    assert format_value(None) == "no value"


def test_time_ticks_follow_the_calendar() -> None:
    two_years = time_ticks(to_days(date(2024, 1, 1)), to_days(date(2025, 12, 31)), 8)
    assert [t.label for t in two_years] == [
        "Jan 2024", "Apr", "Jul", "Oct", "Jan 2025", "Apr", "Jul", "Oct",
    ]  # fmt: skip
    month = time_ticks(to_days(date(2024, 3, 1)), to_days(date(2024, 3, 31)), 6)
    assert month[0].label == "Mar 4, 2024" and month[1].label == "Mar 11"  # Mondays
    hours = time_ticks(to_days(datetime(2024, 3, 1, 0)), to_days(datetime(2024, 3, 1, 12)), 5)
    assert [t.label for t in hours] == ["Mar 1 00:00", "03:00", "06:00", "09:00", "12:00"]


@pytest.mark.parametrize(
    ("name", "values", "expected"),
    [
        ("retention_rate", [0.0, 0.5, 1.0], True),
        ("net_revenue_retention", [0.95, 1.05], True),
        ("churn_pct", [0.01], True),
        ("churned_customers", [0.0, 1.0, 3.0], False),
        ("mrr", [0.5], False),
        ("conversion_rate", [12.0, 40.0], False),  # already in percent units
        ("retention_rate", [], False),
    ],
)
def test_rate_detection(name: str, values: list[float], expected: bool) -> None:
    assert is_rate(name, values) is expected


def test_humanize() -> None:
    assert humanize("new_customers") == "New customers"
    assert humanize("mrr") == "MRR"
    assert humanize("arr_usd") == "ARR USD"


@pytest.mark.parametrize(
    ("value", "step", "percent", "expected"),
    [
        (1_250_000, 250_000, False, "1.25M"),  # was "1.2M": the MRR axis of the demo dashboard
        (1_250, 250, False, "1.25k"),
        (7.5, 2.5, False, "7.5"),  # was "8"
        (0.75, 0.25, False, "0.75"),  # was "0.8"
        (0.975, 0.025, True, "97.5%"),  # was "98%" between "95%" and "100%"
        (0.925, 0.025, True, "92.5%"),  # was "92%"
        (0.0125, 0.0025, True, "1.25%"),
        (1_000_000, 250_000, False, "1M"),
    ],
)
def test_tick_labels_keep_the_decimals_of_a_2_5_step(value: float, step: float, percent: bool, expected: str) -> None:
    assert format_tick(value, step, percent) == expected
