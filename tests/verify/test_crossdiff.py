"""Checksum-bisection diff across two connections: DuckDB (in memory) against a real Postgres."""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest
import sqlglot
from sqlglot import exp

from dataplan.backends.base import Backend, column, table
from dataplan.backends.duckdb import DuckDBBackend
from dataplan.backends.postgres import PostgresBackend
from dataplan.verify.canonical import canonical_text, column_rule, engine_kind, is_tz_type, joint_kind, values_equal
from dataplan.verify.crossdiff import Interval, _Side, bisect_diff
from dataplan.verify.model import RowDiff, Tolerance

COLUMNS = ["code", "region", "amount", "price", "qty", "status", "active", "day", "ts"]


def make_rows(ids: list[int], seed: int = 1) -> list[dict[str, Any]]:
    """Deterministic rows with every kind of column, NULLs included."""
    rng = random.Random(seed)
    regions = ["eu", "us", "apac", "latam"]
    out = []
    for i in ids:
        out.append(
            {
                "id": i,
                "code": f"K-{i * 7919 % 1000003:07d}-{i}",  # unique; its order is not the id order
                "region": regions[i % 4],
                "seq": i // 4,  # (region, seq) is unique
                "amount": round(rng.uniform(-1000, 1000), 4) if i % 13 else None,
                "price": Decimal(rng.randint(0, 10**7)) / 100 if i % 17 else None,
                "qty": rng.randint(0, 50) if i % 11 else None,
                "status": rng.choice(["paid", "open", "void", "naïve ☕"]) if i % 7 else None,
                "active": rng.choice([True, False]) if i % 5 else None,
                "day": dt.date(2024, 1, 1) + dt.timedelta(days=i % 700),
                "ts": dt.datetime(2024, 1, 1) + dt.timedelta(seconds=i * 37, microseconds=i % 1000 * 1001),
            }
        )
    return out


SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("code", pa.string()),
        ("region", pa.string()),
        ("seq", pa.int64()),
        ("amount", pa.float64()),
        ("price", pa.decimal128(12, 2)),
        ("qty", pa.int64()),
        ("status", pa.string()),
        ("active", pa.bool_()),
        ("day", pa.date32()),
        ("ts", pa.timestamp("us")),
    ]
)


def load(backend: Backend, rows: list[dict[str, Any]], name: str = "t") -> exp.Table:
    target = table("main" if isinstance(backend, DuckDBBackend) else "public", name)
    backend.load_arrow(target, pa.Table.from_pylist(rows, schema=SCHEMA))
    return target


def run(
    a: Backend,
    ra: exp.Expr,
    b: Backend,
    rb: exp.Expr,
    key: list[str],
    tolerance: Tolerance | None = None,
    sample_size: int = 20,
    columns: list[str] = COLUMNS,
) -> tuple[RowDiff, int, int]:
    """The diff and the statements it sent to each side."""
    trips_a, trips_b = a.round_trips, b.round_trips
    result = bisect_diff(a, ra, b, rb, key, [c for c in columns if c not in key], tolerance or Tolerance(), sample_size)
    return result, a.round_trips - trips_a, b.round_trips - trips_b


def mismatches(result: RowDiff) -> dict[str, int]:
    return {c.column: c.mismatches for c in result.columns if c.mismatches}


def mutate(rows: list[dict[str, Any]], seed: int = 5) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """B = A with 10 changed rows, 5 rows missing and 5 extra; returns B and what was done."""
    rng = random.Random(seed)
    picked = rng.sample(range(len(rows)), 15)
    changed_idx, missing_idx = picked[:10], picked[10:]
    b = [dict(r) for r in rows]
    plan = ["amount", "amount", "amount", "price", "price", "status", "status", "qty", "active", "ts"]
    per_column: dict[str, int] = {}
    for idx, col in zip(changed_idx, plan, strict=True):
        row = b[idx]
        if col == "amount":
            row["amount"] = 1.5 if row["amount"] is None else row["amount"] + 0.5
        elif col == "price":
            row["price"] = Decimal("0.01") if row["price"] is None else row["price"] + Decimal("0.01")
        elif col == "status":
            row["status"] = None if row["status"] is not None else "paid"  # value <-> NULL
        elif col == "qty":
            row["qty"] = (row["qty"] or 0) + 1
        elif col == "active":
            row["active"] = not row["active"]
        else:
            row["ts"] = row["ts"] + dt.timedelta(microseconds=1)
        per_column[col] = per_column.get(col, 0) + 1
    top = max(r["id"] for r in rows)
    extra = make_rows([top + 1000 * (k + 1) for k in range(5)], seed=99)
    b = [r for i, r in enumerate(b) if i not in set(missing_idx)] + extra
    rng.shuffle(b)
    return b, {
        "changed": sorted(rows[i]["id"] for i in changed_idx),
        "missing": sorted(rows[i]["id"] for i in missing_idx),
        "extra": sorted(r["id"] for r in extra),
        "per_column": per_column,
        "rows": {r["id"]: r for r in rows},
    }


