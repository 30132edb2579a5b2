"""The `dataplan` command line: parsing and rendering only."""

from __future__ import annotations

import re
import shlex
import shutil
import sys
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.text import Text

from dataplan.cli import diff_cmd, render, rollout_cmd
from dataplan.cli.common import (
    FLAG,
    INTERNAL_EXIT,
    EndOpt,
    Engine,
    EnvOpt,
    Format,
    FormatOpt,
    PipeGuard,
    ProjectOpt,
    SelectOpt,
    closed_pipe,
    emit,
    errors,
    examples,
    out,
    parse_end,
    progress_bar,
    report_internal_error,
)
from dataplan.cli.plan_cmd import plan_app
from dataplan.config import CONFIG_FILE
from dataplan.errors import InputError, StateError
from dataplan.warehouse import Warehouse

app = typer.Typer(
    help="Executable, verifiable change plans for data warehouses.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
env_app = typer.Typer(
    help="List and drop environments; claim the state after renaming the project.",
    no_args_is_help=True,
    epilog=examples("env"),
)
app.add_typer(env_app, name="env")


def _print_version(value: bool) -> None:
    if value:
        from dataplan import __version__

        out.print(f"dataplan {__version__}", highlight=False)
        raise typer.Exit()


@app.callback(help="Executable, verifiable change plans for data warehouses.")
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", metavar=FLAG, help="Print dataplan's version and exit.", callback=_print_version, is_eager=True
        ),
    ] = False,
) -> None:
    """The options every invocation takes; --version is handled by its eager callback."""


app.add_typer(plan_app, name="plan")


@app.command(epilog=examples("init"))
def init(directory: Annotated[Path, typer.Argument(help="Where to create the project.")] = Path(".")) -> None:
    """Scaffold a small working project: one model per layer, a source, tests and an exposure."""
    with errors():
        if directory.exists() and not directory.is_dir():
            raise InputError(f"{directory} is a file", hint="choose an empty directory")
        src = resources.files("dataplan") / "scaffold"
        with resources.as_file(src) as path:
            # Never overwrite: a dbt project's stg_orders.sql or sources.yml is someone's work.
            clashes = sorted(str(directory / f.relative_to(path)) for f in path.rglob("*") if f.is_file()
                             and (directory / f.relative_to(path)).exists())  # fmt: skip
            if clashes:
                shown = ", ".join(clashes[:5]) + (f" and {len(clashes) - 5} more" if len(clashes) > 5 else "")
                raise InputError(f"{shown} already exist{'s' if len(clashes) == 1 else ''}",
                                 hint="choose an empty directory; nothing was written")  # fmt: skip
            shutil.copytree(path, directory, dirs_exist_ok=True)
        _name_after(directory)
        # The path is the user's text: never markup; the command is quoted and never wrapped, to paste as is.
        out.print(
            Text.assemble(
                "Created a dataplan project in ",
                (str(directory), "bold"),
                ".\nNext: ",
                (f"cd {shlex.quote(str(directory))} && dataplan build && dataplan test", "cyan"),
            ),
            soft_wrap=True,
        )


def _name_after(directory: Path) -> None:
    """Name the scaffold after its directory: the state schema belongs to a project by its name, and two
    projects that both kept the scaffold's own name would share one state (and drop each other's views)."""
    name = re.sub(r"[^A-Za-z0-9_]+", "_", directory.resolve().name).strip("_") or "shop"
    config = directory / CONFIG_FILE
    text = config.read_text(encoding="utf-8")
    named = yaml.safe_dump({"name": name}, default_flow_style=False)  # quoted where YAML would read no text
    config.write_text(text.replace("name: shop\n", named, 1), encoding="utf-8")


@app.command(epilog=examples("build"))
def build(
    project: ProjectOpt = Path("."),
    env: EnvOpt = "prod",
    select: SelectOpt = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", metavar=FLAG, help="List what would be built; run no DDL.")
    ] = False,
    end: EndOpt = None,
    allow_breaking: Annotated[
        bool,
        typer.Option(
            "--allow-breaking",
            metavar=FLAG,
            help="Build into prod even a change that breaks an enforced contract (a column or model removed); "
            "without it such a build is refused: plan it instead.",
        ),
    ] = False,
    fmt: FormatOpt = Format.text,
) -> None:
    """Build versions that do not exist yet and point the environment's views at them."""
    with errors(), Warehouse.open(project) as wh, progress_bar(fmt is Format.text) as bar:
        result = wh.build(env, select, dry_run=dry_run, end=parse_end(end), progress=bar, allow_breaking=allow_breaking)
    emit(fmt, result, lambda: render.build_result(out, result))


@app.command(epilog=examples("run"))
def run(
    project: ProjectOpt = Path("."),
    env: EnvOpt = "prod",
    select: SelectOpt = None,
    end: EndOpt = None,
    fmt: FormatOpt = Format.text,
) -> None:
    """Refresh the data of the environment's versions (what a scheduler calls daily)."""
    with errors(), Warehouse.open(project, create=False) as wh, progress_bar(fmt is Format.text) as bar:
        result = wh.run(env, select, end=parse_end(end), progress=bar)
    emit(fmt, result, lambda: render.run_result(out, result))


