"""Plans: change detection, categories, contract changes, backfill, impacts, risk — on both engines."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from dataplan import StateError
from dataplan.cli.app import app
from dataplan.plan.model import ALL_COLUMNS, Plan
from tests.conftest import ProjectFactory, catalog, write_files

runner = CliRunner()


FILES = {
    "models/staging/stg_orders.sql": """
        select order_id, customer_id, amount, status, ordered_at from raw.orders where status <> 'test'
    """,
    "models/staging/stg_customers.sql": "select customer_id, name, region from raw.customers\n",
    "models/marts/customer_totals.sql": """
        select c.customer_id, c.region, count(o.order_id) as orders, sum(o.amount) as total
        from staging.stg_customers c
        left join stg_orders o on o.customer_id = c.customer_id
        group by c.customer_id, c.region
    """,
    "models/marts/customer_names.sql": "select customer_id, name from stg_customers\n",
    "models/marts/customer_regions.sql": "select customer_id, region from stg_customers\n",
    "models/marts/customer_totals.yml": """
        models:
          - name: customer_totals
            materialized: table
            grain: [customer_id]
            contract: {enforced: true}
            columns:
              - {name: customer_id, type: varchar}
              - {name: region, type: varchar}
              - {name: orders, type: bigint}
              - {name: total, type: double}
    """,
    "sources.yml": """
        sources:
          - name: raw
            schema: raw
            tables: [orders, customers]
    """,
    "exposures.yml": """
        exposures:
          - name: revenue_dashboard
            type: dashboard
            owner: finance@example.com
            depends_on:
              - model: marts.customer_totals
                columns: [customer_id, total]
          - name: directory
            type: api
            depends_on:
              - model: marts.customer_names
                columns: [customer_id, name]
    """,
}


# customer_totals without its total column (its contract still declares it)
WITHOUT_TOTAL = {
    "models/marts/customer_totals.sql": """
        select c.customer_id, c.region, count(o.order_id) as orders
        from staging.stg_customers c left join stg_orders o on o.customer_id = c.customer_id
        group by c.customer_id, c.region
    """
}


@pytest.fixture
def deployed(make_project: ProjectFactory) -> Path:
    root = make_project(FILES)
    with make_project.open() as wh:
        wh.build("prod")
    return root


def plan_of(make_project: ProjectFactory, **kw: object) -> Plan:
    with make_project.open() as wh:
        return wh.plan("prod", **kw)  # type: ignore[arg-type]


def by_model(plan: Plan) -> dict[str, object]:
    return {c.model: c for c in plan.changes}


def test_formatting_only_change_is_no_change(deployed: Path, make_project: ProjectFactory) -> None:
    write_files(
        deployed,
        {
            "models/marts/customer_totals.sql": """
        -- reformatted, same query
        SELECT c.customer_id, c.region,
               COUNT(o.order_id) AS orders,
               SUM(o.amount)     AS total
          FROM staging.stg_customers c
          LEFT JOIN stg_orders o ON o.customer_id = c.customer_id
         GROUP BY c.customer_id, c.region
    """
        },
    )
    plan = plan_of(make_project)
    assert plan.is_empty and plan.changes == []


def test_plan_runs_no_ddl(deployed: Path, make_project: ProjectFactory) -> None:
    write_files(
        deployed,
        {"models/staging/stg_customers.sql": "select customer_id, upper(name) as name, region from raw.customers\n"},
    )
    with make_project.open() as wh:
        before = catalog(wh)
        plan = wh.plan("prod")
        assert catalog(wh) == before
        assert [p["plan_id"] for p in wh.plans()] == [plan.plan_id]  # the only write: the plan record
    assert (deployed / plan.document).exists()  # type: ignore[operator]


def test_changed_projection_rebuilds_only_the_descendant_that_reads_it(
    deployed: Path, make_project: ProjectFactory
) -> None:
    write_files(
        deployed,
        {"models/staging/stg_customers.sql": "select customer_id, upper(name) as name, region from raw.customers\n"},
    )
    plan = plan_of(make_project)
    changes = by_model(plan)
    assert changes["stg_customers"].category == "breaking"  # type: ignore[attr-defined]
    assert changes["stg_customers"].changed_columns == ["name"]  # type: ignore[attr-defined]
    names, regions = changes["customer_names"], changes["customer_regions"]
    assert names.rebuild and names.changed_columns == ["name"]  # type: ignore[attr-defined]
    assert not regions.rebuild and regions.category == "non-breaking"  # type: ignore[attr-defined]
    assert "reads none of the changed upstream columns" in regions.reason  # type: ignore[attr-defined]
    assert not changes["customer_totals"].rebuild  # type: ignore[attr-defined]
    assert regions.new_version == regions.old_version  # type: ignore[attr-defined]
    impacts = {i.exposure: i for i in plan.impacts}
    assert set(impacts) == {"directory"}
    assert impacts["directory"].columns == ["marts.customer_names.name"]


def test_added_column_is_non_breaking(deployed: Path, make_project: ProjectFactory) -> None:
    write_files(
        deployed,
        {
            "models/staging/stg_customers.sql": "select customer_id, name, region, "
            "length(name) as name_length from raw.customers\n"
        },
    )
    plan = plan_of(make_project)
    changes = by_model(plan)
    assert changes["stg_customers"].category == "non-breaking"  # type: ignore[attr-defined]
    assert "only adds columns (name_length)" in changes["stg_customers"].reason  # type: ignore[attr-defined]
    assert all(not c.rebuild for n, c in changes.items() if n != "stg_customers")  # type: ignore[attr-defined]
    added = [c for c in plan.contract_changes if c.change == "column added"]
    assert [(c.model, c.after.split()[0]) for c in added] == [("staging.stg_customers", "name_length")]
    assert plan.impacts == [] and plan.blocked == []
    schema = next(c for c in plan.checks if c.kind == "schema" and c.model == "staging.stg_customers")
    assert schema.target.startswith("only the planned changes: column added: name_length ")  # no empty "before ->"


def test_removed_contract_column_is_breaking_and_blocked(deployed: Path, make_project: ProjectFactory) -> None:
    write_files(deployed, WITHOUT_TOTAL)
    plan = plan_of(make_project)
    removed = [c for c in plan.contract_changes if c.change == "column removed"]
    assert len(removed) == 1 and removed[0].before.startswith("total ") and removed[0].enforced
    assert removed[0].breaking
    assert any("breaks its enforced contract" in b for b in plan.blocked)
    assert any(r.rule == "enforced-contract-column-removed" and r.blocking for r in plan.risks)
    # From the command line a blocked plan exits 1, so CI gates on it; it is still recorded as a DRAFT.
    blocked = runner.invoke(app, ["plan", "-p", str(deployed), "--format", "json"])
    assert blocked.exit_code == 1, blocked.output
    payload = json.loads(blocked.output)
    assert payload["saved"] is True and payload["status"] == "DRAFT" and payload["blocked"]
    assert runner.invoke(app, ["plan", "-p", str(deployed), "--allow-breaking", "--explain"]).exit_code == 1
    # The YAML still declares total: the build would refuse the model whatever --allow-breaking says.
    allowed = plan_of(make_project, allow_breaking=True)
    assert allowed.blocked == [
        "marts.customer_totals would break its enforced contract: "
        "column total is declared but the query does not return it"
    ]
    contract = (deployed / "models/marts/customer_totals.yml").read_text()
    write_files(deployed, {"models/marts/customer_totals.yml": contract.replace("- {name: total, type: double}", "")})
    assert plan_of(make_project, allow_breaking=True).blocked == []
    assert plan_of(make_project).blocked  # still a breaking change to an enforced contract


def test_removing_a_model_with_an_enforced_contract_is_blocked(deployed: Path, make_project: ProjectFactory) -> None:
    """The project no longer has the model's YAML: the contract is the one its prod version was built with."""
    for path in ("models/marts/customer_totals.sql", "models/marts/customer_totals.yml"):
        (deployed / path).unlink()
    write_files(deployed, {"exposures.yml": "exposures: []\n"})  # no exposure reads it any more
    plan = plan_of(make_project)
    [removed] = plan.contract_changes
    assert (removed.model, removed.change, removed.breaking, removed.enforced) == (
        "marts.customer_totals", "model removed", True, True)  # fmt: skip
    assert removed.before == "customer_id, region, orders, total"
    assert plan.blocked == ["marts.customer_totals: removing the model breaks its enforced contract"]
    assert any(r.rule == "enforced-contract-model-removed" and r.blocking for r in plan.risks)
    assert plan_of(make_project, allow_breaking=True).blocked == []
    # a model without an enforced contract is removed with a warning, not blocked
    (deployed / "models/marts/customer_regions.sql").unlink()
    assert [c.model for c in plan_of(make_project, allow_breaking=True).contract_changes] == ["marts.customer_totals"]


