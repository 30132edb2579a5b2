"""The janitor on chains of versions: readers dropped before what they read, and young readers protect it."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlglot import exp

from dataplan.backends.base import Backend, column
from dataplan.build import environments
from dataplan.errors import EngineError, InputError, StateError
from dataplan.rollout import janitor
from dataplan.rollout.locks import Locks
from dataplan.state.store import StateStore, Version
from dataplan.warehouse import Warehouse
from tests.build.test_file_sources import LOADED, drop_accounts_source, pg_accounts
from tests.conftest import ProjectFactory, catalog, run_sql

STG_ORDERS = "select order_id, customer_id, amount + 0 as amount, status, ordered_at from raw.orders"


def _versions(wh: Warehouse, environment: str) -> dict[str, str]:
    return {m: e.version_id for m, e in wh.store.environment_models(environment).items()}


def test_a_chain_of_unreferenced_views_is_dropped_readers_first(make_project: ProjectFactory) -> None:
    root = make_project()
    with make_project.open() as wh:
        wh.build("prod")
        old = _versions(wh, "prod")
    (root / "models/staging/stg_orders.sql").write_text(STG_ORDERS)
    with make_project.open() as wh:
        wh.build("prod")  # stg_orders and the two views reading it get new versions
        chain = [old["region_totals"], old["customer_totals"], old["stg_orders"]]
        planned = wh.janitor("0s", dry_run=True).dropped
        assert planned == chain  # readers first: Postgres refuses to drop a relation a view still reads
        assert wh.janitor("0s").dropped == chain
        relations = {name for _, name, _ in catalog(wh)[0]}
        assert not relations & set(chain)
        assert set(_versions(wh, "prod").values()) <= relations  # what prod reads is all there


def test_a_version_kept_for_its_age_keeps_the_versions_it_reads(make_project: ProjectFactory) -> None:
    root = make_project()
    with make_project.open() as wh:
        wh.build("prod")
    (root / "models/staging/stg_orders.sql").write_text(STG_ORDERS)
    with make_project.open() as wh:
        wh.build("dev")
        dev = _versions(wh, "dev")
        wh.drop_environment("dev")  # dev's versions are now unreferenced
        # stg_orders' new version is old; customer_totals' (which reads it) is young.
        past = exp.Literal.string((dt.datetime.now(dt.UTC) - dt.timedelta(days=3)).strftime("%Y-%m-%d %H:%M:%S"))
        stmt = exp.update(
            wh.store.t("versions"),
            {"created_at": exp.cast(past, "TIMESTAMP")},
            column("version_id").eq(dev["stg_orders"]),
        )
        wh.backend.execute(stmt)
        result = wh.janitor("1h")
        assert dev["stg_orders"] not in result.dropped
        assert result.kept[dev["stg_orders"]] == f"read by {dev['customer_totals']} (stg_orders)"
        assert result.kept[dev["customer_totals"]] == "younger than the TTL (1:00:00)"
        wh.build("dev")  # reuses both versions: the young one still reads its parent
        assert _versions(wh, "dev") == dev


def test_a_build_reading_versions_waits_while_the_janitor_drops(
    tmp_path: Path, pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Postgres: the janitor's lock makes readers of the versions wait, so no build chooses to reuse a
    # version being dropped. DuckDB needs no lock: one process writes a database file at a time.
    factory = ProjectFactory(tmp_path / "project", "postgres", lambda: pg_dsn)
    root = factory()
    with factory.open() as wh:
        wh.build("prod")
    (root / "models/staging/stg_orders.sql").write_text(STG_ORDERS)
    entered, release = threading.Event(), threading.Event()
    order = janitor.children_first

    def paused(dropped: list[str], versions: list[Version]) -> list[str]:
        entered.set()
        release.wait(30)
        return order(dropped, versions)

    monkeypatch.setattr(janitor, "children_first", paused)
    with factory.open() as wh, factory.open() as other:
        wh.build("prod")  # the old versions are now unreferenced
        result: list[janitor.JanitorResult] = []
        thread = threading.Thread(target=lambda: result.append(wh.janitor("0s")))
        thread.start()
        try:
            assert entered.wait(30)
            other.backend.conn.execute("SET lock_timeout = '200ms'")  # type: ignore[attr-defined]
            with pytest.raises(EngineError, match="lock timeout"):
                other.store.versions()
        finally:
            release.set()
            thread.join(30)
        assert len(result[0].dropped) == 3
        assert len(other.store.versions()) == len(wh.store.versions())  # it reads again once the janitor is done


def _version(n: int, *parents: int) -> Version:
    return Version(f"v{n}", f"m{n}", "marts", f"fp{n}", "view", "", parents={f"m{p}": f"fp{p}" for p in parents})


def test_readers_first_holds_for_diamonds_and_long_chains() -> None:
    # v1 <- v2, v1 <- v3, (v2, v3) <- v4: v4 first, v1 last, whatever order they are listed in.
    diamond = [_version(1), _version(2, 1), _version(3, 1), _version(4, 2, 3)]
    order = janitor.children_first(["v1", "v2", "v3", "v4"], diamond)
    assert order[0] == "v4" and order[-1] == "v1" and sorted(order) == ["v1", "v2", "v3", "v4"]
    chain = [_version(0)] + [_version(i, i - 1) for i in range(1, 5000)]  # no recursion limit to hit
    assert janitor.children_first([v.version_id for v in chain], chain) == [f"v{i}" for i in reversed(range(5000))]


def test_a_swap_refuses_versions_the_janitor_dropped_meanwhile(
    make_project: ProjectFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The janitor started before this build took its lock, and drops the versions the build has just
    # created (TTL 0) before the build swaps its views: the build says so and changes nothing.
    root = make_project()
    with make_project.open() as wh:
        wh.build("prod")
        before = catalog(wh), _versions(wh, "prod")
    (root / "models/staging/stg_orders.sql").write_text(STG_ORDERS)
    point = environments.point

    def janitor_first(backend: Backend, store: StateStore, *args: Any, **kwargs: Any) -> None:
        monkeypatch.setattr(Locks, "live", lambda self: [])  # it checked the locks before this build began
        janitor.run_janitor(backend, store, dt.timedelta(0), dry_run=False)
        point(backend, store, *args, **kwargs)

    monkeypatch.setattr(environments, "point", janitor_first)
    with make_project.open() as wh:
        with pytest.raises(StateError, match="prod was not changed: the versions of stg_orders .* no longer exist"):
            wh.build("prod")
        assert (catalog(wh), _versions(wh, "prod")) == before
    monkeypatch.setattr(environments, "point", point)
    with make_project.open() as wh:
        assert len(wh.build("prod").created) == 3  # rebuilt


def test_a_version_is_pinned_by_the_fingerprint_status_shows(make_project: ProjectFactory) -> None:
    make_project()
    with make_project.open() as wh:
        wh.build("prod")
        vid = _versions(wh, "prod")["customer_totals"]
        fingerprint = vid.rsplit("__", 1)[1]
        wh.pin(fingerprint, "audit")
        assert wh.store.pin_reasons(vid) == ["audit"]
        assert wh.unpin(fingerprint) == 1
        with pytest.raises(InputError, match="no version 'abc123'"):
            wh.pin("abc123", "x")


def test_postgres_drops_loaded_files_no_source_or_version_reads_and_keeps_the_rest(pg_dsn: str, tmp_path: Path) -> None:
    factory, root = pg_accounts(pg_dsn, tmp_path / "project")
    with factory.open() as wh:
        wh.build("prod")
        run_sql(wh, [  # an orphan loaded table that a view of the user's own still reads
            'create table "_dataplan_files"."gone__t" (x int)',
            'create view public.mine as select x from "_dataplan_files"."gone__t"',
        ])  # fmt: skip
        kept = wh.janitor("0s")
        assert kept.dropped_loads == []
        assert kept.kept_loads[LOADED] == "a declared source"
        assert kept.kept_loads["_dataplan_files.gone__t"] == "read by view public.mine"
    drop_accounts_source(root)
    with factory.open() as wh:
        wh.build("prod")
        young = wh.janitor("7d")  # the old versions are young: kept, and what they read with them
        stg = next(v for v, why in young.kept.items() if "stg_accounts" in v)
        assert young.kept_loads[LOADED] == f"read by {stg}"
        planned = wh.janitor("0s", dry_run=True)
        assert planned.dropped_loads == [LOADED]
        assert LOADED in {f"{r.schema}.{r.name}" for r in wh.backend.relations()}  # a dry run drops nothing
        done = wh.janitor("0s")
        assert done.dropped_loads == [LOADED] and stg in done.dropped
        names = {f"{r.schema}.{r.name}" for r in wh.backend.relations()}
        assert LOADED not in names and "_dataplan_files.gone__t" in names  # the user's view still reads it
        assert wh.backend.fetch_rows(exp.select("*").from_(exp.table_("mine", db="public"))) == []


def test_two_projects_in_one_postgres_database_keep_their_own_loaded_files(pg_dsn: str, tmp_path: Path) -> None:
    own = {"state_schema": "two_state", "layers": {"staging": "two_staging", "marts": "two_marts"}}
    one, _ = pg_accounts(pg_dsn, tmp_path / "one")
    two, root_two = pg_accounts(pg_dsn, tmp_path / "two", **own)
    for factory, table_name in ((one, LOADED), (two, "two_state_files.crm__accounts")):
        with factory.open() as wh:
            [load] = wh.build("prod").loaded
            assert load.table == table_name
    # project two drops its source: its janitor drops its own copy and never project one's
    drop_accounts_source(root_two)
    with two.open() as wh:
        wh.build("prod")
        done = wh.janitor("0s")
        assert done.dropped_loads == ["two_state_files.crm__accounts"] and LOADED not in done.kept_loads
        names = {f"{r.schema}.{r.name}" for r in wh.backend.relations()}
    assert LOADED in names and "two_state_files.crm__accounts" not in names
    with one.open() as wh:
        assert wh.run("prod").loaded == []  # its copy is intact and current: nothing to load again
        assert len(wh.backend.fetch_rows(exp.select("*").from_(exp.table_("stg_accounts", db="staging")))) == 3
