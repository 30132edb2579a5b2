"""Plan benchmark: ``plan`` on a 1,000-model project with 10 and 100 directly modified models, against SQLMesh.

Measured as a script (never a timed test)::

    python -m benchmarks.plan_bench                       # 1,000 models, 10 and 100 changes, with SQLMesh
    python -m benchmarks.plan_bench --profile             # also time dataplan's plan stages and cProfile one plan
    python -m benchmarks.plan_bench --no-sqlmesh          # dataplan only

The project is the deterministic synthetic DAG of ``benchmarks.foundation`` (imported, not copied). It is
built into prod once; then, for each N, the SQL of N models spread evenly over the topological order (so
over every layer) is modified: every other one changes the expression of ``amount`` (a breaking change for
descendants reading it), the others add a column (non-breaking). The library call
``Warehouse.open(project).plan("prod", save=False)`` is timed on a freshly loaded project each repeat, with
the warehouse round trips it costs, and so is the CLI (``dataplan plan --format json`` in a subprocess).

SQLMesh runs on an equivalent project generated from the same DAG (``MODEL (name <layer>.<model>, kind
VIEW|FULL)`` headers, the same SQL with references qualified, a DuckDB gateway, the raw tables declared as
external models), installed in its own virtualenv (``--sqlmesh-venv``, default ``/tmp/sqlmesh-venv``; create
it with ``python -m venv /tmp/sqlmesh-venv && /tmp/sqlmesh-venv/bin/pip install sqlmesh``). Its prod is
created with ``sqlmesh plan --auto-apply --no-prompts``; after the same N modifications, ``sqlmesh plan
--no-prompts`` (prod, no apply: it computes and prints the plan, then its apply prompt reads end-of-file
from the closed standard input and aborts) is timed around a subprocess, and the in-process
``Context(paths=...)`` load and ``context.plan_builder("prod").build()`` separately.
Tools are interleaved within each repeat so that a change of machine load hits both.

Results are written to ``benchmarks/results/plan-duckdb.json``.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import json
import os
import pstats
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter
from pathlib import Path
from typing import Any

import sqlglot
import yaml
from sqlglot import exp

from benchmarks.foundation import (
    MARKER,
    RAW_DDL,
    GeneratedModel,
    StageTimer,
    create_raw_tables,
    machine,
    raw_rows,
    write_project,
)
from benchmarks.harness import load_average

RESULTS_DIR = Path(__file__).resolve().parent / "results"
PLAN_TARGETS_S = {10: 2.0, 100: 5.0}
DEFAULT_SQLMESH_VENV = Path("/tmp/sqlmesh-venv")
SUBPROCESS_TIMEOUT_S = 1800

# dataplan's plan stages timed by --profile (see foundation.StageTimer); a leading "  " marks a part of the
# stage above it.
PLAN_STAGES = [
    ("dataplan.state.store.StateStore", "is_initialized"),
    ("dataplan.state.store.StateStore", "environment_models"),
    ("dataplan.state.store.StateStore", "versions"),
    ("dataplan.build.versions.VersionWriter", "resolve"),
    ("dataplan.project", "  fingerprint_models"),
    ("dataplan.plan.changes.ChangeDetector", "detect"),
    ("dataplan.plan.changes.ChangeDetector", "  _direct"),
    ("dataplan.plan.changes.ChangeDetector", "  _indirect"),
    ("dataplan.plan.contracts.ContractDiffer", "diff"),
    ("dataplan.plan.contracts.ContractDiffer", "  new_columns"),
    ("dataplan.backends.duckdb.DuckDBBackend", "    describe"),
    ("dataplan.backends.base.Backend", "render"),
    ("dataplan.state.store.StateStore", "intervals"),
    ("dataplan.plan.builder", "exposure_impacts"),
    ("dataplan.plan.risk", "assess"),
    ("dataplan.plan.validation", "checks_for"),
]


def median(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


# -- the modifications -------------------------------------------------------------------------------


def pick_models(models: list[GeneratedModel], n: int) -> list[GeneratedModel]:
    """``n`` models spread evenly over the generation (topological) order, hence over every layer."""
    step = len(models) / n
    return [models[int(i * step)] for i in range(n)]


def modify_sql(sql: str, k: int) -> str:
    """The k-th modification: even k changes ``amount``'s expression, odd k adds a column."""
    tree = sqlglot.parse_one(sql, read="duckdb")
    assert isinstance(tree, exp.Select), "generated models end in a SELECT"
    if k % 2 == 0:
        for projection in tree.selects:
            if projection.alias_or_name == "amount":
                changed = exp.Mul(
                    this=exp.Paren(this=projection.unalias().copy()), expression=exp.Literal.number("1.01")
                )
                projection.replace(exp.alias_(changed, "amount"))
                break
        else:
            raise ValueError("a generated model without an amount column")
    else:
        tree = tree.select(exp.alias_(exp.Literal.number(k), f"bench_added_{k}"))
    return tree.sql(dialect="duckdb", pretty=True) + "\n"


