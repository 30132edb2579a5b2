"""One rollout at a time per environment: a lock row in the state store.

A second holder fails at once with a message naming the holder and since
when. A lock whose process is gone (same host, pid no longer running) is
stale and is taken over, which the journal records.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlglot import exp

from dataplan.backends.base import column
from dataplan.errors import StateError
from dataplan.state.store import StateStore, now


@dataclass
class LockInfo:
    environment: str
    holder: str
    pid: int
    host: str
    acquired_at: dt.datetime

    @property
    def alive(self) -> bool:
        if self.host != socket.gethostname():
            return True  # cannot tell for another machine: assume it is working
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


class Locks:
    def __init__(self, store: StateStore) -> None:
        self.store = store

    def _where(self, environment: str) -> exp.Expr:
        return column("environment").eq(exp.Literal.string(environment))

    def _query(self) -> exp.Select:
        return exp.select(
            column("environment"), column("holder"), column("pid"), column("host"), column("acquired_at")
        ).from_(self.store.t("locks"))

    def holder(self, environment: str) -> LockInfo | None:
        rows = self.store.backend.fetch_rows(self._query().where(self._where(environment)))
        return LockInfo(*rows[0]) if rows else None

    def live(self) -> list[LockInfo]:
        """The locks whose holder may still be running (a crashed process holds nothing)."""
        return [lock for lock in (LockInfo(*row) for row in self.store.backend.fetch_rows(self._query())) if lock.alive]

    def acquire(self, environment: str, holder: str, *, break_lock: bool = False) -> LockInfo | None:
        """Take the lock; returns the lock that was broken or found stale, if any."""
        backend = self.store.backend
        with backend.transaction():
            backend.lock_table(self.store.t("locks"))
            current = self.holder(environment)
            replaced = None
            if current is not None:
                if current.alive and not break_lock:
                    raise StateError(
                        f"environment {environment} is locked by {current.holder} (pid {current.pid} on "
                        f"{current.host}) since {current.acquired_at:%Y-%m-%d %H:%M:%S} UTC",
                        hint="wait for it to finish, or use --break-lock if that process is gone",
                    )
                replaced = current
                backend.delete(self.store.t("locks"), self._where(environment))
            self.store._insert("locks", [[environment, holder, os.getpid(), socket.gethostname(), now()]])
        return replaced

    def release(self, environment: str) -> None:
        self.store.backend.delete(
            self.store.t("locks"), exp.and_(self._where(environment), column("pid").eq(exp.convert(os.getpid())))
        )

    def break_lock(self, environment: str) -> LockInfo | None:
        current = self.holder(environment)
        if current is not None:
            self.store.backend.delete(self.store.t("locks"), self._where(environment))
        return current

    @contextmanager
    def held(self, environment: str, holder: str, *, break_lock: bool = False) -> Iterator[LockInfo | None]:
        replaced = self.acquire(environment, holder, break_lock=break_lock)
        try:
            yield replaced
        finally:
            self.release(environment)
