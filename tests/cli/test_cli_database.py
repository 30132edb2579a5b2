"""A DuckDB path that does not lead to a database: only `build` creates one; the rest say so and write nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from dataplan.cli.app import app

runner = CliRunner()


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    root = tmp_path / "shop"
    assert runner.invoke(app, ["init", str(root)]).exit_code == 0
    return root


def point_at(root: Path, path: str) -> int:
    """Set the connection's path; returns the 1-based line of `path:` in dataplan.yml."""
    config = root / "dataplan.yml"
    text = config.read_text().replace("path: warehouse.duckdb", f"path: {path}")
    config.write_text(text)
    return next(i for i, line in enumerate(text.splitlines(), 1) if line.strip() == f"path: {path}")


@pytest.mark.parametrize(
    "command",
    [["status"], ["test"], ["run"], ["plan"], ["env", "list"], ["plan", "list"], ["diff", "staging.stg_orders",
     "staging.stg_orders"], ["profile", "staging.stg_orders"], ["janitor", "--dry-run"], ["dashboard"]],
)  # fmt: skip
def test_a_mistyped_database_path_is_bad_input_and_creates_no_file(shop: Path, command: list[str]) -> None:
    line = point_at(shop, "wh2.duckdb")
    result = runner.invoke(app, [*command, "-p", str(shop)])
    assert result.exit_code == 2, result.output
    assert f"dataplan.yml:{line}: no DuckDB database at wh2.duckdb" in result.stderr
    assert "`dataplan build` creates it" in result.stderr
    assert not (shop / "wh2.duckdb").exists()


def test_build_creates_the_database_but_not_a_missing_folder(shop: Path) -> None:
    line = point_at(shop, "nodir/wh.duckdb")
    refused = runner.invoke(app, ["build", "-p", str(shop)])
    assert refused.exit_code == 2, refused.output  # was exit 3, "cannot open DuckDB database"
    assert f"dataplan.yml:{line}: the folder of the DuckDB database nodir/wh.duckdb does not exist" in refused.stderr
    assert not (shop / "nodir").exists()
    (shop / "nodir").mkdir()
    built = runner.invoke(app, ["build", "-p", str(shop)])
    assert built.exit_code == 0, built.output
    assert (shop / "nodir/wh.duckdb").is_file()
    assert runner.invoke(app, ["status", "-p", str(shop)]).exit_code == 0
