"""How the CLI meets its surroundings: a DuckDB path with no database (only `build` creates one; the rest say so
and write nothing), and a reader that closes standard output early."""

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


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_reader_that_closes_the_pipe_early_gets_exit_141_not_1(shop: Path, fmt: str) -> None:
    """`dataplan test | head -1`: exit 1 means a failed check, so a closed pipe exits as `cat` would (141)."""
    import subprocess
    import sys

    assert runner.invoke(app, ["build", "-p", str(shop)]).exit_code == 0
    command = [sys.executable, "-m", "dataplan", "test", "-p", str(shop), "--format", fmt]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # before the command writes anything: its first write finds no reader
    stderr = proc.stderr.read()
    assert proc.wait() == 141
    assert stderr == b""  # no traceback, no "Exception ignored"
    passed = subprocess.run(command, capture_output=True, check=False)
    assert passed.returncode == 0, passed.stderr  # all tests pass: with a reader, the exit is the tests' own
