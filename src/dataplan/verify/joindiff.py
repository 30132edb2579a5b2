"""The key-level diff of two relations on ONE engine: one statement around one join of row hashes.

**The join.** Each side is reduced to ``(key, hash of the row's compared values)`` and the two are
joined once, inside the engine (a FULL OUTER JOIN on the key). Matched keys whose hashes are equal are
unchanged. Only the keys on one side, or with different hashes, go on (``f``): a few rows when little
changed. Values are normalized before hashing the way the comparison normalizes them, so a type
difference between the sides (INTEGER against BIGINT) does not make every row differ.

**The values.** Only the keys whose hashes differ, plus the first ``sample_size`` keys found on one side
only, are looked up again on both sides (a join with that short key list) and compared column by column
with the type-aware rules of ``rowdiff.same_value``: float tolerance, exact decimals, the coarser time
precision, NULL = NULL. The per-column mismatch counts, the changed count and the samples come from these
few rows. A hash difference that the comparison calls equal (a float within tolerance) counts as
unchanged. A changed row whose 64-bit hash equals the old row's would count as unchanged: about one chance
in 2^64 per row.

**The key check, in the same statement.** The join means something only when the key is unique and
non-NULL on both sides. Instead of a GROUP BY key per side before the join (which costs more than the
join itself), the join is checked afterwards:

- with unique keys every row of A is in the join once, so count(A present) = count(*) of A, and the same
  for B; a key repeated on one side and present on the other breaks one of the two equalities;
- a key repeated on one side only appears twice among the one-sided rows (a GROUP BY over ``f``);
- a key with a NULL part never matches, so it appears among the one-sided rows;
- a key repeated on both sides multiplies rows, so the join is capped at count(A) + count(B) + 1 rows
  (a LIMIT): a column that is not a key at all cannot blow the join up.

When any of these fires, the value lookups are skipped (their key list is gated on the check) and
``rowdiff.key_check`` computes the exact figures and samples, one GROUP BY per side.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlglot import exp

from dataplan.backends.base import Backend, column
from dataplan.errors import EngineError
from dataplan.verify.model import ColumnMismatch, KeyCheck, RowDiff, Tolerance
from dataplan.verify.profile import count_star
from dataplan.verify.relations import as_from
from dataplan.verify.rowdiff import (
    ColumnPair,
    balanced_sum,
    flag,
    hash_pair,
    key_check,
    key_note,
    normalize_pair,
    same_value,
)

_P = "__dp_"  # CTE names: a user's query:... relation cannot name them by accident
X, Y, J, F, S, FS, D, OK, PICKS, VA, VB, V, VS, SM = (
    f"{_P}{n}" for n in ("x", "y", "j", "f", "s", "fs", "d", "ok", "picks", "va", "vb", "v", "vs", "sm")
)
KINDS = {"only_a": 1, "only_b": 2, "changed": 3}


def _ref(name: str) -> exp.Table:
    return exp.table_(name, quoted=True)


def _count_if(cond: exp.Expr) -> exp.Expr:
    return exp.func("coalesce", exp.Sum(this=flag(cond)), exp.Literal.number(0))


def _rows(rel: exp.Expr) -> exp.Subquery:
    """``(SELECT count(*) FROM rel)``"""
    return exp.select(count_star()).from_(as_from(rel)).subquery()


def _null(name: str) -> exp.Expr:
    return column(name).is_(exp.null())


def _not_null(name: str) -> exp.Expr:
    return exp.not_(_null(name))


@dataclass(frozen=True)
class _Shape:
    """Names and expressions shared by the pieces of the statement."""

    width: int  # key columns
    pairs: list[ColumnPair]
    keys_a: list[exp.Expr]  # normalized key expressions over A's columns
    keys_b: list[exp.Expr]
    raw_a: list[str]  # key column names in A
    raw_b: list[str]

    def ks(self, prefix: str) -> list[str]:
        return [f"{prefix}{i}" for i in range(self.width)]

    def any_null(self, prefix: str) -> exp.Expr:
        return exp.or_(*[_null(k) for k in self.ks(prefix)])

    def no_null(self, prefix: str) -> exp.Expr:
        return exp.and_(*[_not_null(k) for k in self.ks(prefix)])


def _shape(key: list[tuple[str, str, str, str]], pairs: list[ColumnPair]) -> _Shape:
    keys_a, keys_b = [], []
    for name_a, name_b, ta, tb in key:
        ea, eb, _ = normalize_pair(column(name_a), column(name_b), ta, tb)
        keys_a.append(ea)
        keys_b.append(eb)
    return _Shape(len(key), pairs, keys_a, keys_b, [k[0] for k in key], [k[1] for k in key])


def _hashed(backend: Backend, rel: exp.Expr, keys: list[exp.Expr], values: list[exp.Expr]) -> exp.Select:
    """(k*, h): the side's keys and row hash; a row hash is never NULL, so it also marks the side present."""
    exprs = [k.copy().as_(f"k{i}") for i, k in enumerate(keys)]
    return exp.select(*exprs, backend.row_hash(values).as_("h")).from_(as_from(rel))


