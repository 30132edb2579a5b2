"""The engine-neutral backend seam.

Engine-neutral code hands sqlglot expressions to a backend; ``render`` is the
one place SQL text is made (engine dialect, identifiers quoted, unsupported
constructs raising). Engine behaviour differences are class-level capability
flags that callers branch on, never the dialect name.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import pyarrow as pa
from sqlglot import exp
from sqlglot.errors import ErrorLevel

from dataplan.project.nodes import SourceTable

if TYPE_CHECKING:
    from dataplan.backends.files import FileLoad


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # engine type text, e.g. DECIMAL(18,2)


@dataclass(frozen=True)
class Relation:
    schema: str
    name: str
    kind: str  # "table" | "view"


def zoned(engine_type: str) -> bool:
    """A time-zone-aware timestamp type, as DuckDB or Postgres describes it (``timestamptz(0)`` too)."""
    base = " ".join(re.sub(r"\(\s*\d+\s*\)", " ", engine_type.upper()).split())
    return base in ("TIMESTAMPTZ", "TIMESTAMP WITH TIME ZONE")


def table(schema: str, name: str) -> exp.Table:
    return exp.table_(name, db=schema, quoted=True)


def ident(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def column(name: str, table_alias: str | None = None) -> exp.Column:
    return exp.column(name, table=table_alias, quoted=True)


def projection(names: list[str]) -> list[exp.Expr]:
    """Quoted columns, or ``*`` when no column is named."""
    return [column(n) for n in names] or [exp.Star()]


def select_star(relation: exp.Expr) -> exp.Select:
    return exp.select("*").from_(relation)


def hex_digits(text: exp.Expr, digits: int) -> exp.Expr:
    """``substring(text, 1, digits)``"""
    return exp.Substring(this=text, start=exp.Literal.number(1), length=exp.Literal.number(digits))


def row_text(values: list[exp.Expr]) -> exp.Expr:
    """``CAST(ROW(v1, ...) AS TEXT)``: a row's values as one text (engines quote values that need it)."""
    row = exp.Anonymous(this="ROW", expressions=values or [exp.Literal.number(0)])
    return exp.cast(row, exp.DataType.build("text"))


