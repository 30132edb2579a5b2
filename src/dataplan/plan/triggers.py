"""The rollback triggers of a plan: which post-promotion figure rolls it back, in words.

One rule decides both what the plan document promises and what the post-promotion checks
(``dataplan.rollout.postcheck``) enforce: a model's own ``rollback_when`` replaces the project's
default, which replaces ``DEFAULT_TRIGGERS``. Only the models the plan rebuilds are checked after
promotion, so only theirs are listed.
"""

from __future__ import annotations

from dataplan.config import RollbackTriggers
from dataplan.plan.model import ExposureImpact, ModelChange
from dataplan.project import Project

DEFAULT_TRIGGERS = RollbackTriggers(row_count_drop_pct=5.0, test_failures=1)


def triggers_for(project: Project, model: str) -> RollbackTriggers:
    """The triggers the post-promotion checks apply to ``model`` (its name, not its fqn)."""
    spec = project.models[model].spec.rollback_when if model in project.models else None
    return spec or project.config.defaults.rollback_when or DEFAULT_TRIGGERS


def describe(project: Project, changes: list[ModelChange], impacts: list[ExposureImpact]) -> list[str]:
    """The triggers of a plan with these changes, as the document lists them."""
    rebuilt = [c for c in changes if c.rebuild and c.change != "removed" and c.model in project.models]
    out = []
    for change in rebuilt:
        trig = triggers_for(project, change.model)
        # Row counts and metrics are compared with the baseline: a model new to the target has none.
        if change.old_version is not None and trig.row_count_drop_pct is not None:
            out.append(f"{change.fqn}: row count drops by more than {trig.row_count_drop_pct}%")
        drift = trig.metric_drift
        if change.old_version is not None and drift:
            out.append(
                f"{change.fqn}: sum of {drift.get('column')} moves by more than {drift.get('max_pct', 0)}% "
                "from the baseline"
            )
    if rebuilt:
        out.append(f"{change_names(rebuilt)}: the view cannot be queried")
        limit = min(triggers_for(project, c.model).test_failures or 1 for c in rebuilt)
        out.append(f"{limit} or more failing tests of {change_names(rebuilt)}")
    fqns = {c.fqn for c in rebuilt}
    out += [f"exposure {i.exposure}: its query fails or returns no rows" for i in impacts if fqns & set(i.models)]
    return out


def change_names(changes: list[ModelChange]) -> str:
    return ", ".join(c.fqn for c in changes)
