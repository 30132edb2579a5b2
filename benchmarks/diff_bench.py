"""Diff benchmark: dataplan's key diff and whole diff against a scan floor, reladiff and pandas.

A script, never a timed test::

    python -m benchmarks.diff_bench                      # 10,000,000 rows x 20 columns, ~1 h on 2 cores
    python -m benchmarks.diff_bench --rows 1000000       # a quicker look

Setup (in a subprocess, inside DuckDB, hash-based pseudo-random values): tables ``a`` and ``b`` of
``--rows`` rows and 20 columns (BIGINT key ``id``; 5 BIGINT, 5 DOUBLE, 3 DECIMAL(18,2), 4 VARCHAR and
2 DATE columns, five of them with 2% NULLs) in a DuckDB file under a temporary directory on the disk
with the most free space. ``b`` is ``a`` with 0.1% of the rows changed (one column each, of every
kind), 0.05% removed and 0.05% added. ``a_sub`` / ``b_sub`` are every k-th key of both (the pandas
subset). Every approach then runs in its own subprocess, one after the other, in ONE invocation;
the parent reads each child's peak RSS from ``os.wait4`` and records the load average around it:

* ``floor``: ``SELECT sum(hash(<all 20 columns>))`` over ``a`` and over ``b`` (one scan each);
* ``dataplan_keydiff``: ``joindiff.join_diff`` (key check and key-level diff in one statement, plus a
  ``count(*)`` per side that sizes the join's cap), as ``diff()`` calls it;
* ``dataplan_diff``: the whole ``verify.diff.diff()`` (schema, profiles, key diff, distributions),
  its phases timed and every statement logged;
* ``dataplan_keydiff_<limit>`` / ``dataplan_diff_<limit>``: the same on a connection opened with
  ``memory_limit`` = ``--memory-limit`` (default 512MB; the dataplan.yml setting, not a default);
* ``reladiff_joindiff`` / ``reladiff_hashdiff``: reladiff (the maintained data-diff fork) from its own
  venv (``--reladiff-python``; ``pip install 'reladiff[duckdb,postgresql]' pandas``), default options
  (one thread per database, key uniqueness validated, bisection factor 32, threshold 16384);
* ``pandas`` on the 1/k subset (reading both tables into DataFrames, an outer merge on the key with
  an indicator, a per-column comparison), and ``dataplan_keydiff_sub`` on the same subset;
* cross-engine (``--cross-rows``, default 1,000,000, on a pgserver Postgres): ``dataplan_cross_bisect``
  (``crossdiff.bisect_diff``), ``dataplan_cross_diff`` (the whole ``diff()`` across the engines) and
  ``reladiff_cross_hashdiff`` on a table whose two copies differ in 10 rows.

Every approach's counts (only in A, only in B, changed) are checked against the generator's truth.
Results go to ``benchmarks/results/diff.json`` (``diff-<rows>.json`` for other sizes).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.harness import load_avg, parse_bench_args, rss_mb, run_child, uptime_text, worker_main

# Only the standard library at module level (and benchmarks.harness, which is stdlib-only): the reladiff
# and pandas workers run this module in reladiff's own venv, where dataplan is not installed.

REPO = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO / "benchmarks" / "results"
DEFAULT_ROWS = 10_000_000
DEFAULT_RELADIFF_PYTHON = "/tmp/reladiff-venv/bin/python"
KEY = "id"
CHANGED_PER_10K, REMOVED_PER_10K, ADDED_PER_10K = 10, 5, 5  # 0.1%, 0.05%, 0.05%

# (name, SQL type, NULL share in percent); the key ``id`` comes first.
COLUMNS: list[tuple[str, str, int]] = [
    *[(f"i{k}", "BIGINT", 2 if k == 3 else 0) for k in range(5)],
    *[(f"f{k}", "DOUBLE", 2 if k == 4 else 0) for k in range(5)],
    *[(f"n{k}", "DECIMAL(18,2)", 2 if k == 2 else 0) for k in range(3)],
    *[(f"s{k}", "VARCHAR", 2 if k == 3 else 0) for k in range(4)],
    *[(f"d{k}", "DATE", 2 if k == 1 else 0) for k in range(2)],
]
NAMES = [KEY] + [c for c, _, _ in COLUMNS]
PG_TYPES = {"BIGINT": "bigint", "DOUBLE": "double precision", "DECIMAL(18,2)": "numeric(18,2)", "VARCHAR": "text",
            "DATE": "date"}  # fmt: skip
# A changed row changes one of these (never NULL) columns, chosen by its hash: every kind is covered.
# reladiff compares these exactly between DuckDB and Postgres; it spells DOUBLE and DATE values differently
# on the two engines, so with those columns every row is reported changed (see the cross-engine runs).
RELADIFF_CROSS_EXACT = [f"i{k}" for k in range(5)] + [f"n{k}" for k in range(3)] + [f"s{k}" for k in range(4)]
CHANGES = {0: ("i0", "i0 + 1"), 1: ("f0", "f0 + 0.5"), 2: ("n0", "n0 + 1"), 3: ("s0", "s0 || 'x'"), 4: ("d0", "d0 + 1")}


# -- data, as SQL ----------------------------------------------------------------------------------


def value_sql(name: str, sql_type: str, null_pct: int, i: str) -> str:
    """A deterministic pseudo-random value of ``name`` for key expression ``i``."""
    seed = NAMES.index(name)
    h = f"hash({i}, {seed})"
    if sql_type == "BIGINT":
        e = f"CAST({h} % 1000000 AS BIGINT)"
    elif sql_type == "DOUBLE":
        e = f"CAST({h} % 100000000 AS DOUBLE) / 1000.0"
    elif sql_type.startswith("DECIMAL"):
        e = f"CAST(CAST({h} % 100000000 AS DECIMAL(18,0)) / 100 AS DECIMAL(18,2))"
    elif sql_type == "VARCHAR":
        e = f"'v' || CAST({h} % {10 ** (2 + seed % 4)} AS VARCHAR)"
    else:
        e = f"DATE '2015-01-01' + CAST({h} % 3650 AS INTEGER)"
    if null_pct:
        e = f"CASE WHEN hash({i}, {seed + 100}) % 100 < {null_pct} THEN NULL ELSE {e} END"
    return e


def select_list(i: str) -> str:
    return ", ".join([f"CAST({i} AS BIGINT) AS id"] + [f"{value_sql(n, t, p, i)} AS {n}" for n, t, p in COLUMNS])


def changed_select() -> str:
    """``a``'s columns with this row's change applied (bucket = hash(id, 7777) % 10000)."""
    out = [KEY]
    for name, sql_type, _ in COLUMNS:
        change = [(k, e) for k, (c, e) in CHANGES.items() if c == name]
        if change:
            k, e = change[0]
            last = REMOVED_PER_10K + CHANGED_PER_10K
            cond = f"bucket >= {REMOVED_PER_10K} AND bucket < {last} AND bucket % {len(CHANGES)} = {k}"
            out.append(f"CAST(CASE WHEN {cond} THEN {e} ELSE {name} END AS {sql_type}) AS {name}")
        else:
            out.append(name)
    return ", ".join(out)


def hash_all(table: str) -> str:
    return f"SELECT sum(hash({', '.join(NAMES)})) FROM {table}"


# -- running children --------------------------------------------------------------------------------


# -- workers (each runs in its own process) ------------------------------------------------------------


def w_setup(spec: dict[str, Any]) -> dict[str, Any]:
    """Create a, b, a_sub, b_sub and the truth (counts each approach must find)."""
    import duckdb

    rows, every = int(spec["rows"]), int(spec["sub_every"])
    con = duckdb.connect(spec["db"])
    t0 = time.perf_counter()
    con.execute(f"CREATE OR REPLACE TABLE a AS SELECT {select_list('range')} FROM range({rows})")
    t_a = time.perf_counter() - t0
    added = rows * ADDED_PER_10K // 10_000
    con.execute(
        f"CREATE OR REPLACE TABLE b AS "
        f"SELECT {changed_select()} FROM (SELECT *, hash(id, 7777) % 10000 AS bucket FROM a) "
        f"WHERE bucket >= {REMOVED_PER_10K} "
        f"UNION ALL SELECT {select_list('range')} FROM range({rows}, {rows + added})"
    )
    t_b = time.perf_counter() - t0 - t_a
    con.execute(f"CREATE OR REPLACE TABLE a_sub AS SELECT * FROM a WHERE id % {every} = 0")
    con.execute(f"CREATE OR REPLACE TABLE b_sub AS SELECT * FROM b WHERE id % {every} = 0")
    con.execute("CHECKPOINT")
    truth = {}
    for suffix, where in (("", "TRUE"), ("_sub", f"id % {every} = 0")):
        bucket = f"(SELECT hash(id, 7777) % 10000 AS bucket FROM a WHERE {where})"
        only_a, changed = con.execute(
            f"SELECT count(*) FILTER (WHERE bucket < {REMOVED_PER_10K}), "
            f"count(*) FILTER (WHERE bucket >= {REMOVED_PER_10K} AND bucket < {REMOVED_PER_10K + CHANGED_PER_10K}) "
            f"FROM {bucket}"
        ).fetchone() or (0, 0)
        n_a = con.execute(f"SELECT count(*) FROM a{suffix}").fetchone()
        n_b = con.execute(f"SELECT count(*) FROM b{suffix}").fetchone()
        assert n_a is not None and n_b is not None
        only_b = int(n_b[0]) - (int(n_a[0]) - int(only_a))
        truth[suffix or "full"] = {
            "rows_a": int(n_a[0]), "rows_b": int(n_b[0]), "only_a": int(only_a), "only_b": only_b,
            "changed": int(changed),
        }  # fmt: skip
    con.close()
    return {
        "seconds": round(time.perf_counter() - t0, 3),
        "seconds_a": round(t_a, 3),
        "seconds_b": round(t_b, 3),
        "truth": truth,
        "db_bytes": os.path.getsize(spec["db"]),
        "peak_rss_mb_self": rss_mb(),
    }


def w_floor(spec: dict[str, Any]) -> dict[str, Any]:
    """One scan of each table hashing every row: what any full diff must at least pay."""
    import duckdb

    con = duckdb.connect(spec["db"], read_only=True)
    reps: list[dict[str, Any]] = []
    for _ in range(int(spec["repeats"])):
        times = {}
        for table in ("a", "b"):
            t0 = time.perf_counter()
            con.execute(hash_all(table)).fetchall()
            times[table] = time.perf_counter() - t0
        reps.append({"a": round(times["a"], 3), "b": round(times["b"], 3), "total": round(sum(times.values()), 3)})
    con.close()
    return {"repeats": reps, "seconds": statistics.median(r["total"] for r in reps), "peak_rss_mb_self": rss_mb()}


class QueryLog:
    """Wrap a dataplan backend's statement runner to time each statement."""

    def __init__(self, backend: Any) -> None:
        self.entries: list[tuple[float, str]] = []
        original = backend._run

        def run(sql: str, params: Any = None) -> Any:
            t0 = time.perf_counter()
            out = original(sql, params)
            self.entries.append((time.perf_counter() - t0, sql))
            return out

        backend._run = run

    def take(self) -> list[dict[str, Any]]:
        out = [{"seconds": round(s, 3), "sql": sql[:160]} for s, sql in self.entries]
        self.entries.clear()
        return out


