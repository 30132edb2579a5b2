"""Parsing model SQL and resolving the table references inside it."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect, NormalizationStrategy
from sqlglot.errors import ParseError, TokenError
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers

from dataplan.errors import ProjectError, strip_ansi


def parse_query(text: str, dialect: str, path: Path) -> exp.Query:
    """Parse one SELECT; anything else is a ProjectError naming file and line."""
    try:
        statements = [s for s in sqlglot.parse(text, read=dialect) if s is not None]
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        raise ProjectError(
            f"SQL syntax error: {parse_error_text(exc)}",
            path=path,
            line=first.get("line"),
            hint=f"the SQL must be one SELECT in the {dialect} dialect",
        ) from exc
    except TokenError as exc:
        raise ProjectError(f"SQL syntax error: {exc}", path=path, line=_token_error_line(text, str(exc))) from exc
    if len(statements) != 1:
        raise ProjectError(
            f"expected one SELECT statement, found {len(statements)}",
            path=path,
            hint="put each model in its own file",
        )
    query = statements[0]
    if not isinstance(query, exp.Query):
        raise ProjectError(
            f"expected a SELECT, found {query.key.upper()}",
            path=path,
            hint="a model is a query; dataplan creates the tables and views itself",
        )
    return _fold_identifiers(query, dialect)


_CLASS = re.compile(r"<class '(?:[\w.]+\.)?(\w+)'>")


def parse_error_text(exc: ParseError, *, of: str = "") -> str:
    """What went wrong, near which text and at which column, from sqlglot's first error, as plain text.

    ``str(exc)`` is not shown: its context underlines the offending token with terminal escape codes,
    which end up raw in files and CI logs. ``of`` says what the column counts in ("the expression")."""
    first = exc.errors[0] if exc.errors else {}
    desc = strip_ansi(str(first.get("description") or exc).split("<Token")[0]).strip()
    desc = _CLASS.sub(r"\1", desc.splitlines()[0] if desc else "")
    near = strip_ansi(str(first.get("highlight") or "")).strip()
    text = f"{desc} near {near!r}" if near else desc
    end = first.get("col")
    if isinstance(end, int) and end > 0:  # sqlglot's column is where the token ends
        start = end - len(near) + 1 if 0 < len(near) <= end else end
        text += f" (column {start}{' of ' + of if of else ''})"
    return text


def predicate_columns(predicate: exp.Expr, relation: str) -> list[exp.Column]:
    """The columns of the tested relation a test's predicate reads, in order: unqualified ones and those
    qualified by the relation's name (``stg_orders.amount``). Columns inside a subquery read its tables,
    and a lambda's (``x -> x > 0``) are its parameters: neither is the relation's."""
    out = []
    for col in predicate.find_all(exp.Column):
        if not isinstance(col.this, exp.Identifier) or (col.table and col.table.lower() != relation.lower()):
            continue
        if col.find_ancestor(exp.Query, exp.Lambda) is not None:
            continue
        out.append(col)
    return out


def _token_error_line(text: str, message: str) -> int | None:
    """The line a tokenizer error stops on: sqlglot quotes the text it read up to there, not a position."""
    head = "Error tokenizing '"
    if not message.startswith(head):
        return None
    read = message[len(head) :].removesuffix("'")
    at = text.find(read) if read else -1
    return None if at < 0 else text.count("\n", 0, at + len(read.rstrip())) + 1


def _fold_identifiers(query: exp.Query, dialect: str) -> exp.Query:
    """Unquoted names folded the way engines that care fold them; quoted names stay as written.

    dataplan quotes every identifier it renders, so ``C.Amount`` must become ``c.amount`` first: on
    Postgres a quoted "Amount" is another column than amount. DuckDB ignores case, so folding there only
    keeps the rendered SQL the same whichever engine it goes to.
    """
    strategy = Dialect.get_or_raise(dialect).normalization_strategy
    if strategy is NormalizationStrategy.CASE_SENSITIVE:
        return query
    upper = strategy in (NormalizationStrategy.UPPERCASE, NormalizationStrategy.CASE_INSENSITIVE_UPPERCASE)
    return normalize_identifiers(query, dialect=dialect if upper else "postgres")


def table_references(query: exp.Expr) -> list[exp.Table]:
    """Tables the query reads that are not its own CTEs."""
    ctes = {cte.alias_or_name.lower() for cte in query.find_all(exp.CTE)}
    refs = []
    for table in query.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            continue  # table functions such as read_parquet(...)
        if not table.args.get("db") and table.name.lower() in ctes:
            continue
        refs.append(table)
    return refs


RawRef = tuple[str, str, str, int | None, int | None]  # catalog, db, name, line, column of its first part


def raw_refs(query: exp.Query) -> list[RawRef]:
    """The query's table references as plain data, with where each one starts."""
    out: list[RawRef] = []
    for table in table_references(query):
        first = table.args.get("catalog") or table.args.get("db") or table.this
        meta = first.meta  # sqlglot records where a token ends; keep where it starts
        col = meta["col"] - len(first.name) + 1 if "col" in meta else None
        out.append((table.catalog, table.db, table.name, meta.get("line"), col))
    return out


