"""What the user names for a comparison: relations, keys, column lists and tolerances.

A relation is a table or view (``table``, ``schema.table``,
``catalog.schema.table``) or a read-only query (``query:SELECT ...``). Both
become sqlglot expressions; SQL text is only ever made by a backend.
Unquoted identifiers are normalized the way the engine would (Postgres folds
them to lower case), then quoted.
"""

from __future__ import annotations

import math
import re

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers

from dataplan.backends.base import Backend, Column, column
from dataplan.errors import EngineError, InputError
from dataplan.verify.model import Tolerance

QUERY_PREFIX = "query:"
SOURCE_ALIAS = "src"

# Statements and clauses that write; a compared query must contain none of them.
_WRITES: tuple[type[exp.Expr], ...] = (
    exp.Insert,
    exp.Update,
    exp.Delete,
    exp.Merge,
    exp.Create,
    exp.Drop,
    exp.Alter,
    exp.Into,
    exp.Copy,
    exp.Command,
    exp.Set,
    exp.TruncateTable,
)


def parse_relation(text: str, dialect: str) -> exp.Expr:
    """A table name or ``query:SELECT ...`` -> a quoted ``exp.Table`` or a read-only ``exp.Query``."""
    raw = text.strip()
    if not raw:
        raise InputError("empty relation name", hint="name a table (schema.table) or pass query:SELECT ...")
    if raw[: len(QUERY_PREFIX)].lower() == QUERY_PREFIX:
        return _parse_query(raw[len(QUERY_PREFIX) :].strip(), dialect)
    return _parse_table(raw, dialect)


def _parse_query(text: str, dialect: str) -> exp.Query:
    hint = "pass one read-only query, e.g. query:SELECT id, amount FROM sales.orders"
    try:
        statements = [s for s in sqlglot.parse(text, read=dialect) if s is not None]
    except ParseError as exc:
        raise InputError(f"cannot parse the query: {_first_line(str(exc))}", hint=hint) from exc
    if len(statements) != 1:
        raise InputError(f"query: must hold exactly one statement, found {len(statements)}", hint=hint)
    query = statements[0]
    if not isinstance(query, exp.Select | exp.SetOperation):
        raise InputError(f"query: must be a SELECT, not {query.key.upper()}", hint=hint)
    writes = next(query.find_all(*_WRITES), None)
    if writes is not None:
        raise InputError(f"query: must not write (found {writes.key.upper()})", hint=hint)
    normalized = normalize_identifiers(query, dialect=dialect)
    assert isinstance(normalized, exp.Query)
    return normalized


def _parse_table(text: str, dialect: str) -> exp.Table:
    hint = "name a table or view as table, schema.table or catalog.schema.table, or pass query:SELECT ..."
    try:
        parsed = sqlglot.parse_one(text, read=dialect, into=exp.Table)
    except ParseError as exc:
        raise InputError(f"not a table name: {text!r}", hint=hint) from exc
    parts = parsed.parts if isinstance(parsed, exp.Table) else []
    plain = (
        isinstance(parsed, exp.Table)
        and not parsed.alias
        and isinstance(parsed.this, exp.Identifier)
        and all(isinstance(p, exp.Identifier) for p in parts)
        and 1 <= len(parts) <= 3
        and not any(k for k in ("joins", "laterals", "pivots", "sample", "version") if parsed.args.get(k))
    )
    if not plain:
        raise InputError(f"not a table name: {text!r}", hint=hint)
    table = normalize_identifiers(parsed, dialect=dialect)
    assert isinstance(table, exp.Table)
    for ident in table.find_all(exp.Identifier):
        ident.set("quoted", True)
    return table


def relation_name(rel: exp.Expr) -> str:
    """How a relation is named in messages: ``schema.table`` or ``query``."""
    if isinstance(rel, exp.Table):
        return ".".join(p.name for p in rel.parts)
    return "query"


def as_from(rel: exp.Expr, alias: str = SOURCE_ALIAS) -> exp.Expr:
    """``rel`` in a form a FROM clause accepts (queries become an aliased subquery)."""
    if isinstance(rel, exp.Table | exp.Subquery):
        return rel.copy()
    if isinstance(rel, exp.Query):
        return rel.subquery(alias)
    raise TypeError(f"not a relation: {type(rel).__name__}")


def filtered(rel: exp.Expr, where: exp.Expr | None) -> exp.Expr:
    """``rel`` restricted by ``where`` (a query), or ``rel`` itself."""
    if where is None:
        return rel
    return exp.select("*").from_(as_from(rel)).where(where.copy())