def test_plan_list_shows_a_blocked_plan_as_blocked(deployed: Path) -> None:
    """A blocked plan is recorded as a DRAFT that apply refuses: `plan list` says so, in text and JSON."""
    write_files(deployed, {"models/staging/stg_customers.sql": "select customer_id, name, upper(region) as region "
                                                               "from raw.customers\n"})  # fmt: skip
    assert runner.invoke(app, ["plan", "-p", str(deployed)]).exit_code == 0  # a plain DRAFT
    write_files(deployed, WITHOUT_TOTAL)
    assert runner.invoke(app, ["plan", "-p", str(deployed)]).exit_code == 1  # blocked, and recorded
    listed = json.loads(runner.invoke(app, ["plan", "list", "-p", str(deployed), "--format", "json"]).output)
    assert [(p["status"], bool(p["blocked"])) for p in listed] == [("DRAFT", False), ("DRAFT", True)]
    assert any("breaks its enforced contract" in reason for reason in listed[1]["blocked"])
    text = runner.invoke(app, ["plan", "list", "-p", str(deployed)]).output
    lines = {p["plan_id"]: next(line for line in text.splitlines() if p["plan_id"] in line) for p in listed}
    assert "DRAFT (blocked)" not in lines[listed[0]["plan_id"]] and " DRAFT " in lines[listed[0]["plan_id"]]
    assert "DRAFT (blocked)" in lines[listed[1]["plan_id"]]


