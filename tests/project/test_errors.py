"""Bad input: one clear message naming file and line, exit code 2, warehouse unchanged."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dataplan import Project, Warehouse
from dataplan.cli.app import app
from tests.conftest import SHOP_FILES, ProjectFactory, catalog, write_files

SHOP_SOURCES = SHOP_FILES["sources.yml"]

runner = CliRunner()


def build_cli(root: Path) -> tuple[int, str]:
    result = runner.invoke(app, ["build", "--project", str(root)])
    return result.exit_code, result.output


@pytest.fixture
def built(duck_project: ProjectFactory) -> Path:
    root = duck_project()
    with duck_project.open() as wh:
        wh.build("prod")
    return root


def snapshot(root: Path) -> object:
    # Open the DuckDB file directly: loading the (now broken) project is what fails.
    from dataplan.backends.duckdb import DuckDBBackend

    backend = DuckDBBackend(str(root / "warehouse.duckdb"))
    try:
        return sorted((r.schema, r.name, r.kind) for r in backend.relations()), backend.view_definitions()
    finally:
        backend.close()


CASES = {
    "malformed yaml": (
        {"models/marts/customer_totals.yml": "models:\n  - name: customer_totals\n    grain: [a\n"},
        "customer_totals.yml:3",
        "malformed YAML",
    ),
    "wrong indentation in a list": (
        {
            "models/marts/customer_totals.yml": "models:\n  - name: customer_totals\n    materialized: table\n"
            "  grain: [customer_id]\n    description: x\n"
        },
        "customer_totals.yml:4",  # the misindented line, not line 2 where the list starts
        "(in the list that starts at line 2: check the indentation)",
    ),
    "wrong indentation in a mapping": (
        {
            "models/marts/customer_totals.yml": "models:\n  - name: customer_totals\n    columns:\n"
            "      - name: customer_id\n        tests: [not_null]\n       description: x\n"
        },
        "customer_totals.yml:6",
        "malformed YAML",
    ),
    "impossible date": (
        {
            "models/marts/region_totals.yml": "models:\n  - name: region_totals\n    description: x\n"
            "    start: 2024-31-01\n"
        },
        "region_totals.yml:4",
        "malformed YAML: '2024-31-01' is not a valid date: month must be in 1..12",
    ),
    "a key written twice in a model's yml": (  # before: the last won, a table silently became a view
        {
            "models/marts/customer_totals.yml": "models:\n  - name: customer_totals\n    materialized: table\n"
            "    description: x\n    materialized: view\n"
        },
        "customer_totals.yml:5",
        "duplicate key 'materialized' (first at line 3)",
    ),
    "a key written twice in a flow mapping": (
        {
            "models/marts/region_totals.yml": "models:\n  - name: region_totals\n    columns:\n"
            "      - {name: region, type: varchar, name: total}\n"
        },
        "region_totals.yml:4",
        "duplicate key 'name' (first at line 4)",
    ),
    "a key written twice in sources.yml": (
        {
            "sources.yml": "sources:\n  - name: raw\n    schema: raw\n    tables:\n      - name: orders\n"
            "      - name: customers\n    schema: crm\n"
        },
        "sources.yml:7",
        "duplicate key 'schema' (first at line 3)",
    ),
    "a key written twice in exposures.yml": (
        {
            "exposures.yml": "exposures:\n  - name: report\n    type: dashboard\n    depends_on:\n"
            "      - model: marts.region_totals\n    type: notebook\n"
        },
        "exposures.yml:6",
        "duplicate key 'type' (first at line 3)",
    ),
    "a column listed twice": (
        {
            "models/marts/region_totals.yml": "models:\n  - name: region_totals\n    columns:\n"
            "      - {name: total, type: double}\n      - name: region\n      - {name: Total, tests: [not_null]}\n"
        },
        "region_totals.yml:6",
        "column Total is listed twice (also at line 4)",
    ),
    "a source column listed twice": (
        {
            "sources.yml": "sources:\n  - name: raw\n    schema: raw\n    tables:\n      - name: orders\n"
            "        columns:\n          - {name: order_id, tests: [unique]}\n          - {name: order_id}\n"
        },
        "sources.yml:8",
        "column order_id is listed twice (also at line 7)",
    ),
    "unterminated string": (
        {"models/marts/region_totals.sql": "select region,\n  'open as label\nfrom marts.customer_totals"},
        "region_totals.sql:3",
        "SQL syntax error",
    ),
    "sql syntax error": (
        {"models/marts/region_totals.sql": "select region,\n  sum(total as total\nfrom marts.customer_totals"},
        "region_totals.sql:2",
        "SQL syntax error: Expecting ) near 'as'",
    ),
    "unknown reference": (
        {"models/marts/region_totals.sql": "select region\nfrom marts.no_such_model"},
        "region_totals.sql:2",
        "unknown reference 'marts.no_such_model' (column 6)",
    ),
    "unknown reference with an alias, in a singular test": (
        {"tests/no_orphans.sql": "select *\nfrom marts.gone as v where v.x is null"},
        "no_orphans.sql:2",
        "unknown reference 'marts.gone' (column 6)",  # not 'marts.gone AS v'
    ),
    "misspelled reference": (
        {"models/marts/region_totals.sql": "select region, sum(total) as total\nfrom marts.customer_total group by 1"},
        "region_totals.sql:2",
        "hint: did you mean marts.customer_totals? reference a model",
    ),
    "misspelled bare reference in a singular test": (
        {"tests/no_negative.sql": "select *\nfrom stg_order where amount < 0"},
        "no_negative.sql:2",
        "hint: did you mean stg_orders? reference a model",
    ),
    "dependency cycle": (
        {"models/staging/stg_customers.sql": "select customer_id, name, region from marts.region_totals"},
        "",
        "dependency cycle:",
    ),
    "duplicate model name": (
        {"models/marts/stg_orders.sql": "select 1 as x"},
        "stg_orders.sql",
        "two models are named stg_orders",
    ),
    "model names differing only in case": (
        {"models/marts/STG_Orders.sql": "select 1 as x"},
        "stg_orders.sql",
        "two models are named stg_orders",
    ),
    "unsupported column type": (
        {
            "models/marts/region_totals.yml": "models:\n  - name: region_totals\n    columns:\n"
            "      - name: total\n        type: moneybags\n"
        },
        "region_totals.yml:5",
        "unsupported column type 'moneybags'",
    ),
    "unknown test": (
        {"models/marts/region_totals.yml": "models:\n  - name: region_totals\n    tests:\n      - unique_ish\n"},
        "region_totals.yml:4",
        "unknown test 'unique_ish'",
    ),
    "config for unknown model": (
        {"models/marts/extra.yml": "models:\n  - name: nope\n"},
        "extra.yml:2",
        "configuration for unknown model nope",
    ),
    "a layer in dataplan's own schema": (
        {"models/_dataplan/versions.sql": "select 1 as x"},
        "_dataplan/versions.sql",
        "layer _dataplan would put its views in _dataplan, dataplan's own schema",
    ),
    "not a select": (
        {"models/marts/region_totals.sql": "delete from raw.orders"},
        "region_totals.sql",
        "expected a SELECT, found DELETE",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_project_input(built: Path, case: str) -> None:
    files, where, message = CASES[case]
    before = snapshot(built)
    write_files(built, files)
    code, output = build_cli(built)
    assert code == 2, output
    assert message in output
    assert where in output
    assert "error" in output
    assert snapshot(built) == before


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (
            {
                "models/marts/region_totals.yml": "models:\n  - name: region_totals\n    tests:\n"
                '      - expression: "total >= >= 0"\n'
            },
            "region_totals.yml:4: test expression: SQL syntax error: Required keyword: 'expression' missing for GTE"
            " near '>=' (column 10 of the expression)",
        ),
        (
            {"models/marts/region_totals.sql": "select region,\n  total + * 2 as total\nfrom marts.customer_totals"},
            "region_totals.sql:2: SQL syntax error: Invalid expression / Unexpected token near '2' (column 13)",
        ),
    ],
)
def test_a_sql_syntax_error_has_no_terminal_escape_codes(built: Path, files: dict[str, str], expected: str) -> None:
    # Before: sqlglot's underline of the token came through raw when the output was not a terminal:
    # "total >= \x1b[4m>=\x1b[0m 0".
    before = snapshot(built)
    write_files(built, files)
    code, output = build_cli(built)
    assert code == 2, output
    assert "\x1b" not in output and "[4m" not in output
    assert expected in output
    assert snapshot(built) == before


def test_an_error_message_never_carries_escape_codes() -> None:
    from dataplan.errors import ProjectError

    exc = ProjectError("bad \x1b[4m>=\x1b[0m here", path="x.yml", line=3, hint="\x1b[1mfix\x1b[0m it")
    assert str(exc) == "x.yml:3: bad >= here\nhint: fix it"


def test_a_key_written_twice_in_dataplan_yml_is_bad_input(built: Path) -> None:
    before = snapshot(built)
    config = built / "dataplan.yml"
    config.write_text(config.read_text(encoding="utf-8") + "name: other\n", encoding="utf-8")
    first = next(i for i, line in enumerate(config.read_text().splitlines(), 1) if line.startswith("name:"))
    lines = len(config.read_text().splitlines())
    code, output = build_cli(built)
    assert code == 2, output
    assert f"dataplan.yml:{lines}: duplicate key 'name' (first at line {first})" in output
    assert snapshot(built) == before


def test_keys_a_merge_brings_in_may_be_overridden(tmp_path: Path) -> None:
    from dataplan.project.yamlfile import load_yaml

    path = tmp_path / "x.yml"
    path.write_text("base: &b {materialized: view, grain: [id]}\nmodel:\n  <<: *b\n  materialized: table\n")
    data, _ = load_yaml(path)
    assert data["model"] == {"materialized": "table", "grain": ["id"]}


def test_the_same_key_in_two_mappings_is_no_duplicate(tmp_path: Path) -> None:
    from dataplan.project.yamlfile import load_yaml

    path = tmp_path / "x.yml"
    path.write_text("models:\n  - name: a\n    materialized: table\n  - name: b\n    materialized: view\n")
    data, _ = load_yaml(path)
    assert [m["materialized"] for m in data["models"]] == ["table", "view"]


def test_the_yaml_loader_keeps_libyaml() -> None:
    import yaml

    from dataplan.project.yamlfile import _Loader

    if hasattr(yaml, "CSafeLoader"):
        assert issubclass(_Loader, yaml.CSafeLoader)


def test_missing_connection_setting(tmp_path: Path) -> None:
    (tmp_path / "dataplan.yml").write_text("name: x\nconnection:\n  path: w.duckdb\n")
    code, output = build_cli(tmp_path)
    assert code == 2
    assert "dataplan.yml:2" in output and "missing setting connection.type" in output
    assert not (tmp_path / "w.duckdb").exists()


def test_missing_env_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_SUCH_DSN", raising=False)
    (tmp_path / "dataplan.yml").write_text("name: x\nconnection:\n  type: postgres\n  dsn: ${NO_SUCH_DSN}\n")
    code, output = build_cli(tmp_path)
    assert code == 2
    assert "dataplan.yml:4" in output and "environment variable NO_SUCH_DSN is not set" in output


def test_an_empty_env_var_as_the_whole_dsn_is_bad_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Before: psycopg took "" as "the local server's defaults" and connected to whatever ran there.
    monkeypatch.setenv("EMPTY_DSN", "")
    (tmp_path / "dataplan.yml").write_text("name: x\nconnection:\n  type: postgres\n  dsn: ${EMPTY_DSN}\n")
    code, output = build_cli(tmp_path)
    assert code == 2, output
    assert "dataplan.yml:4" in output and "environment variable EMPTY_DSN is empty (used by connection.dsn)" in output
    assert "cannot connect" not in output


def test_unknown_setting(tmp_path: Path) -> None:
    (tmp_path / "dataplan.yml").write_text("name: x\nconection:\n  type: duckdb\n")
    code, output = build_cli(tmp_path)
    assert code == 2 and "dataplan.yml:2" in output and "unknown setting conection" in output
    assert "hint: did you mean connection?" in output


def test_an_unknown_model_setting_suggests_the_one_meant(built: Path) -> None:
    before = snapshot(built)
    write_files(
        built, {"models/marts/region_totals.yml": "models:\n  - name: region_totals\n    materialised: table\n"}
    )
    code, output = build_cli(built)
    assert code == 2 and "region_totals.yml:3" in output and "unknown setting models.0.materialised" in output
    assert "did you mean materialized?" in output
    assert snapshot(built) == before


def test_no_project(tmp_path: Path) -> None:
    code, output = build_cli(tmp_path)
    assert code == 2 and "no dataplan.yml" in output and "dataplan init" in output


def test_bad_selection_changes_nothing(built: Path) -> None:
    before = snapshot(built)
    result = runner.invoke(app, ["build", "--project", str(built), "--select", "nope+"])
    assert result.exit_code == 2 and "--select 'nope' matches no model" in result.output
    assert snapshot(built) == before


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("", "--select is empty"),  # an unset shell variable must not select every model
        (" , ", "--select is empty"),
        ("region_total", "did you mean region_totals or marts.region_totals?"),
        ("layer:mart", "the layers: marts, staging"),
    ],
)
def test_an_empty_or_mistyped_selection_says_so(built: Path, selector: str, message: str) -> None:
    before = snapshot(built)
    result = runner.invoke(app, ["build", "--project", str(built), "--select", selector])
    assert result.exit_code == 2 and message in result.output
    assert snapshot(built) == before


@pytest.mark.parametrize("name", ["Bad-Name", "dev\n"])
def test_bad_environment_name(built: Path, name: str) -> None:
    result = runner.invoke(app, ["build", "--project", str(built), "--env", name])
    assert result.exit_code == 2 and f"invalid environment name {name!r}" in result.output
    assert not any(r[0].endswith(name) for r in snapshot(built)[0])  # type: ignore[index]


def test_a_model_the_engine_refuses_is_named_and_exits_2(duck_project: ProjectFactory) -> None:
    root = duck_project(raw=False)  # the raw tables the models read do not exist
    result = runner.invoke(app, ["build", "--project", str(root)])
    assert result.exit_code == 2  # the SQL or the tables it names must change, not the connection
    assert "models/staging/" in result.output and "cannot run" in result.output
    assert "DuckDB:" in result.output and "raw" in result.output


def test_postgres_unreachable_exits_3(tmp_path: Path) -> None:
    (tmp_path / "dataplan.yml").write_text(
        "name: x\nconnection:\n  type: postgres\n  dsn: postgresql://u:hunter2secret@127.0.0.1:1/db\n"
    )
    write_files(tmp_path, {"models/staging/a.sql": "select 1 as x"})
    result = runner.invoke(app, ["build", "--project", str(tmp_path)])
    assert result.exit_code == 3
    assert "cannot connect to Postgres" in result.output
    assert "hunter2secret" not in result.output


def test_a_postgres_dsn_with_a_bad_setting_exits_2(tmp_path: Path) -> None:
    (tmp_path / "dataplan.yml").write_text(
        "name: x\nconnection:\n  type: postgres\n  dsn: postgresql://u:hunter2secret@127.0.0.1:1/db?sslmode=bogus\n"
    )
    write_files(tmp_path, {"models/staging/a.sql": "select 1 as x"})
    result = runner.invoke(app, ["build", "--project", str(tmp_path)])
    assert result.exit_code == 2, result.output  # the DSN must change, not the server
    output = " ".join(result.output.split())
    assert "the Postgres connection string has a bad setting:" in output
    assert 'invalid sslmode value: "bogus"' in output
    assert "sslmode takes disable, allow, prefer, require, verify-ca or verify-full" in output
    assert "hunter2secret" not in result.output


def test_contract_error_via_cli_exits_2(built: Path) -> None:
    write_files(
        built,
        {
            "models/marts/region_totals.yml": """
        models:
          - name: region_totals
            contract: {enforced: true}
            columns:
              - {name: region, type: bigint}
              - {name: total, type: double}
    """
        },
    )
    before = snapshot(built)
    code, output = build_cli(built)
    assert code == 2
    assert "breaks its enforced contract" in output and "column region: declared bigint" in output
    assert "region_totals.yml" in output
    assert snapshot(built) == before


def test_a_sum_of_decimals_on_postgres_says_to_cast_it(tmp_path: Path, pg_dsn: str) -> None:
    """Postgres gives a sum of numeric(12,2) no precision: the contract error says what to write."""
    factory = ProjectFactory(tmp_path / "project", "postgres", lambda: pg_dsn)
    root = factory()
    spec = """
        models:
          - name: region_totals
            contract: {enforced: true}
            columns:
              - {name: region, type: text}
              - {name: total, type: "decimal(38,2)"}
    """
    total = "select region, sum(cast(total as decimal(12, 2))) as total from marts.customer_totals group by region"
    write_files(root, {"models/marts/region_totals.yml": spec, "models/marts/region_totals.sql": total})
    before = snapshot(root)
    code, output = build_cli(root)
    assert code == 2, output
    assert (
        "column total: declared decimal(38,2), query returns numeric (no precision or scale: Postgres gives none to"
        " sums and arithmetic on numeric columns); cast it in the query: cast(... as decimal(38,2))"
    ) in " ".join(output.split())
    assert snapshot(root) == before


def test_catalog_helper_sees_changes(duck_project: ProjectFactory) -> None:
    # Guards the guard: the snapshot used above must notice a new view.
    duck_project()
    with Warehouse.open(duck_project.root) as wh:
        before = catalog(wh)
        wh.build("prod")
        assert catalog(wh) != before


def refused_build(make_project: ProjectFactory, files: dict[str, str]) -> str:
    """Build prod, write ``files``, build again from the CLI: exit 2, the warehouse as it was; the output."""
    root = make_project()
    with make_project.open() as wh:
        wh.build("prod")
        before = catalog(wh)
    write_files(root, files)
    code, output = build_cli(root)
    assert code == 2, output
    with make_project.open() as wh:
        assert catalog(wh) == before
    return output


def test_a_source_table_missing_from_the_warehouse_says_so(make_project: ProjectFactory) -> None:
    refunds = re.sub(r"^( *)- name: customers$", r"\g<0>\n\1- name: refunds", SHOP_SOURCES, flags=re.M)
    output = refused_build(
        make_project,
        {"sources.yml": refunds, "models/marts/refund_totals.sql": "select count(*) as n from raw.refunds"},
    )
    assert "refund_totals.sql: model marts.refund_totals cannot run:" in output
    assert "a table it reads is not in the warehouse" in output
    assert "misspelled" not in output  # not a column


@pytest.mark.parametrize(
    ("csv", "line"),
    [
        ("region,label\neu,Europe\nus,United,States\n", 3),  # one field too many
        ('region,label\neu,"Europe\nwest"\nus\n', 4),  # a quoted newline: the short row is on line 4
        ("", None),  # empty
    ],
)
def test_a_seed_that_does_not_parse_is_bad_input_naming_its_line(
    make_project: ProjectFactory, csv: str, line: int | None
) -> None:
    output = refused_build(make_project, {"seeds/regions.csv": csv})
    where = f"regions.csv:{line}: " if line else "regions.csv: "
    assert f"{where}seed seeds.regions cannot be read: " in output, output
    assert "internal error" not in output


@pytest.mark.parametrize("engine", ["postgres"])  # DuckDB's GROUP BY ALL is Postgres's syntax error
def test_sql_the_engine_cannot_parse_is_not_called_a_misspelled_column(make_project: ProjectFactory) -> None:
    sql = "select region, count(*) as n from raw.customers group by all"
    output = refused_build(make_project, {"models/marts/by_region.sql": sql})
    assert "by_region.sql: model marts.by_region cannot run:" in output and "syntax error" in output
    assert "postgres cannot parse this SQL as it runs there, translated from the project's duckdb dialect" in output
    assert "misspelled" not in output


@pytest.mark.parametrize(
    ("sql", "line"),
    [
        ("select\n  customer_idd,\n  region\nfrom staging.stg_customers", 2),  # unqualified
        (  # qualified, in a join condition
            "select c.customer_id, sum(o.amount) as total\nfrom staging.stg_customers c\n"
            "left join stg_orders o\n  on o.customer_idd = c.customer_id\ngroup by c.customer_id",
            4,
        ),
    ],
)
def test_a_misspelled_column_names_its_line(make_project: ProjectFactory, sql: str, line: int) -> None:
    output = refused_build(make_project, {"models/marts/customer_totals.sql": sql})
    assert f"customer_totals.sql:{line}: model marts.customer_totals cannot run:" in output
    assert "customer_idd" in output
    assert "misspelled here, or removed or renamed upstream" in output


@pytest.mark.parametrize(
    ("yml", "line", "message", "hint"),
    [
        (
            "models:\n  - name: customer_totals\n    columns:\n      - name: totl\n        tests: [not_null]\n",
            5,
            "test not_null(totl): model marts.customer_totals has no column totl",
            "did you mean total? customer_totals.sql outputs: customer_id, orders, region, total",
        ),
        (
            "models:\n  - name: customer_totals\n    tests:\n      - unique: {column: regin}\n",
            4,
            "test unique(regin): model marts.customer_totals has no column regin",
            "did you mean region?",
        ),
        (
            "models:\n  - name: customer_totals\n    grain: [customerid]\n",
            3,
            "grain column customerid: model marts.customer_totals has no column customerid",
            "did you mean customer_id?",
        ),
        (  # before: `dataplan test` showed a failing test with the engine's binder error, exit 1
            "models:\n  - name: customer_totals\n    tests:\n      - row_count: {min: 1}\n"
            '      - expression: "totl >= 0"\n',
            5,
            "test expression(totl >= 0): model marts.customer_totals has no column totl",
            "did you mean total? customer_totals.sql outputs: customer_id, orders, region, total",
        ),
        (  # qualified by the model's name, in a function, the second column of the predicate
            "models:\n  - name: customer_totals\n    tests:\n"
            '      - expression: {expr: "orders >= 0 and coalesce(customer_totals.totl, 0) >= 0", severity: warn}\n',
            4,
            "test expression(orders >= 0 and coalesce(customer_totals.totl, 0) >= 0): model marts.customer_totals"
            " has no column totl",
            "did you mean total?",
        ),
        (  # a string written in double quotes is an identifier
            "models:\n  - name: customer_totals\n    tests:\n      - expression: 'region <> \"test\"'\n",
            4,
            'test expression(region <> "test"): model marts.customer_totals has no column test',
            "a string is written in single quotes ('...')",
        ),
        (  # the parent's column of a relationships test
            "models:\n  - name: customer_totals\n    columns:\n      - name: customer_id\n        tests:\n"
            "          - relationships: {to: staging.stg_customers, field: customerid}\n",
            6,
            "relationships test on customer_id: `field: customerid`: model staging.stg_customers has no column"
            " customerid",
            "did you mean customer_id? stg_customers.sql outputs: customer_id, name, region",
        ),
    ],
)
@pytest.mark.parametrize("command", ["build", "test"])
def test_a_test_on_a_column_the_model_does_not_output_is_bad_input(
    built: Path, yml: str, line: int, message: str, hint: str, command: str
) -> None:
    """Before: it built, and `dataplan test` failed (exit 1) with the engine's binder error."""
    before = snapshot(built)
    write_files(built, {"models/marts/customer_totals.yml": yml})
    result = runner.invoke(app, [command, "--project", str(built)])
    assert result.exit_code == 2, result.output
    assert f"customer_totals.yml:{line}: {message}" in result.output
    assert hint in result.output
    assert snapshot(built) == before


