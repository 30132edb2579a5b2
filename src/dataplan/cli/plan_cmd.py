"""`dataplan plan`: build, list, show and abandon plans."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from dataplan.cli import render
from dataplan.cli.common import FLAG, EndOpt, EnvOpt, ProjectOpt, SelectOpt, errors, examples, out, parse_end
from dataplan.plan.document import render_markdown
from dataplan.plan.model import Plan
from dataplan.secrets import redact
from dataplan.warehouse import Warehouse

plan_app = typer.Typer(
    help="Plan a change: impact, contract changes, backfill, risk, and the plan document.", invoke_without_command=True
)

PlanFormat = Annotated[str, typer.Option("--format", "-f", help="text, json or md.")]
CATEGORY_STYLE = {"breaking": "bold red", "non-breaking": "green", "metadata": "cyan"}


def _inherited(ctx: typer.Context, project: Path, fmt: str = "text") -> tuple[Path, str]:
    """A subcommand's --project and --format, else those given to `dataplan plan` before it."""
    given = ctx.parent.obj if ctx.parent is not None and isinstance(ctx.parent.obj, dict) else {}
    return (given.get("project", project) if project == Path(".") else project), (
        given.get("fmt", fmt) if fmt == "text" else fmt
    )


def _check_format(fmt: str) -> None:
    if fmt not in ("text", "json", "md"):
        raise typer.BadParameter(f"--format must be text, json or md, not {fmt!r}")


def show_plan(console: Console, plan: Plan, fmt: str, explain: bool = False, saved: bool | None = None) -> None:
    """``saved``: whether `dataplan plan` recorded the plan (an empty plan never is); None for a stored plan."""
    if fmt == "json":
        if saved is None:
            sys.stdout.write(redact(plan.model_dump_json(indent=2)) + "\n")
        else:  # `dataplan plan`: say whether apply can take this plan_id
            sys.stdout.write(redact(json.dumps({**plan.model_dump(mode="json"), "saved": saved}, indent=2)) + "\n")
        return
    if plan.is_empty and saved is False and fmt == "md":  # no document for a plan that was never recorded
        sys.stdout.write(f"Nothing to plan: `{plan.environment}` matches the project.\n")
        return
    if fmt == "md":
        sys.stdout.write(redact(render_markdown(plan)))
        return
    if plan.is_empty:  # nothing was recorded: no plan id to show, none that apply would find
        console.print(Text.assemble(("nothing to plan", "green"), f": {plan.environment} matches the project"))
        return
    head = Text(plan.title, style="bold")
    head.append("  (")
    head.append("not saved: --explain" if explain else f"plan {plan.plan_id}, {plan.status}")
    head.append(f", target {plan.environment})")
    console.print(head)
    t = render.table("Impacted models")
    render.name_column(t, "model")
    # Words are not cut ("indirectly", "breaking"); whether the model is rebuilt joins its change, for width.
    t.add_column("change", min_width=10)
    t.add_column("category", min_width=8)
    t.add_column("reason", overflow="fold")
    for c in plan.changes:
        t.add_row(
            Text(c.fqn),
            Text(f"{c.change}, {'rebuilt' if c.rebuild else 'kept'}"),
            Text(c.category, style=CATEGORY_STYLE[c.category]),
            Text(c.reason),  # names from the project: printed as written, never as markup
        )
    console.print(t)

    def flagged(flag: str, text: str) -> Text:
        out = Text(flag, style="bold red") if flag else Text()
        return out.append(text)

    tables: list[tuple[str, list[str], list[list[Text]]]] = [
        (
            "Contract changes",
            ["model", "change", "before", "after"],
            [
                [
                    Text(c.model),
                    Text(c.change).append(" (breaking, enforced)" if c.breaking and c.enforced else "", style="red"),
                    Text(c.before or ""),
                    Text(c.after or ""),
                ]
                for c in plan.contract_changes
            ],
        ),
        (
            "Backfill",
            ["model", "strategy", "ranges", "reason"],
            [
                [Text(b.model), Text(b.strategy), Text(", ".join(f"{s}..{e}" for s, e in b.ranges)), Text(b.reason)]
                for b in plan.backfills
                if b.strategy != "none"
            ],
        ),
        (
            "Downstream impacts",
            ["exposure", "type", "changed columns"],
            [
                [
                    Text(i.exposure),
                    Text(i.type),
                    Text(", ".join(i.columns) or "none it reads", style="" if i.columns else "dim"),
                ]
                for i in plan.impacts
            ],
        ),
        (
            "Risks",
            ["risk", "likelihood", "impact", "mitigation"],
            [
                [
                    flagged("BLOCKING " if r.blocking else "", r.risk),
                    Text(r.likelihood),
                    Text(r.impact),
                    Text(r.mitigation),
                ]
                for r in plan.risks
            ],
        ),
    ]
    for title, cols, rows in tables:
        if rows:
            tab = render.table(title)
            for col in cols:
                # Model and exposure names stay whole; text wraps, and a long word folds rather than being cut.
                tab.add_column(col, no_wrap=col in ("model", "exposure"), overflow="fold")
            for row in rows:
                tab.add_row(*row)
            console.print(tab)
    _verification(console, plan)
    if explain or plan.rollout:
        steps = render.table("Rollout steps")
        for col in ("step", "environment", "action", "checkpoint"):
            steps.add_column(col, overflow="fold")
        for s in plan.rollout:
            steps.add_row(str(s.n), Text(s.environment), Text(s.action), Text(s.checkpoint))
        console.print(steps)
    _post_checks(console, plan)
    if explain:
        checks = render.table("Validation checks apply would run")
        render.name_column(checks, "model")
        for col in ("check", "target"):
            checks.add_column(col, overflow="fold")
        for check in plan.checks:
            checks.add_row(Text(check.model), Text(check.kind), Text(check.target))
        console.print(checks)
        console.print("Nothing was saved (--explain): run `dataplan plan` without it to record the plan.")
    else:
        console.print(
            Text.assemble(f"{len(plan.checks)} validation checks planned. Rollback: ", (plan.rollback.command, "cyan")),
            soft_wrap=True,
        )
    for reason in plan.blocked:
        console.print(flagged("blocked: ", reason))
    if plan.document:
        console.print(Text.assemble("plan document: ", (plan.document, "bold")), soft_wrap=True)