@dataclass(frozen=True)
class Resolved:
    kind: str  # "model" | "source"
    name: str  # model name, or "<source>.<table>"


Resolver = Callable[[exp.Table], Resolved | None]


def _unknown_reference(shown: str, col: int | None, path: Path, line: int | None, resolver: object) -> ProjectError:
    """The error for a reference nothing declares, with the name meant when one is close."""
    suggest = getattr(resolver, "suggest", None)  # the project's resolver knows every name
    close: list[str] = suggest(shown) if callable(suggest) else []
    where = f" (column {col})" if col else ""
    return ProjectError(
        f"unknown reference {shown!r}{where}: no model, seed or source has that name",
        path=path,
        line=line,
        hint=(f"did you mean {' or '.join(close)}? " if close else "")
        + "reference a model as <layer>.<name> or its bare name, a source as <source>.<table> declared in sources.yml",
    )


def resolve_references(query: exp.Query, resolve: Resolver, path: Path) -> list[tuple[exp.Table, Resolved]]:
    out = []
    for table in table_references(query):
        target = resolve(table)
        if target is None:
            first = table.args.get("db") or table.this
            meta = first.meta  # sqlglot records where a token ends; report where it starts
            col = meta["col"] - len(first.name) + 1 if "col" in meta else None
            shown = ".".join(p for p in (table.catalog, table.db, table.name) if p)  # not its alias
            raise _unknown_reference(shown, col, path, meta.get("line"), resolve)
        out.append((table, target))
    return out


class PartsResolver(Protocol):
    def parts(self, catalog: str, db: str, name: str) -> Resolved | None: ...


def resolve_raw(refs: list[RawRef], resolver: PartsResolver, path: Path) -> list[Resolved]:
    """Resolve cached references; an unknown one is an error naming file, line and column."""
    out = []
    for catalog, db, name, line, col in refs:
        target = resolver.parts(catalog, db, name)
        if target is None:
            shown = ".".join(p for p in (catalog, db, name) if p)
            raise _unknown_reference(shown, col, path, line, resolver)
        out.append(target)
    return out


def normalized_sql(query: exp.Expr, dialect: str) -> str:
    """Text that ignores formatting and comments: the fingerprint's input."""
    return query.sql(dialect=dialect, normalize=True, comments=False)


def rewrite_references(
    query: exp.Query,
    resolve: Resolver,
    target: Callable[[Resolved], exp.Expr],
    path: Path,
) -> exp.Query:
    """A copy of ``query`` whose model/source references point at ``target``.

    The replacement keeps the reference's alias, or takes the original table
    name as alias, so qualified columns such as ``stg_orders.id`` still bind.
    """
    query = query.copy()
    for table, resolved in resolve_references(query, resolve, path):
        alias = table.alias or table.name
        new = target(resolved)
        if isinstance(new, exp.Table):
            new = new.copy()
            new.set("alias", exp.TableAlias(this=exp.to_identifier(alias, quoted=True)))
        else:
            new = exp.alias_(new, alias, quoted=True)
        for key in ("joins", "laterals", "pivots", "hints", "version", "when"):
            if table.args.get(key):
                new.set(key, table.args[key])
        table.replace(new)
    return query