@pytest.mark.parametrize(
    "expr",
    [
        "total >= (select min(amount) from staging.stg_orders)",  # the subquery's columns are its table's
        "list_bool_and(list_transform([total], x -> x >= 0))",  # a lambda's parameter
        "region in ('eu', 'us') and customer_totals.total >= 0",
        "current_date >= date '2020-01-01' or total is null",
    ],
)
def test_an_expression_reading_only_the_models_columns_loads(built: Path, expr: str) -> None:
    yml = f"models:\n  - name: customer_totals\n    tests:\n      - expression: {expr!r}\n"  # a YAML string
    write_files(built, {"models/marts/customer_totals.yml": yml})
    result = runner.invoke(app, ["test", "--project", str(built)])
    assert result.exit_code == 0, result.output


def test_a_test_on_a_select_star_model_is_left_to_the_engine(built: Path) -> None:
    # Its columns are unknown without the engine: not guessed, so the project loads.
    write_files(
        built,
        {
            "models/marts/all_orders.sql": "select * from staging.stg_orders",
            "models/marts/all_orders.yml": "models:\n  - name: all_orders\n    columns:\n"
            "      - name: not_a_column\n        tests: [not_null]\n",
        },
    )
    project = Project.load(built)
    assert [t.name for t in project.models["all_orders"].tests] == ["not_null(not_a_column)"]
