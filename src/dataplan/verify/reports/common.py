"""Formatting shared by the terminal, Markdown and HTML reports of a DiffResult.

Everything here is pure: numbers and data values to short text, which profile columns
moved, which key problems to report, samples in long form. Reports call ``redacted``
first, so no registered secret (or URL password) reaches a terminal, a plan document
or a page.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from dataplan.secrets import redact
from dataplan.verify.model import DiffResult, KeyCheck, Outcome, ProfileDelta, RowDiff

OUTCOME_MARK: dict[str, str] = {"pass": "✓ pass", "warn": "⚠ warn", "fail": "✗ fail"}
OUTCOME_WORD: dict[str, str] = {
    "pass": "every check passed",
    "warn": "at least one check warned",
    "fail": "at least one check failed",
}
NULL_TEXT = "NULL"
DASH = "—"
PSI_MODERATE = 0.1  # the usual rule of thumb: < 0.1 stable, 0.1-0.25 moderate, >= 0.25 major
PSI_MAJOR = 0.25


def redacted(result: DiffResult) -> DiffResult:
    """A copy of ``result`` whose every string has been through ``secrets.redact``."""
    return DiffResult.model_validate(_redact_value(result.model_dump()))


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {(redact(k) if isinstance(k, str) else k): _redact_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_value(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_redact_value(v) for v in value)
    return value


# --- numbers --------------------------------------------------------------------------------


def fmt_int(value: int | None) -> str:
    return DASH if value is None else f"{value:,}"


def fmt_signed(value: float | None, *, unit: str = "") -> str:
    """``+1,234`` / ``-5`` / ``±0``; floats with up to two decimals."""
    if value is None:
        return DASH
    if value == 0:
        return "±0" + unit
    sign = "+" if value > 0 else "-"
    magnitude = abs(value)
    body = f"{int(magnitude):,}" if float(magnitude).is_integer() else f"{magnitude:,.2f}"
    return f"{sign}{body}{unit}"


def fmt_pct(fraction: float | None, *, signed: bool = False) -> str:
    """A fraction as a percentage with enough decimals to not round a small rate to 0%."""
    if fraction is None or not math.isfinite(fraction):
        return DASH if fraction is None else str(fraction)
    pct = fraction * 100
    magnitude = abs(pct)
    if magnitude == 0:
        text = "0"
    elif magnitude >= 10:
        text = f"{magnitude:.1f}"
    elif magnitude >= 0.1:
        text = f"{magnitude:.2f}"
    else:
        text = f"{magnitude:.2g}"
    if "." in text and "e" not in text:
        text = text.rstrip("0").rstrip(".")
    sign = ("+" if pct > 0 else "-" if pct < 0 else "±") if signed else ("-" if pct < 0 else "")
    return f"{sign}{text}%"


def fmt_num(value: float | None, digits: int = 3) -> str:
    """A statistic: ``digits`` significant digits, thousands separators for large values."""
    if value is None:
        return DASH
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    if abs(value) >= 10**digits:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


def fmt_p(value: float | None) -> str:
    if value is None:
        return DASH
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def row_delta(result: DiffResult) -> tuple[int, float | None]:
    """Rows of B minus rows of A, and that as a fraction of A (None when A is empty)."""
    delta = result.b.row_count - result.a.row_count
    return delta, (delta / result.a.row_count if result.a.row_count else None)


def psi_label(psi: float | None) -> str:
    if psi is None:
        return ""
    return "major shift" if psi >= PSI_MAJOR else "moderate shift" if psi >= PSI_MODERATE else "stable"


def shares(counts: Sequence[int]) -> list[float]:
    total = sum(counts)
    return [c / total if total else 0.0 for c in counts]


def outcome_counts(result: DiffResult) -> dict[Outcome, int]:
    counts: dict[Outcome, int] = {"pass": 0, "warn": 0, "fail": 0}
    for check in result.checks:
        counts[check.outcome] += 1
    return counts


# --- data values ----------------------------------------------------------------------------


def value_text(value: Any) -> str:
    """A data value as text: ``NULL``, ISO dates, exact decimals, shortest round-trip floats."""
    if value is None:
        return NULL_TEXT
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\x" + bytes(value).hex()
    if isinstance(value, list | tuple):
        return "[" + ", ".join(value_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {value_text(v)}" for k, v in value.items()) + "}"
    return str(value)


def shown_text(value: Any, limit: int) -> str:
    """A profile value (min, max) for a cell: one line, cut, ``(empty)`` for an empty string."""
    text = value_text(value)
    return shorten(one_line(text), limit) if text else "(empty)"


def shown_pair(a: Any, b: Any, limit: int) -> str:
    """``a → b`` (or ``a``) of two profile values, each cut to ``limit``, or later where the cut would hide
    the difference (two long decimals that differ only in their last digits)."""
    text_a, text_b = one_line(value_text(a)), one_line(value_text(b))
    if text_a != text_b:
        first = next((i for i, (x, y) in enumerate(zip(text_a, text_b, strict=False)) if x != y), None)
        if first is None:
            first = min(len(text_a), len(text_b))
        limit = max(limit, first + 2)  # the cut keeps limit - 1 characters, the first differing one included
    return pair_text(shown_text(a, limit), shown_text(b, limit))


def key_header(rows: RowDiff) -> str:
    """The heading of a changed-rows key column: the key's column names."""
    return ", ".join(rows.key) or "key"


