"""`dataplan diff` / `dataplan profile` from the command line: formats, exit codes, two engines."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from dataplan.cli.app import app
from tests.conftest import ProjectFactory, catalog, write_files

runner = CliRunner()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = duck_file(
        tmp_path / "w.duckdb",
        "create table a as select i as id, i * 1.5::double as amount, 'x' || i as label from range(1000) t(i)",
        "create table b as select * from a where id <> 7",
        "update b set amount = amount + 1 where id in (3, 4)",
        "insert into b values (5000, 1.0, 'new')",
    )
    return path


def duck_file(path: Path, *statements: str) -> Path:
    """A DuckDB file holding what ``statements`` create."""
    con = duckdb.connect(str(path))
    for sql in statements:
        con.execute(sql)
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
    code, output = invoke(
        "diff",
        "a",
        "query:select * from a",
        "--key",
        "id",
        "--connection",
        str(db),
        "--format",
        "html",
        "--output",
        str(report),
    )
    assert code == 0, output
    html = report.read_text()
    assert "<svg" in html and "http://" not in html and "https://" not in html


def test_diff_tolerance_and_markdown(db: Path) -> None:
    code, output = invoke(
        "diff",
        "a",
        "b",
        "--key",
        "id",
        "--connection",
        str(db),
        "--columns",
        "amount",
        "--tolerance",
        "abs=1.5",
        "--where",
        "id < 7",
        "--format",
        "md",
    )
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
    code, output = invoke(
        "diff", "a", "b", "--key", "id", "--connection", str(db), "--connection-b", pg_dsn, "--format", "json"
    )
    assert code == 1, output
    rows = json.loads(output)["rows"]
    assert rows["method"] == "checksum-bisect"
    assert (rows["only_a"], rows["only_b"], rows["changed"]) == (1, 1, 2)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(b"alter table b rename column amount to revenue")
    code, output = invoke(
        "diff", "a", "b", "--key", "id", "--connection", str(db), "--connection-b", pg_dsn, "--format", "json",
        "--rename", "amount=revenue",
    )  # fmt: skip
    renamed = json.loads(output)
    assert renamed["renamed"] == {"amount": "revenue"} and renamed["rows"]["method"] == "checksum-bisect"
    assert {c["column"]: c["mismatches"] for c in renamed["rows"]["columns"]} == {"amount": 2, "label": 0}


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


def test_decimal_min_max_are_exact_in_json_and_text(tmp_path: Path) -> None:
    path = duck_file(
        tmp_path / "dec.duckdb",
        "create table a as select i as id, 12345678901234567.01::decimal(38,2) as d from range(3) t(i)",
        "create table b as select i as id, 12345678901234567.09::decimal(38,2) as d from range(3) t(i)",
    )
    code, output = invoke("diff", "a", "b", "--key", "id", "--connection", str(path), "--format", "json")
    assert code == 1, output
    (d,) = [p for p in json.loads(output)["profiles"] if p["column"] == "d"]
    assert (d["a"]["max"], d["b"]["max"]) == ("12345678901234567.01", "12345678901234567.09")
    text = runner.invoke(app, ["diff", "a", "b", "--key", "id", "--connection", str(path)], env={"COLUMNS": "200"})
    assert text.exit_code == 1
    # the terminal cuts values at 16 characters, but not where that would hide the difference
    assert "12345678901234567.01 → 12345678901234567.09" in text.output
    code, output = invoke("profile", "b", "--connection", str(path), "--format", "json")
    assert code == 0 and {c["column"]: c["max"] for c in json.loads(output)["columns"]}["d"] == "12345678901234567.09"


def test_constant_bigint_beyond_two_to_the_53_diffs_cleanly(tmp_path: Path) -> None:
    path = duck_file(
        tmp_path / "big.duckdb",
        "create table a as select i as id, 1717171717171717171::bigint as v from range(50) t(i)",
    )
    code, output = invoke("diff", "a", "a", "--key", "id", "--connection", str(path), "--format", "json")
    assert code == 0, output  # was a ZeroDivisionError traceback
    (dist,) = json.loads(output)["distributions"]
    assert dist["histogram"]["a_counts"] == [50] and dist["psi"] == 0.0


def test_key_and_columns_name_quoted_columns(tmp_path: Path) -> None:
    path = duck_file(
        tmp_path / "names.duckdb",
        """create table a as select i as "K""2", i * 2 as "a,b", 'x' as v from range(5) t(i)""",
        """create table b as select "K""2", "a,b" + ("K""2" = 3)::int as "a,b", v from a""",
    )
    code, output = invoke(
        "diff", "a", "b", "--key", '"K""2"', "--columns", '"a,b"', "--connection", str(path), "--format", "json"
    )
    assert code == 1, output
    payload = json.loads(output)
    assert payload["key"] == ['K"2'] and [c["column"] for c in payload["rows"]["columns"]] == ["a,b"]
    assert payload["rows"]["changed"] == 1 and payload["rows"]["sample_changed"] == [{'K"2': 3, "a,b": [6, 7]}]
    code, output = invoke("diff", "a", "b", "--key", '"K""2"', "--columns", "v,v", "--connection", str(path))
    assert code == 2 and "bad --columns 'v,v': v named twice" in output


def test_a_key_duplicated_by_truncation_is_a_failed_check_not_an_engine_error(tmp_path: Path) -> None:
    path = duck_file(
        tmp_path / "ts.duckdb",
        "create table a (id timestamp, v int)",
        "create table b (id timestamp_s, v int)",
        "insert into a values ('2024-01-01 00:00:00.1', 1), ('2024-01-01 00:00:00.7', 2)",
        "insert into b values ('2024-01-01 00:00:00', 1)",
    )
    result = runner.invoke(app, ["diff", "a", "b", "--key", "id", "--connection", str(path)], env={"COLUMNS": "300"})
    assert result.exit_code == 1, result.output  # was 3: "A or B changed during the diff"
    assert "Key (id) is not unique in A (1 key value appears on more than one row)." in result.output
    assert "key values are compared truncated to the second (the coarser precision)" in result.output


def test_profile_text_shows_deviation_and_quantiles_of_numeric_columns(tmp_path: Path) -> None:
    path = duck_file(tmp_path / "p.duckdb", "create table t as select i as id, 'x' || i as s from range(1, 101) t(i)")
    code, output = invoke("profile", "t", "--connection", str(path))
    assert code == 0, output
    assert "numeric columns" in output and "stddev" in output and "p99" in output
    row = next(line for line in output.splitlines() if line.startswith("│ id") and "50.5" in line)
    cells = [c.strip() for c in row.strip("│").split("│")]
    assert cells == ["id", "50.5", "29.01", "1.99", "25.75", "50.5", "75.25", "99.01"]
    assert not any(line.startswith("│ s ") and "50.5" in line for line in output.splitlines())



def test_profile_text_shows_a_microsecond_timestamp_whole_and_marks_a_cut_value(tmp_path: Path) -> None:
    """Before: every value was cut at 24 characters with no mark, so .123456 read as .1234."""
    sql = (
        "create table t as select timestamp '2026-01-01 10:00:00.123456' + to_microseconds(i) as ts, "
        "repeat('y', 40) || i as long_text, cast(null as integer) as empty from range(1, 4) t(i)"
    )
    path = duck_file(tmp_path / "p.duckdb", sql)
    result = runner.invoke(app, ["profile", "t", "--connection", str(path)], env={"COLUMNS": "200"})
    code, output = result.exit_code, result.output
    assert code == 0, output
    lines = output.splitlines()
    assert any("2026-01-01 10:00:00.123457" in line and "2026-01-01 10:00:00.123459" in line for line in lines)
    cut = next(line for line in lines if line.startswith("│ long_text"))
    assert "y" * 31 + "…" in cut and "y" * 32 not in cut
    empty = next(line for line in lines if line.startswith("│ empty"))
    assert "None" not in empty

# --- a model between two environments ----------------------------------------------------------------

DOUBLED = """
    select c.customer_id, c.region, count(o.order_id) as orders, sum(o.amount) * 2 as total
    from staging.stg_customers c
    left join stg_orders o on o.customer_id = c.customer_id
    group by c.customer_id, c.region
