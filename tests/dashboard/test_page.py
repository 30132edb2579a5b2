"""render_page: one offline HTML document holding every chart; screenshot in Chromium."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from dataplan.dashboard import ChartError, ChartSpec, DashboardSection, render_page
from tests.dashboard.helpers import realistic_sections
from tests.htmlcheck import collect, screenshot
from tests.verify.layoutcheck import measure

GENERATED = datetime(2025, 12, 31, 9, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def sections() -> list[DashboardSection]:
    return realistic_sections()


@pytest.fixture(scope="module")
def page(sections: list[DashboardSection]) -> str:
    return render_page("shop", "Dashboards of shop · prod", sections, generated_at=GENERATED)


def test_page_is_one_balanced_html5_document(page: str) -> None:
    assert page.startswith('<!DOCTYPE html>\n<html lang="en">')
    parsed = collect(page)
    assert parsed.errors == [] and parsed.stack == []
    assert '<meta charset="utf-8">' in page and "<title>shop</title>" in page


def test_page_references_nothing_outside_itself(page: str) -> None:
    assert "http://" not in page and "https://" not in page
    parsed = collect(page)
    assert "script" not in parsed.tags and "link" not in parsed.tags and "img" not in parsed.tags
    assert "@import" not in page and "url(" not in page
    for name, value in parsed.attributes:
        if name in ("href", "src", "xlink:href"):
            assert value is not None and value.startswith("#"), (name, value)


def test_page_holds_every_chart_and_section(page: str, sections: list[DashboardSection]) -> None:
    specs = [spec for section in sections for spec, _ in section.charts]
    for spec in specs:
        assert f"<h3>{spec.title}</h3>" in page
    assert page.count("<svg ") == len(specs)
    for section in sections:
        assert f'id="d-{section.name}"' in page and f'href="#d-{section.name}"' in page
        assert section.owner is not None and section.owner in page
    assert "Generated 2025-12-31 09:30 UTC" in page
    assert "2 dashboards · 6 charts" in page


def test_every_inline_svg_is_well_formed_xml(page: str) -> None:
    svgs = re.findall(r"<svg .*?</svg>", page, flags=re.S)
    assert len(svgs) == 6
    for svg in svgs:
        ET.fromstring(svg)


def test_text_is_escaped() -> None:
    spec = ChartSpec(title="<b>Rev</b> & co", model="m", kind="bar", x="k", y=["v"], description='"quoted" <i>')
    section = DashboardSection(
        name="x<y",
        description="<script>alert(1)</script>",
        owner="a&b",
        charts=[(spec, pa.table({"k": ["a"], "v": [1]}))],
    )
    page = render_page("<T>", "<S>", [section], generated_at=GENERATED)
    assert "<script>" not in page and "<b>" not in page and "<i>" not in page
    assert "&lt;b&gt;Rev&lt;/b&gt; &amp; co" in page
    assert "&lt;T&gt;" in page and "a&amp;b" in page
    assert collect(page).errors == []


def test_failed_and_broken_charts_get_an_error_card_not_a_crash() -> None:
    spec = ChartSpec(title="Gone", model="marts.gone", kind="line", x="d", y=["v"])
    broken = ChartSpec(title="Broken", model="marts.m", kind="line", x="d", y=["missing"])
    section = DashboardSection(
        name="ops",
        charts=[
            (spec, ChartError('Catalog Error: Table "marts.gone" does not exist')),
            (broken, pa.table({"d": [1, 2], "v": [1, 2]})),
        ],
    )
    page = render_page("p", "", [section], generated_at=GENERATED)
    assert page.count('class="card error"') == 2
    assert "Catalog Error: Table &quot;marts.gone&quot; does not exist" in page
    assert "Could not draw this chart: ValueError: the query result has no column missing" in page
    assert "<h3>Gone</h3>" in page and "<h3>Broken</h3>" in page


def test_empty_results_and_empty_pages() -> None:
    spec = ChartSpec(title="Quiet", model="m", kind="line", x="d", y=["v"])
    empty = pa.table({"d": pa.array([], pa.date32()), "v": pa.array([], pa.int64())})
    page = render_page("p", "", [DashboardSection("a", charts=[(spec, empty)]), DashboardSection("b")])
    assert "No data" in page and "0 rows" in page
    assert "This dashboard declares no charts." in page
    assert "No dashboards" in render_page("p", "", [])


def test_duplicate_section_names_get_distinct_anchors() -> None:
    page = render_page("p", "", [DashboardSection("a b"), DashboardSection("a b")])
    assert 'id="d-a-b"' in page and 'id="d-a-b-2"' in page


def test_page_renders_offline_in_headless_chromium(page: str, tmp_path: Path) -> None:
    data = screenshot(page, tmp_path, 1400, 2000)
    # A blank page compresses to a few kilobytes; charts, text and colors do not.
    assert len(data) > 60_000


@pytest.mark.parametrize("width", [390, 800])
def test_chart_text_stays_legible_on_narrow_screens(page: str, width: int, tmp_path: Path) -> None:
    # Scaled to a phone's width the 640-unit charts drew their text at 5.8 px, and the cohort
    # heatmap (1200 units, min-width 760 px) at 7 px; they now keep a width that draws it at 9 px
    # or more and scroll sideways inside their card.
    layout = measure(page, tmp_path, width)
    assert layout.smallest_font() >= 9, layout.fonts
    assert layout.page_overflow <= 0
