"""Rendering library results for the terminal and as JSON. No logic lives here."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from dataplan.backends.files import FileLoad
from dataplan.build.builder import BuildResult, RunResult
from dataplan.secrets import redact
from dataplan.verify.testing import TestRun
from dataplan.warehouse import EnvironmentStatus

if TYPE_CHECKING:  # the demo's data generator (numpy, pyarrow.compute) costs every command 0.2 s to import
    from dataplan.demo.story import DemoResult

OUTCOME_STYLE = {"pass": "green", "warn": "yellow", "fail": "bold red"}


def check_outcome(outcome: str | None, blocking: bool = True) -> Text:
    """A plan check's outcome: the honest word (``pass``, ``warn``, ``fail`` or ``pending``), and for a
    non-blocking check that did not pass, `` · non-blocking``: it failed, and apply and promote go on.
    (Not "fail (info)", which reads as if the failure were only information.)"""
    if outcome is None:
        return Text("pending")
    if blocking or outcome == "pass":
        return Text(outcome, style=OUTCOME_STYLE.get(outcome, ""))
    return Text.assemble((outcome, "red" if outcome == "fail" else "yellow"), (" · non-blocking", "dim"))


def post_check_outcome(outcome: str, triggers_rollback: bool) -> Text:
    """A post-promotion check's outcome, as the plan document words it: a failure either rolled the plan
    back (it is a rollback trigger) or stayed below its trigger."""
    if outcome == "pass":
        return Text("pass", style=OUTCOME_STYLE["pass"])
    return Text.assemble(("fail", OUTCOME_STYLE["fail"]), ", rolled back" if triggers_rollback else ", below trigger")


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _plain(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dt.timedelta):  # seconds: what a script can compare
        return value.total_seconds()
    return value


def to_json(payload: Any) -> str:
    return redact(json.dumps(_plain(payload), indent=2, default=str))


def table(title: str) -> Table:
    """A table with little chrome, so an 80-column terminal keeps its width for names."""
    return Table(title=Text(title), box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)


def name_column(table: Table, header: str) -> None:
    """A column of names users type (models, nodes, plan ids): kept whole; the other columns give way."""
    table.add_column(header, no_wrap=True)


def short_version(version_id: str | None) -> str:
    """The fingerprint of ``<layer>__<model>__<fingerprint>``: the model is in its own column."""
    return (version_id or "").rsplit("__", 1)[-1]


VERSION_NOTE = "version: the fingerprint of version <layer>__<model>__<fingerprint> (full ids: --format json)"


def file_loads(console: Console, loads: list[FileLoad], *, dry_run: bool = False) -> None:
    """One line per file source loaded into its table first (engines that cannot read files)."""
    for load in loads:
        files = f"{load.files:,} file{'' if load.files == 1 else 's'}"
        what = f"{load.source} into {load.table}: {load.rows:,} rows from {files}"
        line = f"would load {what}" if dry_run else f"loaded {what} ({load.seconds:.1f}s)"
        console.print(Text(line), style="dim")


def build_result(console: Console, result: BuildResult) -> None:
    verb = "would build" if result.dry_run else "built"
    file_loads(console, result.loaded, dry_run=result.dry_run)
    if result.nothing_to_do:
        console.print(
            Text.assemble(
                ("Nothing to do", "green"),
                ": environment ",
                (result.environment, "bold"),
                f" is up to date ({len(result.actions)} models checked).",
            )
        )
        return
    t = table(f"{'Dry run: ' if result.dry_run else ''}build of {result.environment}")
    name_column(t, "model")  # no materialized column: `dataplan status` has it, and the names need the width
    for col in ("version", "view", "reason"):
        t.add_column(col, overflow="fold")
    t.add_column("s", justify="right", no_wrap=True)
    for a in result.actions:
        if a.version == "reuse" and a.view == "unchanged":
            continue
        t.add_row(
            Text(a.fqn),
            Text(a.version, style="green" if a.version == "create" else ""),
            Text(a.view),
            Text(a.reason),
            f"{a.seconds:.1f}" if a.seconds else "",
        )
    for name in result.removed:
        t.add_row(Text(name), "", "drop view", "removed from project", "")
    console.print(t)
    unchanged = sum(1 for a in result.actions if a.version == "reuse" and a.view == "unchanged")
    console.print(
        f"{verb} {len(result.created)} version(s), {'would re-point' if result.dry_run else 're-pointed'} "
        f"{len(result.repointed)} view(s), {unchanged} unchanged, "
        f"{len(result.removed)} removed in {result.seconds:.2f}s."
    )


def run_result(console: Console, result: RunResult) -> None:
    file_loads(console, result.loaded)
    t = table(f"run of {result.environment}")
    name_column(t, "model")
    t.add_column("version", no_wrap=True)
    t.add_column("action", overflow="fold")
    t.add_column("s", justify="right", no_wrap=True)
    for a in result.refreshed:
        t.add_row(Text(f"{a.layer}.{a.model}"), short_version(a.version_id), Text(a.action), f"{a.seconds:.1f}")
    console.print(t)
    console.print(Text(VERSION_NOTE, style="dim"))
    console.print(f"refreshed {len(result.refreshed)} model(s) in {result.seconds:.2f}s.")


def test_run(console: Console, run: TestRun, only_problems: bool = False) -> None:
    t = table(f"tests on {run.environment}")
    name_column(t, "node")
    t.add_column("test", overflow="fold")  # wraps, never cut: it names the test to fix
    t.add_column("outcome", no_wrap=True)
    t.add_column("failing", justify="right", no_wrap=True)
    ordered = sorted(run.results, key=lambda r: ("pass", "warn", "fail").index(r.outcome), reverse=True)
    shown = [r for r in ordered if not (only_problems and r.outcome == "pass")]
    for r in shown:
        # No severity column: a failing warn-severity test is "warn" (the JSON has the severity).
        test = Text("(singular)", style="dim") if r.test == r.node else Text(r.test)  # tests/<node>.sql
        t.add_row(Text(r.node), test, Text(r.outcome, style=OUTCOME_STYLE[r.outcome]), str(r.failing_rows))
    console.print(t)
    # Samples under the table, one per test, where they have the width of the terminal.
    for r in shown:
        sample = r.error or (json.dumps(_plain(r.sample[:2]), default=str) if r.sample else "")
        if sample:
            head = Text.assemble((r.outcome, OUTCOME_STYLE[r.outcome]), " ", (r.node, "bold"))
            console.print(head.append("" if r.test == r.node else f" {r.test}"))  # a singular test is its node
            console.print(Text(f"  {redact(sample[:300])}"))  # data, not markup: "[/docs]" must print as it is
    console.print(
        f"[green]{len(run.passed)} passed[/], [yellow]{len(run.warned)} warned[/], [red]{len(run.failed)} failed[/]"
    )
    if run.copies:
        seconds = sum(c.seconds for c in run.copies)
        console.print(
            f"[dim]{len(run.copies)} view(s) with several tests were computed once into a temporary table "
            f"for them ({seconds:.1f}s of the run)[/]"
        )


def status(console: Console, st: EnvironmentStatus) -> None:
    if not st.exists:
        console.print(
            Text(
                f"environment {st.environment} does not exist yet (`dataplan build --env {st.environment}` creates it)."
            )
        )
    t = table(f"status of {st.environment}")
    name_column(t, "model")
    t.add_column("materialized", overflow="fold")
    t.add_column("state", no_wrap=True)
    t.add_column("version", no_wrap=True)
    style = {"up to date": "green", "changed": "yellow", "not built": "red"}
    for m in st.models:
        t.add_row(
            Text(m.fqn),
            Text(m.materialized),
            Text(m.state, style=style.get(m.state, "magenta")),
            short_version(m.version_id),
        )
    console.print(t)
    if any(m.version_id for m in st.models):
        console.print(Text(VERSION_NOTE, style="dim"))
    console.print(f"{len(st.models) - len(st.pending)} up to date, {len(st.pending)} pending.")


def environments(console: Console, envs: list[dict[str, object]]) -> None:
    t = Table(title="environments")
    name_column(t, "name")
    for col in ("models", "created", "updated"):
        t.add_column(col)
    for e in envs:
        t.add_row(Text(str(e["name"])), str(e["models"]), str(e["created_at"]), str(e["updated_at"]))
    console.print(t)


def demo_result(console: Console, result: DemoResult) -> None:
    console.rule(Text(f"dataplan demo: customer lifecycle, {result.customers:,} customers", style="bold"))
    t = Table(show_header=True)
    for col in ("stage", "what happened", "seconds"):
        t.add_column(col, justify="right" if col == "seconds" else "left", overflow="fold")
    for stage in result.stages:
        summary = Text("(reused) ", style="dim") if stage.reused else Text()
        t.add_row(Text(stage.name), summary.append(stage.summary), f"{stage.seconds:.1f}")
    console.print(t)
    if result.build and not result.build.nothing_to_do:
        build_result(console, result.build)
    if result.tests and (result.tests.failed or result.tests.warned):
        test_run(console, result.tests, only_problems=True)

    def path(label: str, where: Path | str, after: str = "") -> None:
        # Paths are printed whole on one line (never wrapped mid-word), so they can be copied.
        console.print(Text.assemble(label, (str(where), "bold"), after), soft_wrap=True)

    for change in result.changes:
        console.rule(Text(f"change: {change.name}"))
        console.print(Text(change.objective, style="bold"))
        if change.plan_id is None:
            console.print(Text(f"  {change.status}"))
            continue
        console.print(Text.assemble("  plan ", (change.plan_id, "cyan"), " -> ", (change.status, "bold")))
        for label, lines in (
            ("impacted", change.impacted),
            ("risk", change.risks),
            ("check", change.checks),
            ("after promotion", change.post_checks),
        ):
            for line in lines:
                console.print(Text(f"  {label}: {line}"))
        for line in change.messages:
            console.print(Text(f"  {line}", style="yellow"))
        if change.document:
            path("  plan document: ", result.directory / change.document)
        for report in change.reports:
            path("  verification report: ", result.directory / report)
    path("project:   ", result.directory)
    if result.engine == "postgres":  # where the server is, with no secret: the variable that holds it
        from dataplan.demo.story import DSN_VARIABLE

        console.print(Text(f"warehouse: Postgres at ${DSN_VARIABLE} ({redact(result.warehouse)})"), soft_wrap=True)
    else:
        path("warehouse: ", result.directory / "warehouse.duckdb")
    if result.dashboard:
        path("dashboard: ", result.dashboard, " (open it in a browser; it works offline)")
    console.print("\nNext, try:")
    for line in result.next_commands:
        # A command and its comment on one line: what is pasted runs as shown.
        console.print(Text(f"  {line}", style="cyan"), soft_wrap=True)
