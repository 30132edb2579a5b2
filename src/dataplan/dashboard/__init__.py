"""`dataplan dashboard`: render dashboard exposures' charts into one offline HTML page.

Flow: for each chart of each dashboard exposure, build ``chart_query(spec, relation)``,
render it with the warehouse dialect, run it to a pyarrow.Table, then pass the sections to
``render_page``. Nothing here touches a database or the network.
"""

from dataplan.dashboard.page import ChartError, DashboardSection, render_page
from dataplan.dashboard.queries import chart_query, relation_for
from dataplan.dashboard.spec import ChartKind, ChartSpec, TimeGrain
from dataplan.dashboard.svg import render_chart_svg

__all__ = [
    "ChartError",
    "ChartKind",
    "ChartSpec",
    "DashboardSection",
    "TimeGrain",
    "chart_query",
    "relation_for",
    "render_chart_svg",
    "render_page",
]
