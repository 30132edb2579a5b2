"""Incremental models across builds and runs: failures, open days, lookback, settings, time zones — both engines."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlglot import exp

from dataplan import ProjectError, StateError, Warehouse
from dataplan.backends.base import table
from dataplan.errors import EngineError
from tests.conftest import ProjectFactory, run_sql, write_files

D = dt.date


def incremental(
    sql: str = "select order_id, ordered_at, amount from raw.orders",
    *,
    time_column: str = "ordered_at",
    batch_days: int = 2,
    lookback_days: int = 0,
) -> dict[str, str]:
    return {
        "models/staging/events.sql": sql,
        "models/staging/events.yml": f"""
            models:
              - name: events
                materialized: incremental_by_time
                time_column: {time_column}
                start: 2025-01-01
                batch_days: {batch_days}
                lookback_days: {lookback_days}
        """,
    }


def days(wh: Warehouse, schema: str = "staging", name: str = "events", col: str = "ordered_at") -> list[str]:
    """The model's time values as text, sorted, one per row."""
    q = exp.select(exp.column(col)).from_(table(schema, name)).order_by(exp.column(col))
    return [str(r[0])[:10] for r in wh.backend.fetch_rows(q)]


def recorded(wh: Warehouse, model: str = "events") -> list[tuple[str, str]]:
    vid = wh.store.environment_models("prod")[model].version_id
    return [(s.date().isoformat(), e.date().isoformat()) for s, e in wh.store.intervals([vid])[vid]]


TOTALS = {  # a table reading the incremental model
    "models/marts/totals.sql": "select count(*) as n from staging.events",
    "models/marts/totals.yml": "models:\n  - name: totals\n    materialized: table\n",
}
CAST_STATUS = "select order_id, ordered_at, cast(status as integer) as s from raw.orders"
BAD_ROW_5 = [
    "update raw.orders set status = '1'",
    "update raw.orders set status = 'x' where order_id = 5",
]  # batch [5,7)


@pytest.fixture
def open_day(monkeypatch: pytest.MonkeyPatch) -> dt.datetime:
    """'Today' (UTC) is 2025-01-04: days from there on are processed but not recorded as done."""
    today = dt.datetime(2025, 1, 4)
    monkeypatch.setattr("dataplan.build.versions.open_from", lambda: today)
    return today


def test_a_backfill_that_failed_is_finished_by_the_next_build(make_project: ProjectFactory) -> None:
    root = make_project()
    write_files(root, incremental(CAST_STATUS))
    with make_project.open() as wh:
        run_sql(wh, BAD_ROW_5)
        with pytest.raises(EngineError):
            wh.build("prod", select="events", end=D(2025, 1, 7))  # [1,3) and [3,5) commit, [5,7) fails
        assert wh.store.environment_models("prod") == {}  # no view reads the half-filled version
        run_sql(wh, ["update raw.orders set status = '2' where order_id = 5"])
        again = wh.build("prod", select="events", end=D(2025, 1, 7))
        (action,) = again.actions
        assert (action.version, action.view, action.batches) == ("reuse", "point", 1)
        assert days(wh) == ["2025-01-01", "2025-01-02", "2025-01-02", "2025-01-03", "2025-01-05"]
        assert [m.state for m in wh.status("prod").models if m.model == "events"] == ["up to date"]
        assert wh.build("prod", select="events", end=D(2025, 1, 7)).nothing_to_do


