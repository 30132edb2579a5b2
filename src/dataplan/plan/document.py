"""The plan document: a plan rendered as Markdown, for review in a terminal or on GitHub.

The sections follow seed 000's hand-written template (Plan Title ... Rollback Plan) in its
order, with seed 001's Validation Criteria table (Actual column filled by apply). Rendering is
pure: the text depends only on the plan's fields, never on the clock, so the same plan (or its
JSON round-trip) always gives the same bytes. Empty sections say "_None._" instead of
disappearing; table cells escape ``|`` and newlines.
"""

from __future__ import annotations

import datetime as dt
import posixpath
import re
from collections.abc import Iterable, Sequence

from dataplan.plan.model import ALL_COLUMNS, Check, Plan, PostCheck, Status

__all__ = ["SECTIONS", "render_markdown"]

SECTIONS: tuple[str, ...] = (
    "Plan Title",
    "Status",
    "Objective",
    "Impacted Models",
    "Contract Changes",
    "Backfill Strategy",
    "Risk Assessment",
    "Downstream Impacts",
    "Validation Plan",
    "Rollout Plan",
    "Rollback Plan",
)
VALIDATION_SUBSECTIONS: tuple[str, ...] = (
    "Pre-Change Baseline",
    "Post-Change Verification",
    "Validation Criteria",
)

NONE = "_None._"
DASH = "—"
_PAD_LIMIT = 60  # cells longer than this are not used to align their column

_MEANING: dict[Status, str] = {
    "DRAFT": "planned, not applied",
    "IN PROGRESS": "applied to the plan environment, not yet promoted",
    "COMPLETE": "applied, verified and promoted to the target",
    "ABANDONED": "abandoned, never promoted",
    "ROLLED BACK": "promoted, then rolled back to the versions the target had",
}
_OUTCOME = {"pass": "✓ pass", "warn": "⚠ warn", "fail": "✗ fail"}
_BASELINE_KINDS = ("row_count", "profile", "distribution")
_BACKFILL_BOXES = (
    ("full refresh", "Full refresh required (rebuilt from scratch)"),
    ("incremental catch-up", "Incremental catch-up (no action — the next run picks up)"),
    ("date-range backfill", "Date-range backfill (specific date range, run by `dataplan apply` in the plan env)"),
)


def render_markdown(plan: Plan) -> str:
    """The plan document: ``# Plan: <title>`` then one ``## <section>`` per entry of SECTIONS."""
    bodies: dict[str, list[str]] = {
        "Plan Title": [_inline(plan.title) or NONE],
        "Status": _status(plan),
        "Objective": [plan.objective.strip() or NONE],
        "Impacted Models": _impacted(plan),
        "Contract Changes": _contracts(plan),
        "Backfill Strategy": _backfill(plan),
        "Risk Assessment": _risks(plan),
        "Downstream Impacts": _downstream(plan),
        "Validation Plan": _validation(plan),
        "Rollout Plan": _rollout(plan),
        "Rollback Plan": _rollback(plan),
    }
    out = [f"# Plan: {_inline(plan.title)}", ""]
    for name in SECTIONS:
        out += [f"## {name}", "", *bodies[name], ""]
    return "\n".join(out).rstrip("\n") + "\n"


# -- sections -----------------------------------------------------------------------------------


def _status(plan: Plan) -> list[str]:
    facts = [
        f"Plan {_code(plan.plan_id)}",
        f"project {_code(plan.project)}",
        f"target {_code(plan.environment)}",
        f"plan environment {_code(plan.plan_environment)}",
    ]
    if plan.selection:
        facts.append(f"selection {_code(plan.selection)}")
    facts.append(f"created {_when(plan.created_at)}")
    if plan.allow_breaking:
        facts.append("breaking changes allowed")
    meaning = _MEANING[plan.status]
    if plan.status == "COMPLETE":
        checked = "verified" if plan.verified else "not verified (promotion forced)"
        meaning = f"applied, {checked} and promoted to {_code(plan.promoted_to or plan.environment)}"
    if plan.status == "DRAFT" and plan.apply_failure is not None:
        meaning = "planned; the last apply failed, see below"
    if plan.status == "ROLLED BACK" and not plan.was_promoted:
        meaning = f"rolled back before any promotion: {_code(plan.environment)} was never changed"
    lines = [f"**{plan.status}** — {meaning}", "", " · ".join(facts)]
    history = _history(plan)
    if history:
        lines += ["", *history]
    if plan.blocked:
        lines += ["", f"**Blocked — {_code('dataplan apply')} refuses this plan:**", ""]
        lines += [f"- **{_inline(reason)}**" for reason in plan.blocked]
    return lines


