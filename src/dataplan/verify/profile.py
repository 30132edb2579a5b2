"""Column profiles: every figure for every column from ONE aggregate query per relation.

(One query per ``COLUMNS_PER_QUERY`` = 100 columns for wider relations.)

Per column: nulls, distinct count, min and max, and for numerics the mean,
sample standard deviation and the quantiles p01/p25/p50/p75/p99. Booleans get
min/max as ``bool_and``/``bool_or`` and their mean is the share of true values.

Distinct counts and quantiles are exact (``count(DISTINCT ...)``; continuous
quantiles: DuckDB ``quantile_cont``, Postgres ``percentile_cont ... WITHIN
GROUP``, one array-valued aggregate per column) up to ``EXACT_ROWS`` rows. Both
hold every value in memory and sort or hash it, which at 10M rows costs several
times a scan. Above ``EXACT_ROWS``, on engines that sample (``Backend.samples``),
quantiles are exact quantiles of a Bernoulli sample of about ``QUANTILE_SAMPLE``
rows (rank error about 0.2 %), read by one scalar subquery of the same statement
(``Backend.sampled``), and flagged approximate; on engines with approximate
aggregates (``Backend.approx_aggregates``) distinct counts are estimated too,
spelled by the backend (``approx_distinct``: on DuckDB a HyperLogLog count,
typically within 2 %); Postgres keeps them exact. Deciding takes one ``count(*)``
query first, which DuckDB answers from metadata for tables.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from functools import partial
from typing import Any

from sqlglot import exp

from dataplan.backends.base import Backend, Column, column
from dataplan.errors import EngineError
from dataplan.verify.model import ColumnKind, ColumnProfile, Profile, ProfileDelta
from dataplan.verify.relations import as_from, relation_columns

EXACT_ROWS = 1_000_000
# Sums of doubles near the largest double (1e308) overflow: Postgres then fails the query, DuckDB returns
# inf or NaN. Such a profile is queried again with the moments of v * 2^-600 (exact: a power of two) for the
# columns holding values beyond HUGE, whose squares then fit, and their mean and deviation are scaled back.
MOMENT_SCALE = 2.0**-600
HUGE = 2.0**500  # a column with a value this large has its moments scaled (its squares pass 2^1000)
QUANTILE_SAMPLE = 100_000  # rows behind the quantiles above EXACT_ROWS
QUANTILES: dict[str, float] = {"p01": 0.01, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p99": 0.99}
# Columns per aggregate query. Up to this width a profile is ONE query; wider relations take one query
# per slice: Postgres allows at most 1,664 select-list entries, and DuckDB plans hundreds of
# count(DISTINCT) aggregates in one query in time quadratic in their number.
COLUMNS_PER_QUERY = 100

_INTEGER = {
    "TINYINT", "SMALLINT", "INTEGER", "INT", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
    "UBIGINT", "UHUGEINT", "INT1", "INT2", "INT4", "INT8", "SERIAL", "BIGSERIAL", "SMALLSERIAL", "VARINT", "BIGNUM",
}  # fmt: skip
_FLOAT = {"FLOAT", "REAL", "DOUBLE", "DOUBLE PRECISION", "FLOAT4", "FLOAT8"}
_DECIMAL = {"DECIMAL", "NUMERIC"}
_TEXT = {"VARCHAR", "TEXT", "CHAR", "BPCHAR", "NAME", "STRING", "CHARACTER", "CHARACTER VARYING", "CITEXT", "ENUM"}
_BOOLEAN = {"BOOLEAN", "BOOL"}
_TEMPORAL = {
    "DATE", "TIME", "TIMETZ", "TIME WITH TIME ZONE", "TIME WITHOUT TIME ZONE", "TIMESTAMP", "TIMESTAMPTZ",
    "TIMESTAMP WITH TIME ZONE", "TIMESTAMP WITHOUT TIME ZONE", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS",
    "DATETIME",
}  # fmt: skip


def _base(engine_type: str) -> str:
    t = engine_type.strip().upper()
    if t.endswith("]") or t.startswith("_"):
        return "ARRAY"
    return re.sub(r"\s*\(.*\)\s*", " ", t).strip()


def column_kind(engine_type: str) -> ColumnKind:
    """numeric / text / temporal / boolean / other, from the engine's type text."""
    base = _base(engine_type)
    if base in _INTEGER | _FLOAT | _DECIMAL:
        return "numeric"
    if base in _TEXT:
        return "text"
    if base in _BOOLEAN:
        return "boolean"
    if base in _TEMPORAL:
        return "temporal"
    return "other"


