"""What the CLI prints: whole names at 80 columns, user text never read as markup, no traceback, exit codes."""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console
from rich.progress import Progress
from typer.testing import CliRunner

from dataplan.cli import common, render
from dataplan.cli.app import app, main
from dataplan.plan.model import Plan
from dataplan.rollout.journal import figures
from dataplan.warehouse import Warehouse
from tests.conftest import SHOP_FILES, ProjectFactory, write_files

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


# --- 80 columns --------------------------------------------------------------------------------------


def test_build_status_run_test_keep_whole_names_at_80_columns(duck_project: ProjectFactory, width80: None) -> None:
    root = duck_project(LONG_FILES)
    built = runner.invoke(app, ["build", "-p", str(root)])
    assert built.exit_code == 0, built.output
    for name in (f"staging.{LONG}", f"staging.{LONGER}", "marts.customer_totals"):
        assert name in built.output, built.output
    assert max(len(line) for line in lines_of(built.output)) <= 80

    status = runner.invoke(app, ["status", "-p", str(root)])
    assert status.exit_code == 0, status.output
    assert f"staging.{LONG}" in status.output and f"staging.{LONGER}" in status.output
    with Warehouse.open(root) as wh:
        version = {m.model: m.version_id for m in wh.status("prod").models}[LONG]
    assert version is not None
    fingerprint = version.rsplit("__", 1)[1]
    row = next(line for line in lines_of(status.output) if f"staging.{LONG}" in line)
    assert fingerprint in row and "up to date" in row  # the model's row holds its fingerprint, uncut
    assert max(len(line) for line in lines_of(status.output)) <= 80

    ran = runner.invoke(app, ["run", "-p", str(root)])
    assert ran.exit_code == 0 and f"staging.{LONG}" in ran.output and fingerprint in ran.output

    tested = runner.invoke(app, ["test", "-p", str(root)])
    assert tested.exit_code == 1, tested.output
    assert max(len(line) for line in lines_of(tested.output)) <= 80
    out = lines_of(tested.output)
    assert any(line.startswith(f"staging.{LONG} ") for line in out)
    assert any(line.startswith(f"{SINGULAR} ") and "(singular)" in line for line in out)
    # each failing test is named whole on its own line under the table, its sample on the next
    failing = [i for i, line in enumerate(out) if line.startswith("fail ")]
    assert [out[i] for i in failing] == [f"fail staging.{LONG} accepted_values(status)", f"fail {SINGULAR}"]
    assert out[failing[0] + 1] == '  [{"order_id": 4, "customer_id": "c3", "amount": 1.0, "status": "test"}]'
    assert out[failing[1] + 1].startswith('  [{"order_id": 4, "customer_id": "c3"')


def test_test_table_has_no_sample_column(duck_project: ProjectFactory) -> None:
    root = duck_project(LONG_FILES)
    assert runner.invoke(app, ["build", "-p", str(root)]).exit_code == 0
    with Warehouse.open(root) as wh:
        run = wh.test("prod")
    console = Console(width=80, record=True, color_system=None)
    render.test_run(console, run)
    text = console.export_text()
    header = next(line for line in lines_of(text) if line.startswith("node"))
    assert header.split() == ["node", "test", "outcome", "failing"]
    assert f"{len(run.passed)} passed, 0 warned, 2 failed" in text


def test_plan_list_and_plan_fit_80_columns(duck_project: ProjectFactory, width80: None) -> None:
    root = duck_project(LONG_FILES)
    assert runner.invoke(app, ["build", "-p", str(root)]).exit_code == 0
    write_files(root, {f"models/staging/{LONG}.sql": "select order_id, customer_id, amount * 2 as amount, status "
                                                      "from raw.orders\n"})  # fmt: skip
    planned = runner.invoke(app, ["plan", "-p", str(root), "--title", "Double the amounts of the billing history"])
    assert planned.exit_code == 0, planned.output
    assert f"staging.{LONG}   directly " in planned.output
    # only the document's path is longer: printed whole, so that it can be copied
    assert [line for line in lines_of(planned.output) if len(line) > 80] == [
        next(line for line in lines_of(planned.output) if line.startswith("plan document: plans/"))
    ]
    listed = runner.invoke(app, ["plan", "list", "-p", str(root)])
    assert listed.exit_code == 0
    assert max(len(line) for line in lines_of(listed.output)) <= 80, listed.output
    with Warehouse.open(root) as wh:
        plan_id = str(wh.plans()[0]["plan_id"])
    assert plan_id in listed.output


