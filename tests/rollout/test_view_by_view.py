"""Engines without transactional DDL: the promotion is journaled view by view, and resume finishes it."""

from __future__ import annotations

import pytest

import dataplan.rollout.journal as journal_module
from dataplan import Project, Warehouse
from dataplan.backends.duckdb import DuckDBBackend
from tests.conftest import ProjectFactory
from tests.rollout.conftest import Deployed

DOUBLE = {
    "models/staging/stg_orders.sql": "select order_id, customer_id, amount * 2.0 as amount, status from raw.orders\n"
}


class ViewByViewBackend(DuckDBBackend):
    """DuckDB pretending it cannot swap many views atomically (as Spark or BigQuery)."""

    atomic_swap = False
    transactional_ddl = False


class Crash(Exception):
    pass


def open_view_by_view(root: object) -> Warehouse:
    project = Project.load(root)  # type: ignore[arg-type]
    return Warehouse(project, ViewByViewBackend(str(project.dir / "warehouse.duckdb")))


@pytest.fixture
def deployed_duckdb(duck_project: ProjectFactory) -> Deployed:
    return Deployed(duck_project)


def prod(wh: Warehouse) -> dict[str, str]:
    return {n: e.version_id for n, e in sorted(wh.store.environment_models("prod").items())}


def test_crash_between_views_is_journaled_and_resumed(
    deployed_duckdb: Deployed, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployed_duckdb.change(DOUBLE)
    pid = deployed_duckdb.plan()
    with open_view_by_view(deployed_duckdb.root) as wh:
        assert wh.apply(pid).exit_code == 0
        old = prod(wh)
        new = {**old, **{n: e.version_id for n, e in wh.store.environment_models(f"plan_{pid}").items()}}
        assert old != new and len([n for n in old if old[n] != new[n]]) >= 2

        def crash_after_first_view(name: str) -> None:
            if name == "swap_view:end":
                raise Crash(name)

        monkeypatch.setattr(journal_module, "fault_point", crash_after_first_view)
        with pytest.raises(Crash):
            wh.promote(pid)
        monkeypatch.undo()
        mixed = prod(wh)
        assert mixed not in (old, new)  # without transactional DDL a crash can leave a mix...
        steps = [(e.step, e.phase) for e in wh.log(pid)]
        assert ("promote", "start") in steps and ("swap_view", "end") in steps and ("promote", "end") not in steps
        result = wh.resume(pid)  # ...which the journal lets resume finish
        assert result.plan.status == "COMPLETE" and prod(wh) == new
        assert wh.rollback(pid).plan.status == "ROLLED BACK" and prod(wh) == old
