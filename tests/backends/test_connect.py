"""Connection strings and DuckDB settings: what `--connection` and dataplan.yml accept."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlglot import exp

from dataplan.backends import connect_url
from dataplan.errors import InputError


def setting(backend: object, name: str) -> str:
    return str(backend.fetch_value(exp.select(exp.func("current_setting", exp.Literal.string(name)))))  # type: ignore[attr-defined]


def test_duckdb_url_settings_are_applied(tmp_path: Path) -> None:
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
