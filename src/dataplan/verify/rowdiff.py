"""How two values compare, and the exact key check: the pieces both key-level diffs share.

The one-engine diff (``joindiff``) and the cross-engine checksum bisection
(``crossdiff``) compare values with ``same_value`` and, when a key turns out not
to be a key, report it with ``key_check``: one GROUP BY key per side with
duplicate and NULL key counts and a sample. It groups the key as the diff matched it (``normalize_pair``:
truncated to the coarser timestamp precision, as text across kinds), so a key unique only at the finer
precision is reported as not unique, with ``KeyCheck.note`` saying why.

Values compare by type:

- NULL equals NULL;
- a float on either side: ``|a - b| <= abs + rel * max(|a|, |b|)`` (``Tolerance``);
- decimals and integers: exactly;
- dates and timestamps: at the coarser precision of the two (a timestamp
  against a date compares as a date; TIMESTAMP_MS against TIMESTAMP is equal
  when both truncate to the same millisecond, or when they are within half a
  millisecond: the engines round when they cast to a lower precision). Keys
  are matched truncated (a join needs one form), so a key column cast with
  rounding matches only where rounding and truncation agree;
- text and booleans: exactly;
- anything else, or two different kinds of type: as text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlglot import exp

from dataplan.backends.base import Backend, column, zoned
from dataplan.verify.model import KeyCheck, Tolerance
from dataplan.verify.profile import TIME_UNITS, column_kind, count_star, numeric_class, temporal_precision
from dataplan.verify.relations import as_from

ONE, ZERO = exp.Literal.number(1), exp.Literal.number(0)


@dataclass(frozen=True)
class ColumnPair:
    """One compared column: its name on each side and each side's engine type."""

    name: str
    a_type: str
    b_type: str
    a_name: str | None = None
    b_name: str | None = None

    @property
    def in_a(self) -> str:
        return self.a_name or self.name

    @property
    def in_b(self) -> str:
        return self.b_name or self.name


# -- comparison -----------------------------------------------------------


def _cast(e: exp.Expr, to: str) -> exp.Expr:
    return exp.cast(e, exp.DataType.build(to))


def _double(value: float) -> exp.Expr:
    return _cast(exp.Literal.number(repr(float(value))), "double")


HALF_UNIT = {"SECOND": "MILLISECOND", "MILLISECOND": "MICROSECOND"}  # 500 of these are half a unit
Conversion = Literal["as is", "double", "text", "date", "truncate", "json"]
_JSON = ("JSON", "JSONB")


def conversion(a_type: str, b_type: str) -> tuple[Conversion, str | None]:
    """How values of two engine types are brought together, and for ``truncate`` the unit (TIME_UNITS)."""
    ka, kb = column_kind(a_type), column_kind(b_type)
    if ka == kb == "numeric":
        return ("double", None) if "float" in (numeric_class(a_type), numeric_class(b_type)) else ("as is", None)
    if ka == kb == "temporal":
        pa, pb = temporal_precision(a_type), temporal_precision(b_type)
        if pa is None and pb is None and a_type.upper() == b_type.upper():
            return "as is", None  # two time-of-day values
        if pa is None or pb is None:
            return "text", None
        if pa == pb:
            return "as is", None
        unit = min(pa, pb, key=TIME_UNITS.index)
        return ("date", None) if unit == "DAY" else ("truncate", unit)
    if ka == kb and ka in ("text", "boolean"):
        return "as is", None
    if a_type.strip().upper() in _JSON and b_type.strip().upper() in _JSON:
        return "json", None
    return "text", None


def _json(e: exp.Expr) -> exp.Expr:
    """A JSON document as it compares: on Postgres a jsonb (key order and spacing ignored; json has no
    ``=``); on DuckDB its minified text (``json(x)``: spacing and number spelling ignored, key order kept).
    One expression for both: ``ParseJSON`` renders as ``JSON(x)`` in DuckDB and ``CAST(x AS JSON)`` in
    Postgres, and ``JSONB`` as ``JSON`` in DuckDB."""
    return _cast(exp.ParseJSON(this=_cast(e, "text")), "jsonb")