def by_id(done: dict[str, Any], field: str, ids: list[int]) -> list[Any]:
    return sorted(done["rows"].get(i, {}).get(field) for i in ids)


# -- identical data ----------------------------------------------------------------


def test_identical_tables_download_nothing(duck: DuckDBBackend, pg: PostgresBackend) -> None:
    rows = make_rows(list(range(1, 10_001)))
    ra, rb = load(duck, rows), load(pg, list(reversed(rows)))
    for key in (["id"], ["code"], ["region", "seq"]):
        result, trips_a, trips_b = run(duck, ra, pg, rb, key)
        assert (result.only_a, result.only_b, result.changed, result.unchanged) == (0, 0, 0, 10_000), key
        assert result.method == "checksum-bisect"
        assert result.rows_downloaded == 0
        assert not (result.sample_only_a or result.sample_only_b or result.sample_changed)
        assert mismatches(result) == {}
        assert [c.column for c in result.columns] == [c for c in COLUMNS if c not in key]
        assert max(trips_a, trips_b) <= 3  # describe, (key bounds,) one grouped checksum query


# -- differences -------------------------------------------------------------------


def test_changed_missing_and_extra_rows_are_found_exactly(duck: DuckDBBackend, pg: PostgresBackend) -> None:
    n = 30_000
    rows = make_rows(list(range(1, n + 1)))
    rows_b, done = mutate(rows)
    ra, rb = load(duck, rows), load(pg, rows_b)
    result, trips_a, trips_b = run(duck, ra, pg, rb, ["id"])

    assert (result.only_a, result.only_b, result.changed) == (5, 5, 10)
    assert result.unchanged == n - 15
    assert mismatches(result) == done["per_column"]
    rates = {c.column: c.rate for c in result.columns}
    assert rates["amount"] == pytest.approx(done["per_column"]["amount"] / (n - 5))
    assert [s["id"] for s in result.sample_only_a] == done["missing"]
    assert [s["id"] for s in result.sample_only_b] == done["extra"]
    assert [s["id"] for s in result.sample_changed] == done["changed"]
    assert result.sample_only_a[0]["code"] == done["rows"][done["missing"][0]]["code"]  # whole rows
    for sample in result.sample_changed:
        changed_cols = set(sample) - {"id"}
        assert len(changed_cols) == 1
        col = changed_cols.pop()
        before, after = sample[col]
        assert before == done["rows"][sample["id"]][col]
        assert before != after
    # Only the small ranges around the 20 differences were read; the rest was checksummed.
    assert 0 < result.rows_downloaded < 0.05 * n
    assert max(trips_a, trips_b) <= 8  # describe, bounds, 2 levels of checksums, downloads: not one per row
    assert result.segments_checked < 1000


def test_string_key_with_postgres_as_side_a(duck: DuckDBBackend, pg: PostgresBackend) -> None:
    rows = make_rows(list(range(1, 15_001)), seed=3)
    rows_b, done = mutate(rows, seed=8)
    ra, rb = load(pg, rows), load(duck, rows_b)
    result, _, _ = run(pg, ra, duck, rb, ["code"])
    assert (result.only_a, result.only_b, result.changed, result.unchanged) == (5, 5, 10, 15_000 - 15)
    assert mismatches(result) == done["per_column"]
    # Samples are ordered by the key (code), not by id.
    assert [s["code"] for s in result.sample_only_a] == by_id(done, "code", done["missing"])
    assert [s["code"] for s in result.sample_changed] == by_id(done, "code", done["changed"])
    extra_codes = sorted(r["code"] for r in rows_b if r["id"] in set(done["extra"]))
    assert [s["code"] for s in result.sample_only_b] == extra_codes
    assert result.rows_downloaded < 0.05 * len(rows)