"""
GRAIN = "models:\n  - name: customer_totals\n    grain: [customer_id]\n"


def test_diff_of_a_model_between_environments_keys_on_its_grain(make_project: ProjectFactory) -> None:
    root = make_project()
    write_files(root, {"models/marts/customer_totals.yml": GRAIN})
    with make_project.open() as wh:
        wh.build("prod")
    write_files(root, {"models/marts/customer_totals.sql": DOUBLED})
    with make_project.open() as wh:
        wh.build("dev")
    code, output = invoke("diff", "customer_totals", "--env-b", "dev", "-p", str(root), "-f", "json")
    assert code == 1, output  # every total changed
    result = json.loads(output)
    assert result["key"] == ["customer_id"]  # the model's grain
    labels = result["a"]["label"], result["b"]["label"]
    assert labels == ("marts.customer_totals in prod", "marts.customer_totals in dev")
    rows = result["rows"]
    assert (rows["only_a"], rows["only_b"], rows["changed"], rows["unchanged"]) == (0, 0, 3, 0)
    assert {c["column"]: c["mismatches"] for c in rows["columns"]} == {"region": 0, "orders": 0, "total": 3}
    same, text = invoke("diff", "marts.customer_totals", "--env", "dev", "--env-b", "dev", "-p", str(root))
    assert same == 0 and "All 3 compared columns match." in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["customer_total", "--env-b", "dev"], "did you mean customer_totals"),
        (["customer_totals", "--env-b", "qa"], "model marts.customer_totals is not built in qa"),
        (["customer_totals", "b", "--env-b", "dev"], "with --env-b, name one model and no second relation"),
        (["customer_totals"], "missing side B"),
    ],
)
def test_diff_between_environments_bad_input_exits_2(
    duck_project: ProjectFactory, args: list[str], message: str
) -> None:
    root = duck_project()
    with duck_project.open() as wh:
        wh.build("prod")
        wh.build("dev")
        before = catalog(wh)
    code, output = invoke("diff", *args, "-p", str(root))
    assert code == 2, output
    assert message in output
    with duck_project.open() as wh:
        assert catalog(wh) == before


def test_rename_compares_a_column_of_a_under_its_new_name_in_b(tmp_path: Path) -> None:
    db = duck_file(
        tmp_path / "r.duckdb",
        "create table a as select i as id, i * 1.5::double as amount, 'x' || i as label from range(100) t(i)",
        "create table b as select id as order_id, amount as revenue, label from a",
        "update b set revenue = revenue + 1 where order_id = 3",
    )
    args = ["diff", "a", "b", "--key", "id", "--connection", str(db)]
    renamed = ["--rename", "amount=revenue", "--rename", '"id" = order_id']
    code, output = invoke(*args, *renamed, "--format", "json")
    assert code == 1, output  # the changed row fails
    payload = json.loads(output)
    assert payload["renamed"] == {"amount": "revenue", "id": "order_id"}
    assert payload["schema_diff"] == {"added": [], "removed": [], "type_changed": []}
    assert [c for c, _ in payload["b"]["columns"]] == ["order_id", "revenue", "label"]  # B's own names
    rows = payload["rows"]
    assert (rows["only_a"], rows["only_b"], rows["changed"], rows["unchanged"]) == (0, 0, 1, 99)
    assert {c["column"]: c["mismatches"] for c in rows["columns"]} == {"amount": 1, "label": 0}
    assert [d["column"] for d in payload["distributions"] if d["kind"] == "numeric"] == ["amount"]
    code, text = invoke(*args, *renamed, "--format", "md")
    assert "Compared across a rename (A = B): amount = revenue, id = order_id." in text
    # without --rename the key is missing from B, and the renamed columns are a schema change, not compared
    plain, output = invoke(*args)
    assert plain == 2 and "key column id does not exist in B (b)" in output
    no_key, output = invoke("diff", "a", "b", "--connection", str(db), "--format", "json")
    payload = json.loads(output)
    assert [c for c, _ in payload["schema_diff"]["removed"]] == ["id", "amount"]
    assert payload["renamed"] == {} and [p["column"] for p in payload["profiles"]] == ["label"]


@pytest.mark.parametrize(
    ("renames", "message"),
    [
        (["amount"], "bad --rename 'amount': not OLD=NEW"),
        (["amount=amount"], "--rename amount=amount renames column amount to itself"),
        (["label=LABEL"], "--rename renames column label to itself (LABEL is label of B (b))"),
        (["nope=revenue"], "renamed column nope does not exist in A (a)"),
        (["amount=nope"], "renamed column nope does not exist in B (b)"),
        (["amount=revenue", "amount=label"], "--rename names column amount of A twice"),
        (["amount=revenue", "Amount=label"], "--rename names column amount of A (a) twice"),
        (["amount=revenue", "label=Revenue"], "--rename names column revenue of B (b) twice"),
        (["label=revenue"], "B (b) already has a column named label: renaming another one to it makes two"),
    ],
)
def test_bad_renames_exit_2(tmp_path: Path, renames: list[str], message: str) -> None:
    db = duck_file(
        tmp_path / "r.duckdb",
        "create table a as select i as id, 1.5 as amount, 'x' as label from range(3) t(i)",
        "create table b as select id, amount as revenue, label from a",
    )
    args = [arg for r in renames for arg in ("--rename", r)]
    code, output = invoke("diff", "a", "b", "--key", "id", "--connection", str(db), *args)
    assert code == 2 and message in output, output
