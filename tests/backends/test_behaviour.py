"""One behaviour suite, run against every backend (DuckDB embedded, Postgres real server)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlglot import exp

from dataplan import ContractError, StateError
from dataplan.backends.base import table
from tests.conftest import ProjectFactory, catalog, run_sql, write_files


def rows(wh, schema: str, name: str, order: str) -> list[tuple]:
    q = exp.select("*").from_(table(schema, name)).order_by(exp.column(order, quoted=True))
    return wh.backend.fetch_rows(q)


def test_build_creates_versions_and_prod_views(make_project: ProjectFactory) -> None:
    make_project()
    with make_project.open() as wh:
        result = wh.build("prod")
        assert [a.model for a in result.created] == [
            "stg_customers",
            "stg_orders",
            "customer_totals",
            "region_totals",
        ] or {a.model for a in result.created} == {
            "stg_customers",
            "stg_orders",
            "customer_totals",
            "region_totals",
        }
        assert len(result.repointed) == 4
        totals = rows(wh, "marts", "customer_totals", "customer_id")
        assert [(r[0], r[2], float(r[3])) for r in totals] == [
            ("c1", 2, 15.5),
            ("c2", 1, 7.0),
            ("c3", 1, 2.5),
        ]
        assert rows(wh, "marts", "region_totals", "region") == [("eu", 18.0), ("us", 7.0)]
        physical = {r.name for r in wh.backend.relations() if r.schema == "_dataplan"}
        assert {a.version_id for a in result.actions} <= physical


def test_second_build_is_a_noop_with_constant_queries(make_project: ProjectFactory) -> None:
    make_project()
    with make_project.open() as wh:
        wh.build("prod")
        before = catalog(wh)
        again = wh.build("prod")
        assert again.nothing_to_do and again.created == [] and again.repointed == []
        assert again.round_trips <= 8  # versions, environment, and the environment lock (5, 6 on Postgres)
        assert catalog(wh) == before


def test_dev_after_prod_reuses_versions(make_project: ProjectFactory) -> None:
    make_project()
    with make_project.open() as wh:
        wh.build("prod")
        dev = wh.build("dev")
        assert dev.created == [] and len(dev.repointed) == 4
        assert all(a.reason == "reuses an existing version" for a in dev.actions)
        assert rows(wh, "marts__dev", "region_totals", "region") == [("eu", 18.0), ("us", 7.0)]
        names = {e["name"]: e["models"] for e in wh.environments()}
        assert names == {"prod": 4, "dev": 4}


def test_change_builds_new_version_and_dev_does_not_touch_prod(make_project: ProjectFactory) -> None:
    root = make_project()
    with make_project.open() as wh:
        wh.build("prod")
    write_files(
        root,
        {
            "models/staging/stg_orders.sql": """
        select order_id, customer_id, amount * 2 as amount, status, ordered_at
        from raw.orders where status <> 'test'
    """
        },
    )
    with make_project.open() as wh:
        dev = wh.build("dev")
        created = {a.model for a in dev.created}
        # the changed model and everything downstream of it; stg_customers is reused
        assert created == {"stg_orders", "customer_totals", "region_totals"}
        assert rows(wh, "marts__dev", "region_totals", "region") == [("eu", 36.0), ("us", 14.0)]
        assert rows(wh, "marts", "region_totals", "region") == [("eu", 18.0), ("us", 7.0)]
        status = wh.status("prod")
        assert {m.model for m in status.pending} == created


def test_versions_read_parent_versions_not_environment_views(make_project: ProjectFactory) -> None:
    make_project()
    with make_project.open() as wh:
        wh.build("prod")
        # Dropping prod's views must not break any version: versions read versions.
        wh.drop_environment("prod")
        wh.build("dev")
        assert rows(wh, "marts__dev", "region_totals", "region") == [("eu", 18.0), ("us", 7.0)]
        stored = wh.store.versions()
        for v in stored:
            assert '"staging"."' not in v.query_sql and '"marts"."' not in v.query_sql


def test_dry_run_lists_and_runs_no_ddl(make_project: ProjectFactory) -> None:
    make_project()
    with make_project.open() as wh:
        before = catalog(wh)
        result = wh.build("prod", dry_run=True)
        assert result.dry_run and len(result.created) == 4
        assert catalog(wh) == before


def test_select_builds_only_selected_and_missing_parents(make_project: ProjectFactory) -> None:
    make_project()
    with make_project.open() as wh:
        result = wh.build("prod", select="customer_totals")
        pointed = {a.model for a in result.repointed}
        assert pointed == {"customer_totals"}
        assert {a.model for a in result.created} == {"customer_totals", "stg_orders", "stg_customers"}
        assert wh.status("prod").pending[0].state == "not built"


def test_enforced_contract_failure_leaves_environment_untouched(make_project: ProjectFactory) -> None:
    root = make_project()
    with make_project.open() as wh:
        wh.build("prod")
    write_files(
        root,
        {
            "models/marts/customer_totals.yml": """
            models:
              - name: customer_totals
                contract: {enforced: true}
                columns:
                  - {name: customer_id, type: varchar}
                  - {name: region, type: varchar}
                  - {name: orders, type: varchar}
                  - {name: lifetime, type: double}
        """,
            "models/marts/customer_totals.sql": """
            select c.customer_id, c.region, count(o.order_id) as orders, sum(o.amount) as total
            from staging.stg_customers c left join stg_orders o on o.customer_id = c.customer_id
            where c.region is not null
            group by c.customer_id, c.region
        """,
        },
    )
    with make_project.open() as wh:
        before = catalog(wh)
        with pytest.raises(ContractError) as info:
            wh.build("prod")
        text = str(info.value)
        assert "column orders: declared varchar, query returns" in text
        assert "column lifetime is declared but the query does not return it" in text
        assert "column total" in text and "not declared" in text
        # the first declared column it is about (orders' type: line), each mismatch naming its own line
        assert info.value.path == root / "models/marts/customer_totals.yml" and info.value.line == 7
        assert "does not return it (line 8)" in text
        assert catalog(wh) == before


def test_contract_types_accepted_when_equal(make_project: ProjectFactory) -> None:
    root = make_project()
    write_files(
        root,
        {
            "models/marts/region_totals.yml": """
        models:
          - name: region_totals
            contract: {enforced: true}
            columns:
              - {name: region, type: varchar}
              - {name: total, type: double}
    """
        },
    )
    with make_project.open() as wh:
        assert len(wh.build("prod").created) == 4


def test_table_run_recomputes_atomically(make_project: ProjectFactory) -> None:
    root = make_project()
    write_files(
        root,
        {"models/marts/region_totals.yml": "models:\n  - name: region_totals\n    materialized: table\n"},
    )
    with make_project.open() as wh:
        wh.build("prod")
        run_sql(wh, ["insert into raw.orders values (6,'c2',3.0,'paid','2025-01-06')"])
        assert rows(wh, "marts", "region_totals", "region") == [("eu", 18.0), ("us", 7.0)]
        result = wh.run("prod")
        assert any(a.model == "region_totals" and a.action == "recomputed" for a in result.refreshed)
        assert rows(wh, "marts", "region_totals", "region") == [("eu", 18.0), ("us", 10.0)]


def test_incremental_builds_in_batches_and_run_processes_new_intervals(make_project: ProjectFactory) -> None:
    root = make_project()
    write_files(
        root,
        {
            "models/staging/daily_orders.sql": """
            select ordered_at, count(*) as orders, sum(amount) as amount
            from raw.orders group by ordered_at
        """,
            "models/staging/daily_orders.yml": """
            models:
              - name: daily_orders
                materialized: incremental_by_time
                time_column: ordered_at
                start: 2025-01-01
                batch_days: 2
        """,
        },
    )
    with make_project.open() as wh:
        result = wh.build("prod", select="daily_orders", end=dt.date(2025, 1, 5))
        assert result.created[0].batches == 2  # [1,3) and [3,5)
        got = rows(wh, "staging", "daily_orders", "ordered_at")
        assert [(str(r[0]), r[1]) for r in got] == [("2025-01-01", 1), ("2025-01-02", 2), ("2025-01-03", 1)]
        vid = result.created[0].version_id
        assert len(wh.store.intervals([vid])[vid]) == 2
        # late data inside a processed interval is not picked up; new intervals are
        run_sql(wh, ["insert into raw.orders values (7,'c1',1.0,'paid','2025-01-06')"])
        ran = wh.run("prod", select="daily_orders", end=dt.date(2025, 1, 7))
        assert ran.refreshed[0].action == "1 new batch(es): 2025-01-05 -> 2025-01-07, 2 rows"
        # each recorded interval keeps the rows its batch inserted (it was always 0)
        counts = exp.select("row_count").from_(wh.store.t("intervals")).where(
            exp.column("version_id").eq(exp.Literal.string(vid))).order_by("start_ts")  # fmt: skip
        assert [int(r[0]) for r in wh.backend.fetch_rows(counts)] == [2, 1, 2]  # one row a day
        got = rows(wh, "staging", "daily_orders", "ordered_at")
        assert [str(r[0]) for r in got] == [
            "2025-01-01",
            "2025-01-02",
            "2025-01-03",
            "2025-01-05",
            "2025-01-06",
        ]
        again = wh.run("prod", select="daily_orders", end=dt.date(2025, 1, 7))
        assert again.refreshed[0].action == "no new intervals"


def test_seeds_load_as_models(make_project: ProjectFactory) -> None:
    files = {
        "seeds/regions.csv": "region,label\neu,Europe\nus,United States\n",
        "models/marts/region_names.sql": "select region, label from seeds.regions",
    }
    make_project(files, raw=False)
    with make_project.open() as wh:
        wh.build("prod")
        assert rows(wh, "marts", "region_names", "region") == [("eu", "Europe"), ("us", "United States")]
        wh.run("prod")  # a seed's data comes from its file: run must keep it
        assert rows(wh, "seeds", "regions", "region") == [("eu", "Europe"), ("us", "United States")]


def test_removed_model_view_is_dropped_but_version_kept(make_project: ProjectFactory) -> None:
    root = make_project()
    with make_project.open() as wh:
        first = wh.build("prod")
    (root / "models/marts/region_totals.sql").unlink()
    with make_project.open() as wh:
        result = wh.build("prod")
        assert result.removed == ["region_totals"]
        rels = {(r.schema, r.name) for r in wh.backend.relations()}
        assert ("marts", "region_totals") not in rels
        old = next(a.version_id for a in first.actions if a.model == "region_totals")
        assert ("_dataplan", old) in rels


def test_env_drop_keeps_versions_and_prod(make_project: ProjectFactory) -> None:
    make_project()
    with make_project.open() as wh:
        wh.build("prod")
        wh.build("dev")
        dropped = wh.drop_environment("dev")
        assert len(dropped) == 4
        schemas = {r.schema for r in wh.backend.relations()}
        assert "marts__dev" not in schemas and "marts" in schemas
        assert [e["name"] for e in wh.environments()] == ["prod"]
        with pytest.raises(StateError, match="environment dev does not exist"):
            wh.drop_environment("dev")


def test_tests_report_outcomes(make_project: ProjectFactory) -> None:
    root = make_project()
    write_files(
        root,
        {
            "models/marts/customer_totals.yml": """
            models:
              - name: customer_totals
                grain: [customer_id]
                columns:
                  - name: region
                    tests:
                      - accepted_values: {values: [eu]}
                        severity: warn
                  - name: customer_id
                    tests:
                      - not_null
                      - relationships: {to: stg_customers, field: customer_id}
                tests:
                  - expression: "total < 10"
                  - row_count: {min: 1, max: 2}
        """,
            "tests/no_negative.sql": "select * from marts.region_totals where total < 0\n",
        },
    )
    with make_project.open() as wh:
        wh.build("prod")
        run = wh.test("prod")
    by = {(r.node, r.test): r for r in run.results}
    assert by[("marts.customer_totals", "accepted_values(region)")].outcome == "warn"
    assert by[("marts.customer_totals", "accepted_values(region)")].failing_rows == 1
    assert by[("marts.customer_totals", "expression(total < 10)")].outcome == "fail"
    assert by[("marts.customer_totals", "expression(total < 10)")].failing_rows == 1
    assert by[("marts.customer_totals", "expression(total < 10)")].sample[0]["customer_id"] == "c1"
    assert by[("marts.customer_totals", "row_count[1..2]")].failing_rows == 3
    assert by[("marts.customer_totals", "unique_grain(customer_id)")].outcome == "pass"
    assert by[("marts.customer_totals", "relationships(customer_id)")].outcome == "pass"
    assert by[("raw.orders", "unique(order_id)")].outcome == "pass"
    assert by[("no_negative", "no_negative")].outcome == "pass"
    assert len(run.failed) == 2 and len(run.warned) == 1
