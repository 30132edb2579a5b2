"""Loading, the graph, selection, fingerprints and lineage."""

from __future__ import annotations

from pathlib import Path

import pytest

from dataplan import Project, SelectionError
from dataplan.project.sqlcache import CACHE_VERSION
from tests.conftest import SHOP_FILES, write_files


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    (tmp_path / "dataplan.yml").write_text("name: shop\nconnection: {type: duckdb}\n")
    write_files(tmp_path, SHOP_FILES)
    return tmp_path


def test_load_resolves_models_and_sources(shop: Path) -> None:
    project = Project.load(shop)
    totals = project.models["customer_totals"]
    assert totals.layer == "marts" and totals.fqn == "marts.customer_totals"
    assert totals.parents == ["stg_customers", "stg_orders"]  # one qualified, one bare reference
    assert project.models["stg_orders"].sources == ["raw.orders"]
    assert project.graph.order.index("stg_orders") < project.graph.order.index("customer_totals")


def test_cte_names_shadow_models(shop: Path) -> None:
    write_files(
        shop,
        {
            "models/marts/region_totals.sql": """
        with stg_orders as (select 1 as region, 2 as total)
        select region, total from stg_orders
    """
        },
    )
    assert Project.load(shop).models["region_totals"].parents == []


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("customer_totals", ["customer_totals"]),
        ("+customer_totals", ["stg_customers", "stg_orders", "customer_totals"]),
        ("stg_orders+", ["stg_orders", "customer_totals", "region_totals"]),
        ("layer:staging", ["stg_customers", "stg_orders"]),
        ("marts.region_totals, stg_orders", ["stg_orders", "region_totals"]),
    ],
)
def test_selection(shop: Path, selector: str, expected: list[str]) -> None:
    graph = Project.load(shop).graph
    got = graph.select(selector)
    assert sorted(got) == sorted(expected)
    assert got == graph.sorted(got)  # build order


def test_selection_errors(shop: Path) -> None:
    graph = Project.load(shop).graph
    with pytest.raises(SelectionError, match="no model in layer 'gold'"):
        graph.select("layer:gold")


def test_fingerprint_ignores_formatting_and_comments(shop: Path) -> None:
    before = Project.load(shop).fingerprints
    write_files(
        shop,
        {
            "models/staging/stg_customers.sql": """
        -- customers, reformatted
        SELECT customer_id,
               name,
               region
          FROM raw.customers   /* same query */
    """
        },
    )
    assert Project.load(shop).fingerprints == before


def test_fingerprint_ignores_descriptions_and_tests(shop: Path) -> None:
    before = Project.load(shop).fingerprints
    write_files(
        shop,
        {
            "models/staging/stg_customers.yml": """
        models:
          - name: stg_customers
            description: now documented
            columns: [{name: customer_id, tests: [unique]}]
    """
        },
    )
    assert Project.load(shop).fingerprints == before


def test_fingerprint_changes_propagate_downstream(shop: Path) -> None:
    before = Project.load(shop).fingerprints
    write_files(
        shop,
        {"models/staging/stg_customers.sql": "select customer_id, name, upper(region) as region from raw.customers"},
    )
    after = Project.load(shop).fingerprints
    changed = {n for n in before if before[n] != after[n]}
    assert changed == {"stg_customers", "customer_totals", "region_totals"}


def test_materialization_change_changes_fingerprint(shop: Path) -> None:
    before = Project.load(shop).fingerprints
    write_files(
        shop,
        {"models/marts/region_totals.yml": "models:\n  - name: region_totals\n    materialized: table\n"},
    )
    after = Project.load(shop).fingerprints
    assert before["region_totals"] != after["region_totals"]
    assert before["customer_totals"] == after["customer_totals"]


def test_column_lineage(shop: Path) -> None:
    project = Project.load(shop)
    lineage = project.column_lineage("customer_totals")
    assert lineage["region"] == {("stg_customers", "region")}
    assert lineage["total"] == {("stg_orders", "amount")}
    assert lineage["orders"] == {("stg_orders", "order_id")}
    assert project.column_lineage("region_totals")["total"] == {("customer_totals", "total")}