def one_line(text: str) -> str:
    """Line breaks and tabs shown as visible escapes, so a cell stays one line."""
    return text.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(1, limit - 1)] + "…"


def columns_of(rows: Sequence[dict[str, Any]], key: Sequence[str] = ()) -> list[str]:
    """Key columns present in the rows first, then every other column in first-seen order."""
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    return [k for k in key if k in seen] + [c for c in seen if c not in key]


@dataclass(frozen=True)
class ChangedValue:
    key: str  # the row's key values, e.g. "id=7" or "7"
    column: str
    a: Any
    b: Any


def _is_pair(value: Any) -> bool:
    return isinstance(value, list | tuple) and len(value) == 2


def changed_values(rows: RowDiff, limit: int | None = None) -> list[ChangedValue]:
    """The changed-row samples in long form: one entry per (row, changed column)."""
    out: list[ChangedValue] = []
    for row in rows.sample_changed[:limit]:
        key = key_text(row, rows.key)
        for column, value in row.items():
            if column not in rows.key and _is_pair(value):
                out.append(ChangedValue(key, column, value[0], value[1]))
    return out


def key_text(row: dict[str, Any], key: Sequence[str]) -> str:
    present = [k for k in key if k in row]
    if len(present) == 1:
        return value_text(row[present[0]])
    return ", ".join(f"{k}={value_text(row[k])}" for k in present)


# --- sections -------------------------------------------------------------------------------


def key_problems(check: KeyCheck) -> list[str]:
    """Why the key cannot identify rows: one phrase per side and problem."""
    problems: list[str] = []
    for side, duplicates, nulls in (
        ("A", check.a_duplicate_keys, check.a_null_keys),
        ("B", check.b_duplicate_keys, check.b_null_keys),
    ):
        if duplicates:
            many = duplicates != 1
            problems.append(
                f"not unique in {side} ({duplicates:,} key value{'s' if many else ''} "
                f"{'appear' if many else 'appears'} on more than one row)"
            )
        if nulls:
            problems.append(f"NULL in {side} ({nulls:,} row{'s' if nulls != 1 else ''})")
    return problems


KeyStatus = Literal["good", "bad", "not_run"]


