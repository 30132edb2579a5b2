"""The demo data generator: deterministic, laid out as daily snapshots, with real-feed defects."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest

from dataplan.demo.generate import GenerationResult, generate

AS_OF = date(2025, 12, 31)
DATASETS = {
    "crm": ("accounts", "contacts", "opportunities"),
    "billing": ("customers", "subscriptions", "invoices", "payments"),
    "support": ("tickets",),
}
KEYS = {
    "accounts": "account_id",
    "contacts": "contact_id",
    "opportunities": "history_id",
    "customers": "customer_id",
    "subscriptions": "subscription_id",
    "invoices": "invoice_id",
    "payments": "payment_id",
    "tickets": "ticket_id",
}


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _sql(con: duckdb.DuckDBPyConnection, query: str) -> list[tuple[Any, ...]]:
    return con.sql(query).fetchall()


def _connect(root: Path) -> duckdb.DuckDBPyConnection:
    """One view per dataset, read the way the example project's sources read them."""
    con = duckdb.connect()
    for source, tables in DATASETS.items():
        con.sql(f"create schema {source}")
        for table in tables:
            glob = root / "data" / "raw" / source / table / "dt=*" / "*.parquet"
            con.sql(
                f"create view {source}.{table} as select * from read_parquet('{glob}', "
                "hive_partitioning = true, hive_types = {'dt': DATE})"
            )
    return con


