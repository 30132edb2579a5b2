"""How one value reads on DuckDB and on Postgres: the cross-engine diff's canonical text and local comparison.

``crossdiff`` checksums rows on each engine and compares the few differing rows in Python. Both need
one rule per column that the two engines (and the two drivers) apply alike; this module holds it.

**The rule of a column** (``column_rule``): both sides' engine types give one *kind*, and for
timestamps the *unit* both are truncated to, the same rules as the one-engine path
(``rowdiff.normalize_pair``): a timestamp against a date compares as a date; TIMESTAMP_S or
``timestamp(0)`` against TIMESTAMP truncates both to the second (``profile.temporal_precision``);
two different kinds that have no common form (an integer against text) compare as the engines'
text of each value, as the one-engine path casts both to VARCHAR.

**Row text.** Per column ``~`` for NULL (so NULL = NULL), free text as ``length:text``, every other
kind as ``text;`` (their alphabets exclude ``;`` and ``~``): column boundaries are unambiguous.
Canonical text by kind:

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
* booleans ``t``/``f``; dates (or date vs timestamp) ``YYYY-MM-DD``; timestamps
  ``YYYY-MM-DD HH:MM:SS.ffffff`` after converting time-zone-aware values to UTC (naive values are
  taken as UTC) and truncating to the column's unit; text as is (both hash its UTF-8 bytes);
* anything else (intervals, UUIDs, JSON, arrays, times, mixed kinds): ``CAST(x AS TEXT)``. Where the
  engines spell an equal value differently the ranges merely differ and are downloaded; the local
  comparison decides. (JSON is the common case: DuckDB keeps a document's own text, Postgres ``jsonb``
  re-spells it with its keys reordered, and no function on DuckDB sorts keys, so a JSON column whose
  two sides are spelled differently downloads its ranges.)

**Local comparison.** NULL = NULL; floats within the tolerance (4-byte floats at float32 precision:
DuckDB reads the exact float32, psycopg its shortest decimal spelling); decimals exact
(``Decimal`` equality, NaN = NaN); timestamps as naive UTC (aware values are read ``AT TIME ZONE
'UTC'``) truncated to the column's unit; dates against timestamps as dates; mixed kinds as the
engines' text (``CAST(x AS TEXT)``, read with the row); JSON (``json``/``jsonb`` on both sides) as
parsed documents, key order ignored, so ``{"a":1,"b":2}`` = ``{"b": 2, "a": 1}``; everything else by
Python equality.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from sqlglot import exp

from dataplan.verify.model import Tolerance
from dataplan.verify.profile import TIME_UNITS, temporal_precision

Kind = Literal["int", "decimal", "float", "float32", "bool", "date", "timestamp", "text", "json", "other"]
FLOATS = ("float", "float32")  # float32: a 4-byte float on either side; compared locally at that precision

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
    if t in (exp.DataType.Type.JSON, exp.DataType.Type.JSONB):
        return "json"
    return "other"


def joint_kind(kind_a: Kind, kind_b: Kind) -> Kind:
    """One family for a column on both sides, so both render the same canonical text."""
    kinds = {kind_a, kind_b}
    if len(kinds) == 1:
        return kind_a
    if kinds <= {"int", "decimal"}:
        return "decimal"
    if kinds & set(FLOATS) and kinds <= {"int", "decimal", *FLOATS}:
        return "float32" if "float32" in kinds else "float"
    if kinds == {"date", "timestamp"}:
        return "date"  # a timestamp against a date compares as a date, as on one engine
    return "other"


def is_tz_type(engine_type: str, dialect: str) -> bool:
    try:
        return exp.DataType.build(engine_type, dialect=dialect).this in _TZ_TYPES
    except Exception:  # noqa: BLE001
        return False


@dataclass(frozen=True)
class Rule:
    """How one column compares across the two engines."""

    kind: Kind
    unit: str | None = None  # timestamps: both truncated to this unit (TIME_UNITS) when coarser than microseconds
    as_text: bool = False  # two kinds with no common form: compared as each engine's CAST(x AS TEXT)


_TRUNCATED = ("SECOND", "MILLISECOND")  # finer units are what both engines hold anyway


def column_rule(type_a: str, dialect_a: str, type_b: str, dialect_b: str) -> Rule:
    """The kind, timestamp unit and text fallback of a column typed ``type_a`` in A and ``type_b`` in B.

    The rules of the one-engine path (``rowdiff.normalize_pair``): timestamps at the coarser precision
    of the two (TIMESTAMP_S or ``timestamp(0)`` against TIMESTAMP: seconds), a date against a
    timestamp as a date, and two kinds with no common form as text.
    """
    ka, kb = engine_kind(type_a, dialect_a), engine_kind(type_b, dialect_b)
    kind = joint_kind(ka, kb)
    if kind == "timestamp":
        units = [u for u in (temporal_precision(type_a), temporal_precision(type_b)) if u is not None]
        unit = min(units, key=TIME_UNITS.index) if units else None
        return Rule(kind, unit if unit in _TRUNCATED else None)
    return Rule(kind, as_text=kind == "other" and ka != kb)


# -- canonical text ----------------------------------------------------------


def num(value: int) -> exp.Expr:
    return exp.Literal.number(value)


def _double(value: float | int) -> exp.Expr:
    return exp.cast(exp.Literal.number(value if isinstance(value, int) else repr(value)), exp.DataType.Type.DOUBLE)


def string(text: str) -> exp.Expr:
    return exp.Literal.string(text)


def _text(e: exp.Expr) -> exp.Expr:
    return exp.cast(e, exp.DataType.Type.TEXT)


def _concat(*parts: exp.Expr) -> exp.Expr:
    out = parts[0]
    for p in parts[1:]:
        out = exp.DPipe(this=out, expression=p, safe=False)
    return out


def case_when(whens: list[tuple[exp.Expr, exp.Expr]], default: exp.Expr | None = None) -> exp.Expr:
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

    fix = case_when([(r() >= _double(2), _double(1)), (r() < _double(1), _double(-1))], _double(0))
    return case_when([(cond, _double(0)) for cond, _ in _float_specials(x)], exp.Add(this=e0(), expression=fix))


def _float_specials(x: Callable[[], exp.Expr]) -> list[tuple[exp.Expr, exp.Expr]]:
    return [
        (x().eq(_double(0)), string("0")),
        (x().eq(exp.cast(string("NaN"), exp.DataType.Type.DOUBLE)), string("nan")),
        (x().eq(exp.cast(string("Infinity"), exp.DataType.Type.DOUBLE)), string("inf")),
        (x().eq(exp.cast(string("-Infinity"), exp.DataType.Type.DOUBLE)), string("-inf")),
        (exp.Abs(this=x()) < _double(2.0**-900), _concat(string("t"), _text(x()))),
    ]


def _int_text(e: exp.Expr) -> exp.Expr:
    return _text(exp.cast(e, exp.DataType.Type.BIGINT))


def _float_text(x: Callable[[], exp.Expr], e: Callable[[], exp.Expr], tolerance: Tolerance) -> exp.Expr:
    """Canonical text of a DOUBLE ``x`` with binary exponent ``e`` (see the module docstring)."""

    def m() -> exp.Expr:  # 53-bit integral mantissa, exact
        return exp.Mul(this=x(), expression=_pow2(exp.Sub(this=exp.Literal.number(52), expression=e())))

    exact = _concat(_int_text(m()), string("p"), _int_text(e()))
    forms: list[tuple[exp.Expr, exp.Expr]] = []
    rel_form: exp.Expr | None = None
    if tolerance.rel > 0:
        bits = math.ceil(1 - math.log2(tolerance.rel))
        if bits < 53:
            bits = max(bits, 1)
            kept = exp.Floor(this=exp.Div(this=m(), expression=_double(2 ** (53 - bits))))
            rel_form = _concat(string("r"), _int_text(kept), string("p"), _int_text(e()))
    abs_form: tuple[exp.Expr, exp.Expr] | None = None
    if tolerance.abs > 0:
        # 2^-d <= abs; d is clamped so that x * 2^d can neither overflow nor underflow (Postgres raises).
        d = min(max(math.ceil(-math.log2(tolerance.abs)), -60), 1000)
        fits = exp.Abs(this=x()) < _double(2.0 ** (52 - d))
        scaled = exp.Mul(this=x(), expression=_pow2(num(d)))
        abs_form = (fits, _concat(string("a"), _int_text(exp.Floor(this=scaled))))
    if rel_form is not None and abs_form is not None:
        # The coarser bucket of the two: rel where rel*|x| >= abs, else abs.
        use_rel = exp.Abs(this=x()) >= _double(tolerance.abs / tolerance.rel)
        forms = [(use_rel, rel_form), abs_form]
    elif rel_form is not None:
        forms = [(exp.true(), rel_form)]
    elif abs_form is not None:
        forms = [abs_form]
    return case_when(_float_specials(x) + forms, exact)


def _trim_decimal(t: Callable[[], exp.Expr]) -> exp.Expr:
    trimmed = exp.Trim(
        this=exp.Trim(this=t(), expression=string("0"), position="TRAILING"),
        expression=string("."),
        position="TRAILING",
    )
    has_point = exp.StrPosition(this=t(), substr=string(".")) > exp.Literal.number(0)
    return case_when([(has_point, trimmed)], t())


def canonical_text(
    value: Callable[[], exp.Expr],
    kind: Kind,
    tolerance: Tolerance,
    *,
    tz_aware: bool = False,
    exponent: Callable[[], exp.Expr] | None = None,
    unit: str | None = None,
) -> exp.Expr:
    """Text that is the same on DuckDB and Postgres for the same (non-NULL) value of ``kind``.

    ``value`` builds a fresh expression for the column each time it is called (expressions are
    trees; the float form references the value several times). For floats, ``exponent`` may name
    a column holding ``float_exponent`` of the value, computed once in an inner query. Timestamps are
    truncated to ``unit`` (``Rule.unit``) first.
    """
    if kind == "decimal":
        return _trim_decimal(lambda: _text(value()))
    if kind in FLOATS:

        def x() -> exp.Expr:
            return exp.cast(value(), exp.DataType.Type.DOUBLE)

        return _float_text(x, exponent or (lambda: float_exponent(x)), tolerance)
    if kind == "bool":
        return case_when([(value(), string("t"))], string("f"))
    if kind == "date":  # a date, or a timestamp compared with a date: its (UTC) day
        day = exp.AtTimeZone(this=value(), zone=string("UTC")) if tz_aware else value()
        return exp.TimeToStr(this=day, format=string("%Y-%m-%d"))
    if kind == "timestamp":
        v = value()
        utc: exp.Expr = (
            exp.AtTimeZone(this=v, zone=string("UTC")) if tz_aware else exp.cast(v, exp.DataType.Type.TIMESTAMP)
        )
        if unit is not None:
            utc = exp.TimestampTrunc(this=utc, unit=exp.var(unit))
        return exp.TimeToStr(this=utc, format=string("%Y-%m-%d %H:%M:%S.%f"))
    return _text(value())  # int, text, json (each engine's spelling: see the module docstring), other


_FREE_TEXT: set[Kind] = {"text", "json", "other"}  # kinds whose canonical text may hold any character


def row_text(parts: list[tuple[Callable[[], exp.Expr], Kind, exp.Expr]]) -> exp.Expr:
    """One text per row, unambiguous whatever the values hold.

    Per column: ``~`` for NULL; free text as ``length:text`` (the length of the cheap text cast, so
    the text is built once); every other kind as ``text;`` (their alphabets exclude ``;`` and ``~``).
    """
    pieces: list[exp.Expr] = []
    for value, kind, text in parts:
        if kind in _FREE_TEXT:
            present = _concat(_text(exp.Length(this=text.copy())), string(":"), text)
        else:
            present = _concat(text, string(";"))
        pieces.append(case_when([(exp.Is(this=value(), expression=exp.Null()), string("~"))], present))
    return _concat(*pieces) if pieces else string("")


# -- local comparison ----------------------------------------------------------


def _utc_naive(v: datetime) -> datetime:
    return v.astimezone(UTC).replace(tzinfo=None) if v.tzinfo is not None else v


def _truncated(v: datetime, unit: str | None) -> datetime:
    """``v`` truncated to ``unit`` like ``date_trunc`` (microseconds are never negative: toward the past)."""
    if unit == "SECOND":
        return v.replace(microsecond=0)
    if unit == "MILLISECOND":
        return v.replace(microsecond=v.microsecond // 1000 * 1000)
    return v


_UNIT = {"SECOND": timedelta(seconds=1), "MILLISECOND": timedelta(milliseconds=1)}


def within_unit(a: Any, b: Any, unit: str | None) -> bool:
    """Two timestamps within half a ``unit``: one is the other rounded to that precision, whichever way a tie
    went (both engines round when they cast to a lower precision; ``normalize`` truncates)."""
    step = _UNIT.get(unit or "")
    if step is None or not isinstance(a, datetime) or not isinstance(b, datetime):
        return False
    return abs(_utc_naive(a) - _utc_naive(b)) <= step / 2


def _json_value(value: Any) -> Any:
    """A JSON document as a comparable value: objects ignore key order, ``true`` is not ``1``."""
    if isinstance(value, dict):
        return ("object", frozenset((str(k), _json_value(v)) for k, v in value.items()))
    if isinstance(value, list):
        return ("array", tuple(_json_value(v) for v in value))
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int | float):
        return ("number", value)  # 1 = 1.0, as jsonb compares them
    return ("string", value) if isinstance(value, str) else ("null", None)


def normalize(value: Any, kind: Kind, unit: str | None = None) -> Any:
    """A Python value both drivers' spellings of the same engine value map to (``unit``: ``Rule.unit``)."""
    if value is None:
        return None
    if kind == "json":  # DuckDB reads the document's text, psycopg the parsed value
        if isinstance(value, str | bytes):
            try:
                value = json.loads(value)
            except ValueError:  # not a JSON document after all: compare the text
                return ("text", value)
        return _json_value(value)
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
            return _truncated(_utc_naive(value), unit)
        if isinstance(value, date):
            return datetime(value.year, value.month, value.day)
    if kind == "date" and isinstance(value, datetime):  # a timestamp compared with a date
        return _utc_naive(value).date()
    return value


def values_equal(a: Any, b: Any, kind: Kind, tolerance: Tolerance) -> bool:
    """NULL = NULL; floats within ``abs + rel * max(|a|, |b|)`` (NaN = NaN); everything else exact."""
    if a is None or b is None:
        return a is None and b is None
    if kind in FLOATS:
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
