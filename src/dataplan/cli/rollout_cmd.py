"""`dataplan apply / promote / rollback / resume / log / janitor`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from dataplan.cli import render
from dataplan.cli.common import (
    FLAG,
    EndOpt,
    Format,
    FormatOpt,
    ProjectOpt,
    errors,
    examples,
    out,
    parse_end,
    progress_bar,
)
from dataplan.errors import InputError
from dataplan.rollout.executor import RolloutResult
from dataplan.rollout.journal import figures
from dataplan.warehouse import Warehouse

PlanId = Annotated[str, typer.Argument(help="Plan id (see `dataplan plan list`).")]
BreakLock = Annotated[
    bool, typer.Option("--break-lock", metavar=FLAG, help="Take over a lock whose holder is gone (journaled).")
]
OUTCOME = {"pass": "[green]pass[/]", "warn": "[yellow]warn[/]", "fail": "[bold red]fail[/]", None: "pending"}


def _show(result: RolloutResult, fmt: Format) -> None:
    plan = result.plan
    if fmt is Format.json:
        sys.stdout.write(
            render.to_json(
                {
                    "plan_id": plan.plan_id,
                    "action": result.action,
                    "status": plan.status,
                    "messages": result.messages,
                    "checks": [c.model_dump() for c in plan.checks],
                    "post_checks": result.post_checks,
                    "exit_code": result.exit_code,
                    "document": plan.document,
                    "reports": plan.reports,
                }
            )
            + "\n"
        )
        return
    if result.verification is not None:
        t = Table(title=Text(f"verification of plan {plan.plan_id}"))
        for col in ("check", "actual", "target", "outcome"):
            t.add_column(col)
        for c in plan.checks:
            outcome = render.check_outcome(c.outcome, c.blocking)  # "fail · non-blocking", never "fail (info)"
            t.add_row(Text(c.criteria), Text(c.actual or ""), Text(c.target), outcome)
        out.print(t)
    if result.post_checks:
        t = Table(title="post-promotion checks")
        for col in ("check", "detail", "outcome"):
            t.add_column(col)
        for p in result.post_checks:
            outcome = Text.from_markup(OUTCOME[p.outcome] + (" -> rollback" if p.triggers_rollback else ""))
            t.add_row(Text(p.name), Text(p.detail), outcome)
        out.print(t)
    style = "green" if result.exit_code == 0 else "bold red"
    out.print(Text.assemble((result.action, style), ": plan ", (plan.plan_id, "cyan"), f" is {plan.status}"))
    for m in result.messages:
        out.print(Text(f"  {m}"))
    if plan.document:
        out.print(Text(f"plan document: {plan.document}"), soft_wrap=True)
    for report in plan.reports if result.verification is not None else []:
        out.print(Text(f"verification report: {report} (open it in a browser)"), soft_wrap=True)


def apply(
    plan_id: PlanId,
    project: ProjectOpt = Path("."),
    end: EndOpt = None,
    break_lock: BreakLock = False,
    fmt: FormatOpt = Format.text,
) -> None:
    """Build the plan in plan_<id>, capture the baseline, run its checks and tests; exit 1 if one fails."""
    with errors(), Warehouse.open(project, create=False) as wh, progress_bar(fmt is Format.text) as bar:
        result = wh.apply(plan_id, progress=bar, end=parse_end(end), break_lock=break_lock)
    _show(result, fmt)
    raise typer.Exit(result.exit_code)


def promote(
    plan_id: PlanId,
    project: ProjectOpt = Path("."),
    to: Annotated[str | None, typer.Option("--to", help="Target environment (default: the plan's).")] = None,
    force: Annotated[bool, typer.Option("--force", metavar=FLAG, help="Promote an unverified plan.")] = False,
    reason: Annotated[str | None, typer.Option("--reason", help="Why --force (recorded).")] = None,
    break_lock: BreakLock = False,
    fmt: FormatOpt = Format.text,
) -> None:
    """Swap the target's views to the plan's versions, run post-promotion checks, roll back if one fires."""
    with errors(), Warehouse.open(project, create=False) as wh:
        result = wh.promote(plan_id, to=to, force=force, reason=reason, break_lock=break_lock)
    _show(result, fmt)
    raise typer.Exit(result.exit_code)


def rollback(
    plan_id: PlanId, project: ProjectOpt = Path("."), break_lock: BreakLock = False, fmt: FormatOpt = Format.text
) -> None:
    """Re-point the environment the plan was promoted to back to its versions before the plan (idempotent).

    A plan never promoted changes no environment: only its plan environment is dropped.
    """
    with errors(), Warehouse.open(project, create=False) as wh:
        result = wh.rollback(plan_id, break_lock=break_lock)
    _show(result, fmt)


def resume(plan_id: PlanId, project: ProjectOpt = Path("."), fmt: FormatOpt = Format.text) -> None:
    """Finish an interrupted apply, promotion or rollback, from the journal."""
    with errors(), Warehouse.open(project, create=False) as wh, progress_bar(fmt is Format.text) as bar:
        result = wh.resume(plan_id, progress=bar)
    _show(result, fmt)
    raise typer.Exit(result.exit_code)


def log(plan_id: PlanId, project: ProjectOpt = Path("."), fmt: FormatOpt = Format.text) -> None:
    """The plan's journal as an event log (also written beside the plan document)."""
    with errors(), Warehouse.open(project, create=False) as wh:
        entries = wh.log(plan_id)
    if fmt is Format.json:
        sys.stdout.write(render.to_json(entries) + "\n")
        return
    t = render.table(f"journal of plan {plan_id}")
    for col in ("#", "time (UTC)", "step", "phase", "outcome"):
        t.add_column(col, no_wrap=True)
    t.add_column("figures", overflow="fold")
    for e in entries:
        t.add_row(str(e.seq), f"{e.at:%H:%M:%S}", Text(e.step), Text(e.phase), Text(e.outcome), Text(figures(e.detail)))
    out.print(t)


