"""A build stopped by an error: bad input changes nothing; the engine's error names the model."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlglot import exp

from dataplan.build.versions import VersionWriter
from dataplan.errors import ContractError, EngineError, StateError
from dataplan.project.nodes import Model
from dataplan.state.store import EnvironmentModel
from tests.conftest import ProjectFactory, catalog, run_sql, write_files

CHANGED_ORDERS = "select order_id, customer_id, amount + 0 as amount, status, ordered_at from raw.orders"
BROKEN_CONTRACT = """
    models:
      - name: region_totals
        contract: {enforced: true}
        columns:
          - {name: region, type: varchar}
          - {name: total, type: date}
"""
BAD_CAST = {  # a table whose cast fails on the data, not when described
    "models/marts/bad_cast.sql": "select cast(name as integer) as n from raw.customers",
    "models/marts/bad_cast.yml": "models:\n  - name: bad_cast\n    materialized: table\n",
}


def test_a_contract_error_mid_build_leaves_the_warehouse_as_it_was(make_project: ProjectFactory) -> None:
    root = make_project()
    with make_project.open() as wh:
        wh.build("prod")
        before = catalog(wh), wh.store.versions()
    # stg_orders and customer_totals get new versions before region_totals breaks its contract.
    (root / "models/staging/stg_orders.sql").write_text(CHANGED_ORDERS)
    (root / "models/marts/region_totals.yml").write_text(BROKEN_CONTRACT)
    with make_project.open() as wh:
        with pytest.raises(ContractError, match="column total: declared date"):
            wh.build("prod")
        assert (catalog(wh), wh.store.versions()) == before
        # The next build, once the contract is fixed, builds them again.
        (root / "models/marts/region_totals.yml").unlink()
    with make_project.open() as wh:
        assert [a.version for a in wh.build("prod").actions if a.version == "create"] == ["create"] * 3


def test_an_engine_error_names_the_model_and_its_file(make_project: ProjectFactory) -> None:
    root = make_project()
    write_files(root, BAD_CAST)
    with make_project.open() as wh:
        with pytest.raises(EngineError) as caught:
            wh.build("prod")
    assert caught.value.message.startswith("model marts.bad_cast failed to build: ")
    assert "Ann" in caught.value.message  # the engine's own words follow
    assert caught.value.path == root / "models/marts/bad_cast.sql"
    assert caught.value.exit_code == 3


def test_apply_stopped_by_the_engine_is_journaled_and_leaves_the_plan_a_draft(make_project: ProjectFactory) -> None:
    root = make_project()
    with make_project.open() as wh:
        wh.build("prod")
    write_files(root, BAD_CAST)
    with make_project.open() as wh:
        plan = wh.plan("prod")
        with pytest.raises(EngineError, match="model marts.bad_cast failed to build"):
            wh.apply(plan.plan_id)
        stored = wh.get_plan(plan.plan_id)
        assert stored.status == "DRAFT"
        last = wh.log(plan.plan_id)[-1]
        assert (last.step, last.phase, last.outcome) == ("build", "end", "error")
        assert "marts.bad_cast" in str(last.detail["error"])
    # The plan and its document say why, not only the journal.
    assert stored.apply_failure is not None
    assert stored.apply_failure.message.startswith("model marts.bad_cast failed to build: ")
    assert stored.document is not None
    doc_path = stored.document
    doc = (root / doc_path).read_text(encoding="utf-8")
    assert "**DRAFT** — planned; the last apply failed, see below" in doc
    assert "- Apply failed " in doc and ": model marts.bad_cast failed to build: " in doc
    assert f"run `dataplan apply {plan.plan_id}` again." in doc
    # Once the data is fixed, the same plan applies, and the failure leaves the plan and its document.
    with make_project.open() as wh:
        run_sql(wh, ["update raw.customers set name = '7'"])
        assert wh.apply(plan.plan_id).exit_code == 0
        fixed = wh.get_plan(plan.plan_id)
    assert fixed.status == "IN PROGRESS" and fixed.apply_failure is None
    assert "Apply failed" not in (root / doc_path).read_text(encoding="utf-8")


def test_run_names_the_model_the_engine_refused(make_project: ProjectFactory) -> None:
    root = make_project()
    (root / "models/marts/casted.sql").write_text("select cast(region as integer) as n from raw.customers")
    (root / "models/marts/casted.yml").write_text("models:\n  - name: casted\n    materialized: table\n")
    with make_project.open() as wh:
        run_sql(wh, ["update raw.customers set region = '1'"])
        wh.build("prod")
        run_sql(wh, ["update raw.customers set region = 'eu' where customer_id = 'c1'"])
        with pytest.raises(EngineError, match="model marts.casted failed to refresh: "):
            wh.run("prod")


def test_a_version_another_build_took_meanwhile_is_not_discarded(
    make_project: ProjectFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_project()
    with make_project.open() as wh:
        wh.build("prod")
    (root / "models/staging/stg_orders.sql").write_text(CHANGED_ORDERS)
    (root / "models/marts/region_totals.yml").write_text(BROKEN_CONTRACT)
    with make_project.open() as wh:
        taken: dict[str, str] = {}
        check = VersionWriter.check_contract

        def another_build_points_qa(self: VersionWriter, model: Model, query: exp.Query) -> list[tuple[str, str]]:
            if model.name == "region_totals":  # before the contract breaks, qa is pointed at the new version
                taken.update(customer_totals=self.bound["customer_totals"], stg_orders=self.bound["stg_orders"])
                entry = EnvironmentModel("qa", "customer_totals", "marts__qa", taken["customer_totals"])
                wh.store.set_environment_models("qa", [entry], [])
            return check(self, model, query)

        monkeypatch.setattr(VersionWriter, "check_contract", another_build_points_qa)
        with pytest.raises(ContractError):
            wh.build("prod")
        # qa's version stays, and so does the version it reads.
        assert {v.version_id for v in wh.store.versions()} >= set(taken.values())
        relations = {name for _, name, _ in catalog(wh)[0]}
        assert set(taken.values()) <= relations


THEIRS = [
    "create schema marts",
    "create view marts.customer_totals as select 42 as mine",
    "create schema staging",
    "create table staging.stg_orders (x integer)",
]


def test_a_view_or_table_someone_else_made_under_a_models_name_is_refused(make_project: ProjectFactory) -> None:
    """A hand-made view (or a dbt model) would be replaced and lost; a table would stop the swap in the engine."""
    from typer.testing import CliRunner

    from dataplan.cli.app import app

    root = make_project()
    with make_project.open() as wh:
        run_sql(wh, THEIRS)
        before = catalog(wh)
        with pytest.raises(StateError) as err:
            wh.build("prod")
        assert str(err.value).startswith(
            "prod was not changed: marts.customer_totals (a view), staging.stg_orders (a table) are not dataplan's, "
            "and the project's views of the same name would replace them"
        )
        assert "rename or drop them yourself, or give the layer another schema under `layers:`" in str(err.value)
        assert catalog(wh) == before and not wh.store.is_initialized()  # not even the state tables
    cli = CliRunner().invoke(app, ["build", "-p", str(root)])
    assert cli.exit_code == 2 and "marts.customer_totals (a view)" in cli.output
    with make_project.open() as wh:
        assert catalog(wh) == before
        assert wh.backend.fetch_rows(exp.select("mine").from_("marts.customer_totals")) == [(42,)]
        run_sql(wh, ["drop view marts.customer_totals", "drop table staging.stg_orders"])
        assert len(wh.build("prod").created) == 4

        # An environment's first build once the state exists: refused before any version or view is made.
        run_sql(wh, ["create schema marts__dev", "create view marts__dev.region_totals as select 1 as mine"])
        changed = "select region, count(*) as n from customer_totals group by 1"
        write_files(root, {"models/marts/region_totals.sql": changed})
        before = catalog(wh)
        versions = {v.version_id for v in wh.store.versions()}
        with pytest.raises(StateError, match=r"^dev was not changed: marts__dev.region_totals \(a view\) is not"):
            wh.build("dev")
        assert catalog(wh) == before and {v.version_id for v in wh.store.versions()} == versions
        assert "dev" not in {e["name"] for e in wh.environments()}


def test_a_name_is_someone_elses_only_when_the_engine_takes_it_for_the_models(make_project: ProjectFactory) -> None:
    """Postgres tells "marts"."Big" from marts.big (dataplan quotes its names): both live side by side.
    DuckDB takes them for one name: the hand-made view is refused and kept."""
    root = make_project()
    write_files(root, {"models/marts/Big.sql": "select 1 as x\n"})
    with make_project.open() as wh:
        run_sql(wh, ["create schema marts", "create view marts.big as select 42 as mine"])
        before = catalog(wh)
        if wh.backend.dialect == "duckdb":
            with pytest.raises(StateError, match=r"^prod was not changed: marts.big \(a view\) is not dataplan's"):
                wh.build("prod")
            assert catalog(wh) == before
        else:
            assert len(wh.build("prod").created) == 5
            assert wh.backend.fetch_rows(exp.select("x").from_(exp.table_("Big", db="marts", quoted=True))) == [(1,)]
        assert wh.backend.fetch_rows(exp.select("mine").from_("marts.big")) == [(42,)]


def test_a_view_renamed_by_case_alone_is_dataplans_own(duck_project: ProjectFactory) -> None:
    """DuckDB: a model file renamed Big.sql -> big.sql, or a layer mapped to Marts instead of marts, names
    the views the environment already holds: neither refused as someone else's nor dropped as the old name."""
    import yaml

    root = duck_project()
    write_files(root, {"models/marts/Big.sql": "select 1 as x\n"})
    with duck_project.open() as wh:
        wh.build("prod")
    (root / "models/marts/Big.sql").rename(root / "models/marts/big.sql")
    with duck_project.open() as wh:
        result = wh.build("prod")
        assert result.removed == ["Big"] and [a.model for a in result.repointed] == ["big"]
        assert wh.backend.fetch_rows(exp.select("x").from_("marts.big")) == [(1,)]
    config = yaml.safe_load((root / "dataplan.yml").read_text())
    (root / "dataplan.yml").write_text(yaml.safe_dump({**config, "layers": {"marts": "Marts"}}), encoding="utf-8")
    with duck_project.open() as wh:
        assert {a.model for a in wh.build("prod").repointed} == {"big", "customer_totals", "region_totals"}
        views = {(s.lower(), n) for s, n, kind in catalog(wh)[0] if kind == "view" and s.lower() == "marts"}
        assert views == {("marts", "big"), ("marts", "customer_totals"), ("marts", "region_totals")}
        assert len(wh.backend.fetch_rows(exp.select("*").from_("marts.region_totals"))) > 0
        assert wh.build("prod").nothing_to_do


