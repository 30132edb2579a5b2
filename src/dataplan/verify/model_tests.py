"""Model, source and singular tests: each compiles to a query of failing rows."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

import sqlglot
from sqlglot import exp

from dataplan.backends.base import Backend, column, select_star
from dataplan.project.specs import TestSpec

Outcome = Literal["pass", "warn", "fail"]
SAMPLE_ROWS = 5


@dataclass
class TestResult:
    node: str  # model fqn, source table, or singular test name
    test: str
    severity: str
    outcome: Outcome
    failing_rows: int
    sample: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None


def failing_rows_query(
    spec: TestSpec, relation: exp.Table, dialect: str, resolve_model: Any = None
) -> exp.Query | None:
    """Rows that violate ``spec``; ``None`` for aggregate tests (row_count)."""
    col = column(spec.column) if spec.column else None
    base = select_star(relation)
    if spec.kind == "not_null":
        assert col is not None
        return base.where(col.is_(exp.null()))
    if spec.kind == "unique":
        assert col is not None
        dupes = (
            exp.select(col.copy(), exp.func("count", exp.Star()).as_("n_rows"))
            .from_(relation)
            .where(exp.not_(col.copy().is_(exp.null())))
            .group_by(col.copy())
            .having(exp.func("count", exp.Star()) > 1)
        )
        return dupes
    if spec.kind == "accepted_values":
        assert col is not None
        values = [exp.convert(v) for v in spec.args["values"]]
        return base.where(exp.and_(exp.not_(col.is_(exp.null())), exp.not_(col.copy().isin(*values))))
    if spec.kind == "relationships":
        assert spec.column is not None and resolve_model is not None
        parent: exp.Expr = resolve_model(str(spec.args["to"]))
        field_ = column(str(spec.args["field"]), "p")
        return (
            exp.select(column(spec.column, "c"))
            .from_(relation.copy().as_("c"))
            .join(parent.as_("p"), on=column(spec.column, "c").eq(field_), join_type="left")
            .where(exp.and_(exp.not_(column(spec.column, "c").is_(exp.null())), field_.is_(exp.null())))
        )
    if spec.kind == "expression":
        predicate = sqlglot.parse_one(str(spec.args["expr"]), read=dialect)
        return base.where(exp.not_(exp.func("coalesce", exp.paren(predicate), exp.false())))
    return None


def unique_grain_query(grain: list[str], relation: exp.Table) -> exp.Query:
    cols = [column(c) for c in grain]
    return (
        exp.select(*cols, exp.func("count", exp.Star()).as_("n_rows"))
        .from_(relation)
        .group_by(*[c.copy() for c in cols])
        .having(exp.func("count", exp.Star()) > 1)
    )


def run_failing_query(backend: Backend, node: str, name: str, severity: str, query: exp.Query) -> TestResult:
    t0 = time.perf_counter()
    count_q = exp.select(exp.func("count", exp.Star())).from_(query.subquery("failing"))
    try:
        n = int(backend.fetch_value(count_q) or 0)
        sample: list[dict[str, Any]] = []
        if n:
            limited = select_star(query.subquery("failing")).limit(SAMPLE_ROWS)
            sample = backend.fetch(limited).to_pylist()
    except Exception as exc:  # an engine error in one test must not hide the others
        return TestResult(node, name, severity, "fail", 0, [], time.perf_counter() - t0, str(exc))
    outcome: Outcome = "pass" if n == 0 else ("warn" if severity == "warn" else "fail")
    return TestResult(node, name, severity, outcome, n, sample, time.perf_counter() - t0)


def run_row_count(backend: Backend, node: str, spec: TestSpec, relation: exp.Table) -> TestResult:
    t0 = time.perf_counter()
    try:
        n = int(backend.fetch_value(exp.select(exp.func("count", exp.Star())).from_(relation)) or 0)
    except Exception as exc:  # as in run_failing_query: one missing table must not end the run
        return TestResult(node, spec.name, spec.severity, "fail", 0, [], time.perf_counter() - t0, str(exc))
    lo, hi = spec.args.get("min"), spec.args.get("max")
    bad = (lo is not None and n < lo) or (hi is not None and n > hi)
    outcome: Outcome = "pass" if not bad else ("warn" if spec.severity == "warn" else "fail")
    # A row count has no failing rows: say what was counted, or an empty table reads as "0 failing rows".
    bound = f"below the minimum {lo}" if lo is not None and n < lo else f"above the maximum {hi}"
    return TestResult(
        node,
        spec.name,
        spec.severity,
        outcome,
        n if bad else 0,
        [{"row_count": n}] if bad else [],
        time.perf_counter() - t0,
        f"row count {n} is {bound}" if bad else None,
    )
