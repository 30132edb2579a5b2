"""ChartSpec: the `charts:` entries of exposures.yml, validated with clear errors."""

from __future__ import annotations

import textwrap

import pytest
import yaml
from pydantic import ValidationError

from dataplan.dashboard import ChartSpec

DOC_EXAMPLE = textwrap.dedent(
    """
    charts:
      - title: Active customers
        model: marts.customer_lifecycle_daily
        kind: line
        x: date_day
        y: [active_customers]
      - title: Signups by channel
        model: marts.acquisition_daily
        kind: stacked_bar
        x: date_day
        y: [new_customers]
        series: channel
        time_grain: month
      - title: Cohort retention
        model: marts.retention_cohorts
        kind: heatmap
        x: months_since_signup
        y: [cohort_month]
        value: retention_rate
    """
)


def chart(**fields: object) -> ChartSpec:
    base: dict[str, object] = {
        "title": "T",
        "model": "marts.m",
        "kind": "line",
        "x": "d",
        "y": ["v"],
    }
    return ChartSpec.model_validate({**base, **fields})


def test_the_documented_example_parses() -> None:
    specs = [ChartSpec.model_validate(c) for c in yaml.safe_load(DOC_EXAMPLE)["charts"]]
    assert [s.kind for s in specs] == ["line", "stacked_bar", "heatmap"]
    assert specs[1].series == "channel" and specs[1].time_grain == "month"
    assert specs[2].value == "retention_rate"
    assert specs[0].series is None and specs[0].time_grain is None and specs[0].description is None
    assert specs[1].columns == ["date_day", "channel", "new_customers"]
    assert specs[2].measures == ["retention_rate"]


def test_a_single_y_may_be_written_as_a_string() -> None:
    assert chart(y="revenue").y == ["revenue"]


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"kind": "heatmap", "y": ["cohort"]}, "heatmap needs `value`"),
        ({"kind": "heatmap", "y": ["a", "b"], "value": "v2"}, "exactly one `y`"),
        ({"kind": "heatmap", "y": ["c"], "value": "r", "series": "s"}, "heatmap has no `series`"),
        ({"value": "r"}, "only used by heatmaps"),
        ({"y": []}, "at least 1"),
        ({"y": ["a", "a"]}, "lists a column twice"),
        ({"y": ["a", "b"], "series": "s"}, "exactly one `y`"),
        ({"series": "d"}, "more than one of"),
        ({"kind": "pie"}, "'line', 'area', 'bar', 'stacked_bar' or 'heatmap'"),
        ({"time_grain": "year"}, "'day', 'week' or 'month'"),
        ({"serie": "channel"}, "serie"),
        ({"title": ""}, "at least 1 character"),
    ],
)
def test_invalid_charts_fail_with_a_message_naming_the_problem(fields: dict[str, object], needle: str) -> None:
    with pytest.raises(ValidationError) as info:
        chart(**fields)
    assert needle in str(info.value)


def test_a_typo_is_reported_as_an_extra_field() -> None:
    with pytest.raises(ValidationError) as info:
        chart(time_grian="month")
    errors = info.value.errors()
    assert errors[0]["type"] == "extra_forbidden"
    assert errors[0]["loc"] == ("time_grian",)


def test_a_missing_required_field_is_named() -> None:
    with pytest.raises(ValidationError) as info:
        ChartSpec.model_validate({"title": "T", "model": "m", "kind": "line", "y": ["v"]})
    assert [e["loc"] for e in info.value.errors()] == [("x",)]
