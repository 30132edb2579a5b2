"""Errors and crashes after the swap: post-checks that fail to run, interrupted rollbacks, resume after --to."""

from __future__ import annotations

from typing import Any

import pytest
import sqlglot

import dataplan.rollout.executor as executor_module
from dataplan.backends.base import Backend
from dataplan.errors import EngineError
from dataplan.rollout.postcheck import PostCheckResult
from tests.rollout.conftest import ROW_DROP, Deployed, run_cli, state_of

DOUBLE = {
    "models/marts/order_facts.sql": "select order_id, customer_id, amount * 2.0 as amount, status from stg_orders\n"
}
DRIFT_YML = """
    models:
      - name: customer_revenue
        materialized: table
        grain: [customer_id]
        rollback_when: {metric_drift: {column: orders, max_pct: 10}}
"""
ORDERS_AS_TEXT = {
    "models/marts/customer_revenue.sql": "select customer_id, sum(amount) as revenue, "
    "cast(count(*) as varchar) as orders from order_facts group by customer_id\n"
}


def applied(deployed: Deployed, files: dict[str, str], **plan: object) -> str:
    deployed.change(files)
    pid = deployed.plan(**plan)
    with deployed.open() as wh:
        wh.apply(pid)
    return pid


def test_a_post_check_that_errors_fires_the_rollback(deployed: Deployed) -> None:
    deployed.change({"models/marts/customer_revenue.yml": DRIFT_YML})
    with deployed.open() as wh:
        wh.build("prod")
    old = state_of(deployed, "prod")
    pid = applied(deployed, ORDERS_AS_TEXT, allow_breaking=True)
    with deployed.open() as wh:
        result = wh.promote(pid, force=True, reason="the drift trigger decides")
        assert result.action == "rolled back" and result.exit_code == 1
        assert result.plan.status == "ROLLED BACK"
        fired = [c for c in result.post_checks if c.triggers_rollback]
        assert [c.name for c in fired] == ["metric marts.customer_revenue.orders"]
        assert "sum" in fired[0].detail.lower()  # the engine's own words: sum() of a text column
        assert "metric marts.customer_revenue.orders" in (result.plan.rollback_reason or "")
    assert state_of(deployed, "prod") == old


