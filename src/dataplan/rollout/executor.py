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
from dataplan.errors import InputError, StateError
from dataplan.plan.model import Plan
from dataplan.project import Project
from dataplan.rollout.journal import Journal
from dataplan.rollout.locks import Locks
from dataplan.rollout.postcheck import PostCheckResult, post_promotion_checks
from dataplan.rollout.verification import PlanVerifier, Verification
from dataplan.state.plans import PlanRecords
from dataplan.state.store import StateStore, Version, now


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
            raise StateError(
                f"plan {plan_id} is blocked: {'; '.join(plan.blocked)}",
                hint="re-plan with --allow-breaking once consumers are ready",
            )
        stale = {n for n, fp in plan.fingerprints.items() if self.project.fingerprints.get(n) != fp}
        stale |= set(self.project.fingerprints) - set(plan.fingerprints)
        if stale:
            raise StateError(
                f"the project changed since plan {plan_id} was made ({', '.join(sorted(stale))})",
                hint="make a new plan with `dataplan plan`",
            )
        journal = Journal(self.store, plan_id)
        with self.locks.held(plan.plan_environment, f"apply {plan_id}", break_lock=break_lock) as replaced:
            if replaced is not None:
                journal.record("lock", "end", "taken over", holder=replaced.holder, pid=replaced.pid)
            plan = self._save(plan.model_copy(update={"status": "IN PROGRESS"}))
            journal.record("bind", "start")
            self._bind_reused(plan)
            journal.record("bind", "end", "ok", reused=len(plan.reuse))
            journal.record("build", "start", environment=plan.plan_environment)
            built = Builder(self.project, self.backend, self.store).build(
                plan.plan_environment, plan.selection, end=end, progress=progress, complete_intervals=True
            )
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
        target = to or plan.environment
        if plan.status in ("COMPLETE", "ROLLED BACK", "ABANDONED"):
            raise StateError(f"plan {plan_id} is {plan.status}; it cannot be promoted")
        if force and not reason:
            raise InputError("--force needs --reason TEXT, which is recorded in the plan")
        if plan.applied_at is None:
            raise StateError(
                f"plan {plan_id} was never applied: nothing is built to promote",
                hint=f"run `dataplan apply {plan_id}` first",
            )
        if not plan.verified and not force:
            why = "a blocking check failed"
            raise StateError(
                f"plan {plan_id} is not verified: {why}",
                hint=f"run `dataplan apply {plan_id}`, or promote with --force --reason TEXT",
            )
        if self._state(target) != plan.target_state:
            raise StateError(
                f"plan {plan_id} is stale: {target} changed since it was planned",
                hint="make a new plan with `dataplan plan`",
            )
        journal = Journal(self.store, plan_id)
        with self.locks.held(target, f"promote {plan_id}", break_lock=break_lock) as replaced:
            if replaced is not None:
                journal.record("lock", "end", "broken", holder=replaced.holder, pid=replaced.pid)
            if force:
                plan = self._save(plan.model_copy(update={"forced_reason": reason}))
            journal.record("promote", "start", target=target, before=plan.target_state)
            self._swap(plan, target, journal)
            after = self._state(target)
            journal.record("promote", "end", "ok", after=after)
            plan = self._save(plan.model_copy(update={"promoted_at": now(), "promoted_state": after}))
            journal.record("post_check", "start")
            return self._post_check(plan, target, journal, f"{target} now points at the plan's versions")

    def _post_check(self, plan: Plan, target: str, journal: Journal, done: str) -> RolloutResult:
        """Post-promotion checks; a fired trigger rolls back, else the plan is COMPLETE."""
        checks = post_promotion_checks(self.project, self.backend, self.store, plan, target)
        fired = [c for c in checks if c.triggers_rollback]
        journal.record("post_check", "end", "fail" if fired else "pass", fired=[c.name for c in fired])
        if fired:
            why = "; ".join(f"{c.name}: {c.detail}" for c in fired)
            self._restore(plan, target, journal, why)
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

    def _swap(self, plan: Plan, target: str, journal: Journal) -> None:
        """Re-point the target: one transaction where the engine can, else view by view, journaled.

        Without transactional DDL a crash can leave some views swapped; the journal names them and
        ``resume`` re-runs the swap (re-pointing a view that already points right changes nothing).
        """
        plan_env = self.store.environment_models(plan.plan_environment)
        changed = {c.model for c in plan.changes if c.change != "removed"}
        removed = [
            e
            for n, e in self.store.environment_models(target).items()
            if n in {c.model for c in plan.changes if c.change == "removed"}
        ]
        missing = changed - set(plan_env)
        if missing:
            raise StateError(
                f"plan environment {plan.plan_environment} lacks {', '.join(sorted(missing))}",
                hint=f"run `dataplan resume {plan.plan_id}` to finish the apply",
            )
        pointers = [
            environments.Pointer(n, self.project.config.schema_for(self.project.models[n].layer), e.version_id)
            for n, e in plan_env.items()
            if n in changed
        ]
        if self.backend.atomic_swap:
            environments.point(self.backend, self.store, target, pointers, removed)
            return
        for pointer in pointers:
            journal.record("swap_view", "start", model=pointer.model, version=pointer.version_id)
            environments.point(self.backend, self.store, target, [pointer], [])
            journal.record("swap_view", "end", "ok", model=pointer.model)
        for entry in removed:
            journal.record("swap_view", "start", model=entry.model, version=None)
            environments.point(self.backend, self.store, target, [], [entry])
            journal.record("swap_view", "end", "ok", model=entry.model)

    def _drop_plan_environment(self, plan: Plan) -> None:
        if self.store.environment_models(plan.plan_environment):
            environments.drop(self.backend, self.store, plan.plan_environment)

    # -- rollback ----------------------------------------------------------------
    def rollback(self, plan_id: str, *, reason: str = "requested", break_lock: bool = False) -> RolloutResult:
        plan = self.records.get(plan_id)
        target = plan.environment
        if plan.status == "ROLLED BACK":
            return RolloutResult(plan, "nothing to do", [f"plan {plan_id} is already rolled back"])
        later = self._promoted_after(plan)
        if later:
            ids = ", ".join(later)
            raise StateError(
                f"plan {ids} was promoted on top of {plan_id}",
                hint=f"roll back {ids} first: `dataplan rollback {later[-1]}`",
            )
        journal = Journal(self.store, plan_id)
        with self.locks.held(target, f"rollback {plan_id}", break_lock=break_lock):
            self._restore(plan, target, journal, reason)
        return RolloutResult(
            self.records.get(plan_id), "rolled back", [f"{target} restored to its state before plan {plan_id}"]
        )

    def _promoted_after(self, plan: Plan) -> list[str]:
        """Plans promoted to the same target after ``plan``: they must be rolled back first."""
        if plan.promoted_at is None:
            return []
        introduced = {(m, v) for m, v in plan.promoted_state.items() if plan.target_state.get(m) != v}
        out = []
        for row in self.records.list(plan.environment):
            if row["plan_id"] == plan.plan_id or row["status"] != "COMPLETE":
                continue
            other = self.records.get(str(row["plan_id"]))
            # Planned against a state holding this plan's versions: it was promoted on top of it.
            if introduced & set(other.target_state.items()):
                out.append(other.plan_id)
        return out

    def _restore(self, plan: Plan, target: str, journal: Journal, reason: str) -> None:
        current = self.store.environment_models(target)
        versions = {
            v.version_id: v for v in self.store.versions(version_ids=[v for v in plan.rollback.restores.values() if v])
        }
        pointers, removed = [], []
        for model, vid in plan.rollback.restores.items():
            if vid is None:
                if model in current:
                    removed.append(current[model])
            elif current.get(model) is None or current[model].version_id != vid:
                layer = versions[vid].layer if vid in versions else self.project.models[model].layer
                pointers.append(environments.Pointer(model, self.project.config.schema_for(layer), vid))
        journal.record("rollback", "start", reason=reason, restores=plan.rollback.restores)
        if pointers or removed:
            environments.point(self.backend, self.store, target, pointers, removed)
        journal.record("rollback", "end", "ok", repointed=len(pointers), dropped=len(removed))
        self._drop_plan_environment(plan)
        self._save(
            plan.model_copy(update={"status": "ROLLED BACK", "rolled_back_at": now(), "rollback_reason": reason})
        )

    # -- resume ------------------------------------------------------------------
    def resume(self, plan_id: str, *, progress: Progress | None = None, break_lock: bool = True) -> RolloutResult:
        """Finish an interrupted apply or promotion, from the journal."""
        plan = self.records.get(plan_id)
        journal = Journal(self.store, plan_id)
        step = journal.unfinished()
        steps = {e.step for e in journal.entries()}
        if plan.status in ("COMPLETE", "ROLLED BACK", "ABANDONED"):
            return RolloutResult(plan, "nothing to do", [f"plan {plan_id} is {plan.status}"])
        if step == "rollback":
            journal.record("resume", "end", "rollback")
            with self.locks.held(plan.environment, f"resume {plan_id}", break_lock=break_lock):
                self._restore(plan, plan.environment, journal, plan.rollback_reason or "resumed after a crash")
            return RolloutResult(self.records.get(plan_id), "rolled back", ["finished the interrupted rollback"])
        if step in ("promote", "swap_view", "post_check") or "promote" in steps:
            if self._state(plan.environment) == plan.target_state:
                # The swap never committed: promote again from the start.
                return self.promote(plan_id, break_lock=break_lock)
            journal.record("resume", "end", "post_check")
            return self._finish_promotion(plan, journal, break_lock, swap_unfinished=step in ("promote", "swap_view"))
        return self.apply(plan_id, progress=progress, break_lock=break_lock)

    def _finish_promotion(
        self, plan: Plan, journal: Journal, break_lock: bool, swap_unfinished: bool = False
    ) -> RolloutResult:
        target = plan.environment
        with self.locks.held(target, f"resume {plan.plan_id}", break_lock=break_lock):
            if swap_unfinished:  # only possible view by view: finish re-pointing
                self._swap(plan, target, journal)
                journal.record("promote", "end", "ok", after=self._state(target), resumed=True)
            if not plan.promoted_state:
                plan = self._save(plan.model_copy(update={"promoted_at": now(), "promoted_state": self._state(target)}))
            return self._post_check(plan, target, journal, "finished the interrupted promotion")

