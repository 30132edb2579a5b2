"""Backends: one adapter per engine, the only place SQL text is made."""

from __future__ import annotations

from pathlib import Path

from dataplan.backends.base import Backend, Column, Relation
from dataplan.config import DuckDBConnection, PostgresConnection
from dataplan.errors import MissingDriverError

__all__ = ["Backend", "Column", "Relation", "connect", "connect_url"]


def connect(connection: DuckDBConnection | PostgresConnection, project_dir: Path) -> Backend:
    """Open a backend for a configured connection; drivers are imported lazily."""
    if isinstance(connection, DuckDBConnection):
        from dataplan.backends.duckdb import DuckDBBackend

        path = Path(connection.path)
        if connection.path != ":memory:" and not path.is_absolute():
            path = project_dir / path
        return DuckDBBackend(str(path), threads=connection.threads, memory_limit=connection.memory_limit)
    try:
        from dataplan.backends.postgres import PostgresBackend
    except ImportError as exc:
        raise MissingDriverError(
            "the postgres backend needs the psycopg driver",
            hint="pip install 'dataplan[postgres]'",
        ) from exc
    return PostgresBackend(connection.dsn.get_secret_value())


def connect_url(url: str, base_dir: Path) -> Backend:
    """A backend from a connection string: ``duckdb:PATH``, ``PATH.duckdb`` or ``postgresql://...``."""
    from dataplan.errors import InputError
    from dataplan.secrets import redact, register_dsn

    if url.startswith(("postgres://", "postgresql://")):
        register_dsn(url)
        from urllib.parse import urlparse

        try:
            urlparse(url).port  # noqa: B018 - parses the host and port, raising on a bad one
        except ValueError as exc:  # e.g. an unclosed [IPv6] host; the whole URL is already a secret
            raise InputError(f"bad Postgres URL: {exc}", hint="postgresql://USER:PASSWORD@HOST:PORT/DB") from exc
        from pydantic import SecretStr

        return connect(PostgresConnection(type="postgres", dsn=SecretStr(url)), base_dir)
    path, _, query = url.removeprefix("duckdb:").partition("?")
    if url.startswith("duckdb:") or path.endswith((".duckdb", ".db")) or path == ":memory:":
        from urllib.parse import parse_qsl

        from pydantic import ValidationError

        try:
            settings = dict(parse_qsl(query, strict_parsing=bool(query)))
            connection = DuckDBConnection(type="duckdb", path=path, **settings)  # type: ignore[arg-type]
        except ValueError as exc:  # a query string that does not parse, or a setting pydantic refuses
            bad = str(exc)
            if isinstance(exc, ValidationError):
                bad = "; ".join(f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors())
            plural = "" if isinstance(exc, ValidationError) else "s"
            raise InputError(f"bad DuckDB connection setting{plural} in {url!r}: {bad}",
                             hint="duckdb:PATH?threads=2&memory_limit=512MB") from exc  # fmt: skip
        if path != ":memory:" and not (base_dir / path).expanduser().is_file():
            # Connecting would create an empty database, and "table a does not exist" would hide the typo.
            raise InputError(f"no DuckDB database at {path}", hint="check the path (relative to the current directory)")
        return connect(connection, base_dir)
    # A string that may hold a password is not echoed, not even redacted: its shape is unknown.
    shown = repr(url) if "@" not in url and "password" not in url.lower() else "the connection string"
    raise InputError(
        f"cannot tell which engine {redact(shown)} is",
        hint="use duckdb:PATH, a .duckdb file, or a postgresql:// URL",
    )
