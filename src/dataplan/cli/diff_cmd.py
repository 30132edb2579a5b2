"""`dataplan diff` and `dataplan profile`: ad-hoc verification of tables, views or queries."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from sqlglot import exp

from dataplan.backends import Backend, connect, connect_url
from dataplan.backends.files import files_schema
from dataplan.build.environments import model_view
from dataplan.build.naming import PROD
from dataplan.cli.common import FLAG, Format, FormatOpt, ProjectOpt, err, errors, examples, out, progress_bar
from dataplan.config import CONFIG_FILE, load_config
from dataplan.errors import InputError
from dataplan.project.loader import load_sources
from dataplan.project.nodes import SourceTable
from dataplan.verify.diff import diff as run_diff
from dataplan.verify.diff import profile_relation
from dataplan.verify.model import DiffResult
from dataplan.verify.named import resolve
from dataplan.verify.relations import parse_columns, parse_key, parse_renames, parse_tolerance, parse_where
from dataplan.verify.reports import html_report, markdown_report, terminal_report, to_json
from dataplan.verify.reports.common import shorten
from dataplan.warehouse import Warehouse


class ReportFormat(StrEnum):
    text = "text"
    json = "json"
    md = "md"
    html = "html"


Connection = Annotated[
    str | None,
    typer.Option(help="duckdb:PATH, a .duckdb file or a postgresql:// URL (default: the project's connection)."),
]


@contextmanager
def _backend(url: str | None, project: Path) -> Iterator[Backend]:
    if url is not None:
        backend = connect_url(url, Path.cwd())
    elif (project / CONFIG_FILE).exists():
        config = load_config(project)
        backend = connect(config.connection, project.resolve(), create=False)
        backend.files_schema = files_schema(config.state_schema)  # where its file sources were loaded
    else:
        raise InputError(f"no connection: pass --connection, or run in a project (no {CONFIG_FILE} in {project})")
    try:
        yield backend
    finally:
        backend.close()


def _sources(project: Path, connection: str | None) -> dict[str, SourceTable] | None:
    """The project's source tables, when a side reads the project's own warehouse (no --connection)."""
    if connection is not None or not (project / CONFIG_FILE).exists():
        return None
    return load_sources(project)


PROFILE_CELL = 32  # characters: a timestamp with microseconds (26) whole; longer text cut with an ellipsis


def _cell(value: object) -> str:
    return "" if value is None else shorten(str(value), PROFILE_CELL)


def _print_notes(notes: list[str]) -> None:
    for note in notes:  # on stderr: JSON on stdout stays parseable
        err.print(Text(f"note: {note}", style="dim"))


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
        out.print(Text.assemble("wrote ", (str(output), "bold")), soft_wrap=True)


def plain_text(result: DiffResult) -> str:
    """The terminal report as plain text for a file: no colours, 100 columns."""
    console = Console(file=io.StringIO(), width=100, color_system=None, force_terminal=False, soft_wrap=False)
    console.print(terminal_report(result))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"


ExactOpt = Annotated[
    bool,
    typer.Option(
        "--exact",
        metavar=FLAG,
        help="Exact distinct counts and quantiles at any size (by default approximate above 1,000,000 rows on DuckDB).",
    ),
]


def diff(
    a: Annotated[
        str,
        typer.Argument(
            metavar="A", help="Table, view, or query:SELECT ... (side A, the baseline); a model with --env-b."
        ),
    ],
    b: Annotated[str | None, typer.Argument(metavar="B", help="Table, view, or query:SELECT ... (side B).")] = None,
    key: Annotated[
        str | None, typer.Option("--key", "-k", help="Key column(s), comma separated (with --env-b: the grain).")
    ] = None,
    where: Annotated[str | None, typer.Option(help="SQL filter applied to both sides.")] = None,
    columns: Annotated[str | None, typer.Option(help="Only these columns, comma separated.")] = None,
    tolerance: Annotated[str | None, typer.Option(help="Float tolerance: abs=...,rel=...")] = None,
    rename: Annotated[
        list[str] | None,
        typer.Option("--rename", help="OLD=NEW: A's column OLD is B's NEW, compared as one (repeatable)."),
    ] = None,
    connection: Connection = None,
    connection_b: Annotated[
        str | None,
        typer.Option(
            "--connection-b", help="Side B's connection (default: side A's). Different engines: checksum-bisect."
        ),
    ] = None,
    env: Annotated[str, typer.Option("--env", help="With --env-b: the environment of side A.")] = PROD,
    env_b: Annotated[
        str | None,
        typer.Option("--env-b", help="Diff model A as --env serves it against this environment's (e.g. dev)."),
    ] = None,
    project: ProjectOpt = Path("."),
    fmt: Annotated[ReportFormat, typer.Option("--format", "-f", help="text, json, md or html.")] = ReportFormat.text,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the report to this file.")] = None,
    exact: ExactOpt = False,
) -> None:
    """Diff two relations: counts, schema, profiles, key-level diff and distributions. Exit 1 when a check fails.

    With --env-b, A names a model and both sides are its views: in --env (default prod) and in --env-b.
    """
    with errors(), ExitStack() as stack:
        if output is not None and output.is_dir():  # found before the diff runs, not after
            raise InputError(f"--output {output} is a directory", hint="name a file, e.g. report.html")
        rel_a: exp.Expr
        rel_b: exp.Expr
        if env_b is not None:
            if b is not None or connection or connection_b:
                raise InputError(
                    "with --env-b, name one model and no second relation or connection",
                    hint=f"dataplan diff {a} --env {env} --env-b {env_b}",
                )
            wh = stack.enter_context(Warehouse.open(project, create=False))
            model, rel_a = model_view(wh.project, wh.store, a, env)
            rel_b = model_view(wh.project, wh.store, a, env_b)[1]
            backend_a = backend_b = wh.backend
            key = key or ",".join(model.spec.grain) or None
            label_a, label_b = f"{model.fqn} in {env}", f"{model.fqn} in {env_b}"
        else:  # relations as written, on the given connections
            if b is None:
                raise InputError("missing side B", hint="dataplan diff A B --key K, or dataplan diff MODEL --env-b dev")
            backend_a = stack.enter_context(_backend(connection, project))
            backend_b = stack.enter_context(_backend(connection_b, project)) if connection_b else backend_a
            side_a = resolve(backend_a, a, _sources(project, connection))
            side_b = resolve(backend_b, b, _sources(project, connection_b or connection))
            _print_notes(side_a.notes + side_b.notes)
            rel_a, rel_b = side_a.relation, side_b.relation
            label_a, label_b = a, b
        bar = stack.enter_context(progress_bar(fmt is ReportFormat.text or output is not None))
        tol = parse_tolerance(tolerance) if tolerance else None
        result = run_diff(
            backend_a,
            rel_a,
            backend_b,
            rel_b,
            key=parse_key(key) if key else None,
            columns=parse_columns(columns) if columns else None,
            where=parse_where(where, backend_a.dialect) if where else None,
            renames=parse_renames(rename or []),
            tolerance=tol,
            label_a=label_a,
            label_b=label_b,
            exact=exact,
            on_progress=bar,
        )
    if fmt is ReportFormat.text and output is None:
        out.print(terminal_report(result))
    else:
        render = {
            ReportFormat.json: to_json,
            ReportFormat.md: markdown_report,
            ReportFormat.html: html_report,
            ReportFormat.text: plain_text,  # what the terminal shows, without colours (not Markdown)
        }[fmt]
        with errors():  # an --output that cannot be written: bad input, exit 2
            _emit(render(result), output)
    raise typer.Exit(result.exit_code)


def profile(
    relation: Annotated[str, typer.Argument(help="Table, view, or query:SELECT ...")],
    where: Annotated[str | None, typer.Option(help="SQL filter.")] = None,
    connection: Connection = None,
    project: ProjectOpt = Path("."),
    fmt: FormatOpt = Format.text,
    exact: ExactOpt = False,
) -> None:
    """Profile one relation (null %, distinct, min, max, mean, quantiles) in one aggregate query."""
    with errors(), _backend(connection, project) as backend:
        named = resolve(backend, relation, _sources(project, connection))
        _print_notes(named.notes)
        filter_ = parse_where(where, backend.dialect) if where else None
        result = profile_relation(backend, named.relation, relation, filter_, exact=exact)
    if fmt is Format.json:
        _emit(result.model_dump_json(indent=2), None)
        return
    t = Table(title=Text(f"profile of {relation}: {result.row_count:,} rows"))
    for col in ("column", "type", "null %", "distinct", "min", "max"):
        t.add_column(col, justify="left" if col in ("column", "type") else "right")
    for c in result.columns:
        t.add_row(
            Text(c.column),
            Text(c.type),
            f"{c.null_pct:.2f}",
            "" if c.distinct is None else f"{c.distinct:,}",
            Text(_cell(c.min)),  # data, not markup
            Text(_cell(c.max)),
        )
    out.print(t)
    numeric = [c for c in result.columns if c.mean is not None and c.kind == "numeric"]
    if numeric:
        quantiles = ("p01", "p25", "p50", "p75", "p99")
        n = Table(title="numeric columns")
        for col in ("column", "mean", "stddev", *quantiles):
            n.add_column(col, justify="left" if col == "column" else "right")

        def num(x: float | None) -> str:
            return "" if x is None else f"{x:,.4g}"

        for c in numeric:
            n.add_row(Text(c.column), num(c.mean), num(c.stddev), *[num(c.quantiles.get(q)) for q in quantiles])
        out.print(n)
    if any(c.approximate for c in result.columns):
        out.print(Text(f"approx.: {result.method} (--exact for exact figures)", style="dim"))


def register(app: typer.Typer) -> None:
    app.command(epilog=examples("diff"))(diff)
    app.command(epilog=examples("profile"))(profile)
