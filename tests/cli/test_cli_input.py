"""User mistakes on the command line: a clear message, exit 2, no traceback, nothing overwritten."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from dataplan.cli.app import app

runner = CliRunner()


def test_init_never_overwrites_a_file(tmp_path: Path) -> None:
    target = tmp_path / "dbt_project"
    (target / "models" / "staging").mkdir(parents=True)
    (target / "sources.yml").write_text("MINE\n")
    result = runner.invoke(app, ["init", str(target)])
    assert result.exit_code == 2 and "sources.yml" in result.output and "nothing was written" in result.output
    assert (target / "sources.yml").read_text() == "MINE\n"
    assert not (target / "dataplan.yml").exists()
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert runner.invoke(app, ["init", str(afile)]).exit_code == 2


def test_brackets_in_user_text_print_as_written(tmp_path: Path) -> None:
    assert runner.invoke(app, ["init", str(tmp_path / "shop")]).exit_code == 0
    result = runner.invoke(app, ["build", "-p", str(tmp_path / "shop"), "--select", "[/x]"])
    assert result.exit_code == 2 and "[/x]" in result.output, result.output


def test_an_unknown_dialect_names_the_config_line(tmp_path: Path) -> None:
    assert runner.invoke(app, ["init", str(tmp_path / "shop")]).exit_code == 0
    config = tmp_path / "shop" / "dataplan.yml"
    # Replaced, not appended: a second `dialect:` key is an error of its own (a duplicate key).
    config.write_text(config.read_text().replace("dialect: duckdb", "dialect: nosuchdialect", 1))
    result = runner.invoke(app, ["status", "-p", str(tmp_path / "shop")])
    assert result.exit_code == 2 and "dataplan.yml:2" in result.output and "unknown SQL dialect" in result.output


def test_a_config_that_is_not_utf8_names_its_line(tmp_path: Path) -> None:
    assert runner.invoke(app, ["init", str(tmp_path / "shop")]).exit_code == 0
    config = tmp_path / "shop" / "dataplan.yml"
    config.write_bytes(config.read_bytes() + b"# owner: J\xe9r\xf4me\n")
    lines = config.read_bytes().count(b"\n")
    result = runner.invoke(app, ["status", "-p", str(tmp_path / "shop")])
    assert result.exit_code == 2 and f"dataplan.yml:{lines}" in result.output and "not UTF-8" in result.output


def test_an_output_path_that_is_a_directory_is_bad_input(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("create table a as select 1 as id; create table b as select 1 as id")
    (tmp_path / "out").mkdir()
    result = runner.invoke(
        app, ["diff", "a", "b", "--key", "id", "--connection", str(db), "-f", "md", "-o", str(tmp_path / "out")]
    )
    assert result.exit_code == 2 and "out" in result.output, result.output


def test_a_malformed_postgres_url_is_bad_input_and_hides_the_password() -> None:
    result = runner.invoke(app, ["profile", "query:select 1", "--connection", "postgresql://u:pw-secret@[::1/db"])
    assert result.exit_code == 2 and "bad Postgres URL" in result.output
    assert "pw-secret" not in result.output


def test_profile_offers_and_accepts_only_the_formats_it_prints() -> None:
    assert "<text|json>" in runner.invoke(app, ["profile", "--help"]).output
    result = runner.invoke(app, ["profile", "query:select 1 as x", "--connection", ":memory:", "-f", "md"])
    assert result.exit_code == 2
    shown = runner.invoke(app, ["profile", "query:select 1 as x", "--connection", ":memory:", "-f", "json"])
    assert shown.exit_code == 0 and '"row_count": 1' in shown.output


def test_run_from_inside_a_project_names_the_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert runner.invoke(app, ["init", str(tmp_path / "shop")]).exit_code == 0
    monkeypatch.chdir(tmp_path / "shop" / "models" / "staging")
    result = runner.invoke(app, ["build"])
    assert result.exit_code == 2
    assert "no dataplan.yml in" in result.output
    assert f"hint: the project is in {tmp_path / 'shop'}: run dataplan there, or pass --project" in result.output
    assert not (tmp_path / "shop" / "warehouse.duckdb").exists()
    monkeypatch.chdir(tmp_path)  # no project above: the hint says how to make one
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 2 and "dataplan init" in result.output
