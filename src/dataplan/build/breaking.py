"""Breaking changes to enforced contracts, which a direct build of prod refuses.

An enforced contract is a promise to the model's readers: these columns, these types. ``plan`` blocks a
change that breaks it (a column removed or renamed, the model removed) unless ``--allow-breaking``;
without this check ``dataplan build`` would ship the same change to prod with no plan, no verification and
no recorded rollback. Other environments are sandboxes and take any change.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlglot import exp

from dataplan.errors import InputError
from dataplan.project import Project
from dataplan.project.nodes import Model
from dataplan.state.store import EnvironmentModel, StateStore


def contract_breaks(
    project: Project,
    store: StateStore,
    current: Mapping[str, EnvironmentModel],
    pointed: list[str],
    removed: list[str],
) -> list[str]:
    """How re-pointing ``pointed`` and dropping ``removed`` would break enforced contracts, one line each.

    A re-pointed model's contract is its YAML's; a removed model's is the one its current version was built
    with (its YAML is gone). One state query, only when such a model is among them.
    """
    models = project.models
    enforced = [n for n in pointed if n in current and models[n].spec.contract.enforced]
    candidates = enforced + [n for n in removed if n in current]
    if not candidates:
        return []
    wanted = sorted({current[n].version_id for n in candidates})
    versions = {v.version_id: v for v in store.versions(version_ids=wanted)}
    out: list[str] = []
    for name in enforced:
        old = versions.get(current[name].version_id)
        # Gone from the contract and from the query: a column the query still returns while the YAML dropped
        # it is the contract check's error (returned but not declared), not a removal.
        kept = {c.name.lower() for c in models[name].spec.columns} | _outputs(models[name])
        gone = [c for c, _ in (old.columns if old else []) if c.lower() not in kept]
        if gone:
            out.append(f"{models[name].fqn}: column{'s' if len(gone) > 1 else ''} {', '.join(gone)} removed or renamed")
    for name in removed:
        old = versions.get(current[name].version_id) if name in current else None
        contract = old.spec.get("contract") if old else None
        if old is not None and isinstance(contract, dict) and contract.get("enforced"):
            out.append(f"{old.layer}.{name}: model removed")
    return out


def _outputs(model: Model) -> set[str]:
    """The names the model's SELECT returns, as written (none known through a ``*``)."""
    query = model.query
    if query is None or any(isinstance(e, exp.Star) or e.is_star for e in query.selects):
        return set()
    return {n.lower() for n in query.named_selects}


def refuse_breaks(environment: str, broken: list[str]) -> None:
    if broken:
        raise InputError(
            f"{environment} was not changed: the build would break enforced contracts ({'; '.join(broken)})",
            hint="ship it through a plan (`dataplan plan`, then `apply` and `promote`: verified, with a rollback), "
            "or build it into prod anyway with `dataplan build --allow-breaking`",
        )
