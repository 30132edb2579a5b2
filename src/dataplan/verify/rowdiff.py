"""How two values compare, and the exact key check: the pieces both key-level diffs share.

The one-engine diff (``joindiff``) and the cross-engine checksum bisection
(``crossdiff``) compare values with ``same_value`` and, when a key turns out not
to be a key, report it with ``key_check``: one GROUP BY key per side with
duplicate and NULL key counts and a sample.

Values compare by type:

- NULL equals NULL;
- a float on either side: ``|a - b| <= abs + rel * max(|a|, |b|)`` (``Tolerance``);
- decimals and integers: exactly;
- dates and timestamps: at the coarser precision of the two (a timestamp
  against a date compares as a date; TIMESTAMP_MS against TIMESTAMP truncates
  both to milliseconds);
- text and booleans: exactly;
- anything else, or two different kinds of type: as text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlglot import exp

from dataplan.backends.base import Backend, column
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


def normalize_pair(ea: exp.Expr, eb: exp.Expr, a_type: str, b_type: str) -> tuple[exp.Expr, exp.Expr, bool]:
    """Bring two values to a comparable form; the flag says whether the float tolerance applies."""
    ka, kb = column_kind(a_type), column_kind(b_type)
    if ka == kb == "numeric":
        if "float" in (numeric_class(a_type), numeric_class(b_type)):
            return _cast(ea, "double"), _cast(eb, "double"), True
        return ea, eb, False
    if ka == kb == "temporal":
        pa, pb = temporal_precision(a_type), temporal_precision(b_type)
        if pa is None and pb is None and a_type.upper() == b_type.upper():
            return ea, eb, False  # two time-of-day values
        if pa is None or pb is None:
            return _cast(ea, "varchar"), _cast(eb, "varchar"), False
        if pa == pb:
            return ea, eb, False
        unit = min(pa, pb, key=TIME_UNITS.index)
        if unit == "DAY":
            return _cast(ea, "date"), _cast(eb, "date"), False
        trunc = lambda e: exp.TimestampTrunc(this=e, unit=exp.var(unit))  # noqa: E731
        return trunc(ea), trunc(eb), False
    if ka == kb and ka in ("text", "boolean"):
        return ea, eb, False
    return _cast(ea, "varchar"), _cast(eb, "varchar"), False


def same_value(ea: exp.Expr, eb: exp.Expr, a_type: str, b_type: str, tolerance: Tolerance) -> exp.Expr:
    """A condition that is TRUE when the two values count as equal (never NULL)."""
    na, nb, is_float = normalize_pair(ea, eb, a_type, b_type)
    equal: exp.Expr = exp.NullSafeEQ(this=na.copy(), expression=nb.copy())
    if is_float and (tolerance.abs or tolerance.rel):
        bound: exp.Expr = _double(tolerance.abs)
        if tolerance.rel:
            biggest = exp.Greatest(this=exp.Abs(this=na.copy()), expressions=[exp.Abs(this=nb.copy())])
            bound = exp.Add(this=bound, expression=exp.Mul(this=_double(tolerance.rel), expression=biggest))
        close = exp.LTE(this=exp.Abs(this=exp.Sub(this=na.copy(), expression=nb.copy())), expression=bound)
        equal = exp.or_(equal, close)
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
    backend: Backend, rel: exp.Expr, key: list[str], sample_size: int
) -> tuple[int, int, list[dict[str, Any]]]:
    """(duplicated key values, rows with a NULL key part, samples) in ONE query."""
    ks = [f"k{i}" for i in range(len(key))]
    grouped = (
        exp.select(*[column(k).as_(a) for k, a in zip(key, ks, strict=True)], count_star().as_("n"))
        .from_(as_from(rel))
        .group_by(*[column(k) for k in key])
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
    sample_size: int = 10,
) -> KeyCheck:
    """Duplicate and NULL keys on each side: one query per side."""
    dup_a, null_a, samples_a = side_key_check(a, rel_a, key, sample_size)
    dup_b, null_b, samples_b = side_key_check(b, rel_b, key_b or key, sample_size)
    samples = [{"side": "a", **s} for s in samples_a] + [{"side": "b", **s} for s in samples_b]
    return KeyCheck(
        key=key,
        a_duplicate_keys=dup_a,
        b_duplicate_keys=dup_b,
        a_null_keys=null_a,
        b_null_keys=null_b,
        duplicate_samples=samples,
    )