def _counts(rows: Any) -> dict[str, int]:
    return {"only_a": rows.only_a, "only_b": rows.only_b, "changed": rows.changed}


def w_dp_keydiff(spec: dict[str, Any]) -> dict[str, Any]:
    """dataplan's key diff alone: join_diff (the key check is part of it), as diff() calls it on one backend."""
    from dataplan.backends.duckdb import DuckDBBackend
    from dataplan.verify.diff import open_relation
    from dataplan.verify.joindiff import join_diff
    from dataplan.verify.relations import relation_columns
    from dataplan.verify.rowdiff import ColumnPair

    t_open = time.perf_counter()
    be = DuckDBBackend(spec["db"], memory_limit=spec.get("memory_limit"))
    log = QueryLog(be)
    reps: list[dict[str, Any]] = []
    for _ in range(int(spec["repeats"])):
        t0 = time.perf_counter()
        ra, rb = open_relation(be, spec["table_a"]), open_relation(be, spec["table_b"])
        cols_a, cols_b = relation_columns(be, ra), relation_columns(be, rb)
        types_b = {c.name: c.type for c in cols_b}
        pairs = [ColumnPair(c.name, c.type, types_b[c.name]) for c in cols_a if c.name != KEY]
        t1 = time.perf_counter()
        kc, rows = join_diff(be, ra, rb, [KEY], pairs, key_types=[(types_b[KEY], types_b[KEY])], sample_size=10)
        t2 = time.perf_counter()
        assert kc.ok and rows is not None
        reps.append(
            {
                "seconds": round(t2 - t0, 3),
                "describe": round(t1 - t0, 3),
                "key_diff": round(t2 - t1, 3),
                "queries": log.take(),
                **_counts(rows),
            }
        )
    be.close()
    return {
        "repeats": reps,
        "seconds": statistics.median(r["seconds"] for r in reps),
        "open_seconds": round(time.perf_counter() - t_open - sum(r["seconds"] for r in reps), 3),
        "counts": _counts(rows),
        "peak_rss_mb_self": rss_mb(),
    }


