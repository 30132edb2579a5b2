"""The command line: help everywhere, exit codes, JSON, init, secrets."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import dataplan
from dataplan.cli.app import app
from tests.conftest import ProjectFactory, write_files

runner = CliRunner()


def all_commands() -> list[list[str]]:
    root = typer.main.get_command(app)
    out: list[list[str]] = []

    def walk(cmd: object, path: list[str]) -> None:
        out.append(path)
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, [*path, name])

    walk(root, [])
    return out


@pytest.mark.parametrize("path", all_commands(), ids=lambda p: " ".join(p) or "dataplan")
def test_every_command_has_help(path: list[str]) -> None:
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    # every command documents itself
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) > 3


@pytest.mark.parametrize("path", all_commands(), ids=lambda p: " ".join(p) or "dataplan")
def test_every_summary_is_one_paragraph_without_a_hard_line_break(path: list[str]) -> None:
    # The first paragraph is the line `dataplan --help` lists: a newline in it broke that listing mid-sentence.
    cmd = typer.main.get_command(app)
    for name in path:
        cmd = cmd.commands[name]  # type: ignore[attr-defined]
    summary = (cmd.help or "").strip().split("\n\n")[0]
    assert "\n" not in summary, summary


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"dataplan {dataplan.__version__}"


def test_readme_documents_every_command() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    for path in all_commands():
        if path:
            assert f"dataplan {' '.join(path)}" in readme, f"README does not document `dataplan {' '.join(path)}`"


def test_init_build_test_roundtrip(tmp_path: Path) -> None:
    target = tmp_path / "shop"
    assert runner.invoke(app, ["init", str(target)]).exit_code == 0
    built = runner.invoke(app, ["build", "-p", str(target), "--format", "json"])
    assert built.exit_code == 0, built.output
    payload = json.loads(built.output)
    assert payload["environment"] == "prod" and len(payload["actions"]) == 3
    assert {a["version"] for a in payload["actions"]} == {"create"}
    again = runner.invoke(app, ["build", "-p", str(target)])
    assert "Nothing to do" in again.output
    tested = runner.invoke(app, ["test", "-p", str(target), "--format", "json"])
    assert tested.exit_code == 0, tested.output
    results = json.loads(tested.output)["results"]
    assert results and all(r["outcome"] == "pass" for r in results)
    again_init = runner.invoke(app, ["init", str(target)])
    assert again_init.exit_code == 2 and "already exist" in again_init.output
    # a clone at another path (a teammate, CI) is the same project: its file sources did not change
    moved = tmp_path / "elsewhere" / "shop"
    shutil.copytree(target, moved)
    assert "Nothing to do" in runner.invoke(app, ["build", "-p", str(moved)]).output


def test_the_scaffold_builds_and_passes_its_tests_on_postgres(
    tmp_path: Path, pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`init`, then the commented Postgres connection of its dataplan.yml instead of DuckDB's."""
    target = tmp_path / "shop"
    assert runner.invoke(app, ["init", str(target)]).exit_code == 0
    config = target / "dataplan.yml"
    text = config.read_text()
    duck = "connection:\n  type: duckdb\n  path: warehouse.duckdb\n"
    pg = "# connection:                  # or a Postgres server; the DSN comes from the environment, never this file\n"
    pg += "#   type: postgres\n#   dsn: ${WAREHOUSE_DSN}\n"
    assert duck in text and pg in text
    config.write_text(text.replace(duck, "").replace(pg, "connection:\n  type: postgres\n  dsn: ${WAREHOUSE_DSN}\n"))
    monkeypatch.setenv("WAREHOUSE_DSN", pg_dsn)
    built = runner.invoke(app, ["build", "-p", str(target)])
    assert built.exit_code == 0, built.output  # the contract's decimal(38,2) held: sums are numeric on Postgres
    tested = runner.invoke(app, ["test", "-p", str(target), "--format", "json"])
    assert tested.exit_code == 0, tested.output
    assert {r["outcome"] for r in json.loads(tested.output)["results"]} == {"pass"}


def test_test_exit_code_1_on_failure(duck_project: ProjectFactory) -> None:
    root = duck_project()
    write_files(root, {"tests/always_fails.sql": "select * from raw.orders\n"})
    assert runner.invoke(app, ["build", "-p", str(root)]).exit_code == 0
    result = runner.invoke(app, ["test", "-p", str(root)])
    assert result.exit_code == 1
    assert "1 failed" in result.output


