"""Physical names: the engine's name limit (Postgres: 63 bytes) never makes two objects share a name."""

from __future__ import annotations

from pathlib import Path

import pytest

from dataplan.build.naming import version_table_name
from dataplan.errors import ProjectError
from dataplan.warehouse import Warehouse
from tests.conftest import ProjectFactory, catalog

LONG = "customer_value_by_region_and_month_for_the_finance_team_dashboard_"  # 66 bytes


def test_a_version_name_fits_in_bytes_and_keeps_its_fingerprint() -> None:
    model = "отчёт_по_клиентам_за_месяц_по_регионам_итог"  # 43 characters, 80 bytes
    a = version_table_name("marts", model, "a" * 40, 63)
    b = version_table_name("marts", model, "b" * 40, 63)
    assert len(a.encode()) <= 63 and len(b.encode()) <= 63
    assert a != b and a.endswith("__" + "a" * 12)
    a.encode().decode()  # never half a character
    assert version_table_name("staging", "stg_orders", "c" * 40, 63) == "staging__stg_orders__" + "c" * 12


@pytest.fixture
def pg_project(tmp_path: Path, pg_dsn: str) -> ProjectFactory:
    return ProjectFactory(tmp_path / "project", "postgres", lambda: pg_dsn)


def _refused(factory: ProjectFactory, environment: str = "prod") -> ProjectError:
    """Builds prod, then ``environment`` with the project as it is now; the second build must change nothing."""
    with factory.open() as wh:
        before = catalog(wh)
        with pytest.raises(ProjectError) as caught:
            wh.build(environment)
        assert catalog(wh) == before
    return caught.value


def test_two_models_whose_names_share_63_bytes_are_refused(pg_project: ProjectFactory) -> None:
    root = pg_project()
    with pg_project.open() as wh:
        wh.build("prod")
    (root / "models/marts" / f"{LONG}a.sql").write_text("select customer_id from marts.customer_totals")
    error = _refused(pg_project)
    assert error.path == root / "models/marts" / f"{LONG}a.sql"
    assert f"model marts.{LONG}a's view name" in error.message and "67 bytes" in error.message


def test_an_environment_whose_schema_is_cut_is_refused(pg_project: ProjectFactory) -> None:
    pg_project(layers={"marts": "customer_analytics_marts_reporting"})
    with pg_project.open() as wh:
        wh.build("prod")
    error = _refused(pg_project, "feature_customer_value_rework_january_aa")
    assert "environment feature_customer_value_rework_january_aa's schema for layer marts" in error.message
    assert error.hint and "shorter environment name" in error.hint


def test_a_column_name_the_engine_would_cut_is_refused(pg_project: ProjectFactory) -> None:
    root = pg_project()
    with pg_project.open() as wh:
        wh.build("prod")
    path = root / "models/marts/region_totals.sql"
    path.write_text(f"select region, sum(total) as {LONG}total from marts.customer_totals group by region")
    error = _refused(pg_project)
    assert error.path == path and f"column '{LONG}total'" in error.message


def test_a_plan_whose_environment_schema_is_cut_is_refused(pg_project: ProjectFactory) -> None:
    long_schema = "customer_analytics_marts_reporting_for_finance"  # 46 bytes: "__plan_<id>" takes 22 more
    root = pg_project(layers={"marts": long_schema})
    with pg_project.open() as wh:
        wh.build("prod")
    (root / "models/marts/region_totals.sql").write_text(
        "select region, sum(total) as total, count(*) as customers from marts.customer_totals group by region"
    )
    with Warehouse.open(root) as wh:
        with pytest.raises(ProjectError, match="schema for layer marts"):
            wh.plan("prod")
        assert wh.plans() == []
    assert not list(root.glob("plans/*.md"))
