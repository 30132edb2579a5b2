"""Declared tests and exposures as loaded: argument checks, names, and the columns charts read."""

from __future__ import annotations

import pytest

from dataplan import Project
from dataplan.errors import ProjectError
from tests.conftest import SHOP_FILES, ProjectFactory


def load_with(duck_project: ProjectFactory, files: dict[str, str]) -> Project:
    return Project.load(duck_project({**SHOP_FILES, **files}, raw=False))


def totals_yml(tests: str) -> dict[str, str]:
    return {"models/marts/customer_totals.yml": "models:\n  - name: customer_totals\n    tests:\n" + tests}


@pytest.mark.parametrize(
    "tests",
    [
        "      - not_null: {column: region, severity: warn}\n",
        "      - not_null: {column: region, config: {severity: warn}}\n",
        "      - not_null: {column: region}\n        severity: warn\n",
    ],
)
def test_severity_is_read_inside_or_beside_the_arguments(duck_project: ProjectFactory, tests: str) -> None:
    (spec,) = load_with(duck_project, totals_yml(tests)).models["customer_totals"].tests
    assert (spec.name, spec.severity) == ("not_null(region)", "warn")


CASES = {
    "unknown argument": (
        "      - row_count: {min: 1, maxx: 3}\n",
        4,
        "unknown argument maxx for test row_count; it takes: min, max, severity",
    ),
    "argument of an argument-less test": (
        "      - unique: {column: region, where: x}\n",
        4,
        "unknown argument where for test unique; it takes: column, severity",
    ),
    "two severities": (
        "      - not_null: {column: region, severity: warn}\n        severity: error\n",
        4,
        "two severities",
    ),
    "config beyond severity": (
        "      - not_null: {column: region, config: {where: x}}\n",
        4,
        "a test's `config` takes only `severity`",
    ),
    "relationships to nothing": (
        "      - relationships: {column: customer_id, to: staging.nonexistent, field: code}\n",
        4,
        "`to: staging.nonexistent` is not a model or source",
    ),
    "broken expression": (
        '      - row_count: {min: 1}\n      - expression: "total >= (0"\n',
        5,
        "test expression: SQL syntax error",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_test_arguments_name_file_and_line(duck_project: ProjectFactory, case: str) -> None:
    tests, line, message = CASES[case]
    with pytest.raises(ProjectError) as err:
        load_with(duck_project, totals_yml(tests))
    assert err.value.path is not None and err.value.path.name == "customer_totals.yml"
    assert err.value.line == line
    assert message in err.value.message


def test_several_tests_of_one_kind_have_distinct_names(duck_project: ProjectFactory) -> None:
    tests = (
        '      - expression: "total >= 0"\n'
        '      - expression:   "orders  > 0"\n'
        "      - row_count: {min: 1}\n"
        "      - accepted_values: {column: region, values: [eu, us]}\n"
    )
    specs = load_with(duck_project, totals_yml(tests)).models["customer_totals"].tests
    assert [s.name for s in specs] == [
        "expression(total >= 0)",
        "expression(orders > 0)",
        "row_count[1..]",
        "accepted_values(region)",
    ]


def test_charts_add_their_model_and_columns_to_the_exposure(duck_project: ProjectFactory) -> None:
    exposures = """
        exposures:
          - name: sales
            type: dashboard
            depends_on:
              - model: marts.customer_totals
                columns: [customer_id]
              - marts.region_totals
            charts:
              - {title: Orders, model: customer_totals, kind: bar, x: region, y: [orders]}
              - {title: Totals, model: marts.region_totals, kind: bar, x: region, y: [total]}
              - {title: Names, model: staging.stg_customers, kind: bar, x: name, y: [customer_id]}
    """
    (exposure,) = load_with(duck_project, {"exposures.yml": exposures}).exposures
    assert [(d.model, d.columns) for d in exposure.spec.depends_on] == [
        ("marts.customer_totals", ["customer_id", "region", "orders"]),
        ("marts.region_totals", []),  # declared without columns: it reads them all, still
        ("staging.stg_customers", ["name", "customer_id"]),
    ]
