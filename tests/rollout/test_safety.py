"""Pins, --break-lock, and secrets kept out of output, journal and plan documents."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dataplan import InputError, StateError
from dataplan.cli.app import app
from dataplan.rollout.locks import Locks
from tests.conftest import ProjectFactory
from tests.rollout.conftest import FILES, RAW_PG, Deployed

DOUBLE = {
    "models/marts/order_facts.sql": "select order_id, customer_id, amount * 2.0 as amount, status from stg_orders\n"
}
runner = CliRunner()


def test_pinned_version_survives_the_janitor(deployed: Deployed) -> None:
    deployed.change(DOUBLE)
    pid = deployed.plan()
    with deployed.open() as wh:
        wh.apply(pid)
        wh.promote(pid)
        wh.rollback(pid)
        new = {c.model: c.new_version for c in wh.get_plan(pid).changes if c.rebuild}
        # pin the parent: its child (customer_revenue's new version) is not kept by it
        orphan = [new["order_facts"], new["customer_revenue"]]
        wh.pin(orphan[0], "baseline for the Q3 audit")
        with pytest.raises(InputError, match="no version 'nope'"):
            wh.pin("nope", "x")
        result = wh.janitor("0s")
        assert orphan[0] not in result.dropped and result.kept[orphan[0]] == "pinned"
        assert set(result.dropped) == set(orphan[1:])
        # a second person pins it too: removing one pin keeps the other, and nothing is dropped
        wh.pin(orphan[0], "finance reconciliation")
        with pytest.raises(InputError, match="has 2 pins: 'baseline for the Q3 audit'; 'finance reconciliation'"):
            wh.unpin(orphan[0])
        with pytest.raises(InputError, match="has no pin with reason 'q3'"):
            wh.unpin(orphan[0], "q3")
        assert wh.store.pin_reasons(orphan[0]) == ["baseline for the Q3 audit", "finance reconciliation"]
        assert wh.unpin(orphan[0], "baseline for the Q3 audit") == 1
        assert wh.janitor("0s").dropped == []
        assert wh.unpin(orphan[0]) == 1  # the only pin left
        with pytest.raises(InputError, match="is not pinned"):
            wh.unpin(orphan[0])
        assert wh.janitor("0s").dropped == [orphan[0]]
    cli = runner.invoke(app, ["pin", orphan[1], "-p", str(deployed.root), "--all"])
    assert cli.exit_code == 2 and "--all only goes with --remove" in cli.output
    report = runner.invoke(app, ["janitor", "-p", str(deployed.root), "--dry-run", "--ttl", "2d", "--format", "json"])
    assert report.exit_code == 0 and json.loads(report.output)["ttl"] == 2 * 86400  # seconds, not "2 days, 0:00:00"


def test_break_lock_takes_over_a_live_lock_and_is_journaled(deployed: Deployed) -> None:
    deployed.change(DOUBLE)
    pid = deployed.plan()
    with deployed.open() as wh:
        wh.apply(pid)
        Locks(wh.store).acquire("prod", "promote by alice")  # this very process: alive
        with pytest.raises(StateError, match="prod is locked by promote by alice"):
            wh.promote(pid)
        result = wh.promote(pid, break_lock=True)
        assert result.plan.status == "COMPLETE"
        broken = [e for e in wh.log(pid) if e.step == "lock"]
        assert broken and broken[0].outcome == "broken" and broken[0].detail["holder"] == "promote by alice"


def test_build_run_and_env_drop_wait_for_a_rollout_of_the_same_environment(deployed: Deployed) -> None:
    with deployed.open() as wh:
        wh.build("dev")
        before = wh.status("prod")
        locks = Locks(wh.store)
        for env in ("prod", "dev"):
            locks.acquire(env, "promote by alice")  # this very process: alive
        with pytest.raises(StateError, match="prod is locked by promote by alice"):
            wh.build("prod")
        with pytest.raises(StateError, match="prod is locked by promote by alice"):
            wh.run("prod")
        with pytest.raises(StateError, match="dev is locked by promote by alice"):
            wh.drop_environment("dev")
        assert wh.status("prod") == before and "dev" in {e["name"] for e in wh.environments()}
        locks.release("prod")
        locks.release("dev")
        assert wh.drop_environment("dev") and wh.build("prod").environment == "prod"
        assert Locks(wh.store).live() == []  # each released its lock


def test_no_secret_in_output_journal_or_documents(tmp_path: Path, pg_dsn: str, pg_server: object) -> None:
    import psycopg

    uri: str = pg_server.get_uri()  # type: ignore[attr-defined]
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute(
            b"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'deployer') THEN "
            b"CREATE ROLE deployer LOGIN SUPERUSER PASSWORD 'Xy9-very-secret'; END IF; END $$"
        )
    secret_dsn = pg_dsn.replace("postgresql://postgres:@", "postgresql://deployer:Xy9-very-secret@")
    os.environ["SHOP_DSN"] = secret_dsn
    try:
        factory = ProjectFactory(tmp_path / "project", "postgres", lambda: "${SHOP_DSN}")
        root = factory(FILES, raw=False)
        from dataplan import Warehouse
        from tests.conftest import run_sql

        with Warehouse.open(root) as wh:
            run_sql(wh, RAW_PG)
        outputs = [runner.invoke(app, ["build", "-p", str(root)]).output]
        (root / "models/marts/order_facts.sql").write_text(DOUBLE["models/marts/order_facts.sql"])
        planned = runner.invoke(app, ["plan", "-p", str(root), "--format", "json"])
        outputs.append(planned.output)
        pid = __import__("json").loads(planned.output)["plan_id"]
        for cmd in (
            ["apply", pid],
            ["promote", pid],
            ["log", pid],
            ["plan", "show", pid, "--format", "md"],
            ["rollback", pid],
            ["diff", "marts.order_facts", "marts.order_facts", "--key", "order_id", "--format", "json"],
            ["status"],
        ):
            result = runner.invoke(app, [*cmd, "-p", str(root)])
            outputs.append(result.output)
            assert result.exit_code == 0, result.output
        files = [p.read_text() for folder in ("plans", "reports") for p in (root / folder).glob("*")]
        with Warehouse.open(root) as wh:
            journal = [str(e.detail) for e in wh.log(pid)]
            bodies = [
                str(r)
                for r in wh.backend.fetch_rows(__import__("sqlglot").parse_one("select body from _dataplan.plans"))
            ]
        assert files and journal and bodies
        for text in outputs + files + journal + bodies:
            assert "Xy9-very-secret" not in text
    finally:
        os.environ.pop("SHOP_DSN", None)