def test_composite_key(duck: DuckDBBackend, pg: PostgresBackend) -> None:
    rows = make_rows(list(range(1, 10_001)), seed=4)
    rows_b, done = mutate(rows, seed=11)
    ra, rb = load(duck, rows), load(pg, rows_b)
    result, _, _ = run(duck, ra, pg, rb, ["region", "seq"], sample_size=3)
    assert (result.only_a, result.only_b, result.changed, result.unchanged) == (5, 5, 10, 10_000 - 15)
    assert mismatches(result) == done["per_column"]
    want = sorted((done["rows"][i]["region"], done["rows"][i]["seq"]) for i in done["changed"])[:3]
    assert [(s["region"], s["seq"]) for s in result.sample_changed] == want  # limited to sample_size, by key
    assert len(result.sample_only_a) == 3 and len(result.sample_only_b) == 3
    assert result.rows_downloaded < 0.05 * len(rows)


def test_float_tolerance(duck: DuckDBBackend, pg: PostgresBackend) -> None:
    rows = [{**r, "amount": (r["id"] * 0.731) ** 1.5} for r in make_rows(list(range(1, 5001)))]
    rows_b = [dict(r) for r in rows]
    for r in rows_b:
        r["amount"] += 1e-12  # noise every float engine might produce
    shifted = [17, 2424, 4001]
    for i in shifted:
        rows_b[i - 1]["amount"] += 0.5
    ra, rb = load(duck, rows), load(pg, rows_b)

    for tol in (Tolerance(rel=1e-9), Tolerance(abs=1e-6), Tolerance(abs=1e-6, rel=1e-9)):
        result, _, _ = run(duck, ra, pg, rb, ["id"], tol)
        assert result.changed == 3, tol
        assert mismatches(result) == {"amount": 3}
        assert [s["id"] for s in result.sample_changed] == shifted
        # Values within tolerance share a checksum bucket: only the 3 ranges holding a 0.5 are read.
        assert result.rows_downloaded <= 3 * 2 * math.ceil(len(rows) / 32), tol

    exact, _, _ = run(duck, ra, pg, rb, ["id"], Tolerance(), columns=["amount"])
    moved = sum(1 for x, y in zip(rows, rows_b, strict=True) if x["amount"] != y["amount"])
    assert 100 < exact.changed == moved  # without a tolerance every 1e-12 that moved a double counts


def test_nulls_are_equal_and_null_changes_are_found(duck: DuckDBBackend, pg: PostgresBackend) -> None:
    rows = make_rows(list(range(1, 2001)))
    nulls = {**rows[0], **{c: None for c in COLUMNS if c not in ("code", "region")}}
    rows[0] = nulls
    rows_b = [dict(r) for r in rows]
    rows_b[1]["amount"] = None  # value -> NULL
    rows_b[0]["qty"] = 3  # NULL -> value
    ra, rb = load(duck, rows), load(pg, rows_b)
    result, _, _ = run(duck, ra, pg, rb, ["id"])
    assert (result.changed, result.only_a, result.only_b) == (2, 0, 0)
    assert mismatches(result) == {"amount": 1, "qty": 1}
    assert result.sample_changed == [{"id": 1, "qty": [None, 3]}, {"id": 2, "amount": [rows[1]["amount"], None]}]


def test_one_sided_ranges_are_counted_not_downloaded(duck: DuckDBBackend, pg: PostgresBackend) -> None:
    rows = make_rows(list(range(1, 20_001)))
    ra, rb = load(duck, rows), load(pg, rows[:5000])
    result, _, _ = run(duck, ra, pg, rb, ["id"], sample_size=5)
    assert (result.only_a, result.only_b, result.changed, result.unchanged) == (15_000, 0, 0, 5000)
    assert [s["id"] for s in result.sample_only_a] == [5001, 5002, 5003, 5004, 5005]
    assert result.rows_downloaded < 200

    empty = exp.select("*").from_(table("public", "t")).where(exp.false())
    result, _, _ = run(duck, ra, pg, empty, ["code"], sample_size=2)
    assert (result.only_a, result.only_b, result.unchanged) == (20_000, 0, 0)
    assert [s["code"] for s in result.sample_only_a] == sorted(r["code"] for r in rows)[:2]


