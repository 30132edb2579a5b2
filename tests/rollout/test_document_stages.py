"""The plan document as the rollout writes it back: every figure true at every stage (DuckDB).

The document is read from disk after each step (plan, apply, promote, rollback) and its figures are
compared with what the warehouse and the post-promotion checks say.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import ProjectFactory
from tests.rollout.conftest import ROW_DROP, Deployed

UPPER_STATUS = "select order_id, customer_id, amount, upper(status) as status from stg_orders\n"
STRICT_STAGING = {  # a model the plan below never changes, with a trigger of its own
    "models/staging/stg_orders.yml": """
        models:
          - name: stg_orders
            rollback_when: {row_count_drop_pct: 1}
    """,
}


@pytest.fixture
def duck(duck_project: ProjectFactory) -> Deployed:
    return Deployed(duck_project)


def document(deployed: Deployed, plan_id: str) -> str:
    with deployed.open() as wh:
        plan = wh.get_plan(plan_id)
    assert plan.document is not None
    return (deployed.root / Path(plan.document)).read_text(encoding="utf-8")


def section(doc: str, heading: str) -> str:
    """The text under ``heading`` (any level) up to the next heading of the same or a higher level."""
    level = heading.split(" ")[0]
    start = doc.index(f"\n{heading}\n") + len(heading) + 2
    ends = [doc.find(f"\n{'#' * n} ", start) for n in range(2, len(level) + 1)]
    ends = [e for e in ends if e != -1]
    return doc[start : min(ends)] if ends else doc[start:]


def test_triggers_are_the_ones_the_post_promotion_checks_apply(duck: Deployed) -> None:
    duck.change(STRICT_STAGING)
    with duck.open() as wh:
        wh.build("prod")
    # order_facts and customer_revenue (which counts its rows) are rebuilt: the built-in triggers.
    duck.change({"models/marts/order_facts.sql": UPPER_STATUS})
    pid = duck.plan()
    triggers = section(document(duck, pid), "## Rollback Plan").split("Automatic rollback triggers:")[1]
    assert triggers.strip().splitlines() == [
        "- marts.order_facts: row count drops by more than 5.0%",
        "- marts.customer_revenue: row count drops by more than 5.0%",
        "- marts.order_facts, marts.customer_revenue: the view cannot be queried",
        "- 1 or more failing tests of marts.order_facts, marts.customer_revenue",
        "- exposure revenue: its query fails or returns no rows",
    ]  # not stg_orders' 1%: the plan does not touch it
    with duck.open() as wh:
        assert wh.apply(pid).exit_code == 0
        applied = wh.get_plan(pid).checks
        checks = wh.promote(pid).post_checks
    # The exposure query is a LIMIT 5 probe: it says whether rows come back, never "5 row(s)"
    probes = [c.actual for c in applied if c.kind == "exposure_query"]
    assert probes and all(p is not None and p.startswith("query returns rows") for p in probes)
    assert [c.detail for c in checks if c.name.startswith("exposure ")] == ["returns rows"]
    row_checks = [c for c in checks if c.name.startswith("row count ")]
    assert [c.name for c in row_checks] == ["row count marts.order_facts", "row count marts.customer_revenue"]
    assert all(c.detail.endswith("rollback when it drops more than 5.0%)") for c in row_checks)
    exposures = [c.name for c in checks if c.name.startswith("exposure ")]
    assert exposures == ["exposure revenue reads marts.customer_revenue"]


def test_the_post_promotion_figures_reach_the_document(duck: Deployed) -> None:
    duck.change({"models/marts/order_facts.sql": UPPER_STATUS})
    pid = duck.plan()
    with duck.open() as wh:
        assert wh.apply(pid).exit_code == 0
    assert "Post-promotion checks in" not in document(duck, pid)  # not promoted yet
    with duck.open() as wh:
        checks = wh.promote(pid).post_checks
    rollout = section(document(duck, pid), "## Rollout Plan")
    assert "Post-promotion checks in `prod`:" in rollout
    for check in checks:  # each figure promote printed, in the document
        assert f"| {check.name}" in rollout and check.detail in rollout
    with duck.open() as wh:
        wh.rollback(pid)
    assert "Post-promotion checks in `prod`:" in section(document(duck, pid), "## Rollout Plan")  # kept


def test_the_check_that_fired_the_rollback_is_in_the_document(duck: Deployed) -> None:
    duck.change(ROW_DROP)  # 2 of 80 rows fewer, and a 1% trigger on order_facts
    pid = duck.plan()
    with duck.open() as wh:
        assert wh.apply(pid).exit_code == 1
        result = wh.promote(pid, force=True, reason="show the trigger")
    assert result.plan.status == "ROLLED BACK"
    fired = next(c for c in result.post_checks if c.triggers_rollback)
    rollout = section(document(duck, pid), "## Rollout Plan")
    row = next(line for line in rollout.splitlines() if line.startswith(f"| {fired.name}"))
    assert fired.detail in row and row.rstrip(" |").endswith("✗ fail: rolled back")


def test_the_build_step_counts_what_apply_reuses(duck: Deployed) -> None:
    duck.change({"models/marts/order_count.sql": "select count(*) as orders from order_facts\n"})  # a new model
    pid = duck.plan()
    rollout = section(document(duck, pid), "## Rollout Plan")
    assert "build 1 changed model(s), reuse 3 unchanged version(s)" in rollout  # of 4 models
    with duck.open() as wh:
        result = wh.apply(pid)
    assert "reused 3" in result.messages[0] and result.messages[0].startswith("built 1 version(s)")


def test_thresholds_read_the_way_checks_are_graded(duck: Deployed) -> None:
    duck.change({"models/marts/order_facts.sql": UPPER_STATUS})
    pid = duck.plan()
    with duck.open() as wh:
        targets = {c.kind: c.target for c in wh.get_plan(pid).checks if c.model == "marts.order_facts"}
    # A check warns above its warn threshold and fails above its fail one (verification._grade).
    assert targets["row_count"] == "change within 1.0% (warn above 1.0%, fail above 5.0%)"
    assert targets["profile"] == "null % moves within 1.0 pts (warn above 1.0, fail above 5.0 pts)"
    assert targets["distribution"] == "PSI within 0.1 (warn above 0.1, fail above 0.25)"
    assert "<= " not in document(duck, pid)


def test_the_journal_file_beside_the_document_is_one_row_per_entry(duck: Deployed) -> None:
    duck.change({"models/marts/order_facts.sql": UPPER_STATUS})
    pid = duck.plan()
    with duck.open() as wh:
        assert wh.apply(pid).exit_code == 0
        wh.promote(pid)
        plan = wh.get_plan(pid)
        entries = wh.log(pid)
    assert plan.document is not None
    log = (duck.root / Path(plan.document)).with_suffix(".log.md").read_text(encoding="utf-8")
    rows = [line for line in log.splitlines() if line.startswith("| ") and not line.startswith("| # ")]
    assert len(rows) == len(entries)
    assert all(row.count(" | ") == 5 for row in rows)  # 6 cells: nothing split a row
    # The promotion's map of models to versions reads as a count, as in `dataplan log`.
    assert any("models" in row and "promote" in row for row in rows)
    assert not any(v in log for v in plan.promoted_state.values())