def numeric_class(engine_type: str) -> str | None:
    """The numeric class of a type: float, decimal or integer; None for other types."""
    base = _base(engine_type)
    if base in _FLOAT:
        return "float"
    if base in _DECIMAL:
        return "decimal"
    if base in _INTEGER:
        return "integer"
    return None


# Temporal precision, coarse to fine: what comparisons truncate to.
TIME_UNITS = ["DAY", "SECOND", "MILLISECOND", "MICROSECOND", "NANOSECOND"]


def temporal_precision(engine_type: str) -> str | None:
    """The finest unit a timestamp or date type holds (TIME_UNITS); None for time-of-day and non-temporal types."""
    base = _base(engine_type)
    if base == "DATE":
        return "DAY"
    if not base.startswith("TIMESTAMP") and base != "DATETIME":
        return None
    fixed = {"TIMESTAMP_S": "SECOND", "TIMESTAMP_MS": "MILLISECOND", "TIMESTAMP_NS": "NANOSECOND"}
    if base in fixed:
        return fixed[base]
    digits = re.search(r"\(\s*(\d+)\s*\)", engine_type)  # Postgres timestamp(p)
    if digits:
        p = int(digits.group(1))
        return "SECOND" if p == 0 else "MILLISECOND" if p <= 3 else "MICROSECOND"
    return "MICROSECOND"


def _cast(e: exp.Expr, to: str) -> exp.Cast:
    return exp.cast(e, exp.DataType.build(to))


def count_star() -> exp.Count:
    return exp.Count(this=exp.Star())


def quantile_array(value: exp.Expr, fractions: list[float]) -> exp.Expr:
    """One aggregate returning the continuous quantiles of ``value`` as an array.

    Renders as ``quantile_cont(v, [..] ORDER BY v)`` in DuckDB and
    ``percentile_cont(ARRAY[..]) WITHIN GROUP (ORDER BY v)`` in Postgres.
    """
    arr = exp.Array(expressions=[exp.Literal.number(f) for f in fractions])
    return exp.WithinGroup(
        this=exp.PercentileCont(this=arr), expression=exp.Order(expressions=[exp.Ordered(this=value)])
    )


def _distinct(value: exp.Expr, approx: Backend | None) -> exp.Expr:
    if approx is not None:
        return approx.approx_distinct(value)
    return exp.Count(this=exp.Distinct(expressions=[value]))


def _scaled(v: exp.Expr, scale: float) -> exp.Expr:
    return v if scale == 1.0 else exp.Mul(this=v, expression=exp.Literal.number(repr(scale)))


def _moments(v: exp.Expr, i: int, shift: float | None, scale: float = 1.0) -> list[exp.Expr]:
    """Mean and standard deviation: the engine's, or the shifted sums they are computed from (module docstring).

    With ``scale`` (a power of two, so exact) they are the moments of ``v * scale``: see MOMENT_SCALE.
    """
    v = _scaled(v, scale)
    if shift is not None:
        shift *= scale
    if shift is None:
        return [exp.Avg(this=v.copy()).as_(f"m{i}"), exp.StddevSamp(this=v.copy()).as_(f"s{i}")]
    k = exp.cast(exp.Literal.number(repr(shift)), exp.DataType.build("double"))
    d = exp.paren(exp.Sub(this=v.copy(), expression=k))
    return [
        exp.Sum(this=d.copy()).as_(f"sum1_{i}"),
        exp.Sum(this=exp.Mul(this=d, expression=d.copy())).as_(f"sum2_{i}"),
    ]


