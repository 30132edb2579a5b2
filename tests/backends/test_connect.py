"""Connection strings and DuckDB settings: what `--connection` and dataplan.yml accept."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from sqlglot import exp

from dataplan.backends import connect_url
from dataplan.errors import InputError


def setting(backend: object, name: str) -> str:
    return str(backend.fetch_value(exp.select(exp.func("current_setting", exp.Literal.string(name)))))  # type: ignore[attr-defined]


def test_duckdb_url_settings_are_applied(tmp_path: Path) -> None:
    duckdb.connect(str(tmp_path / "w.duckdb")).close()
    be = connect_url(f"duckdb:{tmp_path / 'w.duckdb'}?threads=1&memory_limit=512MB", tmp_path)
    try:
        assert setting(be, "threads") == "1"
        assert setting(be, "memory_limit") in ("488.2 MiB", "512.0 MB", "512MB")
    finally:
        be.close()


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("memory_limit=lots", "memory_limit"),
        ("colour=blue", "colour"),
        ("threads=two", "threads"),
        ("memory_limit", "bad DuckDB connection settings"),
    ],
)
def test_bad_duckdb_url_settings_are_input_errors(tmp_path: Path, query: str, message: str) -> None:
    path = tmp_path / "w.duckdb"
    with pytest.raises(InputError, match=message):
        connect_url(f"{path}?{query}", tmp_path)
    assert not path.exists()  # nothing was opened, so nothing was created


def test_a_missing_duckdb_file_is_an_input_error_and_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "typo.duckdb"
    with pytest.raises(InputError, match="no DuckDB database at .*typo.duckdb"):
        connect_url(str(path), tmp_path)
    assert not path.exists()


def test_fetched_timestamptz_values_need_no_missing_module(tmp_path: Path) -> None:
    import datetime as dt

    be = connect_url(":memory:", tmp_path)
    try:
        (value,) = be.fetch_rows(exp.select(exp.cast(exp.Literal.string("2024-01-01 10:00+00"), "timestamptz")))[0]
    finally:
        be.close()
    assert value.astimezone(dt.UTC) == dt.datetime(2024, 1, 1, 10, tzinfo=dt.UTC)


def test_a_value_python_cannot_hold_is_an_engine_error(tmp_path: Path, pg_dsn: str) -> None:
    from dataplan.errors import EngineError

    be = connect_url(pg_dsn, tmp_path)
    try:
        with pytest.raises(EngineError, match="Postgres: .*infinity"):
            be.fetch_rows(exp.select(exp.cast(exp.Literal.string("infinity"), "date")))
    finally:
        be.close()
