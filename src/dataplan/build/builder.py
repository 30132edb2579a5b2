"""``build`` and ``run``: versions for the project, environments pointing at them."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from dataplan.backends.base import Backend
from dataplan.build import environments
from dataplan.build.naming import check_environment_name
from dataplan.build.versions import VersionWriter
from dataplan.errors import StateError
from dataplan.project import Project
from dataplan.state.store import StateStore, Version

Progress = Callable[[str, int, int], None]  # what is being done, steps done, steps total


def default_end() -> dt.date:
    """Incremental models process whole days up to and including today (UTC)."""
    return dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)


@dataclass
class ModelAction:
    model: str
    fqn: str
    materialized: str
    version_id: str
    version: Literal["create", "reuse"]
    view: Literal["point", "unchanged", "none"]
    reason: str
    seconds: float = 0.0
    batches: int = 0


@dataclass
class BuildResult:
    environment: str
    actions: list[ModelAction] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    dry_run: bool = False
    seconds: float = 0.0
    round_trips: int = 0

    @property
    def created(self) -> list[ModelAction]:
        return [a for a in self.actions if a.version == "create"]

    @property
    def repointed(self) -> list[ModelAction]:
        return [a for a in self.actions if a.view == "point"]

    @property
    def nothing_to_do(self) -> bool:
        return not self.created and not self.repointed and not self.removed


class Builder:
    def __init__(self, project: Project, backend: Backend, store: StateStore) -> None:
        self.project = project
        self.backend = backend
        self.store = store
        self.writer = VersionWriter(project, backend, store)

    def plan_build(self, environment: str, select: str | None) -> BuildResult:
        """What ``build`` would do; reads state, writes nothing."""
        check_environment_name(environment)
        graph, fps = self.project.graph, self.project.fingerprints
        selected = graph.select(select)
        needed = set(selected)
        for name in selected:
            needed |= graph.upstream(name)
        ordered = graph.sorted(needed)
        initialized = self.store.is_initialized()
        found = self.writer.resolve(ordered)
        vids = {
            n: found[n].version_id if n in found else self.writer.version_id(graph.models[n], fps[n]) for n in ordered
        }
        current = self.store.environment_models(environment) if initialized else {}
        result = BuildResult(environment)
        chosen = set(selected)
        for name in ordered:
            model, vid = graph.models[name], vids[name]
            create = name not in found
            if not create and name in chosen:
                # Contracts do not change data, so a reused version is checked against
                # the columns recorded when it was built.
                self.writer.check_recorded_contract(model, found[name])
            had = current.get(name)
            if name in chosen:
                view = "unchanged" if had and had.version_id == vid else "point"
                reason = ("new model" if had is None else "changed") if view == "point" else "up to date"
            else:
                if not create:
                    continue
                view, reason = "none", "needed by a selected model"
            if create and view == "point" and had is not None:
                reason = "changed (new fingerprint)"
            elif not create and view == "point":
                reason = "reuses an existing version"
            result.actions.append(
                ModelAction(
                    name,
                    model.fqn,
                    model.materialized,
                    vid,
                    "create" if create else "reuse",
                    view,  # type: ignore[arg-type]
                    reason,
                )
            )
        if select is None:
            result.removed = sorted(n for n in current if n not in graph.models)
        return result

    def build(
        self,
        environment: str = "prod",
        select: str | None = None,
        *,
        dry_run: bool = False,
        end: dt.date | None = None,
        progress: Progress | None = None,
        complete_intervals: bool = False,
    ) -> BuildResult:
        """Create missing versions and point ``environment`` at them.

        ``complete_intervals`` also fills the missing batches of reused incremental
        versions: what lets an interrupted backfill resume where it stopped.
        """
        started, trips = time.perf_counter(), self.backend.round_trips
        if not dry_run:
            self.store.ensure()
        result = self.plan_build(environment, select)
        result.dry_run = dry_run
        if not dry_run and not result.nothing_to_do:
            self._execute(result, end or default_end(), progress)
        if not dry_run and complete_intervals:
            self._complete_intervals(result, end or default_end(), progress)
        result.seconds = time.perf_counter() - started
        result.round_trips = self.backend.round_trips - trips
        return result

    def _complete_intervals(self, result: BuildResult, end: dt.date, progress: Progress | None) -> None:
        reused = [
            a.version_id for a in result.actions if a.version == "reuse" and a.materialized == "incremental_by_time"
        ]
        for version in self.store.versions(version_ids=reused):
            if version.materialized == "incremental_by_time":
                self.writer.fill_intervals(version, end, self._batch_hook(progress, 0, 1))

    @staticmethod
    def _batch_hook(progress: Progress | None, done: int, total: int) -> Callable[[str, int, int], None] | None:
        if progress is None:
            return None
        return lambda model, batch, batches: progress(f"building {model} batch {batch}/{batches}", done, total)

    def _execute(self, result: BuildResult, end: dt.date, progress: Progress | None) -> None:
        models, fps = self.project.models, self.project.fingerprints
        todo = result.created
        for i, action in enumerate(todo):
            if progress:
                progress(f"building {action.fqn}", i, len(todo))
            t0 = time.perf_counter()
            hook = self._batch_hook(progress, i, len(todo))
            built = self.writer.create(models[action.model], fps[action.model], end, hook)
            action.seconds, action.batches = time.perf_counter() - t0, built.batches
        if progress:
            progress("pointing views", len(todo), len(todo))
        current = self.store.environment_models(result.environment)
        pointers = [
            environments.Pointer(a.model, self.project.config.schema_for(models[a.model].layer), a.version_id)
            for a in result.actions
            if a.view == "point"
        ]
        removed = [current[n] for n in result.removed]
        environments.point(self.backend, self.store, result.environment, pointers, removed)

    # -- run -------------------------------------------------------------------
    def run(
        self,
        environment: str = "prod",
        select: str | None = None,
        *,
        end: dt.date | None = None,
        progress: Progress | None = None,
    ) -> RunResult:
        """Refresh the data of the environment's current versions, as a scheduler would."""
        started, trips = time.perf_counter(), self.backend.round_trips
        check_environment_name(environment)
        self.store.require_initialized()
        current = self.store.environment_models(environment)
        if not current:
            raise StateError(
                f"environment {environment} does not exist",
                hint=f"run `dataplan build --env {environment}` first",
            )
        graph = self.project.graph
        names = [n for n in graph.select(select) if n in current]
        names += sorted(n for n in current if n not in graph.models and select is None)
        versions = {v.version_id: v for v in self.store.versions(version_ids=[current[n].version_id for n in names])}
        order = [versions[current[n].version_id] for n in names if current[n].version_id in versions]
        result = RunResult(environment)
        end = end or default_end()
        for i, version in enumerate(order):
            if progress:
                progress(f"refreshing {version.layer}.{version.model}", i, len(order))
            result.refreshed.append(self._refresh(version, end))
        result.seconds = time.perf_counter() - started
        result.round_trips = self.backend.round_trips - trips
        return result

    def _refresh(self, version: Version, end: dt.date) -> RunAction:
        t0 = time.perf_counter()
        if version.materialized == "table" and not version.config.get("seed"):
            self.writer.refresh_table(version)
            what = "recomputed"
        elif version.materialized == "incremental_by_time":
            n = self.writer.fill_intervals(version, end, lookback=True)
            what = f"{n} new batch(es)" if n else "no new intervals"
        else:
            what = "nothing to do (view)"
        return RunAction(version.model, version.layer, version.version_id, what, time.perf_counter() - t0)


@dataclass
class RunAction:
    model: str
    layer: str
    version_id: str
    action: str
    seconds: float


@dataclass
class RunResult:
    environment: str
    refreshed: list[RunAction] = field(default_factory=list)
    seconds: float = 0.0
    round_trips: int = 0
