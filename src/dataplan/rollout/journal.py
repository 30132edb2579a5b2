"""The journal: an append-only record of every rollout step, before and after it runs.

Each entry is its own statement (committed at once), so after a crash the
journal says which step was running; ``resume`` and ``rollback`` read it.
Set ``DATAPLAN_FAULT=<step>:<phase>`` (see faults.py) to kill the process right after that
entry is written: the crash tests use it to stop at every step in turn.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, Literal

from sqlglot import exp

from dataplan.backends.base import column
from dataplan.rollout.faults import fault_point
from dataplan.secrets import redact
from dataplan.state.store import StateStore, now

Phase = Literal["start", "end"]


@dataclass
class Entry:
    plan_id: str
    seq: int
    step: str
    phase: str
    outcome: str
    detail: dict[str, Any]
    at: dt.datetime


class Journal:
    def __init__(self, store: StateStore, plan_id: str) -> None:
        self.store = store
        self.plan_id = plan_id
        self._seq: int | None = None

    def _next_seq(self) -> int:
        if self._seq is None:
            q = (
                exp.select(exp.func("max", column("seq")))
                .from_(self.store.t("journal"))
                .where(column("plan_id").eq(exp.Literal.string(self.plan_id)))
            )
            self._seq = int(self.store.backend.fetch_value(q) or 0)
        self._seq += 1
        return self._seq

    def record(self, step: str, phase: Phase, outcome: str = "", **detail: Any) -> None:
        text = redact(json.dumps(detail, default=str, sort_keys=True))
        self.store._insert("journal", [[self.plan_id, self._next_seq(), step, phase, outcome, text, now()]])
        fault_point(f"{step}:{phase}")

    def entries(self) -> list[Entry]:
        q = (
            exp.select(
                column("plan_id"),
                column("seq"),
                column("step"),
                column("phase"),
                column("outcome"),
                column("detail"),
                column("at"),
            )
            .from_(self.store.t("journal"))
            .where(column("plan_id").eq(exp.Literal.string(self.plan_id)))
            .order_by(column("seq"))
        )
        return [
            Entry(p, s, st, ph, o, json.loads(d or "{}"), a)
            for p, s, st, ph, o, d, a in self.store.backend.fetch_rows(q)
        ]

    def unfinished(self) -> str | None:
        """The step that started and never ended (a crash), if any."""
        return unfinished(self.entries())


def unfinished(entries: list[Entry]) -> str | None:
    """The step that started and never ended (a crash), if any, in entries read once."""
    open_steps: dict[str, int] = {}
    for e in entries:
        if e.phase == "start":
            open_steps[e.step] = e.seq
        else:
            open_steps.pop(e.step, None)
    return max(open_steps, key=open_steps.__getitem__) if open_steps else None


def figures(detail: dict[str, Any]) -> str:
    """A journal entry's figures: a map of models to versions is "N models" (`--format json` has the map)."""
    parts = []
    for key, value in detail.items():
        if isinstance(value, dict):
            shown = f"{len(value)} model{'' if len(value) == 1 else 's'}"
        elif isinstance(value, list | tuple):
            shown = "; ".join(" ".join(str(v).split()) for v in value) if value else "none"
        else:
            shown = " ".join(str(value).split())  # a multi-line engine error stays on one line
        parts.append(f"{key}={shown}")
    return ", ".join(parts)
