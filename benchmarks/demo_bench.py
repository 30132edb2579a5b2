"""Demo benchmark: data generation, the full build of the customer-lifecycle example, dashboard queries.

A script, never a timed test::

    python -m benchmarks.demo_bench                      # 1,000,000 customers
    python -m benchmarks.demo_bench --customers 100000
    python -m benchmarks.demo_bench --customers 100000 --engine postgres   # on a pgserver Postgres

Steps, each in its own subprocess (peak RSS from ``os.wait4``, load average recorded around it):

* ``generate``: copy the example project (``dataplan.demo.story.create_project``) into a temporary
  directory on the disk with the most free space and run ``dataplan.demo.generate.generate`` (the
  raw Parquet loads ``dataplan demo`` writes, seed 42);
* ``build``: the real CLI, ``dataplan build -p DIR --format json``, on an empty warehouse: its
  process wall time is the figure a user waits for; the JSON gives each model's seconds;
* ``dashboard``: every chart query ``dataplan dashboard`` runs (``dashboard.queries.chart_query`` on
  the prod view of the chart's model, exactly as ``dashboard.report.dashboard_sections`` builds it),
  each timed individually, median of ``--repeats``; then the whole ``Warehouse.dashboard("prod")``
  (queries + SVG + HTML), also median of ``--repeats``.

Targets: the full build under 2 minutes on 2 cores; every dashboard query under 2 s.
Results go to ``benchmarks/results/demo.json`` (``demo-<customers>.json`` for other sizes).

With ``--engine postgres`` the project is created as ``dataplan demo --engine postgres`` creates it and
built into a Postgres server started from the pgserver wheel in the work directory (a fresh database
per round), the raw files loaded into ``_dataplan_files`` by the build itself; results go to
``demo-postgres-<customers>.json``. The server's memory is not in the peak RSS figures (another process).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks.diff_bench import RESULTS_DIR, biggest_disk_dir, machine_info
from benchmarks.harness import load_avg, parse_bench_args, rss_mb, run_child, uptime_text, worker_main

DEFAULT_CUSTOMERS = 1_000_000
BUILD_TARGET_SECONDS = 120.0
QUERY_TARGET_SECONDS = 2.0
REPO = Path(__file__).resolve().parent.parent


def w_generate(spec: dict[str, Any]) -> dict[str, Any]:
    from dataplan.demo.generate import generate
    from dataplan.demo.story import create_project

    directory = Path(spec["dir"])
    create_project(directory, spec.get("engine", "duckdb"))
    t0 = time.perf_counter()
    result = generate(directory, customers=int(spec["customers"]), seed=42)
    seconds = time.perf_counter() - t0
    parquet = [p for p in result.files if p.suffix == ".parquet"]
    return {
        "seconds": round(seconds, 3),
        "rows": result.rows,
        "raw_rows": sum(result.rows.values()),
        "files": len(result.files),
        "parquet_mb": round(sum(p.stat().st_size for p in parquet) / 2**20, 1),
        "load_dates": [str(d) for d in result.load_dates],
        "peak_rss_mb_self": rss_mb(),
    }


def w_build(spec: dict[str, Any]) -> dict[str, Any]:
    """The real CLI, ``dataplan build -p DIR --format json``, timed from here (os.wait4 counts it in our peak)."""
    import subprocess

    cmd = [spec["dataplan"], "build", "-p", spec["dir"], "--format", "json"]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"dataplan build failed ({done.returncode}): {done.stderr[-2000:]}")
    return {"seconds": round(seconds, 3), "command": " ".join(cmd[:2] + ["-p", "DIR"] + cmd[4:]),
            "cli": json.loads(done.stdout)}  # fmt: skip


def w_dashboard(spec: dict[str, Any]) -> dict[str, Any]:
    from dataplan.backends.base import table
    from dataplan.dashboard.queries import chart_query
    from dataplan.dashboard.spec import ChartSpec
    from dataplan.warehouse import Warehouse

    repeats = int(spec["repeats"])
    charts: list[dict[str, Any]] = []
    with Warehouse.open(spec["dir"]) as wh:
        env = wh.store.environment_models("prod")
        project, backend = wh.project, wh.backend
        for exposure in project.exposures:
            if exposure.spec.type != "dashboard" or not exposure.spec.charts:
                continue
            for raw in exposure.spec.charts:
                chart = ChartSpec.model_validate(raw)
                entry = env[project.model(chart.model).name]
                query = chart_query(chart, table(entry.view_schema, entry.model))
                times, rows = [], 0
                for _ in range(repeats):
                    t0 = time.perf_counter()
                    rows = backend.fetch(query).num_rows
                    times.append(time.perf_counter() - t0)
                charts.append({
                    "exposure": exposure.name, "title": chart.title, "model": chart.model, "kind": chart.kind,
                    "sql": backend.render(query), "result_rows": rows, "seconds": [round(t, 4) for t in times],
                    "median_seconds": round(statistics.median(times), 4),
                })  # fmt: skip
        model_rows: dict[str, int] = {}
        for name in sorted({str(c["model"]) for c in charts}):
            entry = env[project.model(name).name]
            model_rows[name] = int(backend.fetch_value(_count(table(entry.view_schema, entry.model))))
        renders = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            wh.dashboard("prod", output=Path(spec["dir"]) / "reports" / "dashboard-bench.html")
            renders.append(time.perf_counter() - t0)
    return {
        "charts": charts,
        "chart_model_rows": model_rows,
        "slowest_query_seconds": max((float(c["median_seconds"]) for c in charts), default=None),
        "dashboard_render_seconds": [round(t, 3) for t in renders],
        "dashboard_render_median_seconds": round(statistics.median(renders), 3),
        "peak_rss_mb_self": rss_mb(),
    }


def _count(relation: Any) -> Any:
    from sqlglot import exp

    return exp.select(exp.Count(this=exp.Star())).from_(relation)


WORKERS = {"generate": w_generate, "build": w_build, "dashboard": w_dashboard}


def _env(spec: dict[str, Any]) -> dict[str, str] | None:
    """On Postgres, the children find the server where the project's dataplan.yml says: $WAREHOUSE_DSN."""
    from dataplan.demo.story import DSN_VARIABLE

    return {**os.environ, DSN_VARIABLE: spec["dsn"]} if spec.get("dsn") else None