def normalize_pair(ea: exp.Expr, eb: exp.Expr, a_type: str, b_type: str) -> tuple[exp.Expr, exp.Expr, bool]:
    """Bring two values to a comparable form; the flag says whether the float tolerance applies.

    A time-zone-aware timestamp against a naive timestamp or a date is read in UTC first (the naive side
    is taken as UTC), as the cross-engine diff reads it (``canonical``), never in the session's time zone.
    """
    how, unit = conversion(a_type, b_type)
    if how != "text" and zoned(a_type) != zoned(b_type):
        utc = exp.Literal.string("UTC")
        if zoned(a_type):
            ea = exp.AtTimeZone(this=ea, zone=utc)
        else:
            eb = exp.AtTimeZone(this=eb, zone=utc)
    if how == "double":
        return _cast(ea, "double"), _cast(eb, "double"), True
    if how == "text":
        return _cast(ea, "varchar"), _cast(eb, "varchar"), False
    if how == "date":
        return _cast(ea, "date"), _cast(eb, "date"), False
    if how == "json":
        return _json(ea), _json(eb), False
    if how == "truncate":
        return exp.TimestampTrunc(this=ea, unit=exp.var(unit)), exp.TimestampTrunc(this=eb, unit=exp.var(unit)), False
    return ea, eb, False


def same_value(ea: exp.Expr, eb: exp.Expr, a_type: str, b_type: str, tolerance: Tolerance) -> exp.Expr:
    """A condition that is TRUE when the two values count as equal (never NULL)."""
    na, nb, is_float = normalize_pair(ea, eb, a_type, b_type)
    equal: exp.Expr = exp.NullSafeEQ(this=na.copy(), expression=nb.copy())
    how, unit = conversion(a_type, b_type)
    if how == "truncate" and unit in HALF_UNIT:  # not MICROSECOND: intervals hold no nanoseconds
        # The coarser side may have been rounded, not truncated: both engines round when they cast to a lower
        # precision (DuckDB half up, Postgres half to even), so x.0015 becomes x.002. Within half a unit is
        # that rounding, whichever way a tie went; 1.2 s against 2 s is neither.
        ra, rb = (x.this for x in (na, nb))  # the values before TimestampTrunc
        half = exp.Interval(this=exp.Literal.string("500"), unit=exp.var(HALF_UNIT[unit]))
        near = exp.and_(
            exp.LTE(this=exp.Sub(this=ra.copy(), expression=rb.copy()), expression=half.copy()),
            exp.LTE(this=exp.Sub(this=rb.copy(), expression=ra.copy()), expression=half),
        )
        equal = exp.or_(equal, near)
    if is_float and (tolerance.abs or tolerance.rel):
        bound: exp.Expr = _double(tolerance.abs)
        if tolerance.rel:
            biggest = exp.Greatest(this=exp.Abs(this=na.copy()), expressions=[exp.Abs(this=nb.copy())])
            bound = exp.Add(this=bound, expression=exp.Mul(this=_double(tolerance.rel), expression=biggest))
        close = exp.LTE(this=exp.Abs(this=exp.Sub(this=na.copy(), expression=nb.copy())), expression=bound)
        # Only between finite values: with an infinity or a NaN the bound is itself infinite or NaN, which both
        # engines sort above everything, so 1.0 would be "close" to NaN. v - v = 0 holds for finite v only
        # (inf - inf and NaN - NaN are NaN); infinities and NaNs compare by equal above.
        finite = exp.and_(
            *[exp.EQ(this=exp.Sub(this=v.copy(), expression=v.copy()), expression=_double(0)) for v in (na, nb)]
        )
        equal = exp.or_(equal, exp.and_(finite, close))
    return exp.func("coalesce", exp.paren(equal), exp.false())


def flag(cond: exp.Expr) -> exp.Case:
    return exp.Case(ifs=[exp.If(this=cond, true=ONE.copy())], default=ZERO.copy())


def balanced_sum(terms: list[exp.Expr]) -> exp.Expr:
    """t0 + t1 + ... as a balanced tree: shallow for sqlglot however many terms."""
    if len(terms) == 1:
        return terms[0]
    mid = len(terms) // 2
    return exp.Add(this=balanced_sum(terms[:mid]), expression=balanced_sum(terms[mid:]))


def hash_pair(ea: exp.Expr, eb: exp.Expr, a_type: str, b_type: str) -> tuple[exp.Expr, exp.Expr]:
    """The two values as they are hashed for the key diff's pre-filter: equal values must hash equally.

    Values are normalized as ``same_value`` normalizes them; two different types that normalization leaves
    apart (INTEGER against BIGINT, DECIMAL(18,2) against DECIMAL(18,3)) hash as text. A pair that hashes
    differently but compares equal costs only a second look at that row.
    """
    na, nb, is_float = normalize_pair(ea, eb, a_type, b_type)
    if is_float or a_type.strip().upper() == b_type.strip().upper():
        return na, nb
    return _cast(na, "varchar"), _cast(nb, "varchar")


# -- key checks -----------------------------------------------------------