def _join(sh: _Shape, cap: int) -> exp.Select:
    exprs = [column(f"k{i}", X).as_(f"ak{i}") for i in range(sh.width)]
    exprs += [column(f"k{i}", Y).as_(f"bk{i}") for i in range(sh.width)]
    exprs += [column("h", X).as_("ha"), column("h", Y).as_("hb")]
    on = exp.and_(*[column(f"k{i}", X).eq(column(f"k{i}", Y)) for i in range(sh.width)])
    return exp.select(*exprs).from_(_ref(X)).join(_ref(Y), on=on, join_type="full outer").limit(cap)


def _unsettled(sh: _Shape) -> exp.Select:
    """The join's rows that are not plainly unchanged: a key on one side only, or different hashes."""
    differ = exp.NEQ(this=column("ha"), expression=column("hb"))
    keep = exp.or_(_null("ha"), _null("hb"), differ)
    return exp.select("ha", "hb", *sh.ks("ak"), *sh.ks("bk")).from_(_ref(J)).where(keep)


def _figures(sh: _Shape, rel_a: exp.Expr, rel_b: exp.Expr) -> list[tuple[str, exp.Select]]:
    """The one-row CTEs of counts: s (the join), fs (one-sided and differing rows), d (one-sided duplicates)."""
    s = exp.select(
        count_star().as_("nj"),
        exp.Count(this=column("ha")).as_("spa"),
        exp.Count(this=column("hb")).as_("spb"),
        _rows(rel_a).as_("na"),
        _rows(rel_b).as_("nb"),
    ).from_(_ref(J))
    both = exp.and_(_not_null("ha"), _not_null("hb"))
    fs = exp.select(
        _count_if(_null("hb")).as_("only_a"),
        _count_if(_null("ha")).as_("only_b"),
        _count_if(both).as_("differ"),
        _count_if(exp.and_(_null("hb"), sh.any_null("ak"))).as_("null_a"),
        _count_if(exp.and_(_null("ha"), sh.any_null("bk"))).as_("null_b"),
    ).from_(_ref(F))

    def repeated(present: str, absent: str, prefix: str) -> exp.Select:
        cond = exp.and_(_null(absent), _not_null(present), sh.no_null(prefix))
        keys = [column(k) for k in sh.ks(prefix)]
        return exp.select(*keys).from_(_ref(F)).where(cond).group_by(*keys).having(count_star() > 1)

    d = exp.select(
        exp.select(count_star()).from_(repeated("ha", "hb", "ak").subquery("ra")).subquery().as_("dup_a"),
        exp.select(count_star()).from_(repeated("hb", "ha", "bk").subquery("rb")).subquery().as_("dup_b"),
    )
    good = exp.and_(
        column("spa").eq(column("na")),
        column("spb").eq(column("nb")),
        column("nj") <= exp.Add(this=column("na"), expression=column("nb")),
        column("null_a").eq(0),
        column("null_b").eq(0),
        column("dup_a").eq(0),
        column("dup_b").eq(0),
    )
    ok = (
        exp.select(flag(good).as_("good"))
        .from_(_ref(S))
        .join(_ref(FS), join_type="cross")
        .join(_ref(D), join_type="cross")
    )
    return [(S, s), (FS, fs), (D, d), (OK, ok)]


