"""A deployed project with a planned change, on either engine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlglot import exp

from dataplan import Warehouse
from dataplan.backends.base import table
from dataplan.rollout.faults import FAULT_ENV
from tests.conftest import ProjectFactory, run_sql, write_files

# A change that drops 2 of the 80 orders (2.5%), and a row-count trigger at 1% on order_facts that it fires.
NO_TEST = {
    "models/staging/stg_orders.sql": "select order_id, customer_id, amount, status from raw.orders "
    "where status <> 'test'\n"
}
STRICT_ORDER_FACTS = {
    "models/marts/order_facts.yml": """
        models:
          - name: order_facts
            materialized: table
            grain: [order_id]
            rollback_when: {row_count_drop_pct: 1}
    """,
}
ROW_DROP = {**NO_TEST, **STRICT_ORDER_FACTS}

FILES = {
    "models/staging/stg_orders.sql": "select order_id, customer_id, amount, status from raw.orders\n",
    "models/marts/order_facts.sql": "select order_id, customer_id, amount * 1.0 as amount, status from stg_orders\n",
    "models/marts/order_facts.yml": """
        models:
          - name: order_facts
            materialized: table
            grain: [order_id]
            columns:
              - {name: order_id, tests: [not_null, unique]}
    """,
    "models/marts/customer_revenue.sql": """
        select customer_id, sum(amount) as revenue, count(*) as orders from order_facts group by customer_id
    """,
    "models/marts/customer_revenue.yml": """
        models:
          - name: customer_revenue
            materialized: table
            grain: [customer_id]
    """,
    "sources.yml": """
        sources:
          - name: raw
            schema: raw
            tables: [orders]
    """,
    "exposures.yml": """
        exposures:
          - name: revenue
            type: dashboard
            depends_on:
              - model: marts.customer_revenue
                columns: [customer_id, revenue]
    """,
}

RAW = [
    "create schema if not exists raw",
    "create table raw.orders (order_id integer, customer_id varchar, amount double, status varchar)",
    "insert into raw.orders select i, 'c' || cast(i % 7 as varchar), cast(i as double), "
    "case when i % 40 = 0 then 'test' else 'paid' end from range(1, 81) t(i)",
]
RAW_PG = RAW[:2] + [
    "insert into raw.orders select i, 'c' || cast(i % 7 as varchar), cast(i as double), "
    "case when i % 40 = 0 then 'test' else 'paid' end from generate_series(1, 80) as t(i)",
]


class Deployed:
    def __init__(self, factory: ProjectFactory) -> None:
        self.factory = factory
        self.root: Path = factory(FILES, raw=False)
        with factory.open() as wh:
            run_sql(wh, RAW if factory.backend == "duckdb" else RAW_PG)
            wh.build("prod")

    def open(self) -> Warehouse:
        return self.factory.open()

    def change(self, files: dict[str, str]) -> None:
        write_files(self.root, files)

    def plan(self, **kw: object) -> str:
        with self.open() as wh:
            return wh.plan("prod", **kw).plan_id  # type: ignore[arg-type]

    def rows(self, schema: str, name: str, order: str) -> list[tuple[object, ...]]:
        with self.open() as wh:
            q = exp.select("*").from_(table(schema, name)).order_by(exp.column(order, quoted=True))
            return wh.backend.fetch_rows(q)


@pytest.fixture
def deployed(make_project: ProjectFactory) -> Deployed:
    return Deployed(make_project)


def full_catalog(wh: Warehouse) -> tuple[dict[tuple[str, str], str], dict[tuple[str, str], list[tuple[object, ...]]]]:
    """View definitions and the sorted content of every table (a checksum a person can read)."""
    views = wh.backend.view_definitions()
    tables = {}
    for rel in wh.backend.relations():
        if rel.kind == "table":
            rows = wh.backend.fetch_rows(exp.select("*").from_(table(rel.schema, rel.name)))
            tables[(rel.schema, rel.name)] = sorted(rows, key=repr)
    return views, tables


def run_cli(deployed: Deployed, *args: str, fault: str | None = None) -> subprocess.CompletedProcess[str]:
    """`dataplan ARGS -p ROOT`: in a child process killed at ``fault`` (see rollout/faults.py) when given,
    in this process otherwise (what follows a kill, resume or rollback, is a new command either way, and a
    child costs 2 s of imports: the crash tests ran 54 of them)."""
    if fault is None:
        from typer.testing import CliRunner

        from dataplan.cli.app import app

        done = CliRunner().invoke(app, [*args, "-p", str(deployed.root)])
        return subprocess.CompletedProcess(["dataplan", *args], done.exit_code, done.stdout, done.stderr)
    env = dict(os.environ)
    env[FAULT_ENV] = fault
    return subprocess.run(
        [sys.executable, "-m", "dataplan", *args, "-p", str(deployed.root)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def state_of(deployed: Deployed, environment: str) -> dict[str, str]:
    with deployed.open() as wh:
        return {n: e.version_id for n, e in sorted(wh.store.environment_models(environment).items())}
