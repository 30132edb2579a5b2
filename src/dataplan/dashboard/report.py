"""The dashboard of an environment: every dashboard exposure's charts, queried and rendered."""

from __future__ import annotations

import datetime as dt

from sqlglot.errors import SqlglotError

from dataplan.backends.base import Backend, table
from dataplan.dashboard.page import ChartError, DashboardSection, render_page
from dataplan.dashboard.queries import chart_query
from dataplan.dashboard.spec import ChartSpec
from dataplan.errors import EngineError
from dataplan.project import Project
from dataplan.state.store import EnvironmentModel


def dashboard_sections(project: Project, backend: Backend, env: dict[str, EnvironmentModel]) -> list[DashboardSection]:
    sections = []
    for exposure in project.exposures:
        if exposure.spec.type != "dashboard" or not exposure.spec.charts:
            continue
        section = DashboardSection(exposure.name, exposure.spec.description, exposure.spec.owner)
        for raw in exposure.spec.charts:
            spec = ChartSpec.model_validate(raw)  # validated when the project was loaded
            model = project.model(spec.model)
            entry = env.get(model.name)
            if entry is None:
                section.charts.append((spec, ChartError(f"{model.fqn} is not built in this environment")))
                continue
            try:
                data = backend.fetch(chart_query(spec, table(entry.view_schema, entry.model)))
            except (EngineError, SqlglotError) as exc:
                section.charts.append((spec, ChartError(str(exc))))
                continue
            section.charts.append((spec, data))
        sections.append(section)
    return sections


def render_dashboard(
    project: Project,
    backend: Backend,
    env_name: str,
    env: dict[str, EnvironmentModel],
    generated_at: dt.datetime | None = None,
) -> tuple[str, int]:
    """The HTML page and its number of charts."""
    sections = dashboard_sections(project, backend, env)
    subtitle = f"project {project.config.name} · environment {env_name} · {backend.dialect}"
    html = render_page(f"{project.config.name} dashboards", subtitle, sections, generated_at=generated_at)
    return html, sum(len(s.charts) for s in sections)