def _picks(sh: _Shape, sample_size: int) -> exp.Select:
    """The keys to look up: every differing key, and the first ``sample_size`` keys of each side alone."""
    ks = [f"k{i}" for i in range(sh.width)]
    both = exp.and_(_not_null("ha"), _not_null("hb"))
    branches: list[exp.Query] = [
        exp.select(*[column(a).as_(k) for a, k in zip(sh.ks("ak"), ks, strict=True)]).from_(_ref(F)).where(both)
    ]
    if sample_size:
        for present, absent, prefix in (("ha", "hb", "ak"), ("hb", "ha", "bk")):
            keys = [column(k) for k in sh.ks(prefix)]
            first = (
                exp.select(*[c.copy().as_(k) for c, k in zip(keys, ks, strict=True)])
                .from_(_ref(F))
                .where(exp.and_(_null(absent), _not_null(present)))
                .order_by(*keys)
                .limit(sample_size)
            )
            branches.append(exp.select(*ks).from_(first.subquery(f"first_{prefix}")))
    union = branches[0] if len(branches) == 1 else exp.union(*branches, distinct=False)
    return (
        exp.select(*[column(k, "pk") for k in ks])
        .from_(union.subquery("pk"))
        .join(_ref(OK), join_type="cross")
        .where(column("good").eq(1))
    )


def _values(rel: exp.Expr, keys: list[exp.Expr], raw: list[str], cols: list[str], alias: str) -> exp.Select:
    """One side's rows for the picked keys: normalized keys k*, raw keys r*, values c*."""
    exprs = [exp.Literal.number(1).as_("p"), *[k.copy().as_(f"k{i}") for i, k in enumerate(keys)]]
    exprs += [column(r).as_(f"r{i}") for i, r in enumerate(raw)]
    exprs += [column(c).as_(f"c{i}") for i, c in enumerate(cols)]
    side = exp.select(*exprs).from_(as_from(rel)).subquery(alias)
    on = exp.and_(*[column(f"k{i}", alias).eq(column(f"k{i}", PICKS)) for i in range(len(keys))])
    return exp.select(exp.Column(this=exp.Star(), table=exp.to_identifier(alias))).from_(side).join(_ref(PICKS), on=on)


def _compared(sh: _Shape, tolerance: Tolerance) -> exp.Select:
    exprs = [column("p", VA).as_("pa"), column("p", VB).as_("pb")]
    exprs += [column(f"r{i}", VA).as_(f"ak{i}") for i in range(sh.width)]
    exprs += [column(f"r{i}", VB).as_(f"bk{i}") for i in range(sh.width)]
    exprs += [column(f"c{i}", VA).as_(f"ac{i}") for i in range(len(sh.pairs))]
    exprs += [column(f"c{i}", VB).as_(f"bc{i}") for i in range(len(sh.pairs))]
    for i, pair in enumerate(sh.pairs):
        same = same_value(column(f"c{i}", VA), column(f"c{i}", VB), pair.a_type, pair.b_type, tolerance)
        exprs.append(flag(exp.not_(same)).as_(f"m{i}"))
    on = exp.and_(*[column(f"k{i}", VA).eq(column(f"k{i}", VB)) for i in range(sh.width)])
    return exp.select(*exprs).from_(_ref(VA)).join(_ref(VB), on=on, join_type="full outer")


def _changed(sh: _Shape) -> exp.Expr:
    both = exp.and_(_not_null("pa"), _not_null("pb"))
    if not sh.pairs:
        return exp.and_(both, exp.false())
    return exp.and_(both, balanced_sum([column(f"m{i}") for i in range(len(sh.pairs))]) > 0)