def test_the_day_under_way_is_processed_but_not_recorded(make_project: ProjectFactory, open_day: dt.datetime) -> None:
    root = make_project()
    write_files(root, incremental())
    with make_project.open() as wh:
        wh.build("prod", end=D(2025, 1, 5))  # [1,3) and [3,5): the 4th is today
        assert recorded(wh) == [("2025-01-01", "2025-01-03"), ("2025-01-03", "2025-01-04")]
        run_sql(wh, ["insert into raw.orders values (6, 'c1', 1.0, 'paid', '2025-01-04')"])  # late row of today
        ran = wh.run("prod", select="events", end=D(2025, 1, 5))
        assert ran.refreshed[0].action == "1 new batch(es): 2025-01-04 -> 2025-01-05, 1 row"  # what run processed
        assert days(wh)[-1] == "2025-01-04"
        # an --end far in the future processes what is there and records nothing past today
        wh.run("prod", end=D(2030, 1, 1))
        assert recorded(wh)[-1][1] == "2025-01-04"
        run_sql(wh, ["insert into raw.orders values (7, 'c1', 1.0, 'paid', '2025-01-09')"])
        wh.run("prod", end=D(2030, 1, 1))
        assert days(wh).count("2025-01-09") == 1


def test_lookback_never_forgets_days_before_its_window(make_project: ProjectFactory) -> None:
    root = make_project()
    write_files(root, incremental(lookback_days=1))
    with make_project.open() as wh:
        wh.build("prod", end=D(2025, 1, 5))  # [1,3) [3,5)
        wh.run("prod", end=D(2025, 1, 6))  # looks back to the 4th: [3,5) is cut, not dropped
        assert recorded(wh) == [
            ("2025-01-01", "2025-01-03"),
            ("2025-01-03", "2025-01-04"),
            ("2025-01-04", "2025-01-06"),
        ]
        run_sql(wh, ["delete from raw.orders where ordered_at < '2025-01-05'"])  # the source keeps 1 day
        wh.run("prod", end=D(2025, 1, 7))  # looks back to the 5th only
        assert days(wh) == ["2025-01-01", "2025-01-02", "2025-01-02", "2025-01-03", "2025-01-05"]


def test_an_edited_lookback_applies_to_the_built_version(make_project: ProjectFactory) -> None:
    root = make_project()
    write_files(root, incremental())
    with make_project.open() as wh:
        wh.build("prod", end=D(2025, 1, 5))
        run_sql(wh, ["insert into raw.orders values (6, 'c1', 1.0, 'paid', '2025-01-04')"])  # late, day closed
    write_files(root, incremental(lookback_days=2))
    with make_project.open() as wh:
        assert wh.status("prod").pending == []  # how to process, not what the data is: same version
        (change,) = [c for c in wh.plan("prod", save=False).changes if c.model == "events"]
        assert (change.change, change.rebuild) == ("metadata only", False)
        assert change.reason.startswith("lookback_days changed: how `run` processes batches")
        wh.run("prod", end=D(2025, 1, 5))
        assert "2025-01-04" in days(wh)


def test_a_zoned_time_column_is_batched_in_utc_whatever_the_session_zone(make_project: ProjectFactory) -> None:
    root = make_project()
    sql = "select order_id, cast(ordered_at as timestamptz) + interval '2 hours' as at from raw.orders"
    write_files(root, incremental(sql, time_column="at"))
    with make_project.open() as wh:
        wh.build("prod", end=D(2025, 1, 3))
    with make_project.open() as wh:
        # New York's 2025-01-03 begins at 05:00 UTC: a bound read in the session zone skipped the 02:00 rows
        run_sql(wh, ["set TimeZone = 'America/New_York'"])
        wh.run("prod", end=D(2025, 1, 7))
        q = exp.select(exp.func("count", exp.Star())).from_(table("staging", "events"))
        assert wh.backend.fetch_value(q) == 5


def test_run_refreshes_a_parent_built_only_for_a_selected_child(make_project: ProjectFactory) -> None:
    root = make_project()
    write_files(
        root,
        {
            **incremental(),
            **TOTALS,
        },
    )
    with make_project.open() as wh:
        wh.build("prod", select="totals", end=D(2025, 1, 3))  # events gets a version but no view
        assert set(wh.store.environment_models("prod")) == {"totals"}
        ran = wh.run("prod", end=D(2025, 1, 7))
        assert [a.model for a in ran.refreshed] == ["events", "totals"]
        assert ran.refreshed[0].action.endswith("(read by a model of prod; no view points at this version)")
        assert ran.refreshed[1].action == "recomputed"
        assert wh.backend.fetch_value(exp.select("n").from_(table("marts", "totals"))) == 5


