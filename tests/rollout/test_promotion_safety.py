"""What a promotion leaves behind stays restorable: abandon, the janitor, rollback of the wrong plan, --to ENV."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from dataplan import InputError, StateError
from dataplan.cli.app import app
from dataplan.rollout.locks import Locks
from dataplan.state.store import now
from tests.rollout.conftest import Deployed, run_cli, state_of

DOUBLE = {
    "models/marts/order_facts.sql": "select order_id, customer_id, amount * 2.0 as amount, status from stg_orders\n"
}
TRIPLE = {
    "models/marts/order_facts.sql": "select order_id, customer_id, amount * 3.0 as amount, status from stg_orders\n"
}
runner = CliRunner()


def promoted(deployed: Deployed, files: dict[str, str], **promote: object) -> str:
    deployed.change(files)
    pid = deployed.plan()
    with deployed.open() as wh:
        assert wh.apply(pid).exit_code == 0
        assert wh.promote(pid, **promote).plan.status == "COMPLETE"  # type: ignore[arg-type]
    return pid


def test_abandon_refuses_a_plan_whose_promotion_did_not_finish(deployed: Deployed) -> None:
    deployed.change(DOUBLE)
    pid = deployed.plan()
    assert run_cli(deployed, "apply", pid).returncode == 0
    old = state_of(deployed, "prod")
    killed = run_cli(deployed, "promote", pid, fault="post_check:start")  # swapped, then the process died
    assert killed.returncode == -9, killed.stderr
    with deployed.open() as wh:
        plan = wh.get_plan(pid)
        assert plan.status == "IN PROGRESS" and plan.promoted_at is not None
        with pytest.raises(StateError, match=f"plan {pid} was promoted to prod") as info:
            wh.abandon_plan(pid)
        assert f"dataplan rollback {pid}" in str(info.value)
        assert wh.get_plan(pid).status == "IN PROGRESS"
    cli = runner.invoke(app, ["plan", "abandon", pid, "-p", str(deployed.root)])
    assert cli.exit_code == 2 and "roll it back first" in cli.output
    with deployed.open() as wh:
        assert wh.rollback(pid).plan.status == "ROLLED BACK"
    assert state_of(deployed, "prod") == old


def test_janitor_keeps_the_rollback_of_a_promoted_plan_marked_abandoned(deployed: Deployed) -> None:
    pid = promoted(deployed, DOUBLE)
    with deployed.open() as wh:
        plan = wh.get_plan(pid)
        restores = {v for v in plan.rollback.restores.values() if v}
        assert len(restores) == 2  # order_facts and customer_revenue before the plan
        wh.plan_records.set_status(plan, "ABANDONED")  # as an older dataplan let `plan abandon` do
        result = wh.janitor("0s")
        assert not restores & set(result.dropped)
        assert {result.kept[v] for v in restores} == {f"rollback of plan {pid}"}
        rolled = wh.rollback(pid)
        assert rolled.plan.status == "ROLLED BACK"
        prod = {e.version_id for e in wh.store.environment_models("prod").values()}
        assert restores <= prod
    assert len(deployed.rows("marts", "customer_revenue", "customer_id")) == 7


def test_rollback_of_a_never_promoted_plan_leaves_the_target_alone(deployed: Deployed) -> None:
    deployed.change(DOUBLE)
    first = deployed.plan()
    with deployed.open() as wh:
        wh.apply(first)
    second = promoted(deployed, TRIPLE)
    after_second = state_of(deployed, "prod")
    result = run_cli(deployed, "rollback", first)
    assert result.returncode == 0, result.stderr
    assert "never promoted" in result.stdout and "prod was not changed" in result.stdout
    assert state_of(deployed, "prod") == after_second
    with deployed.open() as wh:
        assert wh.get_plan(second).status == "COMPLETE"
        assert wh.get_plan(first).status == "ROLLED BACK"
        assert wh.store.environment_models(f"plan_{first}") == {}  # its plan environment is dropped
        doc = (deployed.root / wh.get_plan(first).document).read_text()
    assert "**ROLLED BACK** — rolled back before any promotion: `prod` was never changed" in doc
    assert "- Promoted to" not in doc and "- Rolled back " in doc
    assert deployed.rows("marts", "order_facts", "order_id")[0][2] == 3.0  # still the second plan's data


def test_rollback_refuses_to_clobber_a_later_change(deployed: Deployed) -> None:
    pid = promoted(deployed, DOUBLE)
    deployed.change(TRIPLE)
    with deployed.open() as wh:
        wh.build("prod")  # a change that bypassed plans
        live = wh.store.environment_models("prod")["order_facts"].version_id
        before = state_of(deployed, "prod")
        with pytest.raises(StateError, match=f"prod's order_facts now reads {live}") as info:
            wh.rollback(pid)
        assert "roll back" in str(info.value)
        assert wh.get_plan(pid).status == "COMPLETE"
    assert state_of(deployed, "prod") == before
    assert deployed.rows("marts", "order_facts", "order_id")[0][2] == 3.0


def test_rollback_acts_on_the_environment_promote_to_chose(deployed: Deployed) -> None:
    with deployed.open() as wh:
        wh.build("dev")  # identical to prod
    old = state_of(deployed, "prod")
    assert state_of(deployed, "dev") == old
    deployed.change(DOUBLE)
    pid = deployed.plan()
    with deployed.open() as wh:
        wh.apply(pid)
        with pytest.raises(InputError, match="invalid environment name 'Dev;'"):
            wh.promote(pid, to="Dev;")
        assert wh.get_plan(pid).promoted_to is None
        result = wh.promote(pid, to="dev")
        assert result.plan.status == "COMPLETE" and result.plan.promoted_to == "dev"
    assert state_of(deployed, "prod") == old and state_of(deployed, "dev") != old
    with deployed.open() as wh:
        rolled = wh.rollback(pid)
        assert rolled.messages == [f"dev restored to its state before plan {pid}"]
        doc = (deployed.root / rolled.plan.document).read_text()
    assert "**ROLLED BACK** — promoted, then rolled back" in doc
    assert re.search(r"^- Applied \S+ \S+ UTC in `plan_\w+`: every blocking check passed\.$", doc, re.M)
    assert re.search(r"^- Promoted to `dev` \S+ \S+ UTC\.$", doc, re.M)
    assert re.search(rf"^- Rolled back \S+ \S+ UTC by command \(`dataplan rollback {pid}`\)\.$", doc, re.M)
    assert "Restores in `dev`:" in doc
    assert state_of(deployed, "dev") == old and state_of(deployed, "prod") == old


def test_janitor_ignores_a_lock_whose_holder_is_gone(deployed: Deployed) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with deployed.open() as wh:
        wh.store._insert(
            "locks", [["prod", "promote 20250101_dead00", dead.pid, __import__("socket").gethostname(), now()]]
        )
        result = wh.janitor("0s")
        prod = {e.version_id for e in wh.store.environment_models("prod").values()}
        assert prod <= set(result.kept) and result.dropped == []


def test_abandon_drops_the_plan_environment_and_frees_its_versions(deployed: Deployed) -> None:
    deployed.change(DOUBLE)
    pid = deployed.plan()
    with deployed.open() as wh:
        wh.apply(pid)
        assert wh.store.environment_models(f"plan_{pid}")
        prod_before = state_of(deployed, "prod")
        plan = wh.abandon_plan(pid)
        assert plan.status == "ABANDONED" and wh.get_plan(pid).status == "ABANDONED"
        assert wh.store.environment_models(f"plan_{pid}") == {}
        assert f"plan_{pid}" not in {e["name"] for e in wh.environments()}
        assert "**ABANDONED**" in (deployed.root / plan.document).read_text()
        # the journal (`dataplan log`, and the log file beside the document) ends with it
        assert [(e.step, e.phase, e.outcome) for e in wh.log(pid)][-2:] == [
            ("abandon", "start", ""), ("abandon", "end", "ok")]  # fmt: skip
        log_file = (deployed.root / plan.document).with_suffix(".log.md")
        assert "| abandon | end | ok |" in log_file.read_text()
    assert state_of(deployed, "prod") == prod_before


def test_a_plan_that_re_adds_a_removed_model_is_on_top_of_the_removal(deployed: Deployed) -> None:
    extra = {"models/marts/m_extra.sql": "select customer_id, count(*) as n from order_facts group by customer_id\n"}
    deployed.change(extra)
    with deployed.open() as wh:
        wh.build("prod")
    (deployed.root / "models/marts/m_extra.sql").unlink()
    removal = promoted(deployed, {})
    readd = promoted(deployed, extra)  # the same fingerprint: the same version as before the removal
    with deployed.open() as wh:
        with pytest.raises(StateError, match=f"plan {readd} was promoted on top of {removal}"):
            wh.rollback(removal)  # accepted before: the last rollback then left prod without m_extra
        wh.rollback(readd)
        wh.janitor(ttl="0s")
        assert "m_extra" not in wh.store.environment_models("prod")
        wh.rollback(removal)
        wh.janitor(ttl="0s")
        assert "m_extra" in wh.store.environment_models("prod")
    assert len(deployed.rows("marts", "m_extra", "customer_id")) == 7


def test_promote_to_a_missing_environment_and_a_dropped_plan_environment_say_what_to_do(
    deployed: Deployed,
) -> None:
    deployed.change(DOUBLE)
    pid = deployed.plan()
    with deployed.open() as wh:
        wh.apply(pid)
        before = state_of(deployed, "prod")
        with pytest.raises(StateError, match="environment nosuch does not exist") as info:
            wh.promote(pid, to="nosuch")
        assert "dataplan build --env nosuch" in str(info.value)
        wh.drop_environment(f"plan_{pid}")
        with pytest.raises(StateError, match=f"plan environment plan_{pid} lacks") as info:
            wh.promote(pid)
        assert f"dataplan apply {pid}" in str(info.value)  # resume would fail the same way
        assert wh.get_plan(pid).promoted_to is None and state_of(deployed, "prod") == before
        assert wh.apply(pid).exit_code == 0
        assert wh.promote(pid).plan.status == "COMPLETE"


def test_a_promotion_holds_the_plan_so_a_second_one_waits_its_turn(deployed: Deployed) -> None:
    # Two promotions of one plan (prod and --to dev) both passed their checks on Postgres and both swapped;
    # the plan recorded only one target, and the other could never be rolled back.
    with deployed.open() as wh:
        wh.build("dev")
    deployed.change(DOUBLE)
    pid = deployed.plan()
    with deployed.open() as wh:
        wh.apply(pid)
        before = state_of(deployed, "prod"), state_of(deployed, "dev")
        Locks(wh.store).acquire(f"plan_{pid}", f"promote {pid}")  # the other promotion, in this live process
        with pytest.raises(StateError, match=f"plan_{pid} is locked by promote {pid}"):
            wh.promote(pid, to="dev")
        assert (state_of(deployed, "prod"), state_of(deployed, "dev")) == before
        assert wh.get_plan(pid).promoted_to is None
        Locks(wh.store).release(f"plan_{pid}")
        assert wh.promote(pid).plan.promoted_to == "prod"
        with pytest.raises(StateError, match=r"is COMPLETE; it cannot be promoted \(it went to prod\)") as info:
            wh.promote(pid, to="dev")
        assert info.value.hint is not None and "`dataplan plan` makes a new one" in info.value.hint
        assert "to ship to dev what prod now runs" in info.value.hint
    assert state_of(deployed, "dev") == before[1]


def test_a_model_moved_to_another_layer_is_planned_promoted_and_rolled_back(deployed: Deployed) -> None:
    root = deployed.root
    for suffix in ("sql", "yml"):
        (root / f"models/marts/customer_revenue.{suffix}").rename(root / f"models/staging/customer_revenue.{suffix}")
    exposures = (root / "exposures.yml").read_text().replace("marts.customer_revenue", "staging.customer_revenue")
    (root / "exposures.yml").write_text(exposures)
    pid = deployed.plan()
    with deployed.open() as wh:
        plan = wh.get_plan(pid)
        (moved,) = [c for c in plan.changes if c.model == "customer_revenue"]
        assert (moved.change, moved.category, moved.rebuild) == ("directly modified", "breaking", False)
        assert moved.reason.startswith("moved from layer marts to staging")
        assert moved.new_version == moved.old_version and "staging.customer_revenue" in plan.title
        wh.apply(pid)
        wh.promote(pid)
        names = {(r.schema, r.name) for r in wh.backend.relations()}
        assert ("staging", "customer_revenue") in names and ("marts", "customer_revenue") not in names
        wh.rollback(pid)
        names = {(r.schema, r.name) for r in wh.backend.relations()}
        assert ("marts", "customer_revenue") in names and ("staging", "customer_revenue") not in names
        assert wh.store.environment_models("prod")["customer_revenue"].view_schema == "marts"
    assert len(deployed.rows("marts", "customer_revenue", "customer_id")) == 7


def test_promote_refuses_a_project_changed_since_the_plan(deployed: Deployed) -> None:
    # A model added by the plan and deleted before promote crashed the swap with a KeyError.
    deployed.change({"models/marts/m_new.sql": "select customer_id from order_facts\n"})
    pid = deployed.plan()
    with deployed.open() as wh:
        assert wh.apply(pid).exit_code == 0
    (deployed.root / "models/marts/m_new.sql").unlink()
    before = state_of(deployed, "prod")
    with deployed.open() as wh:
        with pytest.raises(StateError, match=f"the project changed since plan {pid} was made \\(m_new\\)"):
            wh.promote(pid)
        assert wh.get_plan(pid).promoted_to is None
    assert state_of(deployed, "prod") == before


NEW_MODEL = {"models/marts/m_new.sql": "select customer_id, count(*) as n from order_facts group by customer_id\n"}


def test_a_view_the_plan_adds_whose_name_someone_else_took_is_refused(deployed: Deployed) -> None:
    """At plan time when it is there already; at promotion when it appeared after apply. Prod and the
    hand-made view stay as they were, and the plan promotes once the name is free."""
    from tests.conftest import run_sql

    deployed.change(NEW_MODEL)
    with deployed.open() as wh:
        run_sql(wh, ["create view marts.m_new as select 42 as mine"])
    prod = state_of(deployed, "prod")
    with deployed.open() as wh, pytest.raises(StateError, match=r"^prod was not changed: marts.m_new \(a view\)"):
        wh.plan("prod")
    with deployed.open() as wh:
        assert wh.plans() == [] and state_of(deployed, "prod") == prod
        run_sql(wh, ["drop view marts.m_new"])
    pid = deployed.plan()
    with deployed.open() as wh:
        assert wh.apply(pid).exit_code == 0
        run_sql(wh, ["create view marts.m_new as select 42 as mine"])
        with pytest.raises(StateError, match="the project's view of the same name would replace it"):
            wh.promote(pid)
        assert state_of(deployed, "prod") == prod
        assert deployed.rows("marts", "m_new", "mine") == [(42,)]
        run_sql(wh, ["drop view marts.m_new"])
        assert wh.promote(pid).plan.status == "COMPLETE"
    assert len(deployed.rows("marts", "m_new", "customer_id")) == 7
