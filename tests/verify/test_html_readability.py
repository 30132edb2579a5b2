"""The HTML diff report read as a person would: what the first screen says, what fits, what is legible."""

from __future__ import annotations

import re

from dataplan.verify.model import CheckResult
from dataplan.verify.reports import html_report
from tests.htmlcheck import collect
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
