"""Seeded generator of the customer-lifecycle demo's raw sources, as daily Parquet loads.

Layout under ``root``::

    data/raw/<source>/<dataset>/dt=YYYY-MM-DD/part-0.parquet
    data/raw/<source>/<dataset>/dt=YYYY-MM-DD/_meta.json      (manifest, written last)
    data/raw/<source>/_samples/<dataset>/dt=YYYY-MM-DD/...     (sample rows; never to be read)

The first load holds all history up to its date; each following daily load
holds the rows created or changed that day, as the source would export them.
The feed carries the defects real feeds have, on purpose, so the staging
layer has something to do: exact duplicates re-sent in a later load, rows
arriving a load or two late, nulls in optional fields, billing customers
whose CRM reference matches no account (~2%), and EUR/GBP amounts.

The simulated business: signups over two years with weekday, yearly and
growth patterns; trials converting by channel; monthly billing cycles where
churn rises with unresolved tickets and failed payments; upgrades,
downgrades and reactivations. Everything is vectorised over customers: the
only Python loop walks billing cycles (about thirty iterations for two
years), each handling every still-subscribed customer at once, so a million
customers take as many iterations as a hundred. _tables.py renders the
result as the sources' tables.

Same arguments give byte-identical files: one seeded generator for the
simulation, another for the feed defects, and no clock or path in the data.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from time import perf_counter

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dataplan.demo._tables import (
    CATEGORIES,
    DAY,
    FAILURE_CODES,
    HISTORY_DAYS,
    HOUR,
    INDUSTRIES,
    NONE,
    SECOND,
    Billing,
    Chunks,
    Crm,
    Customers,
    RawTable,
    billing_tables,
    crm_tables,
    mrr_cents,
    ticket_table,
)

__all__ = ["GenerationResult", "generate", "main"]

EPOCH = date(1970, 1, 1)
LATE_RATE = 0.03  # of the rows whose latest change is recent, delivered one or two loads late
DUPLICATE_RATE_HISTORY = 0.002  # of the history load, re-sent by a later load
DUPLICATE_RATE_DAILY = 0.01  # of each daily load, re-sent by a later load
SAMPLE_ROWS = 50
PART = "part-0.parquet"
MANIFEST = "_meta.json"

# (row indices, index of the load whose cutoff renders them)
Piece = tuple[np.ndarray, int]


@dataclass(frozen=True)
class GenerationResult:
    """What one ``generate`` call wrote."""

    root: Path
    rows: dict[str, int]  # "<source>.<dataset>" -> rows over all loads, duplicates included
    files: tuple[Path, ...]  # every file written: parts, manifests, samples
    seconds: float
    load_dates: tuple[date, ...]


def generate(
    root: Path,
    customers: int = 10_000,
    seed: int = 42,
    loads: int = 3,
    as_of: date = date(2025, 12, 31),
) -> GenerationResult:
    """Write ``loads`` daily loads of CRM, billing and support data ending on ``as_of``."""
    if customers < 1:
        raise ValueError(f"customers must be at least 1, got {customers}")
    if loads < 1:
        raise ValueError(f"loads must be at least 1, got {loads}")
    started = perf_counter()
    root = Path(root)
    # Separate streams: changing `loads` changes the feed, never the simulated business.
    simulation_seed, defect_seed = np.random.SeedSequence(seed).spawn(2)
    as_of_day = (as_of - EPOCH).days
    load_days = [as_of_day - loads + 1 + i for i in range(loads)]
    tables = simulate(np.random.default_rng(simulation_seed), customers, as_of_day)
    defects = np.random.default_rng(defect_seed)
    work = [(table, _deliveries(table, load_days, defects)) for table in tables]
    workers = max(1, min(len(work), os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        written = list(pool.map(lambda item: _write(root, item[0], item[1], load_days), work))
    return GenerationResult(
        root=root,
        rows={table.key: rows for (table, _), (rows, _) in zip(work, written, strict=True)},
        files=tuple(sorted(path for _, paths in written for path in paths)),
        seconds=perf_counter() - started,
        load_dates=tuple(EPOCH + timedelta(days=day) for day in load_days),
    )


# ---------------------------------------------------------------- simulation


def add_months(day: np.ndarray, months: np.ndarray) -> np.ndarray:
    """Same day-of-month ``months`` later, clipped to the month's length (billing anniversaries)."""
    d = day.astype("datetime64[D]")
    month = d.astype("datetime64[M]")
    dom = (d - month.astype("datetime64[D]")).astype(np.int64)
    target = month + months.astype("timedelta64[M]")
    first = target.astype("datetime64[D]")
    length = ((target + np.timedelta64(1, "M")).astype("datetime64[D]") - first).astype(np.int64)
    return first.astype(np.int64) + np.minimum(dom, length - 1)


