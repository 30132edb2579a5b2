"""`dataplan demo`'s report: paths and commands that can be copied and pasted, at any terminal width."""

from __future__ import annotations

import shlex
from pathlib import Path

from rich.console import Console

from dataplan.cli.render import demo_result
from dataplan.demo.story import ChangeOutcome, DemoResult, Stage, next_commands

DIRECTORY = Path("/home/someone/projects/a rather long directory name/my demo [v2]")
DP = "/home/someone/projects/dataplan/.venv/bin/dataplan"


def _result() -> DemoResult:
    result = DemoResult(DIRECTORY, 1000)
    result.stages = [Stage("project", f"project already in {DIRECTORY}; kept as is", 0.0, reused=True)]
    change = ChangeOutcome("drop unknown industry", "Leave accounts with an unknown industry out [of] it.")
    change.plan_id, change.status = "20261122_a074f7", "ROLLED BACK"
    change.document = "plans/2026-11-22-account-health-drop-unknown-industry-a074f7.md"
    change.reports = ["reports/plan-20261122_a074f7-marts-account_health.html"]
    change.messages = ["rolled back [red]by[/] a trigger"]
    result.changes = [change]
    result.dashboard = DIRECTORY / "reports" / "dashboard-prod.html"
    result.next_commands = next_commands(DP, DIRECTORY, ["20261122_99f868", "20261122_a074f7"])
    return result


def _printed(result: DemoResult) -> list[str]:
    console = Console(width=80, record=True, color_system=None)
    demo_result(console, result)
    return console.export_text().splitlines()


def test_next_commands_quote_the_directory_and_name_the_plan() -> None:
    where = shlex.quote(str(DIRECTORY))
    commands = next_commands(DP, DIRECTORY, ["20261122_99f868", "20261122_a074f7"])
    assert commands[1] == f"{DP} log 20261122_a074f7 -p {where}  # the journal of a rollout"
    assert commands[2] == f"cd {where} && {DP} status  # every model up to date"
    assert shlex.split(commands[0], comments=True) == [DP, "plan", "list", "-p", str(DIRECTORY)]
    assert "<plan id>" in next_commands(DP, DIRECTORY, [])[1]  # nothing shipped: nothing to name


def test_paths_and_commands_are_printed_whole_at_80_columns() -> None:
    lines = _printed(_result())
    for command in next_commands(DP, DIRECTORY, ["20261122_99f868", "20261122_a074f7"]):
        assert f"  {command}" in lines  # one line each: a pasted line runs what it shows, comment included
    for path in (
        DIRECTORY / "plans/2026-11-22-account-health-drop-unknown-industry-a074f7.md",
        DIRECTORY / "reports/plan-20261122_a074f7-marts-account_health.html",
        DIRECTORY / "warehouse.duckdb",
    ):
        assert any(line.endswith(str(path)) for line in lines), path
    assert f"dashboard: {DIRECTORY}/reports/dashboard-prod.html (open it in a browser; it works offline)" in lines
    # user text with brackets prints as written
    assert "  rolled back [red]by[/] a trigger" in lines
    assert "Leave accounts with an unknown industry out [of] it." in lines
    assert "  plan 20261122_a074f7 -> ROLLED BACK" in lines
