"""What a change to a model's SQL changes: columns or rows, including changes inside its CTEs."""

from __future__ import annotations

import pytest
import sqlglot

from dataplan.plan.querydiff import QueryDiff, cte_changes, diff_queries

OLD = """
with a as (select id, x * 2 as y, z from t),
     b as (select id, y + 1 as w, z from a)
select id, w, z, w + z as s, z * 2 as zz from b
"""


def diff(new: str, old: str = OLD) -> QueryDiff:
    return diff_queries(old, sqlglot.parse_one(new, read="duckdb"), "duckdb")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("new", "modified"),
    [
        (OLD.replace("x * 2", "x * 3"), ["s", "w"]),  # y feeds w, and w feeds s: id, z and zz keep their values
        (OLD.replace("x * 2 as y, z from t", "x * 2 as y, z + 1 as z from t"), ["s", "z", "zz"]),
        (OLD.replace("y + 1 as w", "y + 2 as w"), ["s", "w"]),  # a change in the second CTE
    ],
)
def test_a_column_change_inside_a_cte_reaches_only_the_columns_it_feeds(new: str, modified: list[str]) -> None:
    d = diff(new)
    assert (d.row_clauses, d.star, d.modified, d.removed, d.added) == ([], False, modified, [], [])


@pytest.mark.parametrize(
    "new",
    [
        OLD.replace("from t)", "from t where z > 0)"),  # a filter inside a CTE
        OLD.replace("y + 1 as w, z from a)", "y + 1 as w, z from a where y > 0)").replace("x * 2", "x * 3"),
        OLD.replace("select id, w, z", "select id, w, z", 1)
        .replace("from b\n", "from b where w > 1\n")
        .replace("x * 2", "x * 3"),  # a changed column decides the outer query's rows
        OLD.replace("b as (", "c as (select 1 as one), b as ("),  # a CTE added
        OLD.replace("select id, y + 1 as w, z from a", "select *, y + 1 as w from a").replace("x * 2", "x * 3"),
    ],
)
def test_a_cte_change_that_may_change_rows_is_a_row_change(new: str) -> None:
    assert "CTEs" in diff(new).row_clauses


def test_a_select_alias_named_like_a_column_still_traces() -> None:
    # As account_health in the demo: `lifecycle_status` is both an output alias and read in a CASE.
    old = """
    with scored as (select s.*, 0.7 * f as logit from signals as s)
    select cast(status as varchar) as status, 1.0 / (1.0 + exp(-logit)) as score,
           case when status = 'churned' then 'churned' when 1.0 / (1.0 + exp(-logit)) > 0.5 then 'high' end as band
    from scored
    """
    d = diff(old.replace("0.7 * f", "1.1 * f"), old)
    assert (d.row_clauses, d.star, d.modified) == ([], False, ["band", "score"])


def test_the_same_star_beside_a_changed_column_compares_by_name() -> None:
    d = diff("select t.*, a + 2 as b from t", "select t.*, a + 1 as b from t")
    assert (d.star, d.modified, d.row_clauses) == (False, ["b"], [])
    assert diff("select *, a + 1 as b from t", "select t.*, a + 1 as b from t").star


@pytest.mark.parametrize(
    ("old", "new", "row_clause"),
    [
        (
            "select plan, date_trunc('month', s) as m, count(*) as n from t group by all",
            "select plan, date_trunc('year', s) as m, count(*) as n from t group by all",
            "GROUP BY ALL over a changed column",
        ),
        (
            "select plan, date_trunc('month', s) as m, count(*) as n from t group by 1, 2",
            "select plan, date_trunc('year', s) as m, count(*) as n from t group by 1, 2",
            "GROUP BY over a changed column",
        ),
        (
            "select plan, date_trunc('month', s) as m, count(*) as n from t group by plan, m",
            "select plan, date_trunc('year', s) as m, count(*) as n from t group by plan, m",
            "GROUP BY over a changed column",
        ),
        ("select distinct c, p from t", "select distinct c, p, x from t", "DISTINCT columns"),
        ("select distinct c, upper(p) as p from t", "select distinct c, lower(p) as p from t", "DISTINCT columns"),
        ("select c, m * 12 as arr from t where arr >= 5", "select c, m * 4 as arr from t where arr >= 5", "where"),
        (
            "select c, count(*) as n from t group by c having n > 1",
            "select c, count(*) / 2 as n from t group by c having n > 1",
            "having",
        ),
        (
            "select c, x * 2 as m from t order by m desc limit 5",
            "select c, x * 3 as m from t order by m desc limit 5",
            "ORDER BY",
        ),
        (
            "select c, row_number() over (partition by c order by a) as r from t qualify r = 1",
            "select c, row_number() over (partition by c order by b) as r from t qualify r = 1",
            "qualify",
        ),
    ],
)
def test_a_changed_column_that_decides_rows_through_its_alias_is_a_row_change(
    old: str, new: str, row_clause: str
) -> None:
    d = diff(new, old)
    assert any(c.startswith(row_clause) for c in d.row_clauses), d.row_clauses


def test_a_projection_reading_a_changed_alias_changes_too() -> None:
    old = "select c, m * 12 as arr, case when arr > 100 then 'big' end as band, x from t"
    d = diff(old.replace("m * 12", "m * 4"), old)
    assert (d.row_clauses, d.modified) == ([], ["arr", "band"])


def test_an_upstream_change_is_traced_through_ctes_and_stars() -> None:
    query = sqlglot.parse_one(
        """
        with base as (select id, region, amount from t),
             tagged as (select base.*, upper(region) as reg from base),
             totals as (select id, sum(amount) as total from t group by id)
        select tagged.id, tagged.reg, tagged.region, totals.total from tagged join totals on tagged.id = totals.id
        """,
        read="duckdb",
    )
    assert isinstance(query, sqlglot.exp.Select)
    assert cte_changes(None, query, "duckdb", {"t": {"region"}}) == {"reg", "region"}
    assert cte_changes(None, query, "duckdb", {"t": {"amount"}}) == {"total"}
    assert cte_changes(None, query, "duckdb", {"t": {"id"}}) is None  # the join key decides rows
    assert cte_changes(None, query, "duckdb", {"u": {"region"}}) == set()  # another table: nothing reached
