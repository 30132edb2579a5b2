"""Relation names as a project's user writes them in ``dataplan diff`` and ``dataplan profile``.

Inside a project, ``crm.accounts`` means what it means in the models' SQL: the declared source table.
On DuckDB that is its files read where they lie (or the warehouse table a ``schema:`` maps it to); on
an engine that loads files (Postgres), the table they were last loaded into. Diff and profile only
read: they never load files, and say so when the files changed since the last load.

Any other name is a table or view of the warehouse, as written (``marts.orders`` is prod's view). A
name that is neither gets the closest names of both kinds as a hint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from difflib import get_close_matches

from sqlglot import exp

from dataplan.backends.base import Backend
from dataplan.backends.files import NOTE, fingerprint, source_files, staged_name
from dataplan.errors import EngineError, InputError
from dataplan.project.nodes import SourceTable
from dataplan.verify.relations import parse_relation, relation_name

INTERNAL_PREFIX = "_dataplan"  # state, versions and loaded files: not what a user names


@dataclass
class Named:
    """A relation resolved from the user's text, with what the user should know about it."""

    relation: exp.Expr
    label: str
    notes: list[str] = field(default_factory=list)


def resolve(backend: Backend, text: str, sources: dict[str, SourceTable] | None = None) -> Named:
    """``text`` on ``backend``: ``query:...`` as written, a declared source table as the models read it,
    anything else as a warehouse table or view (missing: InputError with the closest names)."""
    rel = parse_relation(text, backend.dialect)
    if not isinstance(rel, exp.Table):
        return Named(rel, text)
    name = relation_name(rel)
    by_name = {k.lower(): v for k, v in (sources or {}).items()}
    source = by_name.get(name.lower()) if len(rel.parts) == 2 else None
    if source is not None:
        return _source(backend, source, text)
    _check_exists(backend, rel, name, by_name)
    return Named(rel, text)


def _source(backend: Backend, source: SourceTable, text: str) -> Named:
    if not source.is_files or backend.reads_files:
        return Named(backend.source_relation(source), text)
    schema, name = staged_name(source, backend.max_identifier_length, backend.files_schema)
    target = exp.table_(name, db=schema, quoted=True)
    if not backend.table_columns(target):
        path, line = source.where()
        raise InputError(
            f"source {source.name}'s files are not loaded into {backend.dialect} yet",
            path=path,
            line=line,
            hint="`dataplan build` (or run, test, plan) loads them; diff and profile only read",
        )
    loaded = f"{schema}.{name}"
    files = source_files(source)
    if backend.table_note(target) != NOTE + fingerprint(source.files_root, files):
        note = (
            f"{source.name}: the files as last loaded into {loaded}; they changed since "
            "(`dataplan run` loads them again)"
        )
    else:
        note = f"{source.name}: read from {loaded}, loaded from its {len(files)} file(s), which are unchanged"
    return Named(target, text, [note])


def _check_exists(backend: Backend, rel: exp.Table, name: str, sources: dict[str, SourceTable]) -> None:
    """A ``schema.table`` that is not in the catalog: the error names the closest relations and sources.

    Other shapes (``table``, ``catalog.schema.table``) depend on the search path and attached catalogs:
    the engine's own lookup (``relation_columns``) judges them.

    The engine judges first: the catalog lists neither every relation it reads (a Postgres materialized
    view) nor, among the hints, dataplan's own (a version table or loaded file copy typed by its name).
    """
    if len(rel.parts) != 2:
        return
    try:
        backend.describe(exp.select("*").from_(rel.copy()))
        return
    except EngineError as exc:
        if exc.transient:  # the connection, not the name
            raise
    found = backend.relations()
    if name.lower() in {f"{r.schema}.{r.name}".lower() for r in found}:
        return  # it is there: the engine's own error (a broken view, no privilege) says why it fails
    known = {f"{r.schema}.{r.name}".lower() for r in found if not r.schema.startswith(INTERNAL_PREFIX)}
    pool = sorted(known | set(sources))
    close = get_close_matches(name.lower(), pool, n=3, cutoff=0.6)
    what = "tables, views or source tables" if sources else "tables or views"
    hint = f"did you mean {' or '.join(close)}?" if close else f"no close match among the warehouse's {what}"
    raise InputError(f"table {name} does not exist", hint=hint)
