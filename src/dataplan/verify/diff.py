"""Compare two relations: schema, profiles, key-level rows, distributions and checks -> DiffResult.

The library call behind ``dataplan diff`` and the plan's validation checks.
Inputs are validated first with zero-row ``describe`` queries (relations
exist, key and named columns exist on both sides, the filter binds); only
then do the data queries run, all of them reads:

- one profile aggregate per side;
- with a key, when both sides are on the same backend object: ONE statement
  (``dataplan.verify.joindiff``) that joins the row hashes, checks the key
  and compares the values of the few rows whose hashes differ; when the key
  turns out not to be a key, one GROUP BY per side for the exact figures;
- with a key across two engines: one key-check query per side, then checksum
  bisection (``dataplan.verify.crossdiff``);
- distributions: one histogram query per side for all numeric columns (plus
  a download per side for the exact KS on small relations), one top-k query
  per side for all categorical columns (plus one small count query per side
  when the top values differ).

Profiles and histograms of relations wider than 100 columns take one query
per 100 columns (``profile.COLUMNS_PER_QUERY``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from sqlglot import exp

from dataplan.backends.base import Backend, Column
from dataplan.errors import InputError
from dataplan.secrets import redact
from dataplan.verify import checks
from dataplan.verify.distribution import distributions as compute_distributions
from dataplan.verify.joindiff import join_diff
from dataplan.verify.model import DiffResult, KeyCheck, Profile, RowDiff, SchemaDiff, Side, Tolerance
from dataplan.verify.profile import profile, profile_deltas
from dataplan.verify.relations import filtered, parse_relation, relation_columns, renamed_relation, resolve_columns
from dataplan.verify.rowdiff import ColumnPair, key_check

__all__ = ["describe_connection", "diff", "open_relation", "profile_relation", "schema_diff"]


def open_relation(backend: Backend, text: str) -> exp.Expr:
    """Parse a user's relation text (``schema.table`` or ``query:SELECT ...``) in the backend's dialect."""
    return parse_relation(text, backend.dialect)


def profile_relation(
    backend: Backend, rel: exp.Expr, label: str, where: exp.Expr | None = None, *, exact: bool = False
) -> Profile:
    """Profile one relation: a describe, then ONE aggregate query for every column."""
    cols = relation_columns(backend, rel, where)
    return profile(backend, filtered(rel, where), label=label, columns=cols, exact=exact)


def describe_connection(backend: Backend) -> str:
    """Where a backend is connected, with no secret in it."""
    path = getattr(backend, "path", None)
    if path is not None:
        return f"duckdb:{path}"
    info = getattr(getattr(backend, "conn", None), "info", None)
    if info is not None and hasattr(info, "dbname"):
        host = info.host or "localhost"
        if host.startswith("/"):  # a Unix socket's directory: libpq's URL names it as a parameter
            return redact(f"{backend.dialect}://{info.user}@/{info.dbname}?host={host}&port={info.port}")
        return redact(f"{backend.dialect}://{info.user}@{host}:{info.port}/{info.dbname}")
    return backend.dialect


def _same_type(ta: str, tb: str, dialect_a: str, dialect_b: str) -> bool:
    if dialect_a == dialect_b:
        return ta.strip().upper() == tb.strip().upper()
    try:
        na = exp.DataType.build(ta, dialect=dialect_a).sql(dialect="duckdb")
        nb = exp.DataType.build(tb, dialect=dialect_b).sql(dialect="duckdb")
    except Exception:  # a type sqlglot cannot parse: compare the text
        return ta.strip().upper() == tb.strip().upper()
    return bool(na == nb)


def schema_diff(cols_a: list[Column], cols_b: list[Column], dialect_a: str = "", dialect_b: str = "") -> SchemaDiff:
    """Columns added (B only), removed (A only) and retyped, matched by name."""
    by_a, by_b = {c.name: c.type for c in cols_a}, {c.name: c.type for c in cols_b}
    return SchemaDiff(
        added=[(c.name, c.type) for c in cols_b if c.name not in by_a],
        removed=[(c.name, c.type) for c in cols_a if c.name not in by_b],
        type_changed=[
            (c.name, c.type, by_b[c.name])
            for c in cols_a
            if c.name in by_b and not _same_type(c.type, by_b[c.name], dialect_a, dialect_b)
        ],
    )


def _select(cols: list[Column], key: list[str], wanted: list[str] | None) -> list[Column]:
    if wanted is None:
        return cols
    names = set(key) | set(wanted)
    return [c for c in cols if c.name in names]


def diff(
    a: Backend,
    rel_a: exp.Expr,
    b: Backend,
    rel_b: exp.Expr,
    *,
    key: list[str] | None,
    columns: list[str] | None = None,
    where: exp.Expr | None = None,
    renames: Mapping[str, str] | None = None,
    tolerance: Tolerance | None = None,
    thresholds: Mapping[str, Any] | None = None,
    label_a: str,
    label_b: str,
    sample_size: int = 10,
    distributions: bool = True,
    exact: bool = False,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> DiffResult:
    """Compare relation A (before) with relation B (after).

    ``key`` names the columns identifying a row (composite allowed); without
    it there is no row-level diff. ``columns`` restricts every part of the diff
    to those columns (plus the key). ``renames`` maps a column of A to its name
    in B: B is compared under A's names, so key, columns, where and every report
    use A's. ``where`` filters both sides. ``exact``
    keeps distinct counts and quantiles exact above ``profile.EXACT_ROWS``.
    ``on_progress(step, done, total)`` is called before each data step.
    Bad input raises InputError before any data query runs.
    """
    t0 = time.perf_counter()
    backends = [a] if a is b else [a, b]
    start = sum(x.round_trips for x in backends)
    levels = checks.thresholds(thresholds)
    tol = tolerance or Tolerance()
    if sample_size < 0:
        raise InputError(f"sample size must be >= 0, not {sample_size}")
    key = list(key or [])
    side_a, side_b = f"A ({label_a})", f"B ({label_b})"

    # -- validation: describes only ------------------------------------------------
    all_a = relation_columns(a, rel_a, where)
    renamed: dict[str, str] = {}
    if renames:
        rel_b, renamed = renamed_relation(b, rel_b, dict(renames), all_a, side_a, side_b)
    all_b = relation_columns(b, rel_b, where)
    key_a = resolve_columns(key, all_a, "key", side_a)
    key_b = resolve_columns(key, all_b, "key", side_b)
    wanted_a = resolve_columns(columns, all_a, "compared", side_a) if columns is not None else None
    wanted_b = resolve_columns(columns, all_b, "compared", side_b) if columns is not None else None
    cols_a, cols_b = _select(all_a, key_a, wanted_a), _select(all_b, key_b, wanted_b)
    src_a, src_b = filtered(rel_a, where), filtered(rel_b, where)

    schema = schema_diff(cols_a, cols_b, a.dialect, b.dialect)
    types_b = {c.name: c.type for c in cols_b}
    keys = set(key_a) | set(key_b)
    pairs = [ColumnPair(c.name, c.type, types_b[c.name]) for c in cols_a if c.name in types_b and c.name not in keys]

    steps = ["profile A", "profile B", *(["rows by key"] if key else []), *(["distributions"] if distributions else [])]

    def step(name: str) -> None:
        if on_progress is not None:
            on_progress(name, steps.index(name), len(steps))

    # -- profiles: one aggregate per side -------------------------------------------
    step("profile A")
    prof_a = profile(a, src_a, label=label_a, columns=cols_a, exact=exact)
    step("profile B")
    prof_b = profile(b, src_b, label=label_b, columns=cols_b, exact=exact)

    # -- rows --------------------------------------------------------------------------
    kc: KeyCheck | None = None
    rows: RowDiff | None = None
    if key:
        step("rows by key")
        ta, tb = {c.name: c.type for c in cols_a}, {c.name: c.type for c in cols_b}
        key_types = [(ta[ka], tb[kb]) for ka, kb in zip(key_a, key_b, strict=True)]
        if a is b:
            kc, rows = join_diff(
                a, src_a, src_b, key_a, pairs, key_types=key_types,
                key_b=key_b, tolerance=tol, sample_size=sample_size, row_counts=(prof_a.row_count, prof_b.row_count),
            )  # fmt: skip
        else:
            # checked as the bisection matches keys: truncated to the coarser precision, as text across kinds
            kc = key_check(a, src_a, b, src_b, key_a, key_b=key_b, key_types=key_types, sample_size=sample_size)
            if kc.ok:
                from dataplan.verify.crossdiff import bisect_diff  # the cross-engine path, only when needed

                rows = bisect_diff(a, src_a, b, src_b, key_a, [p.name for p in pairs], tol, sample_size)

    # -- distributions ----------------------------------------------------------------
    dists = []
    if distributions:
        step("distributions")
        dists = compute_distributions(a, src_a, prof_a, b, src_b, prof_b, [p.name for p in pairs])

    sa = Side(label=label_a, connection=describe_connection(a), row_count=prof_a.row_count,
              columns=[(c.name, c.type) for c in cols_a], profile_method=prof_a.method)  # fmt: skip
    sb = Side(label=label_b, connection=describe_connection(b), row_count=prof_b.row_count,
              columns=[(renamed.get(c.name, c.name), c.type) for c in cols_b],  # B's own names
              profile_method=prof_b.method)  # fmt: skip
    deltas = profile_deltas(prof_a, prof_b)
    result = DiffResult(
        a=sa,
        b=sb,
        key=key_a,
        renamed=renamed,
        tolerance={"abs": tol.abs, "rel": tol.rel},
        schema_diff=schema,
        profiles=deltas,
        key_check=kc,
        rows=rows,
        distributions=dists,
    )
    result.checks = checks.evaluate(
        a=sa, b=sb, schema_diff=schema, profiles=deltas, key_check=kc, rows=rows, distributions=dists, levels=levels
    )
    result.queries = sum(x.round_trips for x in backends) - start
    result.seconds = time.perf_counter() - t0
    return result
