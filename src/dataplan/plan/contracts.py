"""Contract changes: columns added, removed, retyped, renamed; grain; materialization.

New output types come from the engine (a zero-row query over the parents'
versions, with not-yet-built parents inlined as subqueries), never guessed.
A seed's new columns are pyarrow's reading of its CSV, typed by the engine
without loading it. A not-yet-built parent whose columns and types are known
not to change is read from its current version instead of being inlined: same
shape, a smaller query to bind, and no need to parse the parent's SQL.
"""

from __future__ import annotations

from sqlglot import exp

from dataplan.backends.base import Backend, Column
from dataplan.build.contracts import contract_mismatches, describe_model, types_match
from dataplan.build.versions import VersionWriter, read_seed
from dataplan.plan.changes import ChangeSet
from dataplan.plan.model import ContractChange, ContractChangeKind
from dataplan.project import Project
from dataplan.project.sql import Resolved
from dataplan.state.store import Version

BREAKING = {"column removed", "column type changed", "column renamed", "grain changed", "model removed"}


class ContractDiffer:
    def __init__(self, project: Project, backend: Backend, writer: VersionWriter, unbuilt: set[str]) -> None:
        self.project = project
        self.backend = backend
        self.writer = writer
        self.unbuilt = unbuilt  # models whose new version does not exist yet
        self.kept_shape: dict[str, str] = {}  # unbuilt model -> its current version, whose shape it keeps
        self._virtual: dict[str, exp.Query] = {}
        self._new_columns: dict[str, list[tuple[str, str]]] = {}
        # model fqn -> how its new columns break its enforced contract: the build would refuse it
        self.violations: dict[str, list[str]] = {}

    def virtual_query(self, name: str) -> exp.Query:
        """The model's query over built versions, unbuilt parents inlined (cached: deep trees repeat)."""
        if name not in self._virtual:
            self._virtual[name] = self._build_virtual(name)
        return self._virtual[name]

    def _build_virtual(self, name: str) -> exp.Query:
        model = self.project.models[name]
        assert model.query is not None

        def target(ref: Resolved) -> exp.Expr:
            if ref.kind == "source":
                return self.backend.source_relation(self.project.sources[ref.name])
            if ref.name in self.kept_shape:
                return self.writer.physical(self.kept_shape[ref.name])
            if ref.name in self.unbuilt and self.project.models[ref.name].kind == "seed":
                return self._typed_empty(self.new_columns(ref.name)).subquery()
            if ref.name in self.unbuilt:
                return self.virtual_query(ref.name).subquery()
            return self.writer.physical(self.writer.physical_id(ref.name))

        return self.project.rewrite(model.query, model.path, target)

    def new_columns(self, name: str) -> list[tuple[str, str]]:
        """The model's columns after the change (cached: a changed seed is also read for each child)."""
        if name not in self._new_columns:
            model = self.project.models[name]
            if model.kind == "seed":  # typed as the build will load the file, nothing created
                columns = self.backend.arrow_columns(read_seed(model).schema)
            else:
                columns = describe_model(self.backend, model, self.virtual_query(name))
            self._new_columns[name] = [(c.name, c.type) for c in columns]
        return self._new_columns[name]

    def _typed_empty(self, columns: list[tuple[str, str]]) -> exp.Select:
        """Zero rows with these columns: what a child of a not-yet-loaded seed binds against."""
        dialect = self.backend.dialect
        values = [exp.cast(exp.null(), exp.DataType.build(t, dialect=dialect)).as_(n, quoted=True) for n, t in columns]
        return exp.select(*values).limit(0)

    def _old_columns(self, before: Version) -> dict[str, str]:
        if before.columns:
            return dict(before.columns)
        # Seed versions built before seeds recorded their columns: read them from the table.
        relation = exp.select("*").from_(self.writer.physical(before.version_id))
        return {c.name: c.type for c in self.backend.describe(relation)}

    def diff(self, changes: ChangeSet, old: dict[str, Version]) -> list[ContractChange]:
        out: list[ContractChange] = []
        reshaped: set[str] = set()  # models whose output columns or types change
        for change in changes.changes:
            if change.change == "added":
                reshaped.add(change.model)
            if change.change == "removed" and change.model in old:
                out += self._removed(change.fqn, old[change.model])
            if change.change in ("added", "removed") or change.model not in old:
                continue
            model, before = self.project.models[change.model], old[change.model]
            found: list[tuple[ContractChangeKind, str | None, str | None]] = []
            # A descendant whose own SQL is unchanged can only change shape through a parent that did:
            # describing it otherwise costs a query and tells nothing.
            same_shape = change.change == "indirectly modified" and not (set(model.parents) & reshaped)
            if change.rebuild and not same_shape:
                columns = self._columns(change.model, before, changes)
                if columns:
                    reshaped.add(change.model)
                found += columns
                if columns and model.spec.contract.enforced:
                    actual = [Column(n, t) for n, t in self.new_columns(change.model)]
                    broken = contract_mismatches(model, actual, self.project.dialect, self.backend.dialect)
                    if broken:
                        self.violations[model.fqn] = broken
            kept = change.rebuild and change.model not in reshaped and model.kind != "seed"
            if kept and change.model in self.unbuilt:
                self.kept_shape[change.model] = before.version_id  # exists: the environment references it
            old_grain, new_grain = list(before.spec.get("grain", []) or []), model.spec.grain
            if old_grain != new_grain:
                found.append(("grain changed", ", ".join(old_grain) or "(none)", ", ".join(new_grain) or "(none)"))
            if before.materialized != model.materialized:
                found.append(("materialization changed", before.materialized, model.materialized))
            out += [
                ContractChange(
                    model=model.fqn,
                    change=kind,
                    before=b,
                    after=a,
                    breaking=kind in BREAKING,
                    enforced=model.spec.contract.enforced,
                )
                for kind, b, a in found
            ]
        return out

    def _removed(self, fqn: str, before: Version) -> list[ContractChange]:
        """A removed model breaks its contract when the contract was enforced: its readers lose every column.
        The project no longer has its YAML, so the contract is the one its version was built with."""
        contract = before.spec.get("contract") or {}
        if not (isinstance(contract, dict) and contract.get("enforced")):
            return []
        columns = ", ".join(name for name, _ in before.columns) or None
        return [ContractChange(model=fqn, change="model removed", before=columns, breaking=True, enforced=True)]

    def _columns(
        self, name: str, before: Version, changes: ChangeSet
    ) -> list[tuple[ContractChangeKind, str | None, str | None]]:
        old_cols = self._old_columns(before)
        new_cols = dict(self.new_columns(name))
        diff = changes.diffs.get(name)
        renamed = {o: n for o, n in (diff.renamed if diff else []) if o in old_cols and n in new_cols}
        out: list[tuple[ContractChangeKind, str | None, str | None]] = []
        for col, typ in old_cols.items():
            if col in renamed:
                out.append(("column renamed", f"{col} {typ}", f"{renamed[col]} {new_cols[renamed[col]]}"))
            elif col not in new_cols:
                out.append(("column removed", f"{col} {typ}", None))
            elif not types_match(typ, new_cols[col], self.backend.dialect, self.backend.dialect):
                out.append(("column type changed", f"{col} {typ}", f"{col} {new_cols[col]}"))
        for col, typ in new_cols.items():
            if col not in old_cols and col not in renamed.values():
                out.append(("column added", None, f"{col} {typ}"))
        return out