def test_postgres_names_a_materialized_view_a_sequence_or_an_index_before_building(tmp_path: Path, pg_dsn: str) -> None:
    """They hold a name in their schema as a table does, and information_schema.tables does not list them:
    missed, the swap failed in the engine (exit 3) after every version was built."""
    import psycopg

    factory = ProjectFactory(tmp_path / "project", "postgres", lambda: pg_dsn)
    factory()
    with psycopg.connect(pg_dsn, autocommit=True) as conn:  # test setup: fixed statements
        conn.execute(b"create schema marts")
        conn.execute(b"create materialized view marts.customer_totals as select 42 as mine")
        conn.execute(b"create sequence marts.region_totals")
        conn.execute(b"create schema staging")
        conn.execute(b"create table staging.orders_by_day (d date)")
        conn.execute(b"create index stg_orders on staging.orders_by_day (d)")
    with factory.open() as wh:
        before = catalog(wh)
        with pytest.raises(StateError) as err:
            wh.build("prod")
        assert str(err.value).startswith(
            "prod was not changed: marts.customer_totals (a materialized view), marts.region_totals (a sequence), "
            "staging.stg_orders (an index) are not dataplan's"
        )
        assert catalog(wh) == before and not wh.store.is_initialized()
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute(b"drop materialized view marts.customer_totals")
            conn.execute(b"drop sequence marts.region_totals")
            conn.execute(b"drop index staging.stg_orders")
        assert len(wh.build("prod").created) == 4


