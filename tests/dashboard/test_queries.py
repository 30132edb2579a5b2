"""chart_query: golden SQL per kind and dialect, and the figures it returns on real engines."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import duckdb
import pytest
from sqlglot import exp

from dataplan.dashboard import ChartSpec, chart_query, relation_for
from tests.dashboard.helpers import fetch

SPECS = {
    "line": ChartSpec(title="t", model="m", kind="line", x="date_day", y=["active_customers", "mrr"]),
    "area": ChartSpec(title="t", model="m", kind="area", x="date_day", y=["mrr"], time_grain="week"),
    "bar": ChartSpec(title="t", model="m", kind="bar", x="plan", y=["revenue"]),
    "stacked_bar": ChartSpec(
        title="t",
        model="m",
        kind="stacked_bar",
        x="date_day",
        y=["new_customers"],
        series="channel",
        time_grain="month",
    ),
    "heatmap": ChartSpec(
        title="t",
        model="m",
        kind="heatmap",
        x="months_since_signup",
        y=["cohort_month"],
        value="retention_rate",
    ),
}

GOLDEN = {
    "line": 'SELECT "date_day", SUM("active_customers") AS "active_customers", SUM("mrr") AS "mrr" '
    'FROM "marts"."x" GROUP BY "date_day" ORDER BY "date_day"',
    "area": 'SELECT CAST(DATE_TRUNC(\'WEEK\', "date_day") AS DATE) AS "date_day", '
    'SUM("mrr") AS "mrr" FROM "marts"."x" '
    'GROUP BY CAST(DATE_TRUNC(\'WEEK\', "date_day") AS DATE) ORDER BY "date_day"',
    "bar": 'SELECT "plan", SUM("revenue") AS "revenue" FROM "marts"."x" GROUP BY "plan" ORDER BY "plan"',
    "stacked_bar": 'SELECT CAST(DATE_TRUNC(\'MONTH\', "date_day") AS DATE) AS "date_day", '
    '"channel", SUM("new_customers") AS "new_customers" FROM "marts"."x" '
    'GROUP BY CAST(DATE_TRUNC(\'MONTH\', "date_day") AS DATE), "channel" '
    'ORDER BY "date_day", "channel"',
    "heatmap": 'SELECT "months_since_signup", "cohort_month", '
    'SUM("retention_rate") AS "retention_rate" FROM "marts"."x" '
    'GROUP BY "months_since_signup", "cohort_month" '
    'ORDER BY "months_since_signup", "cohort_month"',
}


@pytest.mark.parametrize("dialect", ["duckdb", "postgres"])
@pytest.mark.parametrize("kind", list(SPECS))
def test_golden_sql(kind: str, dialect: str) -> None:
    query = chart_query(SPECS[kind], relation_for("marts.x"))
    assert isinstance(query, exp.Select)
    assert query.sql(dialect=dialect, identify=True) == GOLDEN[kind]


def test_identifiers_are_quoted_not_interpolated() -> None:
    spec = ChartSpec(title="t", model="m", kind="bar", x='odd "x"; drop table t; --', y=["sum of it"])
    relation = relation_for('my schema.we"ird')
    sql = chart_query(spec, relation).sql(dialect="postgres", identify=True)
    assert sql == (
        'SELECT "odd ""x""; drop table t; --", SUM("sum of it") AS "sum of it" '
        'FROM "my schema"."we""ird" GROUP BY "odd ""x""; drop table t; --" '
        'ORDER BY "odd ""x""; drop table t; --"'
    )
    con = duckdb.connect()
    con.execute('create schema "my schema"')
    con.execute('create table "my schema"."we""ird" ("odd ""x""; drop table t; --" int, "sum of it" int)')
    con.execute('insert into "my schema"."we""ird" values (1, 2), (1, 3), (2, 4)')
    assert fetch(con, sql).to_pylist() == [
        {'odd "x"; drop table t; --': 1, "sum of it": 5},
        {'odd "x"; drop table t; --': 2, "sum of it": 4},
    ]


def test_the_relation_is_copied_not_attached() -> None:
    relation = relation_for("marts.x")
    chart_query(SPECS["bar"], relation)
    assert relation.parent is None


@pytest.mark.parametrize("name", ["", "a..b", "a.b.c.d"])
def test_relation_for_rejects_bad_names(name: str) -> None:
    with pytest.raises(ValueError, match="not a relation name"):
        relation_for(name)


def test_relation_for_keeps_catalog_schema_and_name() -> None:
    assert relation_for("db.marts.x").sql(dialect="duckdb") == '"db"."marts"."x"'
    assert relation_for("x").sql(dialect="duckdb") == '"x"'


# --- figures on DuckDB (both renderings) and Postgres ------------------------------------

SETUP = [
    "create schema marts",
    "create table marts.acq (date_day date, channel varchar, new_customers integer, "
    "active_customers integer, mrr decimal(12, 2))",
    "insert into marts.acq values "
    "('2024-01-01', 'organic', 3, 10, 100.50), ('2024-01-01', 'paid', 2, 10, 100.50), "
    "('2024-01-03', 'organic', 4, 11, 101.00), ('2024-01-08', 'paid', 5, 12, 99.25), "
    "('2024-01-31', 'organic', 1, 13, 98.00), ('2024-02-01', 'organic', 7, 14, 97.00), "
    "('2024-02-29', 'paid', 6, 15, 96.00), (null, 'paid', 100, 0, 0)",
    "create table marts.cohorts (cohort_month date, months_since_signup integer, retention_rate double precision)",
    "insert into marts.cohorts values ('2024-01-01', 0, 1.0), ('2024-01-01', 1, 0.5), "
    "('2024-02-01', 0, 1.0), ('2024-02-01', 1, 0.25), ('2024-02-01', 1, 0.25)",
]


def plain(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Rows as tuples with Decimals as floats, so engines' numeric types compare equal."""
    return [tuple(float(v) if isinstance(v, Decimal) else v for v in row.values()) for row in rows]


