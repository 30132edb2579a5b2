"""Loading Arrow tables into Postgres (seeds and file sources): every value comes back as it went in."""

from __future__ import annotations

import datetime as dt
import decimal
import math

import pyarrow as pa
from sqlglot import exp

from dataplan.backends.base import table
from dataplan.backends.postgres import PostgresBackend

UTC = dt.UTC
TRICKY = pa.table(
    {
        "id": pa.array([1, 2, 3, 4], pa.int64()),
        "small": pa.array([1, None, -32768, 32767], pa.int16()),
        "text": pa.array(['say "hi"', "", None, "a,b\nc\\d"]),  # quotes, empty, NULL, comma/newline/backslash
        "x": pa.array([0.1 + 0.2, float("nan"), float("inf"), None]),
        "amount": pa.array(
            [decimal.Decimal("1.50"), None, decimal.Decimal("-0.01"), decimal.Decimal("12345.67")], pa.decimal128(10, 2)
        ),  # fmt: skip
        "flag": pa.array([True, False, None, True]),
        "day": pa.array([dt.date(2025, 1, 1), None, dt.date(1999, 12, 31), dt.date(2025, 2, 28)]),
        "at": pa.array(
            [dt.datetime(2025, 1, 1, 12, 0, 0, 123456), None, dt.datetime(2000, 1, 1), None], pa.timestamp("us")
        ),  # fmt: skip
        "at_utc": pa.array([dt.datetime(2025, 1, 1, 12, 0, tzinfo=UTC), None, None, None], pa.timestamp("us", "UTC")),
    }
)


def _back(backend: PostgresBackend, target: exp.Table) -> list[tuple[object, ...]]:
    return [tuple(r) for r in backend.fetch_rows(exp.select("*").from_(target).order_by("id"))]


def test_loaded_values_come_back_exactly_through_the_csv_copy(pg_dsn: str) -> None:
    backend = PostgresBackend(pg_dsn)
    try:
        backend.create_schema("s")
        target = table("s", "tricky")
        backend.load_arrow(target, TRICKY)
        rows = _back(backend, target)
        types = {c.name: c.type for c in backend.table_columns(target)}
    finally:
        backend.close()
    assert types == {
        "id": "bigint", "small": "smallint", "text": "text", "x": "double precision", "amount": "numeric(10,2)",
        "flag": "boolean", "day": "date", "at": "timestamp without time zone", "at_utc": "timestamp with time zone",
    }  # fmt: skip
    expected = TRICKY.to_pylist()
    assert [r[0] for r in rows] == [1, 2, 3, 4]
    for got, want in zip(rows, expected, strict=True):
        for (name, value), back in zip(want.items(), got, strict=True):
            if isinstance(value, float) and math.isnan(value):
                assert isinstance(back, float) and math.isnan(back), name
            else:
                assert back == value, (name, back, value)
    assert rows[1][2] == "" and rows[2][2] is None  # an empty string stays one; NULL stays NULL


def test_bytes_are_loaded_row_by_row(pg_dsn: str) -> None:
    backend = PostgresBackend(pg_dsn)
    try:
        backend.create_schema("s")
        target = table("s", "blobs")
        backend.load_arrow(target, pa.table({"id": [1, 2], "b": pa.array([b"\x00\xff,\n", None], pa.binary())}))
        assert _back(backend, target) == [(1, b"\x00\xff,\n"), (2, None)]
    finally:
        backend.close()