def test_dry_run_and_status_and_env_commands(duck_project: ProjectFactory) -> None:
    root = duck_project()
    dry = runner.invoke(app, ["build", "-p", str(root), "--dry-run"])
    assert dry.exit_code == 0 and "Dry run" in dry.output and "would build 4 version(s)" in dry.output
    status = json.loads(runner.invoke(app, ["status", "-p", str(root), "--format", "json"]).output)
    assert {m["state"] for m in status["models"]} == {"not built"}
    assert runner.invoke(app, ["build", "-p", str(root), "--env", "dev"]).exit_code == 0
    envs = json.loads(runner.invoke(app, ["env", "list", "-p", str(root), "--format", "json"]).output)
    assert [e["name"] for e in envs] == ["dev"]
    refused = runner.invoke(app, ["env", "drop", "prod", "-p", str(root)])
    assert refused.exit_code == 2 and "--yes" in refused.output
    dropped = runner.invoke(app, ["env", "drop", "dev", "-p", str(root)])
    assert dropped.exit_code == 0 and "4 views" in dropped.output
    ran = runner.invoke(app, ["run", "-p", str(root), "--env", "dev"])
    assert ran.exit_code == 2 and "environment dev does not exist" in ran.output
    bad_end = runner.invoke(app, ["run", "-p", str(root), "--end", "tomorrow"])
    assert bad_end.exit_code == 2 and "--end 'tomorrow' is not a date" in bad_end.output


def test_python_module_entry_point(tmp_path: Path) -> None:
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "dataplan", "--help"], capture_output=True, text=True, check=True)
    assert "build" in out.stdout and "plan" not in out.stderr


def test_public_api_is_curated() -> None:
    for name in dataplan.__all__:
        assert hasattr(dataplan, name), name
    assert {"Project", "Warehouse", "DataplanError"} <= set(dataplan.__all__)


def test_postgres_password_never_shown(tmp_path: Path, pg_dsn: str, pg_server: object) -> None:
    import psycopg

    make_project = ProjectFactory(tmp_path / "project", "postgres", lambda: pg_dsn)
    uri: str = pg_server.get_uri()  # type: ignore[attr-defined]
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute(
            b"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'planner') THEN "
            b"CREATE ROLE planner LOGIN SUPERUSER PASSWORD 'S3cr3t-Pa55'; END IF; END $$"
        )
    host_dsn = make_project.connection()["dsn"]
    dsn = host_dsn.replace("postgresql://postgres:@", "postgresql://planner:S3cr3t-Pa55@")
    root = make_project()
    (root / "dataplan.yml").write_text(f"name: shop\nconnection:\n  type: postgres\n  dsn: {dsn}\n")
    outputs = [
        runner.invoke(app, [*cmd, "-p", str(root)]).output
        for cmd in (
            ["build"],
            ["build", "--format", "json"],
            ["status"],
            ["test", "--format", "json"],
            ["env", "list"],
        )
    ]
    (root / "models/marts/broken.sql").write_text("select nope from raw.orders")
    outputs.append(runner.invoke(app, ["build", "-p", str(root)]).output)
    assert "Binder" in outputs[-1] or "nope" in outputs[-1]
    for text in outputs:
        assert "S3cr3t-Pa55" not in text


@pytest.mark.parametrize("path", all_commands()[1:], ids=lambda p: " ".join(p))
def test_every_command_shows_examples_that_use_its_own_options(path: list[str]) -> None:
    import shlex

    from dataplan.cli.common import _EXAMPLES

    result = runner.invoke(app, [*path, "--help"])
    assert "Examples:" in result.output, result.output
    cmd = typer.main.get_command(app)
    for name in path:
        cmd = cmd.commands[name]  # type: ignore[attr-defined]
    opts = {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)}
    key = " ".join(path)
    text = "\n".join(_EXAMPLES[key]).replace("\\\n", " ")
    own = [seg for line in text.splitlines() for seg in line.split("&&") if seg.strip().startswith(f"dataplan {key}")]
    assert own, f"no example of `dataplan {key}`"
    for example in own:
        words = shlex.split(example, comments=True)[1 + len(path) :]
        if words and words[0] in getattr(cmd, "commands", {}):  # a group's example of a subcommand
            continue
        unknown = [w.split("=")[0] for w in words if w.startswith("-") and w.split("=")[0] not in opts]
        assert not unknown, f"{example}: {unknown}"
