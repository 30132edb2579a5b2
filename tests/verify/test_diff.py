"""The diff library call end to end, input parsing and validation, on DuckDB and a real Postgres."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlglot
from sqlglot import exp

from dataplan.backends.base import Backend
from dataplan.errors import InputError
from dataplan.verify import checks
from dataplan.verify.diff import diff, open_relation, profile_relation
from dataplan.verify.model import RowDiff, Tolerance
from dataplan.verify.relations import parse_columns, parse_key, parse_relation, parse_tolerance, parse_where
from tests.verify.test_profile import open_backend, rel, setup


@pytest.fixture
def backend(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Backend]:
    be = open_backend(engine, tmp_path, request)
    yield be
    be.close()


# -- parsing ------------------------------------------------------------------


@pytest.mark.parametrize("dialect", ["duckdb", "postgres"])
def test_parse_relation_names(dialect: str) -> None:
    assert parse_relation("orders", dialect).sql(dialect=dialect) == '"orders"'
    assert parse_relation(" raw.Orders ", dialect).sql(dialect=dialect) == '"raw"."orders"'
    assert parse_relation("wh.raw.orders", dialect).sql(dialect=dialect) == '"wh"."raw"."orders"'
    query = parse_relation("query: select Amount from raw.orders where amount > 1", dialect)
    assert isinstance(query, exp.Select)
    assert query.sql(dialect=dialect, identify=True) == 'SELECT "amount" FROM "raw"."orders" WHERE "amount" > 1'
    assert isinstance(parse_relation("QUERY:select 1 union all select 2", dialect), exp.Union)


def test_quoted_names_keep_their_case_in_postgres() -> None:
    assert parse_relation('"Raw"."Orders"', "postgres").sql(dialect="postgres") == '"Raw"."Orders"'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty relation"),
        ("a b", "not a table name"),
        ("a.b.c.d", "not a table name"),
        ("f(1)", "not a table name"),
        ("query: delete from raw.orders", "must be a SELECT"),
        ("query: select 1; select 2", "exactly one statement"),
        ("query: select * into t2 from raw.orders", "must not write"),
        ("query: with d as (delete from t returning *) select * from d", "must not write"),
        ("query: select (", "cannot parse"),
    ],
)
def test_parse_relation_rejects(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as info:
        parse_relation(text, "postgres")
    assert info.value.exit_code == 2


def test_parse_key_tolerance_and_where() -> None:
    assert parse_key("a, b") == ["a", "b"] and parse_key("") == [] and parse_key(None) == []
    for bad in ("a,,b", "a,a"):
        with pytest.raises(InputError):
            parse_key(bad)
    assert parse_tolerance("abs=0.01,rel=1e-6") == Tolerance(abs=0.01, rel=1e-6)
    assert parse_tolerance("rel=0.5") == Tolerance(rel=0.5) and parse_tolerance(None) == Tolerance()
    for bad in ("abs", "abs=x", "tol=1", "abs=-1", "abs=inf", "abs=1,abs=2", "0.1"):
        with pytest.raises(InputError, match="bad tolerance"):
            parse_tolerance(bad)
    where = parse_where("Region = 'eu'", "postgres")
    assert where is not None and where.sql(dialect="postgres", identify=True) == "\"region\" = 'eu'"
    assert parse_where("  ", "duckdb") is None
    with pytest.raises(InputError):
        parse_where("select 1", "duckdb")
    with pytest.raises(InputError) as caught:
        parse_where("customer_id = ", "duckdb")
    # Not sqlglot's internals ("Required keyword: 'expression' missing for <class ...EQ'>").
    assert (
        caught.value.message
        == "cannot parse the filter 'customer_id = ' (near column 13): it is not a complete SQL condition"
    )


def test_key_and_column_lists_read_quoted_names() -> None:
    assert parse_key('"K""2"') == ['K"2']  # "" inside quotes is one quote, as in SQL
    assert parse_key(' "a,b" , c,"d e"') == ["a,b", "c", "d e"]
    assert parse_key('k 1,K"2') == ["k 1", 'K"2']  # unquoted names are taken as written
    assert parse_columns('x,"y,z"') == ["x", "y,z"] and parse_columns("") is None
    for text, message in [
        ("x,x", "bad --columns 'x,x': x named twice"),
        ("x,,y", "bad --columns 'x,,y': empty column name"),
        ('"x', "a quoted name is not closed"),
        ('"x"y', "text after the quoted name 'x'"),
    ]:
        with pytest.raises(InputError, match=re.escape(message)) as info:
            parse_columns(text)
        assert info.value.exit_code == 2
    with pytest.raises(InputError, match=re.escape("bad --key 'id,id': id named twice")):
        parse_key("id,id")


def test_thresholds_override_and_reject() -> None:
    t = checks.thresholds({"psi": {"warn": 0.2}, "changed_rows.fail": None, "only_a_rows": {"fail": "3"}})
    assert t["psi"] == {"warn": 0.2, "fail": 0.25}
    assert t["changed_rows"]["fail"] is None and t["only_a_rows"]["fail"] == 3.0
    assert checks.DEFAULT_THRESHOLDS["psi"]["warn"] == 0.1  # defaults untouched
    for bad in ({"nope": {"fail": 1}}, {"psi": {"error": 1}}, {"psi": 0.3}, {"psi.fail": "high"}):
        with pytest.raises(InputError):
            checks.thresholds(bad)
    assert checks.judge("x", 2.0, {"warn": 1.0, "fail": 5.0}).outcome == "warn"
    assert checks.judge("x", 5.0, {"warn": 1.0, "fail": 5.0}).outcome == "warn"
    assert checks.judge("x", 5.1, {"warn": 1.0, "fail": 5.0}).outcome == "fail"
    assert checks.judge("x", 0.0, {"warn": None, "fail": 0.0}).outcome == "pass"


# -- end to end ---------------------------------------------------------------

SHOP = [
    "create schema s",
    "create table s.a as select cast(g as integer) as id, cast(g as double) as amount,"
    " case when g % 4 = 0 then 'refunded' else 'paid' end as status,"
    " case when g % 2 = 0 then 'eu' else 'us' end as region, 1 as legacy"
    " from generate_series(1, 100) as t(g)",
    # 1-3 removed, 101-106 added; amount +1 on 10 and 20; region NULL on 50; legacy dropped, note added
    "create table s.b as select cast(g as integer) as id,"
    " cast(g as double) + case when g in (10, 20) then 1 else 0 end as amount,"
    " case when g % 4 = 0 then 'refunded' else 'paid' end as status,"
    " case when g = 50 then null when g % 2 = 0 then 'eu' else 'us' end as region, 'n' as note"
    " from generate_series(4, 106) as t(g)",
]


def run(backend: Backend, **kw: Any) -> Any:
    args: dict[str, Any] = {"key": ["id"], "label_a": "s.a", "label_b": "s.b"}
    args.update(kw)
    return diff(backend, rel(backend, "s.a"), backend, rel(backend, "s.b"), **args)


def test_diff_end_to_end(backend: Backend) -> None:
    setup(backend, SHOP)
    result = run(backend)
    assert (result.a.row_count, result.b.row_count) == (100, 103)
    assert result.a.label == "s.a" and result.a.connection.startswith(("duckdb:", "postgres://"))
    assert [n for n, _ in result.schema_diff.added] == ["note"]
    assert [n for n, _ in result.schema_diff.removed] == ["legacy"]
    assert result.schema_diff.type_changed == []
    assert result.key_check is not None and result.key_check.ok
    rows = result.rows
    assert rows is not None and rows.method == "join"
    assert (rows.only_a, rows.only_b, rows.changed, rows.unchanged) == (3, 6, 3, 94)
    assert {c.column: c.mismatches for c in rows.columns} == {"amount": 2, "status": 0, "region": 1}
    assert [s["id"] for s in rows.sample_changed] == [10, 20, 50]
    assert [d.column for d in result.profiles] == ["id", "amount", "status", "region"]
    assert [(d.column, d.kind) for d in result.distributions] == [
        ("amount", "numeric"),
        ("status", "categorical"),
        ("region", "categorical"),
    ]
    # describe x2, profile x2, ONE key diff statement, histogram + download x2, top values x2; on DuckDB
    # also a count(*) per side, which decides whether the profiles are exact (they are, at 100 rows)
    assert result.queries == 11 + (2 if backend.samples else 0)
    outcomes = {c.name: c.outcome for c in result.checks}
    assert outcomes["row_count_change_pct"] == "warn"  # 3 %
    assert outcomes["schema_changes"] == "warn"
    assert outcomes["key_not_unique"] == "pass"
    assert outcomes["only_a_rows"] == outcomes["only_b_rows"] == outcomes["changed_rows"] == "fail"
    assert outcomes["null_pct_delta(region)"] == "pass"  # 0.97 points
    assert {"psi(amount)", "psi(status)", "psi(region)"} <= set(outcomes)
    assert result.outcome == "fail" and result.exit_code == 1
    assert result.tolerance == {"abs": 0.0, "rel": 0.0}
    again = type(result).model_validate_json(result.model_dump_json())
    assert again.rows == result.rows


def test_diff_with_filter_columns_and_thresholds(backend: Backend) -> None:
    setup(backend, SHOP)
    where = parse_where("region = 'eu' and id <= 30", backend.dialect)
    result = run(
        backend,
        columns=["amount"],
        where=where,
        tolerance=Tolerance(abs=1.0),
        thresholds={"row_count_change_pct": {"fail": None, "warn": None}},
        distributions=False,
    )
    assert [n for n, _ in result.a.columns] == ["id", "amount"] and result.schema_diff.is_empty
    assert (result.a.row_count, result.b.row_count) == (15, 14)  # even ids <= 30; B lacks 2
    rows = result.rows
    assert rows is not None and (rows.only_a, rows.only_b, rows.changed) == (1, 0, 0)  # +1 is within abs=1
    assert [c.column for c in rows.columns] == ["amount"]
    assert result.distributions == [] and result.tolerance == {"abs": 1.0, "rel": 0.0}
    outcomes = {c.name: c.outcome for c in result.checks}
    assert outcomes["row_count_change_pct"] == "pass" and outcomes["only_a_rows"] == "fail"


def test_diff_without_key_and_of_a_query(backend: Backend) -> None:
    setup(backend, SHOP)
    q = open_relation(backend, "query: select id, amount from s.a where id > 50")
    result = diff(backend, q, backend, rel(backend, "s.a"), key=None, label_a="query", label_b="s.a")
    assert result.rows is None and result.key_check is None and result.key == []
    assert (result.a.row_count, result.b.row_count) == (50, 100)
    assert {c.name for c in result.checks} >= {"row_count_change_pct", "schema_changes", "psi(amount)"}
    assert {c.name: c.outcome for c in result.checks}["psi(amount)"] == "fail"


def test_an_empty_side_is_graded_by_its_row_count_not_by_null_shares(backend: Backend) -> None:
    setup(backend, SHOP)
    empty = open_relation(backend, "query: select * from s.a where id < 0")
    result = diff(backend, rel(backend, "s.b"), backend, empty, key=["id"], label_a="s.b", label_b="empty")
    names = {c.name: c for c in result.checks}
    assert not [n for n in names if n.startswith("null_pct_delta(")]  # region's 0.97 % would read as moved to 0 %
    assert names["row_count_change_pct"].outcome == "fail"
    assert names["only_a_rows"].value == 103 and names["only_a_rows"].outcome == "fail"


def test_check_details_group_thousands(backend: Backend) -> None:
    setup(
        backend,
        [
            "create schema s",
            "create table s.a as select cast(g as integer) as id, cast(g as double) as amount"
            " from generate_series(1, 3000) as t(g)",
            "create table s.b as select id, amount + 1 as amount from s.a",
        ],
    )
    changed = {c.name: c for c in run(backend).checks}["changed_rows"]
    assert changed.detail == "3,000 of 3,000 matched rows differ: amount (3,000)"


def test_profile_relation(backend: Backend) -> None:
    setup(backend, SHOP)
    before = backend.round_trips
    p = profile_relation(backend, rel(backend, "s.a"), "s.a", where=parse_where("id <= 10", backend.dialect))
    # describe, then one aggregate (on DuckDB a count(*) first decides exact or approximate)
    assert backend.round_trips - before == 2 + backend.samples
    assert p.row_count == 10 and {c.column: c.max for c in p.columns}["amount"] == 10.0


# -- bad input: a clear InputError, no write ---------------------------------


def _no_writes(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> Callable[[], tuple[Any, Any]]:
    def refuse(expression: exp.Expr) -> None:
        raise AssertionError(f"a statement was executed: {expression.sql()}")

    monkeypatch.setattr(backend, "execute", refuse)
    return lambda: (sorted((r.schema, r.name, r.kind) for r in backend.relations()), backend.view_definitions())


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"b": "s.nope"}, "table s.nope does not exist"),
        ({"key": ["id", "nope"]}, "key column nope does not exist in A"),
        ({"columns": ["note"]}, "compared column note does not exist in A"),
        ({"where": "nope > 1"}, "the filter cannot run on s.a"),
        ({"b": "query: select nope from s.b"}, "the query cannot run"),
        ({"thresholds": {"psi": {"fial": 1}}}, "unknown level"),
    ],
)
def test_bad_input_is_an_input_error_and_writes_nothing(
    backend: Backend, monkeypatch: pytest.MonkeyPatch, kw: dict[str, Any], message: str
) -> None:
    kw = dict(kw)  # the parameter dict is shared by both engines' runs
    setup(backend, SHOP)
    catalog = _no_writes(backend, monkeypatch)
    before = catalog()
    rb = rel(backend, kw.pop("b", "s.b"))
    if "where" in kw:
        kw["where"] = parse_where(kw["where"], backend.dialect)
    args: dict[str, Any] = {"key": ["id"], "label_a": "s.a", "label_b": "s.b", **kw}
    trips = backend.round_trips
    with pytest.raises(InputError, match=message) as info:
        diff(backend, rel(backend, "s.a"), backend, rb, **args)
    assert info.value.exit_code == 2
    assert backend.round_trips - trips <= 3  # describes only, never a data query
    assert catalog() == before


def test_bad_tolerance_fails_before_any_query() -> None:
    with pytest.raises(InputError, match="bad tolerance") as info:
        parse_tolerance("abs=lots")
    assert info.value.exit_code == 2


# -- across engines -------------------------------------------------------------


def test_different_backends_use_checksum_bisection(
    tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataplan.verify.crossdiff as crossdiff

    calls: list[dict[str, Any]] = []

    def fake(a: Backend, rel_a: exp.Expr, b: Backend, rel_b: exp.Expr, key: list[str], columns: list[str],
             tolerance: Tolerance, sample_size: int) -> RowDiff:  # fmt: skip
        calls.append({"key": key, "columns": columns, "tolerance": tolerance, "sample_size": sample_size})
        return RowDiff(key=key, method="checksum-bisect", only_a=3, only_b=6, changed=3, unchanged=94)

    monkeypatch.setattr(crossdiff, "bisect_diff", fake)
    duck, pg = open_backend("duckdb", tmp_path, request), open_backend("postgres", tmp_path, request)
    try:
        setup(duck, SHOP[:2])
        setup(pg, [SHOP[0], SHOP[2]])
        result = diff(
            duck, rel(duck, "s.a"), pg, rel(pg, "s.b"), key=["id"], label_a="duck", label_b="pg",
            tolerance=Tolerance(rel=1e-9), sample_size=5,
        )  # fmt: skip
    finally:
        duck.close()
        pg.close()
    assert calls == [{"key": ["id"], "columns": ["amount", "status", "region"], "tolerance": Tolerance(rel=1e-9),
                      "sample_size": 5}]  # fmt: skip
    assert result.rows is not None and result.rows.method == "checksum-bisect"
    assert result.schema_diff.type_changed == []  # INTEGER vs int4, DOUBLE vs float8: the same types
    assert result.a.connection.startswith("duckdb:") and result.b.connection.startswith("postgres://")
    assert {c.name: c.outcome for c in result.checks}["changed_rows"] == "fail"


def test_a_query_with_two_columns_of_one_name_is_an_input_error(backend: Backend) -> None:
    setup(backend, SHOP)
    q = open_relation(backend, "query: select a.id, b.id from s.a as a join s.b as b on a.id = b.id")
    if backend.dialect == "duckdb":  # DuckDB renames the second one id_1 itself
        result = diff(backend, q, backend, rel(backend, "s.b"), key=["id"], label_a="q", label_b="s.b")
        assert [n for n, _ in result.a.columns] == ["id", "id_1"]
        return
    with pytest.raises(InputError, match="more than one column named id"):
        diff(backend, q, backend, rel(backend, "s.b"), key=["id"], label_a="q", label_b="s.b")


def test_progress_is_reported_before_each_data_step(backend: Backend) -> None:
    setup(backend, SHOP)
    seen: list[tuple[str, int, int]] = []
    run(backend, on_progress=lambda step, done, total: seen.append((step, done, total)))
    assert seen == [("profile A", 0, 4), ("profile B", 1, 4), ("rows by key", 2, 4), ("distributions", 3, 4)]


def test_constant_bigint_below_minus_two_to_the_53_across_engines(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    # -2^63 + 1.0 is -2^63 as a double: the constant column's histogram bin had zero width.
    duck, pg = open_backend("duckdb", tmp_path, request), open_backend("postgres", tmp_path, request)
    try:
        for be in (duck, pg):
            setup(be, ["create table c as select g as id, cast(-9223372036854775808 as bigint) as v"
                       " from generate_series(1, 40) as t(g)"])  # fmt: skip
        result = diff(duck, rel(duck, "c"), pg, rel(pg, "c"), key=["id"], label_a="duck", label_b="pg")
    finally:
        duck.close()
        pg.close()
    assert result.rows is not None and (result.rows.changed, result.rows.unchanged) == (0, 40)
    (d,) = result.distributions
    assert d.histogram is not None and d.histogram.a_counts == d.histogram.b_counts == [40]
    assert d.histogram.edges[0] == -(2.0**63) < d.histogram.edges[1]
    assert result.exit_code == 0


def test_across_engines_the_key_is_checked_as_it_is_matched(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    # The bisection truncates a TIMESTAMP key to Postgres' timestamp(0): A's .1 and .7 are one key there,
    # and one would silently replace the other in the match. The key check sees what the match sees.
    duck, pg = open_backend("duckdb", tmp_path, request), open_backend("postgres", tmp_path, request)
    try:
        setup(duck, ["create table t (id timestamp, v integer)",
                     "insert into t values ('2024-01-01 00:00:00.1', 1), ('2024-01-01 00:00:00.7', 2)"])  # fmt: skip
        pg.execute(sqlglot.parse_one("create table t (id timestamp(0), v integer)", read="postgres"))
        setup(pg, ["insert into t values ('2024-01-01 00:00:00', 1)"])
        result = diff(duck, rel(duck, "t"), pg, rel(pg, "t"), key=["id"], label_a="duck", label_b="pg")
    finally:
        duck.close()
        pg.close()
    assert result.rows is None and result.key_check is not None
    assert (result.key_check.a_duplicate_keys, result.key_check.b_duplicate_keys) == (1, 0)
    assert "truncated to the second" in result.key_check.note
    assert result.exit_code == 1


def test_across_engines_types_compare_as_on_one_engine(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    # INTEGER against text keys match as text; TIMESTAMP against timestamp(0) values compare to the second.
    duck, pg = open_backend("duckdb", tmp_path, request), open_backend("postgres", tmp_path, request)
    try:
        setup(duck, ["create table t as select cast(g as integer) as id,"
                     " timestamp '2024-01-01 00:00:00.5' + g * interval 1 minute as ts"
                     " from generate_series(1, 50) as t(g)"])  # fmt: skip
        for stmt in (
            "create table t as select cast(g as text) as id,"
            " cast(timestamp '2024-01-01 00:00:00' + g * interval '1 minute' as timestamp(0)) as ts"
            " from generate_series(1, 50) as t(g)",
            # 2 s, not 1: 00:00:01 is 00:00:00.5 rounded half up (as DuckDB's cast does), the same value
            "update t set ts = ts + interval '2 second' where id = '7'",
        ):
            pg.execute(sqlglot.parse_one(stmt, read="postgres"))
        result = diff(duck, rel(duck, "t"), pg, rel(pg, "t"), key=["id"], label_a="duck", label_b="pg")
    finally:
        duck.close()
        pg.close()
    rows = result.rows
    assert rows is not None and (rows.only_a, rows.only_b, rows.changed, rows.unchanged) == (0, 0, 1, 49)
    assert [s["id"] for s in rows.sample_changed] == [7]
    assert result.key_check is not None and result.key_check.ok
    assert "id is INTEGER in A and text in B: key values are compared as text" in result.key_check.note


def test_a_postgres_connection_over_a_socket_is_named_as_a_url_libpq_reads(pg: Backend, pg_dsn: str) -> None:
    import psycopg

    from dataplan.verify.diff import describe_connection

    # The suite's server listens on a Unix socket: its directory is a parameter, never a host before a port.
    info = psycopg.conninfo.conninfo_to_dict(pg_dsn)
    named = describe_connection(pg)
    assert named == f"postgres://postgres@/{info['dbname']}?host={info['host']}&port=5432"
    with psycopg.connect(named) as conn:  # libpq connects with it as shown
        assert conn.info.dbname == info["dbname"]