def test_run_of_a_selected_model_not_built_is_refused(make_project: ProjectFactory) -> None:
    root = make_project()
    write_files(root, incremental())
    with make_project.open() as wh:
        wh.build("prod", select="stg_orders")
        with pytest.raises(StateError, match="events is not built in prod"):
            wh.run("prod", select="events")


@pytest.mark.parametrize(
    ("time_column", "message"),
    [("at", "time_column 'at' is not one of its columns"), ("amount", "time_column 'amount' is (DOUBLE|float8)")],
)
def test_a_bad_time_column_is_the_model_files_error(
    make_project: ProjectFactory, time_column: str, message: str
) -> None:
    root = make_project()
    write_files(root, incremental(time_column=time_column))
    with make_project.open() as wh:
        with pytest.raises(ProjectError, match=message) as info:
            wh.build("prod", select="events")
        assert info.value.path == root / "models/staging/events.yml" and info.value.line == 4  # time_column:
        assert [v for v in wh.store.versions() if v.model == "events"] == []  # nothing created


def test_a_renamed_layer_schema_moves_the_views(make_project: ProjectFactory, tmp_path: Path) -> None:
    root = make_project()
    with make_project.open() as wh:
        wh.build("prod")
    text = (root / "dataplan.yml").read_text()
    (root / "dataplan.yml").write_text(text + "layers:\n  staging: stg\n  marts: marts\n")
    with make_project.open() as wh:
        assert {m.model for m in wh.status("prod").pending} == {"stg_orders", "stg_customers"}
        moved = wh.build("prod")
        assert {a.reason for a in moved.repointed} == {"view moves to schema stg"} and not moved.created
        names = {(r.schema, r.name) for r in wh.backend.relations()}
        assert {("stg", "stg_orders"), ("stg", "stg_customers")} <= names
        assert not {("staging", "stg_orders"), ("staging", "stg_customers")} & names
        assert wh.build("prod").nothing_to_do


STAGED = {
    "models/staging/stg.sql": "select order_id, ordered_at, amount from raw.orders",
    "models/staging/stg.yml": "models:\n  - name: stg\n    materialized: table\n",
    **incremental("select order_id, ordered_at, amount from staging.stg"),
}


def test_a_build_never_fills_later_days_from_parents_run_has_not_refreshed(make_project: ProjectFactory) -> None:
    # A dev build reusing prod's incremental version filled it up to tomorrow from the table parent's old
    # snapshot and recorded those days: the next run skipped them, and the rows were lost for good.
    root = make_project()
    write_files(root, STAGED)
    with make_project.open() as wh:
        wh.build("prod", end=D(2025, 1, 3))
        run_sql(wh, ["insert into raw.orders values (6, 'c1', 1.0, 'paid', '2025-01-04')"])
        dev = wh.build("dev", end=D(2025, 1, 7))
        assert [a.batches for a in dev.actions if a.model == "events"] == [0]
        assert recorded(wh)[-1][1] == "2025-01-03"  # prod's version untouched
        wh.run("prod", end=D(2025, 1, 7))
        assert days(wh) == ["2025-01-01", "2025-01-02", "2025-01-02", "2025-01-03", "2025-01-04", "2025-01-05"]