class Backend(ABC):
    """One engine connection. Not thread-safe; one per thread."""

    dialect: ClassVar[str]
    transactional_ddl: ClassVar[bool] = False  # DDL can be rolled back
    atomic_swap: ClassVar[bool] = False  # many views re-pointed in one transaction
    supports_clone: ClassVar[bool] = False  # zero-copy table clone
    reads_files: ClassVar[bool] = False  # can query Parquet/CSV files directly
    late_binding_views: ClassVar[bool] = False  # views resolve names at query time
    max_identifier_length: ClassVar[int] = 255
    # approx_distinct exists: above its exact-row limit the verifier counts distinct values approximately;
    # approx_method says how. samples: sampled exists, and quantiles above that limit come from a sample.
    approx_aggregates: ClassVar[bool] = False
    approx_method: ClassVar[str] = ""
    samples: ClassVar[bool] = False
    # The planner inlines a subquery's computed columns into each reference to them unless the
    # subquery is fenced (OFFSET 0): multi-stage queries fence their stages on such engines.
    inlines_subquery_columns: ClassVar[bool] = False
    # Quoted names match without case (DuckDB: "Marts"."Big" is marts.big); Postgres tells them apart.
    names_ignore_case: ClassVar[bool] = False

    def __init__(self) -> None:
        self.round_trips = 0  # statements sent: what benchmarks count
        self._in_transaction = False
        # Engines without reads_files: file source -> fingerprint of the files loaded, and the loads made.
        self.staged_files: dict[str, str] = {}
        self.file_loads: list[FileLoad] = []
        self.files_schema = "_dataplan_files"  # where file sources are loaded (files.files_schema)
        self.deferred_files: dict[str, str] | None = None  # during a dry run (files.deferred): seen, not loaded

    # -- SQL text --------------------------------------------------------
    def render(self, expression: exp.Expr) -> str:
        return expression.sql(dialect=self.dialect, identify=True, unsupported_level=ErrorLevel.RAISE)

    def transpile(self, query: exp.Query, read: str) -> exp.Query:
        """Bring a query parsed in the project dialect to this engine's dialect."""
        if read == self.dialect:
            return query
        import sqlglot

        text = query.sql(dialect=read)
        out = sqlglot.parse_one(text, read=read).sql(dialect=self.dialect)
        return sqlglot.parse_one(out, read=self.dialect)  # type: ignore[return-value]

    def approx_distinct(self, value: exp.Expr) -> exp.Expr:
        """An approximate count of the distinct values of ``value`` (engines with ``approx_aggregates``)."""
        raise NotImplementedError(f"{self.dialect} has no approximate aggregates")

    def sampled(self, query: exp.Select, percent: float) -> exp.Select:
        """``query`` over a Bernoulli sample of ``percent`` % of its FROM's rows (engines with ``samples``):
        each row kept independently, so an ordered column is sampled evenly."""
        raise NotImplementedError(f"{self.dialect} cannot sample")

    def hex_prefix(self, text: exp.Expr, digits: int) -> exp.Expr:
        """The first ``digits`` lower-case hex digits of ``text`` as a BIGINT (``digits`` <= 15).

        The portable spelling, digit by digit: ``(ascii(c) - 48) % 39`` maps '0'..'9' to 0..9 and
        'a'..'f' (97..102) to 10..15. Engines override it with their native hex parse, 3 to 4 times faster.
        """
        total: exp.Expr | None = None
        for i in range(digits):
            char = exp.Substring(this=text.copy(), start=exp.Literal.number(i + 1), length=exp.Literal.number(1))
            code = exp.Sub(this=exp.Ascii(this=char), expression=exp.Literal.number(48))
            digit = exp.Mod(this=exp.paren(code), expression=exp.Literal.number(39))
            weight = exp.cast(exp.Literal.number(16 ** (digits - 1 - i)), exp.DataType.Type.BIGINT)
            term: exp.Expr = exp.Mul(this=exp.paren(digit), expression=weight)
            total = term if total is None else exp.Add(this=total, expression=term)
        assert total is not None
        return total

    def row_hash(self, values: list[exp.Expr]) -> exp.Expr:
        """A hash of a row's values: equal values give equal hashes (the key diff's pre-filter).

        The portable spelling is the md5 of the row's text; engines override it with a native 64-bit hash.
        """
        return exp.func("md5", row_text(values))

    # -- running ---------------------------------------------------------
    @abstractmethod
    def _run(self, sql: str, params: tuple[Any, ...] | None = None) -> Any: ...

    @abstractmethod
    def _fetch_arrow(self, sql: str) -> pa.Table: ...

    def execute(self, expression: exp.Expr) -> None:
        self.round_trips += 1
        self._run(self.render(expression))

    def fetch(self, expression: exp.Expr) -> pa.Table:
        self.round_trips += 1
        return self._fetch_arrow(self.render(expression))

    def fetch_rows(self, expression: exp.Expr) -> list[tuple[Any, ...]]:
        self.round_trips += 1
        return self._rows(self.render(expression))

    def _rows(self, sql: str) -> list[tuple[Any, ...]]:
        """Run ``sql`` and fetch its rows; engines override it so errors raised while fetching (a value
        Python cannot hold) become EngineError too."""
        return list(self._run(sql).fetchall())

    def fetch_value(self, expression: exp.Expr) -> Any:
        rows = self.fetch_rows(expression)
        return rows[0][0] if rows else None

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction; nested use joins the outer one."""
        if self._in_transaction:
            yield
            return
        self._begin()
        self._in_transaction = True
        try:
            yield
        except BaseException:
            self._in_transaction = False
            self._rollback()
            raise
        self._in_transaction = False
        self._commit()

    def _begin(self) -> None:
        self.round_trips += 1
        self._run(self.render(exp.Transaction()))

    def _commit(self) -> None:
        self.round_trips += 1
        self._run(self.render(exp.Commit()))

    def _rollback(self) -> None:
        self.round_trips += 1
        self._run(self.render(exp.Rollback()))

    @abstractmethod
    def close(self) -> None: ...

    # -- catalog ---------------------------------------------------------
    @abstractmethod
    def relations(self) -> list[Relation]:
        """Every table and view outside system schemas, in one query."""

    def named_relations(self) -> list[Relation]:
        """Every object outside system schemas whose name a new view of the same schema cannot take."""
        return self.relations()

    @abstractmethod
    def describe(self, query: exp.Query) -> list[Column]:
        """Output columns and engine types of a query, without running it."""

    @abstractmethod
    def view_definitions(self) -> dict[tuple[str, str], str]:
        """(schema, view) -> definition text, for catalog comparisons."""

    def name_key(self, schema: str, name: str) -> tuple[str, str]:
        """What tells two relations apart in this engine: ``(schema, name)``, without case where it ignores it."""
        return (schema.casefold(), name.casefold()) if self.names_ignore_case else (schema, name)

    def schemas(self) -> set[str]:
        return {r.schema for r in self.relations()}

    # -- DDL / DML from expressions ---------------------------------------
    def create_schema(self, name: str) -> None:
        self.execute(exp.Create(this=exp.Table(this=ident(name)), kind="SCHEMA", exists=True))

    def drop_schema(self, name: str) -> None:
        self.execute(exp.Drop(tables=[exp.Table(this=ident(name))], kind="SCHEMA", exists=True))

    def create_table_as(self, target: exp.Table, query: exp.Query) -> None:
        self.execute(exp.Create(this=target, kind="TABLE", expression=query))

    def create_table(self, target: exp.Table, columns: list[tuple[str, str]]) -> None:
        defs = [exp.ColumnDef(this=ident(n), kind=exp.DataType.build(t)) for n, t in columns]
        self.execute(exp.Create(this=exp.Schema(this=target, expressions=defs), kind="TABLE", exists=True))

    def create_view(self, target: exp.Table, query: exp.Query) -> None:
        self.execute(exp.Create(this=target, kind="VIEW", expression=query))

    def replace_view(self, target: exp.Table, query: exp.Query) -> None:
        self.execute(exp.Create(this=target, kind="VIEW", replace=True, expression=query))

    def drop(self, target: exp.Table, kind: str) -> None:
        self.execute(exp.Drop(tables=[target], kind=kind, exists=True))

    def insert(self, target: exp.Table, query: exp.Query) -> int:
        """INSERT the query's rows; returns how many rows went in."""
        self.round_trips += 1
        return self._inserted(self._run(self.render(exp.insert(query, target))))

    @abstractmethod
    def _inserted(self, result: Any) -> int:
        """The row count of an INSERT from the driver's result (the engine's own words differ)."""

    def delete(self, target: exp.Table, where: exp.Expr | None = None) -> None:
        self.execute(exp.delete(target, where=where))

    # Where this session's temporary tables live: qualified, so that dropping one can never reach a
    # real table of the same name further along the search path.
    temp_schema: ClassVar[tuple[str, ...]] = ("pg_temp",)

    @contextmanager
    def scratch_copy(self, name: str, query: exp.Query) -> Iterator[exp.Table]:
        """The rows of ``query`` in a temporary table of this session, dropped on exit.

        For several reads of a costly view (its joins and windows computed once, not per read).
        """
        *catalog, schema = self.temp_schema
        target = exp.Table(
            this=ident(name[: self.max_identifier_length]),
            db=ident(schema),
            catalog=ident(catalog[0]) if catalog else None,
        )
        temporary = exp.Properties(expressions=[exp.TemporaryProperty()])
        with self._unordered_writes():
            self.execute(exp.Create(this=target, kind="TABLE", expression=query, properties=temporary))
        try:
            yield target
        finally:
            self.drop(target, "TABLE")

    @contextmanager
    def _unordered_writes(self) -> Iterator[None]:
        """Around a write whose rows are never read in order: engines that keep insertion order by
        default may drop it here (a no-op by default)."""
        yield

    def lock_table(self, target: exp.Table, *, readers: bool = False) -> None:  # noqa: B027 - a no-op by default
        """Serialize writers of ``target`` for the current transaction (engines that need it); with
        ``readers``, make readers wait too (what they would read is about to change).

        DuckDB needs nothing: concurrent writers of one table conflict and one aborts.
        """

    @abstractmethod
    def load_arrow(self, target: exp.Table, data: pa.Table) -> None:
        """Create ``target`` from an Arrow table (seeds, small loads)."""

    @abstractmethod
    def arrow_columns(self, schema: pa.Schema) -> list[Column]:
        """The columns ``load_arrow`` would create for ``schema``, without creating anything."""

    def source_relation(self, source: SourceTable) -> exp.Expr:
        """What a model's reference to a source table becomes: a file source is read where it lies on
        engines that read files, and loaded into a table first on the others (``backends.files``)."""
        if source.is_files:
            from dataplan.backends.files import stage

            return stage(self, source)
        return table(source.source.schema_ or source.source.name, source.spec.name)

    # -- loading files (engines without reads_files) -------------------------
    def table_columns(self, target: exp.Table) -> list[Column]:
        """The columns of table ``target`` from the catalog, in order; none when it does not exist."""
        raise NotImplementedError(f"{self.dialect} does not load files")

    def table_note(self, target: exp.Table) -> str | None:
        """The comment recorded on table ``target``; None when it has none or does not exist."""
        raise NotImplementedError(f"{self.dialect} does not load files")

    def set_table_note(self, target: exp.Table, text: str) -> None:
        raise NotImplementedError(f"{self.dialect} does not load files")

    def add_column(self, target: exp.Table, name: str, type_: str) -> None:
        self.execute(
            exp.Alter(
                this=target,
                kind="TABLE",
                actions=[exp.ColumnDef(this=ident(name), kind=exp.DataType.build(type_, dialect=self.dialect))],
            )
        )

    def analyze(self, target: exp.Table) -> None:  # noqa: B027 - a no-op by default
        """Gather the planner's statistics of a table just filled (engines whose planner needs them)."""

    def append_arrow(self, target: exp.Table, data: pa.Table) -> None:
        """Append the rows of an Arrow table to the existing table ``target`` (columns matched by name)."""
        raise NotImplementedError(f"{self.dialect} does not load files")