def test_an_error_after_the_swap_restores_before_it_is_raised(
    deployed: Deployed, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = state_of(deployed, "prod")
    pid = applied(deployed, DOUBLE)

    def broken(*args: object) -> list[PostCheckResult]:
        raise RuntimeError("post-check crashed")

    monkeypatch.setattr(executor_module, "post_promotion_checks", broken)
    with deployed.open() as wh:
        with pytest.raises(RuntimeError, match="post-check crashed"):
            wh.promote(pid)
        plan = wh.get_plan(pid)
        assert plan.status == "ROLLED BACK" and "post-check crashed" in (plan.rollback_reason or "")
        steps = [(e.step, e.phase, e.outcome) for e in wh.log(pid)]
    assert ("post_check", "end", "error") in steps and ("rollback", "end", "ok") in steps
    assert state_of(deployed, "prod") == old


@pytest.mark.parametrize("point", ["rollback:start", "rollback:end"])
def test_resume_finishes_an_interrupted_rollback(deployed: Deployed, point: str) -> None:
    old = state_of(deployed, "prod")
    pid = applied(deployed, DOUBLE)
    with deployed.open() as wh:
        assert wh.promote(pid).plan.status == "COMPLETE"
    killed = run_cli(deployed, "rollback", pid, fault=point)
    assert killed.returncode == -9, killed.stderr
    with deployed.open() as wh:
        result = wh.resume(pid)
        assert result.action == "rolled back" and result.plan.status == "ROLLED BACK"
        assert result.messages[0] == "finished the interrupted rollback"
    assert state_of(deployed, "prod") == old


@pytest.mark.parametrize("point", ["post_check:end", "rollback:start", "rollback:end"])
def test_resume_never_promotes_a_plan_whose_post_check_failed(deployed: Deployed, point: str) -> None:
    old = state_of(deployed, "prod")
    pid = applied(deployed, ROW_DROP)  # 2 of 80 rows dropped: 2.5% > the 1% trigger, which fails apply too
    killed = run_cli(deployed, "promote", pid, "--force", "--reason", "test the trigger", fault=point)
    assert killed.returncode == -9, killed.stderr
    with deployed.open() as wh:
        result = wh.resume(pid)
        assert result.action == "rolled back" and result.plan.status == "ROLLED BACK"
        assert result.exit_code == 1  # the plan failed its post-promotion checks
        steps = [(e.step, e.phase) for e in wh.log(pid)]
    assert steps.count(("promote", "start")) == 1
    assert state_of(deployed, "prod") == old


def test_resume_after_promote_to_finishes_on_that_environment(deployed: Deployed) -> None:
    with deployed.open() as wh:
        wh.build("dev")
    old = state_of(deployed, "prod")
    pid = applied(deployed, DOUBLE)
    killed = run_cli(deployed, "promote", pid, "--to", "dev", fault="post_check:start")
    assert killed.returncode == -9, killed.stderr
    new = state_of(deployed, "dev")
    assert new != old
    with deployed.open() as wh:
        result = wh.resume(pid)
        assert result.action == "promoted" and result.plan.status == "COMPLETE"
    assert state_of(deployed, "dev") == new and state_of(deployed, "prod") == old
    rolled = run_cli(deployed, "rollback", pid)
    assert rolled.returncode == 0 and "dev restored" in rolled.stdout, rolled.stdout + rolled.stderr
    assert state_of(deployed, "dev") == old and state_of(deployed, "prod") == old


def test_rollback_right_after_a_crashed_swap_of_versions_dev_built(deployed: Deployed) -> None:
    # dev builds the change first; the plan keeps order_facts (same data) but apply reuses dev's version of
    # it, so the swap writes a version the plan's new_version does not name. Rollback right after a crash
    # that followed the swap compared against new_version and refused.
    deployed.change(
        {"models/staging/stg_orders.sql": "select order_id, customer_id, amount, status, 1 as one from raw.orders\n"}
    )
    with deployed.open() as wh:
        wh.build("dev")
    old = state_of(deployed, "prod")
    pid = applied(deployed, {})
    killed = run_cli(deployed, "promote", pid, fault="promote:end")
    assert killed.returncode == -9, killed.stderr
    assert state_of(deployed, "prod") != old  # the swap happened
    with deployed.open() as wh:
        result = wh.rollback(pid)
        assert result.plan.status == "ROLLED BACK"
    assert state_of(deployed, "prod") == old


# A plan that removes customer_revenue (and the exposure reading it): its rollback puts that view back.
REMOVED = "models/marts/customer_revenue.sql", "models/marts/customer_revenue.yml", "exposures.yml"
THEIRS = "create view marts.customer_revenue as select 42 as mine"


def removing(deployed: Deployed, files: dict[str, str] | None = None) -> str:
    for name in REMOVED:
        (deployed.root / name).unlink()
    return applied(deployed, files or {})


def take_the_name(backend: Backend) -> None:
    backend.execute(sqlglot.parse_one(THEIRS, read="duckdb"))


def test_rollback_never_replaces_a_view_someone_made_since_at_a_removed_models_name(deployed: Deployed) -> None:
    """Refused before the rollback is journaled: the target keeps the plan's versions, the view its owner's
    rows, and the rollback goes through once the name is free."""
    old = state_of(deployed, "prod")
    pid = removing(deployed)
    with deployed.open() as wh:
        assert wh.promote(pid).plan.status == "COMPLETE"
        take_the_name(wh.backend)
    promoted = state_of(deployed, "prod")
    got = run_cli(deployed, "rollback", pid)
    assert got.returncode == 2
    assert (
        f"error: cannot roll back plan {pid}: marts.customer_revenue (a view) is not dataplan's, and the view prod "
        "had there before the plan would replace it. prod still serves the plan's versions"
    ) in " ".join(got.stderr.split())
    assert f"hint: rename or drop it yourself, then run `dataplan rollback {pid}`" in " ".join(got.stderr.split())
    assert state_of(deployed, "prod") == promoted and deployed.rows("marts", "customer_revenue", "mine") == [(42,)]
    with deployed.open() as wh:
        assert wh.get_plan(pid).status == "COMPLETE"
        assert "rollback" not in {e.step for e in wh.log(pid)}  # nothing half done for resume to pick up
        wh.backend.execute(sqlglot.parse_one("drop view marts.customer_revenue", read="duckdb"))
        assert wh.rollback(pid).plan.status == "ROLLED BACK"
    assert state_of(deployed, "prod") == old


def test_an_automatic_rollback_refused_says_the_target_still_serves_the_plan(
    deployed: Deployed, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not "prod was not changed": prod was, and its checks failed. The rollback stays due."""
    old = state_of(deployed, "prod")
    pid = removing(deployed, ROW_DROP)
    checks = executor_module.post_promotion_checks

    def someone_takes_the_name_first(project: Any, backend: Backend, *args: Any) -> list[PostCheckResult]:
        take_the_name(backend)
        return checks(project, backend, *args)

    monkeypatch.setattr(executor_module, "post_promotion_checks", someone_takes_the_name_first)
    got = run_cli(deployed, "promote", pid, "--force", "--reason", "test the trigger")
    monkeypatch.undo()
    said = " ".join(got.stderr.split())
    assert got.returncode == 2, said
    assert "error: post-promotion check failed (row count marts.order_facts: 80 -> 78 rows" in said
    assert (
        f"and plan {pid} could not be rolled back: marts.customer_revenue (a view) is not dataplan's, and the view "
        "prod had there before the plan would replace it. prod still serves the plan's versions"
    ) in said
    with deployed.open() as wh:
        plan = wh.get_plan(pid)
        assert plan.status == "IN PROGRESS" and [c.name for c in plan.post_checks if c.triggers_rollback]
        assert "customer_revenue" not in state_of(deployed, "prod")
        again = run_cli(deployed, "promote", pid, "--force", "--reason", "again")
        assert again.returncode == 2 and f"plan {pid} failed its post-promotion checks" in again.stderr
        wh.backend.execute(sqlglot.parse_one("drop view marts.customer_revenue", read="duckdb"))
        result = wh.resume(pid)
        assert result.plan.status == "ROLLED BACK" and result.exit_code == 1
    assert state_of(deployed, "prod") == old


def test_an_error_after_the_swap_says_when_its_rollback_was_refused_too(
    deployed: Deployed, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid = removing(deployed)

    def broken(project: Any, backend: Backend, *args: Any) -> list[PostCheckResult]:
        take_the_name(backend)
        raise EngineError("post-check crashed")

    monkeypatch.setattr(executor_module, "post_promotion_checks", broken)
    got = run_cli(deployed, "promote", pid)
    said = " ".join(got.stderr.split())
    assert got.returncode == 3 and said.startswith("error: post-check crashed")
    assert f"the automatic rollback failed too: cannot roll back plan {pid}: marts.customer_revenue (a view)" in said
    assert f"run `dataplan rollback {pid}`" in said


def test_promote_again_after_a_failed_post_check_says_why_not_stale(deployed: Deployed) -> None:
    """Killed after its post-check failed, prod serves the plan's versions: that is not the plan being stale."""
    pid = applied(deployed, ROW_DROP)
    killed = run_cli(deployed, "promote", pid, "--force", "--reason", "test the trigger", fault="post_check:end")
    assert killed.returncode == -9, killed.stderr
    again = run_cli(deployed, "promote", pid, "--force", "--reason", "again")
    assert again.returncode == 2 and "is stale" not in again.stderr
    assert f"plan {pid} failed its post-promotion checks; it is never promoted again" in again.stderr
    assert f"`dataplan resume {pid}` finishes its rollback" in " ".join(again.stderr.split())