def _column_aggregates(
    i: int,
    col: Column,
    approx: Backend | None = None,
    shift: float | None = None,
    scale: float = 1.0,
    sampled: bool = False,
) -> list[exp.Expr]:
    """The aggregates of one column: distinct counts by ``approx``'s estimate when given, quantiles left to
    the sample when ``sampled``."""
    kind = column_kind(col.type)
    c = column(col.name)
    out: list[exp.Expr] = [exp.Count(this=c.copy()).as_(f"nn{i}")]
    if kind == "other":
        out.append(_distinct(_cast(c.copy(), "varchar"), approx).as_(f"d{i}"))
        return out
    out.append(_distinct(c.copy(), approx).as_(f"d{i}"))
    if kind == "boolean":
        out += [exp.LogicalAnd(this=c.copy()).as_(f"lo{i}"), exp.LogicalOr(this=c.copy()).as_(f"hi{i}")]
        share = exp.Case(
            ifs=[
                exp.If(this=c.copy(), true=exp.Literal.number(1)),
                exp.If(this=exp.not_(c.copy()), true=exp.Literal.number(0)),
            ]
        )
        out.append(exp.Avg(this=_cast(share, "double")).as_(f"m{i}"))
        return out
    out += [exp.Min(this=c.copy()).as_(f"lo{i}"), exp.Max(this=c.copy()).as_(f"hi{i}")]
    if kind == "numeric":
        v = _cast(c.copy(), "double")
        out += _moments(v, i, shift, scale)
        if not sampled:  # else from the sample: see _sampled_quantiles
            out.append(quantile_array(v.copy(), list(QUANTILES.values())).as_(f"q{i}"))
    return out


def profile_query(
    rel: exp.Expr,
    columns: list[Column],
    offset: int = 0,
    approx: Backend | None = None,
    shifts: dict[str, float] | None = None,
    rows: int = 0,
    scales: dict[str, float] | None = None,
    sampler: Backend | None = None,
) -> exp.Select:
    """The aggregate query behind a profile; output aliases are positional (n, nn0, d0, ...) from ``offset``.

    With ``approx``, distinct counts are that backend's approximate aggregates. With ``shifts`` (numeric
    column -> K), mean and standard deviation come as sums of ``v - K`` and ``(v - K)^2``. With ``sampler``
    (by default ``approx``), the numeric columns' quantiles come from a sample of ``rel`` (``rows`` rows):
    an array of quantile arrays in the column ``qs``. With ``scales`` (column -> power of two), a column's mean and
    standard deviation are those of its values times its scale.
    """
    sampler = sampler or approx
    aggs: list[exp.Expr] = [count_star().as_("n")]
    for i, col in enumerate(columns):
        shift = None if shifts is None else shifts.get(col.name, 0.0)
        scale = (scales or {}).get(col.name, 1.0)
        aggs += _column_aggregates(offset + i, col, approx, shift, scale, sampled=sampler is not None)
    numeric = [c for c in columns if column_kind(c.type) == "numeric"]
    if sampler is not None and numeric:
        aggs.append(_sampled_quantiles(sampler, rel, numeric, rows).as_("qs"))
    return exp.select(*aggs).from_(as_from(rel))


def _sampled_quantiles(backend: Backend, rel: exp.Expr, numeric: list[Column], rows: int) -> exp.Expr:
    """``(SELECT [quantiles of c1, quantiles of c2, ...] FROM rel <sample>)``: one sampled scan for all columns.

    A subquery, not a FILTER on each aggregate: a random draw per column per row measured twice the cost
    of the whole profile, the subquery's sampled scan about a tenth of it.
    """
    fractions = list(QUANTILES.values())
    # An all-NULL column has NULL quantiles; Postgres refuses a NULL beside arrays in one array, so it is
    # an array of NULLs.
    nulls = exp.cast(exp.Array(expressions=[exp.null() for _ in fractions]), exp.DataType.build("double[]"))
    arrays = exp.Array(
        expressions=[
            exp.func("coalesce", quantile_array(_cast(column(c.name), "double"), fractions), nulls.copy())
            for c in numeric
        ]
    )
    percent = min(100.0, 100.0 * QUANTILE_SAMPLE / max(rows, 1))
    return backend.sampled(exp.select(arrays).from_(as_from(rel)), percent).subquery()


