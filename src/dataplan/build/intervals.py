"""Time intervals of incremental models: which batches still need processing."""

from __future__ import annotations

import datetime as dt

Interval = tuple[dt.datetime, dt.datetime]


def as_datetime(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day)


def open_from() -> dt.datetime:
    """The start of the day still under way (UTC): time from here on is processed but never recorded as
    done, so late rows of today (and a future ``--end``) are picked up by the next run."""
    return as_datetime(dt.datetime.now(dt.UTC).date())


def recorded(interval: Interval, until: dt.datetime) -> Interval | None:
    """The part of a processed ``interval`` that is recorded as done: what lies before ``until``."""
    s, e = interval
    return (s, min(e, until)) if s < until else None


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
