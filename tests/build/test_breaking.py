"""A direct build of prod refuses what plan would block: breaking an enforced contract."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from dataplan.cli.app import app
from tests.conftest import ProjectFactory, catalog, write_files

runner = CliRunner()
CONTRACT = """
    models:
      - name: totals
        materialized: table
        contract: {enforced: true}
        columns:
          - {name: customer_id, type: varchar}
          - {name: orders, type: bigint}
          - {name: total, type: double}
"""
FILES = {
    "sources.yml": "sources:\n  - name: raw\n    schema: raw\n    tables: [orders, customers]\n",
    "models/marts/totals.sql": """
        select customer_id, count(*) as orders, sum(amount) as total from raw.orders group by customer_id
    """,
    "models/marts/totals.yml": CONTRACT,
    "models/marts/plain.sql": "select customer_id, region from raw.customers\n",
}
WITHOUT_TOTAL = {
    "models/marts/totals.sql": "select customer_id, count(*) as orders from raw.orders group by customer_id\n",
    "models/marts/totals.yml": CONTRACT.replace("          - {name: total, type: double}\n", ""),
}


def built(make_project: ProjectFactory) -> Path:
    root = make_project(FILES)
    result = runner.invoke(app, ["build", "-p", str(root)])
    assert result.exit_code == 0, result.output
    return root


def state(make_project: ProjectFactory) -> object:
    with make_project.open() as wh:
        return catalog(wh), wh.environments()


def test_a_prod_build_that_removes_a_contract_column_is_refused_and_changes_nothing(
    make_project: ProjectFactory,
) -> None:
    root = built(make_project)
    write_files(root, WITHOUT_TOTAL)  # the contract itself says so: the build's contract check passes
    before = state(make_project)
    for args in (["build"], ["build", "--dry-run"]):
        refused = runner.invoke(app, [*args, "-p", str(root)])
        assert refused.exit_code == 2, refused.output
        assert "prod was not changed: the build would break enforced contracts (marts.totals: column total " in (
            refused.stderr
        )
        assert "dataplan plan" in refused.stderr and "--allow-breaking" in refused.stderr
    assert state(make_project) == before
    dev = runner.invoke(app, ["build", "-p", str(root), "--env", "dev"])  # a sandbox takes any change
    assert dev.exit_code == 0, dev.output
    allowed = runner.invoke(app, ["build", "-p", str(root), "--allow-breaking"])
    assert allowed.exit_code == 0, allowed.output
    assert "re-pointed 1 view(s)" in allowed.output


def test_a_prod_build_that_removes_a_model_with_an_enforced_contract_is_refused(make_project: ProjectFactory) -> None:
    root = built(make_project)
    for name in ("totals.sql", "totals.yml"):
        (root / "models/marts" / name).unlink()
    before = state(make_project)
    refused = runner.invoke(app, ["build", "-p", str(root)])
    assert refused.exit_code == 2, refused.output
    assert "(marts.totals: model removed)" in refused.stderr
    assert state(make_project) == before
    allowed = runner.invoke(app, ["build", "-p", str(root), "--allow-breaking"])
    assert allowed.exit_code == 0, allowed.output
    assert "1 removed" in allowed.output


def test_changes_that_keep_the_contract_build_into_prod(make_project: ProjectFactory) -> None:
    root = built(make_project)
    write_files(
        root,
        {
            # a column added (and declared), and a model without a contract removed: nothing is promised broken
            "models/marts/totals.sql": "select customer_id, count(*) as orders, sum(amount) as total, "
            "max(amount) as top from raw.orders group by customer_id\n",
            "models/marts/totals.yml": CONTRACT + "          - {name: top, type: double}\n",
        },
    )
    (root / "models/marts/plain.sql").unlink()
    result = runner.invoke(app, ["build", "-p", str(root)])
    assert result.exit_code == 0, result.output
    assert "re-pointed 1 view(s)" in result.output and "1 removed" in result.output
