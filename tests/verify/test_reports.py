"""Reports of a DiffResult: JSON and Markdown goldens, terminal text, offline HTML, Chromium.

Results are built here in code (no engine). Regenerate the goldens with
``DATAPLAN_UPDATE_GOLDEN=1 pytest tests/verify/test_reports.py``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from dataplan import secrets
from dataplan.verify.checks import evaluate
from dataplan.verify.model import (
    CheckResult,
    ColumnMismatch,
    ColumnProfile,
    DiffResult,
    Distribution,
    Histogram,
    KeyCheck,
    ProfileDelta,
    RowDiff,
    SchemaDiff,
    Side,
)
from dataplan.verify.reports import from_json, html_report, markdown_report, terminal_report, to_json
from dataplan.verify.reports.markdown import text as md_text
from tests.htmlcheck import collect, screenshot

GOLDEN = Path(__file__).parent / "golden"
LONG_NOTE = (
    "Customer asked to split the delivery: first parcel to the office | second to home; "
    "see ticket <b>#4411</b> & the thread with the courier. " * 4
).strip()

# --- building results ---------------------------------------------------------------------------------


def _normal_counts(edges: list[float], total: int, mean: float, sd: float) -> list[int]:
    def cdf(x: float) -> float:
        return 0.5 * (1 + math.erf((x - mean) / (sd * math.sqrt(2))))

    return [round(total * (cdf(hi) - cdf(lo))) for lo, hi in zip(edges, edges[1:], strict=False)]


def _edges(lo: float, hi: float, bins: int) -> list[float]:
    return [round(lo + (hi - lo) * i / bins, 6) for i in range(bins + 1)]


def _profile(column: str, type_: str, kind: Any, rows: int, nulls: int, **stats: Any) -> ColumnProfile:
    return ColumnProfile(
        column=column, type=type_, kind=kind, rows=rows, nulls=nulls, null_pct=round(100 * nulls / rows, 4), **stats
    )


def _delta(a: ColumnProfile, b: ColumnProfile) -> ProfileDelta:
    mean_delta = None
    if a.mean is not None and b.mean is not None and a.mean:
        mean_delta = round((b.mean - a.mean) / abs(a.mean) * 100, 4)
    distinct = None if a.distinct is None or b.distinct is None else b.distinct - a.distinct
    return ProfileDelta(
        column=a.column,
        a=a,
        b=b,
        null_pct_delta=round(b.null_pct - a.null_pct, 4),
        distinct_delta=distinct,
        mean_delta_pct=mean_delta,
    )


def identical_result() -> DiffResult:
    """The same five-column table in prod and in a plan environment: nothing differs."""
    columns = [("id", "BIGINT"), ("name", "VARCHAR"), ("score", "DOUBLE"), ("active", "BOOLEAN"), ("day", "DATE")]
    rows = 1_000
    profiles = [
        _profile("name", "VARCHAR", "text", rows, 0, distinct=1000, min="Aaron", max="Zoe"),
        _profile("score", "DOUBLE", "numeric", rows, 5, distinct=912, min=0.0, max=99.5, mean=50.1, stddev=28.9),
        _profile("active", "BOOLEAN", "boolean", rows, 0, distinct=2, min=False, max=True),
        _profile("day", "DATE", "temporal", rows, 0, distinct=365, min=dt.date(2025, 1, 1), max=dt.date(2025, 12, 31)),
    ]
    edges = _edges(0, 100, 10)
    counts = [100, 99, 101, 100, 100, 100, 100, 100, 100, 95]
    return DiffResult(
        a=Side(label="analytics.players", connection="duckdb:warehouse.duckdb", row_count=rows, columns=columns),
        b=Side(
            label="plan_20250101_abc123.players", connection="duckdb:warehouse.duckdb", row_count=rows, columns=columns
        ),
        key=["id"],
        schema_diff=SchemaDiff(),
        profiles=[_delta(p, p) for p in profiles],
        key_check=KeyCheck(key=["id"]),
        rows=RowDiff(
            key=["id"],
            only_a=0,
            only_b=0,
            changed=0,
            unchanged=rows,
            columns=[ColumnMismatch(column=c, mismatches=0, rate=0.0) for c, _ in columns[1:]],
        ),
        distributions=[
            Distribution(
                column="score",
                kind="numeric",
                psi=0.0,
                ks_statistic=0.0,
                ks_pvalue=1.0,
                method="PSI over 10 shared bins; exact two-sample KS",
                histogram=Histogram(edges=edges, a_counts=counts, b_counts=counts),
            )
        ],
        checks=[
            CheckResult(name="row_count_change_pct", value=0.0, warn=1.0, fail=5.0, outcome="pass"),
            CheckResult(name="changed_rows", value=0, warn=1, fail=100, outcome="pass"),
            CheckResult(name="schema_changes", value=0, fail=1, outcome="pass"),
        ],
        seconds=0.42,
        queries=4,
    )


ORDER_COLUMNS = [
    ("order_id", "BIGINT"), ("customer_id", "BIGINT"), ("order_date", "DATE"), ("status", "VARCHAR"),
    ("amount", "DECIMAL(10,2)"), ("quantity", "INTEGER"), ("unit_price", "DOUBLE"), ("discount_pct", "DOUBLE"),
    ("shipping_cost", "DOUBLE"), ("tax", "DOUBLE"), ("country", "VARCHAR"), ("region", "VARCHAR"),
    ("channel", "VARCHAR"), ("payment_method", "VARCHAR"), ("created_at", "TIMESTAMP"), ("updated_at", "TIMESTAMP"),
    ("latency_ms", "DOUBLE"), ("notes", "VARCHAR"), ("is_gift", "BOOLEAN"), ("legacy_flag", "BOOLEAN"),
]  # fmt: skip


def _order_row(i: int, *, notes: str | None = None) -> dict[str, Any]:
    return {
        "order_id": 100_000 + i,
        "customer_id": 5_000 + i * 7 % 911,
        "order_date": dt.date(2025, 3, 1) + dt.timedelta(days=i % 28),
        "status": ["placed", "shipped", "delivered", "returned"][i % 4],
        "amount": Decimal(f"{20 + i * 3.17:.2f}"),
        "quantity": 1 + i % 5,
        "unit_price": round(19.99 + i * 0.5, 2),
        "discount_pct": 0.1 if i % 3 == 0 else 0.0,
        "shipping_cost": 4.95,
        "tax": round((20 + i * 3.17) * 0.2, 2),
        "country": ["DE", "FR", "NL", "US"][i % 4],
        "region": ["EMEA", "EMEA", "EMEA", "AMER"][i % 4],
        "channel": "web" if i % 2 else "app",
        "payment_method": ["card", "paypal", "invoice"][i % 3],
        "created_at": dt.datetime(2025, 3, 1, 8, 30) + dt.timedelta(hours=i * 5),
        "updated_at": dt.datetime(2025, 3, 2, 9, 0) + dt.timedelta(hours=i * 5),
        "latency_ms": round(120 + i * 13.7, 1),
        "notes": notes,
        "is_gift": i % 5 == 0,
    }


def changed_result() -> DiffResult:
    """orders: 20 columns, a schema change, changed rows, long sample values and a shifted amount."""
    a_cols = ORDER_COLUMNS
    b_cols = [(c, "DOUBLE" if c == "amount" else t) for c, t in ORDER_COLUMNS if c != "legacy_flag"]
    b_cols.append(("discount_code", "VARCHAR"))
    a_rows, b_rows = 48_210, 49_870
    common = [c for c, _ in a_cols if c not in ("order_id", "legacy_flag")]
    mismatches = {"amount": 1_180, "tax": 1_175, "status": 212, "updated_at": 1_377, "notes": 64, "discount_pct": 9}
    compared = 48_012
    only_a = [_order_row(i) | {"legacy_flag": True} for i in (3, 17, 41)]
    only_b = [
        _order_row(i) | {"order_id": 150_000 + i, "discount_code": code} for i, code in ((51, "SPRING25"), (52, None))
    ]
    only_b[0]["notes"] = LONG_NOTE
    only_b[1]["notes"] = "<script>alert('x')</script> & [bold]not markup[/bold]"
    changed = [
        {"order_id": 100_007, "amount": [Decimal("42.19"), 46.41], "tax": [8.44, 9.28]},
        {"order_id": 100_012, "status": ["shipped", "delivered"], "updated_at": [
            dt.datetime(2025, 3, 4, 11, 0), dt.datetime(2025, 3, 6, 15, 45)]},
        {"order_id": 100_019, "notes": [None, "gift wrap | ribbon\nsecond line"]},
        {"order_id": 100_023, "amount": [Decimal("92.91"), 102.2], "tax": [18.58, 20.44], "discount_pct": [0.1, 0.0]},
        {"order_id": 100_031, "notes": ["call before delivery", LONG_NOTE]},
    ]  # fmt: skip
    edges = _edges(0, 400, 20)
    amount = Histogram(
        edges=edges,
        a_counts=_normal_counts(edges, a_rows, 120, 55),
        b_counts=_normal_counts(edges, b_rows, 165, 60),
    )
    qty_edges = _edges(0.5, 5.5, 5)
    quantity = Histogram(
        edges=qty_edges, a_counts=[9650, 9640, 9630, 9650, 9640], b_counts=[9980, 9970, 9975, 9970, 9975]
    )
    lat_edges = _edges(0, 2000, 25)
    latency = Histogram(
        edges=lat_edges,
        a_counts=_normal_counts(lat_edges, a_rows, 620, 240),
        b_counts=_normal_counts(lat_edges, b_rows, 650, 250),
    )
    ship_edges = _edges(0, 20, 8)
    shipping = Histogram(
        edges=ship_edges,
        a_counts=[2100, 31000, 9000, 4000, 1500, 400, 150, 60],
        b_counts=[2150, 32100, 9300, 4150, 1540, 420, 150, 60],
    )
    p = _profile
    pairs = [
        (p("customer_id", "BIGINT", "numeric", a_rows, 0, distinct=20_110, min=5000, max=5910, mean=5455.2),
         p("customer_id", "BIGINT", "numeric", b_rows, 0, distinct=20_415, min=5000, max=5910, mean=5455.9)),
        (p("status", "VARCHAR", "text", a_rows, 0, distinct=4, min="delivered", max="shipped"),
         p("status", "VARCHAR", "text", b_rows, 0, distinct=5, min="cancelled", max="shipped")),
        (p("amount", "DECIMAL(10,2)", "numeric", a_rows, 12, distinct=9_870, min=Decimal("1.50"),
           max=Decimal("399.99"), mean=121.3, stddev=54.8),
         p("amount", "DOUBLE", "numeric", b_rows, 12, distinct=10_112, min=1.65, max=439.99, mean=166.8, stddev=59.9)),
        (p("tax", "DOUBLE", "numeric", a_rows, 0, distinct=9_870, min=0.3, max=80.0, mean=24.26),
         p("tax", "DOUBLE", "numeric", b_rows, 0, distinct=10_112, min=0.33, max=88.0, mean=33.36)),
        (p("notes", "VARCHAR", "text", a_rows, 31_004, distinct=16_990, min="", max="zip code missing"),
         p("notes", "VARCHAR", "text", b_rows, 30_112, distinct=18_240, min="", max=LONG_NOTE)),
        (p("quantity", "INTEGER", "numeric", a_rows, 0, distinct=5, min=1, max=5, mean=3.0),
         p("quantity", "INTEGER", "numeric", b_rows, 0, distinct=5, min=1, max=5, mean=3.0)),
        (p("order_date", "DATE", "temporal", a_rows, 0, distinct=28, min=dt.date(2025, 3, 1), max=dt.date(2025, 3, 28)),
         p("order_date", "DATE", "temporal", b_rows, 0, distinct=29, min=dt.date(2025, 3, 1),
           max=dt.date(2025, 3, 29))),
    ]  # fmt: skip
    return DiffResult(
        a=Side(
            label="analytics.orders",
            connection="postgresql://etl:***@db.internal:5432/prod",
            row_count=a_rows,
            columns=a_cols,
        ),
        b=Side(
            label="plan_20250315_9f2c1e.orders",
            connection="postgresql://etl:***@db.internal:5432/prod",
            row_count=b_rows,
            columns=b_cols,
        ),
        key=["order_id"],
        tolerance={"abs": 0.005, "rel": 0.0},
        schema_diff=SchemaDiff(
            added=[("discount_code", "VARCHAR")],
            removed=[("legacy_flag", "BOOLEAN")],
            type_changed=[("amount", "DECIMAL(10,2)", "DOUBLE")],
        ),
        profiles=[_delta(a, b) for a, b in pairs],
        key_check=KeyCheck(key=["order_id"]),
        rows=RowDiff(
            key=["order_id"],
            only_a=198,
            only_b=1_858,
            changed=1_734,
            unchanged=compared - 1_734,
            columns=[
                ColumnMismatch(column=c, mismatches=mismatches.get(c, 0), rate=mismatches.get(c, 0) / compared)
                for c in common
            ],
            sample_only_a=only_a,
            sample_only_b=only_b,
            sample_changed=changed,
        ),
        distributions=[
            Distribution(
                column="amount",
                kind="numeric",
                psi=0.3127,
                ks_statistic=0.3391,
                ks_pvalue=0.0,
                method="PSI over 20 shared bins; exact two-sample KS",
                histogram=amount,
            ),
            Distribution(
                column="quantity",
                kind="numeric",
                psi=0.0001,
                ks_statistic=0.0021,
                ks_pvalue=0.998,
                method="PSI over 20 shared bins; exact two-sample KS",
                histogram=quantity,
            ),
            Distribution(
                column="latency_ms",
                kind="numeric",
                psi=0.0186,
                ks_statistic=0.051,
                ks_pvalue=0.0003,
                approximate=True,
                method="PSI over 25 shared bins; KS from t-digest quantiles",
                histogram=latency,
            ),
            Distribution(
                column="shipping_cost",
                kind="numeric",
                psi=0.0012,
                ks_statistic=0.008,
                ks_pvalue=0.41,
                method="PSI over 8 shared bins; exact two-sample KS",
                histogram=shipping,
            ),
            Distribution(
                column="country",
                kind="categorical",
                psi=0.1422,
                chi2=812.4,
                chi2_pvalue=0.0,
                method="chi-square over the top 10 values",
                top_values=[
                    ("DE", 18_020, 16_900),
                    ("FR", 12_110, 11_980),
                    ("NL", 9_050, 9_120),
                    ("US", 9_030, 11_870),
                ],
            ),
        ],
        checks=[
            CheckResult(
                name="row_count_change_pct",
                value=3.443,
                warn=2.0,
                fail=10.0,
                outcome="warn",
                detail="B has 1,660 more rows than A",
            ),
            CheckResult(
                name="changed_rows",
                value=1734,
                warn=1,
                fail=1000,
                outcome="fail",
                detail="amount, tax | updated_at differ most",
            ),
            CheckResult(name="psi(amount)", value=0.3127, warn=0.1, fail=0.25, outcome="fail"),
            CheckResult(name="psi(country)", value=0.1422, warn=0.1, fail=0.25, outcome="warn"),
            CheckResult(name="schema_changes", value=3, warn=1, outcome="warn", detail="1 added, 1 removed, 1 retyped"),
            CheckResult(name="null_pct(notes)", value=-1.85, warn=5.0, fail=20.0, outcome="pass"),
        ],
        seconds=3.91,
        queries=11,
    )


def nonunique_result() -> DiffResult:
    """The key is duplicated in B and NULL in A: no row-level diff, a failing check."""
    columns = [("customer_id", "BIGINT"), ("email", "VARCHAR"), ("lifetime_value", "DOUBLE")]
    return DiffResult(
        a=Side(label="marts.customers", connection="duckdb:prod.duckdb", row_count=12_004, columns=columns),
        b=Side(
            label="query:SELECT * FROM staging.customers_v2 WHERE region = 'EU'",
            connection="duckdb:dev.duckdb",
            row_count=12_011,
            columns=columns,
        ),
        key=["customer_id"],
        schema_diff=SchemaDiff(),
        key_check=KeyCheck(
            key=["customer_id"],
            b_duplicate_keys=3,
            a_null_keys=2,
            duplicate_samples=[
                {"side": "a", "issue": "null key", "customer_id": None, "rows": 2},
                {"side": "b", "issue": "duplicate key", "customer_id": 4411, "rows": 2},
                {"side": "b", "issue": "duplicate key", "customer_id": 9120, "rows": 3},
            ],
        ),
        checks=[
            CheckResult(
                name="key_unique",
                value=5,
                fail=1,
                outcome="fail",
                detail="customer_id: 3 duplicate values in B, 2 NULL keys in A",
            ),
            CheckResult(name="row_count_change_pct", value=0.058, warn=1.0, fail=5.0, outcome="pass"),
        ],
        seconds=0.77,
        queries=3,
    )


RESULTS: dict[str, Callable[[], DiffResult]] = {
    "identical": identical_result,
    "changes": changed_result,
    "nonunique": nonunique_result,
}


def _golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get("DATAPLAN_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), f"missing golden {path}; run with DATAPLAN_UPDATE_GOLDEN=1"
    assert actual == path.read_text(encoding="utf-8"), f"{name} differs; DATAPLAN_UPDATE_GOLDEN=1 regenerates it"


# --- JSON -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(RESULTS))
def test_json_matches_golden(name: str) -> None:
    _golden(f"{name}.json", to_json(RESULTS[name]()))


@pytest.mark.parametrize("name", sorted(RESULTS))
def test_json_has_computed_fields_first_and_round_trips(name: str) -> None:
    result = RESULTS[name]()
    text = to_json(result)
    data = json.loads(text)
    assert list(data)[:3] == ["schema_version", "outcome", "exit_code"]
    assert data["outcome"] == result.outcome and data["exit_code"] == result.exit_code
    assert set(data) - {"outcome", "exit_code"} == set(DiffResult.model_fields)
    again = from_json(text)
    assert again.outcome == result.outcome
    assert to_json(again) == text


def test_json_outcomes_and_exit_codes() -> None:
    assert json.loads(to_json(identical_result()))["outcome"] == "pass"
    changes = json.loads(to_json(changed_result()))
    assert (changes["outcome"], changes["exit_code"]) == ("fail", 1)
    warn_only = identical_result().model_copy(
        update={"checks": [CheckResult(name="x", value=2, warn=1, outcome="warn")]}
    )
    assert json.loads(to_json(warn_only))["exit_code"] == 0


def test_json_writes_awkward_values_as_documented() -> None:
    result = changed_result()
    assert result.rows is not None
    result.rows.sample_only_a = [
        {"order_id": 1, "nan": math.nan, "inf": -math.inf, "dec": Decimal("12.50"), "raw": b"\x0a\x1b",
         "when": dt.datetime(2025, 1, 31, 9, 30), "text": "Zürich \u2603"},
    ]  # fmt: skip
    text = to_json(result)
    row = json.loads(text)["rows"]["sample_only_a"][0]
    assert row == {
        "order_id": 1, "nan": "NaN", "inf": "-Infinity", "dec": "12.50", "raw": "\\x0a1b",
        "when": "2025-01-31T09:30:00", "text": "Zürich \u2603",
    }  # fmt: skip
    assert "Zürich" in text  # UTF-8, not \u escapes
    assert text.endswith("}\n")


def test_reports_redact_registered_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(secrets, "_SECRETS", set())
    secrets.register_secret("hunter2-report-secret")
    result = nonunique_result()
    result.a.connection = "postgresql://etl:hunter2-report-secret@db/prod"
    result.b.label = "query:SELECT 'hunter2-report-secret' AS leaked"
    console = Console(record=True, width=120)
    console.print(terminal_report(result))
    for output in (to_json(result), markdown_report(result), html_report(result), console.export_text()):
        assert "hunter2" not in output
        assert "***" in output


# --- Markdown -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(RESULTS))
def test_markdown_matches_golden(name: str) -> None:
    _golden(f"{name}.md", markdown_report(RESULTS[name]()))


def test_markdown_escapes_values_and_explains_the_key() -> None:
    text = markdown_report(changed_result())
    assert "`gift wrap \\| ribbon\\nsecond line`" in text  # a pipe in a value cannot split the cell
    assert "amount, tax \\| updated\\_at differ most" not in text  # intra-word underscores stay readable
    assert "amount, tax \\| updated_at differ most" in text
    assert "<script>" not in text and "<b>" not in text
    assert "<details>" in text and "</details>" in text
    # an arrow mid-line cannot quote: kept as written; a ">" that starts a line would, and is escaped
    assert md_text("A 3 rows -> B 3 rows") == "A 3 rows -> B 3 rows"
    assert md_text("> not a quote") == "\\> not a quote"
    nonunique = markdown_report(nonunique_result())
    assert "not unique in B (3 key values appear on more than one row)" in nonunique
    assert "NULL in A (2 rows)" in nonunique


def test_markdown_table_rows_have_as_many_cells_as_their_header() -> None:
    for make in RESULTS.values():
        lines = markdown_report(make()).splitlines()
        for i, line in enumerate(lines):
            if line.startswith("|") and i + 1 < len(lines) and re.fullmatch(r"\|(-+:?\|)+", lines[i + 1]):
                width = len(re.split(r"(?<!\\)\|", line))
                for row in lines[i + 2 :]:
                    if not row.startswith("|"):
                        break
                    assert len(re.split(r"(?<!\\)\|", row)) == width, row


def test_markdown_heading_level_and_all_profiles() -> None:
    text = markdown_report(changed_result(), heading_level=3, all_profiles=True)
    assert text.startswith("### ✗ fail: `analytics.orders` vs `plan_20250315_9f2c1e.orders`")
    assert "#### Checks" in text and "#### Profiles" in text
    assert "`quantity`" in text.split("#### Profiles")[1]  # unchanged column listed when asked
    assert "`quantity`" not in markdown_report(changed_result()).split("### Profiles")[1].split("<details>")[0]


# --- terminal -------------------------------------------------------------------------------------------


def _terminal_text(result: DiffResult, **options: Any) -> str:
    console = Console(record=True, width=120, color_system=None)
    console.print(terminal_report(result, **options))
    return console.export_text()


def test_terminal_report_shows_the_key_figures() -> None:
    text = _terminal_text(changed_result())
    for figure in (
        "analytics.orders", "plan_20250315_9f2c1e.orders", "48,210", "49,870", "+1,660 rows (+3.44%)",
        "✗ fail", "2 fail, 3 warn, 1 pass", "legacy_flag", "discount_code", "DECIMAL(10,2)",
        "1,734 (3.61%)", "1,858", "198", "46,278", "updated_at", "1,377", "2.87%", "0.019%",
        "0.313", "major shift", "0.051 approx.", "812", "psi(amount)", "Changed rows (first 5 of 1,734)",
        "12 more columns not shown", "Profiles (6 of 7 columns moved)", "+37.5%",
    ):  # fmt: skip
        assert figure in text, figure
    assert "[bold]not markup[/bold]" not in text  # only the first 8 columns of B are shown
    assert "quantity" in text  # in distributions


def test_terminal_header_names_a_shared_connection_once_and_keeps_labels_on_one_line() -> None:
    console = Console(record=True, width=80, color_system=None)
    console.print(terminal_report(identical_result()))
    header = console.export_text().split("╰")[0]
    assert header.count("duckdb:warehouse.duckdb") == 1  # in the facts line, not beside each label
    assert "│ A  analytics.players  " in header and "│ B  plan_20250101_abc123.players  " in header
    two = _terminal_text(nonunique_result())  # different connections: each beside its side
    assert "(duckdb:prod.duckdb)" in two and "(duckdb:dev.duckdb)" in two


def test_terminal_report_prints_data_as_text_not_markup() -> None:
    result = changed_result()
    assert result.rows is not None
    result.rows.sample_changed = [{"order_id": 1, "status": ["[bold]x[/bold]", "[red]y"]}]
    text = _terminal_text(result)
    assert "[bold]x[/bold]" in text and "[red]y" in text


def test_terminal_report_explains_an_unusable_key() -> None:
    text = _terminal_text(nonunique_result())
    assert "not unique in B (3 key values appear on more than one row)" in text
    assert "NULL in A (2 rows)" in text
    assert "no row-level diff" in text
    assert "key_unique" in text and "✗ fail" in text


def test_terminal_report_of_identical_tables_is_short_and_green() -> None:
    text = _terminal_text(identical_result())
    assert "✓ pass" in text and "Schema: identical (5 columns)." in text
    assert "All 4 compared columns match." in text and "Profiles: no change in 4 columns." in text
    assert "Changed rows" not in text and "Only in" not in text


def test_terminal_checks_list_the_problems_first_and_count_the_passes() -> None:
    result = changed_result()
    text = _terminal_text(result)
    table = text.split("\nChecks")[1]
    marks = [m for line in table.splitlines() for m in ("✗ fail", "⚠ warn", "✓ pass") if m in line]
    assert marks == ["✗ fail"] * 2 + ["⚠ warn"] * 3  # the passing check is not a row
    passing = [c.name for c in result.checks if c.outcome == "pass"]
    assert len(passing) == 1 and not any(passing[0] in line for line in table.splitlines() if "✓" not in line)
    assert text.rstrip().endswith("✓ 1 check passed")
    narrow = Console(record=True, width=80, color_system=None)
    narrow.print(terminal_report(identical_result()))
    same = narrow.export_text()
    assert "\nChecks" not in same and same.rstrip().endswith("✓ 3 checks passed")


def test_terminal_report_all_profiles_flags_the_moved_ones() -> None:
    text = _terminal_text(changed_result(), all_profiles=True)
    moved = [line for line in text.splitlines() if "●" in line]
    assert len(moved) == 6 and not any("quantity" in line for line in moved)
    assert any("quantity" in line and "INTEGER" in line for line in text.splitlines())


# --- HTML -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def page() -> str:
    return html_report(changed_result(), title="orders: prod vs plan")


@pytest.mark.parametrize("name", sorted(RESULTS))
def test_html_is_one_balanced_offline_document(name: str) -> None:
    document = html_report(RESULTS[name]())
    assert document.startswith('<!DOCTYPE html>\n<html lang="en">')
    parsed = collect(document)
    assert parsed.errors == [] and parsed.stack == []
    assert "http://" not in document and "https://" not in document
    assert "script" not in parsed.tags and "link" not in parsed.tags and "img" not in parsed.tags
    assert "@import" not in document and "url(" not in document
    for attribute, value in parsed.attributes:
        if attribute in ("href", "src", "xlink:href"):
            assert value is not None and value.startswith("#"), (attribute, value)
    for svg in re.findall(r"<svg .*?</svg>", document, flags=re.S):
        ET.fromstring(svg)


def test_html_holds_every_part(page: str) -> None:
    assert "<title>orders: prod vs plan</title>" in page
    for anchor in ("checks", "schema", "rows", "distributions", "profiles", "samples"):
        assert f'id="{anchor}"' in page and f'href="#{anchor}"' in page
    # One histogram per numeric column, top values for the categorical one, one mismatch chart.
    for column in ("amount", "quantity", "latency_ms", "shipping_cost"):
        assert f'aria-label="Distribution of {column}: A vs B"' in page
    assert 'aria-label="Top values of country: A vs B"' in page
    assert 'aria-label="Mismatches by column"' in page
    assert page.count("<svg ") == 6
    for figure in ("48,210", "49,870", "+1,660 (+3.44%)", "1,734", "1,858", "46,278", "✗ fail", "major shift"):
        assert figure in page, figure
    assert "legacy_flag" in page and "discount_code" in page and "DECIMAL(10,2)" in page
    assert page.count('class="card shifted"') == 1  # only amount moved past PSI 0.25
    # latency_ms: stable by PSI, yet KS p < 0.001 on these counts; the page says which figure decides.
    assert page.count("beyond chance (p &lt; 0.001) but small: the verdict is PSI&#x27;s") == 1


def test_html_escapes_data_and_cuts_long_values(page: str) -> None:
    assert "<script>alert" not in page and "<b>#4411</b>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; [bold]not markup[/bold]" in page
    assert "&lt;b&gt;#4411&lt;/b&gt;" in page
    # A long value is cut on one line in the wide table, whole in its tooltip.
    whole = f'title="{LONG_NOTE.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")}"'
    assert whole in page
    assert "gift wrap | ribbon\nsecond line" in page  # wraps in the changed-rows table


def test_html_key_problem_and_titles_are_escaped() -> None:
    result = nonunique_result()
    document = html_report(result, title='<T> & "co"')
    assert "<title>&lt;T&gt; &amp; &quot;co&quot;</title>" in document
    assert "not unique in B (3 key values appear on more than one row)" in document
    assert "query:SELECT * FROM staging.customers_v2 WHERE region = &#x27;EU&#x27;" in document
    assert 'id="rows"' in document and 'id="samples"' not in document
    assert collect(document).errors == []


def test_html_survives_a_degenerate_histogram() -> None:
    result = identical_result()
    result.distributions[0].histogram = Histogram(edges=[1.0, 1.0], a_counts=[5], b_counts=[5])
    document = html_report(result)
    assert "No histogram" in document and collect(document).errors == []


def test_html_renders_offline_in_headless_chromium(page: str, tmp_path: Path) -> None:
    data = screenshot(page, tmp_path, 1400, 2400)
    # A blank page compresses to a few kilobytes; cards, tables and histograms do not.
    assert len(data) > 100_000


def _minimal_result() -> DiffResult:
    side = Side(label="t", connection="", row_count=0, columns=[])
    return DiffResult(a=side, b=side, schema_diff=SchemaDiff())


def _bisect_result() -> DiffResult:
    result = changed_result()
    result.key = ["region", "order_id"]
    result.rows = RowDiff(
        key=["region", "order_id"],
        method="checksum-bisect",
        only_a=0,
        only_b=0,
        changed=2,
        unchanged=9_998,
        columns=[ColumnMismatch(column="amount", mismatches=2, rate=0.0002)],
        sample_changed=[{"region": "EMEA", "order_id": 7, "amount": [1.5, 1.75]}],
        segments_checked=64,
        rows_downloaded=312,
    )
    result.distributions.append(
        Distribution(column="empty", kind="numeric", histogram=Histogram(edges=[0, 1], a_counts=[0], b_counts=[0]))
    )
    return result


@pytest.mark.parametrize("make", [_minimal_result, _bisect_result])
def test_every_format_renders_sparse_and_unusual_results(make: Callable[[], DiffResult]) -> None:
    result = make()
    assert json.loads(to_json(result))["outcome"] == result.outcome
    markdown = markdown_report(result)
    document = html_report(result)
    assert collect(document).errors == []
    for svg in re.findall(r"<svg .*?</svg>", document, flags=re.S):
        ET.fromstring(svg)
    text = _terminal_text(result)
    if result.rows is not None:
        for output in (markdown, document, text):
            assert "64 key ranges compared" in output and "312 rows downloaded" in output
            assert "region=EMEA, order_id=7" in output
    else:
        assert "No checks were configured." in text and "no checks" in markdown


def test_profile_values_are_cut_after_their_first_difference() -> None:
    from decimal import Decimal

    from dataplan.verify.reports.common import shown_pair

    a, b = Decimal("12345678901234567.01"), Decimal("12345678901234567.09")
    assert shown_pair(a, b, 16) == "12345678901234567.01 → 12345678901234567.09"
    assert shown_pair("abcdefghijklmnopqrstuvwxyz", "abcdefghijklmnopqrstuvwxyz", 16) == "abcdefghijklmno…"
    assert shown_pair("abcdefghijklmnopqrstuvwxyz", "abcdefghXjklmnopqrstuvwxyz", 16) == (
        "abcdefghijklmno… → abcdefghXjklmno…"
    )
    assert shown_pair("abcdefghijklmnopq", "abcdefghijklmnopqr", 16) == "abcdefghijklmnopq → abcdefghijklmnopqr"


def test_html_card_counts_columns_in_words() -> None:
    from dataplan.verify.reports.html import _columns_differ

    assert [_columns_differ(n) for n in (0, 1, 3)] == ["no column differs", "1 column differs", "3 columns differ"]


def test_html_says_which_columns_differ_under_changed_not_unchanged(page: str) -> None:
    cards = dict(
        re.findall(r'<div class="label">([^<]+)</div><div class="value">[^<]*</div><div class="sub">([^<]*)', page)
    )
    assert cards["Changed"] == "3.61% of matched rows; 6 columns differ"
    assert cards["Unchanged"].endswith("of matched rows") and "differ" not in cards["Unchanged"]


def test_terminal_distributions_fit_80_columns_without_breaking_figures_or_sparklines() -> None:
    narrow = Console(record=True, width=80, color_system=None)
    narrow.print(terminal_report(changed_result()))
    text = narrow.export_text()
    table = text.split("\nDistributions")[1].split("\nShapes (A over B)")[0]
    rows = [line.split() for line in table.splitlines() if line.strip() and line.split()[0] in COLUMNS_SHOWN]
    assert [r[:4] for r in rows] == [
        ["amount", "num", "0.313", "major"],
        ["quantity", "num", "0.0001", "stable"],
        ["latency_ms", "num", "0.0186", "stable"],
        ["shipping_cost", "num", "0.0012", "stable"],
        ["country", "cat", "0.142", "moderate"],
    ]  # one line each: no figure or label wrapped
    assert "0.051*" in table and "\n*: KS is the largest gap" in text
    shapes = text.split("\nShapes (A over B)")[1].split("\nmethod:")[0]
    sparkline_rows = [line for line in shapes.splitlines() if "A ▁" in line or "B ▁" in line]
    assert len(sparkline_rows) == 6 and all(len(line.split()) in (2, 3) for line in sparkline_rows)
    wide = _terminal_text(changed_result())  # 120 columns: the sparklines stay in the table
    assert "Shapes (A over B)" not in wide and "numeric" in wide and "0.051 approx." in wide


COLUMNS_SHOWN = {"amount", "quantity", "latency_ms", "shipping_cost", "country"}


@pytest.mark.parametrize("width", [80, 90, 100, 120])
def test_terminal_profiles_never_lose_a_figure_at_any_width(width: int) -> None:
    """A long column name kept whole once squeezed the last column off the edge: "1.0 → " without its "0.99"."""
    result = changed_result()
    first = result.profiles[0]
    long_name = first.model_copy(
        update={
            "column": "churn_risk_score",
            "a": first.a.model_copy(update={"min": 0.03207612471373177, "max": 1.0, "type": "DOUBLE"}),
            "b": first.b.model_copy(update={"min": 0.03207612471373177, "max": 0.99, "type": "DOUBLE"}),
        }
    )
    result = result.model_copy(update={"profiles": [long_name, *result.profiles[1:]]})
    console = Console(record=True, width=width, color_system=None)
    console.print(terminal_report(result))
    profiles = console.export_text().split("\nProfiles")[1].split("\nDistributions")[0]
    assert "churn_risk_score" in profiles
    assert "0.99" in profiles, profiles


def _keyless_result() -> DiffResult:
    """identical_result diffed without a key (a model with no grain): profiles only, no row-level check."""
    result = identical_result()
    result.key, result.key_check, result.rows = [], None, None
    # the checks a keyless diff has (what evaluate() makes of it)
    result.checks = evaluate(
        a=result.a, b=result.b, schema_diff=result.schema_diff, profiles=result.profiles, key_check=None,
        rows=None, distributions=result.distributions,
    )  # fmt: skip
    return result


def test_no_key_is_shown_as_not_run_never_as_a_pass() -> None:
    """Without a key no row-level check ran: no tick and no green in any report, and no check passes for it."""
    result = _keyless_result()
    message = "No key given: rows were not matched, only profiles and distributions compared."
    assert not any("key" in c.name or "rows" in c.name for c in result.checks)
    # terminal: the line has no tick and no colour
    console = Console(record=True, width=120, color_system="truecolor", force_terminal=True)
    console.print(terminal_report(result))
    line = next(x for x in console.export_text(styles=True).splitlines() if message in x)
    assert "✓" not in line and "\x1b[" not in line.split(message)[0].replace("\x1b[0m", ""), line
    assert f"– {message}" in _terminal_text(result)
    # Markdown: a dash, not a tick
    markdown = markdown_report(result)
    assert f"– {md_text(message)}" in markdown and f"✓ {md_text(message)}" not in markdown
    # HTML: neutral, not the green "ok" class, and the Key card says no key rather than nothing
    document = html_report(result)
    paragraph = re.search(r'<p class="([^"]*)">([^<]*)No key given', document)
    assert paragraph is not None and paragraph.group(1) == "neutral" and "✓" not in paragraph.group(2)
    assert ".neutral{" in document
    card = re.search(r'<div class="stat[^"]*"><div class="label">Key</div><div class="value">([^<]*)</div>', document)
    assert card is not None and card.group(1) == "– none" and 'outcome-pass"><div class="label">Key' not in document
    # a key given but not checked is not a pass either
    result.key = ["id"]
    assert "– Key (id) was not checked." in _terminal_text(result)
