"""The janitor: drops versions nothing references, after a time to live.

A version is kept when an environment points at it, when a plan that can
still be rolled back (or promoted) names it, when it is pinned, or when a
kept version reads it (a parent of a kept version). The janitor refuses to
run while any environment is locked by a live process, so it never races a
promotion.

On engines that load file sources (Postgres), it also drops the loaded copy of
a source table (``_dataplan_files.*``) that the project no longer declares and
no version left reads: a removed or renamed source would otherwise keep a copy
of its raw data for ever.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import deque
from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from dataplan.backends.base import Backend, column, table
from dataplan.errors import EngineError, InputError, StateError
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
    # Loaded copies of file sources (``_dataplan_files.<table>``) dropped, and those kept with why.
    dropped_loads: list[str] = field(default_factory=list)
    kept_loads: dict[str, str] = field(default_factory=dict)


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


def loads_read(versions: list[Version], dialect: str, schema: str) -> dict[str, str]:
    """Loaded file tables (``<schema>.<name>``, ``schema`` the files schema) -> a version whose query reads one."""
    out: dict[str, str] = {}
    for v in versions:
        if schema not in v.query_sql:  # the cheap test first: most versions read no file source
            continue
        try:
            tables = list(sqlglot.parse_one(v.query_sql, read=dialect).find_all(exp.Table))
        except ParseError:  # unparseable: keep every loaded table rather than guess
            return {"*": v.version_id}
        for t in tables:
            if t.db == schema:
                out.setdefault(f"{schema}.{t.name}", v.version_id)
    return out


def _janitor_loads(
    backend: Backend, result: JanitorResult, remaining: list[Version], declared: set[str], state_schema: str
) -> None:
    """Drop the loaded file tables no declared source, no remaining version and no other view reads,
    each on its own (a refusal keeps that one and goes on)."""
    schema = backend.files_schema  # this project's: another state schema's copies are never touched
    loaded = sorted(f"{r.schema}.{r.name}" for r in backend.relations() if r.schema == schema)
    read = loads_read(remaining, backend.dialect, schema)
    usage = (
        exp.select("table_name", "view_schema", "view_name")
        .from_("information_schema.view_table_usage")
        .where(column("table_schema").eq(exp.Literal.string(schema)))
    )
    gone = {(state_schema, vid) for vid in result.dropped}  # a dry run's are still there: they do not count
    views = {f"{schema}.{t}": f"{s}.{v}" for t, s, v in backend.fetch_rows(usage) if (s, v) not in gone}
    for name in loaded:
        if name in declared:
            result.kept_loads[name] = "a declared source"
        elif name in read or "*" in read:
            result.kept_loads[name] = f"read by {read.get(name) or read['*']}"
        elif name in views:  # a view of the user's own: Postgres would refuse the drop anyway
            result.kept_loads[name] = f"read by view {views[name]}"
        elif result.dry_run:
            result.dropped_loads.append(name)
        else:
            try:
                with backend.transaction():
                    backend.drop(table(schema, name.split(".", 1)[1]), "TABLE")
            except EngineError as exc:
                if exc.transient:
                    raise
                result.kept_loads[name] = f"the engine refused to drop it: {exc.message.splitlines()[0]}"
                continue
            result.dropped_loads.append(name)


def run_janitor(
    backend: Backend,
    store: StateStore,
    ttl: dt.timedelta,
    dry_run: bool,
    declared_loads: set[str] | None = None,
) -> JanitorResult:
    """Drop what nothing references; ``declared_loads``: the loaded file tables of the project's file
    sources (``_dataplan_files.<name>``), kept always; None leaves every loaded table alone."""
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
        remaining = [v for v in versions if v.version_id in keep]
        if not dry_run and result.dropped:
            kinds = {v.version_id: ("VIEW" if v.materialized == "view" else "TABLE") for v in versions}
            for vid in result.dropped:
                backend.drop(table(store.schema, vid), kinds[vid])
            ids = [exp.Literal.string(v) for v in result.dropped]
            backend.delete(store.t("versions"), column("version_id").isin(*ids))
            backend.delete(store.t("intervals"), column("version_id").isin(*ids))
    if declared_loads is not None and not backend.reads_files:  # after the versions that read them went
        _janitor_loads(backend, result, remaining, declared_loads, store.schema)
    return result
