"""Foundation benchmark: project loading and (no-op) builds on a synthetic project of N models.

Issue 2's performance requirement, measured as a script (never a timed test)::

    python -m benchmarks.foundation --models 100,1000 --engine duckdb
    python -m benchmarks.foundation --models 1000 --engine postgres

For each N it generates a deterministic project (seeded random DAG of staging,
intermediate and marts models over a few raw warehouse tables), creates the raw
tables through the dataplan backend, then measures:

* ``load``: ``Project.load`` (parse, resolve, graph, cycle check), repeated;
* ``fingerprints``: ``project.fingerprints`` on a freshly loaded project, repeated;
* ``first build``: ``wh.build("prod")`` on an empty warehouse;
* ``no-op build``: ``wh.build("prod")`` again (must be ``nothing_to_do``), repeated,
  with its round trips (statements sent to the warehouse);
* ``cold no-op``: what ``dataplan build`` costs a user: load + connect + no-op build;
* ``dry run``: ``wh.build("prod", dry_run=True)`` before the first build and after it.

Results are printed as a table and written to ``benchmarks/results/foundation-<engine>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from string import Template
from typing import Any

import yaml

RESULTS_DIR = Path(__file__).resolve().parent / "results"
MARKER = ".dataplan-benchmark"  # only directories carrying it are ever deleted by --out
SEED = 20240601
REPEATS = 5

# -- raw source tables -------------------------------------------------------------------------

RAW_DDL = [
    "create schema if not exists raw",
    "create table raw.customers (customer_id varchar, name varchar, region varchar, signup_date date)",
    "create table raw.products (product_id varchar, category varchar, price double)",
    "create table raw.orders (order_id integer, customer_id varchar, product_id varchar, quantity integer,"
    " amount double, status varchar, ordered_at date)",
    "create table raw.payments (payment_id integer, order_id integer, customer_id varchar, method varchar,"
    " amount double, paid_at date)",
    "create table raw.events (event_id integer, customer_id varchar, event_type varchar, occurred_at date)",
]
REGIONS = ["eu", "us", "apac", "latam"]
CATEGORIES = ["books", "games", "garden", "tools", "toys"]
STATUSES = ["paid", "paid", "paid", "refunded", "test"]
METHODS = ["card", "invoice", "wallet"]
EVENT_TYPES = ["login", "view", "cart", "checkout"]
N_CUSTOMERS, N_PRODUCTS, N_ORDERS, N_PAYMENTS, N_EVENTS = 200, 50, 500, 400, 600


def _day(rng: random.Random) -> str:
    return (dt.date(2024, 1, 1) + dt.timedelta(days=rng.randrange(365))).isoformat()


def raw_rows() -> dict[str, list[tuple[Any, ...]]]:
    """A few hundred deterministic rows per raw table."""
    rng = random.Random(SEED)
    cust = [f"c{i:04d}" for i in range(N_CUSTOMERS)]
    prod = [f"p{i:03d}" for i in range(N_PRODUCTS)]
    return {
        "customers": [(c, f"Customer {c}", rng.choice(REGIONS), _day(rng)) for c in cust],
        "products": [(p, rng.choice(CATEGORIES), round(rng.uniform(2, 200), 2)) for p in prod],
        "orders": [
            (
                i,
                rng.choice(cust),
                rng.choice(prod),
                rng.randint(1, 5),
                round(rng.uniform(1, 500), 2),
                rng.choice(STATUSES),
                _day(rng),
            )
            for i in range(N_ORDERS)
        ],
        "payments": [
            (
                i,
                rng.randrange(N_ORDERS),
                rng.choice(cust),
                rng.choice(METHODS),
                round(rng.uniform(1, 500), 2),
                _day(rng),
            )
            for i in range(N_PAYMENTS)
        ],
        "events": [(i, rng.choice(cust), rng.choice(EVENT_TYPES), _day(rng)) for i in range(N_EVENTS)],
    }


def create_raw_tables(wh: Any) -> None:
    """Benchmark setup SQL: fixed DDL plus generated VALUES, all sent through the dataplan backend."""
    import sqlglot
    from sqlglot import exp

    for stmt in RAW_DDL:
        wh.backend.execute(sqlglot.parse_one(stmt, read="duckdb"))
    for name, rows in raw_rows().items():
        wh.backend.execute(exp.insert(exp.values(rows), exp.table_(name, db="raw")))


SOURCES_YML = {
    "sources": [
        {
            "name": "raw",
            "schema": "raw",
            "tables": [
                {"name": "customers", "columns": [{"name": "customer_id", "tests": ["not_null", "unique"]}]},
                {"name": "products", "columns": [{"name": "product_id", "tests": ["unique"]}]},
                {"name": "orders", "columns": [{"name": "order_id", "tests": ["not_null", "unique"]}]},
                {"name": "payments"},
                {"name": "events"},
            ],
        }
    ]
}

# -- model SQL -----------------------------------------------------------------------------------
# Every model outputs the same columns so any model can read any earlier one:
#   entity_id varchar, customer_id varchar, region varchar, category varchar,
#   amount double, qty bigint, event_date date

STAGING = {
    "customers": """
        -- customers, one row each
        select
            customer_id as entity_id,
            customer_id,
            region,
            case when signup_date < date '$since' then 'early' else 'late' end as category,
            cast(0 as double) as amount,
            cast(1 as bigint) as qty,
            signup_date as event_date
        from raw.customers
        where region <> '$skip_region'
    """,
    "orders": """
        select
            cast(o.order_id as varchar) as entity_id,
            o.customer_id,
            c.region,
            coalesce(p.category, 'unknown') as category,
            o.amount,
            cast(o.quantity as bigint) as qty,
            o.ordered_at as event_date
        from raw.orders o
        join raw.customers c on c.customer_id = o.customer_id
        left join raw.products p on p.product_id = o.product_id
        where o.status <> 'test' and o.amount >= $min_amount
    """,
    "payments": """
        select
            'pay' || cast(pm.payment_id as varchar) as entity_id,
            pm.customer_id,
            c.region,
            pm.method as category,
            pm.amount,
            cast(1 as bigint) as qty,
            pm.paid_at as event_date
        from raw.payments pm
        inner join raw.customers c on c.customer_id = pm.customer_id
        where pm.amount >= $min_amount
    """,
    "events": """
        with ev as (
            select event_id, customer_id, event_type, occurred_at
            from raw.events
            where occurred_at >= date '$since'
        )
        select
            'ev' || cast(ev.event_id as varchar) as entity_id,
            ev.customer_id,
            c.region,
            ev.event_type as category,
            cast(case when ev.event_type = 'checkout' then 1 else 0 end as double) as amount,
            cast(1 as bigint) as qty,
            ev.occurred_at as event_date
        from ev
        left join raw.customers c on c.customer_id = ev.customer_id
    """,
    "products": """
        -- product revenue attributed to buying customers
        select
            o.customer_id || ':' || p.product_id as entity_id,
            o.customer_id,
            max(c.region) as region,
            max(p.category) as category,
            sum(o.quantity * p.price) as amount,
            count(*) as qty,
            max(o.ordered_at) as event_date
        from raw.products p
        join raw.orders o on o.product_id = p.product_id
        join raw.customers c on c.customer_id = o.customer_id
        where p.price >= $min_amount
        group by o.customer_id, p.product_id
    """,
}

ONE_PARENT_AGG = """
    -- one row per customer and region
    with base as (
        select customer_id, region, category, amount, qty, event_date
        from $p1
        where amount >= $threshold
    )
    select
        customer_id || '-' || coalesce(region, 'none') as entity_id,
        customer_id,
        region,
        case when sum(amount) > $high then 'high' when sum(amount) > $low then 'mid' else 'low' end as category,
        sum(amount) as amount,
        count(*) as qty,
        max(event_date) as event_date
    from base
    group by customer_id, region