def test_query_relations_time_zones_and_mixed_types(duck: DuckDBBackend, pg: PostgresBackend) -> None:
    """Time-zone-aware values compare as instants; int vs numeric, decimal vs double and REAL still match."""
    rows = make_rows(list(range(1, 3001)))
    load(duck, rows)
    load(pg, rows)
    duck.execute(sqlglot.parse_one("SET TimeZone = 'Asia/Tokyo'", read="duckdb"))
    pg.execute(sqlglot.parse_one("SET TIME ZONE 'America/New_York'", read="postgres"))

    def query(backend: Backend, schema: str, bump: bool) -> exp.Query:
        utc = exp.AtTimeZone(this=column("ts"), zone=exp.Literal.string("UTC"))  # naive UTC -> instant
        ts: exp.Expr = exp.Add(this=utc, expression=exp.Interval(this=exp.Literal.string("1"), unit=exp.var("HOUR")))
        ts = exp.If(this=column("id").eq(7), true=ts, false=utc.copy()) if bump else utc.copy()
        cast = "NUMERIC(20,0)" if backend is pg else "BIGINT"
        return exp.select(
            column("id"),
            exp.alias_(ts, "ts", quoted=True),
            exp.alias_(exp.cast(column("qty"), cast), "qty", quoted=True),
            exp.alias_(exp.cast(column("price"), "DOUBLE") if backend is pg else column("price"), "price", quoted=True),
            exp.alias_(exp.cast(column("amount"), "FLOAT"), "amount4", quoted=True),  # REAL: 4-byte floats
        ).from_(table(schema, "t"))

    qa, qb = query(duck, "main", False), query(pg, "public", False)
    kinds = {c.name: c.type for c in pg.describe(qb)}
    assert is_tz_type(kinds["ts"], "postgres") and kinds["qty"].startswith("numeric")
    cols = ["ts", "qty", "price", "amount4"]
    same, _, _ = run(duck, qa, pg, qb, ["id"], columns=cols)
    assert (same.changed, same.only_a, same.only_b, same.rows_downloaded) == (0, 0, 0, 0)
    bumped, _, _ = run(duck, qa, pg, query(pg, "public", True), ["id"], columns=cols)
    assert bumped.changed == 1 and mismatches(bumped) == {"ts": 1}
    before, after = bumped.sample_changed[0]["ts"]
    assert after - before == dt.timedelta(hours=1)


# -- the canonical text itself ---------------------------------------------------------


TRICKY_FLOATS = [
    0.0, -0.0, 1.0, -1.0, 0.1, 0.2 + 0.1, 1 / 3, 1e-300, 5e-324, 2.0**-900, 1e300, 1.7976931348623157e308,
    math.nan, math.inf, -math.inf, 2.0**52, 2.0**53 + 2, 123456.789, -0.5, 1e-7,
    *[2.0**k for k in range(-40, 40, 3)],
    *[math.nextafter(2.0**k, 0) for k in range(-40, 40, 3)],
    *[math.nextafter(2.0**k, math.inf) for k in range(-40, 40, 3)],
]  # fmt: skip


