"""`dataplan test` against an environment where not everything is built: failures, never skips or crashes."""

from __future__ import annotations

from pathlib import Path

import sqlglot
from typer.testing import CliRunner

from dataplan.cli.app import app
from tests.conftest import SHOP_FILES, ProjectFactory, run_sql

runner = CliRunner()

TESTS_YML = {
    "models/marts/customer_totals.yml": """
        models:
          - name: customer_totals
            columns:
              - name: customer_id
                tests:
                  - relationships: {to: raw.customers, field: customer_id}
                  - relationships: {to: marts.region_totals, field: region}
            tests:
              - row_count: {min: 1}
    """,
    "models/marts/region_totals.yml": """
        models:
          - name: region_totals
            tests:
              - row_count: {min: 1}
              - expression: "total >= 0"
    """,
}


def test_unbuilt_models_and_parents_fail_with_a_message(make_project: ProjectFactory) -> None:
    make_project({**SHOP_FILES, **TESTS_YML})
    with make_project.open() as wh:
        wh.build("only", select="stg_orders")
        run = wh.test("only", select="customer_totals+")
    by = {(r.node, r.test): r for r in run.results}
    assert sorted(by) == [("marts.customer_totals", "built"), ("marts.region_totals", "built")]
    assert {r.outcome for r in run.results} == {"fail"}
    assert by[("marts.region_totals", "built")].error == "not built in only"


def test_a_relationships_parent_that_is_not_built_fails_alone(make_project: ProjectFactory) -> None:
    make_project({**SHOP_FILES, **TESTS_YML})
    with make_project.open() as wh:
        wh.build("dev", select="+customer_totals")
        run = wh.test("dev", select="customer_totals")
    by = {r.test: r for r in run.results if r.node == "marts.customer_totals"}
    assert by["relationships(customer_id)"].outcome == "fail"  # the source parent works; region_totals not
    results = [(r.outcome, r.error) for r in run.results if r.test == "relationships(customer_id)"]
    assert sorted(results, key=str) == [
        ("fail", "model marts.region_totals is not built in dev"),
        ("pass", None),
    ]
    assert by["row_count[1..]"].outcome == "pass"


def test_row_count_on_an_empty_table_reports_the_count(make_project: ProjectFactory) -> None:
    make_project({**SHOP_FILES, **TESTS_YML})
    with make_project.open() as wh:
        run_sql(wh, ["delete from raw.customers"])
        wh.build("prod")
        run = wh.test("prod", select="region_totals")
    by = {r.test: r for r in run.results}
    assert by["row_count[1..]"].outcome == "fail"
    assert by["row_count[1..]"].error == "row count 0 is below the minimum 1"
    assert by["expression(total >= 0)"].outcome == "pass"


def test_cli_exits_1_for_a_selected_model_not_built(make_project: ProjectFactory) -> None:
    root: Path = make_project({**SHOP_FILES, **TESTS_YML})
    with make_project.open() as wh:
        wh.build("dev", select="stg_orders")
    args = ["test", "--project", str(root), "--env", "dev", "--select", "region_totals", "--format", "json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert '"not built in dev"' in result.output


def test_an_expression_that_is_null_fails_and_is_null_or_lets_it_pass(make_project: ProjectFactory) -> None:
    spec = """
        models:
          - name: region_totals
            tests:
              - expression: "nullif(total, total) >= 0"
              - expression: "nullif(total, total) is null or nullif(total, total) >= 0"
    """
    make_project({**SHOP_FILES, "models/marts/region_totals.yml": spec})
    with make_project.open() as wh:
        wh.build("prod")
        regions = int(wh.backend.fetch_value(sqlglot.parse_one("select count(*) from marts.region_totals")))
        run = wh.test("prod", select="region_totals")
    by = {r.test: r for r in run.results}
    null_test = by["expression(nullif(total, total) >= 0)"]
    assert null_test.outcome == "fail"
    assert null_test.failing_rows == regions > 0
    assert by["expression(nullif(total, total) is null or nullif(total, total) >= 0)"].outcome == "pass"
