"""`dataplan demo`: the whole story at a small scale, and a second run in the same directory."""

from __future__ import annotations

from pathlib import Path

import duckdb
from typer.testing import CliRunner

from dataplan import Warehouse
from dataplan.cli.app import app
from dataplan.demo.changes import CHURN_DEFINITION, DROP_UNKNOWN_INDUSTRY, MODEL_FILE
from dataplan.demo.story import run_demo


def test_demo_tells_the_whole_story(tmp_path: Path) -> None:
    target = tmp_path / "demo"
    result = run_demo(target, customers=400)
    stages = {s.name: s for s in result.stages}
    assert list(stages) == [
        "project",
        "data",
        "build",
        "test",
        "dashboard",
        "change: churn definition",
        "change: drop unknown industry",
    ]
    assert result.build is not None and len(result.build.created) == len(result.build.actions) > 15
    assert result.tests is not None and not result.tests.failed
    assert result.dashboard is not None and result.dashboard.exists()
    assert result.dashboard.read_text().count("<svg") >= 7
    good, bad = result.changes
    assert good.status == "COMPLETE" and good.impacted == ["marts.account_health (directly modified, breaking)"]
    assert any("rows match on grain" in c and "(pass)" in c for c in good.checks)
    assert bad.status == "ROLLED BACK"
    assert any("rollback when it drops more than 1.0%" in m for m in bad.messages)
    for change in (good, bad):
        assert change.document and (target / change.document).exists()
        assert change.reports and all((target / r).exists() for r in change.reports)
    model_sql = (target / MODEL_FILE).read_text()
    assert CHURN_DEFINITION.after in model_sql and DROP_UNKNOWN_INDUSTRY.after not in model_sql
    with Warehouse.open(target) as wh:
        assert wh.status("prod").pending == []  # prod runs exactly the project
        statuses = {p["status"] for p in wh.plans()}
    assert statuses == {"COMPLETE", "ROLLED BACK"}


def test_demo_twice_reuses_and_says_so(tmp_path: Path) -> None:
    target = tmp_path / "demo"
    runner = CliRunner()
    first = runner.invoke(app, ["demo", str(target), "--customers", "300"])
    assert first.exit_code == 0, first.output
    assert "dashboard-prod.html" in first.output and "ROLLED BACK" in first.output
    with Warehouse.open(target) as wh:
        plans_before = wh.plans()
    assert [p["status"] for p in plans_before] == ["COMPLETE", "ROLLED BACK"]
    rolled_back = str(plans_before[1]["plan_id"])
    again = run_demo(target, customers=300)
    stages = {s.name: s for s in again.stages}
    assert [n for n, s in stages.items() if s.reused] == [
        "project",
        "data",
        "build",
        "change: churn definition",
        "change: drop unknown industry",
    ]
    assert stages["data"].summary == "raw data for 300 customers already generated; reused"
    assert "refresh" not in stages  # same data: prod's tables are current
    assert stages["change: churn definition"].summary == (
        f"plan {plans_before[0]['plan_id']} already promoted by an earlier run; nothing to do"
    )
    assert stages["change: drop unknown industry"].summary == (
        f"plan {rolled_back} was rolled back by an earlier run; not shipped again"
    )
    good, bad = again.changes
    assert (good.plan_id, good.status) == (plans_before[0]["plan_id"], "COMPLETE")
    assert (bad.plan_id, bad.status) == (rolled_back, "ROLLED BACK")  # the earlier plan, not a new one
    assert bad.document and (target / bad.document).exists()
    assert any("rolled back by an earlier run" in m and "1.0%" in m for m in bad.messages)
    with Warehouse.open(target) as wh:
        assert wh.plans() == plans_before  # no plan added, none changed
        assert wh.status("prod").pending == []
    model_sql = (target / MODEL_FILE).read_text()
    assert CHURN_DEFINITION.after in model_sql and DROP_UNKNOWN_INDUSTRY.after not in model_sql
    third = runner.invoke(app, ["demo", str(target), "--customers", "300"])
    assert third.exit_code == 0, third.output
    assert f"plan {rolled_back} -> ROLLED BACK" in third.output
    assert f" log {rolled_back} -p {target}  # the journal of a rollout" in third.output  # the id, not <plan id>
    assert "rolled back by an earlier run: row count marts.account_health" in third.output
    with Warehouse.open(target) as wh:
        assert len(wh.plans()) == 2


def _spine_and_source(target: Path) -> tuple[int, int]:
    """Rows of a prod table built from the billing customers, and the billing customers the raw data holds."""
    con = duckdb.connect(str(target / "warehouse.duckdb"), read_only=True)
    # as a user opening the database outside dataplan: its views name the raw files relative to its folder
    con.execute("SET file_search_path = ?", [str(target)])
    try:
        row = con.sql(
            "SELECT (SELECT count(*) FROM intermediate.int_customer_spine), "
            "(SELECT count(DISTINCT customer_id) FROM staging.stg_billing_customers)"
        ).fetchall()[0]
    finally:
        con.close()
    return int(row[0]), int(row[1])


def test_demo_with_other_customers_refreshes_prod(tmp_path: Path) -> None:
    target = tmp_path / "demo"
    run_demo(target, customers=200)
    assert _spine_and_source(target) == (200, 200)
    again = run_demo(target, customers=300)
    stages = {s.name: s for s in again.stages}
    assert list(stages)[:5] == ["project", "data", "build", "refresh", "test"]
    assert not stages["data"].reused and stages["build"].reused
    assert stages["refresh"].summary == (
        "raw data was regenerated: recomputed 8 prod tables from it (views read it as is)"
    )
    assert _spine_and_source(target) == (300, 300)  # the tables hold the new data, like the views
    assert again.tests is not None and not again.tests.failed


def test_a_second_run_refuses_a_model_edited_by_hand_and_changes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "demo"
    run_demo(target, customers=200)
    model = target / MODEL_FILE
    model.write_text(model.read_text().replace("select", "select 1 as edited_by_hand,", 1))
    marker = (target / ".dataplan-demo.json").read_text()
    with Warehouse.open(target) as wh:
        before = (wh.environments(), wh.plans())
    refused = CliRunner().invoke(app, ["demo", str(target), "--customers", "300"])
    assert refused.exit_code == 2
    assert "differs from what prod runs: marts.account_health (changed, models/marts/account_health.sql)" in (
        refused.stderr
    )
    assert "without a plan" in refused.stderr
    assert (target / ".dataplan-demo.json").read_text() == marker  # the data was not generated again
    with Warehouse.open(target) as wh:
        assert (wh.environments(), wh.plans()) == before
        assert [m.fqn for m in wh.status("prod").models if m.state != "up to date"] == ["marts.account_health"]


def test_a_second_run_undoes_the_demos_own_unshipped_edits_instead_of_refusing(tmp_path: Path) -> None:
    target = tmp_path / "demo"
    first = run_demo(target, customers=200)
    churn_plan = first.changes[0].plan_id
    assert churn_plan is not None
    with Warehouse.open(target) as wh:
        wh.rollback(churn_plan)  # prod runs the original model again, the file still has the churn edit
    DROP_UNKNOWN_INDUSTRY.apply(target)  # and the rolled-back change was never undone (a killed run)
    again = run_demo(target, customers=200)
    assert [c.status for c in again.changes] == ["ROLLED BACK", "ROLLED BACK"]
    text = (target / MODEL_FILE).read_text()
    assert CHURN_DEFINITION.after not in text and DROP_UNKNOWN_INDUSTRY.after not in text
    with Warehouse.open(target) as wh:
        assert wh.status("prod").pending == []  # prod runs exactly the project