def side_key_check(
    backend: Backend, rel: exp.Expr, key: list[str], sample_size: int, exprs: list[exp.Expr] | None = None
) -> tuple[int, int, list[dict[str, Any]]]:
    """(duplicated key values, rows with a NULL key part, samples) in ONE query.

    ``exprs`` are the key values as they are compared (``normalize_pair``), by default the key columns.
    """
    ks = [f"k{i}" for i in range(len(key))]
    values = exprs if exprs is not None else [column(k) for k in key]
    grouped = (
        exp.select(*[v.copy().as_(a) for v, a in zip(values, ks, strict=True)], count_star().as_("n"))
        .from_(as_from(rel))
        .group_by(*[v.copy() for v in values])
    )
    any_null = exp.or_(*[column(a).is_(exp.null()) for a in ks])
    flagged = exp.select(*[column(a) for a in ks], "n", flag(any_null).as_("nk")).from_(grouped.subquery("g"))
    dup = exp.and_(column("nk").eq(0), column("n") > 1)
    null_rows = exp.Case(ifs=[exp.If(this=column("nk").eq(1), true=column("n"))], default=ZERO.copy())
    totals = exp.select(
        *[column(a) for a in ks],
        "n",
        "nk",
        exp.Window(this=exp.Sum(this=flag(dup))).as_("dup_keys"),
        exp.Window(this=exp.Sum(this=null_rows)).as_("null_rows"),
    ).from_(flagged.subquery("f"))
    query = (
        exp.select("*")
        .from_(totals.subquery("t"))
        .where(exp.or_(column("n") > 1, column("nk").eq(1)))
        .order_by(column("nk"), exp.Ordered(this=column("n"), desc=True), *[column(a) for a in ks])
        .limit(max(sample_size, 1))
    )
    rows = backend.fetch_rows(query)
    if not rows:
        return 0, 0, []
    width = len(key)
    samples = []
    for row in rows[:sample_size]:
        issue = "null key" if row[width + 1] else "duplicate key"
        samples.append({"issue": issue, **dict(zip(key, row[:width], strict=True)), "rows": int(row[width])})
    return int(rows[0][width + 2] or 0), int(rows[0][width + 3] or 0), samples


def key_check(
    a: Backend,
    rel_a: exp.Expr,
    b: Backend,
    rel_b: exp.Expr,
    key: list[str],
    *,
    key_b: list[str] | None = None,
    key_types: list[tuple[str, str]] | None = None,
    sample_size: int = 10,
) -> KeyCheck:
    """Duplicate and NULL keys on each side: one query per side.

    With ``key_types`` (each key column's engine type in A and in B) the key is checked as the diff
    matches it, normalized by ``normalize_pair``: two timestamps a tenth of a second apart are one key
    against a TIMESTAMP_S column, and the check must say so, not pass while the match collides.
    """
    names_b = key_b or key
    exprs_a: list[exp.Expr] | None = None
    exprs_b: list[exp.Expr] | None = None
    note = ""
    if key_types is not None:
        pairs = [
            normalize_pair(column(ka), column(kb), ta, tb)[:2]
            for ka, kb, (ta, tb) in zip(key, names_b, key_types, strict=True)
        ]
        exprs_a, exprs_b = [p[0] for p in pairs], [p[1] for p in pairs]
        note = key_note(key, key_types)
    dup_a, null_a, samples_a = side_key_check(a, rel_a, key, sample_size, exprs_a)
    dup_b, null_b, samples_b = side_key_check(b, rel_b, names_b, sample_size, exprs_b)
    samples = [{"side": "a", **s} for s in samples_a] + [{"side": "b", **s} for s in samples_b]
    return KeyCheck(
        key=key,
        a_duplicate_keys=dup_a,
        b_duplicate_keys=dup_b,
        a_null_keys=null_a,
        b_null_keys=null_b,
        duplicate_samples=samples,
        note=note,
    )


def key_note(key: list[str], key_types: list[tuple[str, str]]) -> str:
    """The key columns whose values are converted before they are matched, in words; '' when none is."""
    parts = []
    for name, (ta, tb) in zip(key, key_types, strict=True):
        how, unit = conversion(ta, tb)
        words = {
            "text": "as text",
            "date": "as dates (the coarser precision)",
            "truncate": f"truncated to the {(unit or '').lower()} (the coarser precision)",
            # a float key against an integer one: both as DOUBLE, where integers above 2^53 can collide
            "double": "as DOUBLE" if numeric_class(ta) != numeric_class(tb) else None,
        }.get(how)
        if words is not None:
            parts.append(f"{name} is {ta} in A and {tb} in B: key values are compared {words}")
    return "; ".join(parts)
