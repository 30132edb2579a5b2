"""`dataplan demo --engine postgres`: the same story on a Postgres server, with the same figures as on DuckDB."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlglot import exp
from typer.testing import CliRunner

from dataplan import Warehouse
from dataplan.backends import connect_url
from dataplan.backends.base import table
from dataplan.cli.app import app
from dataplan.demo.story import DSN_VARIABLE, run_demo
from dataplan.verify.diff import diff

runner = CliRunner()
SOURCE_TABLES = 8  # the example's file source tables (raw exports), each loaded into _dataplan_files


@pytest.fixture
def pg_env(pg_dsn: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(DSN_VARIABLE, pg_dsn)
    return pg_dsn


def _counts(wh: Warehouse) -> tuple[int, int]:
    """Rows of a prod table built from the billing customers, and the billing customers the raw data holds."""
    spine = exp.select(exp.func("count", exp.Star())).from_(table("intermediate", "int_customer_spine"))
    distinct = exp.Count(this=exp.Distinct(expressions=[exp.column("customer_id", quoted=True)]))
    source = exp.select(distinct).from_(table("staging", "stg_billing_customers"))
    return int(wh.backend.fetch_value(spine)), int(wh.backend.fetch_value(source))


def test_the_demo_on_postgres_tells_the_whole_story_with_duckdbs_figures(pg_env: str, tmp_path: Path) -> None:
    target = tmp_path / "demo"
    result = run_demo(target, customers=300, engine="postgres")
    config = (target / "dataplan.yml").read_text()
    assert f"type: postgres\n  dsn: ${{{DSN_VARIABLE}}}\n" in config and pg_env not in config  # no secret in files
    assert result.build is not None and len(result.build.loaded) == SOURCE_TABLES
    assert "after loading" in next(s.summary for s in result.stages if s.name == "build")
    assert result.tests is not None and not result.tests.failed and len(result.tests.passed) > 100
    good, bad = result.changes
    assert good.status == "COMPLETE" and bad.status == "ROLLED BACK"
    assert any("rollback when it drops more than 1.0%" in m for m in bad.messages)
    database = pg_env.split("?")[0].rsplit("/", 1)[1]
    assert result.warehouse.startswith(f"postgres://postgres@/{database}?host=/")  # the suite's server: a socket

    # The same project and files built on DuckDB: every mart holds the same rows, compared across engines.
    twin = tmp_path / "twin"
    shutil.copytree(target, twin, ignore=shutil.ignore_patterns("plans", "reports"))
    (twin / "dataplan.yml").write_text(
        config.replace(f"type: postgres\n  dsn: ${{{DSN_VARIABLE}}}\n", "type: duckdb\n  path: warehouse.duckdb\n")
    )
    with Warehouse.open(twin) as duck:
        duck.build("prod")
        pg = connect_url(pg_env, twin)
        try:
            for name in ("customer_lifecycle_daily", "acquisition_daily", "retention_cohorts", "account_health"):
                model = duck.project.models[name]
                rel = table("marts", name)
                d = diff(duck.backend, rel, pg, rel.copy(), key=list(model.spec.grain), label_a="duckdb", label_b="pg")
                assert d.rows is not None and d.a.row_count == d.b.row_count > 0, name
                assert (d.rows.only_a, d.rows.only_b, d.rows.changed) == (0, 0, 0), name
        finally:
            pg.close()


def test_the_demo_on_postgres_reads_regenerated_data_into_prod(pg_env: str, tmp_path: Path) -> None:
    target = tmp_path / "demo"
    run_demo(target, customers=200, engine="postgres")
    with Warehouse.open(target) as wh:
        assert _counts(wh) == (200, 200)
    again = run_demo(target, customers=300, engine="postgres")
    stages = {s.name: s for s in again.stages}
    assert list(stages)[:5] == ["project", "data", "build", "refresh", "test"]
    assert stages["refresh"].summary == (
        "raw data was regenerated: recomputed 8 prod tables from it (views read it as is)"
    )
    with Warehouse.open(target) as wh:
        assert _counts(wh) == (300, 300)  # the files were loaded again, and the tables recomputed from them
    third = runner.invoke(app, ["demo", str(target), "--engine", "postgres", "--customers", "300"])
    assert third.exit_code == 0, third.output
    assert f"warehouse: Postgres at ${DSN_VARIABLE} (postgres://postgres@" in third.output
    assert "warehouse.duckdb" not in third.output


def test_the_demo_on_postgres_without_its_dsn_exits_2_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(DSN_VARIABLE, raising=False)
    target = tmp_path / "demo"
    result = runner.invoke(app, ["demo", str(target), "--engine", "postgres"])
    assert result.exit_code == 2, result.output
    output = " ".join(result.output.split())
    assert f"the demo on Postgres reads the server's connection string from {DSN_VARIABLE}, which is not set" in output
    assert f"export {DSN_VARIABLE}=postgresql://" in output
    assert not target.exists()


def test_the_demo_keeps_the_engine_of_the_project_already_there(pg_env: str, tmp_path: Path) -> None:
    target = tmp_path / "demo"
    target.mkdir()
    shutil.copytree(Path(__file__).parents[2] / "src/dataplan/examples/customer_lifecycle", target, dirs_exist_ok=True)
    before = sorted(p.relative_to(target) for p in target.rglob("*"))
    result = runner.invoke(app, ["demo", str(target), "--engine", "postgres", "--customers", "100"])
    assert result.exit_code == 2, result.output
    output = " ".join(result.output.split())
    assert f"the demo project in {target} runs on duckdb, not postgres" in output
    assert "dataplan demo DIR --engine postgres" in output
    assert sorted(p.relative_to(target) for p in target.rglob("*")) == before


def test_the_demo_on_a_postgres_server_that_does_not_answer_exits_3_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DSN_VARIABLE, "postgresql://analyst:hunter2secret@127.0.0.1:1/demo")
    target = tmp_path / "demo"
    result = runner.invoke(app, ["demo", str(target), "--engine", "postgres"])
    assert result.exit_code == 3, result.output
    assert "cannot connect to Postgres" in result.output
    assert "hunter2secret" not in result.output
    assert not target.exists()