def test_a_child_is_never_built_from_a_parent_whose_backfill_stopped(make_project: ProjectFactory) -> None:
    root = make_project()
    write_files(
        root,
        {
            **incremental(CAST_STATUS),
            **TOTALS,
        },
    )
    with make_project.open() as wh:
        run_sql(wh, BAD_ROW_5)
        with pytest.raises(EngineError):
            wh.build("prod", select="events", end=D(2025, 1, 7))
        run_sql(wh, ["update raw.orders set status = '2' where order_id = 5"])
        built = wh.build("prod", select="totals", end=D(2025, 1, 7))
        parent = next(a for a in built.actions if a.model == "events")
        assert (parent.version, parent.view, parent.batches) == ("reuse", "none", 1)
        assert parent.reason == "finishes its first backfill, to 2025-01-07"
        assert wh.backend.fetch_value(exp.select("n").from_(table("marts", "totals"))) == 5


def test_zoned_types_at_any_precision_are_batched_in_utc() -> None:
    from dataplan.backends.base import zoned

    assert zoned("timestamptz(0)") and zoned("timestamp(3) with time zone") and zoned("TIMESTAMPTZ")
    assert not zoned("timestamp(0)") and not zoned("TIMESTAMP") and not zoned("date")


def test_apply_that_stops_on_the_projects_error_leaves_the_plan_a_draft(make_project: ProjectFactory) -> None:
    root = make_project()
    with make_project.open() as wh:
        wh.build("prod")
    write_files(root, incremental(time_column="amount"))
    with make_project.open() as wh:
        pid = wh.plan("prod").plan_id
        with pytest.raises(ProjectError, match="time_column 'amount' is"):
            wh.apply(pid)
        assert wh.get_plan(pid).status == "DRAFT"  # exit 2 changes nothing, as documented
        assert ("build", "end", "error") in [(e.step, e.phase, e.outcome) for e in wh.log(pid)]


def test_apply_fills_a_changed_incremental_model_as_far_as_the_target_got(make_project: ProjectFactory) -> None:
    # prod's version was last run to the 3rd: the plan says it rebuilds that history, and verification must
    # compare the same days (filling to tomorrow failed the row-count check on rows prod never had).
    root = make_project()
    write_files(root, incremental())
    with make_project.open() as wh:
        wh.build("prod", end=D(2025, 1, 3))
    write_files(root, incremental("select order_id, ordered_at, amount * 2 as amount from raw.orders"))
    with make_project.open() as wh:
        plan = wh.plan("prod")
        (backfill,) = [b for b in plan.backfills if b.model == "staging.events"]
        assert backfill.ranges == [("2025-01-01", "2025-01-03")]
        applied = wh.apply(plan.plan_id)
        (row_count,) = [c for c in applied.plan.checks if c.model == "staging.events" and c.kind == "row_count"]
        assert row_count.outcome == "pass" and row_count.actual.startswith("3 -> 3 rows")
        (new,) = [c.new_version for c in applied.plan.changes if c.model == "events"]
        assert [e.date().isoformat() for _, e in wh.store.intervals([new])[new]][-1] == "2025-01-03"


def test_a_version_another_build_recorded_meanwhile_is_reused_not_recreated(make_project: ProjectFactory) -> None:
    # Builds of two environments run at once: one looked the version up before the other recorded it.
    write_files(make_project(), incremental())
    with make_project.open() as wh:
        wh.build("prod", end=D(2025, 1, 10))
        before = days(wh)
        model = wh.project.models["events"]
        fingerprint = wh.project.fingerprints["events"]
        build = wh.builder.writer.create(model, fingerprint, D(2025, 1, 10))
        assert build.version.version_id == wh.store.environment_models("prod")["events"].version_id
        assert build.batches == 0
        assert days(wh) == before and len(before) == 5  # the recorded days still have their rows
        assert len(wh.store.versions(fingerprints=[fingerprint])) == 1


def test_run_says_a_seed_has_nothing_to_refresh(make_project: ProjectFactory) -> None:
    root = make_project()
    write_files(root, {"seeds/regions.csv": "region,label\neu,Europe\nus,United States\n"})
    with make_project.open() as wh:
        wh.build("prod")
        actions = {a.model: a.action for a in wh.run("prod").refreshed}
    assert actions["regions"] == "nothing to do (seed: a build loads its file)"  # not "(view)": it is a table
