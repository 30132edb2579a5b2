"""`dataplan profile` / `dataplan diff` read a project's names as its models do: source tables by name."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
from typer.testing import CliRunner, Result

from dataplan.cli.app import app
from tests.build.test_file_sources import FIRST, PROJECT, SECOND, write_load
from tests.conftest import ProjectFactory, catalog, run_sql

runner = CliRunner()


def invoke(root: Path, *args: str) -> Result:
    return runner.invoke(app, [*args, "-p", str(root)])


def profiled_rows(result: Result) -> int:
    assert result.exit_code == 0, result.output
    return int(json.loads(result.stdout)["row_count"])


def test_a_file_source_is_profiled_and_diffed_by_its_name_on_both_engines(make_project: ProjectFactory) -> None:
    root = make_project(PROJECT, raw=False)
    write_load(root, "2025-01-01", FIRST)
    write_load(root, "2025-01-02", SECOND)
    pg = make_project.backend == "postgres"
    if pg:  # diff and profile only read: files never loaded are an error, and nothing is written
        with make_project.open() as wh:
            before = catalog(wh)
        refused = invoke(root, "profile", "crm.accounts")
        assert refused.exit_code == 2
        assert "source crm.accounts's files are not loaded into postgres yet" in refused.stderr
        assert "sources.yml" in refused.stderr  # where it is declared
        with make_project.open() as wh:
            assert catalog(wh) == before
    with make_project.open() as wh:
        wh.build("prod")
    first = invoke(root, "profile", "crm.accounts", "-f", "json")
    assert profiled_rows(first) == 3
    assert ("which are unchanged" in first.stderr) is pg
    same = invoke(root, "diff", "crm.accounts", "staging.stg_accounts", "--key", "account_id", "-f", "json")
    assert same.exit_code == 0, same.output
    assert json.loads(same.stdout)["rows"]["unchanged"] == 3

    write_load(root, "2025-01-03", {"account_id": pa.array([4], pa.int32()), "region": ["apac"]})
    later = invoke(root, "profile", "crm.accounts", "-f", "json")
    if pg:  # the last load, said to be stale, and still not loaded again
        assert profiled_rows(later) == 3
        assert "they changed since (`dataplan run` loads them again)" in later.stderr
    else:  # DuckDB reads the files as they are
        assert profiled_rows(later) == 4 and later.stderr == ""


def test_a_mistyped_name_gets_the_closest_sources_and_views(make_project: ProjectFactory) -> None:
    root = make_project(PROJECT, raw=False)
    write_load(root, "2025-01-01", FIRST)
    write_load(root, "2025-01-02", SECOND)
    with make_project.open() as wh:
        wh.build("prod")
        before = catalog(wh)
    source = invoke(root, "profile", "crm.acounts")
    assert source.exit_code == 2
    assert "table crm.acounts does not exist" in source.stderr
    assert "did you mean crm.accounts?" in source.stderr
    env_as_schema = invoke(root, "diff", "prod.stg_accounts", "crm.accounts", "--key", "account_id")
    assert env_as_schema.exit_code == 2
    assert "did you mean staging.stg_accounts or" in env_as_schema.stderr
    with make_project.open() as wh:
        assert catalog(wh) == before


def test_a_warehouse_source_resolves_to_the_schema_it_maps_to(duck_project: ProjectFactory) -> None:
    files = {
        "models/staging/stg_orders.sql": "select order_id, amount from shop.orders",
        "sources.yml": "sources:\n  - name: shop\n    schema: raw\n    tables: [orders]\n",
    }
    root = duck_project(files)  # creates raw.orders (5 rows)
    assert profiled_rows(invoke(root, "profile", "shop.orders", "-f", "json")) == 5
    direct = invoke(root, "profile", "raw.orders", "-f", "json")  # the warehouse's own name still works
    assert profiled_rows(direct) == 5
    # with --connection the names are the warehouse's only: no project sources
    elsewhere = runner.invoke(app, ["profile", "shop.orders", "--connection", str(root / "warehouse.duckdb")])
    assert elsewhere.exit_code == 2 and "table shop.orders does not exist" in elsewhere.stderr


def test_every_relation_the_engine_can_read_is_found_by_its_name(make_project: ProjectFactory) -> None:
    """The hint's catalog is for names that do not exist: a version table, a loaded copy of files, or a
    Postgres materialized view (not in information_schema.tables) is read as before, not refused."""
    root = make_project(PROJECT, raw=False)
    write_load(root, "2025-01-01", FIRST)
    write_load(root, "2025-01-02", SECOND)
    pg = make_project.backend == "postgres"
    with make_project.open() as wh:
        wh.build("prod")
        version = next(r for r in wh.backend.relations() if r.schema == "_dataplan" and "stg_accounts" in r.name)
        statements = ["create schema if not exists rep"]
        statements.append(
            "create materialized view rep.accounts as select * from staging.stg_accounts"
            if pg
            else "create table rep.accounts as select * from staging.stg_accounts"
        )
        run_sql(wh, statements)
    names = [f"_dataplan.{version.name}", "rep.accounts"]
    if pg:
        names.append("_dataplan_files.crm__accounts")
    for name in names:
        assert profiled_rows(invoke(root, "profile", name, "-f", "json")) == 3, name
