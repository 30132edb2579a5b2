"""Time intervals of incremental models: which batches still need processing."""

from __future__ import annotations

import datetime as dt

Interval = tuple[dt.datetime, dt.datetime]


def as_datetime(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day)


def missing_intervals(start: dt.datetime, end: dt.datetime, done: list[Interval]) -> list[Interval]:
    """Sub-ranges of [start, end) not covered by ``done``."""
    gaps: list[Interval] = []
    cursor = start
    for s, e in sorted(done):
        if e <= cursor:
            continue
        if s > cursor:
            gaps.append((cursor, min(s, end)))
        cursor = max(cursor, e)
        if cursor >= end:
            break
    if cursor < end:
        gaps.append((cursor, end))
    return [(s, e) for s, e in gaps if s < e]


def batches(intervals: list[Interval], batch_days: int) -> list[Interval]:
    step = dt.timedelta(days=batch_days)
    out = []
    for s, e in intervals:
        while s < e:
            out.append((s, min(s + step, e)))
            s += step
    return out