def _verification(console: Console, plan: Plan) -> None:
    """What apply measured, once it ran: each check's figures and outcome (the document's Validation Criteria)."""
    if plan.applied_at is None or not any(c.outcome is not None for c in plan.checks):
        return
    verdict = "every blocking check passed" if plan.verified else "a blocking check failed"
    t = render.table(f"Verification in {plan.plan_environment}: {verdict}")
    t.add_column("check", ratio=3, overflow="fold")
    t.add_column("actual", ratio=3, overflow="fold")
    t.add_column("outcome", no_wrap=True)
    for c in plan.checks:
        t.add_row(Text(c.criteria), Text(c.actual or ""), render.check_outcome(c.outcome, c.blocking))
    console.print(t)


def _post_checks(console: Console, plan: Plan) -> None:
    """The checks promote ran on the target after the swap."""
    if not plan.was_promoted:
        return
    where = plan.promoted_to or plan.environment
    if not plan.post_checks:
        console.print(Text(f"post-promotion checks in {where}: none recorded (the promotion did not finish)"))
        return
    t = render.table(f"Post-promotion checks in {where}")
    t.add_column("check", ratio=3, overflow="fold")
    t.add_column("actual", ratio=3, overflow="fold")
    t.add_column("outcome", overflow="fold")
    for p in plan.post_checks:
        t.add_row(Text(p.name), Text(p.detail), render.post_check_outcome(p.outcome, p.triggers_rollback))
    console.print(t)