def _history(plan: Plan) -> list[str]:
    """What the rollout did so far, one bullet per step, with its time."""
    out = []
    failure = plan.apply_failure
    if failure is not None:
        out.append(
            f"- Apply failed {_when(failure.at)}: {_sentence(failure.message)} Nothing was promoted; fix it and run "
            f"{_code(f'dataplan apply {plan.plan_id}')} again."
        )
    if plan.applied_at is not None:
        verdict = "every blocking check passed" if plan.verified else "a blocking check failed"
        if not plan.checks:  # only new models: nothing in the target to compare with
            verdict = "no check to run"
        out.append(f"- Applied {_when(plan.applied_at)} in {_code(plan.plan_environment)}: {verdict}.")
    if plan.was_promoted:
        where = _code(plan.promoted_to or plan.environment)
        when = f" {_when(plan.promoted_at)}" if plan.promoted_at is not None else " (did not finish)"
        forced = f" Forced: {_inline(plan.forced_reason)}." if plan.forced_reason else ""
        out.append(f"- Promoted to {where}{when}.{forced}")
    if plan.rolled_back_at is not None:
        reason = f": {_inline(plan.rollback_reason)}" if plan.rollback_reason else ""
        if plan.rollback_reason == "requested":  # `dataplan rollback`, not a trigger
            reason = f" by command ({_code(f'dataplan rollback {plan.plan_id}')})"
        out.append("- " + _sentence(f"Rolled back {_when(plan.rolled_back_at)}{reason}"))
    return out


def _impacted(plan: Plan) -> list[str]:
    rows = []
    for c in plan.changes:
        kind = c.change if c.change == "metadata only" else f"{c.change} ({c.category})"
        parts = [f"{_code(c.fqn)} ({c.materialized}): {_sentence(c.reason)}"]
        if c.change == "removed":
            parts.append("Removed from the target.")
        else:
            parts.append("Rebuilt." if c.rebuild else "Reuses current version.")
        if c.changed_columns:
            parts.append(f"Changed columns: {_columns(c.changed_columns)}.")
        rows.append((_code(c.file), kind, " ".join(parts)))
    return _table(("File", "Change Type", "Description"), rows)


def _contracts(plan: Plan) -> list[str]:
    rows = []
    for c in plan.contract_changes:
        change: str = c.change
        if c.breaking:
            change += " ⚠ breaking (enforced contract)" if c.enforced else " — breaking"
        rows.append((_code(c.model), change, _code_or_dash(c.before), _code_or_dash(c.after)))
    return _table(("Model", "Change", "Before", "After"), rows)


def _backfill(plan: Plan) -> list[str]:
    lines = []
    for strategy, label in _BACKFILL_BOXES:
        models = [b.model for b in plan.backfills if b.strategy == strategy]
        lines.append(_box(bool(models), label, models))
    lines.append(_box(all(b.strategy == "none" for b in plan.backfills), "No backfill required", []))
    rows = [
        (_code(b.model), b.strategy, "; ".join(f"{s} → {e}" for s, e in b.ranges) or DASH, b.reason)
        for b in plan.backfills
    ]
    lines += ["", *_table(("Model", "Strategy", "Ranges", "Reason"), rows)]
    if any(b.ranges for b in plan.backfills):
        lines += ["", "Ranges are half-open: the end date is not included."]
    return lines


def _risks(plan: Plan) -> list[str]:
    rows = [
        (
            ("⛔ **blocking** — " if r.blocking else "") + f"{r.risk} ({_code(r.rule)})",
            r.likelihood.capitalize(),
            r.impact.capitalize(),
            r.mitigation,
        )
        for r in plan.risks
    ]
    return _table(("Risk", "Likelihood", "Impact", "Mitigation"), rows)


