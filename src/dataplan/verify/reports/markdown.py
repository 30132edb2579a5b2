"""A DiffResult as GitHub-flavoured Markdown, for plan documents and pull-request comments.

Compact: a summary table, then one short section per part of the diff; samples fold into a
``<details>`` block. Rendering is pure (the same result gives the same bytes). Identifiers
and data values are code spans; free text is escaped (``|``, ``<``, ``>``, ``&``, emphasis
and link characters), so no value can break a table or inject markup.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from dataplan.verify.model import DiffResult
from dataplan.verify.reports.common import (
    APPROX_KS_NOTE,
    DASH,
    KEY_MARK,
    OUTCOME_MARK,
    OUTCOME_WORD,
    approx_profile_note,
    changed_values,
    columns_of,
    fmt_int,
    fmt_num,
    fmt_p,
    fmt_pct,
    fmt_pp,
    fmt_signed,
    key_header,
    key_message,
    mismatch_rows,
    one_line,
    outcome_counts,
    pair_text,
    psi_label,
    redacted,
    renames_line,
    row_delta,
    rows_compared,
    shorten,
    shown_profiles,
    tolerance_text,
    value_text,
)

CELL_LIMIT = 60  # characters of a data value shown in a cell
_PAD_LIMIT = 40  # cells longer than this are not used to align their column
_SPECIAL = re.compile(r"([\\`*\[\]~])")
_EDGE_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


def markdown_report(
    result: DiffResult,
    *,
    all_profiles: bool = False,
    sample_rows: int = 5,
    sample_columns: int = 8,
    heading_level: int = 2,
) -> str:
    """The report as Markdown text (ends with a newline).

    ``heading_level`` is the level of the title (sections are one deeper), so the report
    nests into a plan document; ``all_profiles`` lists unchanged columns' profiles too.
    """
    result = redacted(result)
    h = "#" * heading_level
    sub = "#" * (heading_level + 1)
    lines = [f"{h} {OUTCOME_MARK[result.outcome]}: {code(result.a.label)} vs {code(result.b.label)}", ""]
    lines += _summary(result)
    sections = [
        ("Checks", _checks(result)),
        ("Schema", _schema(result)),
        ("Key", _key(result, sample_rows)),
        ("Rows", _rows(result)),
        ("Distributions", _distributions(result)),
        ("Profiles", _profiles(result, all_profiles)),
    ]
    for title, body in sections:
        if body:
            lines += ["", f"{sub} {title}", "", *body]
    samples = _samples(result, sample_rows, sample_columns)
    if samples:
        lines += ["", *samples]
    return "\n".join(lines) + "\n"


# --- escaping and tables ---------------------------------------------------------------------------


def text(value: str) -> str:
    """Free text for a table cell or a paragraph: one line, no markup."""
    # "<" and "&" could open HTML; ">" only quotes at the start of a line, so "a -> b" stays as written.
    value = value.replace("&", "&amp;").replace("<", "&lt;")
    value = _EDGE_UNDERSCORE.sub(r"\\_", _SPECIAL.sub(r"\\\1", value))
    value = re.sub(r"(?m)^(\s*)>", r"\1\\>", value)
    value = value.replace("|", "\\|")
    return "<br>".join(line.strip() for line in value.replace("\r\n", "\n").split("\n")).strip()


def code(value: str, limit: int | None = None) -> str:
    """A code span holding ``value`` on one line; pipes escaped for tables."""
    value = one_line(value)
    if limit is not None:
        value = shorten(value, limit)
    if not value.strip():
        return f"`{value}`" if value else "_(empty)_"
    longest = max((len(run) for run in re.findall(r"`+", value)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if value.startswith("`") or value.endswith("`") or (value[0] == value[-1] == " ") else ""
    return f"{fence}{pad}{value}{pad}{fence}".replace("|", "\\|")


def data(value: Any) -> str:
    """A data value: ``_NULL_`` or a code span, cut to CELL_LIMIT characters."""
    return "_NULL_" if value is None else code(value_text(value), CELL_LIMIT)


def table(header: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[int] = ()) -> list[str]:
    """A GitHub table, columns padded for reading as plain text; cells must be escaped already."""
    cells = [[c or DASH for c in row] for row in rows]
    widths = [
        max([len(head), 3] + [len(r[i]) for r in cells if len(r[i]) <= _PAD_LIMIT]) for i, head in enumerate(header)
    ]

    def line(values: Sequence[str]) -> str:
        padded = [v.rjust(w) if i in right else v.ljust(w) for i, (v, w) in enumerate(zip(values, widths, strict=True))]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join("-" * (w + 1) + ":" if i in right else "-" * (w + 2) for i, w in enumerate(widths)) + "|"
    return [line(header), rule, *map(line, cells)]


# --- sections -------------------------------------------------------------------------------------


def _summary(result: DiffResult) -> list[str]:
    delta, fraction = row_delta(result)
    change = fmt_signed(delta) + (f", {fmt_pct(fraction, signed=True)}" if fraction is not None and delta else "")
    rows = [
        ["table", code(result.a.label, 80), code(result.b.label, 80)],
        ["connection", *(code(side.connection, 80) if side.connection else DASH for side in (result.a, result.b))],
        ["rows", fmt_int(result.a.row_count), fmt_int(result.b.row_count) + f" ({change})"],
        ["columns", str(len(result.a.columns)), str(len(result.b.columns))],
    ]
    out = table(["", "A", "B"], rows)
    counts = outcome_counts(result)
    facts = [
        f"**{OUTCOME_MARK[result.outcome]}**: {OUTCOME_WORD[result.outcome] if result.checks else 'no checks'}",
        "key " + (", ".join(code(k) for k in result.key) or DASH),
        f"tolerance {tolerance_text(result)}",
        f"{result.seconds:.2f} s, {result.queries} queries",
    ]
    if result.checks:
        facts[0] += f" ({counts['fail']} fail, {counts['warn']} warn, {counts['pass']} pass)"
    return [*out, "", " · ".join(facts)]


def _checks(result: DiffResult) -> list[str]:
    if not result.checks:
        return []
    order = {"fail": 0, "warn": 1, "pass": 2}
    rows = [
        [
            code(c.name),
            fmt_num(c.value, 4),
            fmt_num(c.warn, 4),
            fmt_num(c.fail, 4),
            OUTCOME_MARK[c.outcome],
            text(c.detail),
        ]
        for c in sorted(result.checks, key=lambda c: order[c.outcome])
    ]
    return table(["check", "value", "warn", "fail", "outcome", "detail"], rows, right=(1, 2, 3))


def _schema(result: DiffResult) -> list[str]:
    diff = result.schema_diff
    renamed = [text(renames_line(result)), ""] if result.renamed else []
    if diff.is_empty:
        return [*renamed, f"Identical: {len(result.a.columns)} columns, same names and types."]
    rows = [["removed", code(c), code(t), DASH] for c, t in diff.removed]
    rows += [["added", code(c), DASH, code(t)] for c, t in diff.added]
    rows += [["type changed", code(c), code(a), code(b)] for c, a, b in diff.type_changed]
    return [*renamed, *table(["change", "column", "type in A", "type in B"], rows)]


def _key(result: DiffResult, sample_rows: int) -> list[str]:
    message, status = key_message(result)
    mark = f"**{KEY_MARK[status]}**" if status == "bad" else KEY_MARK[status]
    out = [f"{mark} {text(message)}"]
    check = result.key_check
    if check is not None and check.duplicate_samples:
        rows = check.duplicate_samples[:sample_rows]
        columns = columns_of(rows, check.key)
        out += ["", *table([code(c) for c in columns], [[data(r.get(c)) for c in columns] for r in rows])]
    return out


def _rows(result: DiffResult) -> list[str]:
    rows = result.rows
    if rows is None:
        return []
    compared = rows_compared(rows)
    changed = fmt_int(rows.changed) + (f" ({fmt_pct(rows.changed / compared)})" if compared else "")
    head = ["only in A", "only in B", "changed", "unchanged", "method"]
    values = [fmt_int(rows.only_a), fmt_int(rows.only_b), changed, fmt_int(rows.unchanged), rows.method]
    out = table(head, [values], right=(0, 1, 2, 3))
    if rows.method == "checksum-bisect":
        out += [
            "",
            f"{fmt_int(rows.segments_checked)} key ranges compared, {fmt_int(rows.rows_downloaded)} rows downloaded.",
        ]
    mismatched = mismatch_rows(rows)
    if mismatched:
        matching = len(rows.columns) - len(mismatched)
        out += [
            "",
            *table(
                ["column", "mismatches", "rate"],
                [[code(c), fmt_int(n), fmt_pct(r)] for c, n, r in mismatched],
                right=(1, 2),
            ),
        ]
        if matching:
            out += ["", f"{matching} other column{'s' if matching != 1 else ''} match exactly."]
    elif rows.columns:
        out += ["", f"All {len(rows.columns)} compared columns match."]
    return out


def _distributions(result: DiffResult) -> list[str]:
    if not result.distributions:
        return []
    rows = []
    for d in result.distributions:
        ks = fmt_num(d.ks_statistic) + (" approx." if d.approximate and d.ks_statistic is not None else "")
        label = psi_label(d.psi)
        rows.append(
            [
                code(d.column),
                d.kind,
                fmt_num(d.psi) + (f" ({label})" if label and label != "stable" else ""),
                ks,
                fmt_p(d.ks_pvalue),
                fmt_num(d.chi2),
                fmt_p(d.chi2_pvalue),
                text(d.method),
            ]
        )
    out = table(["column", "kind", "PSI", "KS D", "KS p", "χ²", "χ² p", "method"], rows, right=(2, 3, 4, 5, 6))
    if any(d.approximate for d in result.distributions):
        out += ["", f"_approx._: {APPROX_KS_NOTE}"]
    return out


def _profiles(result: DiffResult, all_profiles: bool) -> list[str]:
    if not result.profiles:
        return []
    shown = shown_profiles(result, all_profiles)
    moved_count = sum(1 for _, m in shown_profiles(result, True) if m)
    if not shown:
        return [f"No column's profile changed ({len(result.profiles)} columns)."]
    rows = []
    for delta, moved in shown:
        a, b = delta.a, delta.b
        nulls = pair_text(f"{fmt_num(a.null_pct)}%", f"{fmt_num(b.null_pct)}%")
        if abs(delta.null_pct_delta) > 1e-12:
            nulls += f" ({fmt_pp(delta.null_pct_delta)})"
        mean = pair_text(fmt_num(a.mean), fmt_num(b.mean))
        if delta.mean_delta_pct is not None and abs(delta.mean_delta_pct) > 1e-12:
            mean += f" ({fmt_pct(delta.mean_delta_pct / 100, signed=True)})"
        low_a, low_b = data(a.min), data(b.min)
        high_a, high_b = data(a.max), data(b.max)
        rows.append(
            [
                ("● " if moved and all_profiles else "") + code(delta.column),
                pair_text(code(a.type), code(b.type)),
                nulls,
                pair_text(fmt_int(a.distinct), fmt_int(b.distinct)),
                mean,
                pair_text(low_a, low_b),
                pair_text(high_a, high_b),
            ]
        )
    note = f"{moved_count} of {len(result.profiles)} columns moved" + (" (●)." if all_profiles else ".")
    out = [note, "", *table(["column", "type", "nulls", "distinct", "mean", "min", "max"], rows)]
    approx = approx_profile_note(result)
    return out + ["", f"_{approx}_"] if approx else out


def _samples(result: DiffResult, sample_rows: int, sample_columns: int) -> list[str]:
    rows = result.rows
    if rows is None or sample_rows <= 0:
        return []
    body: list[str] = []
    counts: list[str] = []
    for side, total, sample in (("A", rows.only_a, rows.sample_only_a), ("B", rows.only_b, rows.sample_only_b)):
        if not sample:
            continue
        shown = sample[:sample_rows]
        columns = columns_of(shown, rows.key)
        hidden = len(columns) - sample_columns
        columns = columns[:sample_columns]
        counts.append(f"{len(shown)} only in {side}")
        body += ["", f"**Only in {side}** (first {len(shown)} of {fmt_int(total)})", ""]
        body += table([code(c) for c in columns], [[data(r.get(c)) for c in columns] for r in shown])
        if hidden > 0:
            body += ["", f"_{hidden} more column{'s' if hidden != 1 else ''} not shown._"]
    values = changed_values(rows, sample_rows)
    if values:
        count = min(len(rows.sample_changed), sample_rows)
        counts.append(f"{count} changed")
        body += ["", f"**Changed** (first {count} of {fmt_int(rows.changed)} rows)", ""]
        body += table(
            [code(key_header(rows)), "column", "A", "B"],
            [[data(v.key), code(v.column), data(v.a), data(v.b)] for v in values],
        )
    if not body:
        return []
    return ["<details>", f"<summary>Samples: {', '.join(counts)}</summary>", *body, "", "</details>"]
