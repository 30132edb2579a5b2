"""Assemble dashboard sections into one self-contained, offline HTML5 page.

The page has inline CSS and inline SVG charts only: no scripts, fonts, images or any
other external reference, so it opens from a file, an e-mail attachment or an artifact
store without a network.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyarrow as pa

from dataplan.dashboard.scales import humanize
from dataplan.dashboard.spec import ChartSpec
from dataplan.dashboard.svg import is_wide, render_chart_svg
from dataplan.dashboard.svgkit import esc


@dataclass(frozen=True)
class ChartError:
    """A chart that could not be queried; the page shows the message in its card."""

    message: str


@dataclass
class DashboardSection:
    """One dashboard exposure and the query result of each of its charts."""

    name: str
    description: str | None = None
    owner: str | None = None
    charts: list[tuple[ChartSpec, pa.Table | ChartError]] = field(default_factory=list)


SEP = " \u00b7 "

CSS = """
*,*::before,*::after{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:#f3f4f6;color:#111827;line-height:1.45;
  font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
  font-variant-numeric:tabular-nums}
.wrap{max-width:1480px;margin:0 auto;padding:0 28px}
.top{background:#fff;border-bottom:1px solid #e5e7eb}
.top .wrap{padding-top:26px;padding-bottom:20px}
h1{margin:0;font-size:26px;font-weight:700;letter-spacing:-.01em}
.subtitle{margin:4px 0 0;color:#374151;font-size:15px}
.meta{margin:8px 0 0;color:#6b7280;font-size:13px}
.toc{display:flex;flex-wrap:wrap;gap:8px;margin:14px 0 0;padding:0;list-style:none}
.toc a{display:inline-block;padding:4px 12px;border:1px solid #d1d5db;border-radius:999px;
  color:#1f2937;text-decoration:none;font-size:13px;background:#f9fafb}
.toc a:hover{background:#eef2ff;border-color:#a5b4fc}
main{padding:8px 0 40px}
.dashboard{margin-top:26px}
.dashboard>header{margin:0 0 14px}
h2{margin:0;font-size:20px;font-weight:650}
.dashboard>header p{margin:2px 0 0;color:#4b5563;font-size:14px}
.dashboard>header .owner{color:#6b7280;font-size:13px}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.92em;
  background:#f3f4f6;padding:1px 5px;border-radius:4px}
.grid{display:grid;gap:18px;grid-template-columns:repeat(auto-fill,minmax(min(100%,560px),1fr))}
.card{margin:0;background:#fff;border:1px solid #e5e7eb;border-radius:10px;padding:16px 18px 12px;
  box-shadow:0 1px 2px rgba(16,24,40,.05);min-width:0;display:flex;flex-direction:column}
.card.wide{grid-column:1/-1}
.card.wide .chart{overflow-x:auto}
.card.wide .chart svg{min-width:1000px}
.card h3{margin:0;font-size:15px;font-weight:650}
.card .desc{margin:2px 0 0;color:#6b7280;font-size:13px}
.chart{margin-top:10px;flex:1;overflow-x:auto}
.chart svg{display:block;width:100%;height:auto;overflow:visible;min-width:560px}
.source{margin:8px 0 0;color:#9ca3af;font-size:12px}
.card.error{border-left:4px solid #dc2626}
.card.error pre{white-space:pre-wrap;margin:10px 0 0;padding:10px 12px;background:#fef2f2;
  color:#991b1b;border-radius:6px;font-size:12.5px}
.empty{margin-top:26px;padding:40px;text-align:center;color:#6b7280;background:#fff;
  border:1px dashed #d1d5db;border-radius:10px}
footer{color:#9ca3af;font-size:12px;padding:0 0 28px}
@media (max-width:640px){.wrap{padding:0 14px}h1{font-size:22px}.card{padding:12px}}
@media print{body{background:#fff}.toc{display:none}
  .card{break-inside:avoid;box-shadow:none}.grid{grid-template-columns:1fr 1fr}}
"""


def _anchor(name: str, used: set[str]) -> str:
    base = "d-" + (re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-") or "dashboard")
    anchor, n = base, 2
    while anchor in used:
        anchor, n = f"{base}-{n}", n + 1
    used.add(anchor)
    return anchor


def _source_line(spec: ChartSpec, rows: int | None) -> str:
    parts = [f"<code>{esc(spec.model)}</code>"]
    if spec.time_grain:
        parts.append(f"by {esc(spec.time_grain)}")
    if rows is not None:
        parts.append(f"{rows:,} row{'s' if rows != 1 else ''}")
    return f'<p class="source">{SEP.join(parts)}</p>'


def _card(spec: ChartSpec, result: pa.Table | ChartError) -> str:
    head = [f"<h3>{esc(spec.title)}</h3>"]
    if spec.description:
        head.append(f'<p class="desc">{esc(spec.description)}</p>')
    classes = "card wide" if is_wide(spec) else "card"
    if isinstance(result, ChartError):
        body = f"<pre>{esc(result.message)}</pre>"
        return (
            f'<figure class="{classes} error"><figcaption>{"".join(head)}</figcaption>'
            f"{body}{_source_line(spec, None)}</figure>"
        )
    try:
        svg = render_chart_svg(spec, result)
    except Exception as error:  # one broken chart must not take the whole page down
        message = f"Could not draw this chart: {type(error).__name__}: {error}"
        return _card(spec, ChartError(message))
    return (
        f'<figure class="{classes}"><figcaption>{"".join(head)}</figcaption>'
        f'<div class="chart">{svg}</div>{_source_line(spec, result.num_rows)}</figure>'
    )


def _section(section: DashboardSection, anchor: str) -> str:
    header = [f"<h2>{esc(humanize(section.name))}</h2>"]
    if section.description:
        header.append(f"<p>{esc(section.description)}</p>")
    meta = [f"<code>{esc(section.name)}</code>"]
    if section.owner:
        meta.append(f"owner {esc(section.owner)}")
    header.append(f'<p class="owner">{SEP.join(meta)}</p>')
    if section.charts:
        body = '<div class="grid">' + "".join(_card(s, r) for s, r in section.charts) + "</div>"
    else:
        body = '<div class="empty">This dashboard declares no charts.</div>'
    return f'<section class="dashboard" id="{anchor}"><header>{"".join(header)}</header>{body}</section>'


def render_page(
    title: str,
    subtitle: str,
    sections: list[DashboardSection],
    *,
    generated_at: datetime | None = None,
) -> str:
    """The whole dashboard as one HTML5 document (a string; write it as UTF-8)."""
    moment = (generated_at or datetime.now(UTC)).astimezone(UTC)
    stamp = moment.strftime("%Y-%m-%d %H:%M UTC")
    chart_count = sum(len(s.charts) for s in sections)
    used: set[str] = set()
    anchors = [_anchor(s.name, used) for s in sections]
    summary = (
        f"{len(sections)} dashboard{'s' if len(sections) != 1 else ''} \u00b7 "
        f"{chart_count} chart{'s' if chart_count != 1 else ''}"
    )
    top = [
        f"<h1>{esc(title)}</h1>",
        f'<p class="subtitle">{esc(subtitle)}</p>' if subtitle else "",
        f'<p class="meta">Generated {esc(stamp)} \u00b7 {summary}</p>',
    ]
    if len(sections) > 1:
        links = "".join(
            f'<li><a href="#{a}">{esc(humanize(s.name))}</a></li>' for s, a in zip(sections, anchors, strict=True)
        )
        top.append(f'<ul class="toc">{links}</ul>')
    if sections:
        body = "".join(_section(s, a) for s, a in zip(sections, anchors, strict=True))
    else:
        body = (
            '<div class="empty">No dashboards: add an exposure with <code>type: dashboard</code> '
            "and <code>charts:</code> to exposures.yml.</div>"
        )
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            '<meta name="generator" content="dataplan dashboard">',
            f"<title>{esc(title)}</title>",
            f"<style>{CSS}</style>",
            "</head>",
            "<body>",
            f'<header class="top"><div class="wrap">{"".join(top)}</div></header>',
            f'<main class="wrap">{body}</main>',
            f'<footer class="wrap">Generated by dataplan on {esc(stamp)}. '
            "Hover a point, bar or cell for its values.</footer>",
            "</body>",
            "</html>",
            "",
        ]
    )
