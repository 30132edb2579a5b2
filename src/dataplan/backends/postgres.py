"""PostgreSQL: transactional DDL, so a whole environment swaps in one transaction."""

from __future__ import annotations

import re
from typing import Any

import psycopg
import pyarrow as pa
from sqlglot import exp

from dataplan.backends.base import Backend, Column, Relation, hex_digits, ident, row_text
from dataplan.errors import EngineError, InputError
from dataplan.secrets import redact, scrub_connection_message

_SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast")
# pg_class kinds that hold a name in their schema, as named_relations tells them
_RELKINDS = {
    "r": "table",
    "p": "table",
    "f": "foreign table",
    "v": "view",
    "m": "materialized view",
    "S": "sequence",
    "i": "index",
    "I": "index",
    "c": "composite type",
}
# libpq's words for a DSN setting it refuses before connecting (e.g. sslmode=bogus), raised as a connection
# failure: bad input, exit 2, not an engine error.
_BAD_OPTION = re.compile(r"invalid \w+ value|invalid port number|invalid integer value")

# Arrow -> Postgres column types for loading seeds and files.
_ARROW_TYPES: list[tuple[Any, str]] = [
    (pa.types.is_boolean, "BOOLEAN"),
    (lambda t: pa.types.is_int8(t) or pa.types.is_int16(t) or pa.types.is_uint8(t), "SMALLINT"),
    (lambda t: pa.types.is_int32(t) or pa.types.is_uint16(t), "INTEGER"),
    (lambda t: pa.types.is_int64(t) or pa.types.is_uint32(t), "BIGINT"),
    (pa.types.is_uint64, "NUMERIC(20,0)"),
    (lambda t: pa.types.is_float16(t) or pa.types.is_float32(t), "REAL"),
    (pa.types.is_floating, "DOUBLE PRECISION"),
    (pa.types.is_date, "DATE"),
    (lambda t: pa.types.is_timestamp(t) and t.tz is not None, "TIMESTAMPTZ"),
    (pa.types.is_timestamp, "TIMESTAMP"),
    (lambda t: pa.types.is_binary(t) or pa.types.is_large_binary(t), "BYTEA"),
]


def _pg_type(t: pa.DataType) -> str:
    if pa.types.is_decimal(t):
        return f"NUMERIC({t.precision},{t.scale})"
    for test, name in _ARROW_TYPES:
        if test(t):
            return name
    return "TEXT"


def _csv_safe(t: pa.DataType) -> bool:
    """Arrow writes the type as CSV text Postgres reads back as the same value (not bytes or nested values)."""
    return bool(
        pa.types.is_boolean(t) or pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)
        or pa.types.is_date(t) or pa.types.is_timestamp(t) or pa.types.is_string(t) or pa.types.is_large_string(t)
    )  # fmt: skip


def _named(target: exp.Table) -> exp.Expr:
    """WHERE clause of a catalog query on pg_class c / pg_namespace n for one table."""
    return exp.and_(
        exp.column("nspname", "n").eq(exp.Literal.string(target.db)),
        exp.column("relname", "c").eq(exp.Literal.string(target.name)),
    )


def _catalog(*exprs: exp.Expr) -> exp.Select:
    """SELECT ... FROM pg_class c JOIN pg_namespace n (tables only)."""
    return (
        exp.select(*exprs)
        .from_(exp.table_("pg_class", db="pg_catalog", alias="c"))
        .join(
            exp.table_("pg_namespace", db="pg_catalog", alias="n"),
            on=exp.column("oid", "n").eq(exp.column("relnamespace", "c")),
        )
        .where(exp.column("relkind", "c").isin(exp.Literal.string("r"), exp.Literal.string("p")))
    )


