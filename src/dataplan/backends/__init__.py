"""Backends: one adapter per engine, the only place SQL text is made."""

from __future__ import annotations

from pathlib import Path

from dataplan.backends.base import Backend, Column, Relation
from dataplan.config import DuckDBConnection, PostgresConnection
from dataplan.errors import MissingDriverError

__all__ = ["Backend", "Column", "Relation", "connect"]


def connect(connection: DuckDBConnection | PostgresConnection, project_dir: Path) -> Backend:
    """Open a backend for a configured connection; drivers are imported lazily."""
    if isinstance(connection, DuckDBConnection):
        from dataplan.backends.duckdb import DuckDBBackend

        path = Path(connection.path)
        if connection.path != ":memory:" and not path.is_absolute():
            path = project_dir / path
        return DuckDBBackend(str(path), threads=connection.threads)
    try:
        from dataplan.backends.postgres import PostgresBackend
    except ImportError as exc:
        raise MissingDriverError(
            "the postgres backend needs the psycopg driver",
            hint="pip install 'dataplan[postgres]'",
        ) from exc
    return PostgresBackend(connection.dsn.get_secret_value())
