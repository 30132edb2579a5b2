"""What a plan's promotion did, read from the plan and its journal.

Rollback, resume, abandon and the janitor all ask the same questions: did a
promotion of this plan start, where did it go, which version did it leave in
each view it changed, and did its post-promotion checks fail.
"""

from __future__ import annotations

from dataplan.plan.model import Plan
from dataplan.rollout.journal import Entry

# Steps that move a plan forward or back; "resume" and "lock" entries only annotate them.
ROLLOUT_STEPS = frozenset({"bind", "build", "verify", "promote", "swap_view", "post_check", "rollback"})


def was_promoted(plan: Plan) -> bool:
    """A promotion started (``Plan.was_promoted``)."""
    return plan.was_promoted


def promotion_target(plan: Plan) -> str:
    """The environment the plan was promoted to (``promote --to``), else the one it was planned against."""
    return plan.promoted_to or plan.environment


def after_state(plan: Plan) -> dict[str, str | None]:
    """Each model the rollback restores -> its version right after the promotion (None: no view).

    ``promoted_state`` holds the versions the swap writes from just before it (then the whole target
    after it); plans promoted before that was saved fall back to the plan's own versions.
    """
    if plan.promoted_at is not None or plan.promoted_state:
        return {m: plan.promoted_state.get(m) for m in plan.rollback.restores}
    intended = {c.model: c.new_version for c in plan.changes}  # removed models: None
    return {m: intended.get(m) for m in plan.rollback.restores}


def failed_post_check(entries: list[Entry]) -> Entry | None:
    """The post-promotion check that failed (a fired trigger or an error), if any."""
    return next(
        (e for e in entries if e.step == "post_check" and e.phase == "end" and e.outcome in ("fail", "error")),
        None,
    )


def rollback_due(plan: Plan, entries: list[Entry]) -> bool:
    """A rollback started and the plan is not ROLLED BACK yet, or a failed post-check calls for one."""
    if plan.status == "ROLLED BACK":
        return False
    last = next((e for e in reversed(entries) if e.step in ROLLOUT_STEPS), None)
    return (last is not None and last.step == "rollback") or failed_post_check(entries) is not None


def resumed_reason(plan: Plan, entries: list[Entry]) -> str:
    """Why the rollback that resume finishes was started."""
    started = [e for e in entries if e.step == "rollback" and e.phase == "start" and e.detail.get("reason")]
    if started:
        return str(started[-1].detail["reason"])
    failed = failed_post_check(entries)
    if failed is not None:
        fired = failed.detail.get("fired")
        what = ", ".join(map(str, fired)) if isinstance(fired, list) and fired else failed.detail.get("error")
        return f"post-promotion check failed: {what or 'see the journal'}"
    return plan.rollback_reason or "resumed after a crash"
