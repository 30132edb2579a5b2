"""Which views a promotion or a rollback re-points, and the swap itself.

A rollback re-points a view only while it still reads what the plan's
promotion left there: a later build or plan that replaced it is never
clobbered, the rollback refuses instead and names the view.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dataplan.backends.base import Backend
from dataplan.build import environments
from dataplan.build.naming import environment_schema
from dataplan.errors import StateError
from dataplan.plan.model import Plan
from dataplan.project import Project
from dataplan.rollout.journal import Journal
from dataplan.rollout.promotion import after_state
from dataplan.state.store import EnvironmentModel, StateStore


@dataclass
class Swap:
    pointers: list[environments.Pointer] = field(default_factory=list)
    removed: list[EnvironmentModel] = field(default_factory=list)


def promotion_swap(project: Project, store: StateStore, plan: Plan, target: str) -> Swap:
    """The plan environment's versions of the changed models; refuses a plan environment that lacks one."""
    plan_env = store.environment_models(plan.plan_environment)
    changed = {c.model for c in plan.changes if c.change != "removed"}
    gone = {c.model for c in plan.changes if c.change == "removed"}
    missing = changed - set(plan_env)
    if missing:
        raise StateError(
            f"plan environment {plan.plan_environment} lacks {', '.join(sorted(missing))}",
            hint=f"build it again with `dataplan apply {plan.plan_id}`, then promote",
        )
    pointers = [
        environments.Pointer(n, project.config.schema_for(project.models[n].layer), e.version_id)
        for n, e in plan_env.items()
        if n in changed
    ]
    return Swap(pointers, [e for n, e in store.environment_models(target).items() if n in gone])


def rollback_swap(project: Project, store: StateStore, plan: Plan, target: str) -> Swap:
    """Back to the versions the target had before the plan; refuses if a later change replaced one."""
    current = store.environment_models(target)
    expected = after_state(plan)
    restores = plan.rollback.restores
    versions = {v.version_id: v for v in store.versions(version_ids=[v for v in restores.values() if v])}
    swap, replaced = Swap(), []
    for model, vid in restores.items():
        entry = current.get(model)
        live = entry.version_id if entry is not None else None
        schema = None
        if vid is not None:
            # Where the view was: in the schema of the layer its version was built in (a plan that only moved
            # the model to another layer kept the version and moved the view).
            schema = project.config.schema_for(versions[vid].layer if vid in versions else project.models[model].layer)
            if entry is not None and live == vid and entry.view_schema == environment_schema(schema, target):
                continue  # already restored (a rollback run again after a crash)
        elif live is None:
            continue  # already restored: the view the plan added is gone
        if live != expected[model]:
            replaced.append(f"{target}'s {model} now reads {_named(live)}, not {_named(expected[model])} as promoted")
        elif vid is None:
            assert entry is not None
            swap.removed.append(entry)
        else:
            assert schema is not None
            swap.pointers.append(environments.Pointer(model, schema, vid))
    if replaced:
        raise StateError(
            f"cannot roll back plan {plan.plan_id}: {'; '.join(replaced)}. A later change replaced what the plan "
            "promoted, and re-pointing would undo it",
            hint="roll back (or re-plan) the later change first; nothing was changed",
        )
    return swap


def _named(version: str | None) -> str:
    return version or "no view"


def swap(backend: Backend, store: StateStore, target: str, change: Swap, journal: Journal) -> None:
    """Re-point the target: one transaction where the engine can, else view by view, journaled.

    Without transactional DDL a crash can leave some views swapped; the journal names them and
    ``resume`` re-runs the swap (re-pointing a view that already points right changes nothing).
    """
    if backend.atomic_swap:
        environments.point(backend, store, target, change.pointers, change.removed)
        return
    for pointer in change.pointers:
        journal.record("swap_view", "start", model=pointer.model, version=pointer.version_id)
        environments.point(backend, store, target, [pointer], [])
        journal.record("swap_view", "end", "ok", model=pointer.model)
    for entry in change.removed:
        journal.record("swap_view", "start", model=entry.model, version=None)
        environments.point(backend, store, target, [], [entry])
        journal.record("swap_view", "end", "ok", model=entry.model)
