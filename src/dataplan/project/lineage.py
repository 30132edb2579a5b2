"""Column-level lineage of a model, through sqlglot, resolved to parent models."""

from __future__ import annotations

from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.lineage import Node, lineage

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