def key_message(result: DiffResult) -> tuple[str, KeyStatus]:
    """One sentence on the key check, and what it is: ``good`` news (the key identifies rows), ``bad``
    news (it does not), or ``not_run``: no key was given or checked, so no row-level check ran. That is
    neither a pass nor a failure, and reports show it without a check mark or a colour."""
    key = ", ".join(result.key_check.key if result.key_check else result.key)
    if result.key_check is None:
        if not result.key:
            return "No key given: rows were not matched, only profiles and distributions compared.", "not_run"
        return f"Key ({key}) was not checked.", "not_run"
    problems = key_problems(result.key_check)
    how = f" {result.key_check.note}." if result.key_check.note else ""  # e.g. matched truncated to the second
    if not problems:
        return f"Key ({key}) is unique and never NULL on both sides.{how}", "good"
    listed = ", ".join(problems[:-1]) + " and " + problems[-1] if len(problems) > 1 else problems[0]
    # why a key unique in its own table is not unique here: it was truncated to the other side's precision
    note = f" {result.key_check.note}." if result.key_check.note else ""
    tail = " Rows were not matched by key, so there is no row-level diff." if result.rows is None else ""
    return f"Key ({key}) is {listed}.{note}{tail}", "bad"


KEY_MARK: dict[KeyStatus, str] = {"good": "✓", "bad": "✗", "not_run": "–"}  # not_run: a dash, never a tick


APPROX_KS_NOTE = (
    "KS is the largest gap between the two CDFs at the shared fine-bin edges, not computed from every value."
)


def approx_profile_note(result: DiffResult) -> str | None:
    """The footnote for approximate profiles, when any column's profile is approximate."""
    methods = [side.profile_method for side in (result.a, result.b) if side.profile_method != "exact"]
    if methods and any(d.a.approximate or d.b.approximate for d in result.profiles):
        return f"Approximate profiles: {methods[0]}."
    return None


def moved(delta: ProfileDelta, retyped: Collection[str] | None = None) -> bool:
    """Whether a column's profile differs between A and B in anything a report shows.

    ``retyped`` are the columns the schema diff found retyped: it compares types as the engines mean
    them, so Postgres's ``text`` and DuckDB's ``VARCHAR`` are one type. Without it the spellings are
    compared, which is right only on one engine.
    """
    a, b = delta.a, delta.b
    type_moved = a.type != b.type if retyped is None else delta.column in retyped
    return bool(
        abs(delta.null_pct_delta) > 1e-12
        or delta.distinct_delta
        or (delta.mean_delta_pct is not None and abs(delta.mean_delta_pct) > 1e-12)
        or type_moved
        or value_text(a.min) != value_text(b.min)
        or value_text(a.max) != value_text(b.max)
        or a.nulls != b.nulls
    )


def shown_profiles(result: DiffResult, all_profiles: bool) -> list[tuple[ProfileDelta, bool]]:
    """(delta, moved) for the profile table: every column, or only those that moved."""
    retyped = {column for column, _, _ in result.schema_diff.type_changed}
    rows = [(d, moved(d, retyped)) for d in result.profiles]
    return rows if all_profiles else [(d, m) for d, m in rows if m]


def fmt_pp(delta: float) -> str:
    """A change in percentage points: ``+1.6 pp``, ``-0.0008 pp``."""
    if delta == 0:
        return "±0 pp"
    return ("+" if delta > 0 else "-") + fmt_num(abs(delta), 2) + " pp"


def pair_text(a: str, b: str) -> str:
    """``a → b`` when the values differ, else ``a``."""
    return a if a == b else f"{a} → {b}"


def mismatch_rows(rows: RowDiff) -> list[tuple[str, int, float]]:
    """Columns with at least one mismatch, most first (ties keep the table's order)."""
    mismatched = [(c.column, c.mismatches, c.rate) for c in rows.columns if c.mismatches]
    return sorted(mismatched, key=lambda t: -t[1])


def rows_compared(rows: RowDiff) -> int:
    return rows.changed + rows.unchanged


def tolerance_text(result: DiffResult) -> str:
    if not result.tolerance or not any(result.tolerance.values()):
        return "exact"
    return ", ".join(f"{k} {fmt_num(v)}" for k, v in sorted(result.tolerance.items()))


def renames_line(result: DiffResult) -> str:
    """``Compared across a rename (A = B): amount = revenue.``; "" when no column was renamed."""
    if not result.renamed:
        return ""
    pairs = ", ".join(f"{a} = {b}" for a, b in result.renamed.items())
    return f"Compared across a rename (A = B): {pairs}."