def _downstream(plan: Plan) -> list[str]:
    # An exposure that reads an impacted model but none of its changed columns is listed, not flagged.
    touched = [i for i in plan.impacts if i.columns or i.breaking]

    def exposures(*types: str, other: bool = False) -> list[str]:
        known = ("semantic_layer", "dashboard")
        return [i.exposure for i in touched if i.type in types or (other and i.type not in known)]

    models = [c.fqn for c in plan.changes if c.change == "indirectly modified" and c.rebuild]
    boxes = [
        ("Semantic layer needs updating", exposures("semantic_layer")),
        ("Dashboards need updating", exposures("dashboard")),
        ("ML or API consumers need updating", exposures("ml", "api", other=True)),
        ("Downstream models need updating", models),
    ]
    lines = [_box(bool(names), label, names) for label, names in boxes]
    lines.append(_box(not touched and not models, "No downstream impacts", []))
    rows = [
        (
            _code(i.exposure) + (" ⚠ breaking" if i.breaking else ""),
            i.type,
            i.owner or DASH,
            ", ".join(_code(m) for m in i.models) or DASH,
            _columns(i.columns) or "none it reads",
        )
        for i in plan.impacts
    ]
    return [*lines, "", *_table(("Exposure", "Type", "Owner", "Models", "Changed columns"), rows)]


def _validation(plan: Plan) -> list[str]:
    apply = _code(f"dataplan apply {plan.plan_id}")
    baseline = [c for c in plan.checks if c.kind in _BASELINE_KINDS]
    if not baseline:
        pre = [NONE]
    else:
        when = "will capture it" if plan.status == "DRAFT" else "captured it"
        pre = [f"{apply} {when} from {_code(plan.environment)}, which apply never changes:", ""]
        pre += [f"- {_code(c.model)} — {c.kind}: {_inline(c.measurement)}" for c in baseline]
        pre += _baseline_figures(plan)
    post = [_check_box(c) for c in plan.checks] or [NONE]
    if plan.reports:
        here = posixpath.dirname(plan.document or "")  # links are relative to the document itself
        links = ", ".join(f"[{_inline(r)}]({posixpath.relpath(r, here or '.')})" for r in plan.reports)
        post += ["", f"Verification reports (HTML, open offline): {links}"]
    criteria = _table(
        ("Criteria", "Measurement", "Target", "Actual"),
        [(_criteria(c), c.measurement, c.target, _actual(c)) for c in plan.checks],
    )
    sub = dict(zip(VALIDATION_SUBSECTIONS, (pre, post, criteria), strict=True))
    lines: list[str] = []
    for name in VALIDATION_SUBSECTIONS:
        lines += [f"### {name}", "", *sub[name], ""]
    return lines[:-1]


def _baseline_figures(plan: Plan) -> list[str]:
    """What apply captured from the target, per model: its rows and each column's null %, distinct, mean."""
    out: list[str] = []
    for fqn, figures in sorted(plan.baseline.items()):
        rows = figures.get("row_count")
        columns = figures.get("columns")
        out += ["", f"Captured from {_code(plan.environment)} for {_code(fqn)}: {_count(rows)} rows.", ""]
        if not isinstance(columns, dict) or not columns:
            continue
        table = []
        for name, col in columns.items():
            col = col if isinstance(col, dict) else {}
            approx = "≈" if col.get("distinct_approximate") else ""
            table.append(
                (
                    _code(str(name)) + (" (removed by the plan)" if col.get("removed") else ""),
                    _number(col.get("null_pct"), "%"),
                    approx + _count(col.get("distinct")),
                    _number(col.get("mean")),
                )
            )
        out += _table(("Column", "Null %", "Distinct", "Mean"), table)
    return out


def _count(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) else DASH


def _number(value: object, unit: str = "") -> str:
    return f"{value:,.6g}{unit}" if isinstance(value, int | float) else DASH


def _rollout(plan: Plan) -> list[str]:
    lines = _table(
        ("Step", "Environment", "Action", "Checkpoint"),
        [(str(s.n), s.environment, s.action, s.checkpoint) for s in plan.rollout],
    )
    if not plan.was_promoted:
        return lines
    where = _code(plan.promoted_to or plan.environment)
    if not plan.post_checks:
        return [*lines, "", f"Post-promotion checks in {where}: none recorded (the promotion did not finish)."]
    rows = [(_inline(c.name), c.detail, _post_outcome(c)) for c in plan.post_checks]
    return [*lines, "", f"Post-promotion checks in {where}:", "", *_table(("Check", "Actual", "Outcome"), rows)]


