"""Profiles across two engines: a type spelled differently (text / VARCHAR) is not a column that moved."""

from __future__ import annotations

import pytest
import sqlglot

from dataplan.backends.base import Backend, table
from dataplan.backends.duckdb import DuckDBBackend
from dataplan.backends.postgres import PostgresBackend
from dataplan.verify.diff import diff
from dataplan.verify.reports.common import shown_profiles
from dataplan.verify.reports.markdown import markdown_report

SETUP = [
    "create table {t} (customer_id varchar, orders bigint, paid_amount decimal(38,2), first_order_date date,"
    " score double, active boolean, seen_at timestamp)",
    "insert into {t} values ('c1', 2, 15.50, '2025-01-01', 0.5, true, '2025-01-01 10:00:00'),"
    " ('c2', 1, 7.00, '2025-01-02', 1.25, false, '2025-01-02 11:30:00'),"
    " ('c3', 1, null, '2025-01-05', null, null, null)",
]


def create(backend: Backend, schema: str, statements: list[str]) -> None:
    for stmt in statements:  # fixed test statements, parsed by sqlglot and rendered by the backend
        backend.execute(sqlglot.parse_one(stmt.format(t=f"{schema}.customer_value"), read="duckdb"))


@pytest.mark.parametrize("postgres_side", ["a", "b"])
def test_same_data_on_two_engines_has_no_moved_profile(
    duck: DuckDBBackend, pg: PostgresBackend, postgres_side: str
) -> None:
    create(duck, "main", SETUP)
    create(pg, "public", SETUP)
    sides = [(pg, table("public", "customer_value")), (duck, table("main", "customer_value"))]
    if postgres_side == "b":
        sides.reverse()
    (a, ra), (b, rb) = sides
    result = diff(a, ra, b, rb, key=["customer_id"], label_a="A", label_b="B")
    assert result.schema_diff.type_changed == []
    types = {d.column: (d.a.type, d.b.type) for d in result.profiles}
    assert len(types) == 7 and types["customer_id"] != types["customer_id"][::-1]  # spelled differently
    assert [d.column for d, moved in shown_profiles(result, True) if moved] == []
    assert "0 of 7 columns moved" in markdown_report(result, all_profiles=True)


def test_a_real_type_change_across_engines_still_moves(duck: DuckDBBackend, pg: PostgresBackend) -> None:
    create(duck, "main", SETUP)
    create(pg, "public", [SETUP[0].replace("orders bigint", "orders integer"), SETUP[1]])
    result = diff(
        pg,
        table("public", "customer_value"),
        duck,
        table("main", "customer_value"),
        key=["customer_id"],
        label_a="A",
        label_b="B",
    )
    assert [c for c, _, _ in result.schema_diff.type_changed] == ["orders"]
    assert [d.column for d, moved in shown_profiles(result, True) if moved] == ["orders"]