def test_log_summarises_model_maps() -> None:
    detail = {"target": "prod", "before": {f"m{i}": f"v{i}" for i in range(18)}, "failed": ["row count", "tests"]}
    assert figures(detail) == "target=prod, before=18 models, failed=row count; tests"
    assert figures({"restores": {"a": "v"}, "fired": []}) == "restores=1 model, fired=none"
    # An engine's multi-line error stays on the one line of its journal row (and of the .log.md table).
    assert figures({"error": "Conversion Error:\nLINE 1: select"}) == "error=Conversion Error: LINE 1: select"


# --- user text is never markup ---------------------------------------------------------------------------


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


# --- no traceback ------------------------------------------------------------------------------------------


def test_an_unexpected_exception_is_one_line_and_exit_3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "shop"
    assert runner.invoke(app, ["init", str(project)]).exit_code == 0
    assert runner.invoke(app, ["build", "-p", str(project)]).exit_code == 0  # status reads a database

    def broken(self: Warehouse, environment: str = "prod") -> None:
        raise ZeroDivisionError("boom [/] here")

    monkeypatch.setattr(Warehouse, "status", broken)
    result = runner.invoke(app, ["status", "-p", str(project)])
    assert result.exit_code == common.INTERNAL_EXIT == 3
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.stderr.startswith("error: internal error: ZeroDivisionError: boom [/] here\n")
    assert "please report it" in result.stderr and "Traceback" not in result.output
    monkeypatch.setenv("DATAPLAN_DEBUG", "1")  # for whoever fixes it
    debugged = runner.invoke(app, ["status", "-p", str(project)])
    assert debugged.exit_code == 3 and debugged.stderr.startswith("Traceback (most recent call last):")
    assert 'raise ZeroDivisionError("boom [/] here")' in debugged.stderr


def test_main_catches_what_rendering_raises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "shop"
    assert runner.invoke(app, ["init", str(project)]).exit_code == 0
    assert runner.invoke(app, ["build", "-p", str(project)]).exit_code == 0  # status reads a database

    def broken(*args: object) -> None:
        raise KeyError("column")

    monkeypatch.setattr(render, "status", broken)  # outside the command's errors()
    monkeypatch.setattr(sys, "argv", ["dataplan", "status", "-p", str(project)])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 3
    assert capsys.readouterr().err.startswith("error: internal error: KeyError: 'column'")


# --- small ones ------------------------------------------------------------------------------------------


def test_status_of_an_environment_that_does_not_exist_is_bad_input(duck_project: ProjectFactory) -> None:
    root = duck_project()
    fresh = runner.invoke(app, ["status", "-p", str(root)])  # prod before the first build: still a status
    assert fresh.exit_code == 0 and "does not exist yet" in fresh.output
    assert runner.invoke(app, ["build", "-p", str(root)]).exit_code == 0
    for command in ("status", "test"):
        result = runner.invoke(app, [command, "-p", str(root), "--env", "devv"])
        assert result.exit_code == 2, (command, result.output)
        # no blank line first: the error is the first thing on stderr
        assert result.stderr.startswith("error: environment devv does not exist\nhint: run `dataplan build"), (
            command,
            result.stderr,
        )
    assert "(environments: prod)" in runner.invoke(app, ["status", "-p", str(root), "--env", "devv"]).stderr


def test_progress_shows_no_total_before_it_is_known() -> None:
    column = common._Count()
    with Progress(column, console=Console(file=None, width=80), disable=True) as bar:
        task = bar.add_task("starting", total=None)
        assert column.render(bar.tasks[task]).plain == ""
        bar.update(task, completed=3, total=18)
        assert column.render(bar.tasks[task]).plain == "3/18"


def test_plan_with_no_change_prints_no_plan_id(duck_project: ProjectFactory) -> None:
    root = duck_project()
    assert runner.invoke(app, ["build", "-p", str(root)]).exit_code == 0
    result = runner.invoke(app, ["plan", "-p", str(root)])
    assert result.exit_code == 0
    assert result.output == "nothing to plan: prod matches the project\n"
    payload = json.loads(runner.invoke(app, ["plan", "-p", str(root), "-f", "json"]).output)
    assert payload["saved"] is False and payload["changes"] == []
    document = runner.invoke(app, ["plan", "-p", str(root), "-f", "md"]).output
    assert document == "Nothing to plan: `prod` matches the project.\n"  # no document with an unsaved id
    with Warehouse.open(root) as wh:
        assert wh.plans() == []
    write_files(root, {"models/marts/region_totals.sql": "select region, sum(total) * 1 as total "
                                                         "from marts.customer_totals group by region\n"})  # fmt: skip
    saved = json.loads(runner.invoke(app, ["plan", "-p", str(root), "-f", "json"]).output)
    assert saved["saved"] is True
    with Warehouse.open(root) as wh:
        assert [p["plan_id"] for p in wh.plans()] == [saved["plan_id"]]
    explained = json.loads(runner.invoke(app, ["plan", "-p", str(root), "-f", "json", "--explain"]).output)
    assert explained["saved"] is False
    shown = json.loads(runner.invoke(app, ["plan", "show", saved["plan_id"], "-p", str(root), "-f", "json"]).output)
    assert "saved" not in shown  # a stored plan's JSON is what is stored
    assert shown == {k: v for k, v in saved.items() if k != "saved"}