def test_renamed_column_is_reported_as_rename(deployed: Path, make_project: ProjectFactory) -> None:
    write_files(
        deployed,
        {"models/staging/stg_customers.sql": "select customer_id, name as full_name, region from raw.customers\n"},
    )
    write_files(
        deployed, {"models/marts/customer_names.sql": "select customer_id, full_name as name from stg_customers\n"}
    )
    plan = plan_of(make_project)
    renames = [c for c in plan.contract_changes if c.change == "column renamed"]
    assert [(c.model, c.before.split()[0], c.after.split()[0]) for c in renames] == [
        ("staging.stg_customers", "name", "full_name")
    ]
    assert not any(
        c.change in ("column removed", "column added")
        for c in plan.contract_changes
        if c.model == "staging.stg_customers"
    )


def test_row_filter_change_marks_all_rows(deployed: Path, make_project: ProjectFactory) -> None:
    write_files(
        deployed,
        {
            "models/staging/stg_orders.sql": """
        select order_id, customer_id, amount, status, ordered_at from raw.orders
    """
        },
    )
    plan = plan_of(make_project)
    changes = by_model(plan)
    assert changes["stg_orders"].changed_columns == ["*"]  # type: ignore[attr-defined]
    assert "WHERE changed" in changes["stg_orders"].reason  # type: ignore[attr-defined]
    assert changes["customer_totals"].rebuild  # type: ignore[attr-defined]
    impact = next(i for i in plan.impacts if i.exposure == "revenue_dashboard")
    assert impact.breaking and "marts.customer_totals.total" in impact.columns
    strategies = {b.model: b.strategy for b in plan.backfills}
    assert strategies["marts.customer_totals"] == "full refresh"
    assert strategies["staging.stg_orders"] == "none"
    kinds = {(c.model, c.kind) for c in plan.checks}
    assert ("marts.customer_totals", "value_diff") in kinds
    assert ("marts.customer_totals", "exposure_query") in kinds


def test_select_star_is_conservative(deployed: Path, make_project: ProjectFactory) -> None:
    write_files(deployed, {"models/marts/customer_regions.sql": "select * from stg_customers\n"})
    with make_project.open() as wh:
        wh.build("prod")
    write_files(
        deployed,
        {"models/staging/stg_customers.sql": "select customer_id, upper(name) as name, region from raw.customers\n"},
    )
    change = by_model(plan_of(make_project))["customer_regions"]
    assert change.rebuild and "selects * from stg_customers" in change.reason  # type: ignore[attr-defined]


def test_metadata_only_change(deployed: Path, make_project: ProjectFactory) -> None:
    write_files(
        deployed,
        {
            "models/marts/customer_names.yml": """
        models:
          - name: customer_names
            description: Names for the directory API
    """
        },
    )
    plan = plan_of(make_project)
    assert [(c.model, c.change, c.category, c.rebuild) for c in plan.changes] == [
        ("customer_names", "metadata only", "metadata", False)
    ]


def test_grain_change_is_a_contract_change(deployed: Path, make_project: ProjectFactory) -> None:
    text = FILES["models/marts/customer_totals.yml"].replace("grain: [customer_id]", "grain: [customer_id, region]")
    write_files(deployed, {"models/marts/customer_totals.yml": text})
    plan = plan_of(make_project)
    grain = [c for c in plan.contract_changes if c.change == "grain changed"]
    assert [(g.before, g.after) for g in grain] == [("customer_id", "customer_id, region")]
    assert any(r.rule == "grain-changed" for r in plan.risks)


DAILY_ORDERS = """
    models:
      - name: daily_orders
        materialized: incremental_by_time
        time_column: ordered_at
        start: {start}
        batch_days: 2
"""


def built_with_daily_orders(make_project: ProjectFactory, start: str, extra: dict[str, str] | None = None) -> Path:
    """FILES plus an incremental daily_orders from ``start``, built in prod up to 2025-01-07."""
    files = {
        **FILES,
        "models/staging/daily_orders.sql": "select ordered_at, count(*) as orders from raw.orders group by 1\n",
        "models/staging/daily_orders.yml": DAILY_ORDERS.format(start=start),
        **(extra or {}),
    }
    root = make_project(files)
    with make_project.open() as wh:
        wh.build("prod", end=dt.date(2025, 1, 7))
    return root