def _value_figures(sh: _Shape) -> exp.Select:
    both = exp.and_(_not_null("pa"), _not_null("pb"))
    aggs = [_count_if(_changed(sh)).as_("changed")]
    aggs += [_count_if(exp.and_(both, column(f"m{i}").eq(1))).as_(f"mm{i}") for i in range(len(sh.pairs))]
    return exp.select(*aggs).from_(_ref(V))


def _samples(sh: _Shape, sample_size: int) -> exp.Query:
    n = len(sh.pairs)
    cols = [*sh.ks("ak"), *sh.ks("bk"), *[f"{p}{i}" for p in ("ac", "bc", "m") for i in range(n)]]
    wanted = [
        ("only_a", exp.and_(_null("pb"), _not_null("pa")), sh.ks("ak")),
        ("only_b", exp.and_(_null("pa"), _not_null("pb")), sh.ks("bk")),
        ("changed", _changed(sh), sh.ks("ak")),
    ]
    branches: list[exp.Query] = []
    for kind, cond, order in wanted:
        limited = (
            exp.select(exp.Literal.number(KINDS[kind]).as_("kind"), *[column(c) for c in cols])
            .from_(_ref(V))
            .where(cond)
            .order_by(*[column(o) for o in order])
            .limit(sample_size)
        )
        branches.append(exp.select("*").from_(limited.subquery(f"s_{kind}")))
    return exp.union(*branches, distinct=False)


SUMMARY = [(S, ["nj", "spa", "spb", "na", "nb"]), (FS, ["only_a", "only_b", "differ", "null_a", "null_b"]),
           (D, ["dup_a", "dup_b"]), (OK, ["good"])]  # fmt: skip


def output_columns(width: int, npairs: int, sample_size: int) -> list[tuple[str, str]]:
    """(CTE, column) of each output column of ``join_diff_query``, in order."""
    out = [(cte, n) for cte, names in SUMMARY for n in names]
    out += [(VS, "changed"), *[(VS, f"mm{i}") for i in range(npairs)]]
    if sample_size:
        ks = [f"ak{i}" for i in range(width)] + [f"bk{i}" for i in range(width)]
        vals = [f"{p}{i}" for p in ("ac", "bc", "m") for i in range(npairs)]
        out += [(SM, "kind"), *[(SM, c) for c in ks + vals]]
    return out


def join_diff_query(
    backend: Backend,
    rel_a: exp.Expr,
    rel_b: exp.Expr,
    key: list[tuple[str, str, str, str]],
    pairs: list[ColumnPair],
    *,
    cap: int,
    tolerance: Tolerance,
    sample_size: int,
) -> exp.Select:
    """The whole key diff as one statement. ``key`` holds (name in A, name in B, type in A, type in B)."""
    sh = _shape(key, pairs)
    hashed = [hash_pair(column(p.in_a), column(p.in_b), p.a_type, p.b_type) for p in pairs]
    ctes: list[tuple[str, exp.Query, bool]] = [
        (X, _hashed(backend, rel_a, sh.keys_a, [h[0] for h in hashed]), False),
        (Y, _hashed(backend, rel_b, sh.keys_b, [h[1] for h in hashed]), False),
        (J, _join(sh, cap), True),
        (F, _unsettled(sh), True),
        *[(name, q, True) for name, q in _figures(sh, rel_a, rel_b)],  # one row each, read twice
        (PICKS, _picks(sh, sample_size), True),
        (VA, _values(rel_a, sh.keys_a, sh.raw_a, [p.in_a for p in pairs], "da"), False),
        (VB, _values(rel_b, sh.keys_b, sh.raw_b, [p.in_b for p in pairs], "db"), False),
        (V, _compared(sh, tolerance), True),
        (VS, _value_figures(sh), False),
    ]
    names = output_columns(sh.width, len(pairs), sample_size)
    query = exp.select(*[column(n, cte) for cte, n in names]).from_(_ref(S))
    # copy=False throughout: sqlglot's builders copy the whole query by default, which for 14 CTEs of a
    # 20-column diff cost 0.3 s of Python per diff
    for ref in (FS, D, OK, VS):
        query = query.join(_ref(ref), join_type="cross", copy=False)
    if sample_size:
        ctes.append((SM, _samples(sh, sample_size), False))
        query = query.join(_ref(SM), on=exp.true(), join_type="left", copy=False)
        order = [column("kind", SM), *[column(c, SM) for c in [*sh.ks("ak"), *sh.ks("bk")]]]
        query = query.order_by(*order, copy=False)
    for name, q, materialized in ctes:
        query = query.with_(name, as_=q, materialized=materialized or None, copy=False)
    return query


