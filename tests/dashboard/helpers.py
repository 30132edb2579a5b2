"""Shared data for the dashboard tests: DuckDB fetching and realistic chart inputs."""

from __future__ import annotations

import math
from datetime import date, timedelta
from typing import Any

import duckdb
import pyarrow as pa

from dataplan.dashboard import ChartSpec, DashboardSection, chart_query, relation_for


def fetch(con: duckdb.DuckDBPyConnection, sql: str) -> pa.Table:
    """Run a query on DuckDB and return the result as a pyarrow Table (DuckDB 1.x and 2.x)."""
    relation: Any = con.sql(sql)
    if hasattr(relation, "to_arrow_table"):
        return relation.to_arrow_table()
    return relation.fetch_arrow_table()


def _noise(seed: int) -> float:
    """A deterministic pseudo-random number in [0, 1)."""
    return (math.sin(seed * 12.9898) * 43758.5453) % 1.0


def lifecycle_table(days: int = 730) -> pa.Table:
    start = date(2024, 1, 1)
    rows: dict[str, list[Any]] = {
        "date_day": [],
        "active_customers": [],
        "mrr": [],
        "churned_customers": [],
    }
    for i in range(days):
        rows["date_day"].append(start + timedelta(days=i))
        active = 8000 + i * 8.5 + 300 * math.sin(i / 29) + 120 * _noise(i)
        rows["active_customers"].append(int(active))
        rows["mrr"].append(round(active * 41.7, 2))
        rows["churned_customers"].append(int(20 + 8 * math.sin(i / 7) + 10 * _noise(i + 7)))
    return pa.table(rows)


CHANNELS = [("Organic", 30), ("Paid search", 22), ("Referral", 9), ('Partners <&> "co"', 5)]


def acquisition_table(days: int = 730) -> pa.Table:
    """Daily signups per channel."""
    start = date(2024, 1, 1)
    rows: dict[str, list[Any]] = {"date_day": [], "channel": [], "new_customers": []}
    for i in range(days):
        day = start + timedelta(days=i)
        weekend = 0.5 if day.weekday() >= 5 else 1.0
        for n, (channel, base) in enumerate(CHANNELS):
            rows["date_day"].append(day)
            rows["channel"].append(channel)
            rows["new_customers"].append(int(base * (1 + i / 900) * weekend + 12 * _noise(i * 4 + n)))
    return pa.table(rows)


def cohort_table(months: int = 24) -> pa.Table:
    rows: dict[str, list[Any]] = {
        "months_since_signup": [],
        "cohort_month": [],
        "retention_rate": [],
    }
    for c in range(months):
        cohort = date(2024 + (c // 12), c % 12 + 1, 1)
        for m in range(months - c):
            rate = 1.0 if m == 0 else 0.62 * math.exp(-m / 9) + 0.18 + _noise(c * 31 + m) / 40
            rows["months_since_signup"].append(m)
            rows["cohort_month"].append(cohort)
            rows["retention_rate"].append(round(rate, 4))
    return pa.table(rows)


LIFECYCLE = "marts.customer_lifecycle_daily"
ACTIVE = ChartSpec(
    title="Active customers",
    model=LIFECYCLE,
    kind="line",
    x="date_day",
    y=["active_customers"],
    description="Customers with a live subscription",
)
MRR = ChartSpec(title="MRR", model=LIFECYCLE, kind="area", x="date_day", y=["mrr"])
CHURNED = ChartSpec(
    title="Churned customers per month",
    model=LIFECYCLE,
    kind="bar",
    x="date_day",
    y=["churned_customers"],
    time_grain="month",
)
SIGNUPS = ChartSpec(
    title="Signups by channel",
    model="marts.acquisition_daily",
    kind="stacked_bar",
    x="date_day",
    y=["new_customers"],
    series="channel",
    time_grain="month",
)
WEEKLY_SIGNUPS = ChartSpec(
    title="Weekly signups by channel",
    model="marts.acquisition_daily",
    kind="line",
    x="date_day",
    y=["new_customers"],
    series="channel",
    time_grain="week",
)
RETENTION = ChartSpec(
    title="Cohort retention",
    model="marts.retention_cohorts",
    kind="heatmap",
    x="months_since_signup",
    y=["cohort_month"],
    value="retention_rate",
)


def realistic_sections() -> list[DashboardSection]:
    """Three marts loaded into DuckDB, each chart's query run on them: the whole flow."""
    con = duckdb.connect()
    con.execute("create schema marts")
    for name, table in [
        ("customer_lifecycle_daily", lifecycle_table()),
        ("acquisition_daily", acquisition_table()),
        ("retention_cohorts", cohort_table()),
    ]:
        con.register("incoming", table)
        con.execute(f'create table marts."{name}" as select * from incoming')  # noqa: S608
        con.unregister("incoming")

    def run(spec: ChartSpec) -> pa.Table:
        query = chart_query(spec, relation_for(spec.model))
        return fetch(con, query.sql(dialect="duckdb", identify=True))

    return [
        DashboardSection(
            name="lifecycle_dashboard",
            description="Daily customer lifecycle",
            owner="analytics@example.com",
            charts=[(spec, run(spec)) for spec in (ACTIVE, MRR, CHURNED)],
        ),
        DashboardSection(
            name="acquisition_dashboard",
            description="Where new customers come from",
            owner="growth@example.com",
            charts=[(spec, run(spec)) for spec in (SIGNUPS, WEEKLY_SIGNUPS, RETENTION)],
        ),
    ]