# -- the equivalent SQLMesh project --------------------------------------------------------------------

SQLMESH_CONFIG = {
    "gateways": {"duckdb": {"connection": {"type": "duckdb", "database": "warehouse.duckdb"}}},
    "default_gateway": "duckdb",
    "model_defaults": {"dialect": "duckdb", "start": "2024-01-01"},
}


def qualified(sql: str, model: GeneratedModel, by_name: dict[str, GeneratedModel]) -> str:
    """``sql`` with bare parent references written ``<layer>.<name>`` (SQLMesh needs the schema)."""
    for parent in model.parents:
        layer = by_name[parent].layer
        sql = re.sub(rf"(?<![\w.]){re.escape(parent)}(?!\w)", f"{layer}.{parent}", sql)
    return sql


def sqlmesh_model_text(model: GeneratedModel, sql: str, by_name: dict[str, GeneratedModel]) -> str:
    kind = "FULL" if (model.config or {}).get("materialized") == "table" else "VIEW"
    header = f"MODEL (\n  name {model.layer}.{model.name},\n  kind {kind}\n);\n\n"
    return header + qualified(sql, model, by_name)


def external_models() -> list[dict[str, Any]]:
    out = []
    for ddl in RAW_DDL:
        tree = sqlglot.parse_one(ddl, read="duckdb")
        if not isinstance(tree, exp.Create) or not isinstance(tree.this, exp.Schema):
            continue
        target = tree.this.this
        columns = {c.name: c.args["kind"].sql("duckdb") for c in tree.this.expressions if isinstance(c, exp.ColumnDef)}
        out.append({"name": f"{target.db}.{target.name}", "columns": columns})
    return out


def raw_tables_sql() -> str:
    """The same raw tables and rows as foundation.create_raw_tables, as one DuckDB script."""
    stmts = list(RAW_DDL)
    for name, rows in raw_rows().items():
        stmts.append(exp.insert(exp.values(rows), exp.table_(name, db="raw")).sql(dialect="duckdb"))
    return ";\n".join(stmts) + ";\n"


def sqlmesh_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def write_sqlmesh_project(root: Path, models: list[GeneratedModel], venv: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / MARKER).write_text("generated by python -m benchmarks.plan_bench\n", encoding="utf-8")
    (root / "config.yaml").write_text(yaml.safe_dump(SQLMESH_CONFIG, sort_keys=False), encoding="utf-8")
    (root / "external_models.yaml").write_text(yaml.safe_dump(external_models(), sort_keys=False), encoding="utf-8")
    by_name = {m.name: m for m in models}
    for m in models:
        path = root / "models" / m.layer / f"{m.name}.sql"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(sqlmesh_model_text(m, m.sql, by_name), encoding="utf-8")
    script = root / "raw_tables.sql"
    script.write_text(raw_tables_sql(), encoding="utf-8")
    code = "import duckdb, sys; c = duckdb.connect(sys.argv[1]); c.execute(open(sys.argv[2]).read()); c.close()"
    subprocess.run(
        [str(sqlmesh_python(venv)), "-c", code, str(root / "warehouse.duckdb"), str(script)],
        check=True,
        timeout=SUBPROCESS_TIMEOUT_S,
    )


