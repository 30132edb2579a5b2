"""`resume` finishing an apply writes the same HTML reports as `apply`; a plan never applied has nothing to resume."""

from __future__ import annotations

from pathlib import Path

import pytest

from dataplan.rollout.journal import Journal
from tests.conftest import catalog
from tests.rollout.conftest import Deployed, run_cli

DOUBLE = {
    "models/marts/order_facts.sql": "select order_id, customer_id, amount * 2.0 as amount, status from stg_orders\n"
}


def reports_of(deployed: Deployed, pid: str) -> tuple[list[str], list[str], str]:
    """(report files on disk, the plan's report links, its document's text)."""
    with deployed.open() as wh:
        plan = wh.get_plan(pid)
    files = sorted(p.name for p in (deployed.root / "reports").glob(f"plan-{pid}-*.html"))
    document = (deployed.root / plan.document).read_text() if plan.document else ""
    return files, [Path(r).name for r in plan.reports], document


@pytest.mark.parametrize("point", ["build:end", "verify:start"])
def test_resume_of_an_interrupted_apply_writes_and_links_the_reports(deployed: Deployed, point: str) -> None:
    deployed.change(DOUBLE)
    pid = deployed.plan()
    killed = run_cli(deployed, "apply", pid, fault=point)
    assert killed.returncode == -9, killed.stderr
    assert reports_of(deployed, pid)[0] == []
    resumed = run_cli(deployed, "resume", pid)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    files, links, document = reports_of(deployed, pid)
    expected = [f"plan-{pid}-marts-customer_revenue.html", f"plan-{pid}-marts-order_facts.html"]
    assert files == expected and sorted(links) == expected
    assert "Verification reports (HTML, open offline):" in document
    assert all(f"(../reports/{name})" in document for name in expected)
    assert "<html" in (deployed.root / "reports" / expected[1]).read_text().lower()


def test_apply_and_resume_write_the_same_reports(deployed: Deployed) -> None:
    deployed.change(DOUBLE)
    pid = deployed.plan()
    with deployed.open() as wh:
        wh.apply(pid)
    applied = reports_of(deployed, pid)
    assert len(applied[0]) == 2 and sorted(applied[1]) == applied[0]


def test_resume_of_a_plan_never_applied_changes_nothing(deployed: Deployed) -> None:
    deployed.change(DOUBLE)
    pid = deployed.plan()
    with deployed.open() as wh:
        before = catalog(wh)
    result = run_cli(deployed, "resume", pid)
    assert result.returncode == 2, result.stdout + result.stderr
    out = result.stdout + result.stderr
    assert f"plan {pid} was never applied: nothing to resume" in out
    assert f"dataplan apply {pid}" in out
    with deployed.open() as wh:
        assert catalog(wh) == before
        assert wh.get_plan(pid).status == "DRAFT"
        assert Journal(wh.store, pid).entries() == []
    assert not (deployed.root / "reports").exists()
