"""Distribution drift per column: histograms, PSI and KS for numerics; top-k and chi-square for categories.

Every count is made in the engine; only small results come back. Numeric
columns share one set of equal-width bins over the combined min/max of both
sides (taken from the profiles), counted for all columns in one aggregate
query per side. KS is exact on the raw values when both sides hold at most
``EXACT_KS_LIMIT`` rows; beyond that it is approximated from 101 quantiles per
side computed by the engine in the same histogram query (``approximate=True``).
Text and boolean columns: top-k values per side in one query per side, the
other side's counts of those values, and a chi-square test of homogeneity.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from types import ModuleType

import numpy as np
from sqlglot import exp

from dataplan.backends.base import Backend, column
from dataplan.verify.model import ColumnProfile, Distribution, Histogram, Profile
from dataplan.verify.profile import COLUMNS_PER_QUERY, count_star, quantile_array
from dataplan.verify.relations import as_from

EXACT_KS_LIMIT = 10_000
BINS = 10
TOP_K = 20
PSI_EPSILON = 1e-4
KS_FRACTIONS = [i / 100 for i in range(101)]
OTHER = "(other)"


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


def _edges(lo: float, hi: float, bins: int) -> list[float]:
    if hi <= lo:
        return [lo, lo + 1.0]
    width = (hi - lo) / bins
    return [lo + i * width for i in range(bins)] + [hi]


def _numeric_query(rel: exp.Expr, names: list[str], edges: list[list[float]], quantiles: bool) -> exp.Select:
    inner: list[exp.Expr] = []
    for i, (name, e) in enumerate(zip(names, edges, strict=True)):
        v = _double(column(name))
        nb = len(e) - 1
        width = (e[-1] - e[0]) / nb
        offset = exp.paren(exp.Sub(this=v.copy(), expression=_lit(e[0])))
        raw = exp.Floor(this=exp.Div(this=offset, expression=_lit(width)))
        clamped = exp.Least(this=exp.Greatest(this=raw, expressions=[_lit(0)]), expressions=[_lit(nb - 1)])
        inner += [v.as_(f"v{i}"), exp.cast(clamped, exp.DataType.build("int")).as_(f"b{i}")]
    aggs: list[exp.Expr] = [count_star().as_("n")]
    for i, e in enumerate(edges):
        for j in range(len(e) - 1):
            hit = exp.Case(ifs=[exp.If(this=column(f"b{i}").eq(j), true=exp.Literal.number(1))])
            aggs.append(exp.Count(this=hit).as_(f"h{i}_{j}"))
        if quantiles:
            aggs.append(quantile_array(column(f"v{i}"), KS_FRACTIONS).as_(f"q{i}"))
    return exp.select(*aggs).from_(exp.select(*inner).from_(as_from(rel)).subquery("bins"))


def _histograms(
    backend: Backend, rel: exp.Expr, names: list[str], edges: list[list[float]], quantiles: bool
) -> list[tuple[list[int], list[float] | None]]:
    """Per column: bin counts and (when asked) the KS quantiles; one query per COLUMNS_PER_QUERY columns."""
    out: list[tuple[list[int], list[float] | None]] = []
    for start in range(0, len(names), COLUMNS_PER_QUERY):
        part = slice(start, start + COLUMNS_PER_QUERY)
        row = backend.fetch_rows(_numeric_query(rel, names[part], edges[part], quantiles))[0]
        pos = 1
        for e in edges[part]:
            counts = [int(x or 0) for x in row[pos : pos + len(e) - 1]]
            pos += len(e) - 1
            qs = None
            if quantiles:
                qs = None if row[pos] is None else [float(x) for x in row[pos]]
                pos += 1
            out.append((counts, qs))
    return out


def _download(backend: Backend, rel: exp.Expr, names: list[str]) -> list[np.ndarray]:
    query = exp.select(*[_double(column(n)).as_(f"v{i}") for i, n in enumerate(names)]).from_(as_from(rel))
    table = backend.fetch(query)
    out = []
    for i in range(len(names)):
        values = [x for x in table.column(i).to_pylist() if x is not None]
        out.append(np.asarray(values, dtype=float))
    return out


def _cdf(points: np.ndarray, quantiles: list[float]) -> np.ndarray:
    """The CDF implied by quantiles at KS_FRACTIONS, interpolated linearly; ties take the highest fraction."""
    xs: list[float] = []
    ps: list[float] = []
    for x, p in zip(quantiles, KS_FRACTIONS, strict=True):
        if xs and x <= xs[-1]:
            ps[-1] = p
        else:
            xs.append(x)
            ps.append(p)
    return np.interp(points, xs, ps, left=0.0, right=1.0)


def approximate_ks(qa: list[float], qb: list[float], na: int, nb: int) -> tuple[float, float]:
    """KS statistic and asymptotic p-value from two quantile sketches."""
    points = np.unique(np.asarray(qa + qb, dtype=float))
    d = float(np.max(np.abs(_cdf(points, qa) - _cdf(points, qb))))
    en = na * nb / (na + nb)
    from scipy import stats  # imported on use: scipy.stats costs seconds at start-up

    return d, float(stats.kstwobign.sf(d * math.sqrt(en)))


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
    ha = _histograms(a, rel_a, names_a, edges, quantiles=not exact)
    hb = _histograms(b, rel_b, names_b, edges, quantiles=not exact)
    raw_a = _download(a, rel_a, names_a) if exact else []
    raw_b = _download(b, rel_b, names_b) if exact else []
    out = []
    hist_text = f"histogram: {bins} equal-width bins over the combined min/max of A and B, counted in the engine; "
    psi_text = f"PSI over the bins (empty bins count as {PSI_EPSILON:g}); "
    for i, ((pa, _), e, (ca, qa), (cb, qb)) in enumerate(zip(pairs, edges, ha, hb, strict=True)):
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
            na, nb = sum(ca), sum(cb)
            if qa is not None and qb is not None and na and nb:
                dist.ks_statistic, dist.ks_pvalue = approximate_ks(qa, qb, na, nb)
            dist.approximate = True
            dist.method = (
                hist_text + psi_text + f"KS: approximate, A or B has more than {exact_limit:,} rows, so the statistic "
                f"is the largest gap between the CDFs implied by {len(KS_FRACTIONS)} engine-computed quantiles per "
                "side (error about 0.01), with an asymptotic p-value"
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
    for name in columns:
        ca, cb = pa_by.get(name), pb_by.get(name)
        if ca is None or cb is None:
            continue
        if ca.kind == cb.kind == "numeric":
            numeric.append((ca, cb))
        elif ca.kind in ("text", "boolean") and cb.kind in ("text", "boolean"):
            categorical.append((ca, cb))
    found = {
        d.column: d for d in numeric_distributions(a, rel_a, b, rel_b, numeric, bins=bins, exact_limit=exact_limit)
    }
    found.update({d.column: d for d in categorical_distributions(a, rel_a, b, rel_b, categorical, top_k=top_k)})
    return [found[n] for n in columns if n in found]
