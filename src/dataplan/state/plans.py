"""Plan records in the state store: one row per plan, its JSON body and status."""

from __future__ import annotations

from typing import Any

from sqlglot import exp

from dataplan.backends.base import column
from dataplan.errors import InputError, StateError
from dataplan.plan.model import PLAN_SCHEMA_VERSION, Plan
from dataplan.state.store import StateStore, now


class PlanRecords:
    def __init__(self, store: StateStore) -> None:
        self.store = store

    def _where(self, plan_id: str) -> exp.Expr:
        return column("plan_id").eq(exp.Literal.string(plan_id))

    def save(self, plan: Plan) -> None:
        """Insert or replace the plan's record (one transaction)."""
        backend, table = self.store.backend, self.store.t("plans")
        stamp = now()
        with backend.transaction():
            backend.delete(table, self._where(plan.plan_id))
            self.store._insert(
                "plans", [[plan.plan_id, plan.environment, plan.status, plan.model_dump_json(), plan.created_at, stamp]]
            )

    def get(self, plan_id: str) -> Plan:
        q = exp.select(column("body")).from_(self.store.t("plans")).where(self._where(plan_id))
        rows = self.store.backend.fetch_rows(q) if self.store.is_initialized() else []
        if not rows:
            raise InputError(f"no plan {plan_id!r}", hint="`dataplan plan list` shows the plans")
        plan = Plan.model_validate_json(rows[0][0])
        if plan.schema_version > PLAN_SCHEMA_VERSION:
            raise StateError(
                f"plan {plan_id} was written by a newer dataplan (schema {plan.schema_version})",
                hint="upgrade dataplan",
            )
        return plan

    def list(self, environment: str | None = None) -> list[dict[str, Any]]:
        if not self.store.is_initialized():
            return []
        q = (
            exp.select(
                column("plan_id"),
                column("environment"),
                column("status"),
                column("created_at"),
                column("updated_at"),
                column("body"),
            )
            .from_(self.store.t("plans"))
            .order_by(column("created_at"), column("plan_id"))
        )
        if environment:
            q = q.where(column("environment").eq(exp.Literal.string(environment)))
        out = []
        for pid, env, status, created, updated, body in self.store.backend.fetch_rows(q):
            plan = Plan.model_validate_json(body)
            out.append(
                {
                    "plan_id": pid,
                    "environment": env,
                    "status": status,
                    "created_at": created,
                    "updated_at": updated,
                    "title": plan.title,
                    "changes": len(plan.changes),
                    "rebuilt": len(plan.rebuilt),
                    "document": plan.document,
                    "blocked": plan.blocked,  # why apply refuses it ([] when it does not): read with the body
                }
            )
        return out

    def set_status(self, plan: Plan, status: str) -> Plan:
        updated = plan.model_copy(update={"status": status})
        self.save(updated)
        return updated
