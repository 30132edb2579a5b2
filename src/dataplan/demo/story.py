"""`dataplan demo`: the customer-lifecycle project (seed 002), end to end, in stages.

Each stage is a small function returning what it did, so later capabilities
(plans, verification, promotion, rollback) add stages without touching the
earlier ones.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml

from dataplan.build.builder import BuildResult
from dataplan.demo.changes import CHURN_DEFINITION, DROP_UNKNOWN_INDUSTRY, MODEL_FILE, Change
from dataplan.demo.generate import generate
from dataplan.errors import InputError, MissingDriverError
from dataplan.plan.model import Plan
from dataplan.secrets import register_dsn
from dataplan.verify.diff import describe_connection
from dataplan.verify.testing import TestRun
from dataplan.warehouse import Warehouse

EXAMPLE = "customer_lifecycle"
ACCOUNT_HEALTH = "marts.account_health"  # the model the demo's two changes edit (MODEL_FILE)
Engine = Literal["duckdb", "postgres"]
DSN_VARIABLE = "WAREHOUSE_DSN"  # where the demo on Postgres finds its server (docs/project-format.md's name)
STATE_FILE = ".dataplan-demo.json"
Progress = Callable[[str, int, int], None]
SETTLED = ("COMPLETE", "ROLLED BACK")  # plan statuses a second run reuses instead of shipping again


@dataclass
class Stage:
    name: str
    summary: str
    seconds: float
    reused: bool = False


@dataclass
class ChangeOutcome:
    name: str
    objective: str
    plan_id: str | None = None
    status: str = "not planned"
    document: str | None = None
    reports: list[str] = field(default_factory=list)
    impacted: list[str] = field(default_factory=list)  # "fqn (category)"
    contract_changes: int = 0
    risks: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)  # "criteria: actual (outcome)"
    post_checks: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)


@dataclass
class DemoResult:
    directory: Path
    customers: int
    engine: Engine = "duckdb"
    warehouse: str = ""  # where the warehouse is, with no secret (describe_connection)
    stages: list[Stage] = field(default_factory=list)
    build: BuildResult | None = None
    tests: TestRun | None = None
    dashboard: Path | None = None
    changes: list[ChangeOutcome] = field(default_factory=list)
    next_commands: list[str] = field(default_factory=list)


def _timed(result: DemoResult, name: str, fn: Callable[[], tuple[str, bool]]) -> None:
    t0 = time.perf_counter()
    summary, reused = fn()
    result.stages.append(Stage(name, summary, time.perf_counter() - t0, reused))


def _connection_block(engine: Engine) -> str:
    if engine == "postgres":  # the secret stays in the environment; the file names the variable
        return f"connection:\n  type: postgres\n  dsn: ${{{DSN_VARIABLE}}}\n"
    return "connection:\n  type: duckdb\n  path: warehouse.duckdb\n"


def check_engine(directory: Path, engine: Engine) -> None:
    """Refuse, before anything is written, a demo on Postgres without its DSN, or on another engine than
    the project already in ``directory``."""
    if engine == "postgres":
        dsn = os.environ.get(DSN_VARIABLE)
        if not dsn:
            raise InputError(
                f"the demo on Postgres reads the server's connection string from {DSN_VARIABLE}, which is not set",
                hint=f"export {DSN_VARIABLE}=postgresql://user@host:5432/database, then run the demo again",
            )
        try:
            from dataplan.backends.postgres import PostgresBackend
        except ImportError as exc:
            raise MissingDriverError(
                "the demo on Postgres needs the psycopg driver", hint="pip install 'dataplan[postgres]'"
            ) from exc
        register_dsn(dsn)  # the password stays out of any message
        PostgresBackend(dsn).close()  # a server that does not answer fails here, before any file is written
    config = directory / "dataplan.yml"
    if config.exists():
        try:
            settings = yaml.safe_load(config.read_text(encoding="utf-8"))
        except yaml.YAMLError:
            settings = None  # loading the project says what is wrong, with its line
        connection = settings.get("connection") if isinstance(settings, dict) else None
        has = connection.get("type") if isinstance(connection, dict) else None
        if has in ("duckdb", "postgres") and has != engine:
            raise InputError(
                f"the demo project in {directory} runs on {has}, not {engine}",
                hint=f"run the demo on {engine} in another directory (dataplan demo DIR --engine {engine})",
            )


def create_project(directory: Path, engine: Engine = "duckdb") -> tuple[str, bool]:
    if (directory / "dataplan.yml").exists():
        return f"project already in {directory}; kept as is", True
    src = resources.files("dataplan") / "examples" / EXAMPLE
    with resources.as_file(src) as path:
        shutil.copytree(path, directory, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    config = directory / "dataplan.yml"
    text = config.read_text(encoding="utf-8")
    if _connection_block("duckdb") not in text:  # the packaged example changed: never run on the wrong engine
        raise RuntimeError(f"{EXAMPLE}/dataplan.yml no longer holds the DuckDB connection block the demo replaces")
    config.write_text(text.replace(_connection_block("duckdb"), _connection_block(engine)), encoding="utf-8")
    where = f" (Postgres at ${DSN_VARIABLE})" if engine == "postgres" else ""
    return f"copied the {EXAMPLE} example project to {directory}{where}", False


def generate_data(directory: Path, customers: int, seed: int) -> tuple[str, bool]:
    marker = directory / STATE_FILE
    wanted = {"customers": customers, "seed": seed}
    if marker.exists() and json.loads(marker.read_text()).get("data") == wanted:
        return f"raw data for {customers:,} customers already generated; reused", True
    result = generate(directory, customers=customers, seed=seed)
    marker.write_text(json.dumps({"data": wanted}))
    rows = sum(result.rows.values())
    return (
        f"generated {rows:,} raw rows in {len(result.rows)} datasets over {len(result.load_dates)} daily "
        f"loads under data/raw/"
    ), False


def _edited(directory: Path) -> list[tuple[str, str, str]]:
    """(model, state, file) of each model prod does not run as the project has it; none without prod."""
    with Warehouse.open(directory) as wh:
        if not any(e["name"] == "prod" for e in wh.environments()):
            return []  # an earlier run stopped before building prod: nothing to bypass
        paths = {m.fqn: m.path for m in wh.project.models.values()}
        return [
            (m.fqn, m.state, str(paths[m.fqn].relative_to(directory)) if m.fqn in paths else "")
            for m in wh.status("prod").models
            if m.state != "up to date"
        ]


def _own_edits(directory: Path) -> bool:
    """The model file holds only the demo's own changes (a run stopped between editing it and promoting
    the change, or before undoing the rolled-back one): undo them, the rolled-back one first, until prod
    runs the project. False, with the file as it was, when that is not enough."""
    path = directory / MODEL_FILE
    text = path.read_text(encoding="utf-8")
    with resources.as_file(resources.files("dataplan") / "examples" / EXAMPLE / MODEL_FILE) as packaged:
        original = packaged.read_text(encoding="utf-8")
    churn = original.replace(CHURN_DEFINITION.before, CHURN_DEFINITION.after, 1)
    own = {original, churn}
    own |= {t.replace(DROP_UNKNOWN_INDUSTRY.before, DROP_UNKNOWN_INDUSTRY.after, 1) for t in (original, churn)}
    if text not in own:
        return False
    for change in (DROP_UNKNOWN_INDUSTRY, CHURN_DEFINITION):
        if change.revert(directory) and not _edited(directory):
            return True
    path.write_text(text, encoding="utf-8")
    return False


def refuse_hand_edits(directory: Path) -> None:
    """A second run builds prod from the project as the demo left it, so a model edited since (by hand,
    as the demo's closing hints invite) stops it: building would put the edit in prod without a plan."""
    edited = _edited(directory)
    if not edited or ([m for m, _, _ in edited] == [ACCOUNT_HEALTH] and _own_edits(directory)):
        return
    shown = ", ".join(f"{m} ({state}{', ' + file if file else ''})" for m, state, file in edited)
    raise InputError(
        f"the project in {directory} differs from what prod runs: {shown}",
        hint=(
            "the demo would build that into prod without a plan: ship it with `dataplan plan`, `apply` and "
            "`promote` (or undo it), or run the demo in a new directory"
        ),
    )


def run_demo(
    directory: Path,
    customers: int = 10_000,
    seed: int = 42,
    progress: Progress | None = None,
    engine: Engine = "duckdb",
) -> DemoResult:
    directory = directory.resolve()
    check_engine(directory, engine)
    directory.mkdir(parents=True, exist_ok=True)
    result = DemoResult(directory, customers, engine)
    _timed(result, "project", lambda: create_project(directory, engine))
    if result.stages[-1].reused:
        refuse_hand_edits(directory)  # before new data is written: a refused run changes nothing
    _timed(result, "data", lambda: generate_data(directory, customers, seed))
    regenerated = not result.stages[-1].reused
    with Warehouse.open(directory) as wh:
        result.warehouse = describe_connection(wh.backend)
        # prod's tables hold what they computed from the data of an earlier run; a build with no model
        # change reuses them, so regenerated data must be read into them again (what a scheduler's run does).
        had_prod = any(e["name"] == "prod" for e in wh.environments()) if regenerated else False

        def build() -> tuple[str, bool]:
            result.build = wh.build("prod", progress=progress)
            if result.build.nothing_to_do:
                return f"prod already up to date ({len(result.build.actions)} models reused)", True
            loaded = result.build.loaded
            copied = f" (after loading {len(loaded)} raw datasets into _dataplan_files)" if loaded else ""
            return (
                f"built {len(result.build.created)} versions and pointed {len(result.build.repointed)} prod "
                f"views{copied}"
            ), False

        def refresh() -> tuple[str, bool]:
            run = wh.run("prod", progress=progress)
            tables = sum(1 for a in run.refreshed if a.action == "recomputed")
            return f"raw data was regenerated: recomputed {tables} prod tables from it (views read it as is)", False

        def test() -> tuple[str, bool]:
            result.tests = wh.test("prod", progress=progress)
            t = result.tests
            return f"{len(t.passed)} tests passed, {len(t.warned)} warned, {len(t.failed)} failed", False

        def dashboard() -> tuple[str, bool]:
            result.dashboard, charts = wh.dashboard("prod")
            return f"{charts} charts rendered to {result.dashboard.relative_to(directory)}", False

        _timed(result, "build", build)
        if had_prod:
            _timed(result, "refresh", refresh)
        _timed(result, "test", test)
        _timed(result, "dashboard", dashboard)
    for change, keep in ((CHURN_DEFINITION, True), (DROP_UNKNOWN_INDUSTRY, False)):
        outcome = ChangeOutcome(change.name, change.objective)
        result.changes.append(outcome)
        _timed(result, f"change: {change.name}", partial(ship_change, directory, change, outcome, keep))
    result.next_commands = next_commands(_command(), directory, [c.plan_id for c in result.changes if c.plan_id])
    return result


def next_commands(dp: str, directory: Path, plan_ids: list[str]) -> list[str]:
    """What to try after the demo, each line a command to paste as is (with its comment)."""
    where = shlex.quote(str(directory))  # a directory with a space must stay one argument when pasted
    log_id = plan_ids[-1] if plan_ids else "<plan id>"  # the rolled-back change: its journal has the most to show
    return [
        f"{dp} plan list -p {where}  # the plans and their status",
        f"{dp} log {log_id} -p {where}  # the journal of a rollout",
        f"cd {where} && {dp} status  # every model up to date",
        "# edit models/marts/account_health.sql, then:",
        f"{dp} plan --objective '...'  # impact, contract changes, risk -> plans/*.md",
        f"{dp} apply <plan id>  # build in plan_<id>, baseline, verify with data diffs",
        f"{dp} promote <plan id>  # atomic view swap; automatic rollback if a check fires",
        f"{dp} rollback <plan id>",
    ]


def _command() -> str:
    """How the user runs dataplan: ``dataplan`` when it is on PATH, else the full path of the script that
    ran this demo (``make demo`` runs ``.venv/bin/dataplan``, which an inactive venv leaves off PATH)."""
    if shutil.which("dataplan"):
        return "dataplan"
    script = Path(sys.argv[0])
    return shlex.quote(str(script.resolve())) if script.name == "dataplan" and script.is_file() else "dataplan"


def _title(change: Change) -> str:
    return f"Account health: {change.name}"


def _settled_plan(wh: Warehouse, change: Change) -> Plan | None:
    """The latest plan of ``change`` against prod that was promoted for good or rolled back, if any."""
    for row in reversed(wh.plans("prod")):
        if row["title"] == _title(change) and row["status"] in SETTLED:
            return wh.get_plan(str(row["plan_id"]))
    return None


def _reuse(plan: Plan, outcome: ChangeOutcome) -> None:
    outcome.plan_id, outcome.status, outcome.document = plan.plan_id, plan.status, plan.document
    outcome.impacted = [f"{c.fqn} ({c.change}, {c.category})" for c in plan.changes]
    outcome.contract_changes = len(plan.contract_changes)
    outcome.risks = [f"{r.risk} [{r.likelihood}/{r.impact}]" for r in plan.risks]
    outcome.reports = list(plan.reports)
    outcome.checks = [f"{c.criteria}: {c.actual} ({c.outcome})" for c in plan.checks]
    if plan.status == "ROLLED BACK":
        outcome.messages = [f"rolled back by an earlier run: {plan.rollback_reason or 'no reason recorded'}"]
    else:
        outcome.messages = ["promoted by an earlier run"]


def ship_change(directory: Path, change: Change, outcome: ChangeOutcome, keep: bool) -> tuple[str, bool]:
    """Edit, plan, apply, promote; ``keep=False`` undoes the edit afterwards (a change that was rolled back).

    A change an earlier run already settled is not shipped again: a rolled-back plan is reported as
    it ended, and so is a promoted one while the project still holds the edit.
    """
    with Warehouse.open(directory) as wh:
        earlier = _settled_plan(wh, change)
    if earlier is not None and earlier.status == "ROLLED BACK":
        _reuse(earlier, outcome)
        return f"plan {earlier.plan_id} was rolled back by an earlier run; not shipped again", True
    if earlier is not None and (not keep or change.after in (directory / MODEL_FILE).read_text(encoding="utf-8")):
        _reuse(earlier, outcome)
        return f"plan {earlier.plan_id} already promoted by an earlier run; nothing to do", True
    change.apply(directory)
    try:
        with Warehouse.open(directory) as wh:
            plan = wh.plan("prod", objective=change.objective, title=_title(change))
            if plan.is_empty:
                outcome.status = "already in prod"
                return "already promoted by an earlier run; nothing to do", True
            outcome.plan_id, outcome.document = plan.plan_id, plan.document
            outcome.impacted = [f"{c.fqn} ({c.change}, {c.category})" for c in plan.changes]
            outcome.contract_changes = len(plan.contract_changes)
            outcome.risks = [f"{r.risk} [{r.likelihood}/{r.impact}]" for r in plan.risks]
            applied = wh.apply(plan.plan_id)
            outcome.reports = list(applied.plan.reports)
            outcome.checks = [f"{c.criteria}: {c.actual} ({c.outcome})" for c in applied.plan.checks]
            if applied.exit_code and change.force_reason is None:
                outcome.status = applied.plan.status
                outcome.messages = applied.messages
                return f"plan {plan.plan_id} applied; verification failed, not promoted", False
            forced = bool(applied.exit_code)
            promoted = wh.promote(plan.plan_id, force=forced, reason=change.force_reason if forced else None)
            outcome.status = promoted.plan.status
            outcome.post_checks = [f"{p.name}: {p.detail} ({p.outcome})" for p in promoted.post_checks]
            outcome.messages = promoted.messages
            if forced:
                outcome.messages = [
                    f"verification failed, so promote refused it; forced: {change.force_reason}",
                    *outcome.messages,
                ]
            return f"plan {plan.plan_id}: {promoted.action}", False
    finally:
        if not keep:
            change.revert(directory)  # the project goes back to what prod runs