"""

ONE_PARENT_ROWS = """
    select
        entity_id,
        customer_id,
        region,
        case when amount > $high then 'large' when amount > $low then 'medium' else 'small' end as category,
        amount * $factor as amount,
        qty,
        event_date
    from $p1
    where event_date >= date '$since'
"""

TWO_PARENTS = """
    with a as (
        select customer_id, max(region) as region, sum(amount) as amount, sum(qty) as qty,
            max(event_date) as event_date
        from $p1
        group by customer_id
    ),
    b as (
        select customer_id, sum(amount) as amount, count(*) as n
        from $p2
        group by customer_id
    )
    select
        a.customer_id as entity_id,
        a.customer_id,
        a.region,
        case
            when b.customer_id is null then 'only_left'
            when a.amount >= b.amount + $margin then 'left_heavy'
            else 'right_heavy'
        end as category,
        a.amount + coalesce(b.amount, 0) as amount,
        a.qty + coalesce(b.n, 0) as qty,
        a.event_date
    from a
    left join b on b.customer_id = a.customer_id
"""

THREE_PARENTS = """
    with unioned as (
        select customer_id, region, amount, qty, event_date from $p1
        union all
        select customer_id, region, amount, qty, event_date from $p2
    ),
    third as (
        select customer_id, count(*) as n, max(category) as top_category
        from $p3
        group by customer_id
    )
    select
        u.customer_id || '-' || coalesce(u.region, 'none') as entity_id,
        u.customer_id,
        u.region,
        case when sum(u.amount) > $cut then coalesce(max(t.top_category), 'none') else 'small' end as category,
        sum(u.amount) as amount,
        sum(u.qty) + coalesce(max(t.n), 0) as qty,
        max(u.event_date) as event_date
    from unioned u
    left join third t on t.customer_id = u.customer_id
    group by u.customer_id, u.region