def test_canonical_text_is_the_same_on_both_engines(duck: DuckDBBackend, pg: PostgresBackend) -> None:
    rng = random.Random(2)
    floats = (
        TRICKY_FLOATS + [rng.uniform(-1e6, 1e6) for _ in range(200)] + [rng.lognormvariate(0, 40) for _ in range(200)]
    )
    n = len(floats)
    data = pa.table(
        {
            "id": list(range(n)),
            "f": floats,
            "d": pa.array([Decimal(rng.randint(-(10**9), 10**9)) / 1000 for _ in range(n)], pa.decimal128(18, 3)),
            "s": [rng.choice(["a", "é", "e\u0301", "😀x", "", "a:b", "~", "7:abc", "O'Neil", ";"]) for _ in range(n)],
            "b": [rng.choice([True, False]) for _ in range(n)],
            "day": [dt.date(1999, 12, 31) + dt.timedelta(days=rng.randint(0, 30000)) for _ in range(n)],
            "ts": [dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=rng.randint(0, 2 * 10**15)) for _ in range(n)],
            "i": [rng.randint(-(2**62), 2**62) for _ in range(n)],
        }
    )
    duck.load_arrow(table("main", "c"), data)
    pg.load_arrow(table("public", "c"), data)
    ta = {c.name: c.type for c in duck.describe(exp.select("*").from_(table("main", "c")))}
    tb = {c.name: c.type for c in pg.describe(exp.select("*").from_(table("public", "c")))}
    names = [c for c in data.column_names if c != "id"]

    def value(name: str) -> Callable[[], exp.Expr]:
        return lambda: column(name)

    for tol in (Tolerance(), Tolerance(rel=1e-9), Tolerance(abs=1e-6), Tolerance(abs=0.01, rel=1e-6)):
        got = []
        for be, schema, types in ((duck, "main", ta), (pg, "public", tb)):
            outs = [column("id")]
            for c in names:
                kind = joint_kind(engine_kind(ta[c], "duckdb"), engine_kind(tb[c], "postgres"))
                tz = is_tz_type(types[c], be.dialect)
                outs.append(exp.alias_(canonical_text(value(c), kind, tol, tz_aware=tz), c, quoted=True))
            got.append(be.fetch_rows(exp.select(*outs).from_(table(schema, "c")).order_by(column("id"))))
        assert got[0] == got[1], tol

    # The whole pipeline: per-row positions (the key hashed) and checksum terms agree too. Postgres
    # decomposes floats from their IEEE bits there (float8send), DuckDB by arithmetic: same texts.
    kinds = [joint_kind(engine_kind(ta[c], "duckdb"), engine_kind(tb[c], "postgres")) for c in ["id", *names]]
    for tol in (Tolerance(), Tolerance(rel=1e-9), Tolerance(abs=1e-6), Tolerance(abs=0.01, rel=1e-6)):
        terms = []
        for be, schema in ((duck, "main"), (pg, "public")):
            side = _Side(be, table(schema, "c"), ["id", *names], 1, kinds, [False] * len(kinds), tol, False)
            q = exp.select("*").from_(side.frame(None, True).subquery("f"))
            terms.append(sorted(be.fetch_rows(q)))
        assert terms[0] == terms[1], tol
        if tol == Tolerance():
            assert len({t[1] for t in terms[0]}) == n  # every row its own checksum term (the texts all differ)


def test_kinds_and_local_comparison() -> None:
    assert engine_kind("int8", "postgres") == "int" and engine_kind("HUGEINT", "duckdb") == "int"
    assert engine_kind("numeric(18,2)", "postgres") == "decimal" and engine_kind("DECIMAL(9,3)", "duckdb") == "decimal"
    assert (
        engine_kind("float8", "postgres") == "float"
        and engine_kind("TIMESTAMP WITH TIME ZONE", "duckdb") == "timestamp"
    )
    assert engine_kind("no such type(", "duckdb") == "other"
    assert joint_kind("int", "decimal") == "decimal" and joint_kind("decimal", "float") == "float"
    assert joint_kind("date", "timestamp") == "date" and joint_kind("text", "int") == "other"
    tol = Tolerance(abs=0.0, rel=1e-9)
    assert values_equal(1.0, 1.0 + 1e-12, "float", tol) and not values_equal(1.0, 1.5, "float", tol)
    assert values_equal(math.nan, math.nan, "float", tol) and values_equal(None, None, "float", tol)
    assert not values_equal(None, 0.0, "float", tol) and not values_equal(math.inf, 1e308, "float", tol)
    assert values_equal(Decimal("1.50"), Decimal("1.5"), "decimal", tol)
    assert not values_equal(Decimal("1.50"), Decimal("1.500000000001"), "decimal", Tolerance(rel=0.1))
    assert Interval(0, 99).children(32)[0] == Interval(0, 3) and Interval(0, 99).children(32)[-1] == Interval(96, 99)
    assert Interval(5, 7).children(32) == [Interval(5, 5), Interval(6, 6), Interval(7, 7)]
    assert sum(c.hi - c.lo + 1 for c in Interval(-(10**12), 10**12).children(32)) == 2 * 10**12 + 1