class PostgresBackend(Backend):
    dialect = "postgres"
    transactional_ddl = True
    atomic_swap = True
    max_identifier_length = 63
    inlines_subquery_columns = True
    samples = True  # distinct counts stay exact: Postgres has no approximate count

    def __init__(self, dsn: str) -> None:
        super().__init__()
        try:
            self.conn = psycopg.connect(dsn, autocommit=True)
        except (psycopg.ProgrammingError, psycopg.InterfaceError, UnicodeError) as exc:
            # libpq's parse errors quote the offending value, which may be the password or a piece of
            # it: say what is wrong without it.
            raise InputError(
                "the Postgres connection string does not parse (its text is not shown: it may hold a password)",
                hint="in a URL, percent-encode special characters of the password (@ as %40, % as %25, "
                "space as %20); in key=value form, quote a value with spaces ('my secret')",
            ) from exc
        except psycopg.Error as exc:
            if _BAD_OPTION.search(str(exc)):  # libpq refused a setting of the DSN before any connection
                raise InputError(
                    scrub_connection_message(f"the Postgres connection string has a bad setting: {exc}", dsn),
                    hint="fix that setting in the DSN"
                    + (
                        " (sslmode takes disable, allow, prefer, require, verify-ca or verify-full)"
                        if "sslmode" in str(exc)
                        else ""
                    ),
                ) from exc
            raise EngineError(
                scrub_connection_message(f"cannot connect to Postgres: {exc}", dsn),
                transient=isinstance(exc, psycopg.OperationalError),
                hint="check the DSN (connection.dsn in dataplan.yml, or --connection) and that the server runs",
            ) from exc
        # dataplan's tables have no indexes, so a nested loop is the right join only for tiny inputs; the
        # planner still picks one when it underestimates a side, as it does for every staging model that
        # keeps the latest row (``row_number() ... = 1`` is estimated at 0.5% of the rows): the seed-002
        # customer spine took 15 s that way instead of 0.1 s. Joins with no other plan still loop.
        no_nested_loops = exp.EQ(this=exp.var("enable_nestloop"), expression=exp.var("off"))
        self.execute(exp.Set(expressions=[exp.SetItem(this=no_nested_loops)]))

    def sampled(self, query: exp.Select, percent: float) -> exp.Select:
        # random() per row, not TABLESAMPLE: that only samples tables, and the relation may be a view or a query.
        keep = exp.LT(this=exp.func("random"), expression=exp.Literal.number(repr(percent / 100.0)))
        return query.copy().where(keep)

    def hex_prefix(self, text: exp.Expr, digits: int) -> exp.Expr:
        bits = exp.DataType.build(f"bit({4 * digits})", dialect="postgres")
        prefixed = exp.paren(exp.DPipe(this=exp.Literal.string("x"), expression=hex_digits(text, digits)))
        return exp.cast(exp.cast(prefixed, bits), "BIGINT")

    def row_hash(self, values: list[exp.Expr]) -> exp.Expr:
        return exp.Anonymous(this="hashtextextended", expressions=[row_text(values), exp.Literal.number(0)])

    def _run(self, sql: str, params: tuple[Any, ...] | None = None) -> Any:
        try:
            return self.conn.execute(sql.encode(), params)  # bytes: no %-placeholder parsing
        except psycopg.Error as exc:
            transient = isinstance(exc, psycopg.OperationalError | psycopg.errors.LockNotAvailable)
            overflow = isinstance(exc, psycopg.errors.NumericValueOutOfRange)
            raise EngineError(redact(f"Postgres: {exc}".strip()), transient=transient, overflow=overflow) from exc

    def _inserted(self, result: Any) -> int:
        return max(int(result.rowcount), 0)  # the cursor's count of the INSERT

    def _rows(self, sql: str) -> list[tuple[Any, ...]]:
        cursor = self._run(sql)
        try:
            return list(cursor.fetchall())
        except psycopg.Error as exc:  # e.g. a date of 'infinity', which Python's date cannot hold
            raise EngineError(redact(f"Postgres: {exc}".strip())) from exc

    def _fetch_arrow(self, sql: str) -> pa.Table:
        cur = self._run(sql)
        names = [d.name for d in cur.description or []]
        rows = cur.fetchall()
        return pa.table({n: [r[i] for r in rows] for i, n in enumerate(names)})

    def _begin(self) -> None:
        self.round_trips += 1
        self._tx = self.conn.transaction()
        self._tx.__enter__()

    def _commit(self) -> None:
        self.round_trips += 1
        self._tx.__exit__(None, None, None)

    def _rollback(self) -> None:
        self.round_trips += 1
        try:
            self._tx.__exit__(psycopg.Rollback, psycopg.Rollback(), None)
        except psycopg.Rollback:
            pass

    def close(self) -> None:
        self.conn.close()

    def relations(self) -> list[Relation]:
        q = (
            exp.select("table_schema", "table_name", "table_type")
            .from_("information_schema.tables")
            .where(exp.not_(exp.column("table_schema").isin(*_SYSTEM_SCHEMAS)))
        )
        return [Relation(s, n, "view" if t == "VIEW" else "table") for s, n, t in self.fetch_rows(q)]

    def named_relations(self) -> list[Relation]:
        # pg_class, not information_schema.tables: a materialized view, a sequence or an index holds its
        # name too, and information_schema shows only what this role has a privilege on.
        kind = exp.column("relkind", "c")
        q = (
            exp.select(exp.column("nspname", "n"), exp.column("relname", "c"), kind)
            .from_(exp.table_("pg_class", db="pg_catalog", alias="c"))
            .join(
                exp.table_("pg_namespace", db="pg_catalog", alias="n"),
                on=exp.column("oid", "n").eq(exp.column("relnamespace", "c")),
            )
            .where(
                exp.and_(
                    kind.isin(*[exp.Literal.string(k) for k in sorted(_RELKINDS)]),
                    exp.not_(exp.column("nspname", "n").isin(*_SYSTEM_SCHEMAS)),
                    # pg_temp_N, pg_toast_temp_N: other sessions' temporary objects
                    exp.Substring(
                        this=exp.column("nspname", "n"), start=exp.Literal.number(1), length=exp.Literal.number(3)
                    ).neq(exp.Literal.string("pg_")),
                )
            )
        )
        return [Relation(s, n, _RELKINDS[k]) for s, n, k in self.fetch_rows(q)]

    def view_definitions(self) -> dict[tuple[str, str], str]:
        q = (
            exp.select("schemaname", "viewname", "definition")
            .from_("pg_catalog.pg_views")
            .where(exp.not_(exp.column("schemaname").isin(*_SYSTEM_SCHEMAS)))
        )
        return {(s, n): d for s, n, d in self.fetch_rows(q)}

    def describe(self, query: exp.Query) -> list[Column]:
        limited = exp.select("*").from_(query.subquery("q")).limit(0)
        cur = self._run(self.render(limited))
        self.round_trips += 1
        out = []
        for d in cur.description or []:
            out.append(Column(d.name, self._type_name(d)))
        return out

    def _type_name(self, d: psycopg.Column) -> str:
        info = self.conn.adapters.types.get(d.type_code)
        if info is None:
            return "text"
        if info.array_oid == d.type_code:  # psycopg files arrays under their element type
            return f"{info.name}[]"
        name = info.name
        if name == "numeric" and d.precision is not None:
            return f"numeric({d.precision},{d.scale or 0})"
        if name in ("timestamp", "timestamptz") and d.precision is not None:
            return f"{name}({d.precision})"
        return name

    def replace_view(self, target: exp.Table, query: exp.Query) -> None:
        # CREATE OR REPLACE VIEW cannot change a view's columns in Postgres.
        with self.transaction():
            self.drop(target, "VIEW")
            self.create_view(target, query)

    def lock_table(self, target: exp.Table, *, readers: bool = False) -> None:
        # READ COMMITTED lets two "check then insert" transactions interleave; this does not.
        # sqlglot has no LOCK node: a Command around the rendered (quoted) table name.
        mode = "ACCESS EXCLUSIVE" if readers else "EXCLUSIVE"
        self.execute(exp.Command(this="LOCK", expression=exp.var(f"TABLE {self.render(target)} IN {mode} MODE")))

    def arrow_columns(self, schema: pa.Schema) -> list[Column]:
        return [Column(f.name, _pg_type(f.type).lower()) for f in schema]

    def load_arrow(self, target: exp.Table, data: pa.Table) -> None:
        self.create_table(target, [(f.name, _pg_type(f.type)) for f in data.schema])
        self.append_arrow(target, data)

    def append_arrow(self, target: exp.Table, data: pa.Table) -> None:
        copy = exp.Copy(
            this=exp.Schema(this=target, expressions=[ident(n) for n in data.column_names]),
            kind=True,
            files=[exp.var("STDIN")],
        )
        self.round_trips += 1
        if all(_csv_safe(f.type) for f in data.schema):
            # Arrow's CSV writer, in C: 30 times faster than rows through Python. Every value is quoted and a
            # NULL is an empty unquoted field, which COPY's CSV reads back as NULL ("" stays an empty string).
            import pyarrow.csv as pc

            copy.set("params", [exp.CopyParameter(this=exp.var("FORMAT"), expression=exp.var("csv"))])
            options = pc.WriteOptions(include_header=False, quoting_style="all_valid")
            with self.conn.cursor() as cur, cur.copy(self.render(copy).encode()) as writer:
                for batch in data.to_batches(max_chunksize=65_536):
                    sink = pa.BufferOutputStream()
                    pc.write_csv(batch, sink, options)
                    writer.write(sink.getvalue().to_pybytes())
            return
        with self.conn.cursor() as cur, cur.copy(self.render(copy).encode()) as writer:
            for batch in data.to_batches(max_chunksize=65_536):  # bounded memory for Python's row values
                for row in zip(*(c.to_pylist() for c in batch.columns), strict=True):
                    writer.write_row(row)

    def analyze(self, target: exp.Table) -> None:
        # A table filled in bulk has no statistics until autovacuum gets to it: a query planned before
        # then guesses its size and can pick nested loops over thousands of rows.
        self.execute(exp.Analyze(tables=[target]))

    def table_columns(self, target: exp.Table) -> list[Column]:
        attr = exp.table_("pg_attribute", db="pg_catalog", alias="a")
        kind = exp.func("format_type", exp.column("atttypid", "a"), exp.column("atttypmod", "a"))
        q = (
            _catalog(exp.column("attname", "a"), kind)
            .join(attr, on=exp.column("attrelid", "a").eq(exp.column("oid", "c")))
            .where(_named(target), exp.column("attnum", "a") > 0, exp.not_(exp.column("attisdropped", "a")))
            .order_by(exp.column("attnum", "a"))
        )
        return [Column(n, t) for n, t in self.fetch_rows(q)]

    def table_note(self, target: exp.Table) -> str | None:
        note = exp.Anonymous(
            this="obj_description", expressions=[exp.column("oid", "c"), exp.Literal.string("pg_class")]
        )
        rows = self.fetch_rows(_catalog(note).where(_named(target)))
        return rows[0][0] if rows else None

    def set_table_note(self, target: exp.Table, text: str) -> None:
        self.execute(exp.Comment(this=target, kind="TABLE", expression=exp.Literal.string(text)))
