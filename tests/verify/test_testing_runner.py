"""`dataplan test` against an environment where not everything is built: failures, never skips or crashes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlglot
from typer.testing import CliRunner

from dataplan.cli.app import app
from dataplan.warehouse import Warehouse
from tests.conftest import SHOP_FILES, ProjectFactory, catalog, run_sql

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


COPIED_YML = {
    "models/staging/stg_orders.yml": """
        models:
          - name: stg_orders
            grain: [order_id]
            columns:
              - name: status
                tests:
                  - accepted_values: {values: [paid, refunded]}
            tests:
              - expression: "amount > 5"
              - expression: "nope.amount > 0"  # a column of no table: the engine's error
              - expression: "stg_orders.amount >= 0"
    """,
    "models/staging/stg_bad.sql": "select cast(name as integer) as n from raw.customers",
    "models/staging/stg_bad.yml": """
        models:
          - name: stg_bad
            tests:
              - row_count: {min: 1}
              - expression: "n > 0"
    """,
}


def _scratch_tables(wh: Warehouse) -> int:
    q = "select count(*) from information_schema.tables where table_name like '_dataplan_test_%'"
    return int(wh.backend.fetch_value(sqlglot.parse_one(q)))


def test_a_view_with_several_tests_is_computed_once_for_them(make_project: ProjectFactory) -> None:
    make_project({**SHOP_FILES, **COPIED_YML})
    with make_project.open() as wh:
        wh.build("prod")
        before = catalog(wh)
        run = wh.test("prod", select="stg_orders,stg_bad,customer_totals")
        assert catalog(wh) == before
        assert _scratch_tables(wh) == 0  # the copy is gone with the test, not left for the session
    # stg_orders has four tests: one copy; customer_totals has none; stg_bad fails to compute, so no copy.
    assert [c.node for c in run.copies] == ["staging.stg_orders"]
    by = {(r.node, r.test): r for r in run.results}
    assert by[("staging.stg_orders", "unique_grain(order_id)")].outcome == "pass"
    assert by[("staging.stg_orders", "accepted_values(status)")].outcome == "pass"
    low = by[("staging.stg_orders", "expression(amount > 5)")]
    assert (low.outcome, low.failing_rows, low.sample[0]["order_id"]) == ("fail", 1, 5)
    qualified = by[("staging.stg_orders", "expression(stg_orders.amount >= 0)")]
    assert (qualified.outcome, qualified.error) == ("pass", None)  # a test may name the model, as on the view
    unknown = by[("staging.stg_orders", "expression(nope.amount > 0)")]
    assert unknown.outcome == "fail" and unknown.error and "nope" in unknown.error
    assert "_dataplan_test" not in unknown.error  # the engine's message names the view, not the copy
    # A view that fails when computed is tested as it is: a test that computes the failing column reports
    # the engine's error (a row count does not compute it).
    bad = {r.test: r for r in run.results if r.node == "staging.stg_bad"}
    assert bad["row_count[1..]"].outcome == "pass"
    failed = bad["expression(n > 0)"]
    assert failed.outcome == "fail" and failed.error and "Ann" in failed.error


SELECT_STAR = {
    **SHOP_FILES,
    "models/marts/all_orders.sql": "select * from staging.stg_orders",
}


@pytest.mark.parametrize(
    ("yml", "line", "message"),
    [
        (
            "models:\n  - name: all_orders\n    tests:\n      - row_count: {min: 1}\n      - expression: 'amnt >= 0'\n",
            5,
            "test expression(amnt >= 0): model marts.all_orders has no column amnt",
        ),
        (
            "models:\n  - name: all_orders\n    columns:\n      - name: order_id\n        tests: [not_null]\n"
            "      - name: statuss\n        tests: [not_null]\n",
            7,
            "test not_null(statuss): model marts.all_orders has no column statuss",
        ),
        (
            "models:\n  - name: all_orders\n    grain: [order_idd]\n",
            3,
            "grain column order_idd: model marts.all_orders has no column order_idd",
        ),
    ],
)
def test_a_column_a_select_star_models_test_names_is_checked_against_the_built_view(
    make_project: ProjectFactory, yml: str, line: int, message: str
) -> None:
    """Its columns are unknown until it is built: `dataplan test` checks them before any test runs.
    Before: the test failed with the engine's binder error, exit 1."""
    root = make_project({**SELECT_STAR, "models/marts/all_orders.yml": yml})
    with make_project.open() as wh:
        wh.build("prod")
        before = catalog(wh)
    result = runner.invoke(app, ["test", "--project", str(root)])
    assert result.exit_code == 2, result.output
    assert f"all_orders.yml:{line}: {message}\n" in result.output
    assert "marts.all_orders in prod has the columns: amount, customer_id, order_id, ordered_at, status" in " ".join(
        result.output.split()
    )
    assert "passed" not in result.output  # no test ran
    with make_project.open() as wh:
        assert catalog(wh) == before


def test_a_select_star_models_tests_on_its_columns_run(make_project: ProjectFactory) -> None:
    yml = (
        "models:\n  - name: all_orders\n    grain: [order_id]\n    columns:\n      - name: status\n"
        "        tests: [not_null]\n    tests:\n"
        "      - expression: 'all_orders.amount >= 0 and \"ordered_at\" is not null'\n"
    )
    root = make_project({**SELECT_STAR, "models/marts/all_orders.yml": yml})
    with make_project.open() as wh:
        wh.build("prod")
    result = runner.invoke(app, ["test", "--project", str(root), "--select", "all_orders"])
    assert result.exit_code == 0, result.output
    assert "3 passed" in result.output


def test_a_misspelled_column_in_a_singular_test_is_the_files_error_before_any_test_runs(
    make_project: ProjectFactory,
) -> None:
    """Before: the test failed with the engine's binder error, exit 1, among the others' results."""
    root = make_project({**SHOP_FILES, **TESTS_YML})
    with make_project.open() as wh:
        wh.build("prod")
        before = catalog(wh)
    test = root / "tests/no_negative_totals.sql"
    test.parent.mkdir(exist_ok=True)
    sql = "-- totals are never negative\nselect customer_id\nfrom marts.customer_totals t\nwhere t.totl < 0\n"
    test.write_text(sql)
    result = runner.invoke(app, ["test", "--project", str(root)])
    assert result.exit_code == 2, result.output
    assert "no_negative_totals.sql:4: test no_negative_totals cannot run:" in result.stderr
    assert "totl" in result.stderr and "fix this test" in result.stderr
    assert "passed" not in result.output  # no test ran
    with make_project.open() as wh:
        assert catalog(wh) == before
    test.write_text(test.read_text().replace("t.totl", "t.total"))
    fixed = runner.invoke(app, ["test", "--project", str(root), "--format", "json"])
    outcomes = {r["test"]: r["outcome"] for r in json.loads(fixed.stdout)["results"]}
    assert outcomes["no_negative_totals"] == "pass"
