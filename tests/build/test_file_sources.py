"""File sources: read where they lie on DuckDB, loaded into ``_dataplan_files`` on Postgres — the same rows."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlglot import exp
from typer.testing import CliRunner

from dataplan import Warehouse
from dataplan.backends.base import table
from dataplan.backends.files import LOAD_BATCH_ROWS, NOTE
from dataplan.cli.app import app
from dataplan.errors import InputError
from tests.conftest import ProjectFactory, catalog, start_blocked

D = dt.date
PROJECT = {
    "sources.yml": """
        sources:
          - name: crm
            format: parquet
            path: data/crm
            tables:
              - name: accounts
                columns:
                  - {name: account_id, tests: [not_null, unique]}
    """,
    "models/staging/stg_accounts.sql": "select account_id, region, tier, amount, dt from crm.accounts",
    "models/marts/by_region.sql": "select region, count(*) as n from staging.stg_accounts group by region",
    "models/marts/by_region.yml": "models:\n  - name: by_region\n    materialized: table\n",
}
FIRST = {"account_id": pa.array([1, 2], pa.int32()), "region": ["eu", "us"],
         "amount": pa.array([decimal.Decimal("1.50"), None], pa.decimal128(10, 2))}  # fmt: skip
SECOND = {"account_id": pa.array([3], pa.int32()), "region": ["eu"], "tier": ["gold"],
          "amount": pa.array([decimal.Decimal("2.25")], pa.decimal128(10, 2))}  # fmt: skip
THIRD = {"account_id": pa.array([4], pa.int32()), "region": ["us"], "tier": ["silver"],
         "amount": pa.array([decimal.Decimal("3.00")], pa.decimal128(10, 2))}  # fmt: skip
LOADED = "_dataplan_files.crm__accounts"
runner = CliRunner()


def write_load(root: Path, day: str, columns: dict[str, object], name: str = "part-0") -> Path:
    path = root / "data/crm/accounts" / f"dt={day}" / f"{name}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), path)  # type: ignore[arg-type]
    return path


def served(wh: Warehouse, schema: str = "staging", name: str = "stg_accounts") -> list[tuple[object, ...]]:
    q = exp.select("*").from_(table(schema, name)).order_by(exp.column("account_id", quoted=True))
    return [tuple(r) for r in wh.backend.fetch_rows(q)]


def regions(wh: Warehouse) -> dict[str, int]:
    return {r: int(n) for r, n in wh.backend.fetch_rows(exp.select("*").from_(table("marts", "by_region")))}


def pg_accounts(pg_dsn: str, where: Path, **config: Any) -> tuple[ProjectFactory, Path]:
    """The accounts project on Postgres at ``where``, its two loads of files written, nothing built."""
    factory = ProjectFactory(where, "postgres", lambda: pg_dsn)
    root = factory(PROJECT, raw=False, **config)
    write_load(root, "2025-01-01", FIRST)
    write_load(root, "2025-01-02", SECOND)
    return factory, root


def drop_accounts_source(root: Path) -> None:
    """The source and the models reading it leave the project; one model that reads nothing stays."""
    (root / "sources.yml").unlink()
    for path in ("models/staging/stg_accounts.sql", "models/marts/by_region.sql", "models/marts/by_region.yml"):
        (root / path).unlink()
    (root / "models/marts/one.sql").write_text("select 1 as x")


@pytest.fixture
def files_project(make_project: ProjectFactory) -> Path:
    root = make_project(PROJECT, raw=False)
    write_load(root, "2025-01-01", FIRST)
    write_load(root, "2025-01-02", SECOND)
    return root


def test_a_parquet_source_is_read_by_name_with_its_dt_folders_on_both_engines(
    files_project: Path, make_project: ProjectFactory
) -> None:
    with make_project.open() as wh:
        result = wh.build("prod")
        assert served(wh) == [
            (1, "eu", None, decimal.Decimal("1.50"), D(2025, 1, 1)),  # no tier in the first load: NULL
            (2, "us", None, None, D(2025, 1, 1)),
            (3, "eu", "gold", decimal.Decimal("2.25"), D(2025, 1, 2)),
        ]
        assert regions(wh) == {"eu": 2, "us": 1}
        assert [t.outcome for t in wh.test("prod").results] == ["pass", "pass"]
    if make_project.backend == "duckdb":
        assert result.loaded == []  # read where they lie
    else:
        [load] = result.loaded
        assert (load.source, load.table, load.files, load.rows) == ("crm.accounts", LOADED, 2, 3)


def test_a_new_load_of_files_is_served_after_run_on_both_engines(
    files_project: Path, make_project: ProjectFactory
) -> None:
    with make_project.open() as wh:
        wh.build("prod")
    write_load(files_project, "2025-01-03", {"account_id": pa.array([4], pa.int32()), "region": ["apac"]})
    with make_project.open() as wh:
        run = wh.run("prod")
        assert [r[0] for r in served(wh)] == [1, 2, 3, 4]
        assert regions(wh) == {"eu": 2, "us": 1, "apac": 1}  # the table was recomputed from the new rows
    assert [(x.files, x.rows) for x in run.loaded] == ([] if make_project.backend == "duckdb" else [(3, 4)])


def test_postgres_loads_files_again_only_when_they_change(pg_dsn: str, tmp_path: Path) -> None:
    factory = ProjectFactory(tmp_path / "project", "postgres", lambda: pg_dsn)
    root = factory(PROJECT, raw=False)
    first = write_load(root, "2025-01-01", FIRST)
    write_load(root, "2025-01-02", SECOND)
    with factory.open() as wh:
        assert len(wh.build("prod").loaded) == 1
        note = wh.backend.table_note(table("_dataplan_files", "crm__accounts"))
        assert note is not None and note.startswith(NOTE)
    with factory.open() as wh:  # another process, files as they were: nothing to load
        assert wh.build("prod").loaded == []
        assert wh.run("prod").loaded == []
    # Rewritten in place (same path, new content): its size and time change, and so does the fingerprint.
    pq.write_table(pa.table({"account_id": pa.array([7], pa.int32()), "region": ["eu"]}), first)
    os.utime(first, ns=(first.stat().st_mtime_ns + 10**9, first.stat().st_mtime_ns + 10**9))
    with factory.open() as wh:
        [load] = wh.run("prod").loaded
        assert load.rows == 2
        assert [r[:2] for r in served(wh)] == [(3, "eu"), (7, "eu")]
        assert wh.backend.table_note(table("_dataplan_files", "crm__accounts")) != note


def test_postgres_adds_a_column_that_new_files_bring(pg_dsn: str, tmp_path: Path) -> None:
    factory, root = pg_accounts(pg_dsn, tmp_path / "project")
    with factory.open() as wh:
        wh.build("prod")
    write_load(root, "2025-01-03", {**SECOND, "account_id": pa.array([5], pa.int32()), "score": [0.5]})
    with factory.open() as wh:
        wh.run("prod")
        loaded = table("_dataplan_files", "crm__accounts")
        assert [c.name for c in wh.backend.table_columns(loaded)] == [
            "account_id", "region", "amount", "tier", "dt", "score",
        ]  # fmt: skip
        q = exp.select("account_id", "score").from_(loaded).order_by("account_id")
        assert wh.backend.fetch_rows(q) == [(1, None), (2, None), (3, None), (5, 0.5)]


def test_postgres_refuses_files_whose_column_changed_type_and_keeps_the_last_load(pg_dsn: str, tmp_path: Path) -> None:
    factory, root = pg_accounts(pg_dsn, tmp_path / "project")
    with factory.open() as wh:
        wh.build("prod")
        before = catalog(wh), served(wh)
    mixed = write_load(root, "2025-01-03", {**SECOND, "account_id": ["x-1"]})  # text ids in one file
    with factory.open() as wh:
        with pytest.raises(InputError) as unreadable:
            wh.run("prod")
        assert (catalog(wh), served(wh)) == before
    # The file to fix, and the one it disagrees with.
    assert unreadable.value.path == mixed
    assert unreadable.value.message == (
        "source crm.accounts: column account_id is string in this file but int32 in dt=2025-01-01/part-0.parquet"
        f" (under {root / 'data/crm/accounts'})"
    )
    # Every file re-exported with text ids, and region gone: the files read, but no longer fit the table.
    for path in (root / "data/crm/accounts").rglob("*.parquet"):
        path.unlink()
    write_load(root, "2025-01-03", {k: v for k, v in SECOND.items() if k != "region"} | {"account_id": ["x-1"]})
    assert mixed.exists()
    with factory.open() as wh:
        with pytest.raises(InputError) as info:
            wh.run("prod")
        assert (catalog(wh), served(wh)) == before
    message = str(info.value)
    assert "source crm.accounts: its files no longer match the table they were loaded into" in message
    assert '"_dataplan_files"."crm__accounts"' in message
    assert "type changed: account_id (integer -> text); in no file now: region" in message
    # The way out is in the files: dropping the table would drop prod's views with it, unnoticed by status.
    assert "restore those columns and types in the files" in (info.value.hint or "")
    assert "do not drop it" in (info.value.hint or "")


def test_a_postgres_file_source_without_files_exits_2_and_changes_nothing(pg_dsn: str, tmp_path: Path) -> None:
    factory = ProjectFactory(tmp_path / "project", "postgres", lambda: pg_dsn)
    root = factory(PROJECT, raw=False)
    with factory.open() as wh:
        before = catalog(wh)
    result = runner.invoke(app, ["build", "--project", str(root)])
    assert result.exit_code == 2, result.output
    output = " ".join(result.output.split())
    assert "source crm.accounts has no parquet files under" in output
    assert f"{root / 'sources.yml'}:4: " in output  # the line of the source's path
    assert "data/crm/accounts" in output
    assert "check the source's path in sources.yml" in output
    with factory.open() as wh:
        assert catalog(wh) == before


def test_csv_files_build_the_same_rows_on_both_engines(make_project: ProjectFactory) -> None:
    csv_project = {
        "sources.yml": "sources:\n  - name: shop\n    format: csv\n    path: data/shop\n    tables: [orders]\n",
        "models/staging/stg_orders.sql": "select order_id, amount, note from shop.orders",
    }
    root = make_project(csv_project, raw=False)
    (root / "data/shop/orders").mkdir(parents=True)
    (root / "data/shop/orders/a.csv").write_text("order_id,amount,note\n1,2.5,first\n2,4.0,\n", encoding="utf-8")
    (root / "data/shop/orders/b.csv").write_text("order_id,amount,note\n3,1.25,third\n", encoding="utf-8")
    with make_project.open() as wh:
        wh.build("prod")
        q = exp.select("*").from_(table("staging", "stg_orders")).order_by("order_id")
        assert [tuple(r) for r in wh.backend.fetch_rows(q)] == [(1, 2.5, "first"), (2, 4.0, None), (3, 1.25, "third")]


def test_postgres_never_loads_two_source_tables_into_one_table(pg_dsn: str, tmp_path: Path) -> None:
    # a.b__c and a__b.c would both be a__b__c; two names alike in their first 63 bytes would be cut to one.
    long = "marketing_cloud_exports__email_campaign_engagement_events_"
    tables = [("a", "b__c"), ("a__b", "c"), ("mc", f"{long}v1"), ("mc", f"{long}v2")]
    sources = "sources:\n" + "".join(
        f"  - name: {src}\n    format: csv\n    path: data/{i}\n    tables: [{tbl}]\n"
        for i, (src, tbl) in enumerate(tables)
    )
    models = {f"models/staging/m{i}.sql": f"select id, who from {src}.{tbl}" for i, (src, tbl) in enumerate(tables)}
    factory = ProjectFactory(tmp_path / "project", "postgres", lambda: pg_dsn)
    root = factory({"sources.yml": sources, **models}, raw=False)
    for i, (src, tbl) in enumerate(tables):
        (root / f"data/{i}/{tbl}").mkdir(parents=True)
        (root / f"data/{i}/{tbl}/x.csv").write_text(f"id,who\n{i},{src}.{tbl}\n", encoding="utf-8")
    with factory.open() as wh:
        loads = wh.build("prod").loaded
        for i, (src, tbl) in enumerate(tables):
            assert wh.backend.fetch_rows(exp.select("*").from_(table("staging", f"m{i}"))) == [(i, f"{src}.{tbl}")]
    names = [load.table for load in loads]
    assert len(set(names)) == 4 and all(len(n.split(".")[1]) <= 63 for n in names)
    assert names[0] == "_dataplan_files.a__b__c"  # the usual name when it is unambiguous
    assert names[1].startswith("_dataplan_files.a__b__c_")
    assert names[2].startswith("_dataplan_files.mc__marketing_cloud_")


def test_two_postgres_processes_loading_the_same_new_files_at_once_both_succeed(pg_dsn: str, tmp_path: Path) -> None:
    from dataplan.backends.files import refresh

    factory, root = pg_accounts(pg_dsn, tmp_path / "project")
    first, second = factory.open(), factory.open()
    with first, second:
        with first.backend.transaction():  # the first load, not committed yet: its schema and table are new
            [_] = refresh(first.backend, list(first.project.sources.values()))
            worker, outcome = start_blocked(
                pg_dsn, lambda: refresh(second.backend, list(second.project.sources.values())), "the second load"
            )
        worker.join(30)
        assert outcome == [[]]  # no error, and nothing to load again: the first loaded these files
        q = exp.select("account_id").from_(table("_dataplan_files", "crm__accounts")).order_by("account_id")
        assert second.backend.fetch_rows(q) == [(1,), (2,), (3,)]


def test_a_postgres_dry_run_lists_the_loads_and_loads_nothing(pg_dsn: str, tmp_path: Path) -> None:
    factory, root = pg_accounts(pg_dsn, tmp_path / "project")
    with factory.open() as wh:
        before = catalog(wh)
    result = runner.invoke(app, ["build", "--dry-run", "--project", str(root)])
    assert result.exit_code == 0, result.output
    assert f"would load crm.accounts into {LOADED}: 3 rows from 2 files" in " ".join(result.output.split())
    with factory.open() as wh:
        assert catalog(wh) == before  # no _dataplan_files schema, no table: a dry run runs no DDL
        dry = wh.build("prod", dry_run=True)
        assert [(x.table, x.files, x.rows, x.seconds) for x in dry.loaded] == [(LOADED, 2, 3, 0.0)]
        assert catalog(wh) == before
        [load] = wh.build("prod").loaded  # the same Warehouse: the dry run left the load to the build
        assert (load.table, load.rows) == (LOADED, 3)
        assert wh.build("prod", dry_run=True).loaded == []


@pytest.mark.parametrize(
    "command",
    [
        ["run", "--select", "nosuch"],
        ["run", "--env", "nope"],
        ["plan", "--select", "nosuch"],
        ["plan", "--env", "nope"],
    ],
)
def test_a_postgres_command_refused_for_bad_input_loads_no_new_files(
    command: list[str], pg_dsn: str, tmp_path: Path
) -> None:
    factory, root = pg_accounts(pg_dsn, tmp_path / "project")
    with factory.open() as wh:
        wh.build("prod")
        before = catalog(wh), served(wh), wh.backend.table_note(table("_dataplan_files", "crm__accounts"))
    write_load(root, "2025-01-03", {**SECOND, "account_id": pa.array([4], pa.int32())})  # served once loaded
    result = runner.invoke(app, [*command, "--project", str(root)])
    assert result.exit_code == 2, result.output
    with factory.open() as wh:
        assert (catalog(wh), served(wh), wh.backend.table_note(table("_dataplan_files", "crm__accounts"))) == before
        assert [r[0] for r in served(wh)] == [1, 2, 3]


def test_a_big_postgres_load_says_how_far_it_got(pg_dsn: str, tmp_path: Path) -> None:
    factory = ProjectFactory(tmp_path / "project", "postgres", lambda: pg_dsn)
    root = factory(PROJECT, raw=False)
    rows = 2 * LOAD_BATCH_ROWS + 1
    write_load(root, "2025-01-01", {"account_id": pa.array(range(rows), pa.int32()), "region": ["eu"] * rows})
    heard: list[tuple[str, int, int]] = []
    with factory.open() as wh:
        [load] = wh.refresh_files(lambda what, done, total: heard.append((what, done, total)))
        count = exp.select(exp.func("count", exp.Star())).from_(table("_dataplan_files", "crm__accounts"))
        assert wh.backend.fetch_rows(count) == [(rows,)]
    assert load.rows == rows
    assert heard == [("loading crm.accounts", done, rows) for done in (0, LOAD_BATCH_ROWS, 2 * LOAD_BATCH_ROWS, rows)]


def test_postgres_test_command_reports_the_files_it_loaded(pg_dsn: str, tmp_path: Path) -> None:
    factory, root = pg_accounts(pg_dsn, tmp_path / "project")
    with factory.open() as wh:
        wh.build("prod")
    write_load(root, "2025-01-03", {**SECOND, "account_id": pa.array([4], pa.int32())})
    text = runner.invoke(app, ["test", "--project", str(root)])
    assert text.exit_code == 0, text.output
    assert f"loaded crm.accounts into {LOADED}: 4 rows from 3 files" in " ".join(text.output.split())
    write_load(root, "2025-01-04", {**SECOND, "account_id": pa.array([5], pa.int32())})
    result = runner.invoke(app, ["test", "--project", str(root), "--format", "json"])
    assert result.exit_code == 0, result.output
    [load] = json.loads(result.output)["loaded"]
    assert (load["source"], load["table"], load["files"], load["rows"]) == ("crm.accounts", LOADED, 4, 5)


def test_a_file_that_is_not_parquet_exits_2_and_keeps_the_last_load(pg_dsn: str, tmp_path: Path) -> None:
    factory, root = pg_accounts(pg_dsn, tmp_path / "project")
    with factory.open() as wh:
        wh.build("prod")
        before = catalog(wh), served(wh)
    bad = root / "data/crm/accounts/dt=2025-01-03/part-0.parquet"
    bad.parent.mkdir()
    bad.write_text("account_id,region\n4,eu\n", encoding="utf-8")  # a CSV export named .parquet
    result = runner.invoke(app, ["run", "--project", str(root)])
    assert result.exit_code == 2, result.output
    output = " ".join(result.output.split())
    assert "source crm.accounts: cannot read its parquet files under" in output
    assert "hint: check the files" in output
    with factory.open() as wh:
        assert (catalog(wh), served(wh)) == before


def test_a_load_holds_one_batch_at_a_time(pg_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dataplan.backends import files

    monkeypatch.setattr(files, "LOAD_BATCH_ROWS", 2)  # one file of 5 rows: COPYs of 2, 2 and 1 rows
    factory = ProjectFactory(tmp_path / "project", "postgres", lambda: pg_dsn)
    root = factory(PROJECT, raw=False)
    five = {"account_id": pa.array(range(1, 6), pa.int32()), "region": ["eu"] * 5, "tier": ["gold"] * 5,
            "amount": pa.array([decimal.Decimal("1.00")] * 5, pa.decimal128(10, 2))}  # fmt: skip
    write_load(root, "2025-01-01", five)
    with factory.open() as wh:
        sizes: list[int] = []
        append = wh.backend.append_arrow

        def recorded(target: exp.Table, data: pa.Table) -> None:
            sizes.append(data.num_rows)
            append(target, data)

        monkeypatch.setattr(wh.backend, "append_arrow", recorded)
        [load] = wh.build("prod").loaded
        assert (load.rows, sizes) == (5, [2, 2, 1])
        assert [r[0] for r in served(wh)] == [1, 2, 3, 4, 5]


def test_a_postgres_reload_lets_readers_read_the_last_load_and_is_not_repeated(pg_dsn: str, tmp_path: Path) -> None:
    import psycopg

    from dataplan.backends.files import refresh

    factory, root = pg_accounts(pg_dsn, tmp_path / "project")
    with factory.open() as wh:
        wh.build("prod")
    write_load(root, "2025-01-03", {**SECOND, "account_id": pa.array([4], pa.int32())})
    first, second = factory.open(), factory.open()
    with first, second:
        with first.backend.transaction():  # the reload, not committed yet
            [load] = refresh(first.backend, list(first.project.sources.values()))
            assert load.rows == 4
            with psycopg.connect(pg_dsn, autocommit=True) as reader:
                reader.execute(b"SET lock_timeout = '2s'")  # a reader made to wait would fail here
                seen = reader.execute(b'SELECT count(*) FROM "staging"."stg_accounts"').fetchone()
                assert seen == (3,)  # the last load, until the reload commits
            worker, outcome = start_blocked(
                pg_dsn, lambda: refresh(second.backend, list(second.project.sources.values())), "the second reload"
            )
        worker.join(30)
        assert outcome == [[]]  # it found these files loaded once the first committed: no second load
        assert [r[0] for r in served(second)] == [1, 2, 3, 4]


def test_a_postgres_source_without_files_stops_only_the_models_that_read_it(pg_dsn: str, tmp_path: Path) -> None:
    factory = ProjectFactory(tmp_path / "project", "postgres", lambda: pg_dsn)
    files = {
        **PROJECT,
        "sources.yml": PROJECT["sources.yml"] + "          - name: leads\n",  # a second table, no files yet
        "models/staging/stg_leads.sql": "select * from crm.leads",
    }
    root = factory(files, raw=False)
    write_load(root, "2025-01-01", FIRST)
    write_load(root, "2025-01-02", SECOND)
    with factory.open() as wh:
        result = wh.build("prod", select="+by_region")  # reads crm.accounts only
        assert [x.source for x in result.loaded] == ["crm.accounts"]
        assert regions(wh) == {"eu": 2, "us": 1}
    everything = runner.invoke(app, ["build", "--project", str(root)])
    assert everything.exit_code == 2, everything.output
    assert "source crm.leads has no parquet files under" in " ".join(everything.output.split())


def test_a_duckdb_project_copied_elsewhere_reads_its_own_files(duck_project: ProjectFactory, tmp_path: Path) -> None:
    """Views name the files relative to the database's folder: a copy (or a move) of the project with its
    database reads the files beside it, never the original's."""
    root = duck_project(PROJECT, raw=False)
    write_load(root, "2025-01-01", FIRST)
    write_load(root, "2025-01-02", SECOND)
    with Warehouse.open(root) as wh:
        wh.build("prod")
        views = wh.backend.view_definitions()
    assert any("data/crm/accounts/dt=*/*.parquet" in sql for sql in views.values())
    assert not any(str(root) in sql for sql in views.values())
    copy = tmp_path / "elsewhere" / "project"
    shutil.copytree(root, copy)
    write_load(copy, "2025-01-03", THIRD)  # only the copy has the third load
    with Warehouse.open(copy) as wh:
        assert wh.build("prod").nothing_to_do  # the same project: nothing to build
        wh.run("prod")
        assert [r[0] for r in served(wh)] == [1, 2, 3, 4]
        assert regions(wh) == {"eu": 2, "us": 2}
    with Warehouse.open(root) as wh:
        assert [r[0] for r in served(wh)] == [1, 2, 3]
        assert regions(wh) == {"eu": 2, "us": 1}



