"""Environments: views that point at versions, swapped as one transaction."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlglot import exp

from dataplan.backends.base import Backend, Relation, select_star, table
from dataplan.build.naming import PROD, environment_schema
from dataplan.errors import InputError, StateError
from dataplan.project import Project
from dataplan.project.nodes import Model
from dataplan.rollout.faults import fault_point
from dataplan.state.store import EnvironmentModel, StateStore


@dataclass(frozen=True)
class Pointer:
    model: str
    schema: str  # the layer's prod schema
    version_id: str


def view_of(schema: str, environment: str, model: str) -> tuple[str, str]:
    return environment_schema(schema, environment), model


def taken(backend: Backend, views: list[tuple[str, str]], current: Mapping[str, EnvironmentModel]) -> list[Relation]:
    """The tables and views someone else made at the view names ``(schema, name)`` an environment will write.

    ``current`` is the environment's state: the views it holds are dataplan's (under any spelling the
    engine takes for the same name, as DuckDB does for case), and are never someone else's. One catalog
    query, only when a name is new to the environment.
    """
    held = {backend.name_key(e.view_schema, e.model) for e in current.values()}
    keys = sorted({backend.name_key(s, n) for s, n in views} - held)
    if not keys:
        return []
    existing = {backend.name_key(r.schema, r.name): r for r in backend.named_relations()}
    return [existing[k] for k in keys if k in existing]


def someone_elses(relations: list[Relation]) -> str:
    """``marts.x (a view) is not dataplan's``, for one or many."""
    names = ", ".join(f"{r.schema}.{r.name} ({'an' if r.kind[0] in 'aeiou' else 'a'} {r.kind})" for r in relations)
    return f"{names} {'is' if len(relations) == 1 else 'are'} not dataplan's"


def check_free(
    backend: Backend, environment: str, views: list[tuple[str, str]], current: Mapping[str, EnvironmentModel]
) -> None:
    """Refuse, before any change, view names ``(schema, name)`` an object of someone else already has.

    A table there would stop the swap in the engine; a view there is someone's own (a hand-made view, a
    dbt model), and replacing it would lose it.
    """
    found = taken(backend, views, current)
    if found:
        one = len(found) == 1
        raise StateError(
            f"{environment} was not changed: {someone_elses(found)}, and the project's "
            f"view{'' if one else 's'} of the same name would replace {'it' if one else 'them'}",
            hint=f"rename or drop {'it' if one else 'them'} yourself, or give the layer another schema under "
            "`layers:` in dataplan.yml",
        )


def point(
    backend: Backend,
    store: StateStore,
    environment: str,
    pointers: list[Pointer],
    removed: list[EnvironmentModel],
    current: dict[str, EnvironmentModel] | None = None,
) -> None:
    """Re-point ``environment``'s views; all of it in one transaction where the engine can.

    ``current`` is the environment's entries when the caller has just read them (else read here): a
    view moving to another schema leaves its old one.
    """
    if current is None:
        current = store.environment_models(environment)
    new = [(environment_schema(p.schema, environment), p.model) for p in pointers]
    check_free(backend, environment, new, current)
    # An old name the engine takes for a new one (DuckDB: Marts.Big for marts.big) is the new view: kept.
    kept = {backend.name_key(s, m) for s, m in new}
    for schema in sorted({s for s, _ in new}):  # schemas first: Postgres cannot mix them into the swap
        backend.create_schema(schema)
    with backend.transaction():
        # The janitor locks the environments before it reads references and drops versions: taking the
        # same lock first orders a swap and a janitor run (no deadlock), and a version dropped meanwhile
        # is refused here, by name, instead of failing inside the swap.
        backend.lock_table(store.t("environment_models"))
        wanted = sorted({p.version_id for p in pointers})
        recorded = {v.version_id for v in store.versions(version_ids=wanted)} if wanted else set()
        gone = [p for p in pointers if p.version_id not in recorded]
        if gone:
            names = ", ".join(f"{p.model} ({p.version_id})" for p in gone)
            raise StateError(
                f"{environment} was not changed: the versions of {names} no longer exist",
                hint="the janitor dropped them meanwhile; build again and they are rebuilt",
            )
        for i, p in enumerate(pointers):
            view_schema = environment_schema(p.schema, environment)
            backend.replace_view(table(view_schema, p.model), select_star(table(store.schema, p.version_id)))
            old = current.get(p.model)
            moved = old is not None and old.view_schema != view_schema  # to another layer or schema
            if old is not None and moved and backend.name_key(old.view_schema, old.model) not in kept:
                backend.drop(table(old.view_schema, old.model), "VIEW")
            if i == 0:
                fault_point("swap:midway")
        for old in removed:
            if backend.name_key(old.view_schema, old.model) not in kept:
                backend.drop(table(old.view_schema, old.model), "VIEW")
        store.set_environment_models(
            environment,
            [
                EnvironmentModel(environment, p.model, environment_schema(p.schema, environment), p.version_id)
                for p in pointers
            ],
            [r.model for r in removed],
        )


def drop(backend: Backend, store: StateStore, environment: str) -> list[str]:
    """Drop an environment's views (never its versions: the janitor owns those)."""
    current = store.environment_models(environment)
    with backend.transaction():
        for entry in current.values():
            backend.drop(table(entry.view_schema, entry.model), "VIEW")
        store.drop_environment(environment)
    if environment != PROD:
        remaining = {r.schema for r in backend.relations()}
        for schema in sorted({e.view_schema for e in current.values()} - remaining):
            backend.drop_schema(schema)
    return sorted(f"{e.view_schema}.{e.model}" for e in current.values())


def model_view(project: Project, store: StateStore, name: str, environment: str) -> tuple[Model, exp.Table]:
    """The view through which ``environment`` serves the model ``name`` (``name`` or ``layer.name``)."""
    selected = project.graph.select(name)  # an unknown name gets "did you mean"
    if len(selected) != 1:
        raise InputError(f"{name!r} selects {len(selected)} models; name one model", hint="e.g. marts.orders")
    model = project.models[selected[0]]
    entry = store.environment_models(environment).get(model.name) if store.is_initialized() else None
    if entry is None:
        raise StateError(
            f"model {model.fqn} is not built in {environment}",
            hint=f"`dataplan build --env {environment}` builds it; `dataplan env list` lists the environments",
        )
    return model, table(entry.view_schema, entry.model)
