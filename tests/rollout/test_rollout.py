"""Apply, promote, rollback: round trips, refusals, automatic rollback, locks, janitor — both engines."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from dataplan import StateError
from dataplan.rollout.locks import Locks
from tests.rollout.conftest import NO_TEST, ROW_DROP, Deployed, full_catalog

DOUBLE = {
    "models/marts/order_facts.sql": "select order_id, customer_id, amount * 2.0 as amount, status from stg_orders\n"
}


def test_round_trip_restores_every_view_and_table(deployed: Deployed) -> None:
    with deployed.open() as wh:
        views_before, tables_before = full_catalog(wh)
    deployed.change(DOUBLE)
    pid = deployed.plan()
    with deployed.open() as wh:
        applied = wh.apply(pid)
        assert applied.exit_code == 0, applied.messages
        assert applied.plan.verified and applied.plan.status == "IN PROGRESS"
        promoted = wh.promote(pid)
        assert promoted.action == "promoted" and promoted.plan.status == "COMPLETE"
    assert deployed.rows("marts", "customer_revenue", "customer_id")[0][1] == 2 * deployed_revenue(deployed)
    with deployed.open() as wh:
        result = wh.rollback(pid)
        assert result.plan.status == "ROLLED BACK"
        views_after, tables_after = full_catalog(wh)
    assert {k: v for k, v in views_after.items() if k in views_before} == views_before
    assert all(schema == "_dataplan" for schema, _ in set(views_after) - set(views_before))  # new versions only
    for key, rows in tables_before.items():
        if key[0] != "_dataplan":
            assert tables_after[key] == rows, key
        elif key[1] not in ("plans", "journal", "locks", "environments", "environment_models", "versions", "intervals"):
            assert tables_after[key] == rows, key
    with deployed.open() as wh:
        again = wh.rollback(pid)
        assert again.action == "nothing to do"  # idempotent


def deployed_revenue(deployed: Deployed) -> float:
    # c0's revenue before the change: orders 7, 14, ..., 77 (80 is status test but kept: no filter yet)
    return float(sum(i for i in range(1, 81) if i % 7 == 0))


def test_apply_records_results_in_plan_and_document(deployed: Deployed) -> None:
    deployed.change(DOUBLE)
    pid = deployed.plan()
    with deployed.open() as wh:
        result = wh.apply(pid)
        plan = result.plan
    by_kind = {(c.model, c.kind): c for c in plan.checks}
    rows = by_kind[("marts.order_facts", "row_count")]
    assert rows.outcome == "pass" and rows.actual.startswith("80 -> 80 rows")
    value = by_kind[("marts.order_facts", "value_diff")]
    assert value.outcome == "pass" and "80 changed rows" in value.actual
    assert plan.baseline["marts.order_facts"]["row_count"] == 80
    amount = plan.baseline["marts.order_facts"]["columns"]["amount"]  # type: ignore[index]
    assert amount["distinct_approximate"] is False and amount["mean"] is not None  # exact at 80 rows
    doc = (deployed.root / plan.document).read_text()
    assert "80 -> 80 rows" in doc and "**IN PROGRESS**" in doc
    log = (deployed.root / plan.document).with_suffix(".log.md").read_text()
    assert "| build | start |" in log and "| verify | end | pass |" in log


def test_the_baseline_records_the_columns_a_plan_removes(deployed: Deployed) -> None:
    without_status = "select order_id, customer_id, amount * 1.0 as amount from stg_orders\n"
    deployed.change({"models/marts/order_facts.sql": without_status})
    pid = deployed.plan(allow_breaking=True)
    with deployed.open() as wh:
        plan = wh.apply(pid).plan
    columns = plan.baseline["marts.order_facts"]["columns"]  # type: ignore[index]
    status = columns["status"]  # type: ignore[index]
    assert status["removed"] is True and status["null_pct"] == 0.0
    assert status["distinct"] == 2  # 'paid' and 'test' in the target, before the plan drops the column
    assert "removed" not in columns["amount"]  # type: ignore[index]
    doc = (deployed.root / plan.document).read_text()
    assert "| `status` (removed by the plan) | 0% " in doc


def test_a_metric_the_plan_removes_does_not_fire_its_rollback_trigger(deployed: Deployed) -> None:
    """The removed column is in the baseline as a record, not as a metric: promotion completes."""
    trigger = """
        models:
          - name: order_facts
            materialized: table
            grain: [order_id]
            rollback_when: {metric_drift: {column: amount2, max_pct: 10}}
    """
    sql = "select order_id, customer_id, amount * 1.0 as amount{} from stg_orders\n"
    deployed.change({"models/marts/order_facts.sql": sql.format(", amount * 2.0 as amount2"),
                     "models/marts/order_facts.yml": trigger})  # fmt: skip
    with deployed.open() as wh:
        wh.build("prod")
    deployed.change({"models/marts/order_facts.sql": sql.format("")})
    pid = deployed.plan(allow_breaking=True)
    with deployed.open() as wh:
        plan = wh.apply(pid).plan
        assert plan.baseline["marts.order_facts"]["columns"]["amount2"]["removed"] is True  # type: ignore[index]
        promoted = wh.promote(pid)
    assert promoted.plan.status == "COMPLETE"
    assert not [c for c in promoted.plan.post_checks if c.name.startswith("metric")]


def test_promote_refuses_unverified_and_stale_plans(deployed: Deployed) -> None:
    deployed.change(NO_TEST)  # drops 2 of 80 rows: 2.5% > the 1% a strict row-count check allows
    first, second = deployed.plan(), deployed.plan()
    with deployed.open() as wh:
        with pytest.raises(StateError, match="was never applied: nothing is built to promote"):
            wh.promote(first)
        plan = wh.get_plan(first)
        strict = [c.model_copy(update={"fail": 1.0}) if c.kind == "row_count" else c for c in plan.checks]
        wh.plan_records.save(plan.model_copy(update={"checks": strict}))
        assert wh.apply(first).exit_code == 1
        with pytest.raises(StateError, match="is not verified: a blocking check failed"):
            wh.promote(first)
        with pytest.raises(Exception, match="--force needs --reason"):
            wh.promote(first, force=True)
        forced = wh.promote(first, force=True, reason="hotfix approved by finance")
        assert forced.plan.forced_reason == "hotfix approved by finance" and forced.plan.status == "COMPLETE"
        with pytest.raises(StateError, match="is stale: prod changed since it was planned"):
            wh.apply(second)  # verifying against a moved target would measure a change the plan does not hold
        assert wh.get_plan(second).status == "DRAFT"


def test_failed_post_promotion_check_rolls_back_by_itself(deployed: Deployed) -> None:
    deployed.change(ROW_DROP)
    pid = deployed.plan()
    with deployed.open() as wh:
        before = full_catalog(wh)[0]
        applied = wh.apply(pid)
        # 2.5% fewer rows: the trigger's 1% is the row-count check's fail threshold already
        row_check = next(c for c in applied.plan.checks if (c.model, c.kind) == ("marts.order_facts", "row_count"))
        assert applied.exit_code == 1 and (row_check.fail, row_check.outcome) == (1.0, "fail")
        assert row_check.target == "change within 1.0% (fail above 1.0%; rollback_when fires on a drop above 1.0%)"
        result = wh.promote(pid, force=True, reason="testing the trigger")
        assert result.action == "rolled back" and result.exit_code == 1
        assert result.plan.status == "ROLLED BACK"
        assert "row count marts.order_facts" in result.plan.rollback_reason
        after = full_catalog(wh)[0]
        assert {k: v for k, v in after.items() if k in before} == before  # new versions may stay
        assert {k for k in after if k not in before} <= {(s, n) for s, n in after if s == "_dataplan"}
        steps = [(e.step, e.phase, e.outcome) for e in wh.log(pid)]
    assert ("post_check", "end", "fail") in steps and ("rollback", "end", "ok") in steps


def test_rollback_refuses_when_a_later_plan_was_promoted(deployed: Deployed) -> None:
    deployed.change(DOUBLE)
    first = deployed.plan()
    with deployed.open() as wh:
        wh.apply(first)
        wh.promote(first)
    deployed.change(
        {
            "models/marts/customer_revenue.sql": "select customer_id, sum(amount) as revenue, count(*) "
            "as orders, max(amount) as top from order_facts group by 1"
        }
    )
    second = deployed.plan()
    with deployed.open() as wh:
        wh.apply(second)
        wh.promote(second)
        with pytest.raises(StateError, match=f"plan {second} was promoted on top of {first}") as info:
            wh.rollback(first)
        assert f"dataplan rollback {second}" in str(info.value)
        wh.rollback(second)
        assert wh.rollback(first).plan.status == "ROLLED BACK"


def test_second_promotion_fails_at_once_naming_the_holder(deployed: Deployed) -> None:
    deployed.change(DOUBLE)
    pid = deployed.plan()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with deployed.open() as wh:
            wh.apply(pid)
            wh.store._insert(
                "locks",
                [
                    [
                        "prod",
                        "promote other-plan",
                        sleeper.pid,
                        __import__("socket").gethostname(),
                        __import__("dataplan.state.store", fromlist=["now"]).now(),
                    ]
                ],
            )
            t0 = time.perf_counter()
            with pytest.raises(StateError, match=r"prod is locked by promote other-plan \(pid \d+ on .*\) since"):
                wh.promote(pid)
            assert time.perf_counter() - t0 < 5
    finally:
        sleeper.kill()
        sleeper.wait()
    with deployed.open() as wh:
        # the holder died: the lock is stale, taken over, and the journal says so
        result = wh.promote(pid)
        assert result.plan.status == "COMPLETE"
        assert any(e.step == "lock" and e.outcome == "broken" for e in wh.log(pid))
        assert Locks(wh.store).holder("prod") is None


def test_janitor_keeps_referenced_versions(deployed: Deployed) -> None:
    deployed.change(DOUBLE)
    pid = deployed.plan()
    with deployed.open() as wh:
        wh.apply(pid)
        wh.promote(pid)
        wh.rollback(pid)  # the plan's new versions are now unreferenced
        new_versions = {c.new_version for c in wh.get_plan(pid).changes if c.rebuild}
        before = full_catalog(wh)
        dry = wh.janitor("0s", dry_run=True)
        assert set(dry.dropped) == new_versions
        assert full_catalog(wh) == before
        env_versions = {e.version_id for e in wh.store.environment_models("prod").values()}
        assert env_versions <= set(dry.kept)
        young = wh.janitor("7d")
        assert young.dropped == []
        done = wh.janitor("0s")
        assert set(done.dropped) == new_versions
        remaining = {r.name for r in wh.backend.relations() if r.schema == "_dataplan"}
        assert not (new_versions & remaining) and env_versions <= remaining
    assert len(deployed.rows("marts", "customer_revenue", "customer_id")) == 7  # prod still reads its versions


def test_janitor_refuses_during_a_rollout(deployed: Deployed) -> None:
    with deployed.open() as wh:
        Locks(wh.store).acquire("prod", "promote x")
        with pytest.raises(StateError, match="the janitor does not run during a rollout"):
            wh.janitor("0s")


def test_apply_cli_names_the_document_and_the_reports(deployed: Deployed) -> None:
    from tests.rollout.conftest import run_cli

    deployed.change(DOUBLE)
    pid = deployed.plan()
    result = run_cli(deployed, "apply", pid)
    assert result.returncode == 0, result.stderr
    with deployed.open() as wh:
        plan = wh.get_plan(pid)
    assert plan.reports and all((deployed.root / r).is_file() for r in plan.reports)
    for report in plan.reports:
        assert f"verification report: {report}" in result.stdout
    doc = (deployed.root / str(plan.document)).read_text()
    assert f"](../{plan.reports[0]})" in doc


def test_a_renamed_column_is_checked_to_keep_its_values(deployed: Deployed) -> None:
    renamed = "select order_id, customer_id, amount * 1.0 as amount, status as order_status from stg_orders\n"
    deployed.change({"models/marts/order_facts.sql": renamed})
    pid = deployed.plan()
    with deployed.open() as wh:
        plan = wh.apply(pid).plan
    by_kind = {(c.model, c.kind): c for c in plan.checks}
    schema = by_kind[("marts.order_facts", "schema")]
    assert schema.actual == "status -> order_status" and schema.outcome == "pass"
    value = by_kind[("marts.order_facts", "value_diff")]
    assert value.outcome == "pass" and value.actual.endswith("0 changed rows (by column: none)")
    report = (deployed.root / next(r for r in plan.reports if "order_facts" in r)).read_text()
    assert "Compared across a rename (A = B): status = order_status." in report


def test_a_renamed_column_whose_parent_changes_its_values_expects_them(deployed: Deployed) -> None:
    renamed = "select order_id, customer_id, amount * 1.0 as amount, status as order_status from stg_orders\n"
    upper = "select order_id, customer_id, amount, upper(status) as status from raw.orders\n"
    deployed.change({"models/marts/order_facts.sql": renamed, "models/staging/stg_orders.sql": upper})
    pid = deployed.plan()
    with deployed.open() as wh:
        plan = wh.apply(pid).plan
    value = next(c for c in plan.checks if (c.model, c.kind) == ("marts.order_facts", "value_diff"))
    assert value.actual.endswith("80 changed rows (by column: status 80)"), value.actual
    assert value.outcome == "pass", value.params


def test_a_renamed_grain_column_keys_the_diff_by_its_old_name(deployed: Deployed) -> None:
    # The grain names the new column; the diff compares B under A's names, so its key is the old name.
    renamed = "select order_id as id, customer_id, amount * 1.0 as amount, status from stg_orders\n"
    spec = """
        models:
          - name: order_facts
            materialized: table
            grain: [id]
            columns:
              - {name: id, tests: [not_null, unique]}
    """
    deployed.change({"models/marts/order_facts.sql": renamed, "models/marts/order_facts.yml": spec})
    pid = deployed.plan()
    with deployed.open() as wh:
        plan = wh.apply(pid).plan
    by_kind = {(c.model, c.kind): c for c in plan.checks}
    assert by_kind[("marts.order_facts", "schema")].actual == "order_id -> id"
    value = by_kind[("marts.order_facts", "value_diff")]
    assert value.outcome == "pass" and value.actual.endswith("0 changed rows (by column: none)"), value.actual


def test_a_grain_moved_to_a_new_column_matches_rows_on_the_old_grain(deployed: Deployed) -> None:
    sql = "select order_id, order_id * 10 as line_id, customer_id, amount * 1.0 as amount, status from stg_orders\n"
    yml = "models:\n  - name: order_facts\n    materialized: table\n    grain: [line_id]\n"
    deployed.change({"models/marts/order_facts.sql": sql, "models/marts/order_facts.yml": yml})
    with deployed.open() as wh:
        plan = wh.apply(deployed.plan()).plan  # the target has no line_id: it raised 'key column ... in A'
    value = next(c for c in plan.checks if (c.model, c.kind) == ("marts.order_facts", "value_diff"))
    assert value.actual == (
        "0 only in prod, 0 only in plan, 0 changed rows (by column: none); grain changed (order_id -> line_id), "
        "the target has no line_id: rows matched on the old grain"
    )
    assert value.outcome == "pass"


def test_a_grain_on_no_column_both_sides_have_skips_row_matching_and_says_why(deployed: Deployed) -> None:
    sql = "select order_id * 10 as line_id, customer_id, amount * 1.0 as amount, status from stg_orders\n"
    yml = "models:\n  - name: order_facts\n    materialized: table\n    grain: [line_id]\n"
    deployed.change({"models/marts/order_facts.sql": sql, "models/marts/order_facts.yml": yml})
    with deployed.open() as wh:
        plan = wh.apply(deployed.plan()).plan
    value = next(c for c in plan.checks if (c.model, c.kind) == ("marts.order_facts", "value_diff"))
    assert value.actual == "not run: grain changed (order_id -> line_id): no grain on both sides, rows not matched"
    assert value.outcome == "warn"  # no row was compared: never shown as a pass, and it blocks nothing


def test_psi_of_a_table_with_few_rows_is_reported_not_graded(deployed: Deployed) -> None:
    """customer_revenue has 7 rows: its bins hold a row or two, so any change moves PSI past the thresholds."""
    revenue = "select customer_id, sum(amount) * 3 as revenue, count(*) as orders from order_facts group by 1\n"
    deployed.change({"models/marts/customer_revenue.sql": revenue})
    with deployed.open() as wh:
        plan = wh.apply(deployed.plan()).plan
    check = next(c for c in plan.checks if (c.model, c.kind) == ("marts.customer_revenue", "distribution"))
    assert check.actual is not None and check.actual.startswith("max PSI ")
    assert check.actual.endswith("; not graded below 30 rows per side") and check.outcome == "pass"
    assert float(check.actual.split()[2]) > 0.25  # would have been a fail