EXPECTED = {
    "stacked_bar": (
        SPECS["stacked_bar"].model_copy(update={"model": "marts.acq"}),
        [
            (date(2024, 1, 1), "organic", 8.0),
            (date(2024, 1, 1), "paid", 7.0),
            (date(2024, 2, 1), "organic", 7.0),
            (date(2024, 2, 1), "paid", 6.0),
            (None, "paid", 100.0),
        ],
    ),
    "area_week": (
        ChartSpec(
            title="t",
            model="marts.acq",
            kind="area",
            x="date_day",
            y=["new_customers"],
            time_grain="week",
        ),
        [
            (date(2024, 1, 1), 9.0),  # Monday-based weeks: the 1st and the 3rd
            (date(2024, 1, 8), 5.0),
            (date(2024, 1, 29), 8.0),  # the 31st and Feb 1st share the week of Jan 29
            (date(2024, 2, 26), 6.0),
            (None, 100.0),
        ],
    ),
    "line_two_y": (
        ChartSpec(title="t", model="marts.acq", kind="line", x="date_day", y=["active_customers", "mrr"]),
        [
            (date(2024, 1, 1), 20.0, 201.0),
            (date(2024, 1, 3), 11.0, 101.0),
            (date(2024, 1, 8), 12.0, 99.25),
            (date(2024, 1, 31), 13.0, 98.0),
            (date(2024, 2, 1), 14.0, 97.0),
            (date(2024, 2, 29), 15.0, 96.0),
            (None, 0.0, 0.0),
        ],
    ),
    "bar_category": (
        ChartSpec(title="t", model="marts.acq", kind="bar", x="channel", y=["new_customers"]),
        [("organic", 15.0), ("paid", 113.0)],
    ),
    "heatmap": (
        SPECS["heatmap"].model_copy(update={"model": "marts.cohorts"}),
        [
            (0, date(2024, 1, 1), 1.0),
            (0, date(2024, 2, 1), 1.0),
            (1, date(2024, 1, 1), 0.5),
            (1, date(2024, 2, 1), 0.5),
        ],
    ),
}


@pytest.fixture(scope="module")
def duck() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for statement in SETUP:
        con.execute(statement)
    return con


@pytest.mark.parametrize("dialect", ["duckdb", "postgres"])
@pytest.mark.parametrize("case", list(EXPECTED))
def test_queries_return_the_aggregated_figures_on_duckdb(
    duck: duckdb.DuckDBPyConnection, case: str, dialect: str
) -> None:
    spec, expected = EXPECTED[case]
    sql = chart_query(spec, relation_for(spec.model)).sql(dialect=dialect, identify=True)
    table = fetch(duck, sql)
    assert table.column_names == [c for c in spec.columns]
    assert plain(table.to_pylist()) == expected


def test_time_grain_returns_dates_not_timestamps(duck: duckdb.DuckDBPyConnection) -> None:
    spec = EXPECTED["stacked_bar"][0]
    sql = chart_query(spec, relation_for(spec.model)).sql(dialect="duckdb", identify=True)
    assert str(fetch(duck, sql).schema.field("date_day").type) == "date32[day]"


@pytest.mark.parametrize("case", list(EXPECTED))
def test_queries_return_the_same_figures_on_postgres(pg_dsn: str, case: str) -> None:
    import psycopg

    spec, expected = EXPECTED[case]
    sql = chart_query(spec, relation_for(spec.model)).sql(dialect="postgres", identify=True)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        for statement in SETUP:
            conn.execute(statement.replace("varchar", "text").encode())
        cursor = conn.execute(sql.encode())
        names = [d.name for d in cursor.description or []]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    assert names == spec.columns
    assert plain(rows) == expected