def test_incremental_change_yields_date_range_backfill(make_project: ProjectFactory) -> None:
    root = built_with_daily_orders(make_project, "2025-01-01")
    write_files(
        root,
        {
            "models/staging/daily_orders.sql": "select ordered_at, count(*) as orders, "
            "sum(amount) as amount from raw.orders group by 1\n"
        },
    )
    plan = plan_of(make_project, end=dt.date(2025, 1, 9))
    bf = next(b for b in plan.backfills if b.model == "staging.daily_orders")
    assert bf.strategy == "date-range backfill"
    assert bf.ranges == [("2025-01-01", "2025-01-07")]
    assert "3 batches" in bf.reason


def test_plan_requires_a_deployed_environment(make_project: ProjectFactory) -> None:
    make_project(FILES)
    with make_project.open() as wh, pytest.raises(StateError, match="no dataplan state"):
        wh.plan("prod")


def test_plan_cli_list_show_abandon_and_json(deployed: Path) -> None:
    write_files(
        deployed,
        {"models/staging/stg_customers.sql": "select customer_id, upper(name) as name, region from raw.customers\n"},
    )
    explain = runner.invoke(app, ["plan", "-p", str(deployed), "--explain"])
    assert explain.exit_code == 0 and "Rollout steps" in explain.output
    assert "not saved: --explain" in explain.output and "Validation checks apply would run" in explain.output
    assert "Nothing was saved (--explain)" in explain.output and "dataplan rollback" not in explain.output
    assert not (deployed / "plans").exists()  # --explain saves nothing
    made = runner.invoke(app, ["plan", "-p", str(deployed), "--format", "json", "--objective", "Uppercase names"])
    assert made.exit_code == 0, made.output
    payload = json.loads(made.output)
    assert payload["schema_version"] == 1 and payload["objective"] == "Uppercase names"
    assert set(payload) >= {
        "changes",
        "contract_changes",
        "backfills",
        "impacts",
        "risks",
        "checks",
        "rollout",
        "rollback",
        "target_state",
        "target_state_hash",
        "status",
    }
    pid = payload["plan_id"]
    listed = json.loads(runner.invoke(app, ["plan", "list", "-p", str(deployed), "--format", "json"]).output)
    assert [(p["plan_id"], p["status"]) for p in listed] == [(pid, "DRAFT")]
    # options given to `plan` before the subcommand apply to it
    before = runner.invoke(app, ["plan", "-p", str(deployed), "-f", "json", "list"])
    assert before.exit_code == 0 and json.loads(before.output) == listed
    assert runner.invoke(app, ["plan", "list", "-p", str(deployed), "-f", "yaml"]).exit_code == 2
    assert runner.invoke(app, ["plan", "list", "-p", str(deployed), "-f", "md"]).exit_code == 2
    assert "text or json." in runner.invoke(app, ["plan", "list", "--help"]).output
    md = runner.invoke(app, ["plan", "show", pid, "-p", str(deployed), "--format", "md"])
    assert md.exit_code == 0 and md.output.startswith("# Plan: Uppercase names")
    assert runner.invoke(app, ["plan", "abandon", pid, "-p", str(deployed)]).exit_code == 0
    doc = (deployed / payload["document"]).read_text()
    assert "**ABANDONED**" in doc
    again = runner.invoke(app, ["plan", "abandon", pid, "-p", str(deployed)])
    assert again.exit_code == 2 and "is ABANDONED" in again.output
    missing = runner.invoke(app, ["plan", "show", "nope", "-p", str(deployed)])
    assert missing.exit_code == 2 and "no plan 'nope'" in missing.output


def test_type_change_propagates_to_descendants_and_value_change_does_not(
    deployed: Path, make_project: ProjectFactory
) -> None:
    write_files(
        deployed,
        {
            "models/staging/stg_orders.sql": """
        select order_id, customer_id, cast(amount as decimal(10, 2)) as amount, status, ordered_at
        from raw.orders where status <> 'test'
    """
        },
    )
    plan = plan_of(make_project)
    retyped = {(c.model, c.before.split()[0]) for c in plan.contract_changes if c.change == "column type changed"}
    assert ("staging.stg_orders", "amount") in retyped
    assert ("marts.customer_totals", "total") in retyped  # an unchanged query whose input type changed
    write_files(
        deployed,
        {
            "models/staging/stg_orders.sql": """
        select order_id, customer_id, amount * 2 as amount, status, ordered_at
        from raw.orders where status <> 'test'
    """
        },
    )
    with make_project.open() as wh:
        before = wh.backend.round_trips
        plan = wh.plan("prod", save=False)
        trips = wh.backend.round_trips - before
    assert [c.model for c in plan.contract_changes] == []
    assert by_model(plan)["customer_totals"].rebuild  # rebuilt: its values change...
    # ...but only the directly modified model is described (5 batched state reads + 1 describe)
    assert trips == 6, trips