def _row_counts(backend: Backend, rel_a: exp.Expr, rel_b: exp.Expr) -> tuple[int, int]:
    got = backend.fetch_rows(exp.select(_rows(rel_a).as_("na"), _rows(rel_b).as_("nb")))[0]
    return int(got[0] or 0), int(got[1] or 0)


def join_diff(
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
    row_counts: tuple[int, int] | None = None,
) -> tuple[KeyCheck, RowDiff | None]:
    """The key check and the key-level diff of two relations on one backend: one statement.

    ``key_types`` are the (A, B) engine types of the key columns, ``pairs`` the compared non-key columns.
    ``row_counts`` (A, B), when the caller already has them (a profile), size the join's cap; otherwise
    one cheap ``count(*)`` query does. When the key is not unique or has NULLs, the returned RowDiff is
    None and the KeyCheck holds the exact figures (from ``rowdiff.key_check``).
    """
    tol = tolerance or Tolerance()
    key_b = key_b or key
    keys = [(k, kb, ta, tb) for k, kb, (ta, tb) in zip(key, key_b, key_types, strict=True)]
    na, nb = row_counts if row_counts is not None else _row_counts(backend, rel_a, rel_b)
    query = join_diff_query(backend, rel_a, rel_b, keys, pairs, cap=na + nb + 1, tolerance=tol,
                            sample_size=sample_size)  # fmt: skip
    names = [n for _, n in output_columns(len(key), len(pairs), sample_size)]
    rows = [dict(zip(names, row, strict=True)) for row in backend.fetch_rows(query)]
    top = rows[0]
    if not top["good"]:
        # The join matched the keys normalized (truncated to the coarser timestamp precision, cast to text
        # across kinds): the check must group the same values, or a key unique only before truncation passes.
        kc = key_check(backend, rel_a, backend, rel_b, key, key_b=key_b, key_types=key_types, sample_size=sample_size)
        if kc.ok:  # only possible when a side changed between the row count and the diff
            raise EngineError("the key check disagrees with the join: A or B changed during the diff; run it again")
        return kc, None
    matched = int(top["na"]) - int(top["only_a"])
    changed = int(top["changed"] or 0)
    mismatches = [int(top[f"mm{i}"] or 0) for i in range(len(pairs))]
    result = RowDiff(
        key=key,
        method="join",
        only_a=int(top["only_a"]),
        only_b=int(top["only_b"]),
        changed=changed,
        unchanged=matched - changed,
        columns=[
            ColumnMismatch(column=p.name, mismatches=m, rate=(m / matched) if matched else 0.0)
            for p, m in zip(pairs, mismatches, strict=True)
        ],
    )
    for row in rows if sample_size else []:
        _add_sample(result, row, key, pairs)
    return KeyCheck(key=key, note=key_note(key, key_types)), result  # how the keys were matched, as a failed check says


def _add_sample(result: RowDiff, row: dict[str, Any], key: list[str], pairs: list[ColumnPair]) -> None:
    kind = row["kind"]
    if kind is None:
        return
    side = "b" if kind == KINDS["only_b"] else "a"
    sample: dict[str, Any] = {k: row[f"{side}k{i}"] for i, k in enumerate(key)}
    if kind == KINDS["changed"]:
        for i, pair in enumerate(pairs):
            if row[f"m{i}"]:
                sample[pair.name] = [row[f"ac{i}"], row[f"bc{i}"]]
        result.sample_changed.append(sample)
        return
    sample.update({p.name: row[f"{side}c{i}"] for i, p in enumerate(pairs)})
    (result.sample_only_b if side == "b" else result.sample_only_a).append(sample)
