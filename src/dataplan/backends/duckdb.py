"""DuckDB: the embedded default engine."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from sqlglot import exp

from dataplan.backends.base import Backend, Column, Relation, hex_digits
from dataplan.backends.files import partitioned
from dataplan.errors import EngineError
from dataplan.project.nodes import SourceTable
from dataplan.secrets import redact

_TRANSIENT = (duckdb.IOException, duckdb.ConnectionException)


class DuckDBBackend(Backend):
    dialect = "duckdb"
    transactional_ddl = True
    atomic_swap = True
    names_ignore_case = True
    reads_files = True
    late_binding_views = True
    max_identifier_length = 255
    approx_aggregates = True
    approx_method = "distinct counts by HyperLogLog (approx_count_distinct)"
    samples = True

    def __init__(self, path: str, threads: int | None = None, memory_limit: str | None = None) -> None:
        super().__init__()
        self.path = path
        try:
            self.conn = duckdb.connect(path)
        except duckdb.Error as exc:
            raise EngineError(
                f"cannot open DuckDB database {path}: {exc}", transient=isinstance(exc, _TRANSIENT)
            ) from exc
        if threads:
            self.conn.execute("SET threads TO ?", [threads])
        if memory_limit:
            self.conn.execute("SET memory_limit = ?", [memory_limit])
        # Views over file sources name their files relative to the database's folder, and DuckDB finds
        # them through file_search_path: a project moved or copied with its database reads its own files,
        # never the old place's. DuckDB still looks in the working directory after it, as before.
        self.files_dir: Path | None = None
        if path != ":memory:" and "," not in (folder := str(Path(path).resolve().parent)):
            self.files_dir = Path(folder)
            self.conn.execute("SET file_search_path = ?", [folder])

    temp_schema = ("temp", "main")

    @contextmanager
    def _unordered_writes(self) -> Iterator[None]:
        # Keeping insertion order serializes the writers: a test copy of a 1.2M-row windowed view took
        # 21.9 s with it and 12.2 s without. Tests never read a copy in order.
        (keep,) = self.conn.execute("SELECT current_setting('preserve_insertion_order')").fetchone() or (True,)
        self.conn.execute("SET preserve_insertion_order = false")
        try:
            yield
        finally:
            self.conn.execute("SET preserve_insertion_order = ?", [bool(keep)])

    def approx_distinct(self, value: exp.Expr) -> exp.Expr:
        return exp.ApproxDistinct(this=value)

    def sampled(self, query: exp.Select, percent: float) -> exp.Select:
        # USING SAMPLE p% (bernoulli). Not reservoir_quantile: in DuckDB 2.0 it returns the quantiles of
        # the first few thousand rows of an ordered column (ids, timestamps).
        out = query.copy()
        out.set("sample", exp.TableSample(method=exp.var("BERNOULLI"), percent=exp.Literal.number(repr(percent))))
        return out

    def hex_prefix(self, text: exp.Expr, digits: int) -> exp.Expr:
        prefixed = exp.paren(exp.DPipe(this=exp.Literal.string("0x"), expression=hex_digits(text, digits)))
        return exp.cast(prefixed, "BIGINT")

    def row_hash(self, values: list[exp.Expr]) -> exp.Expr:
        return exp.Anonymous(this="hash", expressions=values or [exp.Literal.number(0)])

    def _run(self, sql: str, params: tuple[Any, ...] | None = None) -> Any:
        try:
            return self.conn.execute(sql, params) if params else self.conn.execute(sql)
        except duckdb.Error as exc:
            raise EngineError(redact(f"DuckDB: {exc}"), transient=isinstance(exc, _TRANSIENT)) from exc

    def _inserted(self, result: Any) -> int:
        row = result.fetchone()  # DuckDB answers an INSERT with one row: the count
        return int(row[0]) if row else 0

    def _rows(self, sql: str) -> list[tuple[Any, ...]]:
        cursor = self._run(sql)
        try:
            return list(cursor.fetchall())
        except duckdb.Error as exc:
            raise EngineError(redact(f"DuckDB: {exc}"), transient=isinstance(exc, _TRANSIENT)) from exc

    def _fetch_arrow(self, sql: str) -> pa.Table:
        try:
            rel = self.conn.sql(sql)
            return rel.to_arrow_table() if hasattr(rel, "to_arrow_table") else rel.arrow()
        except duckdb.Error as exc:
            raise EngineError(redact(f"DuckDB: {exc}"), transient=isinstance(exc, _TRANSIENT)) from exc

    def close(self) -> None:
        self.conn.close()

    def relations(self) -> list[Relation]:
        q = (
            exp.select("table_schema", "table_name", "table_type")
            .from_("information_schema.tables")
            .where(exp.column("table_catalog").eq(exp.func("current_database")))
        )
        return [Relation(s, n, "view" if t == "VIEW" else "table") for s, n, t in self.fetch_rows(q)]

    def view_definitions(self) -> dict[tuple[str, str], str]:
        q = (
            exp.select("schema_name", "view_name", "sql")
            .from_(exp.Table(this=exp.Anonymous(this="duckdb_views")))
            .where(exp.not_(exp.column("internal")))
        )
        return {(s, n): d for s, n, d in self.fetch_rows(q)}

    def describe(self, query: exp.Query) -> list[Column]:
        self.round_trips += 1
        try:
            rel = self.conn.sql(self.render(query))
        except duckdb.Error as exc:
            raise EngineError(redact(f"DuckDB: {exc}")) from exc
        return [Column(n, str(t)) for n, t in zip(rel.columns, rel.types, strict=True)]

    def load_arrow(self, target: exp.Table, data: pa.Table) -> None:
        # The Arrow table is bound to a private name for one statement only.
        self.conn.register("__dataplan_arrow", data)
        try:
            self.create_table_as(target, exp.select("*").from_(exp.to_identifier("__dataplan_arrow")))
        finally:
            self.conn.unregister("__dataplan_arrow")

    def arrow_columns(self, schema: pa.Schema) -> list[Column]:
        self.conn.register("__dataplan_arrow", schema.empty_table())
        try:
            return self.describe(exp.select("*").from_(exp.to_identifier("__dataplan_arrow")))
        finally:
            self.conn.unregister("__dataplan_arrow")

    def source_relation(self, source: SourceTable) -> exp.Expr:
        if not source.is_files:
            return super().source_relation(source)
        root = source.files_root
        fmt = source.source.format
        has_dt = partitioned(root)
        shown = root.resolve()
        project = source.project_dir.resolve()
        if self.files_dir is not None and (
            shown.is_relative_to(self.files_dir)
            or (shown.is_relative_to(project) and self.files_dir.is_relative_to(project))
        ):
            # Relative to the database's folder (see files_dir in __init__), also with `..` when both lie in
            # the project (a database under build/, data under data/): a copy of the project reads its own.
            shown = Path(os.path.relpath(shown, self.files_dir))
        pattern = (shown / ("dt=*/*." if has_dt else "*.")).as_posix() + (fmt or "parquet")
        reader = "read_parquet" if fmt == "parquet" else "read_csv"
        args: list[exp.Expr] = [exp.Literal.string(pattern)]
        args.append(exp.EQ(this=exp.var("union_by_name"), expression=exp.true()))
        if has_dt:
            args.append(exp.EQ(this=exp.var("hive_partitioning"), expression=exp.true()))
            args.append(
                exp.EQ(
                    this=exp.var("hive_types"),
                    expression=exp.Struct(
                        expressions=[
                            exp.PropertyEQ(this=exp.Literal.string("dt"), expression=exp.Literal.string("DATE"))
                        ]
                    ),
                )
            )
        return exp.Table(this=exp.Anonymous(this=reader, expressions=args))
