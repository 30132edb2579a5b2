"""Key-level diff across two connections by checksum bisection ("hashdiff", as data-diff/reladiff do it).

Nothing is joined across engines. Each side reduces key ranges to ``(row count, checksum)``: ONE
grouped aggregate query per side per level covers every range of the level (batches of 256 ranges).
Ranges whose figures differ are split into ``bisection_factor`` children; a differing range with at
most ``threshold`` rows per side is a leaf, downloaded from both sides and compared locally with
type-aware rules. When a level's leaves together exceed ``threshold`` rows, those larger than
``bisection_factor`` rows are split once more instead (one more query per side, ~factor times fewer
rows downloaded). A range present on one side only is counted, not downloaded (only enough rows for
the samples are read). Equal ranges are never read. The two sides' queries of a level run at the
same time, one thread per connection. Cost: ``describe`` + (integer keys) a min/max
query + one query per level + one download query per level that has leaves, per side.

**Key ranges.** Every row gets an integer *position*; ranges are integer intervals of positions,
split by arithmetic into equal-width children:

* a single integer key: the position is the key itself (min/max arithmetic; range predicates are
  ``key BETWEEN lo AND hi`` on the relation itself, so a Postgres index on the key is usable);
* any other key (text, decimal, temporal, composite): the position is the first 8 hex digits of
  ``md5(canonical key text)``. Quantile boundaries computed on one side were rejected: a predicate
  ``key >= 'x'`` selects the same rows on both engines only if both order strings alike, and they do
  not (DuckDB compares bytes, Postgres uses the database collation, e.g. ``'a' < 'B'`` under
  en_US), so a range could hold a row on one side and miss it on the other, producing false
  only-in-A/only-in-B rows. Hash positions need no collation, no sampling query and no
  lexicographic predicates for composite keys, and they spread rows evenly whatever the key skew.
  The price: each level scans (and hashes the key of) every row, instead of an index range scan.

**Checksum.** Per row, the canonical row text of the key and compared columns
(``canonical.row_text``: the SAME string on DuckDB and Postgres for equal values, under the rules of
``canonical.column_rule``: the one-engine path's type rules); ``md5`` of it; its first 15 hex digits
as a 60-bit BIGINT by each engine's native hex parse (``Backend.hex_prefix``: Postgres
``('x' || h)::bit(60)::bigint``, DuckDB ``('0x' || h)::BIGINT``: the same integer); summed per range
(order-independent). Computed columns sit behind ``OFFSET 0`` so Postgres cannot inline (and
recompute) them per reference. Downloaded rows are compared locally (``canonical.normalize`` and
``values_equal``), keys included: a key typed INTEGER in A and TEXT in B matches as text.

Limits: the key must be unique and non-NULL (rows with a NULL key part are skipped; duplicate keys
make the counts wrong; diff.py's key check, on the key as it is matched here, reports both);
sub-microsecond timestamp digits are dropped; two different range contents with equal 60-bit sums
would hide a difference (~2^-60 per range); integer keys spanning more than 2^62 are hashed instead
(BIGINT arithmetic on positions).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlglot import exp

from dataplan.backends.base import Backend, column
from dataplan.verify.canonical import (
    FLOATS,
    Kind,
    Rule,
    canonical_text,
    case_when,
    column_rule,
    engine_kind,
    float_exponent,
    is_tz_type,
    normalize,
    num,
    row_text,
    string,
    values_equal,
    within_unit,
)
from dataplan.verify.model import ColumnMismatch, RowDiff, Tolerance
from dataplan.verify.relations import as_from

BISECTION_FACTOR = 32  # children per split range
THRESHOLD = 1000  # a range with at most this many rows on each side is downloaded
MAX_RANGES_PER_QUERY = 256  # ranges of one level batched into one statement
POSITION_HEX_DIGITS = 8  # hashed keys: positions in [0, 16^8); equal positions only share a range
CHECKSUM_HEX_DIGITS = 15  # per-row checksum term in [0, 2^60): sums of 2^67 rows fit a 128-bit integer

_POS = "__dp_pos"
_CHK = "__dp_chk"
_ROW_MD5 = "__dp_h"
_KEY_MD5 = "__dp_kh"
_SRC = "__dp_src"


# -- one side ------------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    lo: int
    hi: int

    def children(self, factor: int) -> list[Interval]:
        n = self.hi - self.lo + 1
        parts = max(1, min(factor, n))
        width = -(-n // parts)
        return [Interval(lo, min(self.hi, lo + width - 1)) for lo in range(self.lo, self.hi + 1, width)]


@dataclass
class _Side:
    backend: Backend
    relation: exp.Expr
    names: list[str]  # key columns then compared columns
    key_count: int
    kinds: list[Kind]
    tz: list[bool]
    tolerance: Tolerance
    numeric_key: bool
    rules: list[Rule] | None = None  # per column; None: Rule(kind) (no truncation, no text fallback)

    def rule(self, i: int) -> Rule:
        return self.rules[i] if self.rules is not None else Rule(self.kinds[i])

    def _value(self, name: str) -> Callable[[], exp.Expr]:
        return lambda: column(name)

    def _stage(self, query: exp.Select) -> exp.Select:
        """A query level whose computed columns must be computed once: an engine that inlines them into
        every later reference (Postgres) needs an ``OFFSET 0`` fence. DuckDB computes them once anyway, and
        there an ``OFFSET`` would run the whole level on one thread."""
        return query.offset(0) if self.backend.inlines_subquery_columns else query

    def _texts(
        self, stop: int, tolerance: Tolerance, exponents: bool = False
    ) -> list[tuple[Callable[[], exp.Expr], Kind, exp.Expr]]:
        """(value, kind, canonical text) of the first ``stop`` columns; floats may use exponent columns."""
        out: list[tuple[Callable[[], exp.Expr], Kind, exp.Expr]] = []
        for i, n in enumerate(self.names[:stop]):
            e = (lambda i=i: column(_exp_name(i))) if exponents and self.kinds[i] in FLOATS else None
            text = canonical_text(
                self._value(n), self.kinds[i], tolerance, tz_aware=self.tz[i], exponent=e, unit=self.rule(i).unit
            )
            out.append((self._value(n), self.kinds[i], text))
        return out

    @property
    def key_names(self) -> list[str]:
        return self.names[: self.key_count]

    def frame(self, intervals: list[Interval] | None, checksum: bool) -> exp.Select:
        """Rows (restricted to ``intervals`` of positions) with ``__dp_pos`` and, if asked, ``__dp_chk``.

        Every computed column sits in its own level (``_stage``: behind ``OFFSET 0`` on Postgres, which
        would otherwise inline it into each of its later references; the range CASE names the position
        once per range). Integer keys are
        filtered on the key column itself (index-friendly); hashed keys are filtered on the position,
        and only the rows that pass are hashed as whole rows.
        """
        cols: list[exp.Expr] = [column(n) for n in self.names]
        not_null = exp.and_(*[exp.not_(exp.Is(this=column(n), expression=exp.Null())) for n in self.key_names])
        src = as_from(self.relation, _SRC)
        if self.numeric_key:
            key = column(self.key_names[0])
            cond = not_null if intervals is None else exp.and_(not_null, _in_intervals(key, intervals))
            base = exp.select(*cols, exp.alias_(key.copy(), _POS, quoted=True)).from_(src).where(cond)
        else:
            key_md5 = exp.MD5(this=row_text(self._texts(self.key_count, Tolerance())))
            hashed = self._stage(
                exp.select(*cols, exp.alias_(key_md5, _KEY_MD5, quoted=True)).from_(src).where(not_null)
            )
            pos = self.backend.hex_prefix(column(_KEY_MD5), POSITION_HEX_DIGITS)
            base = exp.select(*[c.copy() for c in cols], exp.alias_(pos, _POS, quoted=True))
            base = self._stage(base.from_(hashed.subquery("__dp_k")))
            if intervals is not None:
                base = exp.select("*").from_(base.subquery("__dp_p")).where(_in_intervals(column(_POS), intervals))
        if not checksum:
            return base
        floats = [i for i, k in enumerate(self.kinds) if k in FLOATS]
        if floats:  # binary exponents once per value, in their own stage (the text uses each twice)
            exps = [exp.alias_(float_exponent(_double_col(self.names[i])), _exp_name(i), quoted=True) for i in floats]
            base = self._stage(
                exp.select(column(_POS), *[c.copy() for c in cols], *exps).from_(base.subquery("__dp_x"))
            )
        row_md5 = exp.MD5(this=row_text(self._texts(len(self.names), self.tolerance, exponents=True)))
        hashed_rows = exp.select(column(_POS), exp.alias_(row_md5, _ROW_MD5, quoted=True))
        hashed_rows = self._stage(hashed_rows.from_(base.subquery("__dp_b")))
        chk = self.backend.hex_prefix(column(_ROW_MD5), CHECKSUM_HEX_DIGITS)
        return exp.select(column(_POS), exp.alias_(chk, _CHK, quoted=True)).from_(hashed_rows.subquery("__dp_r"))

    def bounds(self) -> tuple[int | None, int | None]:
        """Smallest and largest integer key: one query, no hashing."""
        key = column(self.key_names[0])
        lo, hi = self.backend.fetch_rows(
            exp.select(exp.Min(this=key), exp.Max(this=key.copy())).from_(as_from(self.relation, _SRC))
        )[0]
        return None if lo is None else int(lo), None if hi is None else int(hi)

    def segment_sums(self, parents: list[Interval], factor: int) -> dict[int, tuple[int, int]]:
        """Child id (parent index * factor + child index) -> (count, checksum), one grouped query."""
        pos = column(_POS)
        whens: list[tuple[exp.Expr, exp.Expr]] = []
        for j, iv in enumerate(parents):
            width = -(-(iv.hi - iv.lo + 1) // max(1, min(factor, iv.hi - iv.lo + 1)))
            child = exp.IntDiv(this=exp.paren(exp.Sub(this=pos.copy(), expression=num(iv.lo))), expression=num(width))
            whens.append(
                (
                    exp.Between(this=pos.copy(), low=num(iv.lo), high=num(iv.hi)),
                    exp.Add(this=num(j * factor), expression=child),
                )
            )
        bucket = exp.alias_(case_when(whens), "__dp_b", quoted=True)
        q = (
            exp.select(bucket, exp.Count(this=exp.Star()), exp.Sum(this=column(_CHK)))
            .from_(self.frame(parents, True).subquery("__dp_f"))
            .group_by(exp.Literal.number(1))
        )
        return {int(b): (int(c), int(s or 0)) for b, c, s in self.backend.fetch_rows(q)}

    def rows(self, intervals: list[Interval], limit: int | None = None) -> list[tuple[Any, ...]]:
        """Key and compared columns of every row in ``intervals`` (or the first ``limit`` by key).

        Time-zone-aware values are read as naive UTC timestamps: the same on both engines, and no
        driver time-zone support needed. Columns compared as text (``Rule.as_text``) are read a second
        time as the engine's text, after the others (``compared`` picks them).
        """
        outputs = [
            exp.alias_(exp.AtTimeZone(this=column(n), zone=string("UTC")), n, quoted=True) if self.tz[i] else column(n)
            for i, n in enumerate(self.names)
        ]
        outputs += [
            exp.alias_(exp.cast(column(n), exp.DataType.Type.TEXT), f"__dp_t{i}", quoted=True)
            for i, n in enumerate(self.names)
            if self.rule(i).as_text
        ]
        q = exp.select(*outputs).from_(self.frame(intervals, False).subquery("__dp_f"))
        if limit is not None:
            q = q.order_by(*[column(n) for n in self.key_names]).limit(limit)
        return self.backend.fetch_rows(q)

    def compared(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        """A row of ``rows`` as its values compare: normalized, the engine's text where a rule says so."""
        texts = iter(row[len(self.names) :])
        out = []
        for i, value in enumerate(row[: len(self.names)]):
            rule = self.rule(i)
            out.append(next(texts) if rule.as_text else normalize(value, rule.kind, rule.unit))
        return tuple(out)