@app.command("test", epilog=examples("test"))
def test_cmd(
    project: ProjectOpt = Path("."),
    env: EnvOpt = "prod",
    select: SelectOpt = None,
    fmt: FormatOpt = Format.text,
) -> None:
    """Run column, model and singular tests; exit 1 when an error-severity test fails."""
    with errors(), Warehouse.open(project, create=False) as wh, progress_bar(fmt is Format.text) as bar:
        result = wh.test(env, select, progress=bar)

    def text() -> None:
        render.file_loads(out, result.loaded)
        render.test_run(out, result)

    emit(fmt, result, text)
    if result.failed:
        raise typer.Exit(1)


@app.command(epilog=examples("status"))
def status(project: ProjectOpt = Path("."), env: EnvOpt = "prod", fmt: FormatOpt = Format.text) -> None:
    """Show which models of an environment are up to date with the project."""
    with errors(), Warehouse.open(project, create=False) as wh:
        result = wh.status(env)
        if not result.exists and env != "prod":  # a typo (--env devv) is bad input, as for test, run and plan
            known = ", ".join(str(e["name"]) for e in wh.environments()) or "none yet"
            raise StateError(
                f"environment {env} does not exist",
                hint=f"run `dataplan build --env {env}` first (environments: {known})",
            )
    emit(fmt, result, lambda: render.status(out, result))


@env_app.command("list", epilog=examples("env list"))
def env_list(project: ProjectOpt = Path("."), fmt: FormatOpt = Format.text) -> None:
    """List environments with their model counts."""
    with errors(), Warehouse.open(project, create=False) as wh:
        envs = wh.environments()
    emit(fmt, envs, lambda: render.environments(out, envs))


@env_app.command("drop", epilog=examples("env drop"))
def env_drop(
    name: Annotated[str, typer.Argument(help="Environment to drop.")],
    project: ProjectOpt = Path("."),
    yes: Annotated[bool, typer.Option("--yes", metavar=FLAG, help="Required to drop prod.")] = False,
) -> None:
    """Drop an environment's views. Versions stay (the janitor removes unreferenced ones)."""
    with errors(), Warehouse.open(project, create=False) as wh:
        if name == "prod" and not yes:
            raise InputError("refusing to drop prod without --yes")
        dropped = wh.drop_environment(name)
    out.print(Text.assemble("dropped environment ", (name, "bold"), f" ({len(dropped)} views); its versions are kept."))


@env_app.command("claim", epilog=examples("env claim"))
def env_claim(
    previous: Annotated[
        str, typer.Option("--from", help="The project name the state is recorded under (the refusal names it).")
    ],
    project: ProjectOpt = Path("."),
) -> None:
    """Record this project as the owner of the warehouse's state, after renaming the project.

    The state (versions, environments, plans) belongs to the project that first wrote it; any other project
    name is refused, so that two projects never drop each other's views."""
    with errors(), Warehouse.open(project, create=False) as wh:
        claimed = wh.store.claim(previous)
        name, schema = wh.project.config.name, wh.store.schema
    owns = " now belongs to project " if claimed else " already belongs to project "
    out.print(Text.assemble("the state in ", (schema, "bold"), owns, (name, "bold"), "."))


@app.command(epilog=examples("dashboard"))
def dashboard(
    project: ProjectOpt = Path("."),
    env: EnvOpt = "prod",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="HTML file to write (default reports/dashboard-<env>.html).")
    ] = None,
) -> None:
    """Render the project's dashboard exposures into one self-contained HTML file that opens offline."""
    with errors(), Warehouse.open(project, create=False) as wh:
        path, charts = wh.dashboard(env, output)
    out.print(Text.assemble(f"wrote {charts} chart(s) to ", (str(path), "bold")), soft_wrap=True)


@app.command(epilog=examples("demo"))
def demo(
    directory: Annotated[Path, typer.Argument(help="Where to create the demo project.")] = Path("dataplan-demo"),
    customers: Annotated[int, typer.Option(help="Customers to generate (10,000 by default).", min=100)] = 10_000,
    seed: Annotated[int, typer.Option(help="Random seed of the data generator.")] = 42,
    engine: Annotated[
        Engine,
        typer.Option(help="The warehouse: embedded DuckDB, or the Postgres server named by $WAREHOUSE_DSN."),
    ] = Engine.duckdb,
) -> None:
    """The customer-lifecycle project end to end: data, prod build, tests, dashboard, and two changes.

    Both go through plan, apply and promote: one is promoted, the other rolled back by its trigger."""
    from dataplan.demo.story import run_demo

    with errors(), progress_bar(True) as bar:
        result = run_demo(directory, customers, seed, progress=bar, engine=engine.value)
    render.demo_result(out, result)
    if result.tests and result.tests.failed:
        raise typer.Exit(1)


rollout_cmd.register(app)
diff_cmd.register(app)


def main() -> None:
    sys.stdout = PipeGuard(sys.stdout)
    try:
        app()
    except BrokenPipeError:
        closed_pipe()
    except Exception as exc:  # raised outside a command's errors() (rendering): still no traceback
        report_internal_error(exc)
        sys.exit(INTERNAL_EXIT)
