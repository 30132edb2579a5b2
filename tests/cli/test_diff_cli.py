"""`dataplan diff` / `dataplan profile` from the command line: formats, exit codes, two engines."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from dataplan.cli.app import app

runner = CliRunner()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "w.duckdb"
    con = duckdb.connect(str(path))
    con.execute("create table a as select i as id, i * 1.5::double as amount, 'x' || i as label from range(1000) t(i)")
    con.execute("create table b as select * from a where id <> 7")
    con.execute("update b set amount = amount + 1 where id in (3, 4)")
    con.execute("insert into b values (5000, 1.0, 'new')")
    con.close()
    return path


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_diff_json_reports_exact_figures_and_fails(db: Path) -> None:
    code, output = invoke("diff", "a", "b", "--key", "id", "--connection", f"duckdb:{db}", "--format", "json")
    assert code == 1  # changed and missing rows fail by default
    payload = json.loads(output)
    rows = payload["rows"]
    assert (rows["only_a"], rows["only_b"], rows["changed"], rows["unchanged"]) == (1, 1, 2, 997)
    assert {c["column"]: c["mismatches"] for c in rows["columns"]} == {"amount": 2, "label": 0}
    assert payload["outcome"] == "fail" and payload["exit_code"] == 1


def test_diff_identical_passes_and_writes_html(db: Path, tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    code, output = invoke("diff", "a", "query:select * from a", "--key", "id", "--connection", str(db),
                          "--format", "html", "--output", str(report))
    assert code == 0, output
    html = report.read_text()
    assert "<svg" in html and "http://" not in html and "https://" not in html


def test_diff_tolerance_and_markdown(db: Path) -> None:
    code, output = invoke("diff", "a", "b", "--key", "id", "--connection", str(db), "--columns", "amount",
                          "--tolerance", "abs=1.5", "--where", "id < 7", "--format", "md")
    assert code == 0, output  # +1 on two rows is within abs=1.5; the filter leaves out the missing/new rows
    assert "pass" in output and "| `changed_rows`" in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["a", "nope", "--key", "id"], "table nope does not exist"),
        (["a", "b", "--key", "idx"], "idx"),
        (["a", "b", "--key", "id", "--tolerance", "abs=lots"], "tolerance"),
        (["a", "query:delete from a", "--key", "id"], "SELECT"),
    ],
)
def test_diff_bad_input_exits_2_and_writes_nothing(db: Path, args: list[str], message: str) -> None:
    before = duckdb.connect(str(db), read_only=True).execute("select count(*) from a").fetchone()
    code, output = invoke("diff", *args, "--connection", str(db))
    assert code == 2, output
    assert message in output
    assert duckdb.connect(str(db), read_only=True).execute("select count(*) from a").fetchone() == before


def test_diff_without_connection_or_project(tmp_path: Path) -> None:
    code, output = invoke("diff", "a", "b", "--project", str(tmp_path))
    assert code == 2 and "no connection" in output


def test_profile_json(db: Path) -> None:
    code, output = invoke("profile", "a", "--connection", str(db), "--format", "json")
    assert code == 0, output
    prof = json.loads(output)
    cols = {c["column"]: c for c in prof["columns"]}
    assert prof["row_count"] == 1000 and cols["id"]["distinct"] == 1000 and cols["amount"]["max"] == 1498.5


def test_diff_across_duckdb_and_postgres(db: Path, pg_dsn: str) -> None:
    import psycopg

    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(b"create table b (id bigint, amount double precision, label text)")
        with conn.cursor() as cur, cur.copy(b"copy b from stdin") as copy:
            for row in duckdb.connect(str(db), read_only=True).execute("select * from b").fetchall():
                copy.write_row(row)
    code, output = invoke("diff", "a", "b", "--key", "id", "--connection", str(db), "--connection-b", pg_dsn,
                          "--format", "json")
    assert code == 1, output
    rows = json.loads(output)["rows"]
    assert rows["method"] == "checksum-bisect"
    assert (rows["only_a"], rows["only_b"], rows["changed"]) == (1, 1, 2)


def test_profile_is_approximate_above_the_limit_unless_exact(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import dataplan.verify.profile as profile_module

    monkeypatch.setattr(profile_module, "EXACT_ROWS", 500)  # table a has 1,000 rows
    code, output = invoke("profile", "a", "--connection", str(db))
    assert code == 0, output
    assert "approx.:" in output and "HyperLogLog" in output and "--exact" in output
    code, output = invoke("profile", "a", "--connection", str(db), "--exact", "--format", "json")
    assert code == 0, output
    cols = {c["column"]: c for c in json.loads(output)["columns"]}
    assert cols["id"]["distinct"] == 1000 and not cols["id"]["approximate"]
    code, output = invoke("diff", "a", "b", "--key", "id", "--connection", str(db), "--format", "md")
    assert code == 1 and "_Approximate profiles: above" in output