def test_a_copied_project_whose_database_is_in_a_subfolder_reads_its_own_files(tmp_path: Path) -> None:
    """`path: build/warehouse.duckdb` with data under data/: the views name ../data/..., not the original's."""
    factory = ProjectFactory(tmp_path / "project", "duckdb", lambda: "")
    root = factory(PROJECT, raw=False, connection={"type": "duckdb", "path": "build/warehouse.duckdb"})
    (root / "build").mkdir()
    write_load(root, "2025-01-01", FIRST)
    write_load(root, "2025-01-02", SECOND)
    with Warehouse.open(root) as wh:
        wh.build("prod")
        assert not any(str(root) in sql for sql in wh.backend.view_definitions().values())
    copy = tmp_path / "elsewhere" / "project"
    shutil.copytree(root, copy)
    write_load(copy, "2025-01-03", THIRD)
    with Warehouse.open(copy) as wh:
        assert wh.build("prod").nothing_to_do
        wh.run("prod")
        assert [r[0] for r in served(wh)] == [1, 2, 3, 4]

def test_files_moved_into_dt_folders_are_a_change_that_plan_and_build_see(
    make_project: ProjectFactory, tmp_path: Path
) -> None:
    """The layout is part of the source's identity: a flat folder read as `*.parquet` and the same files in
    `dt=` folders (read with a dt column) are different inputs, so readers are rebuilt, not kept."""
    root = make_project(PROJECT, raw=False)
    flat = root / "data/crm/accounts/part-0.parquet"
    flat.parent.mkdir(parents=True)
    pq.write_table(pa.table(FIRST), flat)  # type: ignore[arg-type]
    (root / "models/staging/stg_accounts.sql").write_text("select account_id, region, amount from crm.accounts")
    with make_project.open() as wh:
        wh.build("prod")
    flat.unlink()
    write_load(root, "2025-01-01", FIRST)
    write_load(root, "2025-01-02", SECOND)
    planned = runner.invoke(app, ["plan", "-p", str(root), "--format", "json"])
    assert planned.exit_code == 0, planned.output
    changes = {c["model"]: c for c in json.loads(planned.output)["changes"]}
    assert changes["stg_accounts"]["change"] == "directly modified"
    assert changes["stg_accounts"]["rebuild"] is True
    assert "another place, format or file layout" in changes["stg_accounts"]["reason"]
    assert changes["by_region"]["rebuild"] is True
    with make_project.open() as wh:
        assert not wh.build("prod").nothing_to_do
        assert regions(wh) == {"eu": 2, "us": 1}  # the second load, in its dt= folder, is read


