"""Backends: one adapter per engine, the only place SQL text is made."""

from __future__ import annotations

from pathlib import Path

from dataplan.backends.base import Backend, Column, Relation
from dataplan.config import CONFIG_FILE, DuckDBConnection, PostgresConnection
from dataplan.errors import ConfigError, MissingDriverError

__all__ = ["Backend", "Column", "Relation", "connect", "connect_url"]


def connect(
    connection: DuckDBConnection | PostgresConnection, project_dir: Path, *, create: bool = True
) -> Backend:
    """Open a backend for a configured connection; drivers are imported lazily. Without ``create``, a DuckDB
    file that does not exist yet is bad input instead of a new empty database (``check_database``)."""
    if isinstance(connection, DuckDBConnection):
        from dataplan.backends.duckdb import DuckDBBackend

        path = Path(connection.path)
        if connection.path != ":memory:" and not path.is_absolute():
            path = project_dir / path
        if connection.path != ":memory:":
            check_database(connection.path, path, project_dir / CONFIG_FILE, create)
        return DuckDBBackend(str(path), threads=connection.threads, memory_limit=connection.memory_limit)
    try:
        from dataplan.backends.postgres import PostgresBackend
    except ImportError as exc:
        raise MissingDriverError(
            "the postgres backend needs the psycopg driver",
            hint="pip install 'dataplan[postgres]'",
        ) from exc
    return PostgresBackend(connection.dsn.get_secret_value())


def check_database(written: str, path: Path, config: Path, create: bool) -> None:
    """A DuckDB path that cannot be opened as meant is the configuration's error, named by its line: a missing
    folder, or (without ``create``: every command but ``build``) no database yet, so that a mistyped path
    never leaves an empty database behind."""
    from dataplan.project.yamlfile import LineIndex

    problem, hint = None, "fix `path:` under `connection:`"
    if not path.parent.is_dir():
        problem, hint = f"the folder of the DuckDB database {written} does not exist ({path.parent})", (
            "create the folder, or " + hint
        )
    elif not create and not path.exists():
        problem = f"no DuckDB database at {written}: nothing is built yet, or the path is mistyped"
        hint = "`dataplan build` creates it; or " + hint
    if problem is None:
        return
    text = config.read_text(encoding="utf-8") if config.is_file() else None
    line = LineIndex(config, text).line(("connection", "path")) if text is not None else None
    raise ConfigError(problem, path=config if line else None, line=line, hint=hint)


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
