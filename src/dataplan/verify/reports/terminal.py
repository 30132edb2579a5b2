"""A DiffResult for the terminal: rich renderables the CLI prints in one ``console.print``.

Every data value goes into a ``rich.text.Text`` (never into markup), so a value like
``[bold]`` prints as itself. Wide samples show the key and the first few columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from dataplan.verify.model import DiffResult, Distribution, ProfileDelta
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
    shares,
    shorten,
    shown_pair,
    shown_profiles,
    tolerance_text,
    value_text,
)

STYLE = {"pass": "bold green", "warn": "bold yellow", "fail": "bold red"}
BORDER = {"pass": "green", "warn": "yellow", "fail": "red"}
CELL_LIMIT = 40  # characters of a data value shown in a table cell
BLOCKS = " ▁▂▃▄▅▆▇█"


def terminal_report(
    result: DiffResult,
    *,
    all_profiles: bool = False,
    sample_rows: int = 5,
    sample_columns: int = 8,
) -> Group:
    """The report as one group of renderables: header, schema, key, rows, samples, profiles, checks.

    ``all_profiles`` lists every column's profile (moved ones flagged) instead of only the
    columns that moved; ``sample_rows`` / ``sample_columns`` bound each sample table.
    """
    result = redacted(result)
    parts: list[RenderableType] = [_header(result)]
    parts += _schema(result)
    parts += _key(result, sample_rows)
    parts += _rows(result)
    parts += _samples(result, sample_rows, sample_columns)
    parts += _profiles(result, all_profiles)
    parts += _distributions(result)
    parts += _checks(result)
    return Group(*parts)


NAME_WIDTH = 28  # a column or check name keeps up to this many characters on one line at 80 columns


def _table(
    title: str, *columns: str, right: Sequence[str] = (), names: Sequence[str] = (), whole: Sequence[str] = ()
) -> Table:
    """A report table; its "column" or "check" column holds ``names``, kept unbroken up to
    NAME_WIDTH characters, so a narrow terminal wraps the figures, not ``total_amoun`` / ``t``.
    Columns in ``whole`` (drawings such as sparklines) never wrap."""
    table = Table(
        title=Text(title, style="bold"),
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        min_width=len(title) + 2,
    )
    # Names of up to NAME_WIDTH characters never wrap; longer ones fold like any other cell.
    whole_names = bool(names) and max(len(n) for n in names) <= NAME_WIDTH
    for column in columns:
        table.add_column(
            Text(column),
            justify="right" if column in right else "left",
            overflow="fold",
            no_wrap=column in whole or (whole_names and column in ("column", "check")),
        )
    return table


def _cell(value: Any, limit: int = CELL_LIMIT) -> Text:
    if value is None:
        return Text("NULL", style="dim italic")
    return Text(shorten(one_line(value_text(value)), limit))


def _heading(text: str) -> Text:
    return Text(text, style="bold")


# --- header -------------------------------------------------------------------------------------


def _header(result: DiffResult) -> Panel:
    delta, fraction = row_delta(result)
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold", ratio=1)  # only the label gives way on a narrow terminal
    grid.add_column(justify="right", no_wrap=True)
    grid.add_column(no_wrap=True)
    shared = result.a.connection if result.a.connection == result.b.connection else None
    for name, side in (("A", result.a), ("B", result.b)):
        label = Text(side.label, style="cyan")
        if side.connection and not shared:
            label.append(f"  ({side.connection})", style="dim")
        change = Text()
        if name == "B":
            change = Text(f"{fmt_signed(delta)} rows", style="yellow" if delta else "dim")
            if fraction is not None and delta:
                change.append(f" ({fmt_pct(fraction, signed=True)})")
        grid.add_row(name, label, f"{fmt_int(side.row_count)} rows", change)
    facts = [f"key {', '.join(result.key) or DASH}", f"tolerance {tolerance_text(result)}"]
    if result.rows is not None:
        facts.append(f"method {result.rows.method}")
    facts.append(f"{result.seconds:.2f}s, {result.queries} queries")
    if shared:  # one connection: said once, so the labels stay on one line on a narrow terminal
        facts.append(shared)
    outcome = result.outcome
    counts = outcome_counts(result)
    verdict = Text(OUTCOME_MARK[outcome], style=STYLE[outcome])
    verdict.append(f"  {OUTCOME_WORD[outcome]}", style="default")
    if result.checks:
        verdict.append(f" ({counts['fail']} fail, {counts['warn']} warn, {counts['pass']} pass)", style="dim")
    else:
        verdict = Text(OUTCOME_MARK[outcome], style=STYLE[outcome]).append("  no checks", style="dim")
    body = Group(grid, Text(" · ".join(facts), style="dim"), verdict)
    return Panel(body, title="[bold]dataplan diff[/]", title_align="left", border_style=BORDER[outcome])


# --- schema, key, rows -----------------------------------------------------------------------------


def _schema(result: DiffResult) -> list[RenderableType]:
    diff = result.schema_diff
    renamed = [Text(renames_line(result))] if result.renamed else []
    if diff.is_empty:
        return [*renamed, Text(f"Schema: identical ({len(result.a.columns)} columns).", style="green")]
    table = _table("Schema changes", "change", "column", "type in A", "type in B")
    for column, type_ in diff.removed:
        table.add_row(Text("- removed", style="red"), Text(column), Text(type_), Text(DASH))
    for column, type_ in diff.added:
        table.add_row(Text("+ added", style="green"), Text(column), Text(DASH), Text(type_))
    for column, type_a, type_b in diff.type_changed:
        table.add_row(Text("~ type", style="yellow"), Text(column), Text(type_a), Text(type_b))
    return [*renamed, table]


def _key(result: DiffResult, sample_rows: int) -> list[RenderableType]:
    message, status = key_message(result)
    style = {"good": "green", "bad": "bold red", "not_run": ""}[status]  # no key: neither green nor red
    parts: list[RenderableType] = [Text(f"{KEY_MARK[status]} {message}", style=style)]
    check = result.key_check
    if check is not None and check.duplicate_samples:
        rows = check.duplicate_samples[:sample_rows]
        columns = columns_of(rows, check.key)
        table = _table(f"Duplicate or NULL keys (first {len(rows)})", *columns)
        for row in rows:
            table.add_row(*[_cell(row.get(c)) for c in columns])
        parts.append(table)
    return parts


def _rows(result: DiffResult) -> list[RenderableType]:
    rows = result.rows
    if rows is None:
        return []
    compared = rows_compared(rows)
    table = _table(
        f"Rows matched on {', '.join(rows.key)} ({rows.method})",
        "only in A",
        "only in B",
        "changed",
        "unchanged",
        right=("only in A", "only in B", "changed", "unchanged"),
    )
    changed = Text(fmt_int(rows.changed), style="yellow" if rows.changed else "")
    if compared:
        changed.append(f" ({fmt_pct(rows.changed / compared)})", style="dim")
    table.add_row(
        Text(fmt_int(rows.only_a), style="red" if rows.only_a else ""),
        Text(fmt_int(rows.only_b), style="green" if rows.only_b else ""),
        changed,
        Text(fmt_int(rows.unchanged)),
    )
    parts: list[RenderableType] = [table]
    if rows.method == "checksum-bisect":
        parts.append(
            Text(
                f"checksum-bisect: {fmt_int(rows.segments_checked)} key ranges compared, "
                f"{fmt_int(rows.rows_downloaded)} rows downloaded",
                style="dim",
            )
        )
    mismatched = mismatch_rows(rows)
    if mismatched:
        columns = _table(
            "Mismatches by column", "column", "mismatches", "rate", right=("mismatches", "rate"),
            names=[m[0] for m in mismatched],
        )  # fmt: skip
        for column, count, rate in mismatched:
            columns.add_row(Text(column), fmt_int(count), fmt_pct(rate))
        parts.append(columns)
        matching = len(rows.columns) - len(mismatched)
        if matching:
            parts.append(Text(f"{matching} other column{'s' if matching != 1 else ''} match exactly.", style="dim"))
    elif rows.columns:
        parts.append(Text(f"All {len(rows.columns)} compared columns match.", style="green"))
    return parts


# --- samples ----------------------------------------------------------------------------------------


def _samples(result: DiffResult, sample_rows: int, sample_columns: int) -> list[RenderableType]:
    rows = result.rows
    if rows is None or sample_rows <= 0:
        return []
    parts: list[RenderableType] = []
    for side, total, sample in (("A", rows.only_a, rows.sample_only_a), ("B", rows.only_b, rows.sample_only_b)):
        if not sample:
            continue
        shown = sample[:sample_rows]
        columns = columns_of(shown, rows.key)
        hidden = len(columns) - sample_columns
        columns = columns[:sample_columns]
        table = _table(f"Only in {side} (first {len(shown)} of {fmt_int(total)})", *columns)
        for row in shown:
            table.add_row(*[_cell(row.get(c)) for c in columns])
        if hidden > 0:
            table.caption = f"{hidden} more column{'s' if hidden != 1 else ''} not shown (see the JSON or HTML report)"
            table.caption_justify = "left"
        parts.append(table)
    values = changed_values(rows, sample_rows)
    if values:
        count = min(len(rows.sample_changed), sample_rows)
        table = _table(f"Changed rows (first {count} of {fmt_int(rows.changed)})", key_header(rows), "column", "A", "B")
        for value in values:
            table.add_row(_cell(value.key), Text(value.column), _cell(value.a), _cell(value.b))
        parts.append(table)
    return parts


# --- profiles, distributions, checks ---------------------------------------------------------------


def _profile_cells(delta: ProfileDelta) -> list[str]:
    a, b = delta.a, delta.b
    nulls = pair_text(f"{fmt_num(a.null_pct)}%", f"{fmt_num(b.null_pct)}%")
    if abs(delta.null_pct_delta) > 1e-12:
        nulls += f" ({fmt_pp(delta.null_pct_delta)})"
    distinct = pair_text(fmt_int(a.distinct), fmt_int(b.distinct))
    mean = pair_text(fmt_num(a.mean), fmt_num(b.mean))
    if delta.mean_delta_pct is not None and abs(delta.mean_delta_pct) > 1e-12:
        mean += f" ({fmt_pct(delta.mean_delta_pct / 100, signed=True)})"
    low = shown_pair(a.min, b.min, 16)
    high = shown_pair(a.max, b.max, 16)
    return [pair_text(a.type, b.type), nulls, distinct, mean, low, high]


def _profiles(result: DiffResult, all_profiles: bool) -> list[RenderableType]:
    if not result.profiles:
        return []
    shown = shown_profiles(result, all_profiles)
    moved_count = sum(1 for d, m in shown_profiles(result, True) if m)
    if not shown:
        return [Text(f"Profiles: no change in {len(result.profiles)} columns.", style="green")]
    title = f"Profiles ({moved_count} of {len(result.profiles)} columns moved)"
    flag = ("",) if all_profiles else ()
    table = _table(title, *flag, "column", "type", "nulls", "distinct", "mean", "min", "max",
                   names=[d.column for d, _ in shown])  # fmt: skip
    for delta, moved in shown:
        style = "" if moved else "dim"
        cells = [Text(delta.column, style=style), *[Text(c, style=style) for c in _profile_cells(delta)]]
        if all_profiles:
            cells.insert(0, Text("●", style="yellow") if moved else Text(""))
        table.add_row(*cells)
    note = approx_profile_note(result)
    return [table, Text(note, style="dim")] if note else [table]


def sparkline(a_counts: Sequence[int], b_counts: Sequence[int], width: int = 24) -> tuple[str, str]:
    """Both histograms as block characters on one scale (shares of each side's rows)."""
    groups = max(1, -(-len(a_counts) // width))

    def merged(counts: Sequence[int]) -> list[float]:
        return shares([sum(counts[i : i + groups]) for i in range(0, len(counts), groups)])

    a, b = merged(a_counts), merged(b_counts)
    top = max(a + b, default=0.0) or 1.0

    def draw(values: list[float]) -> str:
        steps = len(BLOCKS) - 1
        return "".join(BLOCKS[min(steps, max(1 if v > 0 else 0, round(v / top * steps)))] for v in values)

    return draw(a), draw(b)


def _shape(distribution: Distribution) -> Text:
    if distribution.histogram is not None and distribution.histogram.a_counts:
        a, b = sparkline(distribution.histogram.a_counts, distribution.histogram.b_counts)
        text = Text("A ", style="dim").append(a, style="blue")
        return text.append("\nB ", style="dim").append(b, style="dark_orange")
    if distribution.top_values:
        top = distribution.top_values[0]
        return Text(f"top: {shorten(one_line(top[0]), 18)} {fmt_int(top[1])} → {fmt_int(top[2])}")
    return Text("")


WIDE = 110  # below this many columns the distributions table moves its sparklines to a table of their own


class _Distributions:
    """The distributions table, laid out for the terminal's width: wide, one row per column with its
    sparklines; narrow (80 columns), short labels and the sparklines in a second table, so that no
    figure or drawing breaks across lines."""

    def __init__(self, distributions: Sequence[Distribution]) -> None:
        self.distributions = distributions

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        wide = options.max_width >= WIDE
        names = [d.column for d in self.distributions]
        shape = ("shape",) if wide else ()
        table = _table(
            "Distributions", "column", "kind", "PSI", "shift", "KS D", "KS p", "χ²", "χ² p", *shape,
            right=("PSI", "KS D", "KS p", "χ²", "χ² p"), names=names,
        )  # fmt: skip
        for d in self.distributions:
            label = psi_label(d.psi)
            style = {"major shift": "bold red", "moderate shift": "yellow"}.get(label, "dim")
            approx = d.approximate and d.ks_statistic is not None
            ks = fmt_num(d.ks_statistic) + ((" approx." if wide else "*") if approx else "")
            kind = d.kind if wide else d.kind[:3]
            shown = label if wide else label.removesuffix(" shift")
            cells: list[RenderableType] = [Text(d.column), kind, fmt_num(d.psi), Text(shown, style=style), ks]
            cells += [fmt_p(d.ks_pvalue), fmt_num(d.chi2), fmt_p(d.chi2_pvalue)]
            table.add_row(*cells, *([_shape(d)] if wide else []))
        yield table
        if not wide:
            shapes = _table("Shapes (A over B)", "column", "shape", names=names, whole=("shape",))
            for d in self.distributions:
                shapes.add_row(Text(d.column), _shape(d))
            yield shapes
        if any(d.approximate and d.ks_statistic is not None for d in self.distributions):
            yield Text(f"{'approx.' if wide else '*'}: {APPROX_KS_NOTE}", style="dim")


def _distributions(result: DiffResult) -> list[RenderableType]:
    if not result.distributions:
        return []
    parts: list[RenderableType] = [_Distributions(result.distributions)]
    methods = list(dict.fromkeys(d.method for d in result.distributions if d.method))
    for method in methods:
        parts.append(Text(f"method: {method}", style="dim"))
    return parts


def _checks(result: DiffResult) -> list[RenderableType]:
    """The checks that did not pass, failures first, in a table; the passing ones in one line under it."""
    if not result.checks:
        return [Text("No checks were configured.", style="dim")]
    order = {"fail": 0, "warn": 1}
    problems = sorted((c for c in result.checks if c.outcome != "pass"), key=lambda c: order[c.outcome])
    passed = len(result.checks) - len(problems)
    parts: list[RenderableType] = []
    if problems:
        table = _table(
            "Checks", "check", "value", "warn", "fail", "outcome", "detail", right=("value", "warn", "fail"),
            names=[c.name for c in problems],
        )  # fmt: skip
        for check in problems:
            table.add_row(
                Text(check.name),
                fmt_num(check.value, 4),
                fmt_num(check.warn, 4),
                fmt_num(check.fail, 4),
                Text(OUTCOME_MARK[check.outcome], style=STYLE[check.outcome]),
                Text(check.detail),
            )
        parts.append(table)
    if passed:
        parts.append(Text(f"✓ {passed} check{'s' if passed != 1 else ''} passed", style="green"))
    return parts