def _timed(phases: dict[str, float], name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            phases[name] = phases.get(name, 0.0) + time.perf_counter() - t0

    return wrapper


def _whole_diff(a: Any, b: Any, table_a: str, table_b: str, distributions: bool = True) -> dict[str, Any]:
    """The whole diff() with its phases timed (profiles, key check, rows, distributions)."""
    import dataplan.verify.diff as d

    phases: dict[str, float] = {}
    saved = {name: getattr(d, name) for name in ("profile", "join_diff", "compute_distributions")}
    for name, fn in saved.items():
        setattr(d, name, _timed(phases, name.strip("_").replace("compute_", ""), fn))
    try:
        t0 = time.perf_counter()
        result = d.diff(
            a, d.open_relation(a, table_a), b, d.open_relation(b, table_b), key=[KEY], label_a="a", label_b="b",
            distributions=distributions,
        )  # fmt: skip
        seconds = time.perf_counter() - t0
    finally:
        for name, fn in saved.items():
            setattr(d, name, fn)
    phases["validation_and_rest"] = seconds - sum(phases.values())
    assert result.rows is not None
    return {
        "seconds": round(seconds, 3),
        "phases": {k: round(v, 3) for k, v in phases.items()},
        "queries": result.queries,
        "method": result.rows.method,
        "checks": len(result.checks),
        "distributions": len(result.distributions),
        "counts": _counts(result.rows),
        "segments_checked": result.rows.segments_checked,
        "rows_downloaded": result.rows.rows_downloaded,
    }


def w_dp_diff(spec: dict[str, Any]) -> dict[str, Any]:
    """The whole dataplan diff: diff() with key diff, profiles and distributions."""
    from dataplan.backends.duckdb import DuckDBBackend

    be = DuckDBBackend(spec["db"], memory_limit=spec.get("memory_limit"))
    log = QueryLog(be)
    out = _whole_diff(be, be, spec["table_a"], spec["table_b"])
    out["query_log"] = log.take()
    be.close()
    out["peak_rss_mb_self"] = rss_mb()
    return out


def _reladiff_counts(events: list[tuple[str, tuple[Any, ...]]]) -> dict[str, int]:
    minus = {row[0] for sign, row in events if sign == "-"}
    plus = {row[0] for sign, row in events if sign == "+"}
    return {"only_a": len(minus - plus), "only_b": len(plus - minus), "changed": len(minus & plus)}


def w_reladiff(spec: dict[str, Any]) -> dict[str, Any]:
    """reladiff joindiff or hashdiff through its Python API (in reladiff's venv)."""
    import reladiff
    from reladiff import Algorithm, connect_to_table, diff_tables

    cols = tuple(spec["columns"])
    t0 = time.perf_counter()
    a = connect_to_table(spec["uri_a"], spec["table_a"], KEY, extra_columns=cols, thread_count=spec["threads"])
    if spec.get("uri_b"):
        b = connect_to_table(spec["uri_b"], spec["table_b"], KEY, extra_columns=cols, thread_count=spec["threads"])
    else:
        b = connect_to_table(a.database, spec["table_b"], KEY, extra_columns=cols)
    with diff_tables(a, b, algorithm=Algorithm(spec["algorithm"])) as diff:
        events = list(diff)
    seconds = time.perf_counter() - t0
    return {
        "seconds": round(seconds, 3),
        "events": len(events),
        "counts": _reladiff_counts(events),
        "reladiff_version": reladiff.__version__,
        "peak_rss_mb_self": rss_mb(),
    }


def w_pandas(spec: dict[str, Any]) -> dict[str, Any]:
    """Read both tables into pandas, outer-merge on the key with an indicator, compare every column."""
    import duckdb
    import pandas as pd

    reps: list[dict[str, Any]] = []
    for _ in range(int(spec["repeats"])):
        t0 = time.perf_counter()
        con = duckdb.connect(spec["db"], read_only=True)
        da = con.execute(f"SELECT * FROM {spec['table_a']}").df()
        db = con.execute(f"SELECT * FROM {spec['table_b']}").df()
        con.close()
        t1 = time.perf_counter()
        merged = da.merge(db, on=KEY, how="outer", suffixes=("_a", "_b"), indicator=True)
        only_a = int((merged["_merge"] == "left_only").sum())
        only_b = int((merged["_merge"] == "right_only").sum())
        both = merged[merged["_merge"] == "both"]
        differs = pd.Series(False, index=both.index)
        mismatches = {}
        for name in NAMES[1:]:
            left, right = both[f"{name}_a"], both[f"{name}_b"]
            ne = ~(left.eq(right) | (left.isna() & right.isna()))
            ne = ne.fillna(True).astype(bool)
            mismatches[name] = int(ne.sum())
            differs |= ne
        changed = int(differs.sum())
        t2 = time.perf_counter()
        frame_mb = (da.memory_usage(deep=True).sum() + db.memory_usage(deep=True).sum()) / 2**20
        reps.append({"seconds": round(t2 - t0, 3), "read": round(t1 - t0, 3), "compare": round(t2 - t1, 3),
                     "only_a": only_a, "only_b": only_b, "changed": changed})  # fmt: skip
        del da, db, merged, both
    return {
        "repeats": reps,
        "seconds": statistics.median(r["seconds"] for r in reps),
        "counts": {"only_a": only_a, "only_b": only_b, "changed": changed},
        "input_frames_mb": round(float(frame_mb), 1),
        "pandas_version": pd.__version__,
        "peak_rss_mb_self": rss_mb(),
    }


def w_cross_setup(spec: dict[str, Any]) -> dict[str, Any]:
    """The same generator into DuckDB (xt) and Postgres (xt, primary key), then 10 differing rows in Postgres."""
    import duckdb
    import psycopg

    rows = int(spec["rows"])
    t0 = time.perf_counter()
    con = duckdb.connect(spec["db"])
    con.execute(f"CREATE OR REPLACE TABLE xt AS SELECT {select_list('range')} FROM range({rows})")
    csv = Path(spec["db"]).with_suffix(".csv")
    con.execute(f"COPY xt TO '{csv}' (HEADER, DELIMITER ',')")
    con.close()
    t_duck = time.perf_counter() - t0
    ddl = ", ".join([f"{KEY} bigint primary key"] + [f"{n} {PG_TYPES[t]}" for n, t, _ in COLUMNS])
    step = rows // 12
    ids = [step * (k + 1) + 123 for k in range(8)]
    with psycopg.connect(spec["pg_uri"], autocommit=True) as pg:
        pg.execute("DROP TABLE IF EXISTS xt")
        pg.execute(f"CREATE TABLE xt ({ddl})".encode())
        with pg.cursor() as cur, cur.copy(b"COPY xt FROM STDIN WITH (FORMAT csv, HEADER true)") as copy:
            with csv.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    copy.write(block)
        for (_, (col, change)), key in zip(sorted(CHANGES.items()), ids[:5], strict=True):
            pg.execute(f"UPDATE xt SET {col} = {change} WHERE id = {key}".encode())
        pg.execute(f"UPDATE xt SET i1 = i1 + 1 WHERE id = {ids[5]}".encode())
        pg.execute(f"DELETE FROM xt WHERE id IN ({ids[6]}, {ids[7]})".encode())
        others = ", ".join(NAMES[1:])
        pg.execute(f"INSERT INTO xt SELECT id + {rows} + 1, {others} FROM xt WHERE id IN (1, 2)".encode())
        pg.execute(b"VACUUM ANALYZE xt")
    csv.unlink()
    return {
        "seconds": round(time.perf_counter() - t0, 3),
        "seconds_duckdb": round(t_duck, 3),
        "truth": {"rows_a": rows, "rows_b": rows, "only_a": 2, "only_b": 2, "changed": 6},
        # Compared on RELADIFF_CROSS_EXACT only, the f0 and d0 changes are invisible.
        "truth_exact_cols": {"rows_a": rows, "rows_b": rows, "only_a": 2, "only_b": 2, "changed": 4},
        "peak_rss_mb_self": rss_mb(),
    }


def w_dp_cross(spec: dict[str, Any]) -> dict[str, Any]:
    """dataplan across engines: checksum bisection alone (repeated), then the whole diff()."""
    from dataplan.backends.duckdb import DuckDBBackend
    from dataplan.backends.postgres import PostgresBackend
    from dataplan.verify.crossdiff import bisect_diff
    from dataplan.verify.diff import open_relation
    from dataplan.verify.model import Tolerance

    a, b = DuckDBBackend(spec["db"]), PostgresBackend(spec["pg_uri"])
    reps: list[dict[str, Any]] = []
    for _ in range(int(spec["repeats"])):
        start = a.round_trips + b.round_trips
        t0 = time.perf_counter()
        cols = spec.get("columns") or NAMES[1:]
        rows = bisect_diff(a, open_relation(a, "xt"), b, open_relation(b, "xt"), [KEY], cols, Tolerance(), 10)
        reps.append({
            "seconds": round(time.perf_counter() - t0, 3), "queries": a.round_trips + b.round_trips - start,
            "segments_checked": rows.segments_checked, "rows_downloaded": rows.rows_downloaded, **_counts(rows),
        })  # fmt: skip
    whole = _whole_diff(a, b, "xt", "xt") if spec.get("whole", True) else None
    a.close()
    b.close()
    return {
        "bisect": {"repeats": reps, "seconds": statistics.median(r["seconds"] for r in reps), "counts": _counts(rows)},
        "whole": whole,
        "peak_rss_mb_self": rss_mb(),
    }


WORKERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "setup": w_setup,
    "floor": w_floor,
    "dp_keydiff": w_dp_keydiff,
    "dp_diff": w_dp_diff,
    "reladiff": w_reladiff,
    "pandas": w_pandas,
    "cross_setup": w_cross_setup,
    "dp_cross": w_dp_cross,
}