"""


def render(template: str, **values: object) -> str:
    return textwrap.dedent(Template(template).substitute(values)).strip() + "\n"


# -- project generation --------------------------------------------------------------------------


@dataclass
class GeneratedModel:
    name: str
    layer: str
    level: int
    sql: str
    parents: list[str] = field(default_factory=list)
    config: dict[str, Any] | None = None


def _layout(n: int) -> list[tuple[str, int]]:
    """(layer, level) per model: 10% staging, 60% intermediate (3 levels), 30% marts (2 levels)."""
    n_staging = max(5, n // 10)
    n_marts = max(1, (n - n_staging) * 3 // 10)
    n_inter = n - n_staging - n_marts
    out = [("staging", 0)] * n_staging
    out += [("intermediate", 1 + i * 3 // max(1, n_inter)) for i in range(n_inter)]
    out += [("marts", 4 + i * 2 // n_marts) for i in range(n_marts)]
    return out


def generate_models(n: int, seed: int = SEED) -> list[GeneratedModel]:
    """A deterministic layered DAG; each non-staging model reads 1-3 models of lower levels.

    Every model's SQL differs (thresholds derived from its index ``i``) so fingerprints are
    unique, as in a real project: identical models would share a fingerprint.
    """
    rng = random.Random(seed)
    models: list[GeneratedModel] = []
    by_level: dict[int, list[GeneratedModel]] = {}
    sources = list(STAGING)
    for i, (layer, level) in enumerate(_layout(n)):
        if layer == "staging":
            src = sources[i % len(sources)]
            sql = render(
                STAGING[src],
                skip_region=rng.choice(REGIONS),
                min_amount=f"{i / 4:.2f}",
                since=(dt.date(2024, 1, 1) + dt.timedelta(days=i)).isoformat(),
            )
            model = GeneratedModel(f"stg_{src}_{i:04d}", layer, level, sql)
        else:
            pool = by_level.get(level - 1, []) if rng.random() < 0.7 else []
            if not pool:
                pool = [m for lv, ms in by_level.items() if lv < level for m in ms]
            k = min(len(pool), rng.choices([1, 2, 3], weights=[4, 4, 2])[0])
            parents = rng.sample(pool, k)
            refs = [p.name if rng.random() < 0.2 else f"{p.layer}.{p.name}" for p in parents]
            low = rng.choice([10, 20, 50])
            args: dict[str, object] = {f"p{j + 1}": r for j, r in enumerate(refs)}
            if k == 1 and rng.random() < 0.5:
                template = ONE_PARENT_AGG
                args.update(threshold=rng.choice([0, 1, 5]), low=low, high=low * 10 + i)
            elif k == 1:
                template = ONE_PARENT_ROWS
                since = dt.date(2024, 1, 1) + dt.timedelta(days=rng.randrange(180))
                args.update(low=low, high=low * 10 + i, factor=rng.choice(["1.1", "0.9", "1.0"]), since=since)
            else:
                template = TWO_PARENTS if k == 2 else THREE_PARENTS
                args.update(margin=i, cut=i * 10)
            prefix = "int" if layer == "intermediate" else "fct"
            model = GeneratedModel(f"{prefix}_{i:04d}", layer, level, render(template, **args))
            model.parents = [p.name for p in parents]
        model.config = _config(rng, model)
        models.append(model)
        by_level.setdefault(level, []).append(model)
    return models


def _config(rng: random.Random, model: GeneratedModel) -> dict[str, Any] | None:
    """YAML config for ~35% of models: ~20% of all are tables, some declare grain and column tests."""
    table = rng.random() < 0.2
    if not table and rng.random() > 0.2:
        return None
    grain_ok = "group by customer_id" in model.sql or model.sql.count("group by") == 3 or model.layer == "staging"
    cfg: dict[str, Any] = {"name": model.name, "description": f"Synthetic {model.layer} model {model.name}."}
    if table:
        cfg["materialized"] = "table"
    if grain_ok and rng.random() < 0.6:
        cfg["grain"] = ["entity_id"]
    columns: list[dict[str, Any]] = [
        {"name": "entity_id", "type": "varchar", "tests": ["not_null"]},
        {"name": "customer_id", "type": "varchar", "description": "Customer id"},
    ]
    if "then 'high'" in model.sql:
        columns.append({"name": "category", "tests": [{"accepted_values": {"values": ["high", "mid", "low"]}}]})
    if rng.random() < 0.3:
        cfg["tests"] = [{"row_count": {"min": 1}}, {"expression": "qty >= 0", "severity": "warn"}]
    cfg["columns"] = columns
    return cfg


def write_project(root: Path, n: int, connection: dict[str, str]) -> list[GeneratedModel]:
    root.mkdir(parents=True, exist_ok=True)
    (root / MARKER).write_text("generated by python -m benchmarks.foundation\n", encoding="utf-8")
    settings = {
        "name": f"bench_{n}",
        "connection": connection,
        "layers": {"staging": "staging", "intermediate": "intermediate", "marts": "marts"},
        "defaults": {"materialized": "view"},
    }
    (root / "dataplan.yml").write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")
    (root / "sources.yml").write_text(yaml.safe_dump(SOURCES_YML, sort_keys=False), encoding="utf-8")
    models = generate_models(n)
    configs: dict[str, list[dict[str, Any]]] = {}
    for m in models:
        path = root / "models" / m.layer / f"{m.name}.sql"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(m.sql, encoding="utf-8")
        if m.config:
            configs.setdefault(m.layer, []).append(m.config)
    for layer, entries in configs.items():
        text = yaml.safe_dump({"models": entries}, sort_keys=False)
        (root / "models" / layer / "_models.yml").write_text(text, encoding="utf-8")
    return models


# -- measuring -----------------------------------------------------------------------------------


@dataclass
class Timing:
    runs: list[float]  # wall seconds (time.perf_counter)
    cpu: list[float] = field(default_factory=list)  # this process's CPU seconds (time.process_time)

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    @property
    def min(self) -> float:
        return min(self.runs)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"median_s": self.median, "min_s": self.min, "runs_s": self.runs}
        if self.cpu:
            out["cpu_median_s"] = statistics.median(self.cpu)
            out["cpu_runs_s"] = self.cpu
        return out


@dataclass
class RunResult:
    models: int
    engine: str
    tables: int
    views: int
    max_depth: int
    distinct_fingerprints: int
    load: Timing
    first_load: Timing  # empty parse cache: every model parsed
    fingerprints: Timing
    first_build_s: float
    first_build_created: int
    first_build_round_trips: int
    noop_build: Timing
    noop_round_trips: list[int]
    noop_nothing_to_do: list[bool]
    cold_noop: Timing
    dry_run_empty_s: float
    dry_run: Timing
    dry_run_round_trips: int
    profile: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("load", "fingerprints", "noop_build", "cold_noop", "dry_run"):
            out[key] = getattr(self, key).as_dict()
        return out


def timed(fn: Callable[[], Any], repeats: int = 1) -> tuple[Timing, Any]:
    timing, value = Timing([]), None
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        value = fn()
        timing.runs.append(time.perf_counter() - t0)
        timing.cpu.append(time.process_time() - c0)
    return timing, value


# (module, attribute) pairs timed by --profile, in report order; a leading "  " marks a part of the
# entry above it. Attributes that no longer exist are skipped.
LOAD_STAGES = [
    ("dataplan.project.loader", "load_config"),
    ("dataplan.project.loader.ProjectLoader", "_sources"),
    ("dataplan.project.loader.ProjectLoader", "_models"),
    ("dataplan.project.loader", "  parse_query"),
    ("dataplan.project.loader.ProjectLoader", "_apply_specs"),
    ("dataplan.project.loader", "  load_yaml"),
    ("dataplan.project.yamlfile.yaml", "    compose"),
    ("dataplan.project.yamlfile.yaml", "    safe_load"),
    ("dataplan.project.loader", "  _check_types"),
    ("dataplan.project.loader", "  _parse_tests"),
    ("dataplan.project.loader.ProjectLoader", "_resolve"),
    ("dataplan.project.loader", "  make_resolver"),
    ("dataplan.project.loader", "  resolve_references"),
    ("dataplan.project.loader.ProjectLoader", "_exposures"),
    ("dataplan.project.loader.ProjectLoader", "_singular_tests"),
    ("dataplan.project", "ModelGraph"),
]
FINGERPRINT_STAGES = [("dataplan.project.fingerprint", "normalized_sql")]
BUILD_STAGES = [
    ("dataplan.build.builder.Builder", "plan_build"),
    ("dataplan.state.store.StateStore", "  is_initialized"),
    ("dataplan.build.versions.VersionWriter", "  resolve"),
    ("dataplan.state.store.StateStore", "    versions"),
    ("dataplan.state.store.StateStore", "  environment_models"),
    ("dataplan.project.graph.ModelGraph", "  upstream"),
    ("dataplan.build.versions.VersionWriter", "  check_recorded_contract"),
    ("dataplan.backends.base.Backend", "render"),
    ("dataplan.backends.duckdb.DuckDBBackend", "_run"),
    ("dataplan.backends.postgres.PostgresBackend", "_run"),
]


class StageTimer:
    """Exact wall time spent in named functions, by wrapping them for the duration of one call.

    A sampling or tracing profiler attributes sqlglot's many small calls poorly (cProfile inflates the
    parse five-fold; a thread sampler over-weights points that release the GIL), so --profile times a
    fixed list of dataplan functions instead: one perf_counter pair per call.
    """

    def __init__(self, stages: list[tuple[str, str]]) -> None:
        self.stages = stages
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    @staticmethod
    def _owner(path: str) -> Any:
        import importlib

        parts = path.split(".")
        for i in range(len(parts), 0, -1):
            try:
                obj: Any = importlib.import_module(".".join(parts[:i]))
            except ImportError:
                continue
            for attr in parts[i:]:
                obj = getattr(obj, attr, None)
            return obj
        return None

    def _wrap(self, label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed_call(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[label] = self.seconds.get(label, 0.0) + time.perf_counter() - t0
                self.calls[label] = self.calls.get(label, 0) + 1

        return timed_call

    def run(self, fn: Callable[[], Any]) -> str:
        patched: list[tuple[Any, str, Any]] = []
        labels: list[str] = []
        for owner_path, label in self.stages:
            owner, attr = self._owner(owner_path), label.strip()
            if owner is None or attr not in vars(owner):
                continue
            original = vars(owner)[attr]
            name = label[: len(label) - len(attr)] + owner_path.rsplit(".", 1)[-1] + "." + attr
            patched.append((owner, attr, original))
            labels.append(name)
            setattr(owner, attr, self._wrap(name, original))
        try:
            t0 = time.perf_counter()
            fn()
            total = time.perf_counter() - t0
        finally:
            for owner, attr, original in reversed(patched):
                setattr(owner, attr, original)
        lines = [f"total {total:.3f} s"]
        for label in labels:
            if label in self.seconds:
                secs = self.seconds[label]
                lines.append(f"  {label:<44} {secs:8.3f} s {100 * secs / total:5.1f}%  {self.calls[label]:>6} calls")
        return "\n".join(lines)


def depth(models: list[GeneratedModel]) -> int:
    d: dict[str, int] = {}
    for m in models:  # generated in topological order
        d[m.name] = 1 + max((d[p] for p in m.parents), default=0)
    return max(d.values())


def run_one(root: Path, n: int, engine: str, connection: dict[str, str], profile: bool) -> RunResult:
    from dataplan import Project, Warehouse

    generated = write_project(root, n, connection)
    with Warehouse.open(Project.load(root)) as wh:
        create_raw_tables(wh)

    # The first load of a project parses every model; later loads read the parse cache.
    shutil.rmtree(root / ".dataplan", ignore_errors=True)
    first_load, _ = timed(lambda: Project.load(root), 1)
    load, project = timed(lambda: Project.load(root), REPEATS)
    if len(project.models) != n:
        raise SystemExit(f"expected {n} models, loaded {len(project.models)}")
    fp_timing, fps = Timing([]), {}
    for fresh in (Project.load(root) for _ in range(REPEATS)):
        c0, t0 = time.process_time(), time.perf_counter()
        fps = fresh.fingerprints
        fp_timing.runs.append(time.perf_counter() - t0)
        fp_timing.cpu.append(time.process_time() - c0)

    tables = sum(1 for m in project.models.values() if m.materialized == "table")
    prof: dict[str, str] = {}
    with Warehouse.open(Project.load(root)) as wh:
        dry_empty = wh.build("prod", dry_run=True)
        first = wh.build("prod")
        noops = [wh.build("prod") for _ in range(REPEATS)]
        dry_timing, dry = timed(lambda: wh.build("prod", dry_run=True), REPEATS)
        if profile:
            prof["no-op build (warm: project loaded, connection open)"] = StageTimer(BUILD_STAGES).run(
                lambda: wh.build("prod")
            )

    def cold_noop() -> Any:
        with Warehouse.open(Project.load(root)) as cold:
            return cold.build("prod")

    cold, _ = timed(cold_noop, REPEATS)
    if profile:
        prof["Project.load"] = StageTimer(LOAD_STAGES).run(lambda: Project.load(root))
        loaded = Project.load(root)
        prof["fingerprints (after load)"] = StageTimer(FINGERPRINT_STAGES).run(lambda: loaded.fingerprints)
        prof["cold no-op build (load + connect + build)"] = StageTimer(
            LOAD_STAGES + FINGERPRINT_STAGES + BUILD_STAGES
        ).run(cold_noop)

    return RunResult(
        models=n,
        engine=engine,
        tables=tables,
        views=n - tables,
        max_depth=depth(generated),
        distinct_fingerprints=len(set(fps.values())),
        load=load,
        first_load=first_load,
        fingerprints=fp_timing,
        first_build_s=first.seconds,
        first_build_created=len(first.created),
        first_build_round_trips=first.round_trips,
        noop_build=Timing([r.seconds for r in noops]),
        noop_round_trips=[r.round_trips for r in noops],
        noop_nothing_to_do=[r.nothing_to_do for r in noops],
        cold_noop=cold,
        dry_run_empty_s=dry_empty.seconds,
        dry_run=dry_timing,
        dry_run_round_trips=dry.round_trips,
        profile=prof,
    )


# -- engines ---------------------------------------------------------------------------------------


@contextmanager
def postgres_databases(workdir: Path) -> Iterator[Callable[[str], str]]:
    """A pgserver instance; yields a function making a fresh database and returning its DSN."""
    import pgserver
    import psycopg

    server = pgserver.get_server(workdir / "pgdata", cleanup_mode="stop")
    uri: str = server.get_uri()

    def make(name: str) -> str:
        with psycopg.connect(uri, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"'.encode())  # fixed generated name
            conn.execute(f'CREATE DATABASE "{name}"'.encode())
        return uri.replace("/postgres?", f"/{name}?")

    try:
        yield make
    finally:
        server.cleanup()


@contextmanager
def connections(engine: str, workdir: Path) -> Iterator[Callable[[int], dict[str, str]]]:
    """Connection settings per project size: a DuckDB file, or a fresh Postgres database."""
    if engine == "duckdb":
        yield lambda n: {"type": "duckdb", "path": "warehouse.duckdb"}
        return
    with postgres_databases(workdir) as make_db:
        yield lambda n: {"type": "postgres", "dsn": make_db(f"bench_{n}")}


def project_dir(base: Path, n: int, engine: str) -> Path:
    root = base / f"{engine}-{n}"
    if root.exists():
        if not (root / MARKER).exists():
            raise SystemExit(f"{root} exists and was not generated by this benchmark; refusing to overwrite")
        shutil.rmtree(root)
    return root


# -- reporting -------------------------------------------------------------------------------------

LOAD_TARGET_S, NOOP_TARGET_S = 1.0, 2.0


def machine() -> dict[str, Any]:
    import duckdb
    import sqlglot
    import sqlglot.parser

    info: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "duckdb": duckdb.__version__,
        "sqlglot": sqlglot.__version__,
        "sqlglot_compiled": not sqlglot.parser.__file__.endswith(".py"),
        "load_average_1_5_15": os.getloadavg(),
    }
    try:
        import psycopg

        info["psycopg"] = psycopg.__version__
    except ImportError:
        pass
    return info


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms"


def med_min(t: Timing) -> str:
    return f"{ms(t.median)} (min {ms(t.min)})"


ROWS: list[tuple[str, Callable[[RunResult], str]]] = [
    ("models (tables / views, max depth)", lambda r: f"{r.models} ({r.tables} / {r.views}, {r.max_depth})"),
    ("Project.load + graph (parse cache warm)", lambda r: med_min(r.load)),
    ("  first load (empty parse cache)", lambda r: ms(r.first_load.median)),
    ("  its CPU time (median)", lambda r: ms(statistics.median(r.load.cpu))),
    ("fingerprints", lambda r: med_min(r.fingerprints)),
    ("  its CPU time (median)", lambda r: ms(statistics.median(r.fingerprints.cpu))),
    ("load + graph + fingerprints", lambda r: ms(r.load.median + r.fingerprints.median)),
    ("first build", lambda r: f"{ms(r.first_build_s)}, {r.first_build_round_trips} round trips"),
    ("no-op build", lambda r: med_min(r.noop_build)),
    ("no-op build round trips", lambda r: ", ".join(str(x) for x in sorted(set(r.noop_round_trips)))),
    ("no-op build nothing_to_do", lambda r: ", ".join(sorted({str(x) for x in r.noop_nothing_to_do}))),
    ("cold no-op: load + connect + build", lambda r: med_min(r.cold_noop)),
    ("dry run, empty warehouse", lambda r: ms(r.dry_run_empty_s)),
    ("dry run, after build", lambda r: med_min(r.dry_run)),
    ("dry run round trips", lambda r: str(r.dry_run_round_trips)),
]


def verdicts(results: list[RunResult]) -> list[str]:
    out = []
    for r in results:
        load_ok = r.load.median < LOAD_TARGET_S
        noop_ok = r.noop_build.median < NOOP_TARGET_S and all(r.noop_nothing_to_do)
        cold_ok = r.cold_noop.median < NOOP_TARGET_S
        out.append(
            f"[{r.engine} N={r.models}] load + graph {ms(r.load.median)}: "
            f"{'meets' if load_ok else 'MISSES'} < 1 s; "
            f"no-op build {ms(r.noop_build.median)}: {'meets' if noop_ok else 'MISSES'} < 2 s; "
            f"cold no-op incl. load {ms(r.cold_noop.median)}: {'meets' if cold_ok else 'misses'} < 2 s"
        )
        if not all(r.noop_nothing_to_do):
            out.append(f"[{r.engine} N={r.models}] the build after the first build was NOT a no-op")
        if r.distinct_fingerprints != r.models:
            out.append(f"[{r.engine} N={r.models}] only {r.distinct_fingerprints} distinct fingerprints")
    trips = {r.models: sorted(set(r.noop_round_trips)) for r in results}
    if len(trips) > 1:
        constant = len({tuple(v) for v in trips.values()}) == 1
        out.append(f"no-op round trips by N: {trips}: {'constant' if constant else 'NOT constant'} in N")
    return out


def print_report(engine: str, results: list[RunResult]) -> None:
    header = ["measure (median, min of 5)", *[f"{engine} N={r.models}" for r in results]]
    rows = [(label, *[get(r) for r in results]) for label, get in ROWS]
    try:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"dataplan foundation benchmark ({engine})")
        for i, h in enumerate(header):
            table.add_column(h, justify="right" if i else "left")
        for row in rows:
            table.add_row(*row)
        Console().print(table)
    except ImportError:
        for row in [tuple(header), *rows]:
            print(" | ".join(row))
    for line in verdicts(results):
        print(line)
    print("load average (1, 5, 15 min): " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))


# -- entry point -------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.foundation", description=__doc__.splitlines()[0])
    p.add_argument("--models", default="1000", help="comma-separated project sizes, e.g. 100,1000")
    p.add_argument("--engine", choices=["duckdb", "postgres"], default="duckdb")
    p.add_argument("--out", type=Path, default=None, help="keep the generated projects here (default: temp)")
    p.add_argument("--results", type=Path, default=RESULTS_DIR, help="where foundation-<engine>.json goes")
    p.add_argument("--profile", action="store_true", help="time the stages of load, fingerprints and no-op builds")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = [int(s) for s in str(args.models).split(",") if s.strip()]
    results: list[RunResult] = []
    with tempfile.TemporaryDirectory(prefix="dataplan-bench-") as tmp:
        base = args.out.resolve() if args.out else Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        with connections(args.engine, Path(tmp)) as connection:
            for n in sizes:
                root = project_dir(base, n, args.engine)
                print(f"[{args.engine}] N={n}: generating and measuring in {root}", file=sys.stderr, flush=True)
                results.append(run_one(root, n, args.engine, connection(n), args.profile))
    print_report(args.engine, results)
    for r in results:
        for what, text in r.profile.items():
            print(f"\n=== profile: {what} ({r.engine}, N={r.models}) ===\n{text}")
    args.results.mkdir(parents=True, exist_ok=True)
    out = args.results / f"foundation-{args.engine}.json"
    doc = {
        "benchmark": "foundation",
        "engine": args.engine,
        "command": "python -m benchmarks.foundation " + " ".join(sys.argv[1:] if argv is None else argv),
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "repeats": REPEATS,
        "targets": {"load_graph_s": LOAD_TARGET_S, "noop_build_s": NOOP_TARGET_S},
        "verdicts": verdicts(results),
        "results": [r.as_dict() for r in results],
    }
    out.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
