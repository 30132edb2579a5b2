"""State store: numbered migrations, batched reads."""

from __future__ import annotations

from pathlib import Path

from dataplan import Project, Warehouse
from dataplan.state.migrations import MIGRATIONS
from tests.conftest import SHOP_FILES, ProjectFactory, catalog, start_blocked, write_files


def test_pending_migrations_never_write(make_project: ProjectFactory) -> None:
    make_project()
    with make_project.open() as wh:
        before = catalog(wh)
        pending = wh.store.pending_migrations()
        assert [m.id for m in pending] == [m.id for m in MIGRATIONS]
        assert catalog(wh) == before
        applied = wh.store.ensure()
        assert [m.id for m in applied] == [m.id for m in MIGRATIONS]
        tables = {r.name for r in wh.backend.relations() if r.schema == "_dataplan"}
        assert {
            "_migrations",
            "versions",
            "environments",
            "environment_models",
            "intervals",
            "plans",
            "journal",
            "locks",
            "pins",
        } <= tables
    with make_project.open() as wh:
        assert wh.store.pending_migrations() == []
        assert wh.store.ensure() == []


def _chain(n: int) -> dict[str, str]:
    files = {
        "models/staging/m0.sql": "select customer_id, region from raw.customers",
        "sources.yml": SHOP_FILES["sources.yml"],
    }
    for i in range(1, n):
        files[f"models/marts/m{i}.sql"] = f"select customer_id, region from m{i - 1}"
    return files


def test_noop_build_round_trips_do_not_grow_with_models(duck_project: ProjectFactory, tmp_path: Path) -> None:
    counts = {}
    for n in (3, 30):
        root = duck_project(_chain(n))
        with Warehouse.open(Project.load(root)) as wh:
            assert len(wh.build("prod").created) >= n
        with Warehouse.open(Project.load(root)) as wh:
            again = wh.build("prod")
            assert again.nothing_to_do
            counts[n] = again.round_trips
        (root / "warehouse.duckdb").unlink()
        for p in (root / "models").rglob("*.sql"):
            p.unlink()
    # migrations check (2), versions, environment, and the environment lock (read, insert, delete + its transaction)
    assert counts[3] == counts[30] == 9


def test_versions_record_what_plans_need(duck_project: ProjectFactory) -> None:
    root = duck_project()
    write_files(root, {"models/marts/region_totals.yml": "models:\n  - name: region_totals\n    grain: [region]\n"})
    with duck_project.open() as wh:
        wh.build("prod")
        v = next(v for v in wh.store.versions() if v.model == "region_totals")
    assert v.model_sql.startswith("SELECT region, SUM(total) AS total FROM marts.customer_totals")
    assert v.spec == {"name": "region_totals", "grain": ["region"]}
    assert list(v.parents) == ["customer_totals"]
    assert v.columns[0][0] == "region"


def test_two_first_postgres_commands_at_once_both_find_the_state_ready(pg_dsn: str) -> None:
    from dataplan.backends.postgres import PostgresBackend
    from dataplan.state.store import StateStore

    first, second = PostgresBackend(pg_dsn), PostgresBackend(pg_dsn)
    try:
        with first.transaction():  # the first command's migrations, not committed yet: a new schema and tables
            assert len(StateStore(first, "_dataplan").ensure()) == len(MIGRATIONS)
            worker, outcome = start_blocked(
                pg_dsn, lambda: len(StateStore(second, "_dataplan").ensure()), "the second command"
            )
        worker.join(30)
        assert outcome == [0]  # no error, and nothing left to apply: the first applied every migration
        store = StateStore(second, "_dataplan")
        assert store.is_initialized() and store.pending_migrations() == []
    finally:
        first.close()
        second.close()