def relation_columns(backend: Backend, rel: exp.Expr, where: exp.Expr | None = None) -> list[Column]:
    """Output columns and engine types of ``rel`` (bound with ``where`` when given), without reading data.

    A missing table, a query that cannot run or a filter that cannot bind is an InputError.
    """
    try:
        query = exp.select("*").from_(as_from(rel))
        columns = backend.describe(query.where(where.copy()) if where is not None else query)
    except EngineError as exc:
        if exc.transient:
            raise
        if where is not None:
            relation_columns(backend, rel)  # the clearer error when the relation itself is the problem
            raise InputError(
                f"the filter cannot run on {relation_name(rel)}: {_first_line(exc.message)}",
                hint="the filter is a condition over the compared relations' columns",
            ) from exc
        name = relation_name(rel)
        if isinstance(rel, exp.Table):
            if "does not exist" in exc.message or "Catalog Error" in exc.message:
                raise InputError(
                    f"table {name} does not exist", hint="check the name, or list relations with the engine's client"
                ) from exc
            raise
        raise InputError(f"the query cannot run: {_first_line(exc.message)}", hint="fix the query: text") from exc
    names = [c.name for c in columns]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InputError(
            f"{relation_name(rel)} has more than one column named {', '.join(dupes)}",
            hint="give each output column of the query its own name (AS alias)",
        )
    return columns


def parse_where(text: str | None, dialect: str) -> exp.Expr | None:
    """A filter condition (the text of a WHERE clause) as an expression."""
    if text is None or not text.strip():
        return None
    try:
        cond = sqlglot.parse_one(text, read=dialect)
    except ParseError as exc:
        where = next(iter(exc.errors), {})
        at = f" (near column {where['col']})" if where.get("col") else ""
        raise InputError(
            f"cannot parse the filter {text!r}{at}: it is not a complete SQL condition",
            hint="write the text of a WHERE clause, e.g. --where \"status = 'paid' and amount > 0\"",
        ) from exc
    if isinstance(cond, exp.Query) or next(cond.find_all(*_WRITES), None) is not None:
        raise InputError(f"the filter must be a condition, not a statement: {text!r}")
    return normalize_identifiers(cond, dialect=dialect)


def split_names(text: str, option: str) -> list[str]:
    """``a, "b,c", "d""e"`` -> ``["a", "b,c", 'd"e']``: a comma-separated list of column names.

    A name in double quotes may hold commas and spaces, and ``""`` stands for one quote, as in SQL. An
    unquoted name is taken as written (spaces around it dropped), quotes inside it included.
    """
    hint = f'separate names with commas: {option} a,b; quote a name holding a comma or quote: "a,b","c""d"'
    names: list[str] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i].isspace():
            i += 1
        if i < n and text[i] == '"':
            chars: list[str] = []
            i += 1
            while True:
                if i >= n:
                    raise InputError(f"bad {option} {text!r}: a quoted name is not closed", hint=hint)
                if text[i] == '"':
                    if text[i + 1 : i + 2] == '"':  # "" is an escaped quote
                        chars.append('"')
                        i += 2
                        continue
                    i += 1
                    break
                chars.append(text[i])
                i += 1
            while i < n and text[i].isspace():
                i += 1
            if i < n and text[i] != ",":
                raise InputError(f"bad {option} {text!r}: text after the quoted name {''.join(chars)!r}", hint=hint)
            name = "".join(chars)
        else:
            end = text.find(",", i)
            end = n if end < 0 else end
            name, i = text[i:end].strip(), end
        if not name:
            raise InputError(f"bad {option} {text!r}: empty column name", hint=hint)
        names.append(name)
        if i >= n:
            break
        i += 1  # the comma
    dupes = sorted({x for x in names if names.count(x) > 1})
    if dupes:
        raise InputError(f"bad {option} {text!r}: {', '.join(dupes)} named twice", hint=hint)
    return names


def parse_key(text: str | None) -> list[str]:
    """``"a,b"`` -> ``["a", "b"]``; an empty text is no key. Names as ``split_names`` reads them."""
    if text is None or not text.strip():
        return []
    return split_names(text, "--key")


def parse_columns(text: str | None) -> list[str] | None:
    """``"a,b"`` -> ``["a", "b"]``; no text means every column."""
    if text is None or not text.strip():
        return None
    return split_names(text, "--columns")