# -- the parent ----------------------------------------------------------------------------------------


def biggest_disk_dir() -> Path:
    """The candidate temporary directory with the most free space."""
    candidates = {Path(tempfile.gettempdir()), Path("/var/tmp"), Path.home(), REPO.parent}
    usable = [p for p in candidates if p.is_dir() and os.access(p, os.W_OK)]
    return max(usable, key=lambda p: shutil.disk_usage(p).free)


def versions(python: str, modules: list[str]) -> dict[str, str]:
    code = (
        "import importlib.metadata as m, json, sys\n"
        "out = {}\n"
        "for n in sys.argv[1:]:\n"
        "    try:\n        out[n] = m.version(n)\n"
        "    except Exception:\n        pass\n"
        "print(json.dumps(out))"
    )
    try:
        done = subprocess.run([python, "-c", code, *modules], capture_output=True, text=True, check=False)
        return dict(json.loads(done.stdout or "{}"))
    except (OSError, json.JSONDecodeError):
        return {}


def machine_info(reladiff_python: str) -> dict[str, Any]:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(mem, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "packages": versions(sys.executable, ["dataplan", "duckdb", "sqlglot", "psycopg", "pgserver"]),
        "reladiff_venv_packages": versions(reladiff_python, ["reladiff", "duckdb", "pandas", "psycopg2-binary"]),
    }


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.db = str(workdir / "diff.duckdb")
        self.runs: dict[str, dict[str, Any]] = {}

    def child(self, name: str, worker: str, spec: dict[str, Any], *, python: str | None = None,
              env: dict[str, str] | None = None) -> dict[str, Any]:  # fmt: skip
        if python is None:
            cmd = [sys.executable, "-m", "benchmarks.diff_bench"]
        else:  # another venv: run as a module from the repository, so that benchmarks.harness imports
            cmd = [python, "-m", "benchmarks.diff_bench"]
        cmd += ["--worker", worker, "--spec", json.dumps(spec)]
        print(f"[{time.strftime('%H:%M:%S')}] {name} ... (load {load_avg()})", file=sys.stderr, flush=True)
        run = run_child(cmd, timeout=self.args.timeout, env=env, cwd=REPO)
        run["uptime"] = uptime_text()
        self.runs[name] = run
        shown = run.get("seconds", run.get("bisect", {}).get("seconds"))
        status = "ok" if run["ok"] else f"FAILED: {run.get('error')}"
        print(f"    {status}; seconds={shown} peak_rss={run['peak_rss_mb']} MB", file=sys.stderr, flush=True)
        return run


