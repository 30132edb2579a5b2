"""Which parent columns a query reads, and which of them decide its rows: straight from SQL text."""

from __future__ import annotations

import sqlglot

from dataplan.project.lineage import STAR, raw_lineage, raw_reads

T = ("", "s", "t")
U = ("", "s", "u")


ByTable = dict[tuple[str, str, str], set[str]]


def reads(sql: str, dialect: str = "duckdb") -> tuple[ByTable, ByTable]:
    raw = raw_reads(sqlglot.parse_one(sql, read=dialect), dialect)
    return raw.columns, raw.row_level


def test_aliases_and_columns_resolve_without_case() -> None:
    columns, _ = reads("select O.Customer_ID, AMOUNT as amt from s.t as o")
    assert columns == {T: {"customer_id", "amount"}}


def test_postgres_keeps_quoted_names_and_folds_the_rest() -> None:
    columns, _ = reads('select "Amount", Region from s.t', "postgres")
    assert columns == {T: {"Amount", "region"}}


def test_join_using_reads_the_key_on_both_sides_and_decides_rows() -> None:
    columns, row_level = reads("select t.a, u.b from s.t join s.u using (k)")
    assert columns == {T: {"a", "k"}, U: {"b", "k"}}
    assert row_level == {T: {"k"}, U: {"k"}}


def test_natural_join_reads_every_column_as_deciding_rows() -> None:
    _, row_level = reads("select a from s.t natural join s.u")
    assert row_level == {T: {STAR}, U: {STAR}}


def test_distinct_makes_every_column_decide_rows() -> None:
    assert reads("select distinct k, v from s.t")[1] == {T: {"k", "v"}}
    assert reads("select k, v from s.t")[1] == {}


def test_order_by_decides_rows_only_with_a_limit() -> None:
    assert reads("select k from s.t order by v limit 10")[1] == {T: {"v"}}
    assert reads("select k from s.t order by v")[1] == {}


def test_lineage_leaves_drop_quotes() -> None:
    raw = raw_lineage(sqlglot.parse_one('select "amount" as a from s.t', read="duckdb"), "duckdb")
    assert raw == {"a": [("", "s", "t", "amount")]}