def _post_outcome(c: PostCheck) -> str:
    if c.outcome == "pass":
        return _OUTCOME["pass"]
    return f"{_OUTCOME['fail']}: rolled back" if c.triggers_rollback else f"{_OUTCOME['fail']} (below its trigger)"


def _rollback(plan: Plan) -> list[str]:
    rb = plan.rollback
    fence = "`" * max(3, _longest_backtick_run(rb.command) + 1)
    lines = ["Command:", "", f"{fence}sh", rb.command.strip(), fence, ""]
    lines += [f"Restores in {_code(plan.promoted_to or plan.environment)}:", ""]
    fqns = {c.model: c.fqn for c in plan.changes}  # restores is keyed by name; the document says schema.name
    rows = [
        (_code(fqns.get(model, model)), _code(v) if v is not None else f"none {DASH} the view is dropped")
        for model, v in sorted(rb.restores.items(), key=lambda kv: fqns.get(kv[0], kv[0]))
    ]
    lines += [*_table(("Model", "Version"), rows), "", "Automatic rollback triggers:", ""]
    lines += [f"- {_inline(t)}" for t in rb.triggers] or [NONE]
    return lines


# -- helpers ------------------------------------------------------------------------------------


def _criteria(c: Check, *extra: str) -> str:
    """A check's criteria with its model, unless the criteria already start with the model's name."""
    named = c.criteria.startswith(f"{c.model} ")
    said = ", ".join(([] if named else [_code(c.model)]) + list(extra))
    return f"{_inline(c.criteria)} ({said})" if said else _inline(c.criteria)


def _check_box(c: Check) -> str:
    text = f"{_criteria(c, c.kind)} — target: {_inline(c.target)}"
    if not c.blocking:
        text += " · non-blocking"
    if c.outcome is not None:
        text += f" · {_OUTCOME[c.outcome]}"
    return f"- [{'x' if c.outcome == 'pass' else ' '}] {text}"


def _actual(c: Check) -> str:
    actual = c.actual if c.actual is not None else "pending"
    return f"{actual} {_OUTCOME[c.outcome]}" if c.outcome is not None else actual


def _box(ticked: bool, label: str, names: Sequence[str]) -> str:
    suffix = f" — {', '.join(_code(n) for n in names)}" if ticked and names else ""
    return f"- [{'x' if ticked else ' '}] {label}{suffix}"


def _columns(columns: Sequence[str]) -> str:
    if ALL_COLUMNS in columns:
        return "all (any row may change)"
    return ", ".join(_code(c) for c in columns)


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """A GitHub table, columns padded for the terminal; ``_None._`` when there are no rows."""
    cells = [[_cell(v) for v in row] for row in rows]
    if not cells:
        return [NONE]
    widths = [max([len(h), 3] + [len(r[i]) for r in cells if len(r[i]) <= _PAD_LIMIT]) for i, h in enumerate(header)]

    def line(values: Sequence[str]) -> str:
        return "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)) + " |"

    return [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, cells)]


def _cell(text: str) -> str:
    """One table cell: pipes escaped, line breaks as ``<br>``, never empty."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    text = text.replace("|", "\\|").replace("\n", "<br>")
    return text or DASH


def _inline(text: str) -> str:
    """Text for a heading or list item: one line."""
    return " ".join(text.split())


def _sentence(text: str) -> str:
    text = _inline(text)
    return text if not text or text[-1] in ".!?" else text + "."


def _code(text: str) -> str:
    text = _inline(text)
    ticks = "`" * (_longest_backtick_run(text) + 1)
    pad = " " if "`" in text else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def _code_or_dash(text: str | None) -> str:
    return _code(text) if text else DASH


def _longest_backtick_run(text: str) -> int:
    return max((len(m) for m in re.findall(r"`+", text)), default=0)


def _when(at: dt.datetime) -> str:
    """Minutes in UTC; a naive time is UTC already (``state.store.now`` drops the zone to store it)."""
    if at.tzinfo is not None:
        at = at.astimezone(dt.UTC)
    return at.strftime("%Y-%m-%d %H:%M UTC")