def check(run: dict[str, Any] | None, truth: dict[str, int], key: str = "counts") -> bool | None:
    if not run or not run.get("ok"):
        return None
    counts = run.get(key) or {}
    return all(counts.get(k) == truth[k] for k in ("only_a", "only_b", "changed"))


def ratio(num: float | None, den: float | None) -> float | None:
    if num is None or den is None or den == 0:
        return None
    return round(num / den, 2)


def secs(run: dict[str, Any] | None) -> float | None:
    if not run or not run.get("ok"):
        return None
    return float(run["seconds"])


def summarize(bench: Bench, truth: dict[str, Any]) -> dict[str, Any]:
    r = bench.runs
    floor, keydiff, whole = secs(r.get("floor")), secs(r.get("dataplan_keydiff")), secs(r.get("dataplan_diff"))
    joindiff, hashdiff = secs(r.get("reladiff_joindiff")), secs(r.get("reladiff_hashdiff"))
    cross = r.get("dataplan_cross") or {}
    cross_bisect = (cross.get("bisect") or {}).get("seconds") if cross.get("ok") else None
    cross_whole = (cross.get("whole") or {}).get("seconds") if cross.get("ok") else None
    cross_rd = secs(r.get("reladiff_cross_hashdiff"))
    cross_rd_exact = secs(r.get("reladiff_cross_hashdiff_exact_cols"))
    exact = r.get("dataplan_cross_exact_cols") or {}
    cross_bisect_exact = (exact.get("bisect") or {}).get("seconds") if exact.get("ok") else None
    # A timed-out reladiff run gives a lower bound on its time.
    hash_bound = (r.get("reladiff_hashdiff") or {}).get("timeout_seconds")
    ratios = {
        "keydiff_over_floor": ratio(keydiff, floor),
        "whole_diff_over_floor": ratio(whole, floor),
        "reladiff_joindiff_over_whole_diff": ratio(joindiff, whole),
        "reladiff_hashdiff_over_whole_diff": ratio(hashdiff or hash_bound, whole),
        "reladiff_joindiff_over_keydiff": ratio(joindiff, keydiff),
        "reladiff_hashdiff_over_keydiff": ratio(hashdiff or hash_bound, keydiff),
        "pandas_over_dataplan_keydiff_same_subset": ratio(secs(r.get("pandas")), secs(r.get("dataplan_keydiff_sub"))),
        "cross_reladiff_hashdiff_over_dataplan_bisect": ratio(cross_rd, cross_bisect),
        "cross_reladiff_hashdiff_over_dataplan_whole_diff": ratio(cross_rd, cross_whole),
        "cross_exact_cols_reladiff_hashdiff_over_dataplan_bisect": ratio(cross_rd_exact, cross_bisect_exact),
        "cross_reladiff_hashdiff_exact_cols_over_dataplan_bisect_all_cols": ratio(cross_rd_exact, cross_bisect),
    }
    peaks = {name: run.get("peak_rss_mb") for name, run in r.items()}
    slowest_reladiff = min((x for x in (joindiff, hashdiff) if x is not None), default=None)
    targets: dict[str, dict[str, Any]] = {
        "keydiff_within_2x_floor": {"target": "<= 2.0", "measured": ratios["keydiff_over_floor"]},
        "whole_diff_5x_faster_than_reladiff": {
            "target": ">= 5.0 against each reladiff algorithm",
            "measured": {
                "joindiff": ratios["reladiff_joindiff_over_whole_diff"],
                "hashdiff": ratios["reladiff_hashdiff_over_whole_diff"],
            },
            "fastest_reladiff_seconds": slowest_reladiff,
        },  # fmt: skip
        "peak_memory_below_1gb": {
            "target": "< 1024 MB",
            "measured": {k: v for k, v in peaks.items() if k.startswith(("dataplan_keydiff", "dataplan_diff"))},
        },
    }
    for name, t in targets.items():
        m = t["measured"]
        if name == "keydiff_within_2x_floor":
            t["met"] = None if m is None else m <= 2.0
        elif name == "whole_diff_5x_faster_than_reladiff":
            vals = [v for v in m.values() if v is not None]
            t["met"] = None if not vals else all(v >= 5.0 for v in vals)
            t["met_against_hashdiff_only"] = None if m["hashdiff"] is None else m["hashdiff"] >= 5.0
        else:
            t["met"] = {k: (None if v is None else v < 1024) for k, v in m.items()}
    correct: dict[str, bool | None] = {}
    for name, run in r.items():
        if name in ("setup", "floor", "cross_setup"):
            continue
        if name.startswith("dataplan_cross"):
            expected = truth.get("cross_exact_cols" if name.endswith("_exact_cols") else "cross")
            if expected:
                correct[name + "_bisect"] = check(
                    run.get("bisect") and {"ok": run.get("ok"), **run["bisect"]}, expected
                )
                if run.get("whole"):
                    correct[name + "_whole"] = check({"ok": run.get("ok"), **run["whole"]}, expected)
            continue
        expected = (
            truth.get("cross_exact_cols" if name.endswith("_exact_cols") else "cross")
            if name.startswith("reladiff_cross")
            else truth.get("_sub" if name in ("pandas", "dataplan_keydiff_sub") else "full")
        )
        if expected:
            correct[name] = check(run, expected)
    return {"ratios": ratios, "targets": targets, "correct_counts": correct, "peak_rss_mb": peaks}