def approximation(
    backend: Backend, rel: exp.Expr, columns: list[Column], exact: bool = False
) -> tuple[int, dict[str, float] | None] | None:
    """None when ``rel`` is profiled exactly; else its row count and, on engines with approximate
    aggregates, the shift K of each numeric column (its minimum).

    Approximate means more than EXACT_ROWS rows on an engine that samples. Deciding takes one query
    (``count(*)``, and the numeric columns' minimums where they are wanted), and only on such engines.
    """
    if exact or not backend.samples:
        return None
    if not backend.approx_aggregates:  # exact distinct counts and engine moments: only the sample's size
        n = int(backend.fetch_value(exp.select(count_star()).from_(as_from(rel))) or 0)
        return (n, None) if n > EXACT_ROWS else None
    numeric = [c for c in columns if column_kind(c.type) == "numeric"]
    query = exp.select(count_star(), *[exp.Min(this=column(c.name)) for c in numeric])  # no cast: from statistics
    got = backend.fetch_rows(query.from_(as_from(rel)))[0]
    if int(got[0] or 0) <= EXACT_ROWS:
        return None
    return int(got[0]), {c.name: _finite(k) for c, k in zip(numeric, got[1:], strict=True)}


def _finite(value: Any) -> float:
    """A shift from a minimum: 0.0 for an empty column, or a -inf that would turn every sum into NaN."""
    k = 0.0 if value is None else float(value)
    return k if math.isfinite(k) else 0.0


def _shifted_moments(values: dict[str, Any], i: int, shift: float) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation from the shifted sums of column ``i``."""
    n, s1, s2 = int(values.get(f"nn{i}") or 0), values.get(f"sum1_{i}"), values.get(f"sum2_{i}")
    if n == 0 or s1 is None or s2 is None:
        return None, None
    mean = shift + float(s1) / n
    if n < 2:
        return mean, None
    return mean, math.sqrt(max(float(s2) - float(s1) * float(s1) / n, 0.0) / (n - 1))


def _fetch_moments(
    backend: Backend, rel: exp.Expr, query: Callable[..., exp.Select], numeric: dict[int, str]
) -> tuple[dict[str, Any], dict[int, float]]:
    """One profile query's figures by alias, and the scale of each column whose moments overflowed.

    Only columns whose values reach HUGE are scaled: scaling small values too would underflow their squares
    to zero. Postgres fails the whole query without saying which column overflowed, so their minimums and
    maximums are read first (a query that cannot overflow).
    """

    def run(scales: dict[int, float]) -> dict[str, Any]:
        q = query(scales={numeric[i]: k for i, k in scales.items()})
        return dict(zip([e.alias for e in q.expressions], backend.fetch_rows(q)[0], strict=True))

    try:
        got = run({})
        if not any(_overflowed(got, i) for i in numeric):
            return got, {}
        bounds = {i: (got.get(f"lo{i}"), got.get(f"hi{i}")) for i in numeric}
    except EngineError as exc:
        if not (exc.overflow and numeric):
            raise
        ends = [agg(this=column(name)) for name in numeric.values() for agg in (exp.Min, exp.Max)]
        row = backend.fetch_rows(exp.select(*ends).from_(as_from(rel)))[0]
        bounds = {i: (row[2 * j], row[2 * j + 1]) for j, i in enumerate(numeric)}
    scales = {
        i: MOMENT_SCALE
        for i, ends in bounds.items()
        if any(x is not None and math.isfinite(float(x)) and abs(float(x)) >= HUGE for x in ends)
    }
    return run(scales), scales


def _overflowed(values: dict[str, Any], i: int) -> bool:
    """Column ``i``'s moments are infinite or NaN while its minimum and maximum are finite."""
    lo, hi = _float(values.get(f"lo{i}")), _float(values.get(f"hi{i}"))
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return False
    moments = [_float(values.get(k)) for k in (f"m{i}", f"s{i}", f"sum1_{i}", f"sum2_{i}")]
    return any(x is not None and not math.isfinite(x) for x in moments)


def _stable(x: float | None) -> float | None:
    """``x`` to 12 significant digits: a parallel engine adds partial sums in any order, so the last bits of
    a mean or deviation differ between two runs on the same data, and reports should not."""
    if x is None or not math.isfinite(x) or x == 0:
        return x
    return round(x, 11 - math.floor(math.log10(abs(x))))


def _float(v: Any) -> float | None:
    return None if v is None else float(v)


