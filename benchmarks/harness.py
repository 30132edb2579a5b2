"""What every benchmark script shares: running a worker in its own process and measuring it.

Only the standard library: diff_bench's reladiff and pandas workers import this module inside
reladiff's own venv, where dataplan is not installed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

RESULT_PREFIX = "RESULT:"
Worker = Callable[[dict[str, Any]], dict[str, Any]]


def load_avg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def uptime_text() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return ""


def run_child(
    cmd: list[str], *, timeout: float, env: dict[str, str] | None = None, cwd: Path | None = None
) -> dict[str, Any]:
    """Run one worker; its result, wall time, peak RSS (os.wait4) and the load average around it."""
    before = load_avg()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=cwd)
        killed = threading.Event()

        def kill() -> None:
            killed.set()
            proc.kill()

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    result: dict[str, Any] | None = None
    for line in stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            result = json.loads(line[len(RESULT_PREFIX) :])
    run: dict[str, Any] = {
        "ok": result is not None and proc.returncode == 0,
        "process_wall_seconds": round(wall, 3),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "load_before": before,
        "load_after": load_avg(),
    }
    if killed.is_set():
        run["timeout_seconds"] = timeout
        run["error"] = f"killed after {timeout:.0f} s"
    elif not run["ok"]:
        run["error"] = (stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1][:500]
        run["stderr_tail"] = stderr[-3000:]
    if result is not None:
        run.update(result)
    return run


def emit(result: dict[str, Any]) -> None:
    print(RESULT_PREFIX + json.dumps(result, default=str), flush=True)


def rss_mb() -> float:
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def load_average() -> dict[str, Any]:
    """The 1, 5 and 15 minute load averages and the `uptime` line, recorded before each measurement."""
    return {"load_1_5_15": load_avg(), "uptime": uptime_text()}


def parse_bench_args(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse a benchmark's options plus the hidden ``--worker``/``--spec`` its subprocesses get; ``argv``
    is kept for the command line recorded in the results."""
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.argv = list(argv if argv is not None else sys.argv[1:])
    return args


def worker_main(
    args: argparse.Namespace, workers: Mapping[str, Worker], parent: Callable[[argparse.Namespace], int]
) -> int:
    """``--worker NAME --spec JSON`` runs one worker and prints its result; otherwise the parent runs."""
    if args.worker:
        emit(workers[args.worker](json.loads(args.spec)))
        return 0
    return parent(args)
