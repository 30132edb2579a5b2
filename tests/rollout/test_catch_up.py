"""Promote fills a plan's incremental versions as far as the target's got by `run` after apply."""

from __future__ import annotations

import datetime as dt

import pytest

from dataplan.build.builder import Builder
from dataplan.rollout.journal import Journal
from tests.build.test_incremental import days, incremental
from tests.conftest import ProjectFactory, write_files

D = dt.date
DOUBLED = {"models/staging/events.sql": "select order_id, ordered_at, amount * 2 as amount from raw.orders"}
STRICT = """
    models:
      - name: events
        materialized: incremental_by_time
        time_column: ordered_at
        start: 2025-01-01
        batch_days: 1
        rollback_when: {row_count_drop_pct: 1}
"""


def test_promote_catches_the_plans_incremental_version_up_with_what_run_loaded_since_apply(
    make_project: ProjectFactory,
) -> None:
    root = make_project()
    write_files(root, {**incremental(batch_days=1), "models/staging/events.yml": STRICT})
    with make_project.open() as wh:
        wh.build("prod", end=D(2025, 1, 3))  # raw.orders has one order a day on 01-01, 01-03, 01-05, two on 01-02
        assert days(wh) == ["2025-01-01", "2025-01-02", "2025-01-02"]
    write_files(root, DOUBLED)
    with make_project.open() as wh:
        plan = wh.plan("prod")
        applied = wh.apply(plan.plan_id, end=D(2025, 1, 3))
        assert applied.plan.verified
        wh.run("prod", end=D(2025, 1, 6))  # the scheduler loads three more days into prod's version
        assert len(days(wh)) == 5
        promoted = wh.promote(plan.plan_id)
        # Before: prod served the plan's 3 rows, and the trigger compared them with apply's baseline (3 -> 3)
        assert promoted.action == "promoted", promoted.messages
        assert days(wh) == ["2025-01-01", "2025-01-02", "2025-01-02", "2025-01-03", "2025-01-05"]
        [count] = [c for c in promoted.plan.post_checks if c.name == "row count staging.events"]
        assert count.detail.startswith("5 -> 5 rows") and count.outcome == "pass"
        assert promoted.plan.promoted_from_rows == {"staging.events": 5}
        steps = [(e.step, e.phase) for e in Journal(wh.store, plan.plan_id).entries()]
        assert ("catch_up", "end") in steps and steps.index(("catch_up", "end")) < steps.index(("promote", "start"))


def test_a_plan_whose_versions_are_as_far_as_the_target_promotes_without_catching_up(
    make_project: ProjectFactory,
) -> None:
    root = make_project()
    write_files(root, incremental(batch_days=1))
    with make_project.open() as wh:
        wh.build("prod", end=D(2025, 1, 6))
    write_files(root, DOUBLED)
    with make_project.open() as wh:
        plan = wh.plan("prod")
        wh.apply(plan.plan_id)
        assert wh.promote(plan.plan_id).action == "promoted"
        steps = {e.step for e in Journal(wh.store, plan.plan_id).entries()}
        assert "catch_up" not in steps
        assert len(days(wh)) == 5


TOTALS = {  # a table reading the incremental model, with its own trigger
    "models/marts/totals.sql": "select count(*) as n from staging.events",
    "models/marts/totals.yml": "models:\n  - name: totals\n    materialized: table\n"
    "    rollback_when: {row_count_drop_pct: 1}\n",
}


def applied_then_run(make_project: ProjectFactory, extra: dict[str, str] | None = None) -> str:
    """Prod built to 01-03, a change applied there, then prod's `run` to 01-06: the plan's id."""
    root = make_project()
    write_files(root, {**incremental(batch_days=1), "models/staging/events.yml": STRICT, **(extra or {})})
    with make_project.open() as wh:
        wh.build("prod", end=D(2025, 1, 3))
    write_files(root, DOUBLED)
    with make_project.open() as wh:
        plan = wh.plan("prod")
        assert wh.apply(plan.plan_id, end=D(2025, 1, 3)).plan.verified
        wh.run("prod", end=D(2025, 1, 6))
    return plan.plan_id


def test_a_table_reading_a_caught_up_model_is_refreshed_before_the_swap(make_project: ProjectFactory) -> None:
    """Before: totals kept apply's 3 and its trigger, against prod's 5 just before the swap, rolled back."""
    pid = applied_then_run(make_project, {**TOTALS, "models/marts/totals.sql": "select order_id, amount from "
                                          "staging.events"})  # fmt: skip
    with make_project.open() as wh:
        promoted = wh.promote(pid)
        assert promoted.action == "promoted", promoted.messages
        counts = {c.name: c.detail for c in promoted.post_checks if c.name.startswith("row count")}
        assert counts["row count marts.totals"].startswith("5 -> 5 rows"), counts


def test_resume_after_a_failed_catch_up_promotes_instead_of_applying_again(
    make_project: ProjectFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: resume re-applied without an end, verified against the moved target (3 -> 5) and failed."""
    pid = applied_then_run(make_project)
    real = Builder.run

    def killed(self: Builder, *args: object, **kwargs: object) -> object:
        raise RuntimeError("killed while catching up")

    monkeypatch.setattr(Builder, "run", killed)
    with make_project.open() as wh, pytest.raises(RuntimeError, match="killed while catching up"):
        wh.promote(pid)
    monkeypatch.setattr(Builder, "run", real)
    with make_project.open() as wh:
        entries = [(e.step, e.phase, e.outcome) for e in Journal(wh.store, pid).entries()]
        assert entries[-1] == ("catch_up", "end", "error")
        assert wh.store.environment_models("prod")["events"].version_id != wh.get_plan(pid).promoted_state.get(
            "events")  # the swap never started  # fmt: skip
        resumed = wh.resume(pid)
        assert resumed.action == "promoted", resumed.messages
        assert len(days(wh)) == 5
        after = [e.step for e in Journal(wh.store, pid).entries()][len(entries) :]
        assert "verify" not in after and "promote" in after  # promoted, not applied and verified again