@pytest.mark.parametrize(
    ("columns", "where", "listed"),
    [
        # one column's type: its `type:` line, not the `columns:` line (4) or the `contract:` line (3)
        (
            "      - name: region\n        type: varchar\n      - name: total\n        type: date\n",
            ":8: ",
            ["  - column total: declared date, query returns DOUBLE\n"],
        ),
        # a declared column the query does not return: its entry
        (
            "      - {name: region, type: varchar}\n      - {name: totl, type: double}\n",
            ":6: ",
            [
                "  - column totl is declared but the query does not return it\n",
                "  - column total (DOUBLE) is returned but not declared\n",
            ],
        ),
        # two declared columns broken: the first, and each says its line
        (
            "      - {name: region, type: bigint}\n      - {name: totl, type: double}\n",
            ":5: ",
            [
                "  - column region: declared bigint, query returns VARCHAR (line 5)\n",
                "  - column totl is declared but the query does not return it (line 6)\n",
                "  - column total (DOUBLE) is returned but not declared\n",
            ],
        ),
        # only an undeclared column: where the columns are declared
        (
            "      - {name: region, type: varchar}\n",
            ":4: ",
            ["  - column total (DOUBLE) is returned but not declared\n"],
        ),
    ],
)
def test_a_contract_error_points_at_the_column_it_is_about(
    duck_project: ProjectFactory, columns: str, where: str, listed: list[str]
) -> None:
    from typer.testing import CliRunner

    from dataplan.cli.app import app

    root = duck_project()
    with duck_project.open() as wh:
        wh.build("prod")
        before = catalog(wh), wh.store.versions()
    spec = "models:\n  - name: region_totals\n    contract: {enforced: true}\n    columns:\n" + columns
    (root / "models/marts/region_totals.yml").write_text(spec)
    result = CliRunner().invoke(app, ["build", "--project", str(root)])
    assert result.exit_code == 2, result.output
    assert f"region_totals.yml{where}model marts.region_totals breaks its enforced contract:\n" in result.output
    assert "".join(listed) in result.output
    with duck_project.open() as wh:
        assert (catalog(wh), wh.store.versions()) == before
