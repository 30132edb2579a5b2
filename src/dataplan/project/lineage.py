"""Column-level lineage of a model, through sqlglot, resolved to parent models."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.lineage import lineage
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers
from sqlglot.optimizer.scope import traverse_scope

from dataplan.project.nodes import Model
from dataplan.project.sql import PartsResolver

ColumnRef = tuple[str, str]  # (model or "<source>.<table>", column)
STAR = "*"


Parts = tuple[str, str, str]  # catalog, db, name of a table reference, as written
RawLineage = dict[str, list[tuple[str, str, str, str]]] | None  # output column -> (catalog, db, name, column)


def _parts(table: exp.Table) -> Parts:
    return (table.catalog, table.db, table.name)


def raw_lineage(query: exp.Query | None, dialect: str, schema: dict[str, dict[str, str]] | None = None) -> RawLineage:
    """Output column -> the table columns it reads, with tables as written; None when it cannot be traced.

    Plain data (JSON-able) that depends only on the SQL text, so the project can cache it by content.
    ``schema`` (table -> column -> type) lets sqlglot tell a column from a select alias of the same name.
    """
    if query is None:
        return {}
    if any(isinstance(s, exp.Star) or (isinstance(s, exp.Column) and s.is_star) for s in query.selects):
        return None
    try:
        nodes = lineage(None, query, schema or {}, dialect=dialect)
    except SqlglotError:
        return None
    assert isinstance(nodes, dict)
    out: dict[str, list[tuple[str, str, str, str]]] = {}
    for name, node in nodes.items():
        leaves = {
            (*_parts(n.source), exp.to_column(n.name).name)  # 'o."amount"' -> amount
            for n in node.walk()
            if not n.downstream and isinstance(n.source, exp.Table)
        }
        out[name] = sorted(leaves)
    return out


def resolve_lineage(raw: RawLineage, model: Model, resolver: PartsResolver) -> dict[str, set[ColumnRef]]:
    """Output column -> the parent columns it reads.

    A ``SELECT *`` (or SQL sqlglot cannot trace) maps ``"*"`` to every parent with column ``"*"``, so
    callers treat it conservatively.
    """
    if raw is None:
        return {STAR: {(p, STAR) for p in model.parents + model.sources}}
    out: dict[str, set[ColumnRef]] = {}
    for name, leaves in raw.items():
        refs = out.setdefault(name, set())
        for catalog, db, table, col in leaves:
            target = resolver.parts(catalog, db, table)
            if target is not None:
                refs.add((target.name, col))
    return out


_ROW_LEVEL = (exp.Where, exp.Join, exp.Group, exp.Having, exp.Qualify)


def _decides_rows(col: exp.Column, select: exp.Select | None) -> bool:
    """Whether ``col`` decides which rows the scope returns, not only what they hold."""
    if col.find_ancestor(*_ROW_LEVEL) is not None:
        return True
    if select is None:
        return False
    if select.args.get("distinct"):  # DISTINCT (ON): every column read can merge or split rows
        return True
    limited = select.args.get("limit") or select.args.get("offset")
    return bool(limited) and col.find_ancestor(exp.Order) is not None  # ORDER BY ... LIMIT picks the rows


@dataclass
class Reads:
    """Which parent columns a query reads, and which of them decide its rows."""

    columns: dict[str, set[str]] = field(default_factory=dict)  # parent -> columns ("*" = all)
    row_level: dict[str, set[str]] = field(default_factory=dict)  # used in WHERE/JOIN/GROUP/HAVING
    derived_row_level: bool = False  # a CTE/subquery column decides rows: trace conservatively

    def add(self, parent: str, name: str, row_level: bool) -> None:
        self.columns.setdefault(parent, set()).add(name)
        if row_level:
            self.row_level.setdefault(parent, set()).add(name)


@dataclass
class RawReads:
    """``Reads`` with tables as written (catalog, db, name): plain data, cacheable by the SQL text."""

    columns: dict[Parts, set[str]] = field(default_factory=dict)
    row_level: dict[Parts, set[str]] = field(default_factory=dict)
    derived_row_level: bool = False

    def add(self, table: Parts, name: str, row_level: bool) -> None:
        self.columns.setdefault(table, set()).add(name)
        if row_level:
            self.row_level.setdefault(table, set()).add(name)

    def to_json(self) -> dict[str, object]:
        def rows(d: dict[Parts, set[str]]) -> list[list[object]]:
            return [[*k, sorted(v)] for k, v in sorted(d.items())]

        return {"columns": rows(self.columns), "row_level": rows(self.row_level), "derived": self.derived_row_level}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RawReads:
        def parts(rows: list[list[Any]]) -> dict[Parts, set[str]]:
            return {(str(r[0]), str(r[1]), str(r[2])): set(r[3]) for r in rows}

        return cls(parts(data["columns"]), parts(data["row_level"]), bool(data["derived"]))


def raw_reads(query: exp.Query, dialect: str) -> RawReads:
    """Which table columns the query reads, and which of them decide its rows, with tables as written.

    Identifiers are normalized the way the engine resolves them first, so ``O.Amount`` over ``... AS o``
    is the parent's ``amount``.
    """
    reads = RawReads()
    query = normalize_identifiers(query.copy(), dialect=dialect)
    for scope in traverse_scope(query):
        tables = {
            alias: _parts(source)
            for alias, source in scope.sources.items()
            if isinstance(source, exp.Table) and isinstance(source.this, exp.Identifier)  # not read_parquet(...)
        }
        select = scope.expression if isinstance(scope.expression, exp.Select) else None
        selects = select.selects if select is not None else []
        for star in (s for s in selects if isinstance(s, exp.Star) or (isinstance(s, exp.Column) and s.is_star)):
            # ``o.*`` reads every column of o only; a bare ``*`` reads every column of every table in scope
            qualifier = star.table.lower() if isinstance(star, exp.Column) else ""
            for alias, parent in tables.items():
                if not qualifier or alias.lower() == qualifier:
                    reads.add(parent, STAR, False)
        joins = select.args.get("joins") or [] if select is not None else []
        for join in joins:
            # JOIN ... USING (k) names k as identifiers, not columns: it matches rows on both sides.
            using = [name.name for name in join.args.get("using") or []]
            if join.args.get("method") == "NATURAL":  # matches on every common column
                using = [STAR]
            for name in using:
                for parent in tables.values():
                    reads.add(parent, name, True)
        # The branches of a UNION (not ALL) are deduplicated together: every column they read decides rows.
        union = scope.expression.parent
        deduplicated = isinstance(union, exp.Union) and bool(union.args.get("distinct"))
        referenced: set[str] = set()  # unqualified names read where they decide rows: maybe select aliases
        for col in scope.columns:
            row_level = deduplicated or _decides_rows(col, select)
            if row_level and not col.table:
                referenced.add(col.name.lower())
            _add_column(reads, scope, tables, col, row_level)
        if select is not None:
            if select.args.get("limit") or select.args.get("offset"):  # ORDER BY alias ... LIMIT picks rows
                order = select.args.get("order")
                referenced |= {c.name.lower() for c in order.find_all(exp.Column) if not c.table} if order else set()
            for expression in _grouping_projections(select, referenced):
                for col in expression.find_all(exp.Column):
                    _add_column(reads, scope, tables, col, True)
    return reads


def _add_column(reads: RawReads, scope: Any, tables: dict[str, Parts], col: exp.Column, row_level: bool) -> None:
    if col.table:
        if col.table in tables:
            reads.add(tables[col.table], col.name, row_level)
        elif row_level and col.table in scope.sources:
            reads.derived_row_level = True
        return
    derived = [a for a, s in scope.sources.items() if not isinstance(s, exp.Table)]
    if row_level and derived:
        reads.derived_row_level = True
    # An unqualified column with several sources could come from any of them.
    for parent in tables.values():
        reads.add(parent, col.name, row_level)


def _grouping_projections(select: exp.Select, referenced: set[str]) -> list[exp.Expr]:
    """Projections that decide rows without their columns appearing in a row clause: those a select alias
    names where rows are decided (``WHERE arr > 1`` over ``x * 12 AS arr``), and the keys of a GROUP BY ALL
    or a positional GROUP BY."""
    out = []
    selects = list(select.selects)
    group = select.args.get("group")
    positions = set()
    if group is not None:
        positions = {int(e.name) for e in group.expressions if isinstance(e, exp.Literal) and e.is_int}
    for i, sel in enumerate(selects, start=1):
        inner = sel.this if isinstance(sel, exp.Alias) else sel
        aliased = isinstance(sel, exp.Alias) and sel.alias.lower() in referenced
        grouping_all = group is not None and bool(group.args.get("all")) and not sel.find(exp.AggFunc)
        if aliased or grouping_all or i in positions:
            out.append(inner)
    return out


def resolve_reads(raw: RawReads, resolver: PartsResolver) -> Reads:
    """``raw`` with each table replaced by the model or source it names (unknown tables are left out)."""
    reads = Reads(derived_row_level=raw.derived_row_level)
    for source, target in ((raw.columns, reads.columns), (raw.row_level, reads.row_level)):
        for parts, cols in source.items():
            resolved = resolver.parts(*parts)
            if resolved is not None:
                target.setdefault(resolved.name, set()).update(cols)
    return reads