def seasonal_days(rng: np.random.Generator, n: int, first_day: int, last_day: int) -> np.ndarray:
    """Sorted days with weekday, yearly and growth patterns, like real signup traffic."""
    days = np.arange(first_day, last_day + 1)
    dates = days.astype("datetime64[D]")
    day_of_year = (dates - dates.astype("datetime64[Y]").astype("datetime64[D]")).astype(int)
    weekly = np.array([1.0, 1.08, 1.1, 1.05, 0.92, 0.5, 0.4])[(days + 3) % 7]  # 0 = Monday
    yearly = 1.0 + 0.2 * np.cos(2 * np.pi * (day_of_year - 15) / 365.25)
    yearly = np.where(day_of_year >= 354, yearly * 0.6, yearly)  # year-end holidays
    weights = weekly * yearly * np.linspace(0.6, 1.4, days.size)
    return np.sort(rng.choice(days, size=n, p=weights / weights.sum()))


def time_of_day(rng: np.random.Generator, n: int) -> np.ndarray:
    """Microseconds into the day, clustered around business hours (UTC)."""
    seconds = np.clip(rng.normal(14.5 * 3600, 3 * 3600, n), 0, 86_399).astype(np.int64)
    return seconds * SECOND


def channel_mix(rng: np.random.Generator, day: np.ndarray, first_day: int) -> np.ndarray:
    """Channels drift over time: paid social grows, outbound shrinks."""
    early = rng.choice(6, size=day.size, p=[0.34, 0.25, 0.10, 0.12, 0.07, 0.12])
    late = rng.choice(6, size=day.size, p=[0.26, 0.22, 0.22, 0.13, 0.09, 0.08])
    return np.where(rng.random(day.size) < (day - first_day) / HISTORY_DAYS, late, early)


