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

**Checksum.** Per row, a canonical text of the key and compared columns that is the SAME string on
DuckDB and Postgres for the same value; ``md5`` of it; its first 15 hex digits as a 60-bit BIGINT
by each engine's native hex parse (``Backend.hex_prefix``: Postgres ``('x' || h)::bit(60)::bigint``,
DuckDB ``('0x' || h)::BIGINT``: the same integer); summed per range (order-independent). Row text:
per column ``~`` for NULL (so NULL = NULL), free text as ``length:text``, every other kind as
``text;`` (their alphabets exclude ``;`` and ``~``): column boundaries are unambiguous. Computed
columns sit behind ``OFFSET 0`` so Postgres cannot inline (and recompute) them per reference.
Canonical text by kind (both sides' engine types decide one kind per column):

* integers ``CAST(x AS TEXT)``; decimals, or integer vs decimal: the text with trailing fractional
  zeros and point trimmed, so 1.50 = 1.5 and the comparison stays exact;
* floats (either side float; the other cast to DOUBLE): an exact binary decomposition
  ``x = m * 2^(e-52)``, ``m`` a 53-bit integer, built from ``ln`` (an estimate of ``e``, corrected
  exactly), ``power(2, k)``, products by powers of two and ``floor``: exact IEEE operations, so no
  engine's float-to-text spelling is involved. With a tolerance, values are bucketed so that equal
  text implies "within tolerance": ``rel`` keeps ``ceil(1 - log2(rel))`` significant bits of ``m``
  (bucket width <= rel * |x|); ``abs`` uses ``floor(x * 2^d)`` with ``2^-d <= abs``; with both, rel
  applies where ``rel * |x| >= abs``. Values within tolerance can straddle a bucket edge: that only
  costs a download, the local comparison ``|a - b| <= abs + rel * max(|a|, |b|)`` decides. 0 = -0,
  NaN = NaN, +-inf are markers; |x| < 2^-900 falls back to the engine's text (may differ: a download);
* booleans ``t``/``f``; dates ``YYYY-MM-DD``; timestamps (or date vs timestamp)
  ``YYYY-MM-DD HH:MM:SS.ffffff`` after converting time-zone-aware values to UTC (naive values are
  taken as UTC); text as is (both hash its UTF-8 bytes);
* anything else (intervals, UUIDs, JSON, arrays, times, mixed kinds): ``CAST(x AS TEXT)``. Where the
  engines spell an equal value differently the ranges merely differ and are downloaded; the local
  comparison of the Python values decides.

Local comparison: NULL = NULL; floats within the tolerance (4-byte floats at float32 precision:
DuckDB reads the exact float32, psycopg its shortest decimal spelling); decimals exact
(``Decimal`` equality, NaN = NaN); timestamps as naive UTC (aware values are read ``AT TIME ZONE
'UTC'``); everything else by Python equality.

Limits: the key must be unique and non-NULL (rows with a NULL key part are skipped; duplicate keys
make the counts wrong; diff.py's key check reports both); sub-microsecond timestamp digits are
dropped; two different range contents with equal 60-bit sums would hide a difference (~2^-60 per
range); integer keys spanning more than 2^62 are hashed instead (BIGINT arithmetic on positions).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Literal, TypeVar

from sqlglot import exp

from dataplan.backends.base import Backend, column
from dataplan.verify.model import ColumnMismatch, RowDiff, Tolerance
from dataplan.verify.relations import as_from

Kind = Literal["int", "decimal", "float", "float32", "bool", "date", "timestamp", "text", "other"]
_FLOATS = ("float", "float32")  # float32: a 4-byte float on either side; compared locally at that precision

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

_INT_TYPES = exp.DataType.INTEGER_TYPES
_FLOAT_TYPES = exp.DataType.FLOAT_TYPES
_TZ_TYPES = {exp.DataType.Type.TIMESTAMPTZ, exp.DataType.Type.TIMESTAMPLTZ}
_TS_TYPES = {
    exp.DataType.Type.TIMESTAMP,
    exp.DataType.Type.TIMESTAMPNTZ,
    exp.DataType.Type.TIMESTAMP_S,
    exp.DataType.Type.TIMESTAMP_MS,
    exp.DataType.Type.TIMESTAMP_NS,
    exp.DataType.Type.DATETIME,
    *_TZ_TYPES,
}


# -- column kinds ------------------------------------------------------------


def engine_kind(engine_type: str, dialect: str) -> Kind:
    """The canonical-text family of one engine type (``int8``, ``DECIMAL(18,2)``, ...)."""
    try:
        t = exp.DataType.build(engine_type, dialect=dialect).this
    except Exception:  # noqa: BLE001 - any unparsable engine type is compared as text
        return "other"
    if t in _INT_TYPES:
        return "int"
    if t in (exp.DataType.Type.DECIMAL, exp.DataType.Type.BIGDECIMAL, exp.DataType.Type.MONEY):
        return "decimal"
    if t == exp.DataType.Type.FLOAT:
        return "float32"
    if t in _FLOAT_TYPES:
        return "float"
    if t == exp.DataType.Type.BOOLEAN:
        return "bool"
    if t in (exp.DataType.Type.DATE, exp.DataType.Type.DATE32):
        return "date"
    if t in _TS_TYPES:
        return "timestamp"
    if t in exp.DataType.TEXT_TYPES:
        return "text"
    return "other"


def joint_kind(kind_a: Kind, kind_b: Kind) -> Kind:
    """One family for a column on both sides, so both render the same canonical text."""
    kinds = {kind_a, kind_b}
    if len(kinds) == 1:
        return kind_a
    if kinds <= {"int", "decimal"}:
        return "decimal"
    if kinds & set(_FLOATS) and kinds <= {"int", "decimal", *_FLOATS}:
        return "float32" if "float32" in kinds else "float"
    if kinds == {"date", "timestamp"}:
        return "timestamp"
    return "other"


def is_tz_type(engine_type: str, dialect: str) -> bool:
    try:
        return exp.DataType.build(engine_type, dialect=dialect).this in _TZ_TYPES
    except Exception:  # noqa: BLE001
        return False


# -- canonical text ----------------------------------------------------------


def _num(value: int) -> exp.Expr:
    return exp.Literal.number(value)


def _double(value: float | int) -> exp.Expr:
    return exp.cast(exp.Literal.number(value if isinstance(value, int) else repr(value)), exp.DataType.Type.DOUBLE)


def _str(text: str) -> exp.Expr:
    return exp.Literal.string(text)


def _text(e: exp.Expr) -> exp.Expr:
    return exp.cast(e, exp.DataType.Type.TEXT)


def _concat(*parts: exp.Expr) -> exp.Expr:
    out = parts[0]
    for p in parts[1:]:
        out = exp.DPipe(this=out, expression=p, safe=False)
    return out


def _case(whens: list[tuple[exp.Expr, exp.Expr]], default: exp.Expr | None = None) -> exp.Expr:
    case = exp.Case()
    for cond, value in whens:
        case = case.when(cond, value)
    return case.else_(default) if default is not None else case


def _pow2(k: exp.Expr) -> exp.Expr:
    return exp.Pow(this=_double(2), expression=k)


def float_exponent(x: Callable[[], exp.Expr]) -> exp.Expr:
    """``e`` with ``2^e <= |x| < 2^(e+1)`` as an integral DOUBLE (0 for 0, NaN, +-inf and |x| < 2^-900).

    ``floor(ln|x| / ln 2)`` may be one off near powers of two; ``r = |x| * 2^-e0`` is exact (scaling
    by a power of two) and corrects it. Both factors stay finite and normal, so Postgres never raises.
    """

    def e0() -> exp.Expr:
        return exp.Floor(this=exp.Div(this=exp.Ln(this=exp.Abs(this=x())), expression=exp.Ln(this=_double(2))))

    def r() -> exp.Expr:
        return exp.Mul(this=exp.Abs(this=x()), expression=_pow2(exp.Neg(this=exp.paren(e0()))))

    fix = _case([(r() >= _double(2), _double(1)), (r() < _double(1), _double(-1))], _double(0))
    return _case([(cond, _double(0)) for cond, _ in _float_specials(x)], exp.Add(this=e0(), expression=fix))


def _float_specials(x: Callable[[], exp.Expr]) -> list[tuple[exp.Expr, exp.Expr]]:
    return [
        (x().eq(_double(0)), _str("0")),
        (x().eq(exp.cast(_str("NaN"), exp.DataType.Type.DOUBLE)), _str("nan")),
        (x().eq(exp.cast(_str("Infinity"), exp.DataType.Type.DOUBLE)), _str("inf")),
        (x().eq(exp.cast(_str("-Infinity"), exp.DataType.Type.DOUBLE)), _str("-inf")),
        (exp.Abs(this=x()) < _double(2.0**-900), _concat(_str("t"), _text(x()))),
    ]


def _int_text(e: exp.Expr) -> exp.Expr:
    return _text(exp.cast(e, exp.DataType.Type.BIGINT))


def _float_text(x: Callable[[], exp.Expr], e: Callable[[], exp.Expr], tolerance: Tolerance) -> exp.Expr:
    """Canonical text of a DOUBLE ``x`` with binary exponent ``e`` (see the module docstring)."""

    def m() -> exp.Expr:  # 53-bit integral mantissa, exact
        return exp.Mul(this=x(), expression=_pow2(exp.Sub(this=exp.Literal.number(52), expression=e())))

    exact = _concat(_int_text(m()), _str("p"), _int_text(e()))
    forms: list[tuple[exp.Expr, exp.Expr]] = []
    rel_form: exp.Expr | None = None
    if tolerance.rel > 0:
        bits = math.ceil(1 - math.log2(tolerance.rel))
        if bits < 53:
            bits = max(bits, 1)
            kept = exp.Floor(this=exp.Div(this=m(), expression=_double(2 ** (53 - bits))))
            rel_form = _concat(_str("r"), _int_text(kept), _str("p"), _int_text(e()))
    abs_form: tuple[exp.Expr, exp.Expr] | None = None
    if tolerance.abs > 0:
        # 2^-d <= abs; d is clamped so that x * 2^d can neither overflow nor underflow (Postgres raises).
        d = min(max(math.ceil(-math.log2(tolerance.abs)), -60), 1000)
        fits = exp.Abs(this=x()) < _double(2.0 ** (52 - d))
        scaled = exp.Mul(this=x(), expression=_pow2(_num(d)))
        abs_form = (fits, _concat(_str("a"), _int_text(exp.Floor(this=scaled))))
    if rel_form is not None and abs_form is not None:
        # The coarser bucket of the two: rel where rel*|x| >= abs, else abs.
        use_rel = exp.Abs(this=x()) >= _double(tolerance.abs / tolerance.rel)
        forms = [(use_rel, rel_form), abs_form]
    elif rel_form is not None:
        forms = [(exp.true(), rel_form)]
    elif abs_form is not None:
        forms = [abs_form]
    return _case(_float_specials(x) + forms, exact)


def _trim_decimal(t: Callable[[], exp.Expr]) -> exp.Expr:
    trimmed = exp.Trim(
        this=exp.Trim(this=t(), expression=_str("0"), position="TRAILING"), expression=_str("."), position="TRAILING"
    )
    has_point = exp.StrPosition(this=t(), substr=_str(".")) > exp.Literal.number(0)
    return _case([(has_point, trimmed)], t())


def canonical_text(
    value: Callable[[], exp.Expr],
    kind: Kind,
    tolerance: Tolerance,
    *,
    tz_aware: bool = False,
    exponent: Callable[[], exp.Expr] | None = None,
) -> exp.Expr:
    """Text that is the same on DuckDB and Postgres for the same (non-NULL) value of ``kind``.

    ``value`` builds a fresh expression for the column each time it is called (expressions are
    trees; the float form references the value several times). For floats, ``exponent`` may name
    a column holding ``float_exponent`` of the value, computed once in an inner query.
    """
    if kind == "decimal":
        return _trim_decimal(lambda: _text(value()))
    if kind in _FLOATS:

        def x() -> exp.Expr:
            return exp.cast(value(), exp.DataType.Type.DOUBLE)

        return _float_text(x, exponent or (lambda: float_exponent(x)), tolerance)
    if kind == "bool":
        return _case([(value(), _str("t"))], _str("f"))
    if kind == "date":
        return exp.TimeToStr(this=value(), format=_str("%Y-%m-%d"))
    if kind == "timestamp":
        v = value()
        utc = exp.AtTimeZone(this=v, zone=_str("UTC")) if tz_aware else exp.cast(v, exp.DataType.Type.TIMESTAMP)
        return exp.TimeToStr(this=utc, format=_str("%Y-%m-%d %H:%M:%S.%f"))
    return _text(value())  # int, text, other


_FREE_TEXT: set[Kind] = {"text", "other"}  # kinds whose canonical text may hold any character


def row_text(parts: list[tuple[Callable[[], exp.Expr], Kind, exp.Expr]]) -> exp.Expr:
    """One text per row, unambiguous whatever the values hold.

    Per column: ``~`` for NULL; free text as ``length:text`` (the length of the cheap text cast, so
    the text is built once); every other kind as ``text;`` (their alphabets exclude ``;`` and ``~``).
    """
    pieces: list[exp.Expr] = []
    for value, kind, text in parts:
        if kind in _FREE_TEXT:
            present = _concat(_text(exp.Length(this=text.copy())), _str(":"), text)
        else:
            present = _concat(text, _str(";"))
        pieces.append(_case([(exp.Is(this=value(), expression=exp.Null()), _str("~"))], present))
    return _concat(*pieces) if pieces else _str("")


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
            e = (lambda i=i: column(_exp_name(i))) if exponents and self.kinds[i] in _FLOATS else None
            text = canonical_text(self._value(n), self.kinds[i], tolerance, tz_aware=self.tz[i], exponent=e)
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
        floats = [i for i, k in enumerate(self.kinds) if k in _FLOATS]
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
            child = exp.IntDiv(this=exp.paren(exp.Sub(this=pos.copy(), expression=_num(iv.lo))), expression=_num(width))
            whens.append(
                (
                    exp.Between(this=pos.copy(), low=_num(iv.lo), high=_num(iv.hi)),
                    exp.Add(this=_num(j * factor), expression=child),
                )
            )
        bucket = exp.alias_(_case(whens), "__dp_b", quoted=True)
        q = (
            exp.select(bucket, exp.Count(this=exp.Star()), exp.Sum(this=column(_CHK)))
            .from_(self.frame(parents, True).subquery("__dp_f"))
            .group_by(exp.Literal.number(1))
        )
        return {int(b): (int(c), int(s or 0)) for b, c, s in self.backend.fetch_rows(q)}

    def rows(self, intervals: list[Interval], limit: int | None = None) -> list[tuple[Any, ...]]:
        """Key and compared columns of every row in ``intervals`` (or the first ``limit`` by key).

        Time-zone-aware values are read as naive UTC timestamps: the same on both engines, and no
        driver time-zone support needed.
        """
        outputs = [
            exp.alias_(exp.AtTimeZone(this=column(n), zone=_str("UTC")), n, quoted=True) if self.tz[i] else column(n)
            for i, n in enumerate(self.names)
        ]
        q = exp.select(*outputs).from_(self.frame(intervals, False).subquery("__dp_f"))
        if limit is not None:
            q = q.order_by(*[column(n) for n in self.key_names]).limit(limit)
        return self.backend.fetch_rows(q)


def _exp_name(i: int) -> str:
    return f"__dp_e{i}"


def _double_col(name: str) -> Callable[[], exp.Expr]:
    return lambda: exp.cast(column(name), exp.DataType.Type.DOUBLE)


def _in_intervals(pos: exp.Expr, intervals: list[Interval]) -> exp.Expr:
    return exp.or_(*[exp.Between(this=pos.copy(), low=_num(iv.lo), high=_num(iv.hi)) for iv in intervals])


def _batches(items: list[Interval], size: int = MAX_RANGES_PER_QUERY) -> Iterable[list[Interval]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


# -- local comparison ----------------------------------------------------------


def _utc_naive(v: datetime) -> datetime:
    return v.astimezone(UTC).replace(tzinfo=None) if v.tzinfo is not None else v


def normalize(value: Any, kind: Kind) -> Any:
    """A Python value both drivers' spellings of the same engine value map to."""
    if value is None:
        return None
    if kind == "float":
        return float(value)
    if kind == "float32":  # DuckDB reads the exact float32, psycopg its shortest decimal spelling
        try:
            return struct.unpack("f", struct.pack("f", float(value)))[0]
        except OverflowError:  # a double beyond the float32 range
            return float(value)
    if kind in ("decimal", "int") and isinstance(value, int | Decimal):
        return Decimal(value)
    if kind == "timestamp":
        if isinstance(value, datetime):
            return _utc_naive(value)
        if isinstance(value, date):
            return datetime(value.year, value.month, value.day)
    return value


def values_equal(a: Any, b: Any, kind: Kind, tolerance: Tolerance) -> bool:
    """NULL = NULL; floats within ``abs + rel * max(|a|, |b|)`` (NaN = NaN); everything else exact."""
    if a is None or b is None:
        return a is None and b is None
    if kind in _FLOATS:
        fa, fb = float(a), float(b)
        if math.isnan(fa) or math.isnan(fb):
            return math.isnan(fa) and math.isnan(fb)
        if fa == fb:
            return True
        if math.isinf(fa) or math.isinf(fb):
            return False
        return abs(fa - fb) <= tolerance.abs + tolerance.rel * max(abs(fa), abs(fb))
    if isinstance(a, Decimal) and isinstance(b, Decimal) and a.is_nan() and b.is_nan():
        return True
    return bool(a == b)


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
    rows_a: dict[tuple[Any, ...], tuple[Any, ...]] = field(default_factory=dict)
    rows_b: dict[tuple[Any, ...], tuple[Any, ...]] = field(default_factory=dict)
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
    side_kinds_a = [engine_kind(types_a.get(n, "TEXT"), a.dialect) for n in names]
    side_kinds_b = [engine_kind(types_b.get(n, "TEXT"), b.dialect) for n in names]
    kinds = [joint_kind(ka, kb) for ka, kb in zip(side_kinds_a, side_kinds_b, strict=True)]
    numeric_key = len(key) == 1 and side_kinds_a[0] == "int" and side_kinds_b[0] == "int"
    side_a = _Side(
        a, rel_a, names, len(key), kinds, [is_tz_type(types_a.get(n, ""), a.dialect) for n in names],
        tolerance, numeric_key,
    )  # fmt: skip
    side_b = _Side(
        b, rel_b, names, len(key), kinds, [is_tz_type(types_b.get(n, ""), b.dialect) for n in names],
        tolerance, numeric_key,
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
    return _result(run, key, names, kinds, tolerance, sample_size)


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
                store[_row_key(row, side)] = row

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


def _row_key(row: tuple[Any, ...], side: _Side) -> tuple[Any, ...]:
    return tuple(normalize(v, side.kinds[i]) for i, v in enumerate(row[: side.key_count]))


def _result(
    run: _Run, key: list[str], names: list[str], kinds: list[Kind], tolerance: Tolerance, sample_size: int
) -> RowDiff:
    nk = len(key)
    compared = names[nk:]
    mismatches = [0] * len(compared)
    changed = 0
    unchanged = run.unchanged
    only_a: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    only_b: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    changed_samples: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def as_dict(row: tuple[Any, ...]) -> dict[str, Any]:
        return dict(zip(names, row, strict=True))

    for k, row_a in run.rows_a.items():
        row_b = run.rows_b.get(k)
        if row_b is None:
            only_a.append((row_a[:nk], as_dict(row_a)))
            continue
        diff: dict[str, Any] = {}
        for i, name in enumerate(compared, start=nk):
            va, vb = normalize(row_a[i], kinds[i]), normalize(row_b[i], kinds[i])
            if not values_equal(va, vb, kinds[i], tolerance):
                mismatches[i - nk] += 1
                diff[name] = [row_a[i], row_b[i]]
        if diff:
            changed += 1
            changed_samples.append((row_a[:nk], {**dict(zip(key, row_a[:nk], strict=True)), **diff}))
        else:
            unchanged += 1
    for k, row_b in run.rows_b.items():
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
