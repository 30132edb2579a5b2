"""Histograms, PSI, KS (exact and approximate) and chi-square, counted in DuckDB and a real Postgres."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from dataplan.backends.base import Backend
from dataplan.verify.distribution import _edges, _fine_edges, binned_ks, distributions, psi
from dataplan.verify.model import Distribution
from dataplan.verify.profile import profile
from tests.verify.test_profile import open_backend, rel, setup


@pytest.fixture
def backend(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Backend]:
    be = open_backend(engine, tmp_path, request)
    yield be
    be.close()


def dists(backend: Backend, a: str, b: str, columns: list[str], **kw: int) -> tuple[list[Distribution], int]:
    """Distributions of ``columns`` and the statements they took (profiles excluded)."""
    ra, rb = rel(backend, a), rel(backend, b)
    pa, pb = profile(backend, ra, label=a), profile(backend, rb, label=b)
    before = backend.round_trips
    out = distributions(backend, ra, pa, backend, rb, pb, columns, **kw)
    return out, backend.round_trips - before


def values_a(n: int) -> list[float]:
    return [float(g % 100) for g in range(1, n + 1)]


SMALL = [
    "create table a as select g as id, cast(g % 100 as double) as x from generate_series(1, 1000) as t(g)",
    "create table b as select g as id, cast(g % 100 + 50 as double) as x from generate_series(1, 1200) as t(g)",
]


def test_identical_numeric_data_has_no_drift(backend: Backend) -> None:
    setup(backend, SMALL)
    (d,), queries = dists(backend, "a", "a", ["x"])
    assert queries == 4  # histogram and download, per side
    assert d.kind == "numeric" and d.psi == pytest.approx(0.0, abs=1e-12)
    assert d.ks_statistic == 0.0 and d.ks_pvalue == pytest.approx(1.0)
    assert not d.approximate and "exact" in d.method
    assert d.histogram is not None and d.histogram.a_counts == d.histogram.b_counts == [100] * 10
    assert d.histogram.edges[0] == 0.0 and d.histogram.edges[-1] == 99.0 and len(d.histogram.edges) == 11


def test_shifted_numeric_data_drifts(backend: Backend) -> None:
    setup(backend, SMALL)
    (d,), _ = dists(backend, "a", "b", ["x"])
    assert d.histogram is not None
    assert d.histogram.edges[0] == 0.0 and d.histogram.edges[-1] == 149.0  # combined min and max
    assert sum(d.histogram.a_counts) == 1000 and sum(d.histogram.b_counts) == 1200
    assert d.histogram.a_counts[-3:] == [0, 0, 0] and d.histogram.b_counts[:3] == [0, 0, 0]
    assert d.psi is not None and d.psi > 2.0
    expected = stats.ks_2samp(values_a(1000), [float(g % 100 + 50) for g in range(1, 1201)])
    assert d.ks_statistic == pytest.approx(expected.statistic)
    assert d.ks_pvalue == pytest.approx(expected.pvalue)
    assert d.ks_statistic == pytest.approx(0.5)
    assert not d.approximate


BIG = [
    "create table big_a as select g as id, cast((g * 7919) % 10007 as double) / 10 as x"
    " from generate_series(1, 20000) as t(g)",
    "create table big_b as select g as id, cast((g * 7919) % 10007 as double) / 10 + 100 as x"
    " from generate_series(1, 20000) as t(g)",
]


def test_ks_is_approximate_above_ten_thousand_rows(backend: Backend) -> None:
    setup(backend, BIG)
    (same,), _ = dists(backend, "big_a", "big_a", ["x"])
    (shifted,), _ = dists(backend, "big_a", "big_b", ["x"])
    xa = np.array([((g * 7919) % 10007) / 10 for g in range(1, 20001)])
    exact = stats.ks_2samp(xa, xa + 100)
    assert shifted.approximate and same.approximate
    assert "approximate" in shifted.method and "101" in shifted.method
    assert shifted.ks_statistic == pytest.approx(exact.statistic, abs=0.01)
    assert shifted.ks_pvalue is not None and shifted.ks_pvalue < 1e-10
    assert same.ks_statistic == pytest.approx(0.0, abs=1e-9) and same.ks_pvalue == pytest.approx(1.0)
    assert same.psi == pytest.approx(0.0, abs=1e-12)
    assert shifted.histogram is not None and sum(shifted.histogram.a_counts) == 20000


def test_approximate_path_takes_one_query_per_side(backend: Backend) -> None:
    setup(backend, BIG)
    _, queries = dists(backend, "big_a", "big_b", ["x", "id"])
    assert queries == 2  # the bin counts of both columns in one GROUPING SETS query per side


CATEGORIES = [
    "create table ca (s varchar, f boolean)",
    "create table cb (s varchar, f boolean)",
    "insert into ca values ('a', true), ('a', true), ('a', true), ('a', true), ('a', false), ('b', false),"
    " ('b', false), ('b', false), ('b', false), ('c', false), ('c', false), ('c', false), ('d', null)",
    "insert into cb values ('a', true), ('b', true), ('b', true), ('b', true), ('b', false), ('c', false),"
    " ('c', false), ('c', false), ('c', false), ('c', false), ('c', false), ('e', false), ('e', null)",
]


def test_categorical_top_values_and_chi_square(backend: Backend) -> None:
    setup(backend, CATEGORIES)
    (s, f), queries = dists(backend, "ca", "cb", ["s", "f"], top_k=2)
    # top 2: A {a: 5, b: 4}, B {c: 6, b: 4}; each side counts the other's: A c=3, B a=1
    assert queries == 4
    assert s.kind == "categorical"
    assert s.top_values == [("c", 3, 6), ("b", 4, 4), ("a", 5, 1)]
    table = [[3, 4, 5, 1], [6, 4, 1, 2]]  # the rest pooled: A d=1, B e=2
    expected = stats.chi2_contingency(np.array(table))
    assert s.chi2 == pytest.approx(expected.statistic) and s.chi2_pvalue == pytest.approx(expected.pvalue)
    assert s.psi == pytest.approx(psi(table[0], table[1]))
    assert f.top_values == [("false", 8, 8), ("true", 4, 4)] and f.chi2 == pytest.approx(0.0)
    assert "chi-square" in f.method


def test_categorical_identical_and_drifted(backend: Backend) -> None:
    setup(
        backend,
        [
            "create table ca as select case when g % 3 = 0 then 'x' else 'y' end as s"
            " from generate_series(1, 900) as t(g)",
            "create table cb as select case when g % 2 = 0 then 'x' else 'y' end as s"
            " from generate_series(1, 900) as t(g)",
        ],
    )
    (same,), _ = dists(backend, "ca", "ca", ["s"])
    assert same.chi2 == 0.0 and same.chi2_pvalue == 1.0 and same.psi == pytest.approx(0.0, abs=1e-12)
    assert same.top_values == [("y", 600, 600), ("x", 300, 300)]
    (drift,), queries = dists(backend, "ca", "cb", ["s"])
    assert queries == 2
    assert drift.top_values == [("y", 600, 450), ("x", 300, 450)]
    assert drift.chi2_pvalue is not None and drift.chi2_pvalue < 1e-6
    assert drift.psi is not None and drift.psi > 0.1


def test_psi_and_approximate_ks_helpers() -> None:
    assert psi([10, 20, 30], [10, 20, 30]) == 0.0
    assert psi([0, 0], [1, 1]) is None
    expected = (0.75 - 0.25) * math.log(0.75 / 0.25) + (0.25 - 0.75) * math.log(0.25 / 0.75)
    assert psi([25, 75], [75, 25]) == pytest.approx(expected)
    # the CDFs at the edges: A 0.5, 1, 1; B 0, 0.5, 1 -> the largest gap is 0.5
    d, pvalue = binned_ks([25_000, 25_000, 0], [0, 25_000, 25_000])
    assert d == pytest.approx(0.5) and pvalue < 1e-100
    expected = stats.kstwobign.sf(0.5 * math.sqrt(50_000 * 50_000 / 100_000))
    assert pvalue == pytest.approx(expected)
    d0, p0 = binned_ks([10, 20, 30], [20, 40, 60])  # same shares, different totals
    assert d0 == pytest.approx(0.0, abs=1e-12) and p0 == pytest.approx(1.0)


def test_infinite_values_have_no_histogram(backend: Backend) -> None:
    setup(
        backend,
        [
            "create table a (x double, y double)",
            "insert into a values (1.0, 1.0), (2.0, 2.0), (cast('Infinity' as double), 3.0)",
        ],
    )
    (x, y), _ = dists(backend, "a", "a", ["x", "y"])
    assert x.column == "x" and x.histogram is None and x.psi is None and "infinite" in x.method
    assert y.psi == 0.0 and y.histogram is not None


@pytest.mark.parametrize("value", [1717171717171717171, -(2**63)])
def test_a_constant_column_beyond_two_to_the_53_gets_one_bin(backend: Backend, value: int) -> None:
    # Doubles above 2^53 are more than 1 apart: a bin [v, v + 1.0] had zero width (a ZeroDivisionError).
    setup(
        backend,
        [
            f"create table a as select g as id, cast({value} as bigint) as v from generate_series(1, 50) as t(g)",
            # nearly constant: v and v + 1 are one double
            f"create table b as select g as id, cast({value} as bigint) + g % 2 as v"
            " from generate_series(1, 60) as t(g)",
        ],
    )
    (same,), _ = dists(backend, "a", "a", ["v"])
    (near,), _ = dists(backend, "a", "b", ["v"])
    for d, rows_b in ((same, 50), (near, 60)):
        assert d.histogram is not None
        lo, hi = d.histogram.edges
        assert lo <= float(value) <= hi and lo < hi
        assert d.histogram.a_counts == [50] and d.histogram.b_counts == [rows_b]
        assert d.psi == pytest.approx(0.0, abs=1e-12) and d.ks_statistic == 0.0


def test_edges_stay_distinct_at_any_magnitude() -> None:
    for lo, hi in [
        (2.0**60, 2.0**60),
        (-(2.0**63), -(2.0**63)),
        (2.0**60, math.nextafter(2.0**60, math.inf)),
        (0.0, 5e-324),
        (1.7976931348623157e308, 1.7976931348623157e308),
        (0.0, 0.0),
    ]:
        edges = _edges(lo, hi, 10)
        fine = _fine_edges(edges)
        assert edges[0] <= lo and hi <= edges[-1], (lo, hi)
        assert len(fine) == 11 and all(x < y for x, y in zip(fine, fine[1:], strict=False)), (lo, hi)
    assert _edges(0.0, 0.0, 10) == [0.0, 1.0]  # small constants keep their bin of width 1
    assert _edges(0.0, 99.0, 10) == [9.9 * i for i in range(10)] + [99.0]


def test_a_span_beyond_the_largest_double_is_binned(backend: Backend) -> None:
    # hi - lo overflows to infinity: the bin query computed NaN bins and the diff crashed.
    setup(
        backend,
        [
            "create table a (x double)",
            "insert into a values (-1e308), (1e308), (0.0), (0.0)",
            "create table b (x double)",
            "insert into b values (-1e308), (1e308), (1e307), (0.0)",
        ],
    )
    (d,), _ = dists(backend, "a", "b", ["x"])
    assert d.histogram is not None and all(math.isfinite(e) for e in d.histogram.edges)
    assert d.histogram.edges[0] == -1e308 and d.histogram.edges[-1] == 1e308
    assert d.histogram.edges[5] == pytest.approx(0.0, abs=1e293)
    assert d.histogram.a_counts == [1, 0, 0, 0, 0, 2, 0, 0, 0, 1]
    assert d.histogram.b_counts == [1, 0, 0, 0, 0, 2, 0, 0, 0, 1]  # 1e307 is in the bin of 0 .. 2e307
    edges = _edges(-1e308, 1e308, 10)
    assert len(edges) == 11 and all(x < y for x, y in zip(edges, edges[1:], strict=False))


IDS = [
    # A: 1,000 accounts; B: 3% of them dropped and 300 new ones appended above A's largest id
    "create table a as select g as id, 'acc-' || lpad(cast(g as varchar), 6, '0') as code, g % 7 as bucket, "
    "g * 0.37 as score from generate_series(1, 1000) as t(g)",
    "create table b as select * from a where id % 33 <> 0 union all select g, 'acc-' || lpad(cast(g as varchar), 6, "
    "'0'), g % 7, g * 0.37 from generate_series(1001, 1300) as t(g)",
]


def test_identifier_like_columns_get_no_psi_and_say_why(backend: Backend) -> None:
    """Unique integer and text ids are not graded: their PSI only says which ids are present."""
    from dataplan.verify.checks import evaluate
    from dataplan.verify.distribution import numeric_distributions
    from dataplan.verify.model import SchemaDiff, Side

    setup(backend, IDS)
    ra, rb = rel(backend, "a"), rel(backend, "b")
    pa, pb = profile(backend, ra, label="a"), profile(backend, rb, label="b")
    by_a, by_b = {c.column: c for c in pa.columns}, {c.column: c for c in pb.columns}
    # why: over equal-width bins of the combined min/max, appended ids fill bins A never had
    (raw,) = numeric_distributions(backend, ra, backend, rb, [(by_a["id"], by_b["id"])])
    assert raw.psi is not None and raw.psi > 0.25  # a "major shift", of nothing but new ids
    out, _ = dists(backend, "a", "b", ["id", "code", "bucket", "score"])
    got = {d.column: d for d in out}
    assert list(got) == ["id", "code", "bucket", "score"]  # listed in order, ids included
    for name, kind in (("id", "numeric"), ("code", "categorical")):
        d = got[name]
        assert d.kind == kind and d.psi is None and d.ks_statistic is None and d.chi2 is None
        assert d.method.startswith("not computed: identifier-like column") and "1,000 in A" in d.method
    # an integer column with repeats and an all-distinct measurement (a float) keep their statistics
    assert got["bucket"].psi is not None and got["score"].psi is not None and got["score"].ks_statistic is not None
    side_a = Side(label="a", connection="", row_count=pa.row_count, columns=[])
    side_b = Side(label="b", connection="", row_count=pb.row_count, columns=[])
    checks = evaluate(
        a=side_a, b=side_b, schema_diff=SchemaDiff(), profiles=[], key_check=None, rows=None, distributions=out
    )
    assert {c.name for c in checks if c.name.startswith("psi(")} == {"psi(bucket)", "psi(score)"}


def test_a_tiny_table_is_not_all_identifiers(backend: Backend) -> None:
    setup(backend, ["create table a as select g as id from generate_series(1, 10) as t(g)"])
    (d,), _ = dists(backend, "a", "a", ["id"])
    assert d.psi == pytest.approx(0.0, abs=1e-12)  # ten distinct values is a small table, not an identifier
