"""The janitor: drops versions nothing references, after a time to live.

A version is kept when an environment points at it, when a plan that can
still be rolled back (or promoted) names it, when it is pinned, or when a
kept version reads it (a parent of a kept version). The janitor refuses to
run while any environment is locked by a live process, so it never races a
promotion.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import deque
from dataclasses import dataclass, field

from sqlglot import exp

from dataplan.backends.base import Backend, column, table
from dataplan.errors import InputError, StateError
from dataplan.rollout.locks import Locks
from dataplan.rollout.promotion import was_promoted
from dataplan.state.plans import PlanRecords
from dataplan.state.store import StateStore, Version, now

LIVE_PLAN_STATUSES = ("DRAFT", "IN PROGRESS", "COMPLETE")


def parse_ttl(text: str) -> dt.timedelta:
    m = re.fullmatch(r"\s*(\d+)\s*([smhdw])\s*", text)
    if not m:
        raise InputError(f"--ttl {text!r} is not a duration", hint="use a number and a unit: 30m, 12h, 7d, 2w")
    n, unit = int(m.group(1)), m.group(2)
    return dt.timedelta(**{{"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[unit]: n})


@dataclass
class JanitorResult:
    dry_run: bool
    ttl: dt.timedelta
    dropped: list[str] = field(default_factory=list)  # version ids (physical tables/views)
    kept: dict[str, str] = field(default_factory=dict)  # version id -> why


def referenced(store: StateStore, versions: list[Version], cutoff: dt.datetime, ttl: dt.timedelta) -> dict[str, str]:
    """Version id -> the reason it must stay."""
    keep: dict[str, str] = {}
    rows = store.backend.fetch_rows(
        exp.select(column("environment"), column("version_id")).from_(store.t("environment_models"))
    )
    for env, vid in rows:
        keep.setdefault(vid, f"environment {env}")
    records = PlanRecords(store)
    for row in records.list():
        if row["status"] == "ROLLED BACK":
            continue
        plan = records.get(str(row["plan_id"]))
        live = plan.status in LIVE_PLAN_STATUSES
        # A promoted plan can be rolled back until it is, whatever its status says (an ABANDONED one too).
        if not live and not was_promoted(plan):
            continue
        for vid in plan.rollback.restores.values():
            if vid:
                keep.setdefault(vid, f"rollback of plan {plan.plan_id}")
        for change in plan.changes:
            if change.new_version and live and plan.status != "COMPLETE":
                keep.setdefault(change.new_version, f"plan {plan.plan_id}")
    for (vid,) in store.backend.fetch_rows(exp.select(column("version_id")).from_(store.t("pins"))):
        keep.setdefault(vid, "pinned")
    # A version's newest row decides its age: a plan binds a new fingerprint to it by adding a row.
    created: dict[str, dt.datetime] = {}
    for v in versions:
        if v.created_at is not None and v.created_at > created.get(v.version_id, dt.datetime.min):
            created[v.version_id] = v.created_at
    for vid, at in created.items():
        if at > cutoff:
            keep.setdefault(vid, f"younger than the TTL ({ttl})")
    # A kept version reads its parents' versions: keep those too (transitively), young ones' included.
    by_fp: dict[str, str] = {v.fingerprint: v.version_id for v in versions}
    by_id: dict[str, list[Version]] = {}
    for v in versions:
        by_id.setdefault(v.version_id, []).append(v)
    stack = list(keep)
    while stack:
        vid = stack.pop()
        for v in by_id.get(vid, []):
            for parent, fp in v.parents.items():
                pid = by_fp.get(fp)
                if pid and pid not in keep:
                    keep[pid] = f"read by {vid} ({parent})"
                    stack.append(pid)
    return keep


def children_first(dropped: list[str], versions: list[Version]) -> list[str]:
    """``dropped`` ordered so that no version is dropped before a version that reads it.

    Postgres refuses to drop a relation a view still reads (no CASCADE here, on purpose: a cascade
    could reach a view dataplan does not own).
    """
    by_fp = {v.fingerprint: v.version_id for v in versions}
    gone = set(dropped)
    readers: dict[str, set[str]] = {vid: set() for vid in dropped}
    for v in versions:
        for fp in v.parents.values():
            parent = by_fp.get(fp)
            if v.version_id in gone and parent in gone and parent != v.version_id:
                readers[parent].add(v.version_id)
    # Kahn's order on the reversed edges, iterative: a chain of thousands of versions must not recurse.
    waiting = {vid: len(readers[vid]) for vid in dropped}
    parents: dict[str, set[str]] = {vid: set() for vid in dropped}
    for parent, rs in readers.items():
        for reader in rs:
            parents[reader].add(parent)
    ready = deque(vid for vid in dropped if waiting[vid] == 0)
    ordered: list[str] = []
    while ready:
        vid = ready.popleft()
        ordered.append(vid)
        for parent in sorted(parents[vid]):
            waiting[parent] -= 1
            if waiting[parent] == 0:
                ready.append(parent)
    placed = set(ordered)
    return ordered + [vid for vid in dropped if vid not in placed]  # a cycle (never built): as listed


def run_janitor(backend: Backend, store: StateStore, ttl: dt.timedelta, dry_run: bool) -> JanitorResult:
    store.require_initialized()
    # The same liveness test as Locks.acquire: a lock left by a crashed process must not block forever.
    locked = Locks(store).live()
    if locked:
        raise StateError(
            f"environment {locked[0].environment} is locked by {locked[0].holder}; "
            "the janitor does not run during a rollout",
            hint="run it again when the rollout has finished",
        )
    result = JanitorResult(dry_run, ttl)
    with backend.transaction():
        if not dry_run:
            # References are read and versions dropped under one lock of the tables that record them, which
            # readers wait for too: a build that starts meanwhile waits instead of choosing to reuse a
            # version being dropped. Environments first, as a build's view swap takes them.
            backend.lock_table(store.t("environment_models"), readers=True)
            backend.lock_table(store.t("versions"), readers=True)
        versions = store.versions()
        keep = referenced(store, versions, now() - ttl, ttl)
        for vid in dict.fromkeys(v.version_id for v in versions):
            if vid in keep:
                result.kept[vid] = keep[vid]
            else:
                result.dropped.append(vid)
        result.dropped = children_first(result.dropped, versions)
        if dry_run or not result.dropped:
            return result
        kinds = {v.version_id: ("VIEW" if v.materialized == "view" else "TABLE") for v in versions}
        for vid in result.dropped:
            backend.drop(table(store.schema, vid), kinds[vid])
        ids = [exp.Literal.string(v) for v in result.dropped]
        backend.delete(store.t("versions"), column("version_id").isin(*ids))
        backend.delete(store.t("intervals"), column("version_id").isin(*ids))
    return result
