"""The state belongs to one project: another project's name is refused before anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlglot import exp
from typer.testing import CliRunner

from dataplan import Project, StateError, Warehouse
from dataplan.cli.app import app
from dataplan.state.migrations import MIGRATIONS_TABLE, OWNER_TABLE
from tests.conftest import SHOP_FILES, ProjectFactory, catalog, write_files

runner = CliRunner()

OTHER_SOURCES = """\
sources:
  - name: raw
    tables: [{name: customers}, {name: orders}]
  - name: crm
    format: csv
    path: data/crm
    tables: [{name: accounts}]
"""


def _other(make_project: ProjectFactory, tmp_path: Path) -> Path:
    """A second project, named 'other', on the first project's warehouse (same state schema), with a file
    source of its own: on Postgres, building it would load that file."""
    root = tmp_path / "other"
    connection = make_project.connection()
    if connection["type"] == "duckdb":
        connection["path"] = str(make_project.root / connection["path"])
    root.mkdir()
    (root / "dataplan.yml").write_text(yaml.safe_dump({"name": "other", "connection": connection}), encoding="utf-8")
    files = {k: v for k, v in SHOP_FILES.items() if k != "sources.yml"}
    files["sources.yml"] = OTHER_SOURCES
    files["models/staging/accounts.sql"] = "select * from crm.accounts"
    files["data/crm/accounts/part-0.csv"] = "account_id,plan\na1,pro\n"
    write_files(root, files)
    return root


def test_another_project_is_refused_and_changes_nothing(make_project: ProjectFactory, tmp_path: Path) -> None:
    make_project()
    with make_project.open() as wh:
        wh.build("prod")
        before = catalog(wh)
    other = _other(make_project, tmp_path)
    config = other / "dataplan.yml"
    line = config.read_text().splitlines().index("name: other") + 1  # safe_dump sorts the keys
    for command in (["build"], ["build", "--dry-run"], ["status"], ["plan"], ["test"], ["janitor"], ["env", "list"]):
        got = runner.invoke(app, [*command, "--project", str(other)])
        assert got.exit_code == 2, (command, got.output)
        refusal = f"{config}:{line}: the state schema _dataplan in this warehouse belongs to project 'shop', not "
        assert refusal + "'other'" in got.output, command
        assert "dataplan env claim --from shop" in got.output
    with make_project.open() as wh:
        assert catalog(wh) == before
        assert wh.status("prod").pending == []  # shop's prod is whole: nothing was taken for removed


def test_the_same_name_shares_the_state(make_project: ProjectFactory, tmp_path: Path) -> None:
    """Two checkouts of one project (same name) share their state: that is what it is for."""
    make_project()
    with make_project.open() as wh:
        wh.build("prod")
    other = _other(make_project, tmp_path)
    config = yaml.safe_load((other / "dataplan.yml").read_text())
    (other / "dataplan.yml").write_text(yaml.safe_dump({**config, "name": "shop"}), encoding="utf-8")
    with Warehouse.open(other) as wh:
        assert {m.model for m in wh.status("prod").models if m.state == "up to date"} >= {"customer_totals"}


def test_claim_after_a_rename(make_project: ProjectFactory) -> None:
    root = make_project()
    with make_project.open() as wh:
        wh.build("prod")
        before = catalog(wh)
    config = yaml.safe_load((root / "dataplan.yml").read_text())
    (root / "dataplan.yml").write_text(yaml.safe_dump({**config, "name": "store"}), encoding="utf-8")
    refused = runner.invoke(app, ["build", "--project", str(root)])
    assert refused.exit_code == 2 and "belongs to project 'shop', not 'store'" in refused.output

    wrong = runner.invoke(app, ["env", "claim", "--from", "shopp", "--project", str(root)])
    assert wrong.exit_code == 2
    assert "the state schema _dataplan belongs to project 'shop', not 'shopp'" in wrong.output
    with make_project.open() as wh:
        assert catalog(wh) == before
        assert wh.store.applied_migrations() and wh.store._read()[1] == "shop"

    claimed = runner.invoke(app, ["env", "claim", "--from", "shop", "--project", str(root)])
    assert claimed.exit_code == 0, claimed.output
    assert "the state in _dataplan now belongs to project store." in claimed.output
    again = runner.invoke(app, ["env", "claim", "--from", "shop", "--project", str(root)])  # a script run twice
    assert again.exit_code == 0 and "the state in _dataplan already belongs to project store." in again.output
    with make_project.open() as wh:
        assert wh.build("prod").nothing_to_do  # the renamed project finds its versions and environments
    (root / "dataplan.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    again = runner.invoke(app, ["status", "--project", str(root)])
    assert again.exit_code == 2 and "belongs to project 'store', not 'shop'" in again.output


def _forget_owner(wh: Warehouse) -> None:
    """Make the state look written before the owner existed: migration 1 only."""
    wh.backend.drop(wh.store.t(OWNER_TABLE), "TABLE")
    wh.backend.delete(wh.store.t(MIGRATIONS_TABLE), exp.column("id").eq(2))


def test_a_state_from_before_owners_reads_then_is_claimed_by_the_next_build(duck_project: ProjectFactory) -> None:
    duck_project()
    with duck_project.open() as wh:
        wh.build("prod")
        _forget_owner(wh)
    with duck_project.open() as wh:
        assert wh.store.applied_migrations() == {1}
        assert [m.id for m in wh.store.pending_migrations()] == [2]
        before = catalog(wh)
        status = wh.status("prod")  # reads write nothing: the old state still reads
        assert status.exists and status.pending == []
        assert wh.plans() == []
        assert catalog(wh) == before
    with duck_project.open() as wh:
        assert wh.build("prod").nothing_to_do
        assert wh.store.applied_migrations() == {1, 2}
        assert wh.store._read()[1] == "shop"


def test_claim_before_any_owner_is_an_error(duck_project: ProjectFactory) -> None:
    duck_project()
    with duck_project.open() as wh:
        wh.build("prod")
        _forget_owner(wh)
    got = runner.invoke(app, ["env", "claim", "--from", "shop", "--project", str(duck_project.root)])
    assert got.exit_code == 2
    assert "the state schema _dataplan has no owner yet: the next build records this project" in got.output


def test_a_store_without_a_project_reads_any_state(duck_project: ProjectFactory) -> None:
    from dataplan.state.store import StateStore

    duck_project()
    with duck_project.open() as wh:
        wh.build("prod")
        store = StateStore(wh.backend, "_dataplan")
        assert store.is_initialized() and store.ensure() == []
        assert store._read()[1] == "shop"
        with pytest.raises(StateError, match="only a project can claim the state"):
            store.claim("shop")  # it would record no owner at all
        assert store._read()[1] == "shop"


def test_library_refusal_is_a_state_error(duck_project: ProjectFactory, tmp_path: Path) -> None:
    duck_project()
    with duck_project.open() as wh:
        wh.build("prod")
    other = _other(duck_project, tmp_path)
    with Warehouse.open(Project.load(other)) as wh, pytest.raises(StateError) as err:
        wh.build("prod")
    assert err.value.exit_code == 2 and err.value.line == 4


def test_init_names_the_project_after_its_directory(tmp_path: Path) -> None:
    """Two projects made by `dataplan init` used to be both named shop: on one warehouse they shared the state."""
    first, second = tmp_path / "sales", tmp_path / "ops"
    for root in (first, second):
        assert runner.invoke(app, ["init", str(root)]).exit_code == 0
    assert Project.load(first).config.name == "sales" and Project.load(second).config.name == "ops"
    config = (second / "dataplan.yml").read_text()
    (second / "dataplan.yml").write_text(config.replace("warehouse.duckdb", str(first / "warehouse.duckdb")))
    assert runner.invoke(app, ["build", "--project", str(first)]).exit_code == 0
    got = runner.invoke(app, ["build", "--project", str(second)])
    assert got.exit_code == 2 and f"{second / 'dataplan.yml'}:1: the state schema _dataplan" in got.output
    assert "belongs to project 'sales', not 'ops'" in got.output
    for directory, name in (("on", "on"), ("2024 sales", "2024_sales"), ("-", "shop")):
        assert runner.invoke(app, ["init", str(tmp_path / directory)]).exit_code == 0
        assert Project.load(tmp_path / directory).config.name == name  # text, whatever YAML makes of it bare
