"""The plan builder: pure, reads the project and the environment's state, runs no DDL."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import secrets
from collections.abc import Callable
from functools import partial

from dataplan.backends.base import Backend
from dataplan.build.builder import default_end
from dataplan.build.environments import check_free
from dataplan.build.naming import check_environment_name, check_environment_schemas, view_schema
from dataplan.build.versions import VersionWriter
from dataplan.errors import StateError
from dataplan.plan import backfill, risk, triggers, validation
from dataplan.plan.changes import ChangeDetector
from dataplan.plan.contracts import ContractDiffer
from dataplan.plan.impacts import exposure_impacts
from dataplan.plan.model import Plan, Rollback, Step
from dataplan.plan.seeds import diff_seed
from dataplan.project import Project
from dataplan.state.store import EnvironmentModel, StateStore


def state_hash(state: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()[:16]


def slugify(text: str, limit: int = 48) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:limit].rstrip("-") or "plan"


def new_plan_id(today: dt.date) -> str:
    return f"{today:%Y%m%d}_{secrets.token_hex(3)}"


class PlanBuilder:
    def __init__(self, project: Project, backend: Backend, store: StateStore) -> None:
        self.project = project
        self.backend = backend
        self.store = store
        self.writer = VersionWriter(project, backend, store)

    def check(self, environment: str, select: str | None) -> tuple[dict[str, EnvironmentModel], set[str]]:
        """Refuse a plan against an environment or a selection that is not there, before anything is
        changed: the environment's models and the selected names."""
        check_environment_name(environment)
        if not self.store.is_initialized():
            raise StateError(
                "this warehouse has no dataplan state yet",
                hint=f"deploy first with `dataplan build --env {environment}`",
            )
        current = self.store.environment_models(environment)
        if not current:
            raise StateError(
                f"environment {environment} does not exist",
                hint=f"deploy first with `dataplan build --env {environment}`",
            )
        return current, set(self.project.graph.select(select))

    def _check_target_views(self, environment: str, current: dict[str, EnvironmentModel], selected: set[str]) -> None:
        """Said at plan time, not at promotion: a view the plan adds to ``environment`` whose name an object
        someone else made already has (``check_free``)."""
        config, models = self.project.config, self.project.graph.models
        views = [(view_schema(config, models[n].layer, environment), n) for n in sorted(selected)]
        check_free(self.backend, environment, views, current)

    def build(
        self,
        environment: str = "prod",
        *,
        objective: str | None = None,
        title: str | None = None,
        select: str | None = None,
        allow_breaking: bool = False,
        end: dt.date | None = None,
        now: dt.datetime | None = None,
        plan_id: str | None = None,
        prepare: Callable[[], object] | None = None,
    ) -> Plan:
        """The plan of the project against ``environment``; ``prepare`` is called once the environment and
        the selection are found (bad input changes nothing)."""
        current, selected = self.check(environment, select)
        self._check_target_views(environment, current, selected)
        if prepare is not None:
            prepare()
        # Microseconds kept: the order of two plans made within a second decides which is on top of which.
        now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
        end = end or default_end()
        graph = self.project.graph
        old = {v.model: v for v in self.store.versions(version_ids=sorted({e.version_id for e in current.values()}))}
        old = {name: v for name, v in old.items() if name in current and current[name].version_id == v.version_id}
        found = self.writer.resolve(graph.order)
        physical = {n: self.writer.version_id(graph.models[n], self.project.fingerprints[n]) for n in graph.order}
        seed_diff = partial(diff_seed, self.backend, self.store.schema)
        changes = ChangeDetector(self.project, old, found, physical, seed_diff).detect(selected)
        self.project.save_analysis()  # columns read and lineage, for the next plan of the same SQL
        self.writer.bound.update(changes.reused)
        unbuilt = {c.model for c in changes.changes if c.rebuild and c.model not in found}
        differ = ContractDiffer(self.project, self.backend, self.writer, unbuilt)
        contracts = differ.diff(changes, old)
        intervals = self.store.intervals(
            [v.version_id for v in old.values() if v.materialized == "incremental_by_time"]
        )
        backfills = [
            backfill.choose(c, self.project, intervals.get(c.old_version or "", []), end) for c in changes.changes
        ]
        backfills += [
            bf
            for name, v in old.items()
            if name not in {c.model for c in changes.changes}
            and (bf := backfill.catch_up(name, self.project, intervals.get(v.version_id, []), end))
        ]
        impacts = exposure_impacts(self.project, changes.changes, contracts)
        risks = risk.assess(changes.changes, contracts, backfills, impacts, allow_breaking, differ.violations)
        checks = validation.checks_for(self.project, changes.changes, contracts, impacts)
        pid = plan_id or new_plan_id(now.date())
        # Said now, not at apply: a plan environment whose schemas the engine would cut cannot be applied.
        layers = {m.layer for m in graph.models.values()}
        check_environment_schemas(self.project.config, layers, f"plan_{pid}", self.backend.max_identifier_length)
        target_state = {name: e.version_id for name, e in sorted(current.items())}
        rebuilt = [c for c in changes.changes if c.rebuild]
        summary = ", ".join(c.fqn for c in changes.changes if c.change != "indirectly modified") or "no model"
        return Plan(
            plan_id=pid,
            title=title or (objective.splitlines()[0][:80] if objective else f"Change {summary}"),
            objective=objective or f"Bring `{environment}` in line with the project: {summary}.",
            created_at=now,
            project=self.project.config.name,
            environment=environment,
            plan_environment=f"plan_{pid}",
            selection=select,
            target_state=target_state,
            target_state_hash=state_hash(target_state),
            allow_breaking=allow_breaking,
            changes=changes.changes,
            contract_changes=contracts,
            backfills=backfills,
            impacts=impacts,
            risks=risks,
            checks=checks,
            rollout=self._rollout(pid, environment, len(rebuilt), len(changes.changes), len(self._plan_env(select))),
            rollback=Rollback(
                command=f"dataplan rollback {pid}",
                restores={c.model: c.old_version for c in changes.changes},
                triggers=triggers.describe(self.project, changes.changes, impacts),
            ),
            blocked=[r.risk for r in risks if r.blocking],
            fingerprints=dict(self.project.fingerprints),
            reuse=dict(changes.reused),
        )

    def _plan_env(self, select: str | None) -> set[str]:
        """The models apply puts in the plan environment: the selection and everything upstream of it."""
        graph = self.project.graph
        selected = set(graph.select(select))
        return selected.union(*(graph.upstream(n) for n in selected))

    def _rollout(self, pid: str, env: str, rebuilt: int, changed: int, total: int) -> list[Step]:
        penv = f"plan_{pid}"
        rows = [
            (
                penv,
                f"build {rebuilt} changed model(s), reuse {total - rebuilt} unchanged version(s)",
                "build succeeds; enforced contracts hold",
                "build",
            ),
            (
                env,
                "capture the baseline (row counts, profiles, distributions)",
                "baseline recorded in the plan",
                "baseline",
            ),
            (penv, "run the validation checks against the baseline", "no blocking check fails", "verify"),
            (penv, "run the tests of the impacted models", "no error-severity test fails", "test"),
            (
                env,
                f"promote: re-point {changed} view(s) in one transaction",
                "views point at the plan's versions",
                "promote",
            ),
            (
                env,
                "post-promotion checks: exposure queries, row counts, tests",
                "all pass, else automatic rollback",
                "post_check",
            ),
        ]
        return [
            Step(n=i + 1, environment=e, action=a, checkpoint=c, kind=k)  # type: ignore[arg-type]
            for i, (e, a, c, k) in enumerate(rows)
        ]
