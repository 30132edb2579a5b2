"""``build`` and ``run``: versions for the project, environments pointing at them."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from dataplan.backends.base import Backend
from dataplan.backends.files import FileLoad
from dataplan.build import environments
from dataplan.build.breaking import contract_breaks, refuse_breaks
from dataplan.build.naming import (
    PROD,
    check_environment_name,
    check_environment_schemas,
    check_identifier,
    view_schema,
)
from dataplan.build.versions import VersionWriter
from dataplan.errors import EngineError, InputError, StateError
from dataplan.project import Project
from dataplan.project.nodes import Model
from dataplan.state.store import EnvironmentModel, StateStore, Version

Progress = Callable[[str, int, int], None]  # what is being done, steps done, steps total


def model_failed(fqn: str, path: Path | None, exc: EngineError, doing: str = "build") -> EngineError:
    """The engine's error, naming the model whose SQL it ran (a division by zero, a failed cast)."""
    return EngineError(
        f"model {fqn} failed to {doing}: {exc.message}",
        path=path,
        transient=exc.transient,
        overflow=exc.overflow,
        hint=exc.hint or (None if exc.transient else "the engine refused this model's data; fix its SQL or its input"),
    )


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
    # Incremental versions whose first backfill stopped early -> the day it must reach.
    unfinished: dict[str, dt.date] = field(default_factory=dict)
    dry_run: bool = False
    seconds: float = 0.0
    round_trips: int = 0
    loaded: list[FileLoad] = field(default_factory=list)  # file sources loaded first (engines without files)

    @property
    def created(self) -> list[ModelAction]:
        return [a for a in self.actions if a.version == "create"]

    @property
    def repointed(self) -> list[ModelAction]:
        return [a for a in self.actions if a.view == "point"]

    @property
    def nothing_to_do(self) -> bool:
        return not self.created and not self.repointed and not self.removed and not self.unfinished