def test_a_parent_that_keeps_its_shape_is_described_from_its_current_version(
    deployed: Path, make_project: ProjectFactory
) -> None:
    write_files(
        deployed,
        {  # same columns and types, other rows: rebuilt, but its shape is known after one describe
            "models/staging/stg_customers.sql": "select customer_id, name, region from raw.customers "
            "where customer_id is not null\n",
            "models/marts/customer_names.sql": "select customer_id, name, upper(name) as shout from stg_customers\n",
        },
    )
    with make_project.open() as wh:
        current = wh.store.environment_models("prod")["stg_customers"].version_id
        described: list[str] = []
        original = wh.backend.describe

        def recording(query: Any) -> Any:
            described.append(wh.backend.render(query))
            return original(query)

        wh.backend.describe = recording  # type: ignore[method-assign]
        plan = wh.plan("prod", save=False)
    assert by_model(plan)["stg_customers"].rebuild and by_model(plan)["customer_names"].rebuild
    added = [(c.model, (c.after or "").split()[0]) for c in plan.contract_changes if c.change == "column added"]
    assert added == [("marts.customer_names", "shout")]
    assert [c.model for c in plan.contract_changes] == ["marts.customer_names"]  # stg_customers kept its shape
    names_sql = next(sql for sql in described if "shout" in sql.lower())
    # the parent's current version is read, not its new query inlined (no raw.customers, no filter)
    assert f'"{current}"' in names_sql and '"raw"' not in names_sql and "NULL" not in names_sql.upper()


def test_descendants_are_traced_through_case_using_distinct_and_windows(make_project: ProjectFactory) -> None:
    files = dict(FILES)
    files.update(
        {  # each reads stg_customers in a way a case-sensitive or column-only trace would miss
            "models/marts/shouty.sql": "select C.CUSTOMER_ID, C.Region as r from staging.stg_customers as c\n",
            "models/marts/matched.sql": "select o.order_id, c.name from stg_orders o "
            "join stg_customers c using (customer_id)\n",
            "models/marts/regions.sql": "select distinct region from stg_customers\n",
            "models/marts/running.sql": "select order_id, count(*) over w as n from stg_orders "
            "window w as (partition by customer_id)\n",
        }
    )
    root = make_project(files)
    with make_project.open() as wh:
        wh.build("prod")
    write_files(
        root,
        {
            "models/staging/stg_customers.sql": "select upper(customer_id) as customer_id, name, "
            "upper(region) as region from raw.customers\n",
            "models/marts/running.sql": "select order_id, count(*) over w as n from stg_orders "
            "window w as (order by customer_id)\n",
        },
    )
    changes = by_model(plan_of(make_project))
    assert changes["shouty"].rebuild and changes["shouty"].changed_columns == ["customer_id", "r"]  # type: ignore[attr-defined]
    assert changes["matched"].rebuild and changes["matched"].changed_columns == ["*"]  # type: ignore[attr-defined]
    assert changes["regions"].rebuild and changes["regions"].changed_columns == ["*"]  # type: ignore[attr-defined]
    running = changes["running"]
    assert running.category == "breaking" and "WINDOW" in running.reason  # type: ignore[attr-defined]
    assert changes["customer_names"].changed_columns == ["customer_id"]  # type: ignore[attr-defined]
    assert changes["customer_totals"].rebuild  # type: ignore[attr-defined]  # reads customer_id and region


def test_moving_an_incremental_start_changes_its_rows_and_the_backfill(make_project: ProjectFactory) -> None:
    reader = {"models/marts/order_days.sql": "select count(*) as days from daily_orders\n"}
    root = built_with_daily_orders(make_project, "2025-01-03", reader)
    write_files(root, {"models/staging/daily_orders.yml": DAILY_ORDERS.format(start="2025-01-01")})
    plan = plan_of(make_project, end=dt.date(2025, 1, 7))
    daily = by_model(plan)["daily_orders"]
    assert daily.category == "breaking" and daily.changed_columns == ["*"]  # type: ignore[attr-defined]
    assert "2025-01-03 -> ordered_at from 2025-01-01" in daily.reason  # type: ignore[attr-defined]
    assert by_model(plan)["order_days"].rebuild  # its count changes with the rows
    bf = next(b for b in plan.backfills if b.model == "staging.daily_orders")
    assert bf.ranges == [("2025-01-01", "2025-01-07")]