def main_parent(args: argparse.Namespace) -> int:
    reladiff_ok = Path(args.reladiff_python).exists()
    if not reladiff_ok:
        print(f"note: {args.reladiff_python} not found; reladiff and pandas runs are skipped "
              "(python -m venv /tmp/reladiff-venv && /tmp/reladiff-venv/bin/pip install "
              "'reladiff[duckdb,postgresql]' pandas)", file=sys.stderr)  # fmt: skip
    base = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="dataplan-diff-bench-",
                                                                         dir=biggest_disk_dir()))  # fmt: skip
    base.mkdir(parents=True, exist_ok=True)
    bench = Bench(args, base)
    started = dt.datetime.now(dt.UTC)
    steps = set(args.steps.split(",")) if args.steps else None

    def want(step: str) -> bool:
        return steps is None or step in steps

    def limited(name: str) -> str:
        return f"{name}_{args.memory_limit.lower()}"

    every = max(1, args.rows // args.pandas_rows)
    truth: dict[str, Any] = {}
    meta = base / "setup.json"
    reuse = meta.exists() and json.loads(meta.read_text()).get("spec") == {"rows": args.rows, "sub_every": every}
    if reuse:
        setup = json.loads(meta.read_text())["run"]
        setup["reused"] = True
        bench.runs["setup"] = setup
    else:
        setup = bench.child("setup", "setup", {"db": bench.db, "rows": args.rows, "sub_every": every})
        if not setup["ok"]:
            print(setup.get("stderr_tail", ""), file=sys.stderr)
            return 1
        meta.write_text(json.dumps({"spec": {"rows": args.rows, "sub_every": every}, "run": setup}))
    truth.update(setup["truth"])
    cols = NAMES[1:]
    duck_uri = "duckdb://" + bench.db
    rd_env = dict(os.environ)

    if want("floor"):
        bench.child("floor", "floor", {"db": bench.db, "repeats": args.repeats})
    if want("keydiff"):
        spec = {"db": bench.db, "table_a": "a", "table_b": "b", "repeats": args.repeats}
        bench.child("dataplan_keydiff", "dp_keydiff", spec)
        if args.memory_limit:
            bench.child(limited("dataplan_keydiff"), "dp_keydiff", {**spec, "memory_limit": args.memory_limit})
    if want("diff"):
        spec = {"db": bench.db, "table_a": "a", "table_b": "b"}
        bench.child("dataplan_diff", "dp_diff", spec)
        if args.memory_limit:
            bench.child(limited("dataplan_diff"), "dp_diff", {**spec, "memory_limit": args.memory_limit})
    if want("reladiff") and reladiff_ok:
        for algorithm in ("joindiff", "hashdiff"):
            spec = {"uri_a": duck_uri, "table_a": "a", "table_b": "b", "columns": cols, "algorithm": algorithm,
                    "threads": args.reladiff_threads}  # fmt: skip
            bench.child(f"reladiff_{algorithm}", "reladiff", spec, python=args.reladiff_python, env=rd_env)
    if want("pandas") and reladiff_ok:
        spec = {"db": bench.db, "table_a": "a_sub", "table_b": "b_sub", "repeats": args.repeats}
        bench.child("pandas", "pandas", spec, python=args.reladiff_python)
        spec = {"db": bench.db, "table_a": "a_sub", "table_b": "b_sub", "repeats": args.repeats}
        bench.child("dataplan_keydiff_sub", "dp_keydiff", spec)
    if want("cross") and args.cross_rows > 0:
        run_cross(bench, args, truth, reladiff_ok)

    summary = summarize(bench, truth)
    out = {
        "benchmark": "diff",
        "command": "python -m benchmarks.diff_bench " + " ".join(args.argv),
        "started_utc": started.isoformat(timespec="seconds"),
        "finished_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine_info(args.reladiff_python),
        "uptime_at_end": uptime_text(),
        "workdir": str(base),
        "workdir_free_gib": round(shutil.disk_usage(base).free / 2**30, 1),
        "config": {
            "rows": args.rows,
            "columns": len(NAMES),
            "column_types": {n: t for n, t, _ in COLUMNS},
            "nullable_2pct": [n for n, _, p in COLUMNS if p],
            "changed_pct": CHANGED_PER_10K / 100,
            "removed_pct": REMOVED_PER_10K / 100,
            "added_pct": ADDED_PER_10K / 100,
            "pandas_subset": f"every {every}th key of a and b (id % {every} = 0)",
            "repeats": args.repeats,
            "reladiff_threads": args.reladiff_threads,
            "cross_rows": args.cross_rows,
        },  # fmt: skip
        "truth": truth,
        **summary,
        "runs": bench.runs,
    }
    path = (
        Path(args.output)
        if args.output
        else RESULTS_DIR / ("diff.json" if args.rows == DEFAULT_ROWS else f"diff-{args.rows}.json")
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2, default=str) + "\n", encoding="utf-8")
    print_summary(out)
    print(f"wrote {path}", file=sys.stderr)
    if not args.keep and not args.workdir:
        shutil.rmtree(base, ignore_errors=True)
    return 0


