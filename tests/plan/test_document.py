"""The plan document (render_markdown): golden files, section order, "none" for empty sections, escaping.

Three plans are built in code (an empty draft, a realistic in-progress change to a churn mart feeding a
dashboard, and a completed plan) and rendered; each must match ``tests/plan/golden/<name>.md`` byte for
byte. After an intended change to the document, regenerate the goldens and review the diff::

    DATAPLAN_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/plan/test_document.py
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from dataplan.plan.document import SECTIONS, VALIDATION_SUBSECTIONS, render_markdown
from dataplan.plan.model import (
    ALL_COLUMNS,
    Backfill,
    Check,
    ContractChange,
    ExposureImpact,
    ModelChange,
    Plan,
    PostCheck,
    Risk,
    Rollback,
    Step,
)

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("DATAPLAN_UPDATE_GOLDEN") == "1"
CREATED = dt.datetime(2024, 5, 6, 9, 30, tzinfo=dt.UTC)


def rollout(plan_id: str, env: str = "prod") -> list[Step]:
    penv = f"plan_{plan_id}"
    return [
        Step(n=1, environment=penv, action="Build changed models", checkpoint="build succeeds", kind="build"),
        Step(n=2, environment=env, action="Capture baseline", checkpoint="baseline stored", kind="baseline"),
        Step(n=3, environment=penv, action="Run checks", checkpoint="no check fails", kind="verify"),
        Step(n=4, environment=penv, action="Run tests", checkpoint="all tests pass", kind="test"),
        Step(
            n=5,
            environment=env,
            action="Promote (pointer swap)",
            checkpoint="views point at new versions",
            kind="promote",
        ),
        Step(
            n=6,
            environment=env,
            action="Post-promotion checks",
            checkpoint="exposure queries return rows",
            kind="post_check",
        ),
    ]


def empty_plan() -> Plan:
    return Plan(
        plan_id="p0000empty",
        title="No changes to prod",
        objective="",
        created_at=CREATED,
        project="shop",
        environment="prod",
        plan_environment="plan_p0000empty",
        target_state={"marts.fct_churn": "v_7a1c"},
        target_state_hash="h_empty",
        rollback=Rollback(command="dataplan rollback p0000empty", restores={}),
    )


def churn_plan() -> Plan:
    """A breaking rename in the churn mart that feeds a dashboard, half-way through apply."""
    pid = "p7f3a9c21"
    return Plan(
        plan_id=pid,
        title="Rename churn_flag to is_churned and count churn by cancellation date",
        objective=(
            "Churn is counted on the day a subscription is cancelled, not the day it lapses, so the\n"
            "weekly churn dashboard lines up with finance. The ambiguous `churn_flag` becomes `is_churned`."
        ),
        status="IN PROGRESS",
        created_at=CREATED,
        project="shop",
        environment="prod",
        plan_environment=f"plan_{pid}",
        selection="marts.fct_churn+",
        target_state={
            "staging.stg_subscriptions": "v_11aa",
            "marts.fct_churn": "v_7a1c",
            "marts.churn_by_region": "v_9e02",
        },
        target_state_hash="h_3b9f",
        changes=[
            ModelChange(
                model="fct_churn",
                fqn="marts.fct_churn",
                file="models/marts/fct_churn.sql",
                materialized="incremental",
                change="directly modified",
                category="breaking",
                reason="Column churn_flag renamed to is_churned; churned_on now uses cancelled_at",
                rebuild=True,
                changed_columns=["is_churned", "churned_on"],
                old_version="v_7a1c",
                new_version="v_c4d8",
            ),
            ModelChange(
                model="churn_weekly",
                fqn="marts.churn_weekly",
                file="models/marts/churn_weekly.sql",
                materialized="table",
                change="indirectly modified",
                category="breaking",
                reason="Reads fct_churn.churned_on, which changes meaning",
                rebuild=True,
                changed_columns=[ALL_COLUMNS],
                old_version="v_5b10",
                new_version="v_e2f7",
            ),
            ModelChange(
                model="churn_by_region",
                fqn="marts.churn_by_region",
                file="models/marts/churn_by_region.sql",
                materialized="view",
                change="indirectly modified",
                category="non-breaking",
                reason="Reads only customer_id | region from fct_churn,\nneither of which changes",
                rebuild=False,
                old_version="v_9e02",
            ),
            ModelChange(
                model="churn_docs",
                fqn="marts.churn_docs",
                file="models/marts/schema.yml",
                materialized="view",
                change="metadata only",
                category="metadata",
                reason="Description of is_churned updated",
                rebuild=False,
            ),
            ModelChange(
                model="cancel_reasons",
                fqn="marts.cancel_reasons",
                file="models/marts/cancel_reasons.sql",
                materialized="view",
                change="added",
                category="non-breaking",
                reason="new model",
                rebuild=True,
                changed_columns=[ALL_COLUMNS],
            ),
        ],
        contract_changes=[
            ContractChange(
                model="marts.fct_churn",
                change="column renamed",
                before="churn_flag",
                after="is_churned",
                breaking=True,
                enforced=True,
            ),
            ContractChange(
                model="marts.fct_churn",
                change="column type changed",
                before="timestamp",
                after="date",
                breaking=True,
                enforced=False,
            ),
            ContractChange(model="marts.fct_churn", change="column added", after="cancel_reason"),
        ],
        backfills=[
            Backfill(
                model="marts.fct_churn",
                strategy="date-range backfill",
                reason="Incremental model: churned_on moves for cancellations since the billing change",
                ranges=[("2024-01-01", "2024-04-01"), ("2024-04-01", "2024-05-06")],
            ),
            Backfill(model="marts.churn_weekly", strategy="full refresh", reason="Table; every row may change"),
        ],
        impacts=[
            ExposureImpact(
                exposure="churn_dashboard",
                type="dashboard",
                owner="analytics@example.com",
                models=["marts.fct_churn", "marts.churn_weekly"],
                columns=["churn_flag", "churned_on"],
                breaking=True,
            ),
            ExposureImpact(
                exposure="retention_model",
                type="ml",
                models=["marts.fct_churn"],
                columns=["churned_on"],
                breaking=False,
            ),
        ],
        risks=[
            Risk(
                rule="breaking_feeds_exposure",
                risk="Breaking change to marts.fct_churn feeds churn_dashboard",
                likelihood="high",
                impact="high",
                mitigation="Update the dashboard's churn_flag queries; promotion waits for --allow-breaking",
                blocking=True,
            ),
            Risk(
                rule="row_count_shift",
                risk="Weekly churn counts move between weeks",
                likelihood="medium",
                impact="medium",
                mitigation="Distribution check on churned_on; owner sign-off",
            ),
        ],
        checks=[
            Check(
                id="c1",
                model="marts.fct_churn",
                kind="row_count",
                criteria="Row count unchanged",
                measurement="count(*) baseline vs plan env",
                target="|Δ| ≤ 0.5%",
                warn=0.001,
                fail=0.005,
                actual="1,204,311 vs 1,204,311 (Δ 0.00%)",
                outcome="pass",
            ),
            Check(
                id="c2",
                model="marts.fct_churn",
                kind="distribution",
                criteria="churned_on distribution",
                measurement="PSI over weekly bins",
                target="PSI < 0.1 (warn ≥ 0.1, fail ≥ 0.25)",
                warn=0.1,
                fail=0.25,
                actual="PSI 0.14",
                outcome="warn",
                blocking=False,
            ),
            Check(
                id="c3",
                model="marts.churn_weekly",
                kind="value_diff",
                criteria="Values match on week",
                measurement="key diff on week_start",
                target="≤ 5% of rows change",
            ),
            Check(
                id="c4",
                model="marts.fct_churn",
                kind="schema",
                criteria="Contract holds",
                measurement="columns and types vs contract",
                target="no violations",
                actual="is_churned missing not_null",
                outcome="fail",
            ),
            Check(
                id="c5",
                model="marts.churn_weekly",
                kind="exposure_query",
                criteria="Dashboard queries run",
                measurement="churn_dashboard's queries",
                target="all return rows",
            ),
        ],
        rollout=rollout(pid),
        rollback=Rollback(
            command=f"dataplan rollback {pid}",
            restores={"fct_churn": "v_7a1c", "churn_weekly": "v_5b10", "cancel_reasons": None},
            triggers=["any blocking check fails after promotion", "row count of marts.fct_churn drops > 5%"],
        ),
        allow_breaking=True,
    )


def churn_draft_plan() -> Plan:
    """The same change as planned: nothing measured yet, and blocked until breaking changes are allowed."""
    plan = churn_plan()
    checks = [c.model_copy(update={"actual": None, "outcome": None}) for c in plan.checks]
    return plan.model_copy(
        update={
            "status": "DRAFT",
            "allow_breaking": False,
            "checks": checks,
            "blocked": ["Breaking change to enforced contract of marts.fct_churn (rerun with --allow-breaking)"],
        }
    )


def complete_plan() -> Plan:
    pid = "p2b61d0e4"
    checks = [
        Check(
            id="r1",
            model="marts.revenue_daily",
            kind="row_count",
            criteria="Row count unchanged",
            measurement="count(*)",
            target="Δ = 0",
            actual="3,650 vs 3,650",
            outcome="pass",
        ),
        Check(
            id="r2",
            model="marts.revenue_daily",
            kind="value_diff",
            criteria="Only mrr changes",
            measurement="key diff on date_day",
            target="mismatches only in mrr",
            actual="0 added, 0 removed, 412 changed (mrr only)",
            outcome="pass",
        ),
        Check(
            id="r3",
            model="marts.revenue_daily",
            kind="profile",
            criteria="mrr profile",
            measurement="mean, min, max of mrr",
            target="mean within 0.1%",
            actual="mean Δ 0.02%",
            outcome="pass",
        ),
        Check(
            id="r4",
            model="marts.revenue_daily",
            kind="tests",
            criteria="Model tests pass",
            measurement="unique, not_null",
            target="0 failures",
            actual="0 failures",
            outcome="pass",
        ),
    ]
    return Plan(
        plan_id=pid,
        title="Round mrr to cents in revenue_daily",
        objective="Finance reconciles mrr to the cent; the mart stored fractions of a cent.",
        status="COMPLETE",
        created_at=dt.datetime(2024, 4, 2, 14, 5, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        project="shop",
        environment="prod",
        plan_environment=f"plan_{pid}",
        target_state={"marts.revenue_daily": "v_aa01"},
        target_state_hash="h_77c0",
        changes=[
            ModelChange(
                model="revenue_daily",
                fqn="marts.revenue_daily",
                file="models/marts/revenue_daily.sql",
                materialized="table",
                change="directly modified",
                category="non-breaking",
                reason="mrr expression changed (round to 2 decimals); type unchanged",
                rebuild=True,
                changed_columns=["mrr"],
                old_version="v_aa01",
                new_version="v_bb02",
            ),
        ],
        backfills=[Backfill(model="marts.revenue_daily", strategy="full refresh", reason="Table model")],
        impacts=[
            ExposureImpact(
                exposure="revenue_metrics",
                type="semantic_layer",
                owner="finance@example.com",
                models=["marts.revenue_daily"],
                columns=["mrr"],
                breaking=False,
            ),
            ExposureImpact(
                exposure="billing_api",
                type="api",
                owner="platform@example.com",
                models=["marts.revenue_daily"],
                columns=["mrr"],
                breaking=False,
            ),
        ],
        checks=checks,
        rollout=rollout(pid),
        rollback=Rollback(
            command=f"dataplan rollback {pid}",
            restores={"revenue_daily": "v_aa01"},
            triggers=["any blocking check fails after promotion"],
        ),
        applied_at=dt.datetime(2024, 4, 2, 12, 20),
        verified=True,
        promoted_to="prod",
        promoted_at=dt.datetime(2024, 4, 2, 12, 31),
        promoted_state={"marts.revenue_daily": "v_bb02"},
        post_checks=[
            PostCheck(
                name="row count marts.revenue_daily",
                outcome="pass",
                detail="3,650 -> 3,650 rows (+0.00%; rollback when it drops more than 5.0%)",
            ),
            PostCheck(name="tests", outcome="pass", detail="2 passed, 0 failed"),
        ],
    )


PLANS: dict[str, Callable[[], Plan]] = {
    "empty": empty_plan,
    "churn": churn_plan,
    "churn_draft": churn_draft_plan,
    "complete": complete_plan,
}


def section(doc: str, name: str, level: int = 2) -> str:
    """The body of one section (up to the next heading of the same or a higher level)."""
    marks = "#" * level
    match = re.search(rf"^{marks} {re.escape(name)}\n(.*?)(?=^#{{1,{level}}} |\Z)", doc, re.M | re.S)
    assert match, f"no section {name!r}"
    return match.group(1).strip()


def tables(doc: str) -> list[list[str]]:
    """Every Markdown table in the document, as its lines."""
    found: list[list[str]] = []
    current: list[str] = []
    for line in doc.splitlines() + [""]:
        if line.startswith("|"):
            current.append(line)
        elif current:
            found.append(current)
            current = []
    return found


def unescaped_pipes(line: str) -> int:
    return len(re.findall(r"(?<!\\)\|", line))


@pytest.mark.parametrize("name", sorted(PLANS))
def test_golden(name: str) -> None:
    doc = render_markdown(PLANS[name]())
    path = GOLDEN / f"{name}.md"
    if UPDATE:
        path.write_text(doc, encoding="utf-8")
    assert path.exists(), f"{path} missing: run with DATAPLAN_UPDATE_GOLDEN=1 to create it"
    assert doc == path.read_text(encoding="utf-8"), f"{path} differs; DATAPLAN_UPDATE_GOLDEN=1 regenerates"


@pytest.mark.parametrize("name", sorted(PLANS))
def test_sections_in_order(name: str) -> None:
    plan = PLANS[name]()
    doc = render_markdown(plan)
    lines = doc.splitlines()
    assert lines[0] == f"# Plan: {plan.title}"
    assert [line[3:] for line in lines if line.startswith("## ")] == list(SECTIONS)
    assert [line[4:] for line in lines if line.startswith("### ")] == list(VALIDATION_SUBSECTIONS)
    assert [line for line in lines if line.startswith("# ")] == [lines[0]]
    assert section(doc, "Plan Title") == plan.title
    assert doc.endswith("\n") and not doc.endswith("\n\n")


@pytest.mark.parametrize("name", sorted(PLANS))
def test_deterministic_and_json_stable(name: str) -> None:
    plan = PLANS[name]()
    again = Plan.model_validate_json(plan.model_dump_json())
    assert render_markdown(plan) == render_markdown(plan) == render_markdown(again)


@pytest.mark.parametrize("name", sorted(PLANS))
def test_tables_well_formed(name: str) -> None:
    for table in tables(render_markdown(PLANS[name]())):
        assert len(table) >= 3, table
        assert re.fullmatch(r"\|(-+\|)+", table[1]), table[1]
        assert {unescaped_pipes(row) for row in table} == {unescaped_pipes(table[0])}, table


def test_empty_sections_say_none() -> None:
    doc = render_markdown(empty_plan())
    for name in ("Objective", "Impacted Models", "Contract Changes", "Risk Assessment", "Rollout Plan"):
        assert section(doc, name) == "_None._", name
    for name in VALIDATION_SUBSECTIONS:
        assert section(doc, name, level=3) == "_None._", name
    backfill = section(doc, "Backfill Strategy")
    assert "- [x] No backfill required" in backfill and backfill.endswith("_None._")
    assert backfill.count("- [x]") == 1
    downstream = section(doc, "Downstream Impacts")
    assert "- [x] No downstream impacts" in downstream and downstream.endswith("_None._")
    assert downstream.count("- [x]") == 1
    rollback = section(doc, "Rollback Plan")
    assert "dataplan rollback p0000empty" in rollback
    assert rollback.count("_None._") == 2  # nothing to restore, no triggers
    assert "|" not in doc  # no empty tables


def test_pipes_and_newlines_escaped() -> None:
    doc = render_markdown(churn_plan())
    assert "`customer_id` | `region`" not in doc
    assert "Reads only customer_id \\| region from fct_churn, neither of which changes." in doc
    assert "\\|Δ\\| ≤ 0.5%" in doc
    plan = empty_plan().model_copy(
        update={
            "rollout": [Step(n=1, environment="a|b", action="x\ny", checkpoint="", kind="build")],
            "risks": [Risk(rule="r", risk="p | q", likelihood="low", impact="low", mitigation="m\r\nn")],
        }
    )
    doc = render_markdown(plan)
    assert "| 1    | a\\|b        | x<br>y | —          |" in doc
    assert "p \\| q (`r`)" in doc and "m<br>n" in doc
    for table in tables(doc):
        assert {unescaped_pipes(row) for row in table} == {unescaped_pipes(table[0])}


def test_status_line_and_blocked_reasons() -> None:
    status = section(render_markdown(churn_draft_plan()), "Status")
    assert status.startswith("**DRAFT** — planned, not applied")
    assert "Plan `p7f3a9c21`" in status and "target `prod`" in status
    assert "plan environment `plan_p7f3a9c21`" in status and "created 2024-05-06 09:30 UTC" in status
    assert "**Blocked — `dataplan apply` refuses this plan:**" in status
    assert "- **Breaking change to enforced contract of marts.fct_churn (rerun with --allow-breaking)**" in status
    status = section(render_markdown(churn_plan()), "Status")
    assert status.startswith("**IN PROGRESS** — applied to the plan environment, not yet promoted")
    assert "Blocked" not in status and "breaking changes allowed" in status
    # an aware time is shown in UTC; a naive one (as the state store keeps them) is UTC already
    assert "created 2024-04-02 12:05 UTC" in render_markdown(complete_plan())


def test_the_baseline_section_shows_the_captured_figures() -> None:
    baseline = {
        "marts.revenue_daily": {
            "row_count": 3650,
            "columns": {
                "mrr": {"null_pct": 0.0, "distinct": 3640, "mean": 1234.5678912, "distinct_approximate": False},
                "day": {"null_pct": 1.25, "distinct": 2000000, "mean": None, "distinct_approximate": True},
            },
        }
    }
    pre = section(render_markdown(complete_plan().model_copy(update={"baseline": baseline})), "Pre-Change Baseline", 3)
    assert "Captured from `prod` for `marts.revenue_daily`: 3,650 rows." in pre
    lines = pre.splitlines()
    assert [c.strip() for c in lines[-4].split("|")[1:5]] == ["Column", "Null %", "Distinct", "Mean"]
    assert [c.strip() for c in lines[-2].split("|")[1:5]] == ["`mrr`", "0%", "3,640", "1,234.57"]
    assert [c.strip() for c in lines[-1].split("|")[1:5]] == ["`day`", "1.25%", "≈2,000,000", "—"]
    assert "Captured from" not in render_markdown(complete_plan())  # nothing captured yet: no figures


def test_verification_reports_are_linked_from_the_document() -> None:
    plan = complete_plan().model_copy(
        update={"document": "plans/2024-04-02-round-mrr.md", "reports": ["reports/plan-p2b61d0e4-revenue.html"]}
    )
    post = section(render_markdown(plan), "Post-Change Verification", level=3)
    link = "[reports/plan-p2b61d0e4-revenue.html](../reports/plan-p2b61d0e4-revenue.html)"
    assert post.endswith(f"Verification reports (HTML, open offline): {link}")
    assert "Verification reports" not in render_markdown(complete_plan())


def test_status_lists_what_the_rollout_did() -> None:
    plan = complete_plan()
    assert section(render_markdown(plan), "Status").endswith(
        "- Applied 2024-04-02 12:20 UTC in `plan_p2b61d0e4`: every blocking check passed.\n"
        "- Promoted to `prod` 2024-04-02 12:31 UTC."
    )
    assert section(render_markdown(plan), "Status").startswith(
        "**COMPLETE** — applied, verified and promoted to `prod`"
    )
    forced = plan.model_copy(
        update={"verified": False, "forced_reason": "hotfix | approved", "promoted_to": "dev", "promoted_at": None}
    )
    status = section(render_markdown(forced), "Status")
    assert status.startswith("**COMPLETE** — applied, not verified (promotion forced) and promoted to `dev`")
    assert "in `plan_p2b61d0e4`: a blocking check failed." in status
    assert "- Promoted to `dev` (did not finish). Forced: hotfix | approved." in status
    rolled = plan.model_copy(
        update={"status": "ROLLED BACK", "rolled_back_at": dt.datetime(2024, 4, 3, 8, 0), "rollback_reason": "mrr off"}
    )
    doc = render_markdown(rolled)
    assert section(doc, "Status").startswith("**ROLLED BACK** — promoted, then rolled back")
    assert section(doc, "Status").endswith("- Rolled back 2024-04-03 08:00 UTC: mrr off.")
    by_hand = render_markdown(rolled.model_copy(update={"rollback_reason": "requested"}))
    assert section(by_hand, "Status").endswith(
        f"- Rolled back 2024-04-03 08:00 UTC by command (`dataplan rollback {plan.plan_id}`)."
    )
    never = rolled.model_copy(update={"promoted_to": None, "promoted_at": None, "promoted_state": {}})
    status = section(render_markdown(never), "Status")
    assert status.startswith("**ROLLED BACK** — rolled back before any promotion: `prod` was never changed")
    assert "Promoted" not in status
    draft = section(render_markdown(empty_plan()), "Status")
    assert "- Applied" not in draft and "- Promoted" not in draft and "- Rolled back" not in draft


@pytest.mark.parametrize(
    ("status", "meaning"),
    [
        ("DRAFT", "planned, not applied"),
        ("IN PROGRESS", "not yet promoted"),
        ("COMPLETE", "promoted"),
        ("ABANDONED", "abandoned"),
        ("ROLLED BACK", "rolled back"),
    ],
)
def test_every_status_explained(status: str, meaning: str) -> None:
    doc = render_markdown(empty_plan().model_copy(update={"status": status}))
    first = section(doc, "Status").splitlines()[0]
    assert first.startswith(f"**{status}** — ") and meaning in first


def test_draft_baseline_is_captured_by_apply() -> None:
    doc = render_markdown(churn_draft_plan())
    baseline = section(doc, "Pre-Change Baseline", level=3)
    assert baseline.startswith("`dataplan apply p7f3a9c21` will capture it from `prod`")
    assert "- `marts.fct_churn` — row_count: count(*) baseline vs plan env" in baseline
    assert "- `marts.fct_churn` — distribution: PSI over weekly bins" in baseline
    assert "value_diff" not in baseline and "schema" not in baseline
    assert "- [x]" not in section(doc, "Post-Change Verification", level=3)
    assert section(doc, "Validation Criteria", level=3).count("pending") == 5
    assert "captured it from `prod`" in section(render_markdown(churn_plan()), "Pre-Change Baseline", level=3)


def test_checks_ticked_only_when_passed_and_actual_pending() -> None:
    doc = render_markdown(churn_plan())
    post = section(doc, "Post-Change Verification", level=3).splitlines()
    assert [line[:5] for line in post] == ["- [x]", "- [ ]", "- [ ]", "- [ ]", "- [ ]"]
    assert post[1].endswith("· non-blocking · ⚠ warn")
    criteria = section(doc, "Validation Criteria", level=3)
    assert criteria.splitlines()[0].split() == "| Criteria | Measurement | Target | Actual |".split()
    assert criteria.count("pending") == 2
    assert "1,204,311 vs 1,204,311 (Δ 0.00%) ✓ pass" in criteria and "✗ fail" in criteria
    complete = render_markdown(complete_plan())
    assert "- [ ]" not in section(complete, "Post-Change Verification", level=3)
    assert "pending" not in complete


def test_changes_contracts_backfills_and_impacts() -> None:
    doc = render_markdown(churn_plan())
    impacted = section(doc, "Impacted Models")
    assert "directly modified (breaking)" in impacted and "Rebuilt." in impacted
    assert "Reuses current version." in impacted and "all (any row may change)" in impacted
    assert "| metadata only " in impacted
    contracts = section(doc, "Contract Changes")
    assert "column renamed ⚠ breaking (enforced contract)" in contracts
    assert "column type changed — breaking" in contracts and "| column added " in contracts
    backfill = section(doc, "Backfill Strategy")
    assert "- [x] Full refresh required (rebuilt from scratch) — `marts.churn_weekly`" in backfill
    assert "- [ ] Incremental catch-up" in backfill and "- [ ] No backfill required" in backfill
    date_range = "- [x] Date-range backfill (specific date range, run by `dataplan apply` in the plan env)"
    assert f"{date_range} — `marts.fct_churn`" in backfill  # not "Manual": apply runs it
    assert "2024-01-01 → 2024-04-01; 2024-04-01 → 2024-05-06" in backfill
    downstream = section(doc, "Downstream Impacts")
    assert "- [x] Dashboards need updating — `churn_dashboard`" in downstream
    assert "- [x] ML or API consumers need updating — `retention_model`" in downstream
    assert "- [x] Downstream models need updating — `marts.churn_weekly`" in downstream
    assert "- [ ] Semantic layer needs updating" in downstream and "- [ ] No downstream impacts" in downstream
    assert "`churn_dashboard` ⚠ breaking" in downstream
    risks = section(doc, "Risk Assessment")
    assert risks.count("⛔ **blocking**") == 1
    rollback = section(doc, "Rollback Plan")
    assert "```sh\ndataplan rollback p7f3a9c21\n```" in rollback
    assert "none — the view is dropped" in rollback and "`v_7a1c`" in rollback
    # The same schema.name in every section, though the plan keys changes and restores by name.
    assert "| `marts.cancel_reasons` | none — the view is dropped |" in re.sub(" +", " ", rollback)
    assert "`marts.fct_churn` (incremental): Column churn_flag renamed" in impacted
    assert "`fct_churn`" not in doc and "`churn_weekly`" not in doc
    assert "- row count of marts.fct_churn drops > 5%" in rollback


def test_post_promotion_checks_are_shown_once_promoted() -> None:
    rollout = section(render_markdown(complete_plan()), "Rollout Plan")
    assert "Post-promotion checks in `prod`:" in rollout
    assert (
        "| row count marts.revenue_daily | 3,650 -> 3,650 rows (+0.00%; rollback when it drops more than 5.0%) "
        "| ✓ pass  |" in rollout
    )
    fired = complete_plan().model_copy(
        update={
            "status": "ROLLED BACK",
            "post_checks": [
                PostCheck(name="tests", outcome="fail", detail="1 passed, 1 failed (revenue_daily unique)"),
                PostCheck(
                    name="exposure revenue_metrics reads marts.revenue_daily",
                    outcome="fail",
                    detail="0 row(s)",
                    triggers_rollback=True,
                ),
            ],
        }
    )
    rollout = section(render_markdown(fired), "Rollout Plan")
    assert "✗ fail (below its trigger)" in rollout and "✗ fail: rolled back" in rollout
    unfinished = complete_plan().model_copy(update={"promoted_at": None, "post_checks": []})
    assert section(render_markdown(unfinished), "Rollout Plan").endswith(
        "Post-promotion checks in `prod`: none recorded (the promotion did not finish)."
    )
    assert "Post-promotion checks in" not in section(render_markdown(churn_plan()), "Rollout Plan")  # not promoted


def test_an_exposure_reading_no_changed_column_is_listed_not_flagged() -> None:
    reader = ExposureImpact(
        exposure="ops_board", type="dashboard", models=["marts.revenue_daily"], columns=[], breaking=False
    )
    downstream = section(
        render_markdown(complete_plan().model_copy(update={"impacts": [reader]})), "Downstream Impacts"
    )
    assert "- [ ] Dashboards need updating\n" in downstream
    assert "- [x] No downstream impacts" in downstream
    assert "| `ops_board` | dashboard | — | `marts.revenue_daily` | none it reads |" in re.sub(" +", " ", downstream)


def test_an_apply_with_no_check_does_not_claim_checks_passed() -> None:
    applied = empty_plan().model_copy(
        update={"status": "IN PROGRESS", "applied_at": dt.datetime(2024, 5, 6, 10, 0), "verified": True}
    )
    status = section(render_markdown(applied), "Status")
    assert status.endswith("- Applied 2024-05-06 10:00 UTC in `plan_p0000empty`: no check to run.")


def test_criteria_that_name_their_model_do_not_repeat_it() -> None:
    plan = churn_plan()
    named = plan.checks[0].model_copy(update={"criteria": "marts.fct_churn keeps its row count"})
    doc = render_markdown(plan.model_copy(update={"checks": [named, *plan.checks[1:]]}))
    assert re.search(r"^\| marts.fct_churn keeps its row count +\| count\(\*\)", doc, re.M)  # Criteria table
    assert "- [x] marts.fct_churn keeps its row count (row_count) — target:" in doc
    assert "keeps its row count (`marts.fct_churn`" not in doc
    assert "- [ ] Values match on week (`marts.churn_weekly`, value_diff)" in doc  # others keep their model