def make_customers(rng: np.random.Generator, n: int, first_day: int, end: int) -> Customers:
    """``n`` billing customers signing up from ``first_day`` until ``end``, with their traits."""
    signup = np.sort(seasonal_days(rng, n, first_day, end // DAY - 1) * DAY + time_of_day(rng, n))
    region = rng.choice(4, size=n, p=[0.45, 0.35, 0.15, 0.05])
    emea_currency = rng.choice(3, size=n, p=[0.15, 0.6, 0.25])
    currency = np.where(region == 1, emea_currency, 0)
    channel = channel_mix(rng, signup // DAY, first_day)
    plan = rng.choice(4, size=n, p=[0.45, 0.33, 0.17, 0.05])
    has_trial = rng.random(n) < 0.85
    trial_end = signup + 14 * DAY
    # Referral and partner leads convert best, paid social worst.
    conversion = np.array([0.45, 0.40, 0.28, 0.62, 0.55, 0.50])[channel]
    converts = rng.random(n) < conversion
    early = rng.random(n) < 0.3
    converted_at = np.where(early, signup + (rng.random(n) * 14 * DAY).astype(np.int64), trial_end)
    paid_start = np.where(has_trial, np.where(converts, converted_at, NONE), signup)
    paid_start = np.where(paid_start < end, paid_start, NONE)
    return Customers(
        signup=signup,
        region=region,
        currency=currency,
        channel=channel,
        industry=rng.integers(0, len(INDUSTRIES), n),
        plan=plan,
        discounted=rng.random(n) < 0.12,
        has_trial=has_trial,
        trial_end=np.where(has_trial, trial_end, NONE),
        paid_start=paid_start,
        # A minority of customers carry most payment failures (old cards, thin margins).
        fail_rate=np.where(rng.random(n) < 0.12, 0.25, 0.02),
        ticket_rate=0.25 * np.array([0.8, 1.0, 1.3, 2.0])[plan] * rng.lognormal(0, 0.5, n),
    )


def make_crm(rng: np.random.Generator, c: Customers, first_day: int, end: int) -> Crm:
    """Each customer's CRM account, created some days before signup, plus prospects (35%)."""
    n = c.signup.size
    prospects = max(1, round(0.35 * n))
    lead_time = (rng.exponential(18, n) * DAY).astype(np.int64)
    prospect_days = seasonal_days(rng, prospects, first_day, end // DAY - 1)
    created = np.concatenate([c.signup - lead_time, prospect_days * DAY + time_of_day(rng, prospects)])
    order = np.argsort(created, kind="stable")
    number = np.empty(order.size, np.int64)
    number[order] = np.arange(1, order.size + 1)
    return Crm(
        created=created[order],
        channel=np.concatenate([c.channel, channel_mix(rng, prospect_days, first_day)])[order],
        region=np.concatenate([c.region, rng.choice(4, prospects, p=[0.4, 0.35, 0.2, 0.05])])[order],
        industry=np.concatenate([c.industry, rng.integers(0, len(INDUSTRIES), prospects)])[order],
        customer_account=number[:n],
    )


def simulate_billing(rng: np.random.Generator, c: Customers, end: int) -> Billing:
    """Walk monthly billing cycles; churn, plan changes and reactivations happen at boundaries.

    Churn probability rises with unresolved tickets and failed payments of the
    cycle, so the marts can show that relation rather than just assert it.
    """
    periods, ends, invoices, payments, tickets = Chunks(), Chunks(), Chunks(), Chunks(), Chunks()
    counters = {"period": 0, "invoice": 0}

    def open_periods(cust: np.ndarray, plan: np.ndarray, start: np.ndarray, first: bool) -> np.ndarray:
        new = np.arange(counters["period"], counters["period"] + cust.size)
        counters["period"] += cust.size
        periods.add(customer=cust, plan=plan, start=start, first=np.full(cust.size, first))
        return new

    cust = np.flatnonzero(c.paid_start != NONE)
    plan = c.plan[cust]
    start = c.paid_start[cust]
    period = open_periods(cust, plan, start, True)
    anchor, months, churns = start.copy(), np.zeros(cust.size, np.int64), np.zeros(cust.size, int)
    while cust.size:
        n = cust.size
        # One invoice per cycle, charged up to three times (day 0, +3, +7) like Stripe retries.
        invoice = np.arange(counters["invoice"], counters["invoice"] + n)
        counters["invoice"] += n
        amount = mrr_cents(c.currency[cust], plan, c.discounted[cust])
        attempt_at = [
            start + rng.integers(60, 3600, n) * SECOND,
            start + 3 * DAY + rng.integers(0, 7200, n) * SECOND,
            start + 7 * DAY + rng.integers(0, 7200, n) * SECOND,
        ]
        failed = [rng.random(n) < c.fail_rate[cust]]
        failed += [failed[0] & (rng.random(n) < 0.45)]
        failed += [failed[1] & (rng.random(n) < 0.5)]
        paid_at = np.full(n, NONE)
        for attempt in range(3):
            tried = (failed[attempt - 1] if attempt else np.ones(n, bool)) & (attempt_at[attempt] < end)
            ok = tried & ~failed[attempt]
            paid_at = np.where(ok, attempt_at[attempt], paid_at)
            refunded = np.where(ok & (rng.random(n) < 0.01), attempt_at[attempt] + rng.integers(1, 15, n) * DAY, NONE)
            payments.add(
                invoice=invoice[tried],
                at=attempt_at[attempt][tried],
                ok=ok[tried],
                refunded=refunded[tried],
                failure=rng.integers(0, len(FAILURE_CODES), int(tried.sum())),
            )
        uncollectible = np.where(failed[2] & (attempt_at[2] < end), attempt_at[2], NONE)
        invoices.add(
            customer=cust, period=period, amount=amount, issued=start, paid=paid_at, uncollectible=uncollectible
        )

        boundary = add_months(anchor // DAY, months + 1) * DAY + anchor % DAY
        # Tickets over the cycle; "unresolved" = never solved or solved after five days.
        count = rng.poisson(c.ticket_rate[cust] * (boundary - start) / (30 * DAY))
        owner = np.repeat(np.arange(n), count)
        created = start[owner] + (rng.random(owner.size) * (boundary - start)[owner]).astype(np.int64)
        priority = rng.choice(4, size=owner.size, p=[0.3, 0.45, 0.18, 0.07])
        hours = rng.lognormal(np.log(10), 1.2, owner.size) * np.where(priority == 3, 0.3, 1.0)
        never = rng.random(owner.size) < 0.06
        solved = np.where(never, NONE, created + (hours * HOUR).astype(np.int64))
        kept = created < end
        unresolved = np.bincount(owner[kept & (never | (hours > 120))], minlength=n)
        csat = np.clip(np.rint(4.6 - 0.5 * np.log1p(hours / 24) + rng.normal(0, 0.8, owner.size)), 1, 5)
        tickets.add(
            customer=cust[owner][kept],
            created=created[kept],
            solved=solved[kept],
            priority=priority[kept],
            category=rng.integers(0, len(CATEGORIES), owner.size)[kept],
            channel=rng.choice(4, size=owner.size, p=[0.5, 0.3, 0.1, 0.1])[kept],
            csat=np.where(rng.random(owner.size) < 0.45, csat, 0).astype(np.int64)[kept],
        )

        within = boundary < end
        involuntary = (uncollectible != NONE) & (rng.random(n) < 0.7) & (uncollectible + DAY < end)
        january = (boundary // DAY).astype("datetime64[D]").astype("datetime64[M]").astype(int) % 12 == 0
        risk = (
            np.array([0.05, 0.032, 0.022, 0.012])[plan]
            * np.where(months < 3, 1.5, 1.0)
            * np.where(churns > 0, 1.3, 1.0)
            * np.where(january, 1.3, 1.0)
            + 0.05 * np.minimum(unresolved, 3)
            + 0.06 * failed[0]
        )
        voluntary = ~involuntary & within & (rng.random(n) < risk)
        churned = involuntary | voluntary
        end_at = np.where(involuntary, uncollectible + DAY, boundary)
        draw = rng.random(n)
        stays = within & ~churned
        up = stays & (plan < 3) & (draw < 0.03)
        down = stays & ~up & (plan > 0) & (draw > 0.988 - 0.02 * failed[0])
        changed = up | down
        reason = np.select([involuntary, voluntary, up], [1, 0, 2], 3)
        ends.add(period=period[churned | changed], at=end_at[churned | changed], reason=reason[churned | changed])

        plan = np.where(up, plan + 1, np.where(down, plan - 1, plan))
        period = period.copy()
        period[changed] = open_periods(cust[changed], plan[changed], boundary[changed], False)
        # Some churned customers come back after a gap, often on a cheaper plan.
        back = churned & (rng.random(n) < 0.25 / (1 + churns))
        back_at = end_at + (10 + rng.exponential(70, n)).astype(np.int64) * DAY
        back_at = back_at // DAY * DAY + time_of_day(rng, n)
        back &= back_at < end
        back_plan = np.maximum(plan - (rng.random(n) < 0.3), 0)
        back_period = open_periods(cust[back], back_plan[back], back_at[back], False)

        cust = np.concatenate([cust[stays], cust[back]])
        period = np.concatenate([period[stays], back_period])
        plan = np.concatenate([plan[stays], back_plan[back]])
        start = np.concatenate([boundary[stays], back_at[back]])
        anchor = np.concatenate([anchor[stays], back_at[back]])
        months = np.concatenate([months[stays] + 1, np.zeros(int(back.sum()), np.int64)])
        churns = np.concatenate([churns[stays], churns[back] + 1])

    period_end = np.full(counters["period"], NONE)
    period_reason = np.full(counters["period"], -1)
    period_end[ends.get("period")] = ends.get("at")
    period_reason[ends.get("period")] = ends.get("reason")
    return Billing(periods, period_end, period_reason, invoices, payments, tickets)


def simulate(rng: np.random.Generator, customers: int, as_of_day: int) -> list[RawTable]:
    """All eight raw tables for ``customers`` billing customers, history ending ``as_of_day``."""
    end = (as_of_day + 1) * DAY  # exclusive: nothing happens after the as-of day
    first_day = as_of_day - HISTORY_DAYS + 1
    c = make_customers(rng, customers, first_day, end)
    crm = make_crm(rng, c, first_day, end)
    b = simulate_billing(rng, c, end)
    return [*crm_tables(rng, c, crm, end), *billing_tables(rng, c, crm, b, end), ticket_table(c, crm, b)]


# ---------------------------------------------------------------- daily loads


def _deliveries(table: RawTable, load_days: list[int], rng: np.random.Generator) -> list[list[Piece]]:
    """Decide which row versions each load file carries, defects included."""
    last = len(load_days) - 1
    cutoffs = np.array([(day + 1) * DAY for day in load_days])
    per_load = [np.flatnonzero(table.created < cutoffs[0])]
    for day in load_days[1:]:
        hit = table.created // DAY == day
        for event in table.events:
            hit |= (event >= 0) & (event // DAY == day)
        per_load.append(np.flatnonzero(hit))
    rows = np.concatenate(per_load)
    render = np.concatenate([np.full(r.size, j) for j, r in enumerate(per_load)])

    # Late rows: only recent changes are plausibly late, so history is not reshuffled.
    latest = table.created[rows]
    for event in table.events:
        seen = (event[rows] >= 0) & (event[rows] < cutoffs[render])
        latest = np.where(seen, np.maximum(latest, event[rows]), latest)
    recent = latest // DAY >= np.array(load_days)[render] - 2
    late = recent & (render < last) & (rng.random(rows.size) < LATE_RATE)
    delay = 1 + (rng.random(rows.size) < 0.3)
    deliver = np.where(late, np.minimum(render + delay, last), render)

    rate = np.where(render == 0, DUPLICATE_RATE_HISTORY, DUPLICATE_RATE_DAILY)
    duplicate = np.flatnonzero((deliver < last) & (rng.random(rows.size) < rate))
    resent_in = deliver[duplicate] + 1 + (rng.random(duplicate.size) * (last - deliver[duplicate])).astype(np.int64)

    plan: list[list[Piece]] = []
    for j in range(last + 1):
        # File order as a feed would have it: the day's rows, then late ones, then re-sends.
        pieces: list[Piece] = [(rows[(deliver == j) & (render == j)], j)]
        pieces += [(rows[(deliver == j) & (render == r)], r) for r in range(j)]
        again = duplicate[resent_in == j]
        pieces += [(rows[again[render[again] == r]], r) for r in range(j)]
        plan.append([(idx, r) for n, (idx, r) in enumerate(pieces) if n == 0 or idx.size])
    return plan


def _write(root: Path, table: RawTable, plan: list[list[Piece]], load_days: list[int]) -> tuple[int, list[Path]]:
    folder = root / "data" / "raw" / table.source / table.name
    samples = root / "data" / "raw" / table.source / "_samples" / table.name
    names = [f"dt={EPOCH + timedelta(days=day)}" for day in load_days]
    rows, files = 0, []
    for j, pieces in enumerate(plan):
        data = pa.concat_tables([table.render(idx, (load_days[r] + 1) * DAY) for idx, r in pieces])
        rows += data.num_rows
        part = _write_parquet(data, folder / names[j] / PART)
        files += [part, _write_manifest(table, names[j], data, part)]
        if j == 0:
            # A copy of real rows: whoever reads _samples/ gets duplicate keys, and tests say so.
            files.append(_write_parquet(data.slice(0, SAMPLE_ROWS), samples / names[0] / PART))
    for parent, keep in ((folder, set(names)), (samples, {names[0]})):
        for stale in parent.glob("dt=*"):
            if stale.name not in keep:
                shutil.rmtree(stale)
    return rows, files


def _write_parquet(data: pa.Table, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")  # hidden and not *.parquet: no reader globs it
    pq.write_table(data, tmp, compression="snappy")
    os.replace(tmp, path)
    return path


def _write_manifest(table: RawTable, partition: str, data: pa.Table, part: Path) -> Path:
    digest = hashlib.sha256()
    with part.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    manifest = {
        "source": table.source,
        "dataset": table.name,
        "dt": partition.removeprefix("dt="),
        "row_count": data.num_rows,
        "files": [
            {"path": part.name, "rows": data.num_rows, "bytes": part.stat().st_size, "sha256": digest.hexdigest()}
        ],
        "columns": [{"name": f.name, "type": str(f.type)} for f in data.schema],
        "generator": "dataplan.demo",
    }
    path = part.with_name(MANIFEST)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def main(argv: list[str] | None = None) -> int:
    """``python -m dataplan.demo.generate ROOT --customers N``: generate and print a summary."""
    parser = argparse.ArgumentParser(prog="python -m dataplan.demo.generate", description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--loads", type=int, default=3)
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(2025, 12, 31))
    args = parser.parse_args(argv)
    result = generate(args.root, args.customers, args.seed, args.loads, args.as_of)
    for key, count in sorted(result.rows.items()):
        print(f"{key:24} {count:>12,}")
    print(f"{len(result.files)} files in {result.seconds:.1f}s under {result.root}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