def run_cross(bench: Bench, args: argparse.Namespace, truth: dict[str, Any], reladiff_ok: bool) -> None:
    from urllib.parse import parse_qs, urlsplit

    import pgserver  # dev dependency of dataplan: ships the Postgres binaries

    pgdata = bench.workdir / "pgdata"
    server = pgserver.get_server(pgdata, cleanup_mode="stop")
    try:
        uri = server.get_uri()
        db = str(bench.workdir / "cross.duckdb")
        setup = bench.child("cross_setup", "cross_setup", {"db": db, "pg_uri": uri, "rows": args.cross_rows})
        if not setup["ok"]:
            return
        truth["cross"], truth["cross_exact_cols"] = setup["truth"], setup["truth_exact_cols"]
        spec0 = {"db": db, "pg_uri": uri, "repeats": args.repeats}
        bench.child("dataplan_cross", "dp_cross", spec0)
        bench.child("dataplan_cross_exact_cols", "dp_cross", {**spec0, "columns": RELADIFF_CROSS_EXACT, "whole": False})
        if reladiff_ok:
            # reladiff ignores ?host= in a URI; libpq's PGHOST points it at pgserver's socket directory.
            parts = urlsplit(uri)
            host = parse_qs(parts.query).get("host", [""])[0]
            env = {**os.environ, "PGHOST": host} if host else dict(os.environ)
            for suffix, cols in (("", NAMES[1:]), ("_exact_cols", RELADIFF_CROSS_EXACT)):
                spec = {
                    "uri_a": "duckdb://" + db,
                    "table_a": "xt",
                    "uri_b": parts._replace(query="").geturl(),
                    "table_b": "xt",
                    "columns": cols,
                    "algorithm": "hashdiff",
                    "threads": args.reladiff_threads,
                }
                name = f"reladiff_cross_hashdiff{suffix}"
                bench.child(name, "reladiff", spec, python=args.reladiff_python, env=env)
    finally:
        server.cleanup()