# Run by the SQLMesh virtualenv's Python: load a Context, build the prod plan (no apply), print figures.
SQLMESH_INPROCESS = textwrap.dedent(
    """
    import json, sys, time
    from collections import Counter
    t0 = time.perf_counter()
    from sqlmesh import Context
    t1 = time.perf_counter()
    ctx = Context(paths=sys.argv[1])
    t2 = time.perf_counter()
    plan = ctx.plan_builder("prod", skip_tests=True).build()
    t3 = time.perf_counter()
    indirect = {s for v in plan.indirectly_modified.values() for s in v}
    cats = Counter(str(getattr(s.change_category, "name", s.change_category)) for s in plan.new_snapshots)
    print(json.dumps({
        "import_s": t1 - t0, "context_load_s": t2 - t1, "plan_build_s": t3 - t2,
        "directly_modified": len(plan.directly_modified), "indirectly_modified": len(indirect),
        "new_snapshots": len(plan.new_snapshots), "change_categories": dict(cats),
    }))
    """
)


def run_timed(
    cmd: list[str], cwd: Path, env: dict[str, str] | None = None, declined: str | None = None
) -> tuple[float, str]:
    """Run ``cmd`` with no standard input; ``declined``: output showing the run stopped at that prompt, as wanted."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        cmd, cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=SUBPROCESS_TIMEOUT_S, env=env
    )
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0 and not (declined and declined in proc.stdout):
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return elapsed, proc.stdout


def sqlmesh_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("VIRTUAL_ENV", None)
    env["SQLMESH__DISABLE_ANONYMIZED_ANALYTICS"] = "1"
    return env


class SQLMesh:
    def __init__(self, root: Path, venv: Path) -> None:
        self.root = root
        self.venv = venv
        self.cli = str(venv / "bin" / "sqlmesh")

    def version(self) -> str:
        code = "import sqlmesh, sqlglot, duckdb; print(sqlmesh.__version__, sqlglot.__version__, duckdb.__version__)"
        _, out = run_timed([str(sqlmesh_python(self.venv)), "-c", code], self.root, sqlmesh_env())
        sm, sg, dd = out.split()
        return json.dumps({"sqlmesh": sm, "sqlglot": sg, "duckdb": dd})

    def create_prod(self) -> float:
        secs, _ = run_timed(
            [self.cli, "-p", str(self.root), "plan", "--auto-apply", "--no-prompts"], self.root, sqlmesh_env()
        )
        return secs

    def plan_cli(self) -> tuple[float, str]:
        """``sqlmesh plan --no-prompts``: computes and prints the plan, then its apply prompt reads EOF and aborts."""
        return run_timed(
            [self.cli, "-p", str(self.root), "plan", "--no-prompts"], self.root, sqlmesh_env(), declined="Apply - "
        )

    def plan_in_process(self) -> tuple[float, dict[str, Any]]:
        secs, out = run_timed(
            [str(sqlmesh_python(self.venv)), "-c", SQLMESH_INPROCESS, str(self.root)], self.root, sqlmesh_env()
        )
        return secs, json.loads(out.strip().splitlines()[-1])


# -- dataplan measurements -----------------------------------------------------------------------------


def dataplan_plan_once(root: Path) -> dict[str, Any]:
    """Load the project, open the warehouse, time ``plan("prod", save=False)`` only, count its round trips."""
    from dataplan import Project, Warehouse

    t0 = time.perf_counter()
    project = Project.load(root)
    load_s = time.perf_counter() - t0
    with Warehouse.open(project) as wh:
        describes = 0
        original = wh.backend.describe

        def counting_describe(query: exp.Query) -> Any:
            nonlocal describes
            describes += 1
            return original(query)

        wh.backend.describe = counting_describe  # type: ignore[method-assign]
        trips = wh.backend.round_trips
        c0, t0 = time.process_time(), time.perf_counter()
        plan = wh.plan("prod", save=False)
        plan_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0
        round_trips = wh.backend.round_trips - trips
    kinds = Counter(c.change for c in plan.changes)
    return {
        "load_s": load_s,
        "plan_s": plan_s,
        "plan_cpu_s": cpu_s,
        "round_trips": round_trips,
        "zero_row_describes": describes,
        "other_round_trips": round_trips - describes,
        "changes": len(plan.changes),
        "by_change": dict(kinds),
        "rebuilt": sum(1 for c in plan.changes if c.rebuild),
        "by_category": dict(Counter(c.category for c in plan.changes)),
        "contract_changes": len(plan.contract_changes),
    }


def dataplan_cli_once(root: Path) -> tuple[float, dict[str, Any]]:
    exe = Path(sys.executable).with_name("dataplan")
    cmd = [str(exe) if exe.exists() else sys.executable, *([] if exe.exists() else ["-m", "dataplan"])]
    secs, out = run_timed([*cmd, "plan", "-p", str(root), "--env", "prod", "--format", "json"], root)
    doc = json.loads(out)
    return secs, {"changes": len(doc.get("changes", []))}


def profile_plan(root: Path, top: int = 30) -> dict[str, str]:
    from dataplan import Project, Warehouse

    out: dict[str, str] = {}
    with Warehouse.open(Project.load(root)) as wh:
        out["stages (exact wall time per function, one plan call)"] = StageTimer(PLAN_STAGES).run(
            lambda: wh.plan("prod", save=False)
        )
    with Warehouse.open(Project.load(root)) as wh:
        prof = cProfile.Profile()
        prof.enable()
        wh.plan("prod", save=False)
        prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(top)
    text = buf.getvalue()
    out["cProfile (cumulative, inflated by tracing)"] = text[text.find("   ncalls") :].rstrip()
    return out


# -- the run -------------------------------------------------------------------------------------------


def rewrite(root: Path, models: list[GeneratedModel], picked: list[GeneratedModel], sm_root: Path | None) -> None:
    by_name = {m.name: m for m in models}
    for k, m in enumerate(picked):
        new_sql = modify_sql(m.sql, k)
        (root / "models" / m.layer / f"{m.name}.sql").write_text(new_sql, encoding="utf-8")
        if sm_root is not None:
            (sm_root / "models" / m.layer / f"{m.name}.sql").write_text(
                sqlmesh_model_text(m, new_sql, by_name), encoding="utf-8"
            )


def restore(root: Path, models: list[GeneratedModel], picked: list[GeneratedModel], sm_root: Path | None) -> None:
    by_name = {m.name: m for m in models}
    for m in picked:
        (root / "models" / m.layer / f"{m.name}.sql").write_text(m.sql, encoding="utf-8")
        if sm_root is not None:
            (sm_root / "models" / m.layer / f"{m.name}.sql").write_text(
                sqlmesh_model_text(m, m.sql, by_name), encoding="utf-8"
            )


def measure_n(
    n: int,
    root: Path,
    models: list[GeneratedModel],
    sqlmesh: SQLMesh | None,
    repeats: int,
    profile: bool,
) -> dict[str, Any]:
    picked = pick_models(models, n)
    rewrite(root, models, picked, sqlmesh.root if sqlmesh else None)
    result: dict[str, Any] = {
        "directly_modified": n,
        "modified_by_layer": dict(Counter(m.layer for m in picked)),
        "modifications": {"amount expression changed": (n + 1) // 2, "column added": n // 2},
        "load_before": load_average(),
        "dataplan_library": [],
        "dataplan_cli_s": [],
        "sqlmesh_cli_s": [],
        "sqlmesh_in_process": [],
    }
    try:
        for r in range(repeats):
            result.setdefault("load_per_repeat", []).append(load_average()["load_1_5_15"])
            print(f"  N={n} repeat {r + 1}/{repeats}: dataplan library", file=sys.stderr, flush=True)
            result["dataplan_library"].append(dataplan_plan_once(root))
            print(f"  N={n} repeat {r + 1}/{repeats}: dataplan CLI", file=sys.stderr, flush=True)
            secs, cli = dataplan_cli_once(root)
            result["dataplan_cli_s"].append(secs)
            result["dataplan_cli_changes"] = cli["changes"]
            if sqlmesh is not None:
                print(f"  N={n} repeat {r + 1}/{repeats}: sqlmesh plan (CLI)", file=sys.stderr, flush=True)
                secs, text = sqlmesh.plan_cli()
                result["sqlmesh_cli_s"].append(secs)
                result["sqlmesh_cli_output_tail"] = text[-1500:]
                print(f"  N={n} repeat {r + 1}/{repeats}: sqlmesh Context.plan_builder", file=sys.stderr, flush=True)
                secs, figures = sqlmesh.plan_in_process()
                figures["subprocess_s"] = secs
                result["sqlmesh_in_process"].append(figures)
        if profile:
            print(f"  N={n}: profiling one dataplan plan", file=sys.stderr, flush=True)
            result["profile"] = profile_plan(root)
    finally:
        restore(root, models, picked, sqlmesh.root if sqlmesh else None)
    runs = result["dataplan_library"]
    sm = result["sqlmesh_in_process"]
    result["summary"] = {
        "dataplan_plan_median_s": median([x["plan_s"] for x in runs]),
        "dataplan_plan_min_s": min(x["plan_s"] for x in runs),
        "dataplan_load_median_s": median([x["load_s"] for x in runs]),
        "dataplan_round_trips": sorted({x["round_trips"] for x in runs}),
        "dataplan_cli_median_s": median(result["dataplan_cli_s"]),
        "sqlmesh_cli_median_s": median(result["sqlmesh_cli_s"]),
        "sqlmesh_context_load_median_s": median([x["context_load_s"] for x in sm]),
        "sqlmesh_plan_build_median_s": median([x["plan_build_s"] for x in sm]),
        "target_s": PLAN_TARGETS_S.get(n),
    }
    return result


def fmt_s(x: float | None) -> str:
    return "-" if x is None else f"{x:,.2f} s"


def report(doc: dict[str, Any]) -> list[str]:
    lines = []
    for r in doc["results"]:
        s, n = r["summary"], r["directly_modified"]
        lib = r["dataplan_library"][0]
        target = s["target_s"]
        verdict = (
            ""
            if target is None
            else (f" -> {'MEETS' if s['dataplan_plan_median_s'] < target else 'MISSES'} the < {target:g} s target")
        )
        lines.append(
            f"N={n} modified ({r['modified_by_layer']}): dataplan plan() {fmt_s(s['dataplan_plan_median_s'])} median"
            f" (min {fmt_s(s['dataplan_plan_min_s'])}){verdict}; round trips {s['dataplan_round_trips']}"
            f" ({lib['zero_row_describes']} zero-row describes + {lib['other_round_trips']} state reads);"
            f" plan: {lib['changes']} changes {lib['by_change']}, {lib['rebuilt']} rebuilt"
        )
        lines.append(
            f"      Project.load {fmt_s(s['dataplan_load_median_s'])};"
            f" `dataplan plan` CLI {fmt_s(s['dataplan_cli_median_s'])};"
            f" `sqlmesh plan` CLI {fmt_s(s['sqlmesh_cli_median_s'])};"
            f" SQLMesh Context load {fmt_s(s['sqlmesh_context_load_median_s'])}"
            f" + plan_builder().build() {fmt_s(s['sqlmesh_plan_build_median_s'])}"
        )
        if r["sqlmesh_in_process"]:
            sm = r["sqlmesh_in_process"][0]
            lines.append(
                f"      SQLMesh plan: {sm['directly_modified']} directly,"
                f" {sm['indirectly_modified']} indirectly modified,"
                f" {sm['new_snapshots']} new snapshots {sm['change_categories']}"
            )
    return lines


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.plan_bench", description=__doc__.splitlines()[0])
    p.add_argument("--models", type=int, default=1000, help="project size")
    p.add_argument("--changes", default="10,100", help="comma-separated numbers of directly modified models")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--sqlmesh-venv", type=Path, default=DEFAULT_SQLMESH_VENV)
    p.add_argument("--no-sqlmesh", action="store_true", help="measure dataplan only")
    p.add_argument("--profile", action="store_true", help="time plan stages and cProfile one plan per N")
    p.add_argument("--out", type=Path, default=None, help="keep the generated projects here (default: temp)")
    p.add_argument("--results", type=Path, default=RESULTS_DIR / "plan-duckdb.json")
    return p.parse_args(argv)


def prepare_dir(path: Path) -> Path:
    if path.exists():
        if not (path / MARKER).exists():
            raise SystemExit(f"{path} exists and was not generated by a benchmark; refusing to overwrite")
        shutil.rmtree(path)
    return path


def main(argv: list[str] | None = None) -> int:
    from dataplan import Project, Warehouse

    args = parse_args(argv)
    changes = [int(x) for x in str(args.changes).split(",") if x.strip()]
    use_sqlmesh = not args.no_sqlmesh
    if use_sqlmesh and not (args.sqlmesh_venv / "bin" / "sqlmesh").exists():
        raise SystemExit(
            f"no sqlmesh in {args.sqlmesh_venv}: python -m venv {args.sqlmesh_venv} && "
            f"{args.sqlmesh_venv}/bin/pip install sqlmesh   (or pass --no-sqlmesh)"
        )
    doc: dict[str, Any] = {
        "benchmark": "plan",
        "engine": "duckdb",
        "command": "python -m benchmarks.plan_bench " + " ".join(sys.argv[1:] if argv is None else argv),
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "models": args.models,
        "repeats": args.repeats,
        "targets_s": {str(k): v for k, v in PLAN_TARGETS_S.items()},
    }
    with tempfile.TemporaryDirectory(prefix="dataplan-plan-bench-") as tmp:
        base = args.out.resolve() if args.out else Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        root = prepare_dir(base / f"dataplan-{args.models}")
        print(f"generating {args.models} models in {root}", file=sys.stderr, flush=True)
        models = write_project(root, args.models, {"type": "duckdb", "path": "warehouse.duckdb"})
        with Warehouse.open(Project.load(root)) as wh:
            create_raw_tables(wh)
            doc["load_before_dataplan_build"] = load_average()
            built = wh.build("prod")
            doc["dataplan_build_prod_s"] = built.seconds
            print(f"dataplan build prod: {built.seconds:.1f} s", file=sys.stderr, flush=True)
        sqlmesh: SQLMesh | None = None
        if use_sqlmesh:
            sm_root = prepare_dir(base / f"sqlmesh-{args.models}")
            write_sqlmesh_project(sm_root, models, args.sqlmesh_venv)
            sqlmesh = SQLMesh(sm_root, args.sqlmesh_venv)
            doc["sqlmesh_versions"] = json.loads(sqlmesh.version())
            doc["load_before_sqlmesh_build"] = load_average()
            doc["sqlmesh_create_prod_s"] = sqlmesh.create_prod()
            print(
                f"sqlmesh plan --auto-apply (prod): {doc['sqlmesh_create_prod_s']:.1f} s", file=sys.stderr, flush=True
            )
        doc["results"] = [measure_n(n, root, models, sqlmesh, args.repeats, args.profile) for n in changes]
    doc["verdicts"] = report(doc)
    for line in doc["verdicts"]:
        print(line)
    for r in doc["results"]:
        for what, text in r.get("profile", {}).items():
            print(f"\n=== N={r['directly_modified']}: {what} ===\n{text}")
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(doc, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"\nwrote {args.results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
