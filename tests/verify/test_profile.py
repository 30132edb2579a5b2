"""Profiles on DuckDB and a real Postgres: every figure from one aggregate query per relation."""

from __future__ import annotations

import math
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
import sqlglot
from sqlglot import exp

from dataplan.backends.base import Backend, column
from dataplan.backends.duckdb import DuckDBBackend
from dataplan.verify.profile import (
    column_kind,
    numeric_class,
    profile,
    profile_deltas,
    quantile_array,
    temporal_precision,
)
from dataplan.verify.relations import parse_relation, relation_columns
from dataplan.verify.reports.common import moved


def open_backend(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> Backend:
    """A DuckDB file in tmp_path, or a fresh Postgres database (pg_dsn)."""
    if engine == "duckdb":
        return DuckDBBackend(str(tmp_path / "verify.duckdb"))
    from dataplan.backends.postgres import PostgresBackend

    return PostgresBackend(str(request.getfixturevalue("pg_dsn")))


def setup(backend: Backend, statements: list[str]) -> None:
    """Test-only setup SQL: fixed statements written in DuckDB SQL, rendered by the backend."""
    for stmt in statements:
        backend.execute(sqlglot.parse_one(stmt, read="duckdb"))


def rel(backend: Backend, text: str) -> exp.Expr:
    return parse_relation(text, backend.dialect)


@pytest.fixture
def backend(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Backend]:
    be = open_backend(engine, tmp_path, request)
    yield be
    be.close()


PROFILE_DATA = [
    "create schema s",
    "create table s.t (id integer, amount double, price decimal(10,2), name varchar, flag boolean, day date)",
    # amount 1..10 and two NULLs; price 0.50 / 1.50 alternating; names a,b,c,a,...; flag true for id <= 3
    "insert into s.t values"
    " (1, 1.0, 0.50, 'a', true, '2024-01-01'), (2, 2.0, 1.50, 'b', true, '2024-01-02'),"
    " (3, 3.0, 0.50, 'c', true, '2024-01-03'), (4, 4.0, 1.50, 'a', false, '2024-01-04'),"
    " (5, 5.0, 0.50, 'b', false, '2024-01-05'), (6, 6.0, 1.50, 'c', false, '2024-01-06'),"
    " (7, 7.0, 0.50, 'a', false, '2024-01-07'), (8, 8.0, 1.50, 'b', false, '2024-01-08'),"
    " (9, 9.0, 0.50, 'c', false, '2024-01-09'), (10, 10.0, 1.50, 'a', false, '2024-01-10'),"
    " (11, null, null, null, null, null), (12, null, 0.50, 'a', null, '2024-03-01')",
]


def test_profile_figures_from_one_query(backend: Backend) -> None:
    setup(backend, PROFILE_DATA)
    r = rel(backend, "s.t")
    cols = relation_columns(backend, r)
    before = backend.round_trips
    p = profile(backend, r, label="s.t", columns=cols)
    # one aggregate for all six columns (after a count(*) that decides exact or sampled)
    assert backend.round_trips - before == 1 + backend.samples
    assert p.row_count == 12 and p.queries == 1 and p.label == "s.t"
    by = {c.column: c for c in p.columns}
    assert [c.kind for c in p.columns] == ["numeric", "numeric", "numeric", "text", "boolean", "temporal"]

    amount = by["amount"]
    assert amount.rows == 12 and amount.nulls == 2
    assert amount.null_pct == pytest.approx(100 * 2 / 12)
    assert amount.distinct == 10
    assert (amount.min, amount.max) == (1.0, 10.0)
    assert amount.mean == pytest.approx(5.5)
    assert amount.stddev == pytest.approx(math.sqrt(sum((x - 5.5) ** 2 for x in range(1, 11)) / 9))
    assert amount.quantiles["p50"] == pytest.approx(5.5)
    assert amount.quantiles["p25"] == pytest.approx(3.25)  # continuous: 1 + 0.25 * 9 positions
    assert amount.quantiles["p99"] == pytest.approx(9.91)
    assert set(amount.quantiles) == {"p01", "p25", "p50", "p75", "p99"}

    price = by["price"]
    assert price.nulls == 1 and price.distinct == 2
    assert (price.min, price.max) == (0.5, 1.5)
    assert price.mean == pytest.approx((6 * 0.5 + 5 * 1.5) / 11)
    assert price.quantiles["p50"] == pytest.approx(0.5)

    name = by["name"]
    assert (name.nulls, name.distinct, name.min, name.max) == (1, 3, "a", "c")
    assert name.mean is None and name.quantiles == {}

    flag = by["flag"]
    assert (flag.nulls, flag.distinct, flag.min, flag.max) == (2, 2, False, True)
    assert flag.mean == pytest.approx(0.3)  # share of true among non-NULL values

    day = by["day"]
    assert day.nulls == 1 and day.distinct == 11
    assert str(day.min) == "2024-01-01" and str(day.max) == "2024-03-01"

    ident = by["id"]
    assert (ident.nulls, ident.distinct, ident.min, ident.max) == (0, 12, 1, 12)


def test_profile_of_a_query_and_an_empty_relation(backend: Backend) -> None:
    setup(backend, PROFILE_DATA)
    q = rel(backend, "query: select amount * 2 as doubled from s.t where amount > 5")
    before = backend.round_trips
    p = profile(backend, q, label="query")  # describe + one aggregate (+ the count(*) on DuckDB)
    assert backend.round_trips - before == 2 + backend.samples
    (doubled,) = p.columns
    assert (p.row_count, doubled.min, doubled.max, doubled.mean) == (5, 12.0, 20.0, 16.0)

    empty = profile(backend, rel(backend, "query: select amount, name from s.t where 1 = 0"), label="empty")
    assert empty.row_count == 0
    assert [(c.nulls, c.null_pct, c.distinct, c.min, c.mean, c.quantiles) for c in empty.columns] == [
        (0, 0.0, 0, None, None, {}),
        (0, 0.0, 0, None, None, {}),
    ]


def test_profile_deltas(backend: Backend) -> None:
    setup(backend, PROFILE_DATA)
    setup(backend, ["create table s.u as select id, amount * 2 as amount, null as price, name from s.t"])
    a = profile(backend, rel(backend, "s.t"), label="a")
    b = profile(backend, rel(backend, "s.u"), label="b")
    deltas = {d.column: d for d in profile_deltas(a, b)}
    assert list(deltas) == ["id", "amount", "price", "name"]  # flag and day are only in A
    assert deltas["amount"].mean_delta_pct == pytest.approx(100.0)
    assert deltas["amount"].null_pct_delta == 0.0
    assert deltas["price"].null_pct_delta == pytest.approx(100 - 100 / 12)
    assert deltas["price"].distinct_delta == -2
    assert deltas["name"].distinct_delta == 0


def test_decimal_min_and_max_stay_exact(backend: Backend) -> None:
    # As floats both maxima were 1.2345678901234568e16: the change was invisible and the column not flagged.
    setup(
        backend,
        [
            "create table a (d decimal(38,2))",
            "create table b (d decimal(38,2))",
            "insert into a values (12345678901234567.01), (-1.10)",
            "insert into b values (12345678901234567.09), (-1.10)",
        ],
    )
    pa, pb = profile(backend, rel(backend, "a"), label="a"), profile(backend, rel(backend, "b"), label="b")
    (da,), (db,) = pa.columns, pb.columns
    assert isinstance(da.max, Decimal) and isinstance(da.min, Decimal)
    assert (str(da.min), str(da.max), str(db.max)) == ("-1.10", "12345678901234567.01", "12345678901234567.09")
    (delta,) = profile_deltas(pa, pb)
    assert moved(delta)
    assert da.mean == pytest.approx(float(Decimal("12345678901234565.91") / 2))  # the mean stays a float


@pytest.mark.parametrize(
    ("engine_type", "kind", "cls"),
    [
        ("INTEGER", "numeric", "integer"),
        ("int4", "numeric", "integer"),
        ("HUGEINT", "numeric", "integer"),
        ("DOUBLE", "numeric", "float"),
        ("float8", "numeric", "float"),
        ("DECIMAL(18,2)", "numeric", "decimal"),
        ("numeric(10,3)", "numeric", "decimal"),
        ("VARCHAR", "text", None),
        ("bpchar", "text", None),
        ("ENUM('x', 'y')", "text", None),
        ("BOOLEAN", "boolean", None),
        ("bool", "boolean", None),
        ("DATE", "temporal", None),
        ("TIMESTAMP WITH TIME ZONE", "temporal", None),
        ("timestamptz", "temporal", None),
        ("TIMESTAMP_NS", "temporal", None),
        ("INTEGER[]", "other", None),
        ("STRUCT(a INTEGER)", "other", None),
        ("jsonb", "other", None),
        ("UUID", "other", None),
        ("INTERVAL", "other", None),
    ],
)
def test_column_kind(engine_type: str, kind: str, cls: str | None) -> None:
    assert column_kind(engine_type) == kind
    assert numeric_class(engine_type) == cls


def test_temporal_precision() -> None:
    assert [
        temporal_precision(t)
        for t in ["DATE", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP", "timestamptz", "TIMESTAMP_NS", "timestamp(3)"]
    ] == ["DAY", "SECOND", "MILLISECOND", "MICROSECOND", "MICROSECOND", "NANOSECOND", "MILLISECOND"]
    assert temporal_precision("timestamp(0)") == "SECOND"
    assert temporal_precision("TIME") is None and temporal_precision("VARCHAR") is None


def test_quantiles_render_for_both_engines() -> None:
    q = quantile_array(column("x"), [0.25, 0.5])
    assert q.sql(dialect="duckdb", identify=True) == 'QUANTILE_CONT("x", [0.25, 0.5] ORDER BY "x")'
    pg = q.sql(dialect="postgres", identify=True)
    assert pg == 'PERCENTILE_CONT(ARRAY[0.25, 0.5]) WITHIN GROUP (ORDER BY "x")'


def test_wide_relation_takes_one_query_per_hundred_columns(backend: Backend) -> None:
    cols = ", ".join(f"g + {i} as c{i}" for i in range(150))
    setup(backend, [f"create table w as select {cols} from generate_series(1, 10) as t(g)"])
    r = rel(backend, "w")
    columns = relation_columns(backend, r)
    before = backend.round_trips
    p = profile(backend, r, label="w", columns=columns)
    assert backend.round_trips - before == 2 + backend.samples and p.queries == 2
    assert [(c.column, c.min, c.max) for c in p.columns][::50] == [("c0", 1, 10), ("c50", 51, 60), ("c100", 101, 110)]
    assert all(c.rows == 10 and c.distinct == 10 for c in p.columns)


BIG_PROFILE = [
    "create table big as select g as id, cast(g % 1000 as double) as x, 'v' || cast(g % 300 as varchar) as s,"
    " g % 2 = 0 as even from generate_series(1, 20000) as t(g)",
]


def test_above_the_exact_limit_distincts_and_quantiles_are_approximate(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataplan.verify.profile as profile_module

    setup(backend, BIG_PROFILE)
    monkeypatch.setattr(profile_module, "EXACT_ROWS", 10_000)
    monkeypatch.setattr(profile_module, "QUANTILE_SAMPLE", 5_000)  # quantiles from about a quarter of the rows
    r = rel(backend, "big")
    p = profile(backend, r, label="big")
    by = {c.column: c for c in p.columns}
    assert "Bernoulli sample" in p.method
    assert by["id"].approximate and by["x"].approximate and not by["even"].approximate
    if backend.approx_aggregates:  # DuckDB: HyperLogLog distinct counts, within 5 %
        assert "HyperLogLog" in p.method and by["s"].approximate and by["id"].distinct_approximate
        assert by["id"].distinct == pytest.approx(20000, rel=0.05)
        assert by["s"].distinct == pytest.approx(300, rel=0.05)
    else:  # Postgres has no approximate count: distinct counts stay exact, only quantiles are sampled
        assert "distinct counts exact" in p.method and not by["s"].approximate
        assert not any(c.distinct_approximate for c in p.columns)
        assert (by["id"].distinct, by["s"].distinct) == (20000, 300)
    # sampled quantiles within 2 % of the range; min, max, mean and nulls stay exact
    assert by["x"].quantiles["p50"] == pytest.approx(499.5, abs=20)
    assert by["x"].quantiles["p99"] == pytest.approx(989.0, abs=20)
    # an ordered column (ids, timestamps): the sample spans the whole table, not its first rows
    assert by["id"].quantiles["p25"] == pytest.approx(5000, abs=400)
    assert by["id"].quantiles["p99"] == pytest.approx(19800, abs=400)
    assert (by["x"].min, by["x"].max, by["x"].mean) == (0.0, 999.0, pytest.approx(499.5))
    exact = profile(backend, r, label="big", exact=True)
    ex = {c.column: c for c in exact.columns}
    assert exact.method == "exact" and ex["id"].distinct == 20000 and ex["s"].distinct == 300
    assert ex["x"].quantiles["p50"] == pytest.approx(499.5) and not ex["x"].approximate


SHIFTED = [
    # epoch-like values: a mean of 1.7e9 and a spread of a few units, where sum(v^2) - sum(v)^2/n loses every digit
    "create table epochs as select g as id, 1700000000.0 + cast(g % 7 as double) + 0.25 as t,"
    " cast(g % 1000 as decimal(12, 2)) / 8 as amount, case when g % 5 = 0 then null else g end as sparse,"
    " cast(null as double) as empty from generate_series(1, 20000) as t(g)",
]


def test_above_the_exact_limit_mean_and_stddev_stay_exact(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    import dataplan.verify.profile as profile_module

    setup(backend, SHIFTED)
    monkeypatch.setattr(profile_module, "EXACT_ROWS", 10_000)
    p = profile(backend, rel(backend, "epochs"), label="epochs")
    by = {c.column: c for c in p.columns}
    g = np.arange(1, 20001)
    expected = {
        "t": 1700000000.0 + (g % 7) + 0.25,
        "amount": (g % 1000) / 8,
        "sparse": g[g % 5 != 0].astype(float),
    }
    for name, values in expected.items():
        assert by[name].mean == pytest.approx(float(values.mean()), rel=1e-12), name
        assert by[name].stddev == pytest.approx(float(values.std(ddof=1)), rel=1e-9), name
        assert by[name].nulls == 20000 - values.size
    assert by["empty"].mean is None and by["empty"].stddev is None and by["empty"].nulls == 20000
    # both sample their quantiles; Postgres keeps stddev_samp, DuckDB takes the shifted sums
    assert p.method != "exact"


HUGE = [
    # sums of these overflow a double: Postgres failed the profile, DuckDB reported inf or NaN
    "create table huge as select g as id, case when g % 4 = 0 then -1e308 when g % 4 = 1 then 1e308"
    " else cast(g % 4 as double) end as x, 1.0e308 as y from generate_series(1, 20000) as t(g)",
]


@pytest.mark.parametrize("exact_rows", [1_000_000, 10_000])
def test_moments_near_the_largest_double_are_computed_scaled(
    backend: Backend, monkeypatch: pytest.MonkeyPatch, exact_rows: int
) -> None:
    import dataplan.verify.profile as profile_module

    setup(backend, HUGE)
    monkeypatch.setattr(profile_module, "EXACT_ROWS", exact_rows)  # 10,000: DuckDB's shifted sums
    p = profile(backend, rel(backend, "huge"), label="huge")
    by = {c.column: c for c in p.columns}
    g = np.arange(1, 20001)
    x = np.where(g % 4 == 0, -1e308, np.where(g % 4 == 1, 1e308, (g % 4).astype(float)))
    # the mean is 1.25; at this magnitude a double sum keeps it to about 1e-12 of the largest value
    assert by["x"].mean == pytest.approx(1.25, abs=1e296)
    assert by["x"].stddev == pytest.approx(float(np.std(x / 2**600, ddof=1) * 2**600), rel=1e-9)
    assert by["y"].mean == pytest.approx(1e308, rel=1e-12) and by["y"].stddev == pytest.approx(0.0, abs=1e297)
    assert (by["x"].min, by["x"].max) == (-1e308, 1e308)
    # the other columns are not scaled: their squares would underflow (id's deviation came back as 0)
    assert by["id"].mean == pytest.approx(10000.5)
    assert by["id"].stddev == pytest.approx(float(np.std(g, ddof=1)), rel=1e-9)
