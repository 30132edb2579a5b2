"""Catching a plan's incremental versions up with the target before the swap.

``apply`` fills a rebuilt incremental model as far as the target's version got then. A ``run`` of the target
afterwards (the scheduler does not wait for promotions) loads later days into the target's version only; a
swap then would serve fewer days than the target does, until the next ``run``. So ``promote`` first fills the
plan's version as far as the target's version got, as ``run`` would (lookback included), before the swap.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from dataplan.build.environments import Pointer
from dataplan.project import Project
from dataplan.rollout.journal import Entry
from dataplan.state.store import EnvironmentModel, StateStore

APPLY_STEPS = ("bind", "build", "verify")


def caught_up_last(entries: list[Entry]) -> Entry | None:
    """The journal's last catch-up entry when it came after the last apply: a promotion was under way."""
    last = next((i for i in range(len(entries) - 1, -1, -1) if entries[i].step == "catch_up"), None)
    if last is None or any(e.step in APPLY_STEPS for e in entries[last + 1 :]):
        return None
    return entries[last]


def lagging(
    project: Project, store: StateStore, pointers: list[Pointer], current: Mapping[str, EnvironmentModel]
) -> dict[str, dt.date]:
    """Each incremental model whose plan version (``pointers``, the swap's) stops before the target's version
    (``current``) -> where the target's version stops (exclusive). One state query for the intervals, only
    when the plan rebuilds such a model."""
    pairs = {
        p.model: (current[p.model].version_id, p.version_id)
        for p in pointers
        if p.model in current
        and current[p.model].version_id != p.version_id
        and p.model in project.models
        and project.models[p.model].materialized == "incremental_by_time"
    }
    if not pairs:
        return {}
    spans = store.intervals(sorted({v for pair in pairs.values() for v in pair}))
    out: dict[str, dt.date] = {}
    for name, (old, new) in pairs.items():
        old_end = max((end for _, end in spans.get(old, [])), default=None)
        new_end = max((end for _, end in spans.get(new, [])), default=None)
        if old_end is not None and (new_end is None or old_end > new_end):
            out[name] = old_end.date()
    return out
