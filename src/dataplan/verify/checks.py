"""Pass / warn / fail checks over a diff, with default thresholds a caller may override.

A check warns when its value is above ``warn`` and fails when above ``fail``;
``None`` switches a level off. Overrides are a dict of check name to
``{"warn": x, "fail": y}`` (either level may be left out), or flat
``"name.warn"`` / ``"name.fail"`` keys.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from dataplan.errors import InputError
from dataplan.verify.model import CheckResult, Distribution, KeyCheck, Outcome, ProfileDelta, RowDiff, SchemaDiff, Side

Levels = dict[str, float | None]

DEFAULT_THRESHOLDS: dict[str, Levels] = {
    "row_count_change_pct": {"warn": 1.0, "fail": 5.0},  # |B - A| / A, percent
    "changed_rows": {"warn": None, "fail": 0.0},  # rows whose key is on both sides and a value differs
    "only_a_rows": {"warn": None, "fail": 0.0},  # keys only in A (removed rows)
    "only_b_rows": {"warn": None, "fail": 0.0},  # keys only in B (added rows)
    "schema_changes": {"warn": 0.0, "fail": None},  # columns added, removed or retyped
    "null_pct_delta": {"warn": 1.0, "fail": 5.0},  # per column, percentage points
    "psi": {"warn": 0.1, "fail": 0.25},  # per column
    "key_not_unique": {"warn": None, "fail": 0.0},  # duplicate or NULL keys on either side
}


def thresholds(overrides: Mapping[str, Any] | None = None) -> dict[str, Levels]:
    """The defaults with ``overrides`` applied; unknown names or non-numbers are an InputError."""
    out = {name: dict(levels) for name, levels in DEFAULT_THRESHOLDS.items()}
    known = ", ".join(DEFAULT_THRESHOLDS)
    for key, value in (overrides or {}).items():
        name, _, level = str(key).partition(".")
        if name not in out:
            raise InputError(f"unknown check {name!r} in thresholds", hint=f"known checks: {known}")
        if level:
            items: Mapping[str, Any] = {level: value}
        elif isinstance(value, Mapping):
            items = value
        else:
            raise InputError(f"threshold {name} needs warn and/or fail levels", hint=f"e.g. {{{name}: {{fail: 0.5}}}}")
        for lvl, number in items.items():
            if lvl not in ("warn", "fail"):
                raise InputError(f"threshold {name}: unknown level {lvl!r}", hint="levels are warn and fail")
            out[name][lvl] = _level(name, lvl, number)
    return out


def _level(name: str, level: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InputError(f"threshold {name}.{level} must be a number, not {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise InputError(f"threshold {name}.{level} must be a number, not {value!r}") from None
    if math.isnan(number):
        raise InputError(f"threshold {name}.{level} must be a number, not {value!r}")
    return number


PSI_MIN_ROWS = 30  # below this, 10 bins hold a few rows each: PSI is noise


def judge(name: str, value: float | None, levels: Levels, detail: str = "", check: str | None = None) -> CheckResult:
    """One check: fail above ``fail``, warn above ``warn``, pass otherwise (and when there is no value)."""
    warn, fail = levels.get("warn"), levels.get("fail")
    outcome: Outcome = "pass"
    if value is not None and fail is not None and value > fail:
        outcome = "fail"
    elif value is not None and warn is not None and value > warn:
        outcome = "warn"
    return CheckResult(name=check or name, value=value, warn=warn, fail=fail, outcome=outcome, detail=detail)


def evaluate(
    *,
    a: Side,
    b: Side,
    schema_diff: SchemaDiff,
    profiles: list[ProfileDelta],
    key_check: KeyCheck | None,
    rows: RowDiff | None,
    distributions: list[Distribution],
    overrides: Mapping[str, Any] | None = None,
    levels: dict[str, Levels] | None = None,
) -> list[CheckResult]:
    """Every check that the parts of a diff support, in a fixed order."""
    t = levels if levels is not None else thresholds(overrides)
    out = [_row_count(a, b, t["row_count_change_pct"])]
    changes = len(schema_diff.added) + len(schema_diff.removed) + len(schema_diff.type_changed)
    parts = [f"{len(schema_diff.added)} added", f"{len(schema_diff.removed)} removed"]
    parts.append(f"{len(schema_diff.type_changed)} retyped")
    out.append(judge("schema_changes", float(changes), t["schema_changes"], "columns: " + ", ".join(parts)))
    if key_check is not None:
        bad = key_check.a_duplicate_keys + key_check.b_duplicate_keys + key_check.a_null_keys + key_check.b_null_keys
        detail = (
            f"duplicated key values: A {key_check.a_duplicate_keys:,}, B {key_check.b_duplicate_keys:,}; "
            f"rows with a NULL key: A {key_check.a_null_keys:,}, B {key_check.b_null_keys:,}"
        )
        if bad:
            detail += f"; ({', '.join(key_check.key)}) is not a key, so rows were not compared"
            if key_check.note:
                detail += f"; {key_check.note}"
        out.append(judge("key_not_unique", float(bad), t["key_not_unique"], detail))
    if rows is not None:
        both = rows.changed + rows.unchanged
        out.append(judge("only_a_rows", float(rows.only_a), t["only_a_rows"], "keys in A and not in B (removed)"))
        out.append(judge("only_b_rows", float(rows.only_b), t["only_b_rows"], "keys in B and not in A (added)"))
        worst = sorted((c for c in rows.columns if c.mismatches), key=lambda c: -c.mismatches)[:5]
        cols = ", ".join(f"{c.column} ({c.mismatches})" for c in worst)
        cols = ", ".join(f"{c.column} ({c.mismatches:,})" for c in worst)
        detail = f"{rows.changed:,} of {both:,} matched rows differ" + (f": {cols}" if cols else "")
        out.append(judge("changed_rows", float(rows.changed), t["changed_rows"], detail))
    # An empty side has no NULL share (its profile says 0 %): the row count check grades it, not one per column.
    for d in profiles if a.row_count and b.row_count else []:
        delta = abs(d.null_pct_delta)
        detail = f"NULL share {d.a.null_pct:.2f}% -> {d.b.null_pct:.2f}% ({d.null_pct_delta:+.2f} points)"
        out.append(judge("null_pct_delta", delta, t["null_pct_delta"], detail, check=f"null_pct_delta({d.column})"))
    small = min(a.row_count, b.row_count) < PSI_MIN_ROWS
    for dist in distributions:
        if dist.psi is None:
            continue
        detail = f"population stability index over {'bins' if dist.kind == 'numeric' else 'categories'}"
        if small:
            # With a handful of rows every bin is noise: report the figure, grade nothing.
            detail += f"; not graded below {PSI_MIN_ROWS} rows per side"
            out.append(CheckResult(name=f"psi({dist.column})", value=dist.psi, outcome="pass", detail=detail))
            continue
        out.append(judge("psi", dist.psi, t["psi"], detail, check=f"psi({dist.column})"))
    return out


def _row_count(a: Side, b: Side, levels: Levels) -> CheckResult:
    if a.row_count == 0:
        pct = 0.0 if b.row_count == 0 else 100.0
    else:
        pct = 100.0 * (b.row_count - a.row_count) / a.row_count
    detail = f"A {a.row_count:,} rows -> B {b.row_count:,} rows ({pct:+.2f}%)"
    return judge("row_count_change_pct", abs(pct), levels, detail)