def profile(
    backend: Backend, rel: exp.Expr, *, label: str, columns: list[Column] | None = None, exact: bool = False
) -> Profile:
    """Profile ``rel``: one aggregate query per ``COLUMNS_PER_QUERY`` columns (plus a describe without ``columns``).

    ``exact`` keeps distinct counts and quantiles exact whatever the size (see the module's docstring).
    """
    cols = columns if columns is not None else relation_columns(backend, rel)
    approx = approximation(backend, rel, cols, exact)
    approximate = approx is not None
    rows, shifts = approx if approx is not None else (0, None)
    values: dict[str, Any] = {}
    starts = list(range(0, len(cols), COLUMNS_PER_QUERY)) or [0]
    scales: dict[int, float] = {}  # column index -> the scale its moments were computed at
    for start in starts:
        part = cols[start : start + COLUMNS_PER_QUERY]
        numeric = {start + i: c.name for i, c in enumerate(part) if column_kind(c.type) == "numeric"}
        query = partial(
            profile_query,
            rel,
            part,
            offset=start,
            approx=backend if approximate and backend.approx_aggregates else None,
            sampler=backend if approximate else None,
            shifts=shifts,
            rows=rows,
        )
        got, scaled = _fetch_moments(backend, rel, query, numeric)
        scales.update(scaled)
        for i, q in zip(numeric, got.pop("qs", None) or [], strict=False):
            got[f"q{i}"] = q
        values.update(got)
    n = int(values.get("n") or 0)
    out = []
    for i, col in enumerate(cols):
        kind = column_kind(col.type)
        distinct_approximate = approximate and backend.approx_aggregates and kind != "boolean"
        nulls = n - int(values.get(f"nn{i}") or 0)
        distinct = values.get(f"d{i}")
        # min and max keep the engine's exact value: a DECIMAL stays a Decimal (JSON writes it as an exact
        # string), so a change in the 17th digit still shows and still flags the column.
        lo, hi = values.get(f"lo{i}"), values.get(f"hi{i}")
        mean, stddev = _float(values.get(f"m{i}")), _float(values.get(f"s{i}"))
        scale = scales.get(i, 1.0)
        if shifts is not None and kind == "numeric":
            mean, stddev = _shifted_moments(values, i, shifts[col.name] * scale)
        if scale != 1.0:
            mean, stddev = (None if x is None else x / scale for x in (mean, stddev))
        mean, stddev = _stable(mean), _stable(stddev)
        quantiles: dict[str, float] = {}
        q = values.get(f"q{i}")
        if q is not None:
            quantiles = {name: float(x) for name, x in zip(QUANTILES, q, strict=True) if x is not None}
        out.append(
            ColumnProfile(
                column=col.name,
                type=col.type,
                kind=kind,
                rows=n,
                nulls=nulls,
                null_pct=round(100.0 * nulls / n, 6) if n else 0.0,
                distinct=None if distinct is None else int(distinct),
                min=lo,
                max=hi,
                mean=mean,
                stddev=stddev,
                quantiles=quantiles,
                approximate=distinct_approximate or (approximate and kind == "numeric"),
                distinct_approximate=distinct_approximate,
            )
        )
    sample = f"quantiles exact over a Bernoulli sample of about {QUANTILE_SAMPLE:,} rows"
    distincts = backend.approx_method if backend.approx_aggregates else "distinct counts exact"
    method = f"above {EXACT_ROWS:,} rows: {distincts}; {sample}" if approximate else "exact"
    return Profile(label=label, row_count=n, columns=out, queries=len(starts), method=method)


def profile_deltas(a: Profile, b: Profile) -> list[ProfileDelta]:
    """Per column present in both profiles (A's order): null share, distinct and mean changes, B - A."""
    by_name = {c.column: c for c in b.columns}
    out = []
    for ca in a.columns:
        cb = by_name.get(ca.column)
        if cb is None:
            continue
        distinct_delta = None if ca.distinct is None or cb.distinct is None else cb.distinct - ca.distinct
        mean_delta = None
        if ca.mean is not None and cb.mean is not None and ca.mean != 0:
            mean_delta = 100.0 * (cb.mean - ca.mean) / abs(ca.mean)
        elif ca.mean is not None and cb.mean is not None:
            mean_delta = 0.0 if cb.mean == 0 else None
        out.append(
            ProfileDelta(
                column=ca.column,
                a=ca,
                b=cb,
                null_pct_delta=round(cb.null_pct - ca.null_pct, 6),
                distinct_delta=distinct_delta,
                mean_delta_pct=mean_delta,
            )
        )
    return out