def test_diff_text_output_file_is_text(tmp_path: Path) -> None:
    project = tmp_path / "shop"
    assert runner.invoke(app, ["init", str(project)]).exit_code == 0
    assert runner.invoke(app, ["build", "-p", str(project)]).exit_code == 0
    report = tmp_path / "report.txt"
    args = ["diff", "staging.stg_orders", "staging.stg_orders", "--key", "order_id", "-p", str(project)]
    result = runner.invoke(app, [*args, "-o", str(report)])
    assert result.exit_code == 0, result.output
    text = report.read_text()
    assert text.startswith("╭─ dataplan diff") and "Schema: identical" in text
    assert "checks passed" in text and "#" not in text.split("\n")[0]
    assert "\x1b[" not in text  # no colour codes in a file
    assert not any(line.startswith("## ") for line in text.splitlines())  # not Markdown


# --- check outcomes ------------------------------------------------------------------------------------


def test_a_non_blocking_check_that_failed_says_fail_and_non_blocking_not_info(
    width80: None, capsys: pytest.CaptureFixture[str]
) -> None:
    from dataplan.cli.rollout_cmd import _show
    from dataplan.rollout.executor import RolloutResult
    from dataplan.rollout.verification import Verification
    from tests.plan.test_document import churn_plan

    plan = churn_plan()
    for check, outcome, blocking in zip(
        plan.checks, ["fail", "warn", "pass", "fail"], [False, False, False, True], strict=False
    ):
        check.outcome, check.blocking, check.actual = outcome, blocking, "figures"  # type: ignore[assignment]
    _show(RolloutResult(plan=plan, action="applied", verification=Verification(plan.checks, {})), common.Format.text)
    text = capsys.readouterr().out
    assert "(info)" not in text
    assert text.count("fail · non-blocking") == 1 and text.count("warn · non-blocking") == 1
    assert "pass · non-blocking" not in text  # a pass blocks nothing either way
    rows = {line.split("│")[1].strip(): line.split("│")[-2].strip() for line in lines_of(text) if "│ " in line}
    assert rows["Row count unchanged"] == "fail · non-blocking" and rows["Contract holds"] == "fail"
    # the helper itself: the word stays honest; only a non-blocking check that did not pass says so
    assert render.check_outcome("fail", blocking=False).plain == "fail · non-blocking"
    assert render.check_outcome("fail", blocking=True).plain == "fail"
    assert render.check_outcome("pass", blocking=False).plain == "pass"
    assert render.check_outcome(None).plain == "pending"


def _shown(plan: Plan) -> str:
    from dataplan.cli.plan_cmd import show_plan

    console = Console(record=True, width=80, color_system=None)
    show_plan(console, plan, "text")
    return console.export_text()


def test_plan_show_of_a_complete_plan_has_its_verification_and_post_promotion_checks() -> None:
    from dataplan.plan.model import PostCheck
    from tests.plan.test_document import churn_draft_plan, complete_plan

    plan = complete_plan()
    text = _shown(plan)
    verification = text.split("Verification in plan_p2b61d0e4: every blocking check passed")[1]
    for check in plan.checks:  # each check's figures and outcome, as apply recorded them
        row = next(line for line in lines_of(verification) if line.startswith(check.criteria[:20]))
        assert (check.actual or "")[:15] in row and row.rstrip().endswith(check.outcome or "?"), row
    post = text.split("Post-promotion checks in prod")[1]
    assert "row count marts.revenue_daily" in post and "3,650 -> 3,650 rows" in post
    assert "2 passed, 0 failed" in post and post.count(" pass") >= 2
    assert text.index("Verification in") < text.index("Rollout steps") < text.index("Post-promotion checks")
    # a post-promotion failure says whether it rolled the plan back
    plan.post_checks = [
        PostCheck(name="row count marts.revenue_daily", outcome="fail", detail="-3%", triggers_rollback=True),
        PostCheck(name="tests", outcome="fail", detail="1 failed"),
    ]
    post = _shown(plan).split("Post-promotion checks in prod")[1]
    assert "fail, rolled back" in post and "fail, below trigger" in post
    # a draft has nothing measured yet: neither table
    draft = _shown(churn_draft_plan())
    assert "Verification in plan_" not in draft and "Post-promotion checks in" not in draft
