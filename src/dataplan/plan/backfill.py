"""Backfill strategy per model, chosen by rule from category and materialization."""

from __future__ import annotations

import datetime as dt

from dataplan.build.intervals import Interval, as_datetime, batches
from dataplan.plan.model import Backfill, ModelChange
from dataplan.project import Project


def choose(
    change: ModelChange,
    project: Project,
    old_intervals: list[Interval],
    end: dt.date,
) -> Backfill:
    model = project.models.get(change.model)
    if change.change == "removed":
        return Backfill(model=change.fqn, strategy="none", reason="model removed: nothing to compute")
    assert model is not None
    if not change.rebuild:
        return Backfill(
            model=change.fqn,
            strategy="none",
            reason="keeps its current version: no data is recomputed"
            if change.category != "metadata"
            else "metadata only: data unchanged",
        )
    if model.materialized == "view":
        return Backfill(model=change.fqn, strategy="none", reason="a view computes on read: building it is enough")
    if model.materialized == "table":
        return Backfill(
            model=change.fqn,
            strategy="full refresh",
            reason=f"{change.category} change to a table: rebuilt in full in the plan environment",
        )
    spec = model.spec
    assert spec.start is not None
    batch_days = spec.batch_days or project.config.defaults.batch_days
    got = max((e for _, e in old_intervals), default=None)  # where the old version's processed history ends
    if got is not None and as_datetime(spec.start) < got:
        # A new version is filled from its own start (which the change may have moved), to where the old one got.
        start, stop = as_datetime(spec.start), got
        reason = (
            "the processed history is rebuilt in the plan environment, in batches of "
            f"{batch_days} days; later intervals are caught up by `dataplan run`"
        )
    elif got is not None:  # the start moved past it: nothing of the old history is kept
        start, stop = as_datetime(spec.start), as_datetime(end)
        reason = (
            f"its start moved past the old version's history (which ends {got.date().isoformat()}): filled from "
            f"the new start in batches of {batch_days} days, as a new model"
        )
    else:
        start, stop = as_datetime(spec.start), as_datetime(end)
        reason = f"new incremental model: filled from its start in batches of {batch_days} days"
    ranges = [(s.date().isoformat(), e.date().isoformat()) for s, e in batches([(start, stop)], batch_days)]
    if not ranges:  # a start at or after the plan's end: nothing to fill yet
        return Backfill(
            model=change.fqn,
            strategy="none",
            reason=f"its start ({spec.start}) is not before the plan's end ({end}): nothing to fill until then; "
            "`dataplan run` fills the days as they come",
        )
    merged = [(ranges[0][0], ranges[-1][1])]
    return Backfill(
        model=change.fqn,
        strategy="date-range backfill",
        reason=reason + f" ({len(ranges)} batches)",
        ranges=merged,
    )


def catch_up(name: str, project: Project, done: list[Interval], end: dt.date) -> Backfill | None:
    """An incremental model the plan keeps, but whose intervals lag behind ``end``."""
    model = project.models[name]
    if model.materialized != "incremental_by_time" or not done:
        return None
    last = max(e for _, e in done)
    if last >= as_datetime(end):
        return None
    return Backfill(
        model=model.fqn,
        strategy="incremental catch-up",
        reason="no rebuild; the next `dataplan run` processes the new intervals",
        ranges=[(last.date().isoformat(), end.isoformat())],
    )