def step(name: str, spec: dict[str, Any], runs: dict[str, Any], timeout: float) -> dict[str, Any]:
    print(f"[{time.strftime('%H:%M:%S')}] {name} ... (load {load_avg()})", file=sys.stderr, flush=True)
    cmd = [sys.executable, "-m", "benchmarks.demo_bench", "--worker", name, "--spec", json.dumps(spec)]
    run = run_child(cmd, timeout=timeout, cwd=REPO, env=_env(spec))
    run["uptime"] = uptime_text()
    runs[name] = run
    status = "ok" if run["ok"] else f"FAILED: {run.get('error')}"
    print(f"    {status}; wall={run['process_wall_seconds']} s peak_rss={run['peak_rss_mb']} MB", file=sys.stderr)
    return run


def one_round(args: argparse.Namespace, directory: Path, dsn: str | None = None) -> dict[str, Any]:
    """Generate, build and query once, in a fresh project directory with an empty warehouse."""
    if directory.exists():
        shutil.rmtree(directory)
    runs: dict[str, Any] = {}
    where = {"dsn": dsn} if dsn else {}
    spec = {"dir": str(directory), "customers": args.customers, "engine": args.engine, **where}
    gen = step("generate", spec, runs, args.timeout)
    if gen["ok"]:
        dataplan = str(Path(sys.executable).with_name("dataplan"))
        build = step("build", {"dir": str(directory), "dataplan": dataplan, **where}, runs, args.timeout)
        if build["ok"]:
            step("dashboard", {"dir": str(directory), "repeats": args.repeats, **where}, runs, args.timeout)
    return runs


@contextmanager
def databases(engine: str, base: Path) -> Iterator[Callable[[int], str | None]]:
    """Per round, where its warehouse is: None for DuckDB (a file in the project), else a fresh Postgres
    database on a server started from the pgserver wheel for the whole run."""
    if engine != "postgres":
        yield lambda _round: None
        return
    import pgserver
    import psycopg

    server = pgserver.get_server(base / "pgdata", cleanup_mode="stop")
    try:
        uri: str = server.get_uri()

        def fresh(round_no: int) -> str:
            name = f"demo_round_{round_no}"
            with psycopg.connect(uri, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}"'.encode())  # a fixed name of ours
                conn.execute(f'CREATE DATABASE "{name}"'.encode())
            return uri.replace("/postgres?", f"/{name}?")

        yield fresh
    finally:
        server.cleanup()


