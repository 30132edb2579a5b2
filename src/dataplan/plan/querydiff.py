"""Comparing the old and new query of a model: which columns, which rows."""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp

_BODY_CLAUSES = {
    "with_": "CTEs",
    "with": "CTEs",
    "from_": "FROM",
    "from": "FROM",
    "joins": "JOIN",
    "where": "WHERE",
    "group": "GROUP BY",
    "having": "HAVING",
    "qualify": "QUALIFY",
    "windows": "WINDOW",
    "distinct": "DISTINCT",
    "order": "ORDER BY",
    "limit": "LIMIT",
    "offset": "OFFSET",
}


@dataclass
class QueryDiff:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    renamed: list[tuple[str, str]] = field(default_factory=list)  # (old, new): same expression
    row_clauses: list[str] = field(default_factory=list)  # clauses deciding rows that changed
    star: bool = False  # a SELECT * on either side: columns cannot be compared by name

    @property
    def rows_change(self) -> bool:
        return bool(self.row_clauses) or self.star

    @property
    def only_additions(self) -> bool:
        return not (self.removed or self.modified or self.renamed or self.rows_change)


def _projections(query: exp.Select, dialect: str) -> dict[str, str]:
    out = {}
    for sel in query.selects:
        inner = sel.this if isinstance(sel, exp.Alias) else sel
        out[sel.alias_or_name] = inner.sql(dialect=dialect, normalize=True, comments=False)
    return out


def _render(value: object, dialect: str) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "|".join(_render(v, dialect) for v in value)
    if isinstance(value, exp.Expr):
        return value.sql(dialect=dialect, normalize=True, comments=False)
    return str(value)


def _is_star(query: exp.Select) -> bool:
    return any(isinstance(s, exp.Star) or (isinstance(s, exp.Column) and s.is_star) for s in query.selects)


def diff_queries(old_sql: str, new: exp.Query, dialect: str) -> QueryDiff:
    old = sqlglot.parse_one(old_sql, read=dialect)
    diff = QueryDiff()
    if not (isinstance(old, exp.Select) and isinstance(new, exp.Select)):
        same = old.sql(dialect=dialect, normalize=True) == new.sql(dialect=dialect, normalize=True)
        diff.row_clauses = [] if same else ["query shape (set operation)"]
        diff.star = not same
        return diff
    if _is_star(old) or _is_star(new):
        diff.star = True
    before, after = _projections(old, dialect), _projections(new, dialect)
    diff.added = [c for c in after if c not in before]
    diff.removed = [c for c in before if c not in after]
    diff.modified = [c for c in after if c in before and before[c] != after[c]]
    for gone in list(diff.removed):
        twin = next((a for a in diff.added if after[a] == before[gone]), None)
        if twin is not None:
            diff.renamed.append((gone, twin))
            diff.removed.remove(gone)
            diff.added.remove(twin)
    for key, label in _BODY_CLAUSES.items():
        a, b = old.args.get(key), new.args.get(key)
        if _render(a, dialect) != _render(b, dialect) and label not in diff.row_clauses:
            diff.row_clauses.append(label)
    # A clause the list above does not name (sqlglot grows new ones): assume it decides rows.
    others = (set(old.args) | set(new.args)) - set(_BODY_CLAUSES) - {"expressions"}
    if any(_render(old.args.get(k), dialect) != _render(new.args.get(k), dialect) for k in sorted(others)):
        diff.row_clauses.append("query body")
    return diff
