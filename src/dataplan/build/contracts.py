"""Enforced contracts: the engine's output columns against the declared ones."""

from __future__ import annotations

import re
from typing import Any

from sqlglot import exp
from sqlglot.errors import ParseError

from dataplan.backends.base import Backend, Column
from dataplan.errors import ContractMismatch, EngineError, ProjectError
from dataplan.project.nodes import Model, SingularTest

T = exp.DataType.Type
# Types an engine reports under another name for the same thing.
_SAME = [
    {T.TEXT, T.VARCHAR, T.CHAR, T.NVARCHAR, T.NCHAR, T.BPCHAR, T.NAME},
    {T.TIMESTAMP, T.TIMESTAMPNTZ, T.DATETIME},
    {T.TIMESTAMPTZ, T.TIMESTAMPLTZ},
]


def _canon(t: Any) -> Any:
    for group in _SAME:
        if t in group:
            return min(group, key=lambda x: x.value)
    return t


def _parse(text: str, dialect: str) -> exp.DataType | None:
    try:
        return exp.DataType.build(text, dialect=dialect)
    except (ParseError, ValueError):
        return None


def types_match(declared: str, actual: str, project_dialect: str, engine_dialect: str) -> bool:
    want, got = _parse(declared, project_dialect), _parse(actual, engine_dialect)
    if want is None or got is None:
        return declared.strip().lower() == actual.strip().lower()
    if _canon(want.this) != _canon(got.this):
        return False
    if want.this == T.DECIMAL and want.expressions:
        return [e.sql() for e in want.expressions] == [e.sql() for e in got.expressions]
    return True


def _why(declared: str, actual: str, engine_dialect: str) -> str:
    """What explains a common mismatch: a decimal the engine gives no precision or scale."""
    want, got = _parse(declared, engine_dialect), _parse(actual, engine_dialect)
    if want is not None and got is not None and want.this == got.this == T.DECIMAL and not got.expressions:
        return (
            " (no precision or scale: Postgres gives none to sums and arithmetic on numeric columns); "
            f"cast it in the query: cast(... as {declared})"
        )
    return ""


def contract_mismatches(model: Model, actual: list[Column], project_dialect: str, engine_dialect: str) -> list[str]:
    """Every way ``actual`` differs from the declared columns, as ``ContractMismatch`` texts: one about a
    declared column carries the line of its entry (of its ``type:`` for a type), which a ContractError
    points at."""
    got = {c.name: c.type for c in actual}
    out: list[str] = []
    for i, col in enumerate(model.spec.columns):
        name, want = col.name, col.type
        if name not in got:
            text = f"column {name} is declared but the query does not return it"
            out.append(ContractMismatch(text, model.spec_line("columns", i)))
        elif want is not None and not types_match(want, got[name], project_dialect, engine_dialect):
            why = _why(want, got[name], engine_dialect)
            text = f"column {name}: declared {want}, query returns {got[name]}{why}"
            out.append(ContractMismatch(text, model.spec_line("columns", i, "type")))
        elif want is None:
            text = f"column {name} has no type; an enforced contract needs one"
            out.append(ContractMismatch(text, model.spec_line("columns", i)))
    declared = model.columns_declared
    for name in got:
        if name not in declared:
            out.append(ContractMismatch(f"column {name} ({got[name]}) is returned but not declared"))
    return out


def describe_model(backend: Backend, model: Model, query: exp.Query) -> list[Column]:
    """The columns ``query`` (the model's SQL over some versions) would have.

    An engine that refuses the query (an unknown column, table or function) is the model file's problem:
    the error names that file, not only the engine's message about rewritten table names.
    """
    try:
        return backend.describe(query)
    except EngineError as exc:
        if exc.transient:  # the connection, not the SQL
            raise
        hint, line = _refusal_hint(model, exc.message, backend.dialect)
        raise ProjectError(
            f"model {model.fqn} cannot run: {exc.message}", path=model.path, line=line, hint=hint
        ) from exc