def test_json_documents_compare_as_documents(duck: DuckDBBackend, pg: PostgresBackend) -> None:
    # DuckDB keeps each document's text; Postgres jsonb reorders keys and respaces it, and psycopg parses
    # json to dicts: every row showed as changed.
    duck.execute(
        sqlglot.parse_one(
            'create table t as select g as id, cast(case when g % 3 = 0 then \'{"b": [1, 2.50], "a": "x"}\''
            ' else \'{"a":"x","b":[1,2.5]}\' end as json) as j, cast(\'[1, true]\' as json) as k'
            " from generate_series(1, 600) as t(g)",
            read="duckdb",
        )
    )
    pg.execute(
        sqlglot.parse_one(
            'create table t as select g as id, cast(case when g = 7 then \'{"a": "x", "b": [1, 3]}\''
            ' else \'{"a":"x","b":[1,2.5]}\' end as jsonb) as j,'
            " cast(case when g = 8 then '[1, 1]' else '[1,true]' end as json) as k"
            " from generate_series(1, 600) as t(g)",
            read="postgres",
        )
    )
    assert (
        engine_kind("JSON", "duckdb") == engine_kind("jsonb", "postgres") == engine_kind("json", "postgres") == "json"
    )
    result, _, _ = run(duck, table("main", "t"), pg, table("public", "t"), ["id"], columns=["j", "k"])
    assert (result.changed, result.only_a, result.only_b) == (2, 0, 0)
    assert mismatches(result) == {"j": 1, "k": 1}  # true is not 1
    assert [row["id"] for row in result.sample_changed] == [7, 8]
    assert result.sample_changed[0]["j"][1] == {"a": "x", "b": [1, 3]}


def test_one_connection_on_both_sides_agrees_with_two(duck: DuckDBBackend, pg: PostgresBackend) -> None:
    # Two connections query each level's sides at once (one thread each); one connection takes turns.
    rows = make_rows(list(range(1, 3_001)))
    b_rows, done = mutate(rows)
    ra, rb = load(duck, rows), load(duck, b_rows, name="u")
    same, _, _ = run(duck, ra, duck, rb, ["id"])
    two, _, _ = run(duck, ra, pg, load(pg, b_rows, name="u"), ["id"])
    for result in (same, two):
        assert (result.only_a, result.only_b, result.changed) == (5, 5, 10)
        assert mismatches(result) == done["per_column"]
    assert same.sample_changed == two.sample_changed


@pytest.mark.parametrize("digits", [8, 15])
def test_hex_prefixes_parse_to_the_same_integer_everywhere(
    duck: DuckDBBackend, pg: PostgresBackend, digits: int
) -> None:
    texts = ["0" * 32, "f" * 32, "0123456789abcdef0123456789abcdef", "a1b2c3d4e5f60718293a4b5c6d7e8f90"]
    expected = [int(t[:digits], 16) for t in texts]
    for be in (duck, pg):
        for spelling in (type(be).hex_prefix, Backend.hex_prefix):  # the native parse, the portable one
            got = [be.fetch_value(exp.select(spelling(be, exp.Literal.string(t), digits))) for t in texts]
            assert got == expected, (be.dialect, spelling.__qualname__)


# -- the one-engine type rules, across engines ---------------------------------------------


def typed(backend: Backend, name: str, id_type: str, v_type: str, rows: list[tuple[str, str]]) -> exp.Table:
    """A test table from fixed literals, in the backend's own SQL."""
    backend.execute(sqlglot.parse_one(f"create table {name} (id {id_type}, v {v_type})", read=backend.dialect))
    values = ", ".join(f"({i}, {v})" for i, v in rows)
    backend.execute(sqlglot.parse_one(f"insert into {name} values {values}", read=backend.dialect))
    return table("main" if isinstance(backend, DuckDBBackend) else "public", name)


