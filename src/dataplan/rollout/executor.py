"""The rollout executor: apply, promote, rollback and resume, journaled step by step.

Every step is recorded before and after it runs. Each step is idempotent, so
``resume`` re-runs the first unfinished one; the view swap is one transaction
on engines with transactional DDL, so a crash leaves either the old or the
new state of the target visible.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from dataplan.backends.base import Backend
from dataplan.build import environments
from dataplan.build.builder import Builder, Progress
from dataplan.build.naming import check_environment_name, environment_schema
from dataplan.errors import DataplanError, InputError, StateError
from dataplan.plan.model import ApplyFailure, Plan
from dataplan.project import Project
from dataplan.rollout.catchup import caught_up_last, lagging
from dataplan.rollout.journal import Journal, unfinished
from dataplan.rollout.locks import Locks
from dataplan.rollout.pointers import Swap, promotion_swap, rollback_swap, swap
from dataplan.rollout.postcheck import PostCheckResult, post_promotion_checks, rows_before_swap
from dataplan.rollout.promotion import (
    after_state,
    failed_post_check,
    promotion_target,
    resumed_reason,
    rollback_due,
    was_promoted,
)
from dataplan.rollout.verification import PlanVerifier, Verification
from dataplan.state.plans import PlanRecords
from dataplan.state.store import EnvironmentModel, StateStore, Version, now


@dataclass
class RolloutResult:
    plan: Plan
    action: str  # applied | promoted | rolled back | nothing to do
    messages: list[str] = field(default_factory=list)
    verification: Verification | None = None
    post_checks: list[PostCheckResult] = field(default_factory=list)
    exit_code: int = 0


class Rollout:
    def __init__(
        self,
        project: Project,
        backend: Backend,
        store: StateStore,
        save_document: Callable[[Plan], object] | None = None,
    ) -> None:
        self.project = project
        self.backend = backend
        self.store = store
        self.records = PlanRecords(store)
        self.locks = Locks(store)
        self.save_document = save_document or (lambda plan: None)

    def _save(self, plan: Plan) -> Plan:
        self.records.save(plan)
        self.save_document(plan)
        return plan

    def _state(self, environment: str) -> dict[str, str]:
        return {n: e.version_id for n, e in sorted(self.store.environment_models(environment).items())}

    # -- apply -------------------------------------------------------------------
    def apply(
        self, plan_id: str, *, progress: Progress | None = None, end: dt.date | None = None, break_lock: bool = False
    ) -> RolloutResult:
        plan = self.records.get(plan_id)
        if plan.status not in ("DRAFT", "IN PROGRESS"):
            raise StateError(f"plan {plan_id} is {plan.status}; only a DRAFT or IN PROGRESS plan can be applied")
        if plan.blocked:
            # Each blocking risk says how to lift it: --allow-breaking lifts a breaking change, not a contract
            # the build would refuse (that one needs the YAML or the query fixed).
            ways = dict.fromkeys(r.mitigation.removeprefix("blocked: ") for r in plan.risks if r.blocking)
            raise StateError(
                f"plan {plan_id} is blocked: {'; '.join(plan.blocked)}",
                hint="; ".join(ways) or "re-plan with --allow-breaking once consumers are ready",
            )
        self._require_same_project(plan)
        # Verifying against a target that moved on would measure a change the plan does not describe,
        # and promote would refuse it anyway.
        self._require_fresh(plan, plan.environment)
        journal = Journal(self.store, plan_id)
        with self.locks.held(plan.plan_environment, f"apply {plan_id}", break_lock=break_lock) as replaced:
            if replaced is not None:
                journal.record("lock", "end", "taken over", holder=replaced.holder, pid=replaced.pid)
            previous = plan.status
            plan = self._save(plan.model_copy(update={"status": "IN PROGRESS"}))
            journal.record("bind", "start")
            self._bind_reused(plan)
            journal.record("bind", "end", "ok", reused=len(plan.reuse))
            journal.record("build", "start", environment=plan.plan_environment)
            try:
                built = Builder(self.project, self.backend, self.store).build(
                    plan.plan_environment, plan.selection, end=end, progress=progress, ends=self._backfill_ends(plan)
                )
            except DataplanError as exc:  # the project's error (exit 2) or the engine's (a division by zero: 3)
                journal.record("build", "end", "error", error=exc.message[:200])
                # The document says why, not only the journal: a DRAFT that reads "planned, not applied"
                # after a failed apply hides the error from whoever reads the plan next.
                update: dict[str, object] = {"apply_failure": ApplyFailure(at=now(), message=exc.message)}
                if previous == "DRAFT" and not self.store.environment_models(plan.plan_environment):
                    update["status"] = "DRAFT"  # nothing was applied
                plan = self._save(plan.model_copy(update=update))
                raise
            journal.record("build", "end", "ok", created=len(built.created), pointed=len(built.repointed))
            journal.record("verify", "start")
            verification = PlanVerifier(
                self.project,
                self.backend,
                plan,
                self.store.environment_models(plan.environment),
                self.store.environment_models(plan.plan_environment),
            ).run()
            failures = verification.blocking_failures
            journal.record(
                "verify",
                "end",
                "fail" if failures else "pass",
                checks=len(verification.checks),
                failed=[c.id for c in failures],
            )
        plan = self._save(
            plan.model_copy(
                update={
                    "checks": verification.checks,
                    "baseline": verification.baseline,
                    "applied_at": now(),
                    "verified": not failures,
                    "apply_failure": None,
                }
            )
        )
        messages = [
            f"built {len(built.created)} version(s) in {plan.plan_environment}, reused "
            f"{len(built.actions) - len(built.created)}"
        ]
        messages += [f"check failed: {c.criteria}: {c.actual}" for c in failures]
        return RolloutResult(plan, "applied", messages, verification, exit_code=1 if failures else 0)

    def _bind_reused(self, plan: Plan) -> None:
        """Record that a kept model's new fingerprint reads its current physical version."""
        if not plan.reuse:
            return
        known = {v.fingerprint for v in self.store.versions(fingerprints=[plan.fingerprints[m] for m in plan.reuse])}
        old = {v.version_id: v for v in self.store.versions(version_ids=list(plan.reuse.values()))}
        with self.backend.transaction():
            for model, vid in plan.reuse.items():
                fp = plan.fingerprints[model]
                if fp in known or vid not in old:
                    continue
                v = old[vid]
                self.store.add_version(
                    Version(
                        vid,
                        v.model,
                        v.layer,
                        fp,
                        v.materialized,
                        v.query_sql,
                        v.config,
                        v.columns,
                        v.model_sql,
                        v.spec,
                        v.parents,
                    )
                )

    # -- promote -----------------------------------------------------------------
    def promote(
        self,
        plan_id: str,
        *,
        to: str | None = None,
        force: bool = False,
        reason: str | None = None,
        break_lock: bool = False,
    ) -> RolloutResult:
        plan = self.records.get(plan_id)
        target = check_environment_name(to) if to is not None else plan.environment
        if force and not reason:
            raise InputError("--force needs --reason TEXT, which is recorded in the plan")
        self._check_promotable(plan, target, to, force)  # fail fast, before any lock
        journal = Journal(self.store, plan_id)
        # The plan's lock, then the target's: two promotions of one plan (to prod and --to dev at once)
        # must not both pass the checks above.
        with (
            self.locks.held(plan.plan_environment, f"promote {plan_id}", break_lock=break_lock),
            self.locks.held(target, f"promote {plan_id}", break_lock=break_lock) as replaced,
        ):
            if replaced is not None:
                journal.record("lock", "end", "broken", holder=replaced.holder, pid=replaced.pid)
            plan = self.records.get(plan_id)  # again under the locks: another process may have promoted it
            self._check_promotable(plan, target, to, force)
            change = promotion_swap(self.project, self.store, plan, target)  # refuses before any change
            current = self.store.environment_models(target)  # catch-up leaves the target as it is
            self._catch_up(plan, target, change, current, journal)
            # The target and the versions the swap writes are saved before it: rollback and resume after a
            # crash act on them (the plan's new_version can name another version with the same data).
            update: dict[str, object] = {
                "promoted_to": target,
                "promoted_state": {p.model: p.version_id for p in change.pointers},
                "promoted_from_rows": rows_before_swap(self.project, self.backend, plan, current),
            }
            if force:
                update["forced_reason"] = reason
            plan = self._save(plan.model_copy(update=update))
            journal.record("promote", "start", target=target, before=plan.target_state)
            swap(self.backend, self.store, target, change, journal)
            return self._promoted(plan, target, journal, f"{target} now points at the plan's versions")

    def _catch_up(
        self, plan: Plan, target: str, change: Swap, current: dict[str, EnvironmentModel], journal: Journal
    ) -> None:
        """Fill the plan's incremental versions as far as the target's got since apply (``catchup``), and
        refresh what reads them in the plan environment (a table built at apply holds apply's days)."""
        ends = lagging(self.project, self.store, change.pointers, current)
        if not ends:
            return
        end = max(ends.values())  # one end for all: a model that lagged less gets a few days more, never fewer
        journal.record("catch_up", "start", models=sorted(ends), end=end.isoformat(), target=target)
        try:
            with_readers = ",".join(f"{name}+" for name in sorted(ends))
            ran = Builder(self.project, self.backend, self.store).run(plan.plan_environment, with_readers, end=end)
        except BaseException as exc:  # the swap has not started: `resume` (or promote) catches up again
            journal.record("catch_up", "end", "error", error=str(exc)[:200] or type(exc).__name__)
            raise
        journal.record("catch_up", "end", "ok", refreshed=len(ran.refreshed))

    def _check_promotable(self, plan: Plan, target: str, to: str | None, force: bool) -> None:
        plan_id = plan.plan_id
        if plan.status in ("COMPLETE", "ROLLED BACK", "ABANDONED"):
            went = plan.promoted_to if plan.status == "COMPLETE" else None
            raise StateError(
                f"plan {plan_id} is {plan.status}; it cannot be promoted" + (f" (it went to {went})" if went else ""),
                hint="a plan is promoted once: `dataplan plan` makes a new one for the same change"
                + (f", to ship to {target} what {went} now runs" if went and target != went else ""),
            )
        # Before the freshness check: the target still serving its versions is what makes it look stale.
        if failed_post_check(Journal(self.store, plan_id).entries()) is not None:
            raise StateError(
                f"plan {plan_id} failed its post-promotion checks; it is never promoted again",
                hint=f"`dataplan resume {plan_id}` finishes its rollback; make a new plan for the fix",
            )
        if to is not None and to != plan.environment and not self.store.environment_models(target):
            raise StateError(
                f"environment {target} does not exist",
                hint=f"promote --to needs an environment built like {plan.environment} was when planned: "
                f"`dataplan build --env {target}` first",
            )
        if plan.promoted_to is not None and plan.promoted_to != target:
            raise StateError(
                f"plan {plan_id}'s promotion to {plan.promoted_to} did not finish",
                hint=f"finish it with `dataplan resume {plan_id}` or undo it with `dataplan rollback {plan_id}`",
            )
        if plan.applied_at is None:
            raise StateError(
                f"plan {plan_id} was never applied: nothing is built to promote",
                hint=f"run `dataplan apply {plan_id}` first",
            )
        if not plan.verified and not force:
            raise StateError(
                f"plan {plan_id} is not verified: a blocking check failed",
                hint=f"run `dataplan apply {plan_id}`, or promote with --force --reason TEXT",
            )
        self._require_fresh(plan, target)  # under the lock too: a build may have just ended
        self._require_same_project(plan)  # the swap places views by the project's layers

    def _backfill_ends(self, plan: Plan) -> dict[str, dt.date]:
        """Each rebuilt incremental model -> where the plan's backfill ends: as far as the target's version
        got, so verification compares the same days (the plan document says so; `run` catches up later)."""
        by_fqn = {m.fqn: m.name for m in self.project.models.values()}
        return {
            by_fqn[b.model]: dt.date.fromisoformat(b.ranges[-1][1])
            for b in plan.backfills
            if b.strategy == "date-range backfill" and b.ranges and b.model in by_fqn
        }

    def _require_same_project(self, plan: Plan) -> None:
        stale = {n for n, fp in plan.fingerprints.items() if self.project.fingerprints.get(n) != fp}
        stale |= set(self.project.fingerprints) - set(plan.fingerprints)
        if stale:
            raise StateError(
                f"the project changed since plan {plan.plan_id} was made ({', '.join(sorted(stale))})",
                hint="make a new plan with `dataplan plan`",
            )

    def _require_fresh(self, plan: Plan, target: str) -> None:
        if self._state(target) != plan.target_state:
            raise StateError(
                f"plan {plan.plan_id} is stale: {target} changed since it was planned",
                hint="make a new plan with `dataplan plan`",
            )

    def _promoted(self, plan: Plan, target: str, journal: Journal, done: str, record_end: bool = True) -> RolloutResult:
        """After the swap: record it, then the post-promotion checks. An error restores the target first."""
        try:
            after = self._state(target)
            if record_end:
                journal.record("promote", "end", "ok", after=after)
            if plan.promoted_at is None:
                plan = self._save(plan.model_copy(update={"promoted_at": now(), "promoted_state": after}))
        except Exception as exc:
            self._restore_on_error(plan, target, journal, exc)
            raise
        return self._post_check(plan, target, journal, done)

    def _post_check(self, plan: Plan, target: str, journal: Journal, done: str) -> RolloutResult:
        """Post-promotion checks; a fired trigger rolls back, else the plan is COMPLETE."""
        journal.record("post_check", "start")
        try:
            checks = post_promotion_checks(self.project, self.backend, self.store, plan, target)
        except Exception as exc:
            journal.record("post_check", "end", "error", error=str(exc)[:500])
            self._restore_on_error(plan, target, journal, exc)
            raise
        fired = [c for c in checks if c.triggers_rollback]
        journal.record("post_check", "end", "fail" if fired else "pass", fired=[c.name for c in fired])
        # Saved with the outcome below (COMPLETE or ROLLED BACK): the document shows what the checks measured.
        plan = plan.model_copy(update={"post_checks": [c.recorded() for c in checks]})
        if fired:
            why = "; ".join(f"{c.name}: {c.detail}" for c in fired)
            try:
                self._restore(plan, target, journal, why, automatic=True)
            except StateError:
                self._save(plan)  # the document shows what the checks measured; the rollback is still due
                raise
            return RolloutResult(
                self.records.get(plan.plan_id),
                "rolled back",
                [f"post-promotion check failed, rolled back: {why}"],
                post_checks=checks,
                exit_code=1,
            )
        plan = self._save(plan.model_copy(update={"status": "COMPLETE"}))
        self._drop_plan_environment(plan)
        return RolloutResult(plan, "promoted", [done], post_checks=checks)

    def _restore_on_error(self, plan: Plan, target: str, journal: Journal, exc: Exception) -> None:
        """The target must not keep serving versions whose checks never ran; the error is raised after."""
        try:
            self._restore(self.records.get(plan.plan_id), target, journal, f"error after the swap: {exc}")
        except Exception as undo:  # the caller re-raises the first error, which says what went wrong
            exc.add_note(f"the automatic rollback failed too: {undo}; run `dataplan rollback {plan.plan_id}`")

    def abandon(self, plan: Plan) -> Plan:
        """Mark a plan that was never promoted ABANDONED and drop its plan environment's views."""
        with self.locks.held(plan.plan_environment, f"abandon {plan.plan_id}"):
            journal = Journal(self.store, plan.plan_id)  # `dataplan log` ends with it, not with the last apply
            journal.record("abandon", "start", was=plan.status)
            self._drop_plan_environment(plan)
            journal.record("abandon", "end", "ok")  # before the save, which writes the log file beside the plan
            return self._save(plan.model_copy(update={"status": "ABANDONED"}))

    def _drop_plan_environment(self, plan: Plan) -> None:
        if self.store.environment_models(plan.plan_environment):
            environments.drop(self.backend, self.store, plan.plan_environment)

    # -- rollback ----------------------------------------------------------------
    def rollback(self, plan_id: str, *, reason: str = "requested", break_lock: bool = False) -> RolloutResult:
        plan = self.records.get(plan_id)
        if plan.status == "ROLLED BACK":
            return RolloutResult(plan, "nothing to do", [f"plan {plan_id} is already rolled back"])
        return self._rollback(plan, Journal(self.store, plan_id), reason, break_lock)

    def _rollback(self, plan: Plan, journal: Journal, reason: str, break_lock: bool) -> RolloutResult:
        if not was_promoted(plan):
            return self._retire(plan, journal, reason, break_lock)
        target = promotion_target(plan)
        later = self._promoted_after(plan)
        if later:
            ids = ", ".join(later)
            raise StateError(
                f"plan {ids} was promoted on top of {plan.plan_id}",
                hint=f"roll back {ids} first: `dataplan rollback {later[-1]}`",
            )
        with self.locks.held(target, f"rollback {plan.plan_id}", break_lock=break_lock):
            self._restore(plan, target, journal, reason)
        return RolloutResult(
            self.records.get(plan.plan_id),
            "rolled back",
            [f"{target} restored to its state before plan {plan.plan_id}"],
        )

    def _retire(self, plan: Plan, journal: Journal, reason: str, break_lock: bool) -> RolloutResult:
        """Roll back a plan that was never promoted: no target reads its versions, so none is touched."""
        with self.locks.held(plan.plan_environment, f"rollback {plan.plan_id}", break_lock=break_lock):
            journal.record("rollback", "start", reason=reason, promoted=False)
            self._drop_plan_environment(plan)
            journal.record("rollback", "end", "ok", repointed=0, dropped=0)
            plan = self._save(
                plan.model_copy(update={"status": "ROLLED BACK", "rolled_back_at": now(), "rollback_reason": reason})
            )
        return RolloutResult(
            plan,
            "rolled back",
            [
                f"plan {plan.plan_id} was never promoted: {plan.environment} was not changed; "
                f"dropped its plan environment {plan.plan_environment}"
            ],
        )

    def _promoted_after(self, plan: Plan) -> list[str]:
        """Plans promoted to the same target after ``plan``: they must be rolled back first."""
        target = promotion_target(plan)
        # What the promotion left that differs from before it: a model -> its new version, or None for a
        # model it removed (a removal leaves a state too: a later plan can re-add the model on top of it).
        left = {m: v for m, v in after_state(plan).items() if plan.target_state.get(m) != v}
        since = plan.promoted_at or plan.created_at
        out = []
        for row in self.records.list():
            if row["plan_id"] == plan.plan_id or row["status"] == "ROLLED BACK":
                continue
            other = self.records.get(str(row["plan_id"]))
            if not was_promoted(other) or promotion_target(other) != target or other.created_at < since:
                continue
            # Planned against a state holding what this plan left: it was promoted on top of it. When each
            # was planned against what the other left (a removal, then the same version re-added), the one
            # planned later is on top.
            if not any(other.target_state.get(m) == v for m, v in left.items()):
                continue
            theirs = {m: v for m, v in after_state(other).items() if other.target_state.get(m) != v}
            mutual = any(plan.target_state.get(m) == v for m, v in theirs.items())
            if not mutual or other.created_at > plan.created_at:
                out.append(other.plan_id)
        return out

    def _restore(self, plan: Plan, target: str, journal: Journal, reason: str, automatic: bool = False) -> None:
        """Re-point the views the plan changed, only those still reading what the promotion left there."""
        change = rollback_swap(self.project, self.store, plan, target)
        self._refuse_taken_names(plan, target, change, reason if automatic else None)
        journal.record("rollback", "start", reason=reason, restores=plan.rollback.restores)
        if change.pointers or change.removed:
            environments.point(self.backend, self.store, target, change.pointers, change.removed)
        journal.record("rollback", "end", "ok", repointed=len(change.pointers), dropped=len(change.removed))
        self._drop_plan_environment(plan)
        self._save(
            plan.model_copy(update={"status": "ROLLED BACK", "rolled_back_at": now(), "rollback_reason": reason})
        )

    def _refuse_taken_names(self, plan: Plan, target: str, change: Swap, fired: str | None) -> None:
        """Before the rollback is journaled: a view it puts back (a model the plan removed or moved) whose
        name someone else's table or view took since is never replaced. The target keeps the plan's
        versions and the rollback stays due: ``rollback`` or ``resume`` finishes it once the name is free."""
        views = [(environment_schema(p.schema, target), p.model) for p in change.pointers]
        found = environments.taken(self.backend, views, self.store.environment_models(target)) if views else []
        if not found:
            return
        one = len(found) == 1
        lead = f"cannot roll back plan {plan.plan_id}"
        if fired is not None:
            lead = f"post-promotion check failed ({fired}), and plan {plan.plan_id} could not be rolled back"
        raise StateError(
            f"{lead}: {environments.someone_elses(found)}, and the view{'' if one else 's'} {target} had there "
            f"before the plan would replace {'it' if one else 'them'}. {target} still serves the plan's versions",
            hint=f"rename or drop {'it' if one else 'them'} yourself, then run `dataplan rollback {plan.plan_id}`",
        )

    # -- resume ------------------------------------------------------------------
    def resume(self, plan_id: str, *, progress: Progress | None = None, break_lock: bool = True) -> RolloutResult:
        """Finish an interrupted apply, promotion or rollback, from the journal."""
        plan = self.records.get(plan_id)
        journal = Journal(self.store, plan_id)
        entries = journal.entries()
        # Before the status: a rollback killed at its start or end leaves the plan COMPLETE.
        if rollback_due(plan, entries):
            journal.record("resume", "end", "rollback")
            result = self._rollback(plan, journal, resumed_reason(plan, entries), break_lock)
            result.messages.insert(0, "finished the interrupted rollback")
            result.exit_code = 1 if failed_post_check(entries) is not None else 0  # the plan failed its checks
            return result
        if plan.status in ("COMPLETE", "ROLLED BACK", "ABANDONED"):
            return RolloutResult(plan, "nothing to do", [f"plan {plan_id} is {plan.status}"])
        step = unfinished(entries)
        target = promotion_target(plan)
        caught = caught_up_last(entries)
        if caught is not None and not any(e.step == "promote" for e in entries):
            # A promotion stopped while catching up, before its swap: promote again (never apply again, which
            # would verify against a target that `run` has moved on since).
            journal.record("resume", "end", "promote")
            return self.promote(plan_id, to=str(caught.detail.get("target") or target), break_lock=break_lock)
        if step in ("promote", "swap_view", "post_check") or any(e.step == "promote" for e in entries):
            if self._state(target) == plan.target_state:
                # The swap never committed: promote again from the start.
                return self.promote(plan_id, to=target, break_lock=break_lock)
            journal.record("resume", "end", "post_check")
            return self._finish_promotion(
                plan, target, journal, break_lock, swap_unfinished=step in ("promote", "swap_view")
            )
        return self.apply(plan_id, progress=progress, break_lock=break_lock)

    def _finish_promotion(
        self, plan: Plan, target: str, journal: Journal, break_lock: bool, swap_unfinished: bool = False
    ) -> RolloutResult:
        done = "finished the interrupted promotion"
        with self.locks.held(target, f"resume {plan.plan_id}", break_lock=break_lock):
            if swap_unfinished:  # only possible view by view: finish re-pointing
                swap(self.backend, self.store, target, promotion_swap(self.project, self.store, plan, target), journal)
            if swap_unfinished or plan.promoted_at is None:
                return self._promoted(plan, target, journal, done, record_end=swap_unfinished)
            return self._post_check(plan, target, journal, done)
