"""Comparing the old and new query of a model: which columns, which rows."""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

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


def _stars(query: exp.Select, dialect: str) -> list[str]:
    """The query's ``*`` and ``t.*`` projections, as text."""
    return [
        s.sql(dialect=dialect, normalize=True)
        for s in query.selects
        if isinstance(s, exp.Star) or (isinstance(s, exp.Column) and s.is_star)
    ]


def diff_queries(old_sql: str, new: exp.Query, dialect: str) -> QueryDiff:
    old = sqlglot.parse_one(old_sql, read=dialect)
    diff = QueryDiff()
    if not (isinstance(old, exp.Select) and isinstance(new, exp.Select)):
        same = old.sql(dialect=dialect, normalize=True) == new.sql(dialect=dialect, normalize=True)
        diff.row_clauses = [] if same else ["query shape (set operation)"]
        diff.star = not same
        return diff
    # The same stars over the same FROM (a changed FROM is a row change anyway) expand to the same
    # columns, so the named projections beside them still compare by name.
    if _stars(old, dialect) != _stars(new, dialect):
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
    if "CTEs" in diff.row_clauses:
        through = cte_changes(old, new, dialect)
        if through is not None:  # the CTE change reaches these output columns only, never the rows
            diff.row_clauses.remove("CTEs")
            diff.modified += sorted(c for c in through if c in after and c not in diff.modified + diff.added)
    _follow_aliases(new, diff)
    # A clause the list above does not name (sqlglot grows new ones): assume it decides rows.
    others = (set(old.args) | set(new.args)) - set(_BODY_CLAUSES) - {"expressions"}
    if any(_render(old.args.get(k), dialect) != _render(new.args.get(k), dialect) for k in sorted(others)):
        diff.row_clauses.append("query body")
    return diff


ALL = "*"  # every column, and any row, may change

_ROW_ARGS = ("where", "having", "qualify", "joins")  # where a reference to an output column decides rows


def _names(e: exp.Expr | None) -> set[str]:
    """The unqualified column names ``e`` reads (lower case): what a select alias can be referenced by."""
    if e is None:
        return set()
    return {c.name.lower() for c in e.find_all(exp.Column) if not c.table}


def _follow_aliases(query: exp.Select, diff: QueryDiff) -> None:
    """What a changed output column changes beyond itself, through references to it in the same query.

    Another projection reading its alias (DuckDB resolves select aliases in the select list, WHERE, GROUP
    BY, HAVING, QUALIFY, ORDER BY) changes too; a reference in a clause that decides rows, a GROUP BY ALL
    or positional GROUP BY over it, ORDER BY ... LIMIT over it, or DISTINCT make it a row change. A name
    that is also an input column is taken as the alias: the conservative reading.
    """
    # A rename keeps the values, and whatever read the old name was edited too: not a change here.
    changed = {c.lower() for c in [*diff.modified, *diff.removed]}
    added = {c.lower() for c in diff.added}
    if not changed and not diff.added:
        return
    if query.args.get("distinct"):  # any column of a DISTINCT can merge or split rows
        diff.row_clauses.append("DISTINCT columns")
        return
    if not changed:
        return
    selects = {s.alias_or_name.lower(): s for s in query.selects}
    grown = True
    while grown:  # the fixpoint of projections reading changed projections
        grown = False
        for name, sel in selects.items():
            inner = sel.this if isinstance(sel, exp.Alias) else sel
            if name not in changed and name not in added and _names(inner) & changed:
                changed.add(name)
                diff.modified.append(sel.alias_or_name)
                grown = True
    why = next((a for a in _ROW_ARGS if any(_names(x) & changed for x in _as_list(query.args.get(a)))), None)
    group = query.args.get("group")
    if group is not None:
        if group.args.get("all"):
            plain = {n for n, s in selects.items() if not s.find(exp.AggFunc)}
            why = why or ("GROUP BY ALL" if plain & changed else None)
        positions = [int(e.name) for e in group.expressions if isinstance(e, exp.Literal) and e.is_int]
        ordinal = {list(selects)[i - 1] for i in positions if 0 < i <= len(selects)}
        if ordinal & changed or any(_names(e) & changed for e in group.expressions):
            why = why or "GROUP BY"
    if query.args.get("limit") and _names(query.args.get("order")) & changed:
        why = why or "ORDER BY ... LIMIT"
    if why and why not in diff.row_clauses:
        diff.row_clauses.append(f"{why} over a changed column")


def _as_list(value: object) -> list[exp.Expr]:
    if value is None:
        return []
    return [v for v in value if isinstance(v, exp.Expr)] if isinstance(value, list) else [value]  # type: ignore[list-item]


def ctes(query: exp.Select) -> dict[str, exp.Expr]:
    """The query's CTEs by name, in order."""
    with_ = query.args.get("with") or query.args.get("with_")
    return {cte.alias_or_name: cte.this for cte in (with_.expressions if with_ else [])}


