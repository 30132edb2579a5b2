"""Backends for the verification tests: an in-memory DuckDB and a connection to the suite's Postgres."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dataplan.backends.duckdb import DuckDBBackend
from dataplan.backends.postgres import PostgresBackend


@pytest.fixture
def duck() -> Iterator[DuckDBBackend]:
    be = DuckDBBackend(":memory:")
    yield be
    be.close()


@pytest.fixture
def pg(pg_dsn: str) -> Iterator[PostgresBackend]:
    be = PostgresBackend(pg_dsn)
    yield be
    be.close()
