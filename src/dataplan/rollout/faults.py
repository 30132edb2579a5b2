"""Fault injection for crash tests: ``DATAPLAN_FAULT=<point>`` kills the process there.

Points are journal entries (``<step>:<phase>``) and ``swap:midway`` (inside the
view swap's transaction, after the first view). Unset in normal use: one
environment lookup per point.
"""

from __future__ import annotations

import os
import signal

FAULT_ENV = "DATAPLAN_FAULT"


def fault_point(name: str) -> None:
    if os.environ.get(FAULT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