def _exp_name(i: int) -> str:
    return f"__dp_e{i}"


def _double_col(name: str) -> Callable[[], exp.Expr]:
    return lambda: exp.cast(column(name), exp.DataType.Type.DOUBLE)


def _in_intervals(pos: exp.Expr, intervals: list[Interval]) -> exp.Expr:
    return exp.or_(*[exp.Between(this=pos.copy(), low=num(iv.lo), high=num(iv.hi)) for iv in intervals])


def _batches(items: list[Interval], size: int = MAX_RANGES_PER_QUERY) -> Iterable[list[Interval]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _sort_key(key: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple((v is None, v if v is not None else 0) for v in key)


def _sorted(items: list[tuple[tuple[Any, ...], dict[str, Any]]], limit: int) -> list[dict[str, Any]]:
    try:
        items = sorted(items, key=lambda kv: _sort_key(kv[0]))
    except TypeError:
        items = sorted(items, key=lambda kv: repr(kv[0]))
    return [d for _, d in items[:limit]]


# -- the bisection ---------------------------------------------------------------


@dataclass
class _Run:
    factor: int
    threshold: int
    parallel: bool  # two connections: each level queries both sides at once
    segments: int = 0
    unchanged: int = 0
    downloaded: int = 0
    only_a_counted: int = 0  # one-sided ranges: counted in SQL, sampled not downloaded
    only_b_counted: int = 0
    # compared key -> (the row as read, the row as compared: Side.compared)
    rows_a: dict[tuple[Any, ...], tuple[tuple[Any, ...], tuple[Any, ...]]] = field(default_factory=dict)
    rows_b: dict[tuple[Any, ...], tuple[tuple[Any, ...], tuple[Any, ...]]] = field(default_factory=dict)
    samples_a: list[tuple[Any, ...]] = field(default_factory=list)
    samples_b: list[tuple[Any, ...]] = field(default_factory=list)


@dataclass(frozen=True)
class _Seg:
    iv: Interval
    count_a: int  # -1: not counted yet (the first range), always split
    count_b: int


T = TypeVar("T")
U = TypeVar("U")


def _both(on_a: Callable[[], T], on_b: Callable[[], U], parallel: bool) -> tuple[T, U]:
    """Run one query on each side, at the same time when the sides are two connections.

    Each connection is used by one thread; both drivers release the GIL while the engine works, so a
    level costs the slower side's time, not the sum of both. One connection on both sides: in turn.
    """
    if not parallel:
        return on_a(), on_b()
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(on_b)
        got_a = on_a()
        return got_a, pending.result()


def bisect_diff(
    a: Backend,
    rel_a: exp.Expr,
    b: Backend,
    rel_b: exp.Expr,
    key: list[str],
    columns: list[str],
    tolerance: Tolerance,
    sample_size: int,
    *,
    bisection_factor: int = BISECTION_FACTOR,
    threshold: int = THRESHOLD,
) -> RowDiff:
    """Key-level diff of ``rel_a`` on ``a`` against ``rel_b`` on ``b`` by checksum bisection.

    ``key`` must identify rows on both sides; ``columns`` are the compared non-key columns (present
    on both sides). Ranges equal on both sides count as unchanged without being read; differing
    ranges of at most ``threshold`` rows per side are downloaded and compared row by row.
    """
    if not key:
        raise ValueError("bisect_diff needs a key")
    names = [*key, *[c for c in columns if c not in key]]
    types_a = {c.name: c.type for c in a.describe(exp.select("*").from_(as_from(rel_a, _SRC)))}
    types_b = {c.name: c.type for c in b.describe(exp.select("*").from_(as_from(rel_b, _SRC)))}
    rules = [column_rule(types_a.get(n, "TEXT"), a.dialect, types_b.get(n, "TEXT"), b.dialect) for n in names]
    kinds = [r.kind for r in rules]
    numeric_key = (
        len(key) == 1
        and engine_kind(types_a.get(key[0], "TEXT"), a.dialect) == "int"
        and engine_kind(types_b.get(key[0], "TEXT"), b.dialect) == "int"
    )
    side_a = _Side(
        a, rel_a, names, len(key), kinds, [is_tz_type(types_a.get(n, ""), a.dialect) for n in names],
        tolerance, numeric_key, rules,
    )  # fmt: skip
    side_b = _Side(
        b, rel_b, names, len(key), kinds, [is_tz_type(types_b.get(n, ""), b.dialect) for n in names],
        tolerance, numeric_key, rules,
    )  # fmt: skip

    run = _Run(factor=max(2, bisection_factor), threshold=max(1, threshold), parallel=a is not b)
    pending: list[_Seg] = []
    if numeric_key:
        # Key bounds first (cheap, no hashing); the first level then checksums 1/factor slices of it.
        bounds = [v for lo, hi in _both(side_a.bounds, side_b.bounds, a is not b) for v in (lo, hi) if v is not None]
        if bounds and max(bounds) - min(bounds) < 2**62 and min(bounds) > -(2**62) and max(bounds) < 2**62:
            pending = [_Seg(Interval(min(bounds), max(bounds)), -1, -1)]
        elif bounds:  # key - lo could overflow BIGINT arithmetic: hash the key instead
            side_a.numeric_key = side_b.numeric_key = numeric_key = False
    if not numeric_key:
        # Hashed positions have a known range: the first level splits it without a bounds query.
        pending = [_Seg(Interval(0, 16**POSITION_HEX_DIGITS - 1), -1, -1)]
    while pending:
        pending = _level(run, side_a, side_b, pending, sample_size)
    return _result(run, key, names, kinds, tolerance, sample_size, [r.unit for r in rules])


def _level(run: _Run, side_a: _Side, side_b: _Side, pending: list[_Seg], sample_size: int) -> list[_Seg]:
    """Settle or split every differing range of one level; return the differing children."""
    one_a = [s for s in pending if s.count_b == 0]
    one_b = [s for s in pending if s.count_a == 0]
    both = [s for s in pending if s.count_a and s.count_b]  # -1: not counted yet, always split
    leaves = [s for s in both if 0 < _size(s) <= run.threshold or s.iv.lo == s.iv.hi]
    if sum(_size(s) for s in leaves) > run.threshold and len(both) <= MAX_RANGES_PER_QUERY:
        # Small ranges, but many: one more level, in a single query per side, shrinks the download
        # by about the bisection factor. Ranges of at most `factor` rows are not worth splitting.
        leaves = [s for s in leaves if _size(s) <= run.factor or s.iv.lo == s.iv.hi]
    leaf_ranges = {s.iv for s in leaves}
    splits = [s for s in both if s.iv not in leaf_ranges]

    # Rows on one side only: the count is known; read just enough of them for the samples (all of
    # them when few, so the samples are the first by key in Python order, not the engine's collation).
    run.only_a_counted += sum(s.count_a for s in one_a)
    run.only_b_counted += sum(s.count_b for s in one_b)
    for segs, side, samples in ((one_a, side_a, run.samples_a), (one_b, side_b, run.samples_b)):
        few = sum(_size(s) for s in segs) <= run.threshold
        for batch in _batches([s.iv for s in segs]) if sample_size > 0 else ():
            got = side.rows(batch, limit=None if few else sample_size)
            run.downloaded += len(got)
            samples.extend(got)

    for batch in _batches([s.iv for s in leaves]):
        got_both = _both(lambda: side_a.rows(batch), lambda: side_b.rows(batch), run.parallel)  # noqa: B023
        for side, store, got in ((side_a, run.rows_a, got_both[0]), (side_b, run.rows_b, got_both[1])):
            run.downloaded += len(got)
            for row in got:
                values = side.compared(row)
                store[values[: side.key_count]] = (row[: len(side.names)], values)

    out: list[_Seg] = []
    for parents in _batches([s.iv for s in splits]):
        sums_a, sums_b = _both(
            lambda: side_a.segment_sums(parents, run.factor),  # noqa: B023 - called at once
            lambda: side_b.segment_sums(parents, run.factor),  # noqa: B023
            run.parallel,
        )
        for j, parent in enumerate(parents):
            for c, child in enumerate(parent.children(run.factor)):
                cid = j * run.factor + c
                ca, sa = sums_a.get(cid, (0, 0))
                cb, sb = sums_b.get(cid, (0, 0))
                if ca == 0 and cb == 0:
                    continue
                run.segments += 1
                if ca == cb and sa == sb:
                    run.unchanged += ca
                else:
                    out.append(_Seg(child, ca, cb))
    return out


def _size(seg: _Seg) -> int:
    return max(seg.count_a, seg.count_b)


def _result(
    run: _Run,
    key: list[str],
    names: list[str],
    kinds: list[Kind],
    tolerance: Tolerance,
    sample_size: int,
    units: list[str | None] | None = None,
) -> RowDiff:
    """``units``: each column's coarser timestamp precision, where values less than one unit apart are equal."""
    nk = len(key)
    compared = names[nk:]
    mismatches = [0] * len(compared)
    changed = 0
    unchanged = run.unchanged
    only_a: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    only_b: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    changed_samples: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def as_dict(row: tuple[Any, ...]) -> dict[str, Any]:
        return dict(zip(names, row[: len(names)], strict=True))  # without the text columns of Side.rows

    for k, (row_a, values_a) in run.rows_a.items():
        got_b = run.rows_b.get(k)
        if got_b is None:
            only_a.append((row_a[:nk], as_dict(row_a)))
            continue
        row_b, values_b = got_b
        diff: dict[str, Any] = {}
        for i, name in enumerate(compared, start=nk):
            if not values_equal(values_a[i], values_b[i], kinds[i], tolerance) and not (
                units and within_unit(row_a[i], row_b[i], units[i])
            ):
                mismatches[i - nk] += 1
                diff[name] = [row_a[i], row_b[i]]
        if diff:
            changed += 1
            changed_samples.append((row_a[:nk], {**dict(zip(key, row_a[:nk], strict=True)), **diff}))
        else:
            unchanged += 1
    for k, (row_b, _) in run.rows_b.items():
        if k not in run.rows_a:
            only_b.append((row_b[:nk], as_dict(row_b)))
    n_only_a = len(only_a) + run.only_a_counted
    n_only_b = len(only_b) + run.only_b_counted
    only_a += [(r[:nk], as_dict(r)) for r in run.samples_a]
    only_b += [(r[:nk], as_dict(r)) for r in run.samples_b]
    both = changed + unchanged
    return RowDiff(
        key=list(key),
        method="checksum-bisect",
        only_a=n_only_a,
        only_b=n_only_b,
        changed=changed,
        unchanged=unchanged,
        columns=[
            ColumnMismatch(column=c, mismatches=m, rate=(m / both) if both else 0.0)
            for c, m in zip(compared, mismatches, strict=True)
        ],
        sample_only_a=_sorted(only_a, sample_size),
        sample_only_b=_sorted(only_b, sample_size),
        sample_changed=_sorted(changed_samples, sample_size),
        segments_checked=run.segments,
        rows_downloaded=run.downloaded,
    )
