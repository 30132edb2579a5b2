"""Shared fixtures: a real Postgres server (pgserver) and small projects on either engine."""

from __future__ import annotations

import textwrap
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from dataplan import Project, Warehouse

BACKENDS = ["duckdb", "postgres"]


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One Postgres server for the session, started from the pgserver wheel."""
    import pgserver  # a dev dependency: Postgres tests run everywhere, never skipped

    server = pgserver.get_server(tmp_path_factory.mktemp("pg"), cleanup_mode="stop")
    yield server
    server.cleanup()


@pytest.fixture
def pg_dsn(pg_server: Any) -> str:
    """A fresh database per test so tests never see each other's objects."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    uri: str = pg_server.get_uri()
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"'.encode())  # test setup, fixed generated name
    return uri.replace("/postgres?", f"/{name}?")


def write_files(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")


SHOP_FILES = {
    "models/staging/stg_orders.sql": """
        select order_id, customer_id, amount, status, ordered_at
        from raw.orders
        where status <> 'test'
    """,
    "models/staging/stg_customers.sql": """
        select customer_id, name, region from raw.customers
    """,
    "models/marts/customer_totals.sql": """
        select c.customer_id, c.region, count(o.order_id) as orders, sum(o.amount) as total
        from staging.stg_customers c
        left join stg_orders o on o.customer_id = c.customer_id
        group by c.customer_id, c.region
    """,
    "models/marts/region_totals.sql": """
        select region, sum(total) as total from marts.customer_totals group by region
    """,
    "sources.yml": """
        sources:
          - name: raw
            schema: raw
            tables:
              - name: orders
                columns:
                  - {name: order_id, tests: [not_null, unique]}
              - name: customers
    """,
}


class ProjectFactory:
    """Writes a project for one engine and creates its raw tables."""

    def __init__(self, root: Path, backend: str, pg_dsn: Callable[[], str]) -> None:
        self.root = root
        self.backend = backend
        self._pg_dsn = pg_dsn

    def connection(self) -> dict[str, str]:
        if self.backend == "duckdb":
            return {"type": "duckdb", "path": "warehouse.duckdb"}
        return {"type": "postgres", "dsn": self._pg_dsn()}

    def __call__(self, files: dict[str, str] | None = None, *, raw: bool = True, **config: Any) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        settings = {"name": "shop", "connection": self.connection(), **config}
        (self.root / "dataplan.yml").write_text(yaml.safe_dump(settings), encoding="utf-8")
        write_files(self.root, SHOP_FILES if files is None else files)
        if raw:
            self.create_raw()
        return self.root

    def create_raw(self) -> None:
        with Warehouse.open(Project.load(self.root)) as wh:
            run_sql(wh, RAW_SQL)

    def open(self) -> Warehouse:
        return Warehouse.open(self.root)


RAW_SQL = [
    "create schema if not exists raw",
    "create table raw.customers (customer_id varchar, name varchar, region varchar)",
    "insert into raw.customers values ('c1','Ann','eu'), ('c2','Bob','us'), ('c3','Cy','eu')",
    "create table raw.orders (order_id integer, customer_id varchar, amount double, status varchar, ordered_at date)",
    "insert into raw.orders values (1,'c1',10.0,'paid','2025-01-01'), (2,'c1',5.5,'paid','2025-01-02'),"
    " (3,'c2',7.0,'paid','2025-01-02'), (4,'c3',1.0,'test','2025-01-03'), (5,'c3',2.5,'paid','2025-01-05')",
]


def run_sql(wh: Warehouse, statements: list[str]) -> None:
    """Test-only setup SQL: fixed statements, parsed by sqlglot and rendered by the backend."""
    import sqlglot

    for stmt in statements:
        wh.backend.execute(sqlglot.parse_one(stmt, read="duckdb"))


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_project(tmp_path: Path, engine: str, request: pytest.FixtureRequest) -> ProjectFactory:
    def dsn() -> str:
        return str(request.getfixturevalue("pg_dsn"))

    return ProjectFactory(tmp_path / "project", engine, dsn)


@pytest.fixture
def duck_project(tmp_path: Path, request: pytest.FixtureRequest) -> ProjectFactory:
    return ProjectFactory(tmp_path / "project", "duckdb", lambda: "")


def catalog(wh: Warehouse) -> tuple[list[tuple[str, str, str]], dict[tuple[str, str], str]]:
    """Everything a user could see changed: relations and view definitions."""
    rels = sorted((r.schema, r.name, r.kind) for r in wh.backend.relations())
    return rels, wh.backend.view_definitions()


def start_blocked(pg_dsn: str, work: Callable[[], object], what: str) -> tuple[threading.Thread, list[object]]:
    """Run ``work`` in a thread until it waits on a lock held by this test; the thread and its outcome
    (``work``'s result, or the exception it raised: what a second command would have printed)."""
    import psycopg

    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(work())
        except Exception as exc:
            outcome.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    with psycopg.connect(pg_dsn, autocommit=True) as watcher:
        waiting = b"select count(*) from pg_stat_activity where wait_event_type = 'Lock'"
        for _ in range(200):
            if watcher.execute(waiting).fetchone() == (1,):
                return worker, outcome
            threading.Event().wait(0.05)
    raise AssertionError(f"{what} never waited for the first")