def built_then_pointed_at_crm2(make_project: ProjectFactory) -> Path:
    """The accounts project built in prod from data/crm, then its source pointed at data/crm2 (one new row)."""
    root = make_project(PROJECT, raw=False)
    write_load(root, "2025-01-01", FIRST)
    write_load(root, "2025-01-02", SECOND)
    with make_project.open() as wh:
        wh.build("prod")
    moved = root / "data/crm2/accounts/dt=2025-01-03/part-0.parquet"
    moved.parent.mkdir(parents=True)
    pq.write_table(pa.table(THIRD), moved)  # type: ignore[arg-type]
    sources = root / "sources.yml"
    sources.write_text(sources.read_text().replace("path: data/crm", "path: data/crm2"))
    return root


def test_a_source_pointed_at_another_folder_rebuilds_its_readers_in_a_plan(
    make_project: ProjectFactory, tmp_path: Path
) -> None:
    root = built_then_pointed_at_crm2(make_project)
    planned = runner.invoke(app, ["plan", "-p", str(root), "--format", "json"])
    assert planned.exit_code == 0, planned.output
    changes = {c["model"]: c for c in json.loads(planned.output)["changes"]}
    # before: "reads none of the changed upstream columns: keeps its current version", serving the old files
    assert (changes["stg_accounts"]["change"], changes["stg_accounts"]["rebuild"]) == ("directly modified", True)
    with make_project.open() as wh:
        wh.build("prod")
        assert [r[0] for r in served(wh)] == [4]


def test_a_source_pointed_elsewhere_in_the_same_change_as_a_new_column_rebuilds_every_reader(
    make_project: ProjectFactory,
) -> None:
    """Before: the new column made stg_accounts "only adds columns", so by_region kept the old files' data,
    promoted and then "up to date" for good. Versions record their sources' identities now."""
    root = built_then_pointed_at_crm2(make_project)
    sql = root / "models/staging/stg_accounts.sql"
    sql.write_text(sql.read_text().replace(" from crm.accounts", ", 1 as one from crm.accounts"))
    with make_project.open() as wh:
        plan = wh.plan("prod")
        changes = {c.model: c for c in plan.changes}
        assert changes["stg_accounts"].changed_columns == ["*"], changes["stg_accounts"].reason
        assert changes["by_region"].rebuild
        wh.apply(plan.plan_id)
        entry = wh.store.environment_models(plan.plan_environment)["by_region"]
        assert entry.version_id != wh.store.environment_models("prod")["by_region"].version_id
        got = wh.backend.fetch_rows(exp.select("*").from_(table(entry.view_schema, "by_region")))
        assert {r: int(n) for r, n in got} == {"us": 1}  # the new folder's data, in the plan environment