def _withoutctes(query: exp.Expr) -> exp.Expr:
    out = query.copy()
    out.set("with", None)
    out.set("with_", None)
    return out


def cte_changes(
    old: exp.Select | None, new: exp.Select, dialect: str, tables: dict[str, set[str]] | None = None
) -> set[str] | None:
    """The outer query's output columns a change reaches through its CTEs; None when it may change rows.

    The CTEs and the outer query form a small graph, walked like the models' graph: each CTE's own
    change (its query diffed with ``old``'s), and ``tables`` (a parent table's name -> its changed
    columns, for a change that comes from upstream), then each reader's columns read from a changed
    column through sqlglot's lineage (CTE names read as tables). A changed column that decides rows
    (WHERE, JOIN, GROUP BY, ...) anywhere on the way, or CTEs added, removed or reordered, give None.
    """
    from dataplan.project.lineage import raw_lineage  # the project's SQL analysis, here on CTE bodies

    after = ctes(new)
    before = ctes(old) if old is not None else after
    if [n.lower() for n in before] != [n.lower() for n in after]:
        return None
    olds = {n.lower(): q for n, q in before.items()}
    # table or CTE (lower case) -> its changed columns (lower case); a CTE shadows a table of its name
    changed: dict[str, set[str]] = {t.lower(): {c.lower() for c in cols} for t, cols in (tables or {}).items()}
    try:
        for name in [*after, ""]:  # "" is the outer query, read last
            body = after[name] if name else _withoutctes(new)
            if not isinstance(body, exp.Select):
                return None
            own: set[str] = set()
            if old is not None and name and _render(olds[name.lower()], dialect) != _render(body, dialect):
                d = diff_queries(olds[name.lower()].sql(dialect=dialect), body, dialect)
                if d.rows_change or ctes(body):
                    return None
                own = {c.lower() for c in [*d.removed, *d.modified, *(o for o, _ in d.renamed)]}
            found = _hits(body, dialect, changed)
            if found is None:
                return None
            hits, passed = found
            own |= passed  # a `t.*` passes t's changed columns through under their names
            named = _without_stars(body)
            if hits and named is not None:
                lineage = raw_lineage(named, dialect, _read_schema(body, dialect))
                if lineage is None:
                    return None
                for out_col, leaves in lineage.items():
                    if any(c.lower() in hits.get(t.lower(), set()) for _, _, t, c in leaves):
                        own.add(out_col.lower())
            changed[name.lower()] = own
    except SqlglotError:
        return None
    return changed[""]


def _read_schema(body: exp.Select, dialect: str) -> dict[str, dict[str, str]]:
    """The tables ``body`` reads with the columns it reads of them (types unknown): enough for sqlglot to
    qualify columns that a select alias of the same name would otherwise make ambiguous."""
    from dataplan.project.lineage import STAR, raw_reads

    return {
        parts[2]: {c: "UNKNOWN" for c in cols if c != STAR}
        for parts, cols in raw_reads(body, dialect).columns.items()
        if not parts[0] and not parts[1]
    }


def _hits(body: exp.Select, dialect: str, changed: dict[str, set[str]]) -> tuple[dict[str, set[str]], set[str]] | None:
    """The changed columns ``body`` reads, per table or CTE, and those a star passes through; None when one
    of them decides its rows."""
    from dataplan.project.lineage import STAR, raw_reads

    reads = raw_reads(body, dialect)
    hits: dict[str, set[str]] = {}
    passed: set[str] = set()
    if body.args.get("distinct") and any(changed.get(p[2].lower()) for p in reads.columns):
        return None  # a changed column of a DISTINCT merges or splits rows
    for parts, cols in reads.columns.items():
        ch = changed.get(parts[2].lower())
        if not ch:
            continue
        if STAR in cols:
            if reads.row_level.get(parts, set()) & {STAR}:  # NATURAL JOIN or DISTINCT over the star
                return None
            passed |= ch
        hit = {c.lower() for c in cols} & ch
        if not hit and STAR not in cols:
            continue
        if {c.lower() for c in reads.row_level.get(parts, set())} & (hit | (ch if STAR in cols else set())):
            return None
        if reads.derived_row_level:
            return None
        if hit:
            hits[parts[2].lower()] = hit
    return hits, passed


def _without_stars(body: exp.Select) -> exp.Select | None:
    """``body`` with its star projections left out (their columns pass through by name); None if only stars."""
    named = [s for s in body.selects if not (isinstance(s, exp.Star) or (isinstance(s, exp.Column) and s.is_star))]
    if not named:
        return None
    if len(named) == len(body.selects):
        return body
    out = body.copy()
    out.set("expressions", [s.copy() for s in named])
    return out