def print_summary(out: dict[str, Any]) -> None:
    print(f"\n{out['config']['rows']:,} rows x {out['config']['columns']} columns; load at end: {out['uptime_at_end']}")
    print(f"{'approach':34} {'seconds':>10} {'wall':>9} {'peak MB':>9}  counts ok  load before -> after")
    for name, run in out["runs"].items():
        s = run.get("seconds", (run.get("bisect") or {}).get("seconds"))
        shown = "timeout" if run.get("timeout_seconds") else ("-" if s is None else f"{s:.2f}")
        ok = out["correct_counts"].get(name, out["correct_counts"].get(name + "_bisect", ""))
        print(f"{name:34} {shown:>10} {run.get('process_wall_seconds', 0):>9.1f} {run.get('peak_rss_mb', 0):>9.0f}"
              f"  {str(ok):9}  {run.get('load_before')} -> {run.get('load_after')}")  # fmt: skip
    print("ratios:", json.dumps(out["ratios"], indent=1))
    print("targets:", json.dumps(out["targets"], indent=1))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.diff_bench", description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="rows of table a (default 10,000,000)")
    p.add_argument("--repeats", type=int, default=3, help="repeats of the cheap runs (floor, key diffs, pandas)")
    p.add_argument("--pandas-rows", type=int, default=1_000_000, help="size of the pandas subset (every k-th key)")
    p.add_argument("--cross-rows", type=int, default=1_000_000, help="DuckDB vs Postgres table size (0: skip)")
    p.add_argument("--reladiff-python", default=DEFAULT_RELADIFF_PYTHON, help="python of reladiff's own venv")
    p.add_argument("--reladiff-threads", type=int, default=1, help="reladiff threads per database (its default: 1)")
    p.add_argument("--memory-limit", default="512MB",
                   help="also run the key and whole diffs with this DuckDB memory_limit ('': skip)")  # fmt: skip
    p.add_argument("--timeout", type=float, default=5400, help="seconds before one approach is killed")
    p.add_argument("--steps", help="comma list: floor,keydiff,diff,reladiff,pandas,cross (default all)")
    p.add_argument("--workdir", help="keep the data here and reuse it between runs (default: a temporary dir)")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    p.add_argument("--output", help="results file (default benchmarks/results/diff.json)")
    return parse_bench_args(p, argv)


def main(argv: list[str] | None = None) -> int:
    return worker_main(parse_args(argv), WORKERS, main_parent)


if __name__ == "__main__":
    raise SystemExit(main())
