"""A dashboard's charts count as what it reads: a plan changing a charted column names the dashboard."""

from __future__ import annotations

from tests.conftest import SHOP_FILES, ProjectFactory, write_files

EXPOSURES = """
    exposures:
      - name: sales
        type: dashboard
        depends_on:
          - model: marts.customer_totals
            columns: [customer_id]
        charts:
          - {title: Orders by region, model: marts.customer_totals, kind: bar, x: region, y: [orders]}
"""


def test_a_changed_column_read_only_by_a_chart_is_an_impact(make_project: ProjectFactory) -> None:
    root = make_project({**SHOP_FILES, "exposures.yml": EXPOSURES})
    with make_project.open() as wh:
        wh.build("prod")
    sql = SHOP_FILES["models/marts/customer_totals.sql"].replace("count(o.order_id)", "count(o.order_id) * 2")
    write_files(root, {"models/marts/customer_totals.sql": sql})
    with make_project.open() as wh:
        plan = wh.plan("prod")
    (impact,) = plan.impacts
    assert (impact.exposure, impact.models, impact.columns) == (
        "sales",
        ["marts.customer_totals"],
        ["marts.customer_totals.orders"],
    )
    assert impact.breaking
    assert [r.risk for r in plan.risks if r.rule == "breaking-change-feeds-exposure"] == [
        "dashboard `sales` reads changed data (marts.customer_totals.orders)"
    ]
