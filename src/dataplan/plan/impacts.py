"""Downstream impacts: the exposures that read an impacted model, and which of their columns change."""

from __future__ import annotations

from dataplan.plan.model import ALL_COLUMNS, ContractChange, ExposureImpact, ModelChange
from dataplan.project import Project


def exposure_impacts(
    project: Project, changes: list[ModelChange], contract_changes: list[ContractChange]
) -> list[ExposureImpact]:
    by_model = {c.model: c for c in changes if c.rebuild or c.change == "removed"}
    by_fqn = {c.fqn: c for c in by_model.values()}
    removed_cols: dict[str, set[str]] = {}
    for cc in contract_changes:
        if cc.change in ("column removed", "column renamed") and cc.before:
            removed_cols.setdefault(cc.model, set()).add(cc.before.split(" ")[0])
    out = []
    for exposure in project.exposures:
        models, columns, breaking = [], set(), False
        for dep in exposure.spec.depends_on:
            change = by_fqn.get(dep.model) or by_model.get(dep.model)
            if change is None:
                continue
            changed = set(change.changed_columns) | removed_cols.get(change.fqn, set())
            reads = set(dep.columns)
            hit = reads & changed if reads and ALL_COLUMNS not in changed else (reads or {ALL_COLUMNS})
            if change.change == "removed":
                hit = reads or {ALL_COLUMNS}
            if not hit and change.category != "breaking":
                continue
            models.append(change.fqn)
            columns |= {f"{change.fqn}.{c}" for c in hit}
            breaking = (
                breaking
                or bool(hit & removed_cols.get(change.fqn, set()))
                or change.change == "removed"
                or (change.category == "breaking" and bool(hit))
            )
        if models:
            out.append(
                ExposureImpact(
                    exposure=exposure.name,
                    type=exposure.spec.type,
                    owner=exposure.spec.owner,
                    models=sorted(models),
                    columns=sorted(columns),
                    breaking=breaking,
                )
            )
    return out