def main_parent(args: argparse.Namespace) -> int:
    base = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="dataplan-demo-bench-",
                                                                         dir=biggest_disk_dir()))  # fmt: skip
    started = dt.datetime.now(dt.UTC)
    rounds = []
    with databases(args.engine, base) as database:
        for i in range(args.rounds):
            print(f"round {i + 1}/{args.rounds}", file=sys.stderr)
            rounds.append(one_round(args, base / "customer_lifecycle", database(i + 1)))
    out = {
        "benchmark": "demo",
        "command": "python -m benchmarks.demo_bench " + " ".join(args.argv),
        "started_utc": started.isoformat(timespec="seconds"),
        "finished_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine_info(""),
        "uptime_at_end": uptime_text(),
        "workdir": str(base),
        "customers": args.customers,
        "engine": args.engine,
        "rounds": args.rounds,
        "query_repeats": args.repeats,
        **summarize(rounds),
        "runs": rounds,
    }
    out["machine"].pop("reladiff_venv_packages", None)
    default_name = "demo.json" if args.customers == DEFAULT_CUSTOMERS else f"demo-{args.customers}.json"
    if args.engine == "postgres":
        default_name = f"demo-postgres-{args.customers}.json"
    path = Path(args.output) if args.output else RESULTS_DIR / default_name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2, default=str) + "\n", encoding="utf-8")
    print_summary(out)
    print(f"wrote {path}", file=sys.stderr)
    if not args.keep and not args.workdir:
        shutil.rmtree(base, ignore_errors=True)
    return 0 if all(r.get("ok") for runs in rounds for r in runs.values()) else 1


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def summarize(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    def ok(name: str) -> list[dict[str, Any]]:
        return [r[name] for r in rounds if (r.get(name) or {}).get("ok")]

    generation = [float(g["seconds"]) for g in ok("generate")]
    builds = ok("build")
    walls = [float(b["seconds"]) for b in builds]
    per_model: dict[str, list[float]] = {}
    kinds: dict[str, str] = {}
    for b in builds:
        for a in b["cli"].get("actions", []):
            per_model.setdefault(a["fqn"], []).append(float(a["seconds"]))
            kinds[a["fqn"]] = a["materialized"]
    models = sorted(per_model, key=lambda f: -statistics.median(per_model[f]))
    queries: dict[str, list[float]] = {}
    for d in ok("dashboard"):
        for c in d["charts"]:
            queries.setdefault(c["title"], []).append(float(c["median_seconds"]))
    slowest = max((s for v in queries.values() for s in v), default=None)
    worst_build = max(walls, default=None)
    return {
        "generation_seconds": {"rounds": generation, "median": _median(generation)},
        "build_wall_seconds": {"rounds": walls, "median": _median(walls), "max": worst_build},
        "build_seconds_in_process": [round(float(b["cli"]["seconds"]), 3) for b in builds],
        "build_round_trips": [b["cli"].get("round_trips") for b in builds],
        "build_per_model_median": [
            {"fqn": f, "materialized": kinds[f], "seconds": _median(per_model[f])} for f in models
        ],
        "dashboard_query_seconds": {t: {"per_round_median_of_repeats": v, "max": max(v)} for t, v in queries.items()},
        "dashboard_render_median_seconds": [d["dashboard_render_median_seconds"] for d in ok("dashboard")],
        "targets": {
            "build_under_2_minutes": {
                "target_seconds": BUILD_TARGET_SECONDS,
                "measured_max_over_rounds": worst_build,
                "met": None if worst_build is None else worst_build < BUILD_TARGET_SECONDS,
            },
            "every_dashboard_query_under_2s": {
                "target_seconds": QUERY_TARGET_SECONDS,
                "measured_slowest": slowest,
                "met": None if slowest is None else slowest < QUERY_TARGET_SECONDS,
            },
        },
    }


def print_summary(out: dict[str, Any]) -> None:
    print(f"\n{out['customers']:,} customers on {out.get('engine', 'duckdb')}; load at end: {out['uptime_at_end']}")
    for i, runs in enumerate(out["runs"], start=1):
        for name, run in runs.items():
            print(f"round {i} {name:10} ok={run['ok']} seconds={run.get('seconds', '-')} "
                  f"wall={run['process_wall_seconds']:.1f}s peak_rss={run['peak_rss_mb']:.0f} MB "
                  f"load {run['load_before']} -> {run['load_after']}")  # fmt: skip
    print(f"generation {out['generation_seconds']}; build {out['build_wall_seconds']} (wall, s)")
    for m in out["build_per_model_median"][:8]:
        print(f"  {m['fqn']:42} {m['materialized']:10} {m['seconds']:8.2f} s")
    for title, q in out["dashboard_query_seconds"].items():
        print(f"  query {title:40} max {q['max'] * 1000:8.1f} ms")
    print("targets:", json.dumps(out["targets"], indent=1))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.demo_bench", description=__doc__.splitlines()[0])
    p.add_argument("--customers", type=int, default=DEFAULT_CUSTOMERS, help="billing customers (default 1,000,000)")
    p.add_argument("--rounds", type=int, default=3, help="generate + build + query rounds, each from scratch")
    p.add_argument("--repeats", type=int, default=3, help="repeats of each dashboard query (median reported)")
    p.add_argument("--timeout", type=float, default=3600, help="seconds before one step is killed")
    p.add_argument("--workdir", help="work here instead of a temporary directory (its project is recreated)")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    p.add_argument("--output", help="results file (default benchmarks/results/demo.json)")
    p.add_argument("--engine", choices=["duckdb", "postgres"], default="duckdb", help="the warehouse (default duckdb)")
    return parse_bench_args(p, argv)


def main(argv: list[str] | None = None) -> int:
    return worker_main(parse_args(argv), WORKERS, main_parent)


if __name__ == "__main__":
    raise SystemExit(main())
