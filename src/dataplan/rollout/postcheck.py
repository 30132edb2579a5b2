"""Post-promotion checks and the rollback triggers they fire.

Triggers come from ``rollback_when`` in dataplan.yml defaults and per model:
``row_count_drop_pct``, ``test_failures`` and ``metric_drift: {column, max_pct}``.
Exposure queries that return no rows always trigger a rollback, and so does
any check whose query the engine rejects (reported with the engine's words).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from sqlglot import exp

from dataplan.backends.base import Backend, column, projection, table
from dataplan.config import RollbackTriggers
from dataplan.errors import EngineError
from dataplan.plan.model import Plan, PostCheck
from dataplan.plan.triggers import DEFAULT_TRIGGERS
from dataplan.plan.triggers import triggers_for as _triggers
from dataplan.project import Project
from dataplan.state.store import EnvironmentModel, StateStore
from dataplan.verify.testing import TestRunner

__all__ = ["DEFAULT_TRIGGERS", "PostCheckResult", "post_promotion_checks", "rows_before_swap"]


@dataclass
class PostCheckResult:
    name: str
    outcome: str  # pass | fail
    detail: str
    triggers_rollback: bool = False

    def recorded(self) -> PostCheck:
        """The result as the plan keeps it (and its document shows it)."""
        outcome: Literal["pass", "fail"] = "pass" if self.outcome == "pass" else "fail"
        return PostCheck(name=self.name, outcome=outcome, detail=self.detail, triggers_rollback=self.triggers_rollback)


def _metric_drift(
    backend: Backend, trig: RollbackTriggers, base: dict[str, object], fqn: str, view: exp.Table
) -> PostCheckResult | None:
    """The column's sum against the baseline's mean x rows; None without a trigger or a baseline."""
    drift, before = trig.metric_drift, base.get("row_count")
    if not drift or not isinstance(base.get("columns"), dict) or not isinstance(before, int):
        return None
    name, limit = str(drift.get("column")), float(drift.get("max_pct", 0))
    columns: dict[str, dict[str, object]] = base["columns"]  # type: ignore[assignment]
    col_base = columns.get(name)
    # a column the plan removes is in the baseline as a record of what it drops, not a metric to follow
    if not col_base or col_base.get("removed") or col_base.get("mean") is None:
        return None
    old_sum = float(str(col_base["mean"])) * before
    try:
        new_sum = float(backend.fetch_value(exp.select(exp.func("sum", column(name))).from_(view)) or 0)
    except EngineError as exc:  # e.g. the column is no longer numeric: the metric cannot be trusted
        return PostCheckResult(f"metric {fqn}.{name}", "fail", exc.message[:200], True)
    pct = abs(new_sum - old_sum) / abs(old_sum) * 100 if old_sum else 0.0
    fired = pct > limit
    return PostCheckResult(
        f"metric {fqn}.{name}",
        "fail" if fired else "pass",
        f"sum {old_sum:,.2f} -> {new_sum:,.2f} ({pct:.2f}%; rollback above {limit}%)",
        fired,
    )


def _tests(
    project: Project, backend: Backend, env: dict[str, EnvironmentModel], target: str, models: list[str]
) -> PostCheckResult:
    try:
        run = TestRunner(project, backend, env).run(target, models, False)
    except EngineError as exc:  # a test that cannot run proves nothing: it fires like a failure
        return PostCheckResult("tests", "fail", exc.message[:200], True)
    failed = [r for r in run.results if r.outcome == "fail"]
    limit = min((_triggers(project, m).test_failures or 1) for m in models)
    return PostCheckResult(
        "tests",
        "fail" if failed else "pass",
        f"{len(run.passed)} passed, {len(failed)} failed"
        + (f" ({', '.join(f'{r.node} {r.test}' for r in failed)})" if failed else ""),
        bool(failed) and len(failed) >= limit,
    )


def _row_drop_limit(project: Project, model: str) -> float | None:
    """The model's row-count trigger. A seed holds the rows of its file, so fewer rows are the planned change:
    only a seed's own ``rollback_when`` sets one (the project default would roll back what apply verified)."""
    found = project.models.get(model)
    if found is not None and found.kind == "seed" and found.spec.rollback_when is None:
        return None
    return _triggers(project, model).row_count_drop_pct


def rows_before_swap(
    project: Project, backend: Backend, plan: Plan, current: Mapping[str, EnvironmentModel]
) -> dict[str, int]:
    """The target's (``current``) row count of each model the plan rebuilds that has a row-count trigger,
    read just before the swap, in one query."""
    counted = [
        (c.fqn, table(current[c.model].view_schema, c.model))
        for c in plan.changes
        if c.rebuild and c.model in current and _row_drop_limit(project, c.model) is not None
    ]
    if not counted:
        return {}
    counts = [exp.select(exp.func("count", exp.Star())).from_(view).subquery() for _, view in counted]
    row = backend.fetch_rows(exp.select(*counts))[0]
    return {fqn: int(n or 0) for (fqn, _), n in zip(counted, row, strict=True)}


def post_promotion_checks(
    project: Project, backend: Backend, store: StateStore, plan: Plan, target: str
) -> list[PostCheckResult]:
    env = store.environment_models(target)
    out: list[PostCheckResult] = []
    rebuilt = [c for c in plan.changes if c.rebuild and c.model in env]
    for change in rebuilt:
        trig, view = _triggers(project, change.model), table(env[change.model].view_schema, change.model)
        base = plan.baseline.get(change.fqn, {})
        try:
            rows = int(backend.fetch_value(exp.select(exp.func("count", exp.Star())).from_(view)) or 0)
        except EngineError as exc:
            out.append(PostCheckResult(f"query {change.fqn}", "fail", exc.message[:200], True))
            continue
        # the target just before the swap when promote counted it, else the baseline apply captured
        before = plan.promoted_from_rows.get(change.fqn, base.get("row_count"))
        limit = _row_drop_limit(project, change.model)
        if limit is not None and isinstance(before, int) and before:
            drop = (before - rows) / before * 100
            fired = drop > limit
            out.append(
                PostCheckResult(
                    f"row count {change.fqn}",
                    "fail" if fired else "pass",
                    f"{before:,} -> {rows:,} rows ({-drop:+.2f}%; rollback when it drops more "
                    f"than {limit}%)",
                    fired,
                )
            )
        metric = _metric_drift(backend, trig, base, change.fqn, view)
        if metric is not None:
            out.append(metric)
    if rebuilt:
        out.append(_tests(project, backend, env, target, [c.model for c in rebuilt]))
    for impact in plan.impacts:
        exposure = next((e for e in project.exposures if e.name == impact.exposure), None)
        if exposure is None:
            continue
        for dep in exposure.spec.depends_on:
            model = project.model(dep.model)
            if model.name not in env or model.fqn not in impact.models:
                continue
            q = exp.select(*projection(dep.columns)).from_(table(env[model.name].view_schema, model.name)).limit(5)
            try:
                n = backend.fetch(q).num_rows  # a probe (LIMIT 5): whether rows come back, not how many
                ok, detail = n > 0, "returns rows" if n else "returned no rows"
            except EngineError as exc:
                ok, detail = False, exc.message[:200]
            out.append(
                PostCheckResult(f"exposure {exposure.name} reads {model.fqn}", "pass" if ok else "fail", detail, not ok)
            )
    return out