def test_a_start_moved_past_the_processed_history_backfills_from_it_as_a_new_model(
    make_project: ProjectFactory,
) -> None:
    """Before: a 'date-range backfill' with no range (0 batches), while apply filled up to today."""
    root = built_with_daily_orders(make_project, "2025-01-01")  # history [2025-01-01, 2025-01-07)
    write_files(root, {"models/staging/daily_orders.yml": DAILY_ORDERS.format(start="2025-01-09")})
    plan = plan_of(make_project, end=dt.date(2025, 1, 13))
    bf = next(b for b in plan.backfills if b.model == "staging.daily_orders")
    assert (bf.strategy, bf.ranges) == ("date-range backfill", [("2025-01-09", "2025-01-13")])
    assert "start moved past the old version's history (which ends 2025-01-07)" in bf.reason
    assert bf.reason.endswith("(2 batches)")
    # a start at or after the plan's end: nothing to fill yet, said as such, not a backfill of 0 batches
    write_files(root, {"models/staging/daily_orders.yml": DAILY_ORDERS.format(start="2025-01-20")})
    later = next(b for b in plan_of(make_project, end=dt.date(2025, 1, 13)).backfills if b.model == bf.model)
    assert (later.strategy, later.ranges) == ("none", [])
    assert "its start (2025-01-20) is not before the plan's end (2025-01-13)" in later.reason

def test_a_child_reading_a_removed_column_is_named_by_file(deployed: Path) -> None:
    write_files(deployed, {"models/staging/stg_customers.sql": "select customer_id, region from raw.customers\n"})
    result = runner.invoke(app, ["plan", "-p", str(deployed)])
    assert result.exit_code == 2, result.output
    assert "models/marts/customer_names.sql" in result.output and "cannot run" in result.output
    assert "name" in result.output and not (deployed / "plans").exists()


def test_seed_columns_are_contract_changes(make_project: ProjectFactory) -> None:
    files = dict(FILES)
    files["seeds/regions.csv"] = "region,label\neu,Europe\nus,United States\n"
    files["models/marts/region_names.sql"] = "select region, label from seeds.regions\n"
    root = make_project(files)
    with make_project.open() as wh:
        wh.build("prod")
    write_files(root, {"seeds/regions.csv": "region,label,population\neu,Europe,448\nus,United States,335\n"})
    plan = plan_of(make_project)
    found = [(c.model, c.change, (c.after or "").lower()) for c in plan.contract_changes]
    assert found == [("seeds.regions", "column added", "population bigint")]
    # only a column added, the others' data unchanged (compared row by row): a reader naming them keeps its version
    assert by_model(plan)["regions"].category == "non-breaking"
    assert by_model(plan)["regions"].reason == "seed file only adds columns (population); existing columns unchanged"
    kept = by_model(plan)["region_names"]
    assert not kept.rebuild and kept.new_version == kept.old_version
    write_files(root, {"seeds/regions.csv": "region,name\neu,Europe\nus,United States\n"})
    result = runner.invoke(app, ["plan", "-p", str(root)])
    assert result.exit_code == 2 and "models/marts/region_names.sql" in result.output, result.output


SEED_READERS = {
    "seeds/regions.csv": "region,label,rank\neu,Europe,1\nus,United States,2\napac,Asia Pacific,3\n",
    "models/marts/region_names.sql": "select region, label from seeds.regions\n",
    "models/marts/region_ranks.sql": "select region, rank from seeds.regions\n",
}


@pytest.mark.parametrize(
    ("csv", "category", "reason", "changed", "rebuilt"),
    [
        (  # one label fixed: only the reader of label is rebuilt
            "region,label,rank\neu,Europe,1\nus,USA,2\napac,Asia Pacific,3\n",
            "breaking",
            "seed file changed; modified: label",
            ["label"],
            {"region_names"},
        ),
        (  # the same rows sorted differently: no data change
            "region,label,rank\napac,Asia Pacific,3\neu,Europe,1\nus,United States,2\n",
            "non-breaking",
            "seed file reorders its rows; the data is the same",
            [],
            set(),
        ),
        (  # a row added: any column may differ
            "region,label,rank\neu,Europe,1\nus,United States,2\napac,Asia Pacific,3\nlatam,Latin America,4\n",
            "breaking",
            "seed file changed: 3 -> 4 rows",
            [ALL_COLUMNS],
            {"region_names", "region_ranks"},
        ),
        (  # a column's type changes (whole numbers become decimals), its values compare equal in Python
            "region,label,rank\neu,Europe,1.0\nus,United States,2.0\napac,Asia Pacific,3.0\n",
            "breaking",
            "seed file changed; modified: rank",
            ["rank"],
            {"region_ranks"},
        ),
    ],
)
def test_a_changed_seed_is_compared_by_its_data_column_by_column(
    make_project: ProjectFactory, csv: str, category: str, reason: str, changed: list[str], rebuilt: set[str]
) -> None:
    root = make_project({**FILES, **SEED_READERS})
    with make_project.open() as wh:
        wh.build("prod")
    write_files(root, {"seeds/regions.csv": csv})
    plan = plan_of(make_project)
    seed = by_model(plan)["regions"]
    assert (seed.category, seed.reason, seed.changed_columns) == (category, reason, changed)
    assert {c.model for c in plan.changes if c.rebuild} - {"regions"} == rebuilt
    with make_project.open() as wh:
        applied = wh.apply(plan.plan_id)
        if changed == [ALL_COLUMNS]:  # 3 -> 4 rows
            counts = {c.model: c for c in applied.plan.checks if c.kind == "row_count"}
            seed = counts["seeds.regions"]  # its rows are its file's: reported, never blocking
            assert (seed.blocking, seed.outcome) == (False, "pass") and seed.actual.startswith("3 -> 4 rows")
            # its readers gain the row too: their own row-count checks block it (a person decides; --force)
            assert {m for m, c in counts.items() if c.outcome == "fail" and c.blocking} == {
                "marts.region_names", "marts.region_ranks"}  # fmt: skip
            assert applied.exit_code == 1
            return
        assert applied.exit_code == 0  # verification agrees: the kept readers' data is unchanged
        assert wh.promote(plan.plan_id).plan.status == "COMPLETE"
        assert wh.status("prod").pending == []