# What an engine's refusal of a model's SQL means, by its words, and what to do about it.
_NO_FILES = ("No files found", "No such file")
_NO_TABLE = re.compile(r"Table with name \S+ does not exist|relation \S+ does not exist", re.IGNORECASE)
_SYNTAX = re.compile(r"syntax error|Parser Error", re.IGNORECASE)


def _refusal_hint(model: Model, message: str, engine: str) -> tuple[str, int | None]:
    """The hint for an engine's refusal of ``model``, and the line of the file it points at when known."""
    if any(words in message for words in _NO_FILES):
        return (
            "a file source it reads has no files: check the source's path in sources.yml and that its data is there",
            None,
        )
    line = unknown_column_line(model, message)
    if line is not None or any(p.search(message) for p in _UNKNOWN_COLUMN):
        return (
            "a column it reads may be misspelled here, or removed or renamed upstream: fix this model or its parent",
            line,
        )
    if _NO_TABLE.search(message):
        return (
            "a table it reads is not in the warehouse: check the source's schema and table in sources.yml, "
            "and that the table is loaded",
            None,
        )
    if _SYNTAX.search(message):
        written = "" if engine == model.dialect else f", translated from the project's {model.dialect} dialect"
        return f"{engine} cannot parse this SQL as it runs there{written}: rewrite the part it names", None
    return "the engine refused this model's SQL (its words are above): fix this model", None


# How the engines name a column they cannot bind: (table as written or None, column).
_UNKNOWN_COLUMN = [
    re.compile(r'Referenced column "(?P<col>[^"]+)" not found'),  # DuckDB, unqualified
    # DuckDB, qualified: 'Table "o" ...', or 'Values list "o" ...' for a version read through a zero-row probe
    re.compile(r'"(?P<table>[^"]+)" does not have a column named "(?P<col>[^"]+)"'),
    re.compile(r'column "?(?:(?P<table>[^".\s]+)\.)?(?P<col>[^"\s]+)"? does not exist'),  # Postgres
]


def unknown_column_line(model: Model | SingularTest, message: str) -> int | None:
    """The line of the model's (or singular test's) SQL where the column the engine could not bind is
    written, if it says which.

    The engine's own position is in the SQL it ran (table names rewritten to versions), not the file.
    """
    for pattern in _UNKNOWN_COLUMN:
        found = pattern.search(message)
        if found is None:
            continue
        name, table = found["col"].lower(), (found.groupdict().get("table") or "").lower()
        query = model.query
        if query is None:
            return None
        lines = [
            col.this.meta["line"]
            for col in query.find_all(exp.Column)
            if col.name.lower() == name
            and (not table or col.table.lower() == table)
            and isinstance(col.this, exp.Identifier)
            and "line" in col.this.meta
        ]
        return min(lines) if lines else None
    return None


_TIME_TYPES = ("DATE", "TIMESTAMP")


def check_time_column(model: Model, columns: list[Column]) -> None:
    """An incremental model's ``time_column`` is one of its output columns, of a date or timestamp type:
    checked before anything is created, so a typo is the model file's error and leaves nothing behind."""
    name = model.spec.time_column
    if name is None:
        return
    by_name = {c.name.lower(): c for c in columns}
    found = by_name.get(name.lower())
    where = model.yaml_path or model.path
    if found is None:
        raise ProjectError(
            f"model {model.fqn}: time_column {name!r} is not one of its columns ({', '.join(c.name for c in columns)})",
            path=where,
            line=model.spec_line("time_column"),
            hint="name an output column of the model's SELECT",
        )
    if not found.type.strip().upper().startswith(_TIME_TYPES):
        raise ProjectError(
            f"model {model.fqn}: time_column {name!r} is {found.type}, not a date or timestamp",
            path=where,
            line=model.spec_line("time_column"),
            hint="cast it in the model's SELECT, e.g. cast(ts as timestamp)",
        )
