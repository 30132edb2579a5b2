"""The HTML diff report read as a person would: what the first screen says, what fits, what is legible."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from dataplan.verify.model import CheckResult, ColumnMismatch, DiffResult, Distribution
from dataplan.verify.reports import html_report
from dataplan.verify.reports.charts import mismatch_svg, top_values_svg
from tests.htmlcheck import collect
from tests.verify.layoutcheck import measure
from tests.verify.test_reports import changed_result, identical_result


def _section(page: str, anchor: str) -> str:
    match = re.search(rf'<section class="part" id="{anchor}">(.*?)</section>', page, flags=re.S)
    assert match, anchor
    return match.group(1)


def test_checks_show_the_deciding_ones_and_fold_the_passes() -> None:
    result = changed_result()
    result.checks += [
        CheckResult(name=f"null_pct_delta(c{i})", value=0, warn=1, fail=5, outcome="pass") for i in range(40)
    ]
    page = html_report(result)
    checks = _section(page, "checks")
    before, _, folded = checks.partition('<details class="passes">')
    assert folded, "the passing checks are folded under a <details>"
    assert "<summary>41 passing checks</summary>" in folded
    assert "null_pct_delta(c0)" in folded and "null_pct_delta(c0)" not in before
    # Failures and warnings stay open, failures first, and each row starts with its outcome.
    assert before.index("changed_rows") < before.index("row_count_change_pct")
    first_cells = re.findall(r"<tr><td>(.*?)</td>", before)
    assert first_cells and all('class="pill' in cell for cell in first_cells)
    assert collect(page).errors == []


def test_outcome_card_names_the_checks_that_decided_it() -> None:
    page = html_report(changed_result())
    card = re.search(r'<div class="stat outcome-fail">.*?</div></div>', page, flags=re.S)
    assert card
    assert "failed: <code>changed_rows</code>, <code>psi(amount)</code>" in card.group(0)
    assert "row_count_change_pct" not in card.group(0)  # a warning does not decide a failure


def test_all_passing_checks_say_so_when_folded() -> None:
    result = identical_result()
    result.checks = [CheckResult(name="row_count_change_pct", value=0, warn=1, fail=5, outcome="pass")]
    page = html_report(result)
    assert "<summary>the one check passes</summary>" in _section(page, "checks")
    assert 'class="why"' not in page


LONG = "this_is_an_extremely_long_column_name_that_some_dbt_generator_produced_for_a_metric_"


def long_names_result() -> DiffResult:
    """Four columns whose 86-character names differ only in their last word, and long shared-prefix values."""
    result = changed_result()
    names = [LONG + s for s in ("value", "text", "category", "amount")]
    result.checks = [
        CheckResult(name=f"psi({n})", value=1.6, warn=0.1, fail=0.25, outcome="fail", detail="population stability")
        for n in names
    ]
    assert result.rows is not None
    result.rows.columns = [
        ColumnMismatch(column=n, mismatches=100 * (i + 1), rate=0.1 * (i + 1)) for i, n in enumerate(names)
    ]
    result.distributions = [
        Distribution(
            column=names[2],
            kind="categorical",
            psi=1.6,
            top_values=[(f"lorem ipsum dolor sit amet {i}", 100 + i, 90 + i) for i in range(6)],
        )
    ]
    return result


def _svg_labels(svg: str) -> list[str]:
    return [html.unescape(t) for t in re.findall(r"<text [^>]*>([^<]*)</text>", svg)]


def test_chart_labels_of_long_names_stay_distinct() -> None:
    names = [LONG + s for s in ("value", "text", "category", "amount")]
    bars = mismatch_svg([(n, 10, 0.1) for n in names], width=1000)
    shown = [label for label in _svg_labels(bars) if label.startswith("this_is")]
    assert len(shown) == 4 and len(set(shown)) == 4, shown
    assert all(label.endswith(("value", "text", "category", "amount")) for label in shown)
    values = [(f"lorem ipsum dolor sit amet {i}", 10, 12) for i in range(5)]
    tops = top_values_svg("c", values)
    shown = [label for label in _svg_labels(tops) if label.startswith("lorem")]
    assert len(set(shown)) == 5, shown


def test_long_check_names_wrap_instead_of_pushing_the_detail_off_the_page(tmp_path: Path) -> None:
    page = html_report(long_names_result())
    assert '<code class="long">psi(<wbr>this_<wbr>is_<wbr>' in page
    assert collect(page).errors == []
    layout = measure(page, tmp_path, 800)  # before: the checks table overflowed its panel by 423 px
    assert layout.overflow["checks"] <= 1 and layout.overflow["distributions"] <= 1, layout.overflow
    assert layout.page_overflow <= 0


def test_distributions_say_why_a_column_was_not_computed() -> None:
    result = identical_result()
    reason = "not computed: the column holds infinite or NaN values, which have no bins"
    result.distributions += [
        Distribution(column="ratio", kind="numeric", method=reason),
        Distribution(column="skew", kind="numeric", method=reason),
        Distribution(column="label", kind="categorical", approximate=True, method="top 20 values per side"),
    ]
    section = _section(html_report(result), "distributions")
    assert section.count('<span class="hint">not computed</span>') == 3
    assert (
        "Not computed for <code>ratio</code>, <code>skew</code>: "
        "the column holds infinite or NaN values, which have no bins." in section
    )
    assert "Not computed for <code>label</code> (no rows to compare on one side, or no values)." in section
    # No KS figure is shown, so there is no "approx." to explain.
    assert "approx.:" not in section


def test_no_matched_rows_is_not_called_all_columns_match() -> None:
    result = identical_result()
    assert result.rows is not None
    result.b.row_count = 0
    result.rows.only_a, result.rows.unchanged = result.rows.unchanged, 0
    section = _section(html_report(result), "rows")
    assert "compared columns match" not in section
    assert "No key is on both sides, so no column values were compared." in section


def test_one_other_column_matches_in_the_singular() -> None:
    result = identical_result()
    assert result.rows is not None
    result.rows.changed, result.rows.unchanged = 10, 990
    result.rows.columns[0].mismatches, result.rows.columns[0].rate = 10, 0.01
    result.rows.columns = result.rows.columns[:2]
    assert "1 other column matches exactly." in _section(html_report(result), "rows")


@pytest.mark.parametrize("width", [390, 800])
def test_chart_text_stays_legible_on_narrow_screens(width: int, tmp_path: Path) -> None:
    # Charts scaled to a phone's width drew their 11-unit text at 3.6 px (the mismatch bars, 1000
    # units wide) and 6.4 px (histograms); they now keep a minimum width and scroll sideways.
    layout = measure(html_report(long_names_result()), tmp_path, width)
    assert layout.smallest_font() >= 9, layout.fonts
    assert layout.page_overflow <= 0  # the chart scrolls in its box, not the whole page


def test_outcome_card_keeps_the_distinguishing_end_of_long_check_names() -> None:
    page = html_report(long_names_result())
    card = re.search(r'<div class="why">(.*?)</div>', page, flags=re.S)
    assert card
    names = re.findall(r"<code>(.*?)</code>", card.group(1))
    assert len(names) == 4 and len(set(names)) == 4, names
    assert "metric_value)" in names[0]