@pytest.mark.parametrize(
    ("type_a", "type_b", "value_a", "value_b", "equal"),
    [
        ("timestamp", "timestamp(0)", "'2024-01-01 00:00:00.5'", "'2024-01-01 00:00:00'", True),
        ("timestamp", "timestamp(0)", "'2024-01-01 00:00:01.2'", "'2024-01-01 00:00:02'", False),
        ("timestamp_s", "timestamp", "'2024-01-01 00:00:00'", "'2024-01-01 00:00:00.5'", True),
        ("timestamp_ms", "timestamp(6)", "'2024-01-01 00:00:00.123'", "'2024-01-01 00:00:00.123456'", True),
        ("timestamp_ms", "timestamp", "'2024-01-01 00:00:00.123'", "'2024-01-01 00:00:00.124'", False),
        # the coarser side rounded, as both engines' casts round: equal at the coarser precision
        # (their checksums truncate, so such rows are downloaded and compared one by one: "rounded")
        ("timestamp", "timestamp(3)", "'2024-01-01 00:00:00.0015'", "'2024-01-01 00:00:00.002'", "rounded"),
        ("timestamp", "timestamp(0)", "'2024-01-01 00:00:00.6'", "'2024-01-01 00:00:01'", "rounded"),
        ("timestamp", "timestamp(0)", "'2024-01-01 00:00:00.4'", "'2024-01-01 00:00:01'", False),
        ("date", "timestamp", "'2024-01-01'", "'2024-01-01 13:00'", True),
        ("date", "timestamp", "'2024-01-02'", "'2024-01-01 23:00'", False),
        ("timestamp", "date", "'2024-01-01 13:00'", "'2024-01-01'", True),
        ("timestamptz", "date", "'2024-01-01 23:00+00'", "'2024-01-01'", True),  # the UTC day
        ("integer", "text", "7", "'7'", True),
        ("integer", "text", "7", "'07'", False),
    ],
)
def test_values_compare_like_on_one_engine(
    duck: DuckDBBackend, pg: PostgresBackend, type_a: str, type_b: str, value_a: str, value_b: str, equal: bool | str
) -> None:
    # Timestamps at the coarser precision of the two, a date against a timestamp as a date, an integer
    # against text as text: the one-engine rules. Equal data also checksums equal (nothing downloaded).
    ra = typed(duck, "t", "integer", type_a, [(str(i), value_a) for i in range(1, 41)])
    rb = typed(pg, "t", "integer", type_b, [(str(i), value_b) for i in range(1, 41)])
    result, _, _ = run(duck, ra, pg, rb, ["id"], columns=["v"])
    assert (result.only_a, result.only_b) == (0, 0)
    assert (result.changed, result.unchanged) == ((0, 40) if equal else (40, 0))
    if equal is True:
        assert result.rows_downloaded == 0


@pytest.mark.parametrize("key_type_b", ["text", "varchar(10)"])
def test_an_integer_key_matches_a_text_key(duck: DuckDBBackend, pg: PostgresBackend, key_type_b: str) -> None:
    ra = typed(duck, "t", "integer", "integer", [(str(i), str(i)) for i in range(1, 51)])
    rb = typed(pg, "t", key_type_b, "integer", [(f"'{i}'", str(-1 if i == 7 else i)) for i in range(1, 51)])
    result, _, _ = run(duck, ra, pg, rb, ["id"], columns=["v"])
    assert (result.only_a, result.only_b, result.changed, result.unchanged) == (0, 0, 1, 49)
    assert result.sample_changed == [{"id": 7, "v": [7, -1]}]


def test_column_rules() -> None:
    assert column_rule("TIMESTAMP", "duckdb", "timestamp(0)", "postgres").unit == "SECOND"
    assert column_rule("TIMESTAMP_MS", "duckdb", "timestamptz", "postgres").unit == "MILLISECOND"
    assert column_rule("TIMESTAMP", "duckdb", "timestamp", "postgres").unit is None  # microseconds: as held
    assert column_rule("DATE", "duckdb", "timestamp(3)", "postgres").kind == "date"
    assert column_rule("INTEGER", "duckdb", "text", "postgres").as_text
    assert not column_rule("UUID", "duckdb", "uuid", "postgres").as_text  # one kind: the drivers' values
    assert column_rule("INTEGER", "duckdb", "numeric(10,0)", "postgres").kind == "decimal"
