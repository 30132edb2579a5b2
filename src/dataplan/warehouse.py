"""The library entry point: a project connected to its warehouse.

Everything the CLI does goes through these methods, which return objects
(results) and print nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from dataplan.backends import Backend, connect
from dataplan.backends.files import FileLoad, files_schema, staged_name
from dataplan.backends.files import deferred as deferred_loads
from dataplan.backends.files import refresh as refresh_files
from dataplan.build import environments
from dataplan.build.builder import Builder, BuildResult, Progress, RunResult
from dataplan.build.naming import PROD, check_environment_name, view_schema
from dataplan.config import CONFIG_FILE
from dataplan.dashboard.report import render_dashboard
from dataplan.errors import InputError, ProjectError, StateError
from dataplan.plan.builder import PlanBuilder, slugify
from dataplan.plan.document import render_markdown
from dataplan.plan.model import Plan
from dataplan.project import Project
from dataplan.rollout.executor import Rollout, RolloutResult
from dataplan.rollout.janitor import JanitorResult, parse_ttl, run_janitor
from dataplan.rollout.journal import Entry, Journal, figures
from dataplan.rollout.locks import Locks
from dataplan.rollout.promotion import promotion_target, was_promoted
from dataplan.secrets import redact
from dataplan.state.plans import PlanRecords
from dataplan.state.store import StateStore
from dataplan.verify.model import DiffResult
from dataplan.verify.reports import html_report
from dataplan.verify.testing import TestRun, TestRunner


@dataclass
class ModelStatus:
    model: str
    fqn: str
    materialized: str
    version_id: str | None
    view: str | None
    state: str  # up to date | changed | not built | removed from project


@dataclass
class EnvironmentStatus:
    environment: str
    exists: bool
    models: list[ModelStatus]

    @property
    def pending(self) -> list[ModelStatus]:
        return [m for m in self.models if m.state != "up to date"]


class Warehouse:
    """A loaded project and an open connection to its warehouse.

    >>> with Warehouse.open("path/to/project") as wh:          # doctest: +SKIP
    ...     result = wh.build("prod")
    ...     tests = wh.test("prod")
    """

    def __init__(self, project: Project, backend: Backend) -> None:
        self.project = project
        self.backend = backend
        backend.files_schema = files_schema(project.config.state_schema)
        config = project.dir / CONFIG_FILE
        self.store = StateStore(backend, project.config.state_schema, project.config.name, config=config)
        self.builder = Builder(project, backend, self.store)

    @classmethod
    def open(cls, project: Project | str | Path = ".", *, create: bool = True) -> Warehouse:
        """Open the project's warehouse. Without ``create``, a DuckDB file that does not exist yet is bad
        input instead of a new empty database: the read-only commands never leave a file behind a typo."""
        if not isinstance(project, Project):
            project = Project.load(project)
        return cls(project, connect(project.config.connection, project.dir, create=create))

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def build(
        self,
        environment: str = PROD,
        select: str | None = None,
        *,
        dry_run: bool = False,
        end: dt.date | None = None,
        progress: Progress | None = None,
        allow_breaking: bool = False,
    ) -> BuildResult:
        """Build ``environment``. Into prod, a change that breaks an enforced contract is refused unless
        ``allow_breaking`` (``build.breaking``): such changes go through a plan."""
        self.check_exposure_columns(environment, PROD)
        if dry_run:  # runs no DDL: the file sources to load are listed, not loaded
            with deferred_loads(self.backend):
                loaded = self.refresh_files(select=select)
                result = self.builder.build(environment, select, dry_run=True, end=end, allow_breaking=allow_breaking)
            result.loaded = loaded
            return result
        # Bad input fails before the state store exists: nothing is created for a typo.
        check_environment_name(environment)
        self.project.graph.select(select)
        trips = self.backend.round_trips
        if not self.store.is_initialized():  # later builds check under the lock, before building a version
            self.builder.check_views_free(environment, select)
        loaded = self.refresh_files(progress, select)
        self.store.ensure()
        with self._locked(environment, "build"):
            result = self.builder.build(
                environment, select, end=end, progress=progress, allow_breaking=allow_breaking
            )
        result.round_trips = self.backend.round_trips - trips  # the state check and the lock included
        result.loaded = loaded
        return result

    def refresh_files(self, progress: Progress | None = None, select: str | None = None) -> list[FileLoad]:
        """On engines that cannot read files (Postgres): load the file sources whose files changed.

        A copy of the files in ``_dataplan_files``; it changes no environment (``backends.files``).
        ``progress`` hears how many rows of each load are in. A source with no files is an error only
        when a model of ``select`` reads it, and then before anything is written.
        """
        self.store.check_owner()  # before loading into the file schema another project's state may own
        graph = self.project.graph
        needed = {s for name in graph.select(select) for s in self.project.models[name].sources}
        return refresh_files(self.backend, list(self.project.sources.values()), progress, needed)

    def check_exposure_columns(self, *environments: str) -> None:
        """Refuse an exposure column that neither the project's model nor its version in ``environments`` has.

        Such a column is a misspelling in exposures.yml (it would fail only later, in the engine, blaming
        the change). One the environment's version has is a column the project removes: the plan reports
        that as a breaking change feeding the exposure.
        """
        missing = [(e, m) for e in self.project.exposures for m in e.spec.missing_columns]
        if not missing:
            return
        had: dict[str, set[str]] = {}
        if self.store.is_initialized():
            ids = {p.version_id for env in environments for p in self.store.environment_models(env).values()}
            for version in self.store.versions(version_ids=sorted(ids)) if ids else []:
                had.setdefault(version.model, set()).update(c.lower() for c, _ in version.columns)
        for exposure, m in missing:
            if m.column.lower() not in had.get(m.model, set()):
                raise ProjectError(
                    f"exposure {exposure.name} reads column {m.column}, which {m.fqn} does not have",
                    path=exposure.path,
                    line=m.line,
                    hint=f"{m.fqn} has {', '.join(m.outputs)}; fix the column name in exposures.yml",
                )

    @contextmanager
    def _locked(self, environment: str, what: str) -> Iterator[None]:
        """The environment's rollout lock: a build, run or drop never interleaves with a promotion."""
        with Locks(self.store).held(environment, f"{what} {environment}"):
            yield

    def run(
        self,
        environment: str = PROD,
        select: str | None = None,
        *,
        end: dt.date | None = None,
        progress: Progress | None = None,
    ) -> RunResult:
        check_environment_name(environment)
        self.store.require_initialized()
        loaded: list[FileLoad] = []

        def load() -> None:  # once the environment and the selection are found: bad input loads nothing
            loaded.extend(self.refresh_files(progress, select))

        with self._locked(environment, "run"):
            result = self.builder.run(environment, select, end=end, progress=progress, prepare=load)
        result.loaded = loaded
        return result

    def test(self, environment: str = PROD, select: str | None = None, progress: Progress | None = None) -> TestRun:
        check_environment_name(environment)
        names = self.project.graph.select(select)
        self.store.require_initialized()
        env = self.store.environment_models(environment)
        if not env:
            raise StateError(
                f"environment {environment} does not exist",
                hint=f"run `dataplan build --env {environment}` first",
            )
        loaded = self.refresh_files(progress, select)
        result = TestRunner(self.project, self.backend, env).run(environment, names, select is None, progress)
        result.loaded = loaded
        return result

    def status(self, environment: str = PROD) -> EnvironmentStatus:
        check_environment_name(environment)
        env = self.store.environment_models(environment) if self.store.is_initialized() else {}
        found = self.builder.writer.resolve(self.project.graph.order)
        out = []
        for name in self.project.graph.order:
            model = self.project.models[name]
            want = found[name].version_id if name in found else None
            entry = env.get(name)
            schema = view_schema(self.project.config, model.layer, environment)
            current = entry is not None and entry.version_id == want and entry.view_schema == schema
            state = "not built" if entry is None else ("up to date" if current else "changed")
            out.append(
                ModelStatus(
                    name,
                    model.fqn,
                    model.materialized,
                    entry.version_id if entry else None,
                    f"{entry.view_schema}.{entry.model}" if entry else None,
                    state,
                )
            )
        gone = {n: e for n, e in sorted(env.items()) if n not in self.project.models}
        versions = {v.version_id: v for v in self.store.versions(version_ids=[e.version_id for e in gone.values()])}
        for name, entry in gone.items():
            version = versions.get(entry.version_id)
            out.append(
                ModelStatus(
                    name,
                    f"{version.layer}.{name}" if version else name,
                    version.materialized if version else "?",
                    entry.version_id,
                    f"{entry.view_schema}.{name}",
                    "removed from project",
                )
            )
        return EnvironmentStatus(environment, bool(env), out)

    def environments(self) -> list[dict[str, object]]:
        return self.store.environments() if self.store.is_initialized() else []

    def drop_environment(self, environment: str) -> list[str]:
        check_environment_name(environment)
        names = {e["name"] for e in self.environments()}
        if environment not in names:
            raise StateError(
                f"environment {environment} does not exist", hint="`dataplan env list` shows the environments"
            )
        with self._locked(environment, "env drop"):
            return environments.drop(self.backend, self.store, environment)

    def dashboard(self, environment: str = PROD, output: Path | None = None) -> tuple[Path, int]:
        """Render the project's dashboard exposures for ``environment`` into one offline HTML file."""
        check_environment_name(environment)
        self.store.require_initialized()
        env = self.store.environment_models(environment)
        if not env:
            raise StateError(
                f"environment {environment} does not exist", hint=f"run `dataplan build --env {environment}` first"
            )
        html, charts = render_dashboard(self.project, self.backend, environment, env)
        path = output or self.project.dir / "reports" / f"dashboard-{environment}.html"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(redact(html), encoding="utf-8")
        return path, charts

    # -- plans -------------------------------------------------------------------
    @property
    def plan_records(self) -> PlanRecords:
        return PlanRecords(self.store)

    def plan(
        self,
        environment: str = PROD,
        *,
        objective: str | None = None,
        title: str | None = None,
        select: str | None = None,
        allow_breaking: bool = False,
        end: dt.date | None = None,
        save: bool = True,
    ) -> Plan:
        """Build a plan against ``environment``; with ``save``, record it and write its document.

        Building runs no DDL: the only writes are the plan's row in the state store and, on engines that
        cannot read files, the load of file sources whose files changed (``refresh_files``).
        """
        self.check_exposure_columns(environment)
        # Files are loaded once the environment and the selection are found: bad input loads nothing.
        plan = PlanBuilder(self.project, self.backend, self.store).build(
            environment,
            objective=objective,
            title=title,
            select=select,
            allow_breaking=allow_breaking,
            end=end,
            prepare=lambda: self.refresh_files(select=select),
        )
        if save and not plan.is_empty:
            plan.document = str(self.document_path(plan).relative_to(self.project.dir))
            self.plan_records.save(plan)
            self.write_document(plan)
        return plan

    def document_path(self, plan: Plan) -> Path:
        return self.project.dir / "plans" / f"{plan.created_at:%Y-%m-%d}-{slugify(plan.title)}-{plan.plan_id[-6:]}.md"

    def write_document(self, plan: Plan) -> Path:
        path = self.project.dir / plan.document if plan.document else self.document_path(plan)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(redact(render_markdown(plan)), encoding="utf-8")
        return path

    def get_plan(self, plan_id: str) -> Plan:
        return self.plan_records.get(plan_id)

    def plans(self, environment: str | None = None) -> list[dict[str, object]]:
        return self.plan_records.list(environment)

    def abandon_plan(self, plan_id: str) -> Plan:
        plan = self.get_plan(plan_id)
        if plan.status in ("COMPLETE", "ROLLED BACK", "ABANDONED"):
            raise StateError(f"plan {plan_id} is {plan.status}; only DRAFT or IN PROGRESS plans can be abandoned")
        if was_promoted(plan):
            # An abandoned plan's rollback versions are the janitor's to drop: the target would be stranded.
            raise StateError(
                f"plan {plan_id} was promoted to {promotion_target(plan)}: abandoning it would let the janitor "
                "drop the versions its rollback restores",
                hint=f"roll it back first: `dataplan rollback {plan_id}` (which also retires it)",
            )
        return self.rollout.abandon(plan)  # also drops its plan environment, as a never-promoted rollback does

    # -- rollout -----------------------------------------------------------------
    @property
    def rollout(self) -> Rollout:
        return Rollout(self.project, self.backend, self.store, self._write_plan_files)

    def _write_plan_files(self, plan: Plan) -> None:
        self.write_document(plan)
        self.write_log(plan)

    def apply(
        self, plan_id: str, *, progress: Progress | None = None, end: dt.date | None = None, break_lock: bool = False
    ) -> RolloutResult:
        """Build the plan's changes in ``plan_<id>``, capture the baseline, verify; exit code 1 on a failure."""
        self.store.require_initialized()
        return self._with_reports(self.rollout.apply(plan_id, progress=progress, end=end, break_lock=break_lock))

    def _with_reports(self, result: RolloutResult) -> RolloutResult:
        """``result`` with the HTML report of each verified model written and linked from the plan document.

        Every path that verifies a plan (apply, and resume finishing an apply) goes through here.
        """
        if result.verification is not None and result.verification.diffs:
            paths = [self.write_diff_report(fqn, d, result.plan) for fqn, d in result.verification.diffs.items()]
            result.plan = result.plan.model_copy(
                update={"reports": [str(p.relative_to(self.project.dir)) for p in paths]}
            )
            self.plan_records.save(result.plan)
            self.write_document(result.plan)  # now with links to the reports
        return result

    def write_diff_report(self, fqn: str, diff: DiffResult, plan: Plan) -> Path:
        """The verification of one model as an offline HTML page under reports/."""
        path = self.project.dir / "reports" / f"plan-{plan.plan_id}-{fqn.replace('.', '-')}.html"
        path.parent.mkdir(parents=True, exist_ok=True)
        title = f"{fqn}: {plan.environment} vs {plan.plan_environment} (plan {plan.plan_id})"
        path.write_text(html_report(diff, title=title), encoding="utf-8")
        return path

    def promote(
        self,
        plan_id: str,
        *,
        to: str | None = None,
        force: bool = False,
        reason: str | None = None,
        break_lock: bool = False,
    ) -> RolloutResult:
        self.store.require_initialized()
        return self.rollout.promote(plan_id, to=to, force=force, reason=reason, break_lock=break_lock)

    def rollback(self, plan_id: str, *, break_lock: bool = False) -> RolloutResult:
        self.store.require_initialized()
        return self.rollout.rollback(plan_id, break_lock=break_lock)

    def resume(self, plan_id: str, *, progress: Progress | None = None) -> RolloutResult:
        """Finish an interrupted apply, promotion or rollback from the journal.

        A DRAFT plan with no journal was never applied: there is nothing to resume, and running a whole
        apply under that name would surprise. (An IN PROGRESS plan without a journal entry is an apply
        interrupted before its first step: resuming applies it.)
        """
        self.store.require_initialized()
        plan = self.get_plan(plan_id)
        if plan.status == "DRAFT" and not Journal(self.store, plan_id).entries():
            raise StateError(
                f"plan {plan_id} was never applied: nothing to resume",
                hint=f"run `dataplan apply {plan_id}`",
            )
        return self._with_reports(self.rollout.resume(plan_id, progress=progress))

    def log(self, plan_id: str) -> list[Entry]:
        self.get_plan(plan_id)  # a clear error for an unknown plan
        return Journal(self.store, plan_id).entries()

    def write_log(self, plan: Plan) -> Path | None:
        if not plan.document:
            return None
        path = (self.project.dir / plan.document).with_suffix(".log.md")
        entries = Journal(self.store, plan.plan_id).entries()
        lines = [
            f"# Journal of plan {plan.plan_id}",
            "",
            "| # | time (UTC) | step | phase | outcome | figures |",
            "|---|---|---|---|---|---|",
        ]
        for e in entries:
            shown = figures(e.detail).replace("|", "\\|")  # model maps as "N models": the JSON log has them whole
            lines.append(f"| {e.seq} | {e.at:%Y-%m-%d %H:%M:%S} | {e.step} | {e.phase} | {e.outcome} | {shown} |")
        path.write_text(redact("\n".join(lines) + "\n"), encoding="utf-8")
        return path

    def janitor(self, ttl: str = "7d", *, dry_run: bool = False) -> JanitorResult:
        limit = self.backend.max_identifier_length
        schema = self.backend.files_schema
        declared = {".".join(staged_name(s, limit, schema)) for s in self.project.sources.values() if s.is_files}
        return run_janitor(self.backend, self.store, parse_ttl(ttl), dry_run, declared)

    def version_id(self, text: str) -> str:
        """A version id as the user gave it: whole, or the 12-character fingerprint status and run show."""
        self.store.require_initialized()
        if self.store.versions(version_ids=[text]):
            return text
        ids = sorted({v.version_id for v in self.store.versions() if text and v.version_id.endswith(f"__{text}")})
        if len(ids) == 1:
            return ids[0]
        if ids:
            raise InputError(f"{text!r} names several versions: {', '.join(ids)}", hint="give the whole version id")
        raise InputError(f"no version {text!r}", hint="`dataplan status` shows the fingerprints of the versions in use")

    def pin(self, version_id: str, reason: str) -> None:
        """Keep a version from the janitor (a baseline someone relies on)."""
        self.store.pin(self.version_id(version_id), reason)

    def unpin(self, version_id: str, reason: str | None = None, *, every: bool = False) -> int:
        """Remove the pin of ``version_id`` with ``reason``; without one, the only pin, or ``every`` pin.

        Several people may pin one version: removing them all unasked would let the janitor drop a
        baseline someone else still relies on.
        """
        version_id = self.version_id(version_id)
        reasons = self.store.pin_reasons(version_id)
        if not reasons:
            raise InputError(f"version {version_id!r} is not pinned")
        if reason is not None and reason not in reasons:
            raise InputError(
                f"version {version_id!r} has no pin with reason {reason!r}",
                hint="its pins: " + "; ".join(repr(r) for r in reasons),
            )
        if reason is None and len(reasons) > 1 and not every:
            raise InputError(
                f"version {version_id!r} has {len(reasons)} pins: " + "; ".join(repr(r) for r in reasons),
                hint="pass --reason to remove one of them, or --all to remove every pin",
            )
        return self.store.unpin(version_id, None if every else reason)