@plan_app.callback(epilog=examples("plan"))
def plan(
    ctx: typer.Context,
    project: ProjectOpt = Path("."),
    env: EnvOpt = "prod",
    select: SelectOpt = None,
    objective: Annotated[str | None, typer.Option(help="Why the change is made (the Objective section).")] = None,
    title: Annotated[str | None, typer.Option(help="One-line plan title.")] = None,
    explain: Annotated[bool, typer.Option("--explain", metavar=FLAG, help="Print the steps; save nothing.")] = False,
    allow_breaking: Annotated[
        bool,
        typer.Option(
            "--allow-breaking",
            metavar=FLAG,
            help="Allow breaking an enforced contract (a declared column or the model removed): "
            "the plan is recorded unblocked.",
        ),
    ] = False,
    end: EndOpt = None,
    fmt: PlanFormat = "text",
) -> None:
    """Compare the project with an environment and write the plan (plans/<date>-<slug>.md).

    Exit 1 when the plan is blocked (a breaking change to an enforced contract without --allow-breaking).
    """
    if ctx.invoked_subcommand is not None:
        # `dataplan plan -p DIR list`: the group's options are the subcommand's defaults.
        ctx.obj = {"project": project, "fmt": fmt}
        return
    _check_format(fmt)
    with errors(), Warehouse.open(project, create=False) as wh:
        result = wh.plan(
            env,
            objective=objective,
            title=title,
            select=select,
            allow_breaking=allow_breaking,
            end=parse_end(end),
            save=not explain,
        )
    show_plan(out, result, fmt, explain, saved=not explain and not result.is_empty)
    if result.blocked:  # CI gates on it: apply would refuse this plan (it is still recorded, as a DRAFT)
        raise typer.Exit(1)


@plan_app.command("list", epilog=examples("plan list"))
def plan_list(
    ctx: typer.Context,
    project: ProjectOpt = Path("."),
    fmt: Annotated[str, typer.Option("--format", "-f", help="text or json.")] = "text",
) -> None:
    """List plans with their status."""
    project, fmt = _inherited(ctx, project, fmt)
    if fmt not in ("text", "json"):
        raise typer.BadParameter(f"--format must be text or json, not {fmt!r}")
    with errors(), Warehouse.open(project, create=False) as wh:
        rows = wh.plans()
    if fmt == "json":
        sys.stdout.write(render.to_json(rows) + "\n")
        return
    t = render.table("plans")
    for col in ("id", "target", "status", "created", "rebuilt", "title"):
        # The id is what every other command takes: never cut; the others but the status wrap.
        # A status stays one line: "DRAFT (blocked)" folded after DRAFT would read as a plain DRAFT.
        t.add_column(col, no_wrap=col in ("id", "status"), min_width=12 if col == "title" else None, overflow="fold")
    for r in rows:
        created = r["created_at"]
        t.add_row(
            *(Text(str(r[k] or "")) for k in ("plan_id", "environment")),
            _list_status(r),
            Text(created.strftime("%Y-%m-%d %H:%M") if hasattr(created, "strftime") else str(created or "")),
            Text(f"{r['rebuilt']} of {r['changes']}"),  # models rebuilt of the models the plan changes
            Text(str(r["title"] or "")),
        )
    out.print(t)
    if rows:
        out.print(Text("documents: `dataplan plan show ID --format md`, or the files under plans/"))


def _list_status(row: dict[str, object]) -> Text:
    """The status of a plan in the list; a DRAFT that apply refuses (an enforced contract broken) says so."""
    status = str(row["status"] or "")
    if status == "DRAFT" and row.get("blocked"):
        return Text.assemble(status, (" (blocked)", "bold red"))
    return Text(status)


@plan_app.command("show", epilog=examples("plan show"))
def plan_show(
    ctx: typer.Context,
    plan_id: Annotated[str, typer.Argument(help="Plan id.")],
    project: ProjectOpt = Path("."),
    fmt: PlanFormat = "text",
) -> None:
    """Show one plan (text, JSON or its Markdown document)."""
    project, fmt = _inherited(ctx, project, fmt)
    _check_format(fmt)
    with errors(), Warehouse.open(project, create=False) as wh:
        result = wh.get_plan(plan_id)
    show_plan(out, result, fmt)


@plan_app.command("abandon", epilog=examples("plan abandon"))
def plan_abandon(
    ctx: typer.Context, plan_id: Annotated[str, typer.Argument(help="Plan id.")], project: ProjectOpt = Path(".")
) -> None:
    """Mark a plan ABANDONED (its document is updated); a promoted plan must be rolled back instead."""
    project, _ = _inherited(ctx, project)
    with errors(), Warehouse.open(project, create=False) as wh:
        result = wh.abandon_plan(plan_id)
    out.print(Text.assemble("plan ", (result.plan_id, "cyan"), " is now ABANDONED."))