def janitor(
    project: ProjectOpt = Path("."),
    ttl: Annotated[str, typer.Option("--ttl", help="Keep unreferenced versions younger than this.")] = "7d",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", metavar=FLAG, help="List what would be dropped; change nothing.")
    ] = False,
    fmt: FormatOpt = Format.text,
) -> None:
    """Drop versions no environment, plan rollback or pin references, older than the TTL.

    On Postgres, also the loaded copies of file sources the project no longer declares and no version reads.
    """
    with errors(), Warehouse.open(project, create=False) as wh:
        result = wh.janitor(ttl, dry_run=dry_run)
    if fmt is Format.json:
        sys.stdout.write(render.to_json(result) + "\n")
        return
    verb = "would drop" if dry_run else "dropped"
    out.print(f"{verb} {len(result.dropped)} version(s); kept {len(result.kept)}.")
    for vid in result.dropped:
        out.print(Text.assemble("  ", (verb, "red"), f" {vid}"))
    if result.dropped_loads or result.kept_loads:
        out.print(f"{verb} {len(result.dropped_loads)} loaded file table(s) no source or version reads.")
    for name in result.dropped_loads:
        out.print(Text.assemble("  ", (verb, "red"), f" {name}"))


def pin(
    version: Annotated[
        str,
        typer.Argument(help="Version id (a table in the state schema), or the 12-character fingerprint status shows."),
    ],
    project: ProjectOpt = Path("."),
    reason: Annotated[
        str | None,
        typer.Option("--reason", help="Why it must stay (default 'pinned by hand'); with --remove, which pin."),
    ] = None,
    remove: Annotated[bool, typer.Option("--remove", metavar=FLAG, help="Remove the pin instead.")] = False,
    every: Annotated[
        bool, typer.Option("--all", metavar=FLAG, help="With --remove: every pin of the version.")
    ] = False,
) -> None:
    """Pin a version so the janitor keeps it (or --remove the pin)."""
    with errors(), Warehouse.open(project, create=False) as wh:
        if every and not remove:
            raise InputError("--all only goes with --remove")
        version = wh.version_id(version)  # the whole id, in what is printed too
        if remove:
            n = wh.unpin(version, reason, every=every)
            out.print(Text(f"removed {n} pin(s) of {version}"))
            return
        reason = reason or "pinned by hand"
        wh.pin(version, reason)
    out.print(Text(f"pinned {version}: {reason}"))


def register(app: typer.Typer) -> None:
    for fn in (apply, promote, rollback, resume, log, janitor, pin):
        app.command(epilog=examples(fn.__name__))(fn)