def parse_tolerance(text: str | None) -> Tolerance:
    """``"abs=0.01,rel=1e-6"`` -> Tolerance; either part may be left out."""
    hint = "write the tolerance as abs=0.01,rel=1e-6 (either part may be left out)"
    if text is None or not text.strip():
        return Tolerance()
    values: dict[str, float] = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        name = name.strip().lower()
        if not sep or name not in ("abs", "rel"):
            raise InputError(f"bad tolerance {text!r}: {part.strip()!r} is not abs=NUMBER or rel=NUMBER", hint=hint)
        if name in values:
            raise InputError(f"bad tolerance {text!r}: {name} given twice", hint=hint)
        try:
            number = float(value.strip())
        except ValueError:
            raise InputError(f"bad tolerance {text!r}: {value.strip()!r} is not a number", hint=hint) from None
        if not math.isfinite(number) or number < 0:
            raise InputError(f"bad tolerance {text!r}: {name} must be a finite number >= 0", hint=hint)
        values[name] = number
    return Tolerance(**values)


_RENAME = re.compile(r'\s*("(?:[^"]|"")+"|[^="]+?)\s*=\s*("(?:[^"]|"")+"|[^="]+?)\s*')


def parse_rename(text: str) -> tuple[str, str]:
    """``old=new`` (a column of A, its name in B) -> ``("old", "new")``; a name may be double-quoted, and
    must be when it holds ``=`` (``""`` inside quotes stands for one quote)."""
    m = _RENAME.fullmatch(text)
    if not m:
        raise InputError(
            f"bad --rename {text!r}: not OLD=NEW",
            hint='name a column of A and its name in B: --rename amount=revenue (quote names holding "=")',
        )

    def unquote(name: str) -> str:
        return name[1:-1].replace('""', '"') if name.startswith('"') else name

    return unquote(m.group(1)), unquote(m.group(2))


def parse_renames(texts: list[str]) -> dict[str, str]:
    """Every ``--rename OLD=NEW`` -> {OLD: NEW}; a column of A renamed twice is an InputError."""
    out: dict[str, str] = {}
    for text in texts:
        old, new = parse_rename(text)
        if old == new:  # a typo for the new name, most likely: comparing a column with itself needs no rename
            raise InputError(f"--rename {text} renames column {old} to itself", hint="name its new name in B")
        if old in out:
            raise InputError(f"--rename names column {old} of A twice", hint="rename each column once")
        out[old] = new
    return out


def renamed_relation(
    backend: Backend, rel: exp.Expr, renames: dict[str, str], cols_a: list[Column], side_a: str, side_b: str
) -> tuple[exp.Select, dict[str, str]]:
    """B under A's names: ``renames`` maps a column of A to its name in B. The query over ``rel`` and the
    renames in the engines' spelling. A name renamed twice, or one B already uses for another column, is
    an InputError."""
    raw = relation_columns(backend, rel)
    olds = resolve_columns(list(renames), cols_a, "renamed", side_a)
    news = resolve_columns(list(renames.values()), raw, "renamed", side_b)
    for names, side in ((olds, side_a), (news, side_b)):
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise InputError(f"--rename names column {twice[0]} of {side} twice", hint="rename each column once")
    same = next(((t, o) for t, o, n in zip(renames.values(), olds, news, strict=True) if o == n), None)
    if same is not None:  # label=LABEL: the engine's spelling of both is one name, as label=label is
        raise InputError(
            f"--rename renames column {same[1]} to itself ({same[0]} is {same[1]} of {side_b})",
            hint="name its new name in B",
        )
    back = dict(zip(news, olds, strict=True))
    taken = {c.name for c in raw if c.name not in back}
    clash = next((o for o in olds if o in taken), None)
    if clash is not None:
        raise InputError(
            f"{side_b} already has a column named {clash}: renaming another one to it makes two",
            hint=f"rename {clash} of {side_b} too (--rename x={clash}), or compare without --rename",
        )
    query = exp.select(*[column(c.name).as_(back.get(c.name, c.name), quoted=True) for c in raw]).from_(as_from(rel))
    return query, dict(zip(olds, news, strict=True))


def resolve_columns(names: list[str], available: list[Column], what: str, side: str) -> list[str]:
    """The engine's spelling of each named column; exact match first, then a unique case-insensitive one."""
    exact = {c.name for c in available}
    out = []
    for name in names:
        if name in exact:
            out.append(name)
            continue
        folded = [c.name for c in available if c.name.lower() == name.lower()]
        if len(folded) == 1:
            out.append(folded[0])
            continue
        shown = ", ".join(c.name for c in available[:20]) + (" ..." if len(available) > 20 else "")
        raise InputError(f"{what} column {name} does not exist in {side}", hint=f"{side} has: {shown}")
    return out


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text