def test_second_load_parses_nothing_and_a_changed_file_is_parsed(shop: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = Project.load(shop)
    assert (shop / ".dataplan" / "cache").is_dir()
    import dataplan.project.sqlcache as sqlcache

    def no_parse(*args: object, **kwargs: object) -> None:
        raise AssertionError("parsed although cached")

    monkeypatch.setattr(sqlcache, "parse_query", no_parse)
    again = Project.load(shop)
    assert again.fingerprints == first.fingerprints
    assert again.models["customer_totals"].parents == ["stg_customers", "stg_orders"]
    monkeypatch.undo()
    write_files(
        shop,
        {
            "models/marts/region_totals.sql": "select region, max(total) as total "
            "from marts.customer_totals group by region"
        },
    )
    changed = Project.load(shop)
    assert changed.fingerprints["region_totals"] != first.fingerprints["region_totals"]
    # the AST is still there when a model needs it, parsed on first use
    assert changed.models["stg_orders"].query is not None


def test_reads_and_lineage_come_from_the_analysis_cache_without_parsing(shop: Path) -> None:
    from dataplan.project.lineage import raw_lineage, raw_reads, resolve_lineage, resolve_reads

    first = Project.load(shop)
    reads = first.reads("customer_totals")
    assert reads.columns == {
        "stg_customers": {"customer_id", "region"},
        "stg_orders": {"customer_id", "order_id", "amount"},
    }
    assert reads.row_level == {"stg_customers": {"customer_id", "region"}, "stg_orders": {"customer_id"}}
    staged = {"order_id", "customer_id", "amount", "status", "ordered_at"}
    assert first.reads("stg_orders").columns == {"raw.orders": staged}
    lineage = first.column_lineage("customer_totals")
    first.save_analysis()
    assert (shop / ".dataplan" / "cache" / f"analysis-duckdb-v{CACHE_VERSION}.json").is_file()

    again = Project.load(shop)  # a new process would see only the files
    assert again.reads("customer_totals") == reads and again.column_lineage("customer_totals") == lineage
    assert again.models["customer_totals"]._query is None  # answered from the cache: never parsed
    # and the cache agrees with computing from the AST
    model = again.models["customer_totals"]
    assert resolve_reads(raw_reads(model.query, again.dialect), again.resolver) == reads  # type: ignore[arg-type]
    assert resolve_lineage(raw_lineage(model.query, again.dialect), model, again.resolver) == lineage


def test_analysis_cache_follows_the_sql_text_and_survives_a_corrupt_file(shop: Path) -> None:
    first = Project.load(shop)
    first.reads("region_totals")
    first.save_analysis()
    new_sql = "select region, max(orders) as top from customer_totals group by region"
    write_files(shop, {"models/marts/region_totals.sql": new_sql})
    changed = Project.load(shop)
    assert changed.reads("region_totals").columns == {"customer_totals": {"region", "orders"}}
    assert changed.column_lineage("region_totals") == {"region": {("customer_totals", "region")},
                                                       "top": {("customer_totals", "orders")}}  # fmt: skip
    (shop / ".dataplan" / "cache" / f"analysis-duckdb-v{CACHE_VERSION}.json").write_text("{not json", encoding="utf-8")
    again = Project.load(shop)
    assert again.reads("region_totals") == changed.reads("region_totals")
    again.save_analysis()  # rewrites the broken file
    assert '"reads"' in (shop / ".dataplan" / "cache" / f"analysis-duckdb-v{CACHE_VERSION}.json").read_text(
        encoding="utf-8"
    )


def test_unknown_reference_is_reported_from_the_cache_too(shop: Path) -> None:
    from dataplan import ProjectError

    Project.load(shop)
    (shop / "models/staging/stg_customers.sql").unlink()  # customer_totals now reads a missing model
    with pytest.raises(
        ProjectError,
        match=r"customer_totals.sql:2: unknown reference 'staging.stg_customers' "
        r"\(column 6\)",
    ):
        Project.load(shop)


def test_models_with_identical_sql_get_distinct_fingerprints(shop: Path) -> None:
    write_files(shop, {"models/staging/a.sql": "select 1 as x", "models/staging/b.sql": "select 1 as x"})
    fps = Project.load(shop).fingerprints
    assert fps["a"] != fps["b"]
