"""Options and helpers shared by the CLI's commands."""

from __future__ import annotations

import datetime as dt
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, SpinnerColumn, Task, TextColumn, TimeElapsedColumn
from rich.text import Text

from dataplan.cli import render
from dataplan.config import CONFIG_FILE
from dataplan.errors import ConfigError, DataplanError, InputError
from dataplan.secrets import redact

# The metavar of a boolean flag: none. typer shows `<bool>` beside a flag otherwise, as if it took a value.
FLAG = ""
PIPE_EXIT = 141  # what a shell reports for a command killed by SIGPIPE: `dataplan test | head -1`


def closed_pipe() -> None:
    """The reader of standard output went away (``| head``): exit as ``cat`` or ``git log`` would, quietly and
    with 141, not 1 (a failed check) or a traceback; later writes go nowhere."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    raise SystemExit(PIPE_EXIT)


class PipeGuard:
    """Standard output that exits with ``PIPE_EXIT`` when its reader went away. Without it a JSON write hits
    click's answer to a closed pipe, exit 1, which the exit codes reserve for a failed check."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return int(self._stream.write(text))
        except BrokenPipeError:
            closed_pipe()
            raise  # not reached: closed_pipe exits

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            closed_pipe()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class _Console(Console):
    def on_broken_pipe(self) -> None:  # rich's own exits with 1, which the exit codes reserve for a failed check
        self.quiet = True
        closed_pipe()


out = _Console()
err = _Console(stderr=True, soft_wrap=True)  # never break paths and messages mid-word


class Engine(StrEnum):
    duckdb = "duckdb"
    postgres = "postgres"


class Format(StrEnum):
    text = "text"
    json = "json"


ProjectOpt = Annotated[Path, typer.Option("--project", "-p", help="Project directory.", show_default=True)]
EnvOpt = Annotated[str, typer.Option("--env", "-e", help="Environment name (prod, dev, ...).")]
SelectOpt = Annotated[
    str | None, typer.Option("--select", "-s", help="Models: name, +name, name+, layer:marts, comma list.")
]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]
EndOpt = Annotated[
    str | None,
    typer.Option(
        "--end",
        help="Incremental models: process up to this date (exclusive, YYYY-MM-DD; default tomorrow UTC).",
    ),
]


# Shown under each command's --help: what a user types first, in a project directory.
_EXAMPLES: dict[str, tuple[str, ...]] = {
    "init": ("dataplan init shop && cd shop && dataplan build && dataplan test",),
    "build": (
        "dataplan build                    # prod",
        "dataplan build --env dev --select +customer_value",
        "dataplan build --dry-run --format json",
    ),
    "run": ("dataplan run                      # daily, from a scheduler", "dataplan run --end 2024-02-01"),
    "test": ("dataplan test --env dev", "dataplan test --select layer:marts --format json"),
    "status": ("dataplan status --env dev",),
    "dashboard": ("dataplan dashboard --env dev -o dashboard.html",),
    "demo": (
        "dataplan demo",
        "dataplan demo /tmp/big --customers 100000",
        "WAREHOUSE_DSN=postgresql://me@localhost/demo dataplan demo pg-demo --engine postgres",
    ),
    "apply": ("dataplan plan list                # the plan ids", "dataplan apply 20240201_ab12cd"),
    "promote": ("dataplan promote 20240201_ab12cd", "dataplan promote 20240201_ab12cd --force --reason hotfix"),
    "rollback": ("dataplan rollback 20240201_ab12cd",),
    "resume": ("dataplan resume 20240201_ab12cd",),
    "log": ("dataplan log 20240201_ab12cd --format json",),
    "janitor": ("dataplan janitor --dry-run", "dataplan janitor --ttl 2w"),
    "pin": (
        "dataplan status                   # the fingerprints",
        "dataplan pin 3f2a9c1d0b7e --reason 'Q1 baseline'",
        "dataplan pin 3f2a9c1d0b7e --remove --all",
    ),
    "diff": (
        "dataplan diff marts.orders marts__dev.orders --key order_id",
        "dataplan diff marts.orders --env prod --env-b dev",
        "dataplan diff marts.orders marts__dev.orders -k order_id -f md -o d.md",
        "dataplan diff a 'query:select * from b where day > 1' --key id",
        "dataplan diff legacy.orders marts.orders --key id --rename amount=revenue",
        "dataplan diff raw.t raw.t --connection w.duckdb \\",
        "    --connection-b postgresql://user@host/db --key id",
    ),
    "profile": ("dataplan profile marts.orders", "dataplan profile marts.orders --where 'amount > 0' -f json"),
    "env": ("dataplan env list", "dataplan env drop dev"),
    "env list": ("dataplan env list --format json",),
    "env drop": ("dataplan env drop dev", "dataplan env drop prod --yes"),
    "env claim": ("dataplan env claim --from old_project_name",),
    "plan": (
        "dataplan plan --objective 'count refunds as churn'",
        "dataplan plan --select customer_value+ --format md",
        "dataplan plan --explain",
    ),
    "plan list": ("dataplan plan list --format json",),
    "plan show": ("dataplan plan show 20240201_ab12cd --format md",),
    "plan abandon": ("dataplan plan abandon 20240201_ab12cd",),
}