def test_a_seed_with_fewer_rows_is_promoted_not_rolled_back_by_the_default_trigger(
    make_project: ProjectFactory,
) -> None:
    """Apply passed it (a seed's row count is reported), then the default 5% row-count trigger rolled it back."""
    rows = "".join(f"r{i},Region {i},{i}\n" for i in range(10))
    root = make_project({**FILES, "seeds/regions.csv": "region,label,rank\n" + rows})
    with make_project.open() as wh:
        wh.build("prod")
    write_files(root, {"seeds/regions.csv": "region,label,rank\n" + rows.split("r9,")[0]})  # 10 -> 9 rows
    plan = plan_of(make_project)
    with make_project.open() as wh:
        assert wh.apply(plan.plan_id).exit_code == 0
        promoted = wh.promote(plan.plan_id)
        assert promoted.action == "promoted", promoted.messages
        assert not any(c.name == "row count seeds.regions" for c in promoted.post_checks)

def test_a_qualified_star_reads_every_column_of_its_own_table_only(make_project: ProjectFactory) -> None:
    """`c.*` over a join with the seed read every seed column too: a rank-only change rebuilt it."""
    reader = {
        "models/marts/customers_labelled.sql": "select c.*, r.label from stg_customers c "
        "join seeds.regions r on r.region = c.region\n"
    }
    root = make_project({**FILES, **SEED_READERS, **reader})
    with make_project.open() as wh:
        wh.build("prod")
    ranked = "region,label,rank\neu,Europe,10\nus,United States,2\napac,Asia Pacific,3\n"  # only a rank changes
    write_files(root, {"seeds/regions.csv": ranked})
    plan = plan_of(make_project)
    labelled = by_model(plan)["customers_labelled"]
    assert not labelled.rebuild, labelled.reason  # type: ignore[attr-defined]
    assert "reads none of the changed upstream columns" in labelled.reason  # type: ignore[attr-defined]
    write_files(root, {"seeds/regions.csv": "region,label,rank\neu,EU,1\nus,United States,2\napac,Asia Pacific,3\n"})
    assert by_model(plan_of(make_project))["customers_labelled"].rebuild  # type: ignore[attr-defined]

def test_plan_text_prints_names_as_written_not_as_markup(deployed: Path) -> None:
    write_files(
        deployed,
        {"models/staging/stg_customers.sql": 'select customer_id, name, region, 1 as "[/b]" from raw.customers\n'},
    )
    result = runner.invoke(app, ["plan", "-p", str(deployed), "--explain"])
    assert result.exit_code == 0, result.output  # rich read "[/b]" as a closing tag and crashed
    assert "[/b]" in result.output



