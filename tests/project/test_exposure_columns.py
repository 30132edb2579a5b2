"""An exposure that reads a column its model never had is refused before anything changes (exit 2).

A column the project's model no longer outputs but the environment's version has is a removal, not a
misspelling: the plan reports it as a breaking change feeding the exposure (tests/plan/test_plan.py).
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from dataplan import Project
from dataplan.cli.app import app
from dataplan.errors import ProjectError
from tests.conftest import ProjectFactory, catalog, write_files

runner = CliRunner()

EXPOSURE = """
exposures:
  - name: totals_report
    type: dashboard
    depends_on:
      - model: marts.customer_totals
        columns: [customer_id, totl]
"""
MESSAGE = "exposure totals_report reads column totl, which marts.customer_totals does not have"


@pytest.mark.parametrize("command", [["build"], ["build", "--env", "dev"], ["plan"]])
def test_misspelled_exposure_column_is_refused_before_any_change(
    make_project: ProjectFactory, command: list[str]
) -> None:
    root = make_project()
    with make_project.open() as wh:
        wh.build("prod")
        before = catalog(wh), wh.plans()
    write_files(root, {"exposures.yml": EXPOSURE})
    result = runner.invoke(app, [*command, "--project", str(root)])
    assert result.exit_code == 2, result.output
    assert f"exposures.yml:6: {MESSAGE}" in result.output
    assert "customer_id, orders, region, total" in result.output  # the hint lists what the model has
    with make_project.open() as wh:
        assert (catalog(wh), wh.plans()) == before
    assert not (root / "plans").exists()


def test_first_build_with_a_misspelled_column_creates_nothing(make_project: ProjectFactory) -> None:
    root = make_project()
    with make_project.open() as wh:
        before = catalog(wh)
    write_files(root, {"exposures.yml": EXPOSURE})
    with make_project.open() as wh:
        with pytest.raises(ProjectError, match=MESSAGE):
            wh.build("prod")
        assert catalog(wh) == before


def test_chart_column_is_named_at_its_line(duck_project: ProjectFactory) -> None:
    root = duck_project()
    chart = """
        exposures:
          - name: totals_report
            type: dashboard
            charts:
              - title: Totals
                model: marts.region_totals
                kind: bar
                x: region
                y: [total, totals]
    """
    write_files(root, {"exposures.yml": chart})
    with duck_project.open() as wh, pytest.raises(ProjectError) as err:
        wh.build("prod", dry_run=True)
    assert err.value.line == 9 and err.value.path == root / "exposures.yml"
    assert err.value.message == "exposure totals_report reads column totals, which marts.region_totals does not have"


def test_a_removed_column_is_planned_then_refused_once_promoted(make_project: ProjectFactory) -> None:
    root = make_project({**_shop(), "exposures.yml": EXPOSURE.replace("totl", "total")})
    with make_project.open() as wh:
        wh.build("prod")
    sql = (root / "models/marts/customer_totals.sql").read_text()
    write_files(root, {"models/marts/customer_totals.sql": sql.replace(", sum(o.amount) as total", "")})
    with make_project.open() as wh:
        plan = wh.plan("prod", allow_breaking=True)  # prod still has total: the plan's to report
        assert [(i.exposure, i.breaking) for i in plan.impacts] == [("totals_report", True)]
        wh.build("dev")  # a fresh dev: prod's version tells the removal from a misspelling
        wh.build("prod")
        with pytest.raises(ProjectError, match="reads column total, which marts.customer_totals does not have"):
            wh.build("prod")  # now no version has it: exposures.yml is stale


def test_case_of_a_column_does_not_matter(duck_project: ProjectFactory) -> None:
    root = duck_project()
    write_files(root, {"exposures.yml": EXPOSURE.replace("totl", "Total")})
    assert Project.load(root).exposures[0].spec.missing_columns == []


def test_select_star_is_not_guessed_but_an_enforced_contract_is_used(duck_project: ProjectFactory) -> None:
    root = duck_project(raw=False)
    write_files(root, {"models/marts/customer_totals.sql": "select * from staging.stg_customers"})
    write_files(root, {"exposures.yml": EXPOSURE})
    assert Project.load(root).exposures[0].spec.missing_columns == []  # not known without the engine
    contract = """
        models:
          - name: customer_totals
            contract: {enforced: true}
            columns: [{name: customer_id, type: varchar}, {name: total, type: double}]
    """
    write_files(root, {"models/marts/customer_totals.yml": contract})
    [missing] = Project.load(root).exposures[0].spec.missing_columns
    assert (missing.fqn, missing.column, missing.line) == ("marts.customer_totals", "totl", 6)


def test_loading_parses_no_model_once_cached(duck_project: ProjectFactory) -> None:
    root = duck_project(raw=False)
    write_files(root, {"exposures.yml": EXPOSURE})
    assert Project.load(root).models["customer_totals"].query is not None
    again = Project.load(root)  # references, normalized SQL and exposure columns come from the cache
    assert [m.name for m in again.models.values() if m._query is not None] == []
    assert [m.column for m in again.exposures[0].spec.missing_columns] == ["totl"]


def _shop() -> dict[str, str]:
    from tests.conftest import SHOP_FILES

    return {k: v for k, v in SHOP_FILES.items() if "region_totals" not in k}  # it reads total