def examples(command: str) -> str:
    """The epilog of ``command``'s --help."""
    return "Examples:\n\n" + "\n".join(f"  {line}" for line in _EXAMPLES[command])


def _enclosing_project(exc: DataplanError) -> None:
    """Run from inside a project (``models/staging``): say where the project is, as git would find it."""
    prefix = f"no {CONFIG_FILE} in "
    if not (isinstance(exc, ConfigError) and exc.path is None and exc.message.startswith(prefix)):
        return
    start = Path(exc.message.removeprefix(prefix))
    found = next((d for d in start.resolve().parents if (d / CONFIG_FILE).is_file()), None)
    if found is not None:
        exc.hint = f"the project is in {found}: run dataplan there, or pass --project {found}"


def fail(exc: DataplanError) -> None:
    _enclosing_project(exc)
    # The message holds user text (a --select, a path, a value): printed as it is, never as rich markup.
    # A note says what else failed on the way out: an automatic rollback after a failed promotion.
    notes = "".join(f"\n{note}" for note in getattr(exc, "__notes__", ()))
    err.print(Text.assemble(("error", "bold red"), f": {redact(str(exc) + notes)}"), highlight=False)
    raise typer.Exit(exc.exit_code)


INTERNAL_EXIT = 3  # not the user's input (2) nor a failed check (1): like an engine error, dataplan itself failed
REPORT_HINT = (
    "this is a bug in dataplan: please report it with the command you ran and this message "
    "(DATAPLAN_DEBUG=1 shows the traceback)"
)


def report_internal_error(exc: Exception) -> None:
    """The last resort: an exception dataplan did not expect, in one line instead of a traceback."""
    if os.environ.get("DATAPLAN_DEBUG"):
        import traceback

        err.print(redact("".join(traceback.format_exception(exc))), highlight=False, markup=False)
    err.print(
        Text.assemble(
            ("error", "bold red"),
            f": internal error: {type(exc).__name__}: {redact(str(exc))}\nhint: {REPORT_HINT}",
        ),
        highlight=False,
    )


@contextmanager
def errors() -> Iterator[None]:
    try:
        yield
    except DataplanError as exc:
        fail(exc)
    except OSError as exc:  # a path the user gave: a directory for a file, a folder that does not exist
        where = f"{exc.filename}: " if exc.filename else ""
        fail(InputError(f"{where}{exc.strerror or exc}", hint="check the path"))
    except (typer.Exit, typer.Abort, typer.exceptions.TyperException):
        raise  # typer's own exits and usage errors
    except Exception as exc:  # KeyboardInterrupt is no Exception: typer still exits 130 on it
        report_internal_error(exc)
        raise typer.Exit(INTERNAL_EXIT) from None


class _Count(ProgressColumn):
    """``done/total``, and nothing before the total is known (not ``0/None``)."""

    def render(self, task: Task) -> Text:
        return Text("" if task.total is None else f"{task.completed:.0f}/{task.total:.0f}")


@contextmanager
def progress_bar(enabled: bool) -> Iterator[Callable[[str, int, int], None] | None]:
    # Only on a terminal: piped or captured, a transient bar leaves an empty line before what follows.
    if not enabled or not err.is_terminal:
        yield None
        return
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), _Count(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("starting", total=None)

        def update(label: str, done: int, total: int) -> None:
            bar.update(task, description=label, completed=done, total=total)

        yield update


def parse_end(end: str | None) -> dt.date | None:
    if end is None:
        return None
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", end):  # fromisoformat also takes 20261201 and 2026-W48-1
            raise ValueError(end)
        return dt.date.fromisoformat(end)
    except ValueError as exc:
        raise InputError(f"--end {end!r} is not a date", hint="use YYYY-MM-DD") from exc


def emit(fmt: Format, payload: Any, text: Callable[[], None]) -> None:
    if fmt is Format.json:
        sys.stdout.write(render.to_json(payload) + "\n")
    else:
        text()