def _latest(table: str) -> str:
    """The newest version of each row, as the staging models keep it."""
    source = next(s for s, tables in DATASETS.items() if table in tables)
    return (
        f"(select * from {source}.{table} qualify row_number() over "
        f"(partition by {KEYS[table]} order by updated_at desc, dt desc) = 1)"
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[GenerationResult, duckdb.DuckDBPyConnection]:
    root = tmp_path_factory.mktemp("world")
    result = generate(root, customers=2_000, seed=7)
    return result, _connect(root)


def test_same_arguments_write_byte_identical_files(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    generate(first, customers=500, seed=3)
    generate(second, customers=500, seed=3)
    files = _files(first)
    assert files == _files(second)
    assert len(files) == 8 * 3 * 2 + 8  # a part and a manifest per dataset and load, plus samples

    generate(first, customers=500, seed=3)  # again into the same root: overwritten identically
    assert _files(first) == files
    assert not [name for name in files if ".tmp" in name]


def test_another_seed_gives_other_data(tmp_path: Path) -> None:
    generate(tmp_path / "a", customers=300, seed=1)
    generate(tmp_path / "b", customers=300, seed=2)
    part = Path("data/raw/billing/subscriptions/dt=2025-12-29/part-0.parquet")
    assert (tmp_path / "a" / part).read_bytes() != (tmp_path / "b" / part).read_bytes()


def test_layout_is_one_dt_folder_per_load_with_a_part_and_a_manifest(
    world: tuple[GenerationResult, duckdb.DuckDBPyConnection],
) -> None:
    result, _ = world
    raw = result.root / "data" / "raw"
    dts = [f"dt={AS_OF - timedelta(days=2)}", f"dt={AS_OF - timedelta(days=1)}", f"dt={AS_OF}"]
    assert result.load_dates == (AS_OF - timedelta(days=2), AS_OF - timedelta(days=1), AS_OF)
    assert sorted(p.name for p in raw.iterdir()) == ["billing", "crm", "support"]
    for source, tables in DATASETS.items():
        assert sorted(p.name for p in (raw / source).iterdir()) == sorted([*tables, "_samples"])
        for table in tables:
            assert sorted(p.name for p in (raw / source / table).iterdir()) == dts
            for dt in dts:
                folder = raw / source / table / dt
                assert sorted(p.name for p in folder.iterdir()) == ["_meta.json", "part-0.parquet"]
                manifest = json.loads((folder / "_meta.json").read_text())
                rows = pq.ParquetFile(folder / "part-0.parquet").metadata.num_rows
                assert manifest["row_count"] == rows == manifest["files"][0]["rows"]
                assert (manifest["source"], manifest["dataset"], manifest["dt"]) == (source, table, dt[3:])
    assert sum(result.rows.values()) == sum(pq.ParquetFile(p).metadata.num_rows for p in raw.glob("*/*/dt=*/*.parquet"))
    assert set(result.rows) == {f"{s}.{t}" for s, tables in DATASETS.items() for t in tables}
    assert all(path.exists() for path in result.files) and result.seconds > 0


def test_samples_sit_outside_the_snapshot_glob_and_would_duplicate_keys(
    world: tuple[GenerationResult, duckdb.DuckDBPyConnection],
) -> None:
    result, con = world
    sample = result.root / "data/raw/billing/_samples/customers/dt=2025-12-29/part-0.parquet"
    assert pq.ParquetFile(sample).metadata.num_rows == 50
    # The dataset glob reads exactly the dt= parts, never _samples/...
    assert _sql(con, "select count(*) from billing.customers") == [(result.rows["billing.customers"],)]
    # ...which hold copies of real rows: a reader taking them too would double 50 customers.
    (copied,) = _sql(
        con,
        f"select count(distinct customer_id) from read_parquet('{sample}') "
        "where customer_id in (select customer_id from billing.customers)",
    )[0]
    assert copied == 50


def test_first_load_holds_history_and_later_loads_the_day_changes(
    world: tuple[GenerationResult, duckdb.DuckDBPyConnection],
) -> None:
    _, con = world
    (first_signup, last_signup), *_ = _sql(con, "select min(created_at), max(created_at) from billing.customers")
    assert date(2024, 1, 1) <= first_signup.date() <= date(2024, 1, 10)  # two years before as_of
    assert last_signup.date() <= AS_OF
    per_load = dict(_sql(con, "select dt, count(*) from billing.invoices group by dt"))
    assert per_load[AS_OF - timedelta(days=2)] > 20 * per_load[AS_OF]
    # In a daily load most rows changed that day; a row never changes after its load date.
    same_day, later = _sql(
        con,
        "select count(*) filter (where cast(updated_at as date) = dt), "
        "count(*) filter (where cast(updated_at as date) > dt) from billing.invoices where dt > date '2025-12-29'",
    )[0]
    assert same_day > 0 and later == 0


def test_feed_resends_exact_duplicates_in_later_loads(
    world: tuple[GenerationResult, duckdb.DuckDBPyConnection],
) -> None:
    _, con = world
    resent = 0
    for source, tables in DATASETS.items():
        for table in tables:
            (count,) = _sql(
                con,
                f"select count(*) from (select * exclude (dt) from {source}.{table} group by all "
                f"having count(distinct dt) > 1)",
            )[0]
            resent += count
    assert resent > 20


def test_feed_delivers_rows_late(world: tuple[GenerationResult, duckdb.DuckDBPyConnection]) -> None:
    _, con = world
    # Rows in a daily load whose last change is older than the load and that no earlier load carried.
    (late,) = _sql(
        con,
        """
        select count(*) from billing.invoices as l
        where l.dt > date '2025-12-29' and cast(l.updated_at as date) < l.dt
          and not exists (
            select 1 from billing.invoices as e
            where e.invoice_id = l.invoice_id and e.updated_at = l.updated_at and e.dt < l.dt)
        """,
    )[0]
    assert late > 0


def test_about_two_percent_of_billing_customers_match_no_crm_account(
    world: tuple[GenerationResult, duckdb.DuckDBPyConnection],
) -> None:
    _, con = world
    unmatched, customers = _sql(
        con,
        f"""
        select count(*) filter (where a.account_id is null), count(*)
        from {_latest("customers")} as c left join {_latest("accounts")} as a on c.crm_account_id = a.account_id
        """,
    )[0]
    assert customers == 2_000
    assert 0.005 <= unmatched / customers <= 0.05
    # Support tickets always carry a real CRM account (support syncs from the CRM).
    assert _sql(
        con,
        f"select count(*) from {_latest('tickets')} t left join {_latest('accounts')} a using (account_id) "
        "where a.account_id is null",
    ) == [(0,)]


def test_amounts_come_in_usd_eur_and_gbp(world: tuple[GenerationResult, duckdb.DuckDBPyConnection]) -> None:
    _, con = world
    shares = dict(
        _sql(con, f"select currency, count(*) / sum(count(*)) over () from {_latest('customers')} group by 1")
    )
    assert set(shares) == {"usd", "eur", "gbp"}
    assert shares["usd"] > 0.5 and shares["eur"] > 0.05 and shares["gbp"] > 0.02
    # Prices are set per currency, not converted: a EUR starter plan costs 27.00 EUR.
    eur_starter = _sql(
        con, f"select distinct mrr_cents from {_latest('subscriptions')} where currency = 'eur' and plan = 'starter'"
    )
    assert set(eur_starter) <= {(2700,), (2160,)}


def test_optional_fields_have_nulls(world: tuple[GenerationResult, duckdb.DuckDBPyConnection]) -> None:
    _, con = world
    for table, column in [
        ("crm.contacts", "email"),
        ("crm.contacts", "title"),
        ("crm.accounts", "industry"),
        ("support.tickets", "csat"),
        ("support.tickets", "solved_at"),
        ("billing.customers", "crm_account_id"),
    ]:
        (nulls, rows), *_ = _sql(con, f"select count(*) - count({column}), count(*) from {table}")
        assert 0 < nulls < rows, (table, column)


def test_lifecycle_has_trials_conversions_changes_churn_and_reactivations(
    world: tuple[GenerationResult, duckdb.DuckDBPyConnection],
) -> None:
    _, con = world
    status = dict(_sql(con, f"select status, count(*) from {_latest('subscriptions')} group by 1"))
    assert {"trialing", "active", "expired", "canceled", "changed"} <= set(status)
    reasons = dict(_sql(con, f"select end_reason, count(*) from {_latest('subscriptions')} group by 1"))
    assert reasons["upgrade"] > reasons["downgrade"] > 0
    assert reasons["voluntary_churn"] > reasons["involuntary_churn"] > 0
    converted, trials = _sql(
        con,
        f"select count(started_at), count(*) from {_latest('subscriptions')} "
        "where trial_start is not null and trial_end < timestamp '2025-12-01'",
    )[0]
    assert 0.3 < converted / trials < 0.7
    (reactivated,) = _sql(
        con,
        f"""
        select count(*) from {_latest("subscriptions")} as later
        join {_latest("subscriptions")} as earlier
          on later.customer_id = earlier.customer_id and earlier.ended_at < later.started_at
        where earlier.end_reason in ('voluntary_churn', 'involuntary_churn')
        """,
    )[0]
    assert reactivated > 0


def test_churn_is_higher_for_customers_with_failed_payments(
    world: tuple[GenerationResult, duckdb.DuckDBPyConnection],
) -> None:
    _, con = world
    rates = dict(
        _sql(
            con,
            f"""
            with failed as (
                select customer_id, bool_or(status = 'failed') as any_failed
                from {_latest("payments")} group by customer_id
            ),
            churned as (
                select customer_id, bool_or(end_reason like '%churn') as churned
                from {_latest("subscriptions")} where started_at is not null group by customer_id
            )
            select any_failed, avg(case when churned then 1.0 else 0.0 end)
            from churned join failed using (customer_id) group by any_failed
            """,
        )
    )
    assert rates[True] > 1.5 * rates[False]


def test_row_counts_scale_with_customers(tmp_path: Path) -> None:
    small = generate(tmp_path / "small", customers=500, seed=5)
    large = generate(tmp_path / "large", customers=1_000, seed=5)
    for key, rows in small.rows.items():
        assert 1.5 < large.rows[key] / rows < 2.6, key
    con = _connect(tmp_path / "large")
    assert _sql(con, "select count(distinct customer_id) from billing.customers") == [(1_000,)]


def test_a_single_load_is_all_history_without_defects(tmp_path: Path) -> None:
    result = generate(tmp_path, customers=300, seed=11, loads=1, as_of=date(2024, 6, 30))
    assert result.load_dates == (date(2024, 6, 30),)
    con = _connect(tmp_path)
    for source, tables in DATASETS.items():
        for table in tables:
            assert _sql(con, f"select count(*) = count(distinct {KEYS[table]}) from {source}.{table}") == [(True,)]
            (latest,) = _sql(con, f"select max(updated_at) from {source}.{table}")[0]
            assert latest is None or latest.date() <= date(2024, 6, 30)


def test_loads_that_no_longer_exist_are_removed(tmp_path: Path) -> None:
    generate(tmp_path, customers=200, loads=3)
    generate(tmp_path, customers=200, loads=2)
    folders = sorted(p.name for p in (tmp_path / "data/raw/billing/invoices").iterdir())
    assert folders == [f"dt={AS_OF - timedelta(days=1)}", f"dt={AS_OF}"]


@pytest.mark.parametrize("arguments", [{"customers": 0}, {"loads": 0}])
def test_rejects_empty_arguments(tmp_path: Path, arguments: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        generate(tmp_path, **arguments)
