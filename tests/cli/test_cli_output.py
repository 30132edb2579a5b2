"""What the CLI prints: whole names at 80 columns, user text never read as markup, no traceback, exit codes."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dataplan.cli import common, render
from dataplan.cli.app import app, main
from dataplan.warehouse import Warehouse
from tests.conftest import SHOP_FILES

runner = CliRunner()

# Names longer than an 80-column table leaves them when every column shares the width evenly.
LONG = "stg_billing_subscriptions_history"
LONGER = "stg_billing_subscriptions_current"
SINGULAR = "orders_from_customers_nobody_knows_about"
LONG_FILES = {
    **SHOP_FILES,
    f"models/staging/{LONG}.sql": "select order_id, customer_id, amount, status from raw.orders\n",
    f"models/staging/{LONGER}.sql": "select order_id, customer_id, status from raw.orders where status = 'paid'\n",
    "models/staging/staging.yml": f"""
        models:
          - name: {LONG}
            columns:
              - name: status
                tests:
                  - accepted_values: {{values: [paid, refunded, cancelled_by_customer]}}
    """,
    f"tests/{SINGULAR}.sql": "select * from raw.orders where customer_id = 'c3'\n",
}


@pytest.fixture
def width80() -> Iterator[None]:
    """The CLI's console at 80 columns, whatever the terminal running the tests."""
    saved = common.out._width  # not monkeypatch: its undo would pin the width it read for later tests
    common.out.width = 80
    yield
    common.out._width = saved


def lines_of(output: str) -> list[str]:
    return output.splitlines()


@pytest.mark.parametrize("name", ["a[/]", "b[red]x", "c d [bold]"])
def test_init_prints_the_directory_as_given(tmp_path: Path, name: str) -> None:
    target = tmp_path / name
    result = runner.invoke(app, ["init", str(target)])
    assert result.exit_code == 0, result.output
    assert f"Created a dataplan project in {target}." in result.output
    assert f"cd {shlex.quote(str(target))} && dataplan build" in result.output  # pastes as one argument
    assert (target / "dataplan.yml").exists()


def test_dashboard_and_diff_outputs_with_brackets(tmp_path: Path) -> None:
    project = tmp_path / "shop"
    assert runner.invoke(app, ["init", str(project)]).exit_code == 0
    assert runner.invoke(app, ["build", "-p", str(project)]).exit_code == 0
    html = tmp_path / "d[/]x.html"
    result = runner.invoke(app, ["dashboard", "-p", str(project), "-o", str(html)])
    assert result.exit_code == 0, result.output
    assert f"to {html}" in result.output and html.exists()
    report = tmp_path / "r[/]x.md"
    diffed = runner.invoke(
        app, ["diff", "staging.stg_orders", "staging.stg_orders", "-p", str(project), "-f", "md", "-o", str(report)]
    )
    assert diffed.exit_code == 0, diffed.output
    assert f"wrote {report}" in diffed.output and report.exists()


def test_an_unexpected_exception_is_one_line_and_exit_3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "shop"
    assert runner.invoke(app, ["init", str(project)]).exit_code == 0

    def broken(self: Warehouse, environment: str = "prod") -> None:
        raise ZeroDivisionError("boom [/] here")

    monkeypatch.setattr(Warehouse, "status", broken)
    result = runner.invoke(app, ["status", "-p", str(project)])
    assert result.exit_code == common.INTERNAL_EXIT == 3
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.stderr.startswith("error: internal error: ZeroDivisionError: boom [/] here\n")
    assert "please report it" in result.stderr and "Traceback" not in result.output


def test_main_catches_what_rendering_raises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "shop"
    assert runner.invoke(app, ["init", str(project)]).exit_code == 0

    def broken(*args: object) -> None:
        raise KeyError("column")

    monkeypatch.setattr(render, "status", broken)  # outside the command's errors()
    monkeypatch.setattr(sys, "argv", ["dataplan", "status", "-p", str(project)])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 3
    assert capsys.readouterr().err.startswith("error: internal error: KeyError: 'column'")
