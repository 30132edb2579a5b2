"""Column-level lineage of a model, through sqlglot, resolved to parent models."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.lineage import Node, lineage
from sqlglot.optimizer.scope import traverse_scope

from dataplan.project.nodes import Model
from dataplan.project.sql import Resolver

ColumnRef = tuple[str, str]  # (model or "<source>.<table>", column)
STAR = "*"


def model_lineage(model: Model, resolve: Resolver, dialect: str) -> dict[str, set[ColumnRef]]:
    """Output column -> the parent columns it reads.

    A ``SELECT *`` cannot be traced without the parents' columns; such a model
    maps ``"*"`` to every parent with column ``"*"`` so callers treat it
    conservatively.
    """
    query = model.query
    if query is None:
        return {}
    if any(isinstance(s, exp.Star) or (isinstance(s, exp.Column) and s.is_star) for s in query.selects):
        return {STAR: {(p, STAR) for p in model.parents + model.sources}}
    try:
        nodes = lineage(None, query, {}, dialect=dialect)
    except SqlglotError:
        return {STAR: {(p, STAR) for p in model.parents + model.sources}}
    assert isinstance(nodes, dict)
    return {name: _leaves(node, resolve) for name, node in nodes.items()}


def _leaves(node: Node, resolve: Resolver) -> set[ColumnRef]:
    out: set[ColumnRef] = set()
    for n in node.walk():
        if n.downstream or not isinstance(n.source, exp.Table):
            continue
        target = resolve(n.source)
        if target is not None:
            out.add((target.name, n.name.split(".")[-1]))
    return out


_ROW_LEVEL = (exp.Where, exp.Join, exp.Group, exp.Having, exp.Qualify)


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


def columns_read(query: exp.Query, resolve: Resolver) -> Reads:
    reads = Reads()
    for scope in traverse_scope(query):
        tables = {
            alias: resolved.name
            for alias, source in scope.sources.items()
            if isinstance(source, exp.Table) and (resolved := resolve(source)) is not None
        }
        selects = scope.expression.selects if isinstance(scope.expression, exp.Select) else []
        if any(isinstance(s, exp.Star) or (isinstance(s, exp.Column) and s.is_star) for s in selects):
            for parent in tables.values():
                reads.add(parent, STAR, False)
        for col in scope.columns:
            row_level = col.find_ancestor(*_ROW_LEVEL) is not None
            if col.table:
                if col.table in tables:
                    reads.add(tables[col.table], col.name, row_level)
                elif row_level and col.table in scope.sources:
                    reads.derived_row_level = True
                continue
            derived = [a for a, s in scope.sources.items() if not isinstance(s, exp.Table)]
            if row_level and derived:
                reads.derived_row_level = True
            # An unqualified column with several sources could come from any of them.
            for parent in tables.values():
                reads.add(parent, col.name, row_level)
    return reads
