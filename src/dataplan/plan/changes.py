"""Change detection and categorization: what differs between the project and an environment.

Directly modified models are categorized by comparing their old and new query
ASTs; descendants are rebuilt only when column-level lineage shows they read
a changed column (existing tools rebuild every descendant).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlglot import exp

from dataplan.plan.model import ALL_COLUMNS, ModelChange
from dataplan.plan.querydiff import QueryDiff, cte_changes, ctes, diff_queries
from dataplan.plan.seeds import SeedDiff
from dataplan.project import Project
from dataplan.project.fingerprint import fingerprint_model
from dataplan.project.lineage import STAR
from dataplan.project.nodes import Model
from dataplan.state.store import Version


@dataclass
class ChangeSet:
    changes: list[ModelChange] = field(default_factory=list)
    changed_columns: dict[str, set[str]] = field(default_factory=dict)
    diffs: dict[str, QueryDiff] = field(default_factory=dict)  # directly modified models
    reused: dict[str, str] = field(default_factory=dict)  # model -> physical version kept for the new fp


def _spec(model: Model) -> dict[str, object]:
    return json.loads(json.dumps(model.spec.model_dump(mode="json", exclude_defaults=True), default=str))


_BATCH_SETTINGS = {"batch_days", "lookback_days"}  # see Builder.live
_WITH = re.compile(r"\bwith\b", re.IGNORECASE)  # a query that may have CTEs: only those are parsed


def _data_config(model: Model) -> dict[str, object]:
    spec = model.spec
    if model.materialized != "incremental_by_time":
        return {}
    return {"time_column": spec.time_column, "start": str(spec.start)}


def _window_moved(old: Version, model: Model) -> bool:
    """The rows an incremental model holds are bounded differently: its time column or start changed, or it
    became or stopped being incremental (a table has no start)."""
    if "incremental_by_time" not in (old.materialized, model.materialized):
        return False
    new = _data_config(model)
    return (old.config.get("time_column"), old.config.get("start")) != (new.get("time_column"), new.get("start"))


def _fold(names: set[str]) -> set[str]:
    """Column names compared without case: engines fold unquoted names, and a false match only rebuilds more."""
    return {n.lower() for n in names}


def _cols(names: set[str] | list[str]) -> str:
    return ", ".join(sorted(names)) if names else "none"


class ChangeDetector:
    def __init__(
        self,
        project: Project,
        old: dict[str, Version],
        found: dict[str, Version],
        physical_id: dict[str, str],
        seed_diff: Callable[[Model, Version], SeedDiff | None] | None = None,
    ) -> None:
        self.project = project
        self.seed_diff = seed_diff  # a changed seed's columns, compared by data (None: all columns changed)
        self.old = old  # model -> the environment's version
        self.found = found  # model -> an existing version of the project's fingerprint
        self.physical_id = physical_id  # model -> the version id a rebuild would create

    def detect(self, selected: set[str]) -> ChangeSet:
        out = ChangeSet()
        for name in self.project.graph.order:
            change = self._model(name, out)
            if change is not None and name in selected:
                out.changes.append(change)
            elif change is not None:
                out.changed_columns.pop(name, None)  # not selected: the environment keeps it
        for name in sorted(set(self.old) - set(self.project.models)):
            v = self.old[name]
            out.changes.append(
                ModelChange(
                    model=name,
                    fqn=f"{v.layer}.{name}",
                    file=f"models/{v.layer}/{name}.sql",
                    materialized=v.materialized,
                    change="removed",
                    category="breaking",
                    reason="removed from the project: its view is dropped at promotion; the version is kept",
                    rebuild=False,
                    changed_columns=[ALL_COLUMNS],
                    old_version=v.version_id,
                )
            )
        return out

    def _base(self, model: Model, **kw: object) -> ModelChange:
        old = self.old.get(model.name)
        new = self.found[model.name].version_id if model.name in self.found else self.physical_id[model.name]
        new = str(kw.pop("new_version", new))
        return ModelChange(
            model=model.name,
            fqn=model.fqn,
            file=str(model.path.relative_to(self.project.dir)),
            materialized=model.materialized,
            old_version=old.version_id if old else None,
            new_version=new,
            **kw,  # type: ignore[arg-type]
        )

    def _model(self, name: str, out: ChangeSet) -> ModelChange | None:
        model = self.project.models[name]
        fp = self.project.fingerprints[name]
        old = self.old.get(name)
        if old is None:
            out.changed_columns[name] = {ALL_COLUMNS}
            return self._base(
                model,
                change="added",
                category="non-breaking",
                reason="new model: built from scratch",
                rebuild=True,
                changed_columns=[ALL_COLUMNS],
            )
        if old.fingerprint == fp:
            new_spec = _spec(model)
            if old.spec != new_spec:
                keys = {k for k in set(old.spec) | set(new_spec) if old.spec.get(k) != new_spec.get(k)}
                reason = "description, tests, grain or contract changed; data does not"
                if keys <= _BATCH_SETTINGS:
                    reason = (
                        f"{', '.join(sorted(keys))} changed: how `run` processes batches, not what the data is; "
                        "it applies to the version already built at once, with nothing to promote or roll back"
                    )
                return self._base(
                    model,
                    change="metadata only",
                    category="metadata",
                    reason=reason,
                    rebuild=False,
                    new_version=old.version_id,
                )
            return None
        new_sql = model.normalized
        direct = old.model_sql != new_sql or old.materialized != model.materialized or _window_moved(old, model)
        if model.kind == "seed":
            direct = True
        if self._sources_moved(model, old, direct):
            names = ", ".join(model.sources)
            return self._all_rows(
                model, out, f"reads {names} from another place, format or file layout now: any row may differ"
            )
        return self._direct(model, old, new_sql, out) if direct else self._indirect(model, old, out)

    def _sources_moved(self, model: Model, old: Version, direct: bool) -> bool:
        """A source the model reads was pointed elsewhere, or its files moved into ``dt=`` folders: by the
        identities its version recorded; for a version that recorded none, when its SQL and its parents'
        fingerprints would give its old fingerprint but its sources' identities do not."""
        if not model.sources:
            return False
        recorded = old.config.get("sources")
        if isinstance(recorded, dict):
            # a source it did not read before comes with a SQL change, which the query diff describes
            return any(recorded[s] != self.project.sources[s].identity() for s in model.sources if s in recorded)
        if direct or set(old.parents) != set(model.parents):
            return False  # its SQL changed as well: a version built before sources were recorded cannot tell
        return fingerprint_model(model, old.parents, self.project.sources) != old.fingerprint

    def _direct(self, model: Model, old: Version, new_sql: str, out: ChangeSet) -> ModelChange:
        if model.query is None:  # seed
            return self._seed(model, old, out)
        if _window_moved(old, model):
            before = f"{old.config.get('time_column')} from {old.config.get('start')}"
            after = f"{model.spec.time_column} from {model.spec.start}"
            return self._all_rows(
                model, out, f"incremental window changed ({before} -> {after}): rows are added or removed"
            )
        if old.model_sql == new_sql:
            out.changed_columns[model.name] = set()
            reason = f"materialization changed ({old.materialized} -> {model.materialized}): rebuilt, same data"
            return self._base(model, change="directly modified", category="non-breaking", reason=reason, rebuild=True)
        diff = diff_queries(old.model_sql, model.query, self.project.dialect)
        out.diffs[model.name] = diff
        if diff.only_additions:
            # The added columns are all that changes: a child reading `*` gets them (and is rebuilt),
            # a child naming its columns does not.
            out.changed_columns[model.name] = set(diff.added)
            return self._base(
                model,
                change="directly modified",
                category="non-breaking",
                reason=f"only adds columns ({_cols(diff.added)}); existing columns unchanged",
                rebuild=True,
                changed_columns=diff.added,
            )
        if diff.rows_change:
            changed = {ALL_COLUMNS}
            why = (
                "selects *: columns cannot be compared, treated as all changed"
                if diff.star
                else f"{', '.join(diff.row_clauses)} changed: any row may change"
            )
        else:
            changed = set(diff.removed) | set(diff.modified) | {o for o, _ in diff.renamed}
            parts = [
                f"{label}: {_cols(cols)}"
                for label, cols in (
                    ("removed", diff.removed),
                    ("modified", diff.modified),
                    ("renamed", [f"{a} -> {b}" for a, b in diff.renamed]),
                    ("added", diff.added),
                )
                if cols
            ]
            why = "; ".join(parts)
        out.changed_columns[model.name] = changed
        return self._base(
            model,
            change="directly modified",
            category="breaking",
            reason=why,
            rebuild=True,
            changed_columns=sorted(changed | set(diff.added)),
        )

    def _seed(self, model: Model, old: Version, out: ChangeSet) -> ModelChange:
        """A changed seed file, by the columns whose data changed (``plan.seeds``)."""
        diff = self.seed_diff(model, old) if self.seed_diff else None
        if diff is None:
            return self._all_rows(model, out, "seed file changed")
        if diff.rows_change:
            return self._all_rows(model, out, f"seed file changed: {diff.rows[0]:,} -> {diff.rows[1]:,} rows")
        if diff.reordered or not (diff.removed or diff.modified):
            out.changed_columns[model.name] = set(diff.added)
            reason = "seed file changed, its data did not"
            if diff.added:
                reason = f"seed file only adds columns ({_cols(diff.added)}); existing columns unchanged"
            elif diff.reordered:
                reason = "seed file reorders its rows; the data is the same"
            return self._base(
                model,
                change="directly modified",
                category="non-breaking",
                reason=reason,
                rebuild=True,
                changed_columns=diff.added,
            )
        changed = set(diff.removed) | set(diff.modified)
        labels = (("removed", diff.removed), ("modified", diff.modified), ("added", diff.added))
        out.changed_columns[model.name] = changed
        return self._base(
            model,
            change="directly modified",
            category="breaking",
            reason="seed file changed; " + "; ".join(f"{label}: {_cols(cols)}" for label, cols in labels if cols),
            rebuild=True,
            changed_columns=sorted(changed | set(diff.added)),
        )

    def _all_rows(self, model: Model, out: ChangeSet, reason: str) -> ModelChange:
        """A direct change after which any row may differ."""
        out.changed_columns[model.name] = {ALL_COLUMNS}
        return self._base(
            model,
            change="directly modified",
            category="breaking",
            reason=reason,
            rebuild=True,
            changed_columns=[ALL_COLUMNS],
        )

    def _kept(self, model: Model, old: Version, out: ChangeSet, reason: str, moved: bool = False) -> ModelChange:
        """A model that keeps its current version: its data does not change (a move only moves its view)."""
        out.changed_columns[model.name] = set()
        out.reused[model.name] = old.version_id
        return self._base(
            model,
            change="directly modified" if moved else "indirectly modified",
            category="breaking" if moved else "non-breaking",
            rebuild=False,
            new_version=old.version_id,
            reason=reason,
        )

    def _through_ctes(self, model: Model, hits: dict[str, set[str]]) -> set[str] | None:
        """The output columns that parents' changed columns reach through the model's CTEs (``querydiff``'s
        CTE walk); None when they may change rows, or the model has no CTEs to trace through."""
        if any(ALL_COLUMNS in cols for cols in hits.values()) or not _WITH.search(model.sql_text):
            return None

        def trace() -> list[str] | None:
            query = model.query
            if not isinstance(query, exp.Select) or not ctes(query):
                return None
            traced = cte_changes(None, query, self.project.dialect, hits)
            if traced is None:
                return None
            names = {sel.alias_or_name.lower(): sel.alias_or_name for sel in query.selects}
            return sorted(names.get(c, c) for c in traced)

        # Depends on the SQL text and the changed columns only: cached with the model's other analysis, so
        # planning the same change again (or another reaching the same columns) parses nothing.
        signature = json.dumps(sorted((p, sorted(c)) for p, c in hits.items()))
        found = self.project.analysis.get(model.sql_text, f"cte-trace {signature}", trace)
        return None if found is None else set(found)

    def _indirect(self, model: Model, old: Version, out: ChangeSet) -> ModelChange:
        reads = self.project.reads(model.name)  # from the analysis cache when the SQL text is unchanged
        hits: dict[str, set[str]] = {}  # parent -> its changed columns this model reads
        star_parents = []
        for parent in model.parents:
            changed = out.changed_columns.get(parent, set())
            read = _fold(reads.columns.get(parent, set()))
            if not changed or not (read or ALL_COLUMNS in changed):  # count(*) reads rows, not columns
                continue
            if ALL_COLUMNS in changed or STAR in read:
                hits[parent] = changed
                if STAR in read:
                    star_parents.append(parent)
            elif matched := {c for c in changed if c.lower() in read}:
                hits[parent] = matched
        if not hits and old.layer != model.layer:
            return self._kept(
                model,
                old,
                out,
                f"moved from layer {old.layer} to {model.layer}: its view moves from {old.layer}.{model.name} "
                f"to {model.fqn}, so readers of the old name break; the data is the same (keeps its version)",
                moved=True,
            )
        if not hits:
            upstream = [p for p in model.parents if p in out.changed_columns or p in self.old]
            changed_up = {f"{p}.{c}" for p in upstream for c in out.changed_columns.get(p, set())}
            return self._kept(
                model,
                old,
                out,
                f"reads none of the changed upstream columns ({_cols(changed_up)}): keeps its current version",
            )
        row_level = any(
            ALL_COLUMNS in cols or _fold(reads.row_level.get(p, set())) & _fold(cols) for p, cols in hits.items()
        )
        if row_level or reads.derived_row_level or star_parents:
            changed = {ALL_COLUMNS}
        else:
            lineage = self.project.column_lineage(model.name)
            folded = {p: _fold(cols) for p, cols in hits.items()}
            changed = {
                out_col for out_col, refs in lineage.items() if any(c.lower() in folded.get(p, set()) for p, c in refs)
            } or {ALL_COLUMNS}
        # A changed column read where it decides rows is a row change whatever the CTEs do; otherwise the
        # conservative "all" came from CTE columns deciding rows or from lineage that stops at a CTE: trace.
        if ALL_COLUMNS in changed and not star_parents and not row_level:
            traced = self._through_ctes(model, hits)
            if traced is not None and not traced:  # the changed columns reach no output column and no row
                return self._kept(
                    model,
                    old,
                    out,
                    "reads changed upstream columns only where they reach no output column and decide no "
                    "row (traced through its CTEs): keeps its current version",
                )
            changed = traced or changed
        out.changed_columns[model.name] = changed
        read_list = _cols({f"{p}.{c}" for p, cols in hits.items() for c in cols})
        reason = f"reads changed upstream columns ({read_list})"
        if star_parents:
            reason = f"selects * from {', '.join(star_parents)}: treated as affected (conservative)"
        return self._base(
            model,
            change="indirectly modified",
            category="breaking",
            rebuild=True,
            reason=reason,
            changed_columns=sorted(changed),
        )
