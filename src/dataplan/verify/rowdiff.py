"""Key-level diff of two relations on one engine: key checks, then ONE full outer join.

Key checks come first (one query per side: duplicate and NULL keys with a
sample); a key that is not a key makes the join meaningless, so the caller
skips it. The join computes every figure in the engine in one aggregate:
rows only in A, only in B, changed, unchanged and mismatches per column.
Samples of each kind, ordered by key, come from one follow-up query that
computes the join once (a materialized CTE) when there is anything to show.

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
from dataplan.verify.model import ColumnMismatch, KeyCheck, RowDiff, Tolerance
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


def _flag(cond: exp.Expr) -> exp.Case:
    return exp.Case(ifs=[exp.If(this=cond, true=ONE.copy())], default=ZERO.copy())


def _sum(e: exp.Expr) -> exp.Expr:
    return exp.func("coalesce", exp.Sum(this=e), ZERO.copy())


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
    flagged = exp.select(*[column(a) for a in ks], "n", _flag(any_null).as_("nk")).from_(grouped.subquery("g"))
    dup = exp.and_(column("nk").eq(0), column("n") > 1)
    null_rows = exp.Case(ifs=[exp.If(this=column("nk").eq(1), true=column("n"))], default=ZERO.copy())
    totals = exp.select(
        *[column(a) for a in ks],
        "n",
        "nk",
        exp.Window(this=exp.Sum(this=_flag(dup))).as_("dup_keys"),
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


# -- the join -------------------------------------------------------------


def _balanced_sum(terms: list[exp.Expr]) -> exp.Expr:
    """t0 + t1 + ... as a balanced tree: shallow for sqlglot however many terms."""
    if len(terms) == 1:
        return terms[0]
    mid = len(terms) // 2
    return exp.Add(this=_balanced_sum(terms[:mid]), expression=_balanced_sum(terms[mid:]))


@dataclass(frozen=True)
class _Join:
    """The full outer join of the two sides: one row per key with pa, pb, bo, ak*, bk*, [ac*, bc*,] m*.

    ``bo`` is 1 when the key is on both sides; ``m<i>`` is 1 when column i differs (meaningful when
    ``bo`` is 1). The presence test is computed once per row rather than inside every flag: DuckDB's
    planner slows down sharply on hundreds of repeated subexpressions.
    """

    key: list[str]
    pairs: list[ColumnPair]
    side_a: exp.Subquery
    side_b: exp.Subquery
    on: exp.Expr
    flags: list[exp.Expr]

    def select(self, values: bool) -> exp.Select:
        da, db = "da", "db"
        both = exp.and_(exp.not_(column("p", da).is_(exp.null())), exp.not_(column("p", db).is_(exp.null())))
        exprs: list[exp.Expr] = [column("p", da).as_("pa"), column("p", db).as_("pb"), _flag(both).as_("bo")]
        for i in range(len(self.key)):
            exprs += [column(f"k{i}", da).as_(f"ak{i}"), column(f"k{i}", db).as_(f"bk{i}")]
        if values:
            exprs += [column(f"c{i}", da).as_(f"ac{i}") for i in range(len(self.pairs))]
            exprs += [column(f"c{i}", db).as_(f"bc{i}") for i in range(len(self.pairs))]
        exprs += [f.copy().as_(f"m{i}") for i, f in enumerate(self.flags)]
        return (
            exp.select(*exprs)
            .from_(self.side_a.copy())
            .join(self.side_b.copy(), on=self.on.copy(), join_type="full outer")
        )

    def ks(self, side: str) -> list[exp.Column]:
        return [column(f"{side}k{i}") for i in range(len(self.key))]

    def cs(self, side: str) -> list[exp.Column]:
        return [column(f"{side}c{i}") for i in range(len(self.pairs))]

    def ms(self) -> list[exp.Column]:
        return [column(f"m{i}") for i in range(len(self.pairs))]

    def changed(self) -> exp.Expr:
        if not self.pairs:
            return exp.false()
        return exp.and_(column("bo").eq(1), _balanced_sum(list(self.ms())) > 0)


def _side(rel: exp.Expr, key: list[str], cols: list[str]) -> exp.Select:
    exprs = [ONE.copy().as_("p")]
    exprs += [column(k).as_(f"k{i}") for i, k in enumerate(key)]
    exprs += [column(c).as_(f"c{i}") for i, c in enumerate(cols)]
    return exp.select(*exprs).from_(as_from(rel))


def _build_join(
    rel_a: exp.Expr,
    rel_b: exp.Expr,
    key: list[tuple[str, str, str, str]],  # (name in A, name in B, type in A, type in B)
    pairs: list[ColumnPair],
    tolerance: Tolerance,
) -> _Join:
    side_a = _side(rel_a, [k[0] for k in key], [p.in_a for p in pairs]).subquery("da")
    side_b = _side(rel_b, [k[1] for k in key], [p.in_b for p in pairs]).subquery("db")
    on = []
    for i, (_, _, ta, tb) in enumerate(key):
        ea, eb, _ = normalize_pair(column(f"k{i}", "da"), column(f"k{i}", "db"), ta, tb)
        on.append(exp.EQ(this=ea, expression=eb))
    flags: list[exp.Expr] = []
    for i, pair in enumerate(pairs):
        same = same_value(column(f"c{i}", "da"), column(f"c{i}", "db"), pair.a_type, pair.b_type, tolerance)
        flags.append(_flag(exp.not_(same)))
    return _Join([k[0] for k in key], pairs, side_a, side_b, exp.and_(*on), flags)


def _absent(side: str) -> exp.Expr:
    return column(f"p{side}").is_(exp.null())


def row_diff(
    backend: Backend,
    rel_a: exp.Expr,
    rel_b: exp.Expr,
    key: list[str],
    pairs: list[ColumnPair],
    *,
    key_types: list[tuple[str, str]],
    key_b: list[str] | None = None,
    tolerance: Tolerance | None = None,
    sample_size: int = 10,
) -> RowDiff:
    """Compare two relations on one backend with ONE full outer join on ``key``.

    ``key_types`` are the (A, B) engine types of the key columns; ``pairs`` the
    compared non-key columns. Keys must already be checked unique and non-NULL.
    """
    tol = tolerance or Tolerance()
    keys = [(k, kb, ta, tb) for k, kb, (ta, tb) in zip(key, key_b or key, key_types, strict=True)]
    j = _build_join(rel_a, rel_b, keys, pairs, tol)
    aggs = [
        _sum(_flag(_absent("b"))).as_("only_a"),
        _sum(_flag(_absent("a"))).as_("only_b"),
        _sum(column("bo")).as_("both"),
        _sum(_flag(j.changed())).as_("changed"),
    ]
    aggs += [_sum(exp.Mul(this=m, expression=column("bo"))).as_(f"mm{i}") for i, m in enumerate(j.ms())]
    row = backend.fetch_rows(exp.select(*aggs).from_(j.select(values=False).subquery("j")))[0]
    only_a, only_b, matched, changed = (int(v or 0) for v in row[:4])
    mismatches = [int(v or 0) for v in row[4:]]
    columns = [
        ColumnMismatch(column=p.name, mismatches=m, rate=(m / matched) if matched else 0.0)
        for p, m in zip(pairs, mismatches, strict=True)
    ]
    result = RowDiff(
        key=key, method="join", only_a=only_a, only_b=only_b, changed=changed, unchanged=matched - changed,
        columns=columns,
    )  # fmt: skip
    if sample_size > 0 and (only_a or only_b or changed):
        _samples(backend, j, result, sample_size)
    return result


_KINDS = {"only_a": 1, "only_b": 2, "changed": 3}
_CTE = "__dp_j"


def _samples(backend: Backend, j: _Join, result: RowDiff, n: int) -> None:
    """All three kinds of sample in ONE query, over the join materialized once (a CTE)."""
    cols = [*j.ks("a"), *j.ks("b"), *j.cs("a"), *j.cs("b"), *j.ms()]
    wanted = [
        ("only_a", _absent("b"), j.ks("a"), result.only_a),
        ("only_b", _absent("a"), j.ks("b"), result.only_b),
        ("changed", j.changed(), j.ks("a"), result.changed),
    ]
    branches = []
    for kind, cond, order, count in wanted:
        if not count:
            continue
        limited = (
            exp.select(exp.Literal.number(_KINDS[kind]).as_("kind"), *[c.copy() for c in cols])
            .from_(exp.table_(_CTE, quoted=True))
            .where(cond)
            .order_by(*order)
            .limit(n)
        )
        branches.append(exp.select("*").from_(limited.subquery(f"s_{kind}")))
    union = branches[0] if len(branches) == 1 else exp.union(*branches, distinct=False)
    ordered = exp.select("*").from_(union.subquery("samples")).order_by("kind", *j.ks("a"), *j.ks("b"))
    query = ordered.with_(_CTE, as_=j.select(values=True), materialized=True)
    width, ncols = len(j.key), len(j.pairs)
    names = j.key + [p.name for p in j.pairs]
    for row in backend.fetch_rows(query):
        kind, ak, bk = row[0], row[1 : 1 + width], row[1 + width : 1 + 2 * width]
        rest = row[1 + 2 * width :]
        ac, bc, flags = rest[:ncols], rest[ncols : 2 * ncols], rest[2 * ncols :]
        if kind == _KINDS["only_a"]:
            result.sample_only_a.append(dict(zip(names, [*ak, *ac], strict=True)))
        elif kind == _KINDS["only_b"]:
            result.sample_only_b.append(dict(zip(names, [*bk, *bc], strict=True)))
        else:
            sample: dict[str, Any] = dict(zip(j.key, ak, strict=True))
            for pair, va, vb, flag in zip(j.pairs, ac, bc, flags, strict=True):
                if flag:
                    sample[pair.name] = [va, vb]
            result.sample_changed.append(sample)
