"""Crash safety: SIGKILL at every step of apply and promote; the target is entirely old or entirely new,
and `resume` or `rollback` finishes the job."""

from __future__ import annotations

import re

import pytest

from tests.rollout.conftest import Deployed, run_cli

DOUBLE = {
    "models/marts/order_facts.sql": "select order_id, customer_id, amount * 2.0 as amount, status from stg_orders\n"
}
APPLY_POINTS = ["bind:start", "bind:end", "build:start", "build:end", "verify:start", "verify:end"]
PROMOTE_POINTS = ["promote:start", "swap:midway", "promote:end", "post_check:start", "post_check:end"]


def prod_state(deployed: Deployed) -> dict[str, str]:
    with deployed.open() as wh:
        return {n: e.version_id for n, e in sorted(wh.store.environment_models("prod").items())}


def views_point_at(deployed: Deployed) -> dict[str, str]:
    """What prod's views really read, from the catalog (not from dataplan's own state)."""
    with deployed.open() as wh:
        defs = wh.backend.view_definitions()
    found = {
        name: re.search(r'_dataplan"?\."?([A-Za-z0-9_]+)', text)
        for (schema, name), text in defs.items()
        if schema in ("staging", "marts")
    }
    return {name: m.group(1) for name, m in found.items() if m}


@pytest.mark.parametrize("point", APPLY_POINTS)
def test_kill_during_apply(deployed: Deployed, point: str) -> None:
    deployed.change(DOUBLE)
    pid = deployed.plan()
    old = prod_state(deployed)
    killed = run_cli(deployed, "apply", pid, fault=point)
    assert killed.returncode == -9, killed.stderr
    assert prod_state(deployed) == old  # apply never touches the target
    resumed = run_cli(deployed, "resume", pid)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    promoted = run_cli(deployed, "promote", pid)
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr
    assert prod_state(deployed) != old


@pytest.mark.parametrize("point", PROMOTE_POINTS)
def test_kill_during_promote(deployed: Deployed, point: str) -> None:
    deployed.change(DOUBLE)
    pid = deployed.plan()
    assert run_cli(deployed, "apply", pid).returncode == 0
    old = prod_state(deployed)
    old_views = views_point_at(deployed)
    with deployed.open() as wh:
        plan_env = {n: e.version_id for n, e in wh.store.environment_models(f"plan_{pid}").items()}
    new = {n: plan_env[n] for n in old}
    killed = run_cli(deployed, "promote", pid, fault=point)
    assert killed.returncode == -9, killed.stderr
    state, views = prod_state(deployed), views_point_at(deployed)
    assert state in (old, new), f"mixed state after a kill at {point}"
    assert views == state and (views == old_views or views == new)  # the catalog agrees with the state
    if point in ("promote:start", "swap:midway"):
        assert state == old
    else:
        assert state == new
    resumed = run_cli(deployed, "resume", pid)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert prod_state(deployed) == new
    rolled = run_cli(deployed, "rollback", pid)
    assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    assert prod_state(deployed) == old and views_point_at(deployed) == old_views
