"""Distribution drift per column: histograms, PSI and KS for numerics; top-k and chi-square for categories.

Every count is made in the engine; only small results come back. Numeric
columns share one set of equal-width bins over the combined min/max of both
sides (taken from the profiles), counted for all columns in one query per side:
a GROUP BY GROUPING SETS with one set per column, whose groups are bin numbers.
Each of the ``BINS`` bins is counted as ``FINE`` finer bins. The histograms and
PSI use the ``BINS`` bins. KS is exact on the raw values when both sides hold
at most ``EXACT_KS_LIMIT`` rows; beyond that it is the largest gap between the
two empirical CDFs at the ``BINS * FINE + 1`` shared fine-bin edges, where both
CDFs are known exactly (``approximate=True``): a lower bound of the exact
statistic, and equal to it when the largest gap falls on an edge. No sort and no
quantile sketch is needed, so the query costs about as much as a scan.
Text and boolean columns: top-k values per side in one query per side, the
other side's counts of those values, and a chi-square test of homogeneity.

Identifier-like columns (text or integer, every non-NULL value distinct on
both sides) get no statistics: each value is one row, so their "distribution"
is which ids are present. PSI over equal-width bins of integer ids moves when
ids are appended above A's maximum or renumbered, and says nothing a reader
can act on; the key diff compares the rows themselves. Such a column is
listed with ``psi=None`` and a ``not computed: identifier-like ...`` method,
so no check grades it and no "max PSI" headline names it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from types import ModuleType
from typing import Literal

import numpy as np
from sqlglot import exp

from dataplan.backends.base import Backend, column
from dataplan.verify.model import ColumnProfile, Distribution, Histogram, Profile
from dataplan.verify.profile import COLUMNS_PER_QUERY, count_star, numeric_class
from dataplan.verify.relations import as_from

EXACT_KS_LIMIT = 10_000
BINS = 10
TOP_K = 20
PSI_EPSILON = 1e-4
FINE = 10  # fine bins per histogram bin, for the approximate KS
OTHER = "(other)"
ID_MIN_ROWS = 30  # below this many values a column of a tiny table is all-distinct by chance, not an identifier
ID_APPROX_SHARE = 0.98  # a HyperLogLog distinct count (DuckDB above 1M rows) is within ~2% of the exact one


def identifier_like(p: ColumnProfile) -> bool:
    """Whether a column of one side looks like an identifier: text or integer, every non-NULL value distinct
    (with an approximate distinct count: at least ``ID_APPROX_SHARE`` of the values), at least ``ID_MIN_ROWS``
    values. Floats and decimals are measurements: all-distinct scores still have a distribution."""
    values = p.rows - p.nulls
    if p.distinct is None or values < ID_MIN_ROWS:
        return False
    if not (p.kind == "text" or (p.kind == "numeric" and numeric_class(p.type) == "integer")):
        return False
    if p.distinct_approximate:
        return p.distinct >= ID_APPROX_SHARE * values
    return p.distinct == values


def _double(e: exp.Expr) -> exp.Expr:
    return exp.cast(e, exp.DataType.build("double"))


def _lit(value: float) -> exp.Expr:
    return _double(exp.Literal.number(repr(float(value))))


def _stats() -> ModuleType:
    from scipy import stats  # imported on use: scipy.stats costs seconds at start-up

    return stats


def psi(a_counts: Sequence[float], b_counts: Sequence[float], epsilon: float = PSI_EPSILON) -> float | None:
    """Population stability index of B against A over shared buckets; empty buckets count as ``epsilon``."""
    ta, tb = float(sum(a_counts)), float(sum(b_counts))
    if ta <= 0 or tb <= 0:
        return None
    total = 0.0
    for ca, cb in zip(a_counts, b_counts, strict=True):
        pa, pb = max(ca / ta, epsilon), max(cb / tb, epsilon)
        total += (pb - pa) * math.log(pb / pa)
    return total


# A span narrower than this share of the values' magnitude (or than 2^-1000) cannot be cut into BINS * FINE
# distinct edges: doubles at 2^60 are 256 apart, so ``lo + width`` can be ``lo`` itself. Such a column gets one
# bin of WIDEN_SHARE of its magnitude (at least 1.0, the width a constant column always had), which every
# double can hold with room for the fine edges.
NARROW_SHARE = 2.0**-44
WIDEN_SHARE = 2.0**-40
NARROW_FLOOR = 2.0**-1000  # keeps BINS * FINE / span finite


def _edges(lo: float, hi: float, bins: int) -> list[float]:
    """``bins`` equal-width bins from ``lo`` to ``hi``; one wider bin when the span is (nearly) zero."""
    magnitude = max(abs(lo), abs(hi))
    if not hi - lo >= max(magnitude * NARROW_SHARE, NARROW_FLOOR):
        width = max(1.0, magnitude * WIDEN_SHARE)
        # Near the largest double, lo + width overflows: the bin then ends at hi instead.
        return [lo, lo + width] if math.isfinite(lo + width) else [hi - width, hi]
    width = (hi - lo) / bins
    if not math.isfinite(width):  # a span beyond the largest double (-1e308 .. 1e308): in halves
        half = hi / (2 * bins) - lo / (2 * bins)
        return [(lo / 2 + i * half) * 2 for i in range(bins)] + [hi]
    return [lo + i * width for i in range(bins)] + [hi]


def _fine_edges(edges: list[float]) -> list[float]:
    """Each bin of ``edges`` cut into FINE equal parts."""
    return _edges(edges[0], edges[-1], (len(edges) - 1) * FINE)


def _bin(value: exp.Expr, edges: list[float]) -> exp.Expr:
    """The 0-based bin of ``value`` (NULL for NULL): floor((v - lo) * bins / (hi - lo)).

    Values are within [lo, hi] (the edges span both sides' min and max), so the only value past the last
    bin is ``hi`` itself, and ``_bin_counts`` folds it into the last bin. Clamping here instead (a LEAST,
    which needs a NULL guard on DuckDB) made the query 1.7 times slower at 10M rows.
    """
    nb = len(edges) - 1
    lo, hi = edges[0], edges[-1]
    # A span beyond the largest double (-1e308 .. 1e308) overflows v - lo: then both are halved first,
    # which is exact for doubles this large.
    half = not math.isfinite(hi - lo)
    span = hi / 2 - lo / 2 if half else hi - lo
    # _edges never makes a zero span; should one come anyway, every value lands in the first bin, not in a
    # ZeroDivisionError.
    scale = nb / span if span > 0 and math.isfinite(nb / span) else 0.0
    offset: exp.Expr = exp.Sub(this=value, expression=_lit(lo))
    if half:
        offset = exp.Sub(this=exp.Mul(this=value, expression=_lit(0.5)), expression=_lit(lo / 2))
    return exp.Floor(this=exp.Mul(this=exp.paren(offset), expression=_lit(scale)))


def _numeric_query(rel: exp.Expr, names: list[str], edges: list[list[float]]) -> exp.Select:
    """Bin counts of every column in one scan: GROUPING SETS ((b0), (b1), ...), one set per column."""
    bins = [column(f"b{i}") for i in range(len(names))]
    inner = exp.select(
        *[_bin(_double(column(n)), e).as_(f"b{i}") for i, (n, e) in enumerate(zip(names, edges, strict=True))]
    )
    query = exp.select(
        *[exp.Grouping(expressions=[b.copy()]).as_(f"g{i}") for i, b in enumerate(bins)], *bins, count_star().as_("n")
    )
    query = query.from_(inner.from_(as_from(rel)).subquery("bins"))
    return query.group_by(exp.GroupingSets(expressions=[exp.paren(b.copy()) for b in bins]))


def _bin_counts(backend: Backend, rel: exp.Expr, names: list[str], edges: list[list[float]]) -> list[list[int]]:
    """Per column: the count of each bin of its ``edges``; one query per COLUMNS_PER_QUERY columns."""
    out: list[list[int]] = []
    for start in range(0, len(names), COLUMNS_PER_QUERY):
        part_names, part_edges = names[start : start + COLUMNS_PER_QUERY], edges[start : start + COLUMNS_PER_QUERY]
        counts = [[0] * (len(e) - 1) for e in part_edges]
        width = len(part_names)
        for row in backend.fetch_rows(_numeric_query(rel, part_names, part_edges)):
            i = next(i for i in range(width) if not row[i])  # the set this row belongs to: GROUPING() = 0
            b = row[width + i]
            if b is not None:  # the NULL values' group
                last = len(counts[i]) - 1  # hi lands one past the last bin; rounding may nudge lo below 0
                counts[i][min(max(int(b), 0), last)] += int(row[-1])
        out += counts
    return out


def _coarse(fine: list[int], bins: int) -> list[int]:
    step = len(fine) // bins
    return [sum(fine[j * step : (j + 1) * step]) for j in range(bins)]


def binned_ks(a_counts: Sequence[int], b_counts: Sequence[int]) -> tuple[float, float]:
    """KS statistic (largest CDF gap at the shared bin edges) and its asymptotic p-value."""
    na, nb = float(sum(a_counts)), float(sum(b_counts))
    gap = np.cumsum(np.asarray(a_counts, dtype=float)) / na - np.cumsum(np.asarray(b_counts, dtype=float)) / nb
    d = float(np.max(np.abs(gap)))
    return d, float(_stats().kstwobign.sf(d * math.sqrt(na * nb / (na + nb))))


def _download(backend: Backend, rel: exp.Expr, names: list[str]) -> list[np.ndarray]:
    query = exp.select(*[_double(column(n)).as_(f"v{i}") for i, n in enumerate(names)]).from_(as_from(rel))
    table = backend.fetch(query)
    out = []
    for i in range(len(names)):
        values = [x for x in table.column(i).to_pylist() if x is not None]
        out.append(np.asarray(values, dtype=float))
    return out


def numeric_distributions(
    a: Backend, rel_a: exp.Expr, b: Backend, rel_b: exp.Expr, pairs: list[tuple[ColumnProfile, ColumnProfile]],
    *, bins: int = BINS, exact_limit: int = EXACT_KS_LIMIT,
) -> list[Distribution]:  # fmt: skip
    """Histogram, PSI and KS for numeric columns (profiles of A and B per column)."""
    pairs = [(pa, pb) for pa, pb in pairs if pa.rows - pa.nulls > 0 or pb.rows - pb.nulls > 0]
    skipped = []
    edges = []
    for pa, pb in list(pairs):
        bounds = [float(v) for p in (pa, pb) for v in (p.min, p.max) if v is not None]
        if not all(math.isfinite(v) for v in bounds):
            pairs.remove((pa, pb))
            method = "not computed: the column holds infinite or NaN values, which have no bins"
            skipped.append(Distribution(column=pa.column, kind="numeric", method=method))
            continue
        edges.append(_edges(min(bounds), max(bounds), bins))
    if not pairs:
        return skipped
    rows_a, rows_b = pairs[0][0].rows, pairs[0][1].rows
    exact = rows_a <= exact_limit and rows_b <= exact_limit
    names_a, names_b = [pa.column for pa, _ in pairs], [pb.column for _, pb in pairs]
    fine = [_fine_edges(e) for e in edges]
    fa, fb = _bin_counts(a, rel_a, names_a, fine), _bin_counts(b, rel_b, names_b, fine)
    raw_a = _download(a, rel_a, names_a) if exact else []
    raw_b = _download(b, rel_b, names_b) if exact else []
    out = []
    hist_text = f"histogram: {bins} equal-width bins over the combined min/max of A and B, counted in the engine; "
    psi_text = f"PSI over the bins (empty bins count as {PSI_EPSILON:g}); "
    for i, ((pa, _), e, f_a, f_b) in enumerate(zip(pairs, edges, fa, fb, strict=True)):
        ca, cb = _coarse(f_a, len(e) - 1), _coarse(f_b, len(e) - 1)
        dist = Distribution(
            column=pa.column,
            kind="numeric",
            psi=psi(ca, cb),
            histogram=Histogram(edges=e, a_counts=ca, b_counts=cb),
        )
        if exact:
            if raw_a[i].size and raw_b[i].size:
                with warnings.catch_warnings():  # "exact calculation unsuccessful": scipy falls back, and says so
                    warnings.simplefilter("ignore", RuntimeWarning)
                    ks = _stats().ks_2samp(raw_a[i], raw_b[i])
                dist.ks_statistic, dist.ks_pvalue = float(ks.statistic), float(ks.pvalue)
            dist.method = (
                hist_text + psi_text + f"KS: exact two-sample statistic on all non-null values "
                f"({raw_a[i].size} in A, {raw_b[i].size} in B; scipy.stats.ks_2samp)"
            )
        else:
            if sum(f_a) and sum(f_b):
                dist.ks_statistic, dist.ks_pvalue = binned_ks(f_a, f_b)
            dist.approximate = True
            dist.method = (
                hist_text + psi_text + f"KS: approximate, A or B has more than {exact_limit:,} rows, so the statistic "
                f"is the largest gap between the two CDFs at the {len(f_a) + 1} shared edges of {len(f_a)} fine bins "
                "(exact there, so a lower bound of the exact statistic), with an asymptotic p-value"
            )
        out.append(dist)
    return out + skipped


def _top_query(rel: exp.Expr, names: list[str], k: int) -> exp.Select:
    branches = []
    for i, name in enumerate(names):
        value = exp.cast(column(name), exp.DataType.build("varchar"))
        branches.append(
            exp.select(exp.Literal.number(i).as_("col"), value.as_("val"), count_star().as_("n"))
            .from_(as_from(rel))
            .where(exp.not_(column(name).is_(exp.null())))
            .group_by(column(name))
        )
    union = branches[0] if len(branches) == 1 else exp.union(*branches, distinct=False)
    order = exp.Order(expressions=[exp.Ordered(this=column("n"), desc=True), exp.Ordered(this=column("val"))])
    ranked = exp.select(
        "col", "val", "n", exp.Window(this=exp.RowNumber(), partition_by=[column("col")], order=order).as_("rk")
    ).from_(union.subquery("counts"))
    return exp.select("col", "val", "n").from_(ranked.subquery("ranked")).where(column("rk") <= k)


def _count_query(rel: exp.Expr, wanted: dict[int, tuple[str, list[str]]]) -> exp.Query:
    branches = []
    for i, (name, values) in wanted.items():
        value = exp.cast(column(name), exp.DataType.build("varchar"))
        branches.append(
            exp.select(exp.Literal.number(i).as_("col"), value.copy().as_("val"), count_star().as_("n"))
            .from_(as_from(rel))
            .where(value.copy().isin(*[exp.Literal.string(v) for v in values]))
            .group_by(value.copy())
        )
    return branches[0] if len(branches) == 1 else exp.union(*branches, distinct=False)


def _counts(rows: list[tuple[object, ...]]) -> dict[int, dict[str, int]]:
    out: dict[int, dict[str, int]] = {}
    for col, val, n in rows:
        out.setdefault(int(str(col)), {})[str(val)] = int(str(n))
    return out


def categorical_distributions(
    a: Backend, rel_a: exp.Expr, b: Backend, rel_b: exp.Expr, pairs: list[tuple[ColumnProfile, ColumnProfile]],
    *, top_k: int = TOP_K,
) -> list[Distribution]:  # fmt: skip
    """Top-k values, chi-square and PSI for text and boolean columns."""
    if not pairs:
        return []
    names_a, names_b = [pa.column for pa, _ in pairs], [pb.column for _, pb in pairs]
    top_a = _counts(a.fetch_rows(_top_query(rel_a, names_a, top_k)))
    top_b = _counts(b.fetch_rows(_top_query(rel_b, names_b, top_k)))
    for mine, theirs, names, backend, rel in ((top_a, top_b, names_a, a, rel_a), (top_b, top_a, names_b, b, rel_b)):
        wanted = {}
        for i, name in enumerate(names):
            missing = sorted(set(theirs.get(i, {})) - set(mine.get(i, {})))
            if missing:
                wanted[i] = (name, missing)
        if wanted:
            for col, found in _counts(backend.fetch_rows(_count_query(rel, wanted))).items():
                mine.setdefault(col, {}).update(found)
            for i, (_, values) in wanted.items():
                for v in values:
                    mine.setdefault(i, {}).setdefault(v, 0)
    out = []
    for i, (pa, pb) in enumerate(pairs):
        ca, cb = top_a.get(i, {}), top_b.get(i, {})
        values = sorted(set(ca) | set(cb), key=lambda v: (-(ca.get(v, 0) + cb.get(v, 0)), v))
        counts_a = [ca.get(v, 0) for v in values]
        counts_b = [cb.get(v, 0) for v in values]
        other_a = max(pa.rows - pa.nulls - sum(counts_a), 0)
        other_b = max(pb.rows - pb.nulls - sum(counts_b), 0)
        if other_a or other_b:
            counts_a, counts_b = counts_a + [other_a], counts_b + [other_b]
        dist = Distribution(
            column=pa.column,
            kind="categorical",
            psi=psi(counts_a, counts_b),
            top_values=[(v, ca.get(v, 0), cb.get(v, 0)) for v in values],
            method=(
                f"top {top_k} values per side counted in the engine, plus each side's counts of the other side's "
                f"top values; the rest pooled as {OTHER}; chi-square test of homogeneity "
                "(scipy.stats.chi2_contingency) and PSI over the same categories"
            ),
        )
        if sum(counts_a) and sum(counts_b):
            table = np.array([counts_a, counts_b], dtype=float)
            table = table[:, table.sum(axis=0) > 0]
            if table.shape[1] < 2:
                dist.chi2, dist.chi2_pvalue = 0.0, 1.0
            else:
                res = _stats().chi2_contingency(table)
                dist.chi2, dist.chi2_pvalue = float(res.statistic), float(res.pvalue)
        out.append(dist)
    return out


def distributions(
    a: Backend, rel_a: exp.Expr, profile_a: Profile, b: Backend, rel_b: exp.Expr, profile_b: Profile,
    columns: list[str], *, bins: int = BINS, top_k: int = TOP_K, exact_limit: int = EXACT_KS_LIMIT,
) -> list[Distribution]:  # fmt: skip
    """Distributions of ``columns`` (present in both profiles), in ``columns`` order."""
    pa_by, pb_by = {c.column: c for c in profile_a.columns}, {c.column: c for c in profile_b.columns}
    numeric, categorical = [], []
    found: dict[str, Distribution] = {}
    for name in columns:
        ca, cb = pa_by.get(name), pb_by.get(name)
        if ca is None or cb is None:
            continue
        if identifier_like(ca) and identifier_like(cb):
            found[name] = _identifier(ca, cb)
        elif ca.kind == cb.kind == "numeric":
            numeric.append((ca, cb))
        elif ca.kind in ("text", "boolean") and cb.kind in ("text", "boolean"):
            categorical.append((ca, cb))
    found.update(
        {d.column: d for d in numeric_distributions(a, rel_a, b, rel_b, numeric, bins=bins, exact_limit=exact_limit)}
    )
    found.update({d.column: d for d in categorical_distributions(a, rel_a, b, rel_b, categorical, top_k=top_k)})
    return [found[n] for n in columns if n in found]


def _identifier(pa: ColumnProfile, pb: ColumnProfile) -> Distribution:
    """An identifier-like column: listed, with why it has no PSI, KS or chi-square."""
    kind: Literal["numeric", "categorical"] = "numeric" if pa.kind == pb.kind == "numeric" else "categorical"
    method = (
        f"not computed: identifier-like column (every value distinct on both sides: {pa.distinct:,} in A, "
        f"{pb.distinct:,} in B), so its distribution is which ids are present, not a shift; not graded and left "
        "out of the max PSI (a diff with a key compares the rows themselves)"
    )
    return Distribution(column=pa.column, kind=kind, method=method)