def test_plan_text_says_when_an_exposure_reads_none_of_the_changed_columns(deployed: Path) -> None:
    """The dashboard reads customer_id and total; only orders changes. Before: an empty cell."""
    write_files(
        deployed,
        {
            "models/marts/customer_totals.sql": """
        select c.customer_id, c.region, count(o.order_id) + 0 as orders, sum(o.amount) as total
        from staging.stg_customers c left join stg_orders o on o.customer_id = c.customer_id
        group by c.customer_id, c.region
    """
        },
    )
    result = runner.invoke(app, ["plan", "-p", str(deployed), "--explain"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if x.startswith("revenue_dashboard"))
    assert line.split()[-3:] == ["none", "it", "reads"]

READERS = {
    "models/marts/star_copy.sql": "select * from stg_customers\n",
    "models/marts/region_ordinal.sql": "select region as r, count(*) as n from stg_customers group by 1\n",
    "models/marts/first_two.sql": "select customer_id, upper(region) as reg from stg_customers order by reg limit 2\n",
    "models/marts/region_union.sql": "select region from stg_customers union select region from stg_customers\n",
    "models/marts/name_union_all.sql": "select name from stg_customers union all select name from stg_customers\n",
}
GROUP_BY_ALL = {"models/marts/region_counts.sql": "select region, count(*) as n from stg_customers group by all\n"}


def deployed_with_readers(make_project: ProjectFactory) -> bool:
    """FILES and READERS built into prod (GROUP BY ALL on DuckDB only: Postgres has none); True on DuckDB."""
    duck = make_project.backend == "duckdb"
    make_project({**FILES, **READERS, **(GROUP_BY_ALL if duck else {})})
    with make_project.open() as wh:
        wh.build("prod")
    return duck


def test_children_whose_rows_a_changed_column_decides_are_rebuilt(make_project: ProjectFactory) -> None:
    # GROUP BY ALL, a positional GROUP BY, an alias under ORDER BY ... LIMIT and a UNION decide rows with
    # the region column; they kept their versions (stale data) before.
    duck = deployed_with_readers(make_project)
    lowered = "select customer_id, name, lower(region) as region from raw.customers\n"
    write_files(make_project.root, {"models/staging/stg_customers.sql": lowered})
    changes = by_model(plan_of(make_project))
    for name in ["region_ordinal", "first_two", "region_union"] + (["region_counts"] if duck else []):
        change = changes[name]
        assert change.rebuild and change.changed_columns == ["*"], (name, change)  # type: ignore[attr-defined]
    assert "name_union_all" not in changes or not changes["name_union_all"].rebuild  # type: ignore[attr-defined]
    assert not changes["customer_names"].rebuild  # type: ignore[attr-defined]


def test_a_star_child_of_a_parent_that_only_adds_columns_is_rebuilt(make_project: ProjectFactory) -> None:
    deployed_with_readers(make_project)
    added = "select customer_id, name, region, length(name) as nl from raw.customers\n"
    write_files(make_project.root, {"models/staging/stg_customers.sql": added})
    changes = by_model(plan_of(make_project))
    assert changes["stg_customers"].reason.startswith("only adds columns (nl)")  # type: ignore[attr-defined]
    assert changes["star_copy"].rebuild  # type: ignore[attr-defined]  # it returns the new column
    assert not changes["customer_names"].rebuild and not changes["region_ordinal"].rebuild  # type: ignore[attr-defined]


def test_a_column_added_to_an_enforced_contract_must_be_declared(deployed: Path, make_project: ProjectFactory) -> None:
    write_files(
        deployed,
        {
            "models/marts/customer_totals.sql": """
        select c.customer_id, c.region, count(o.order_id) as orders, sum(o.amount) as total, max(o.amount) as top
        from staging.stg_customers c left join stg_orders o on o.customer_id = c.customer_id
        group by c.customer_id, c.region
    """
        },
    )
    plan = plan_of(make_project)  # planned as non-breaking before; the build then refused the model
    assert [c.change for c in plan.contract_changes] == ["column added"]
    assert len(plan.blocked) == 1 and "column top" in plan.blocked[0] and "not declared" in plan.blocked[0]
    # --allow-breaking cannot lift it, and apply's hint says what does (it used to say --allow-breaking)
    planned = runner.invoke(app, ["plan", "-p", str(deployed), "--allow-breaking", "--format", "json"])
    assert planned.exit_code == 1, planned.output
    refused = runner.invoke(app, ["apply", json.loads(planned.output)["plan_id"], "-p", str(deployed)])
    assert refused.exit_code == 2, refused.output
    assert "hint: declare the columns in the model's YAML (or change the query), then re-plan" in refused.stderr
    assert "--allow-breaking" not in refused.stderr
    contract = (deployed / "models/marts/customer_totals.yml").read_text()
    declared = contract.replace(
        "- {name: total, type: double}", "- {name: total, type: double}\n      - {name: top, type: double}"
    )
    write_files(deployed, {"models/marts/customer_totals.yml": declared})
    assert plan_of(make_project).blocked == []


def test_an_upstream_change_is_traced_through_a_childs_ctes(make_project: ProjectFactory) -> None:
    traced = {
        "models/marts/region_tags.sql": """
            with base as (select customer_id, name, region from stg_customers),
                 tagged as (select base.*, upper(region) as reg from base)
            select customer_id, reg from tagged
        """,
        "models/marts/names_only.sql": """
            with base as (select customer_id, name, region from stg_customers)
            select customer_id, name from base
        """,
    }
    make_project({**FILES, **traced})
    with make_project.open() as wh:
        wh.build("prod")
    lowered = "select customer_id, name, lower(region) as region from raw.customers\n"
    write_files(make_project.root, {"models/staging/stg_customers.sql": lowered})
    changes = by_model(plan_of(make_project))
    tags = changes["region_tags"]
    assert tags.rebuild and tags.changed_columns == ["reg"]  # type: ignore[attr-defined]  # was ["*"]
    names = changes["names_only"]
    assert not names.rebuild and "traced through its CTEs" in names.reason  # type: ignore[attr-defined]
