"""`dataplan test` on the demo: views with several tests computed once for them, against once per test.

A script, never a timed test::

    python -m benchmarks.test_bench --project /tmp/demo1m        # a demo already built (`dataplan demo DIR`)
    python -m benchmarks.test_bench --customers 100000           # generates and builds one first

Steps, each in its own subprocess (peak RSS from ``os.wait4``, load average recorded around it), in the
order given by ``--order`` so that a drift of the machine's speed shows:

* ``copies``: ``Warehouse.test("prod")`` as dataplan runs it: a view with several tests is computed once
  into a temporary table (``Backend.scratch_copy``) and its tests read that;
* ``per_test``: the same run with ``scratch_copy`` made to fail, so that every test reads the view and
  recomputes it (dataplan's fallback, and what running each test as its own query costs, as dbt does);
* ``cli``: the real CLI, ``dataplan test -p DIR --format json``, timed around the process.

Both in-process runs must give the same outcome and failing-row count for every test: the script
checks it. Results go to ``benchmarks/results/test.json`` (``test-<customers>.json`` for a generated size).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.diff_bench import RESULTS_DIR, machine_info
from benchmarks.harness import parse_bench_args, run_child, uptime_text, worker_main

REPO = Path(__file__).resolve().parent.parent


def _run_tests(directory: str, copies: bool) -> dict[str, Any]:
    from dataplan import Warehouse
    from dataplan.backends.base import Backend
    from dataplan.errors import EngineError

    if not copies:

        def refuse(*args: object, **kwargs: object) -> Any:
            raise EngineError("copies disabled by the benchmark")

        for cls in [Backend, *Backend.__subclasses__()]:
            cls.scratch_copy = refuse  # type: ignore[method-assign,assignment]
    with Warehouse.open(Path(directory)) as wh:
        t0 = time.perf_counter()
        run = wh.test("prod")
        seconds = time.perf_counter() - t0
    by_node: dict[str, float] = {}
    for r in run.results:
        by_node[r.node] = by_node.get(r.node, 0.0) + r.seconds
    for c in run.copies:
        by_node[c.node] = by_node.get(c.node, 0.0) + c.seconds
    return {
        "seconds": round(seconds, 3),
        "tests": len(run.results),
        "outcomes": sorted([r.node, r.test, r.outcome, r.failing_rows] for r in run.results),
        "copies": [{"node": c.node, "seconds": round(c.seconds, 3)} for c in run.copies],
        "seconds_by_node": {n: round(s, 3) for n, s in sorted(by_node.items(), key=lambda kv: -kv[1])},
    }


def w_copies(spec: dict[str, Any]) -> dict[str, Any]:
    return _run_tests(spec["dir"], copies=True)


def w_per_test(spec: dict[str, Any]) -> dict[str, Any]:
    return _run_tests(spec["dir"], copies=False)


def w_cli(spec: dict[str, Any]) -> dict[str, Any]:
    cmd = [spec["dataplan"], "test", "-p", spec["dir"], "--format", "json"]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - t0
    if done.returncode not in (0, 1):  # 1: a test failed, still a measured run
        raise SystemExit(f"dataplan test failed ({done.returncode}): {done.stderr[-2000:]}")
    tests = len(json.loads(done.stdout)["results"])
    return {"seconds": round(seconds, 3), "exit_code": done.returncode, "tests": tests}


WORKERS = {"copies": w_copies, "per_test": w_per_test, "cli": w_cli}


def _prepare(customers: int, base: Path) -> Path:
    """A demo project with its prod built: the demo's own generator and the real CLI."""
    from dataplan.demo.generate import generate
    from dataplan.demo.story import create_project

    directory = base / "customer_lifecycle"
    create_project(directory)
    generate(directory, customers=customers, seed=42)
    dataplan = str(Path(sys.executable).with_name("dataplan"))
    subprocess.run([dataplan, "build", "-p", str(directory), "--format", "json"], check=True, capture_output=True)
    return directory


def main_parent(args: argparse.Namespace) -> int:
    started = dt.datetime.now(dt.UTC)
    if args.project:
        directory = Path(args.project)
    else:
        directory = _prepare(args.customers, Path(tempfile.mkdtemp(prefix="dataplan-test-bench-")))
    spec = {"dir": str(directory), "dataplan": str(Path(sys.executable).with_name("dataplan"))}
    runs: dict[str, Any] = {}
    for name in args.order.split(","):
        print(f"[{time.strftime('%H:%M:%S')}] {name} ...", file=sys.stderr, flush=True)
        cmd = [sys.executable, "-m", "benchmarks.test_bench", "--worker", name, "--spec", json.dumps(spec)]
        run = run_child(cmd, timeout=args.timeout, cwd=REPO)
        run["uptime"] = uptime_text()
        runs[name] = run
        print(f"    {'ok' if run['ok'] else 'FAILED: ' + str(run.get('error'))}; "
              f"{run.get('seconds')} s, peak RSS {run['peak_rss_mb']} MB", file=sys.stderr)  # fmt: skip
    same = None
    if runs.get("copies", {}).get("ok") and runs.get("per_test", {}).get("ok"):
        same = runs["copies"]["outcomes"] == runs["per_test"]["outcomes"]
    out = {
        "benchmark": "test",
        "command": "python -m benchmarks.test_bench " + " ".join(args.argv),
        "started_utc": started.isoformat(timespec="seconds"),
        "finished_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine_info(""),
        "project": str(directory),
        "same_outcomes": same,
        "runs": runs,
    }
    out["machine"].pop("reladiff_venv_packages", None)
    name = "test.json" if args.project or args.customers == 1_000_000 else f"test-{args.customers}.json"
    path = Path(args.output) if args.output else RESULTS_DIR / name
    path.write_text(json.dumps(out, indent=2, default=str) + "\n", encoding="utf-8")
    for step, run in runs.items():
        print(f"{step:>9}: {run.get('seconds')} s ({run.get('tests')} tests)")
    print(f"same outcomes and failing-row counts: {same}; wrote {path}")
    return 0 if all(r.get("ok") for r in runs.values()) and same is not False else 1


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.test_bench", description=__doc__.splitlines()[0])
    p.add_argument("--project", help="a demo project whose prod is built (default: generate one)")
    p.add_argument("--customers", type=int, default=100_000, help="customers of a generated demo (no --project)")
    p.add_argument("--order", default="per_test,copies,cli", help="the steps, in order")
    p.add_argument("--timeout", type=float, default=3600, help="seconds before one step is killed")
    p.add_argument("--output", help="results file (default benchmarks/results/test.json)")
    return parse_bench_args(p, argv)


def main(argv: list[str] | None = None) -> int:
    return worker_main(parse_args(argv), WORKERS, main_parent)


if __name__ == "__main__":
    raise SystemExit(main())