class Builder:
    def __init__(self, project: Project, backend: Backend, store: StateStore) -> None:
        self.project = project
        self.backend = backend
        self.store = store
        self.writer = VersionWriter(project, backend, store)

    def plan_build(self, environment: str, select: str | None, *, allow_breaking: bool = True) -> BuildResult:
        """What ``build`` would do; reads state, writes nothing. Without ``allow_breaking``, a build of prod
        that breaks an enforced contract is refused (``breaking``)."""
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
        incremental = [v for v in found.values() if v.materialized == "incremental_by_time"]
        unfinished = self.writer.unfinished(incremental) if incremental else {}
        result = BuildResult(environment, unfinished=unfinished)
        chosen = set(selected)
        self._check_names(
            environment, [graph.models[n] for n in selected], [graph.models[n] for n in ordered if n not in found]
        )
        for name in ordered:
            model, vid = graph.models[name], vids[name]
            create = name not in found
            if not create and name in chosen:
                # Contracts do not change data, so a reused version is checked against
                # the columns recorded when it was built.
                self.writer.check_recorded_contract(model, found[name])
            had = current.get(name)
            schema = view_schema(self.project.config, model.layer, environment)
            moved = had is not None and had.version_id == vid and had.view_schema != schema
            if name in chosen:
                view = "unchanged" if had and had.version_id == vid and not moved else "point"
                reason = ("new model" if had is None else "changed") if view == "point" else "up to date"
                if moved:
                    reason = f"view moves to schema {schema}"
            else:
                if not create and vid not in unfinished:
                    continue
                view, reason = "none", "needed by a selected model"
            if create and view == "point" and had is not None:
                reason = "changed (new fingerprint)"
            elif not create and view == "point" and not moved:
                reason = "reuses an existing version"
            if not create and vid in unfinished:
                reason = f"finishes its first backfill, to {unfinished[vid]}"
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
        if environment == PROD and not allow_breaking:
            repointed = [a.model for a in result.actions if a.view == "point"]
            refuse_breaks(environment, contract_breaks(self.project, self.store, current, repointed, result.removed))
        # A name taken by someone else's table or view stops the build before any version is built.
        config = self.project.config
        pointed = [graph.models[a.model] for a in result.actions if a.view == "point"]
        targets = [(view_schema(config, m.layer, environment), m.name) for m in pointed]
        environments.check_free(self.backend, environment, targets, current)
        return result

    def check_views_free(self, environment: str, select: str | None) -> None:
        """Before an environment's first build: refuse view names someone else's object has (``check_free``)."""
        models = [self.project.graph.models[n] for n in self.project.graph.select(select)]
        views = [(view_schema(self.project.config, m.layer, environment), m.name) for m in models]
        environments.check_free(self.backend, environment, views, {})

    def _check_names(self, environment: str, viewed: list[Model], created: list[Model]) -> None:
        """Refuse, before any change, names the engine would cut: cut names collide silently."""
        limit = self.backend.max_identifier_length
        check_environment_schemas(self.project.config, {m.layer for m in viewed}, environment, limit)
        hint = "rename the model's file to a shorter name"
        for model in viewed:
            check_identifier(model.name, limit, f"model {model.fqn}'s view name", path=model.path, hint=hint)
        for model in created:  # their SQL is parsed to be built anyway
            if model.query is not None:
                for name in model.query.named_selects:
                    check_identifier(
                        name, limit, f"model {model.fqn}'s column", path=model.path, hint="use a shorter alias"
                    )

    def build(
        self,
        environment: str = "prod",
        select: str | None = None,
        *,
        dry_run: bool = False,
        end: dt.date | None = None,
        progress: Progress | None = None,
        ends: dict[str, dt.date] | None = None,
        allow_breaking: bool = True,
    ) -> BuildResult:
        """Create missing versions, finish first backfills that stopped early (a failed or killed build, an
        interrupted apply), and point ``environment`` at them. ``ends`` gives some models their own end
        (a plan fills a new incremental version as far as the one it replaces got)."""
        started, trips = time.perf_counter(), self.backend.round_trips
        if not dry_run:
            self.store.ensure()
        result = self.plan_build(environment, select, allow_breaking=allow_breaking)
        result.dry_run = dry_run
        if not dry_run and not result.nothing_to_do:
            self._execute(result, end or default_end(), progress, ends or {})
        result.seconds = time.perf_counter() - started
        result.round_trips = self.backend.round_trips - trips
        return result

    def live(self, version: Version) -> Version:
        """``version`` with the project's batch settings for its model: ``batch_days`` and ``lookback_days``
        say how to process, not what the data is, so they are not in the fingerprint and an edit applies to
        the versions already built (an older version a kept child still reads, too)."""
        model = self.project.graph.models.get(version.model)
        if model is None or version.materialized != "incremental_by_time" or model.materialized != version.materialized:
            return version
        config = {
            **version.config,
            "batch_days": model.spec.batch_days or self.project.config.defaults.batch_days,
            "lookback_days": model.spec.lookback_days,
        }
        return replace(version, config=config)

    @staticmethod
    def _batch_hook(progress: Progress | None, done: int, total: int) -> Callable[[str, int, int], None] | None:
        if progress is None:
            return None
        return lambda model, batch, batches: progress(f"building {model} batch {batch}/{batches}", done, total)

    def _execute(self, result: BuildResult, end: dt.date, progress: Progress | None, ends: dict[str, dt.date]) -> None:
        models, fps = self.project.models, self.project.fingerprints
        # Only a first backfill that stopped early is finished here, and only to where it was meant to end:
        # later days are run's, after it refreshes the parents (a build filling them read stale parents).
        fill = (
            {v.version_id: self.live(v) for v in self.store.versions(version_ids=sorted(result.unfinished))}
            if result.unfinished
            else {}
        )
        # In graph order, so a child is created from parents whose batches are complete.
        todo = [a for a in result.actions if a.version == "create" or a.version_id in fill]
        created: list[Version] = []
        for i, action in enumerate(todo):
            if progress:
                progress(f"building {action.fqn}", i, len(todo))
            t0 = time.perf_counter()
            hook = self._batch_hook(progress, i, len(todo))
            model = models[action.model]
            try:
                if action.version == "create":
                    built = self.writer.create(model, fps[action.model], ends.get(action.model, end), hook)
                    action.batches = built.batches
                    if built.created:
                        created.append(built.version)
                else:
                    bound = result.unfinished[action.version_id]
                    action.batches = self.writer.fill_intervals(fill[action.version_id], bound, hook).batches
            except InputError:
                # The project's own error (a broken contract, a column the engine cannot find): exit 2 means
                # nothing changed, so the versions built before it go too.
                if created:
                    try:
                        self.writer.discard(created)
                    except EngineError:  # the user's error matters more: the versions stay, unreferenced,
                        pass  # for the next build to reuse or the janitor to drop
                raise
            except EngineError as exc:
                raise model_failed(model.fqn, model.path, exc) from exc
            action.seconds = time.perf_counter() - t0
        if not result.repointed and not result.removed:
            return
        if progress:
            progress("pointing views", len(todo), len(todo))
        current = self.store.environment_models(result.environment)
        pointers = [
            environments.Pointer(a.model, self.project.config.schema_for(models[a.model].layer), a.version_id)
            for a in result.actions
            if a.view == "point"
        ]
        removed = [current[n] for n in result.removed]
        environments.point(self.backend, self.store, result.environment, pointers, removed, current)

    # -- run -------------------------------------------------------------------
    def check_run(self, environment: str, select: str | None) -> tuple[dict[str, EnvironmentModel], list[str]]:
        """Refuse a run of an environment or a selection that is not there: the environment's models and the
        selected names, before anything is changed."""
        check_environment_name(environment)
        self.store.require_initialized()
        current = self.store.environment_models(environment)
        if not current:
            raise StateError(
                f"environment {environment} does not exist",
                hint=f"run `dataplan build --env {environment}` first",
            )
        selected = self.project.graph.select(select)
        unbuilt = [n for n in selected if n not in current]
        if select is not None and unbuilt:
            raise StateError(
                f"{', '.join(unbuilt)} {'is' if len(unbuilt) == 1 else 'are'} not built in {environment}",
                hint=f"run `dataplan build --env {environment} --select {select}` first",
            )
        return current, selected

    def run(
        self,
        environment: str = "prod",
        select: str | None = None,
        *,
        end: dt.date | None = None,
        progress: Progress | None = None,
        prepare: Callable[[], object] | None = None,
    ) -> RunResult:
        """Refresh the data of the environment's current versions, as a scheduler would; ``prepare`` is
        called once the environment and the selection are found (bad input changes nothing)."""
        started, trips = time.perf_counter(), self.backend.round_trips
        current, selected = self.check_run(environment, select)
        if prepare is not None:
            prepare()
        graph = self.project.graph
        names = [n for n in selected if n in current]
        names += sorted(n for n in current if n not in graph.models and select is None)
        order = self._with_parents([current[n].version_id for n in names])
        pointed = {current[n].version_id for n in names}
        result = RunResult(environment)
        end = end or default_end()
        for i, version in enumerate(order):
            if progress:
                progress(f"refreshing {version.layer}.{version.model}", i, len(order))
            try:
                action = self._refresh(self.live(version), end)
            except EngineError as exc:
                model = graph.models.get(version.model)
                fqn = f"{version.layer}.{version.model}"
                raise model_failed(fqn, model.path if model else None, exc, "refresh") from exc
            if version.version_id not in pointed:  # say why a model no view of the environment shows is here
                action.action += f" (read by a model of {environment}; no view points at this version)"
            result.refreshed.append(action)
        result.seconds = time.perf_counter() - started
        result.round_trips = self.backend.round_trips - trips
        return result

    def _with_parents(self, version_ids: list[str]) -> list[Version]:
        """The versions and, transitively, the parent versions they read (by the fingerprints recorded when
        they were built), parents first. A parent built only for a selected child has no view of its own, but
        the child's data is only as fresh as it."""
        found: dict[str, Version] = {v.version_id: v for v in self.store.versions(version_ids=version_ids)}
        frontier = list(found.values())
        while frontier:
            wanted = {fp for v in frontier for fp in v.parents.values()} - {v.fingerprint for v in found.values()}
            frontier = [v for v in self.store.versions(fingerprints=sorted(wanted)) if v.version_id not in found]
            found.update({v.version_id: v for v in frontier})
        by_fp = {v.fingerprint: v for v in found.values()}
        ordered: list[Version] = []
        seen: set[str] = set()

        def visit(v: Version) -> None:
            if v.version_id in seen:
                return
            seen.add(v.version_id)
            for fp in v.parents.values():
                if fp in by_fp:
                    visit(by_fp[fp])
            ordered.append(v)

        for vid in version_ids:
            if vid in found:
                visit(found[vid])
        return ordered

    def _refresh(self, version: Version, end: dt.date) -> RunAction:
        t0 = time.perf_counter()
        if version.materialized == "table" and not version.config.get("seed"):
            self.writer.refresh_table(version)
            what = "recomputed"
        elif version.materialized == "incremental_by_time":
            filled = self.writer.fill_intervals(version, end, lookback=True)
            what = filled.summary()
        elif version.config.get("seed"):
            what = "nothing to do (seed: a build loads its file)"  # a changed file is a new fingerprint
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
    loaded: list[FileLoad] = field(default_factory=list)  # file sources loaded first (engines without files)
