"""The eight raw tables of the demo (CRM, billing, support), rendered from the simulated business.

generate.py simulates customers, CRM accounts and billing cycles into the
plain numpy records defined here (``Customers``, ``Crm``, ``Billing``); this
module turns them into Arrow tables the way each source system exports them.

Timestamps are int64 microseconds since the epoch; ``NONE`` (-1) means "did
not happen". Each table keeps its *final* state plus the timestamps of the
events that change a row, and a ``render`` function that shows the rows as
the source would have exported them at a given cutoff (later events masked).
generate.py uses that to cut daily loads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

DAY = 86_400_000_000
HOUR = 3_600_000_000
SECOND = 1_000_000
NONE = -1
HISTORY_DAYS = 730

PLANS = ("starter", "growth", "pro", "enterprise")
# List prices in minor units per billing currency (rows follow CURRENCIES).
PRICE_CENTS = np.array([[2900, 9900, 29900, 99900], [2700, 8900, 27900, 94900], [2400, 7900, 23900, 79900]])
CURRENCIES = ("usd", "eur", "gbp")  # Stripe writes lower-case ISO codes; staging upper-cases
CHANNELS = ("organic", "paid_search", "paid_social", "referral", "partner", "outbound")
REGIONS = ("NA", "EMEA", "APAC", "LATAM")
INDUSTRIES = ("software", "retail", "healthcare", "finance", "manufacturing", "education", "media", "nonprofit")
SUB_STATUS = ("trialing", "active", "expired", "canceled", "changed")
END_REASONS = ("voluntary_churn", "involuntary_churn", "upgrade", "downgrade", "trial_expired")
INVOICE_STATUS = ("open", "paid", "uncollectible")
PAYMENT_STATUS = ("succeeded", "failed", "refunded")
FAILURE_CODES = ("card_declined", "insufficient_funds", "expired_card")
PRIORITIES = ("low", "normal", "high", "urgent")
CATEGORIES = ("billing", "bug", "how_to", "feature_request", "account", "integration")
TICKET_CHANNELS = ("email", "chat", "phone", "web")
STAGES = ("prospecting", "qualification", "closed_won", "closed_lost")
# Word lists for names, titles and company names; split strings keep them compact.
TITLES = ("CEO", "CTO", "VP Engineering", "Head of Data", "Finance Manager", "Ops Lead", "Analyst", "Product Manager")
FIRST = tuple("Ana Ben Chloe David Emma Farid Grace Hiro Ines Jonas Kara Liam Maya Noah Olga Pablo Quinn Rosa".split())
LAST = tuple(
    "Smith Garcia Chen Müller Rossi Novak Kim Silva Dubois Okafor Jensen Tanaka Kowalski Murphy Haddad".split()
)
NAME_A = tuple(
    "Blue Bright Cedar Delta Echo Granite Harbor Iron Juniper Lumen Maple North Orbit Pioneer Summit".split()
)
NAME_B = tuple("Analytics Logistics Health Foods Capital Robotics Media Networks Energy Studios Labs Retail".split())
NAME_C = ("Inc", "LLC", "Ltd", "GmbH", "Group", "Co", "SAS", "AB")

Render = Callable[[np.ndarray, int], pa.Table]


@dataclass(frozen=True)
class RawTable:
    """One raw dataset: final state, change events, and a renderer for any cutoff."""

    source: str
    name: str
    created: np.ndarray
    events: tuple[np.ndarray, ...]
    render: Render

    @property
    def key(self) -> str:
        return f"{self.source}.{self.name}"


# ---------------------------------------------------------------- arrow helpers


def ts(values: np.ndarray, cutoff: int | None = None) -> pa.Array:
    """Timestamps, null where absent or (with a cutoff) not yet happened."""
    mask = values < 0 if cutoff is None else (values < 0) | (values >= cutoff)
    return pa.array(values.astype("datetime64[us]"), mask=mask)


def labels(choices: tuple[str, ...], codes: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    return pc.take(pa.array(choices, pa.string()), pa.array(codes.astype(np.int32), mask=mask))


# "0000".."9999" as 4-byte words, so one gather writes four characters.
_FOUR_DIGITS = np.frombuffer("".join(f"{i:04d}" for i in range(10_000)).encode(), np.uint32)


def ids(prefix: str, numbers: np.ndarray, width: int, mask: np.ndarray | None = None) -> pa.Array:
    """``prefix`` + zero-padded number, built as one byte buffer: ids are most of the bytes
    written, and per-value string formatting would dominate the generator's run time."""
    numbers = np.asarray(numbers, np.int64)
    if numbers.size and (numbers.min() < 0 or numbers.max() >= 10**width):
        raise ValueError(f"{prefix} ids need more than {width} digits")
    head = prefix.encode()
    size = len(head) + width
    if (numbers.size + 1) * size >= 2**31:  # int32 offsets of Arrow's string type
        raise ValueError(f"{numbers.size:,} {prefix} ids exceed one Arrow string array; generate fewer customers")
    chars = np.empty((numbers.size, size), np.uint8)
    chars[:, : len(head)] = np.frombuffer(head, np.uint8)
    # Four digits per division: a 10,000-row lookup table turns remainders into text.
    groups = -(-width // 4)
    digits = np.empty((numbers.size, groups), np.uint32)
    rest = numbers
    for group in reversed(range(groups)):
        rest, low = np.divmod(rest, 10_000)
        digits[:, group] = _FOUR_DIGITS[low]
    chars[:, len(head) :] = digits.view(np.uint8)[:, groups * 4 - width :]
    offsets = np.arange(0, (numbers.size + 1) * size, size, dtype=np.int32)
    validity = None if mask is None else pa.py_buffer(np.packbits(~mask, bitorder="little"))
    return pa.StringArray.from_buffers(numbers.size, pa.py_buffer(offsets), pa.py_buffer(chars), validity)


def updated_at(created: np.ndarray, cutoff: int, *events: np.ndarray) -> pa.Array:
    latest = created.copy()
    for event in events:
        seen = (event >= 0) & (event < cutoff)
        latest = np.where(seen, np.maximum(latest, event), latest)
    return ts(latest)


# ---------------------------------------------------------------- the simulated business


@dataclass
class Chunks:
    """Column-wise accumulator: cheap appends inside the billing loop, one concat at the end."""

    parts: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def add(self, **columns: np.ndarray) -> None:
        for name, values in columns.items():
            self.parts.setdefault(name, []).append(values)

    def get(self, name: str, dtype: type = np.int64) -> np.ndarray:
        chunks = self.parts.get(name)
        return np.concatenate(chunks) if chunks else np.empty(0, dtype)


def mrr_cents(currency: np.ndarray, plan: np.ndarray, discounted: np.ndarray) -> np.ndarray:
    base = PRICE_CENTS[currency, plan]
    return np.where(discounted, base * 4 // 5, base)


@dataclass
class Customers:
    """Billing customers and the latent traits that drive their lifecycle."""

    signup: np.ndarray
    region: np.ndarray
    currency: np.ndarray
    channel: np.ndarray
    industry: np.ndarray
    plan: np.ndarray
    discounted: np.ndarray
    has_trial: np.ndarray
    trial_end: np.ndarray
    paid_start: np.ndarray
    fail_rate: np.ndarray
    ticket_rate: np.ndarray


@dataclass
class Billing:
    """Subscription periods, invoices, payment attempts and tickets of all paid cycles."""

    periods: Chunks
    period_end: np.ndarray
    period_reason: np.ndarray
    invoices: Chunks
    payments: Chunks
    tickets: Chunks


@dataclass
class Crm:
    """CRM accounts (every billing customer's true account plus prospects), sorted by creation."""

    created: np.ndarray
    channel: np.ndarray
    region: np.ndarray
    industry: np.ndarray
    customer_account: np.ndarray  # 1-based account number of each billing customer


def crm_tables(rng: np.random.Generator, c: Customers, crm: Crm, end: int) -> list[RawTable]:
    accounts = crm.created.size
    name = [rng.integers(0, len(part), accounts) for part in (NAME_A, NAME_B, NAME_C)]
    no_industry = rng.random(accounts) < 0.03
    employees = np.rint(rng.lognormal(3.5, 1.3, accounts)).astype(np.int64) + 1
    no_employees = rng.random(accounts) < 0.1

    def render_accounts(idx: np.ndarray, cutoff: int) -> pa.Table:
        words = [
            pc.take(pa.array(part), pa.array(n[idx])) for part, n in zip((NAME_A, NAME_B, NAME_C), name, strict=True)
        ]
        return pa.table(
            {
                "account_id": ids("ACC-", idx + 1, 8),
                "name": pc.binary_join_element_wise(*words, " "),
                "industry": labels(INDUSTRIES, crm.industry[idx], no_industry[idx]),
                "region": labels(REGIONS, crm.region[idx]),
                "acquisition_channel": labels(CHANNELS, crm.channel[idx]),
                "employees": pa.array(employees[idx], mask=no_employees[idx]),
                "created_at": ts(crm.created[idx]),
                "updated_at": ts(crm.created[idx]),
            }
        )

    per_account = 1 + np.minimum(rng.poisson(0.9, accounts), 4)
    owner = np.repeat(np.arange(accounts), per_account)
    contact_at = crm.created[owner] + (rng.random(owner.size) * 20 * DAY).astype(np.int64)
    keep = np.flatnonzero(contact_at < end)
    keep = keep[np.argsort(contact_at[keep], kind="stable")]
    owner, contact_at = owner[keep], contact_at[keep]
    first, last = rng.integers(0, len(FIRST), owner.size), rng.integers(0, len(LAST), owner.size)
    title = rng.integers(0, len(TITLES), owner.size)
    no_email, no_title = rng.random(owner.size) < 0.08, rng.random(owner.size) < 0.15

    def render_contacts(idx: np.ndarray, cutoff: int) -> pa.Table:
        first_name, last_name = labels(FIRST, first[idx]), labels(LAST, last[idx])
        domain = ids("@acct", owner[idx] + 1, 8)
        email = pc.binary_join_element_wise(
            pc.utf8_lower(first_name), ".", pc.utf8_lower(last_name), domain, ".example.com", ""
        )
        return pa.table(
            {
                "contact_id": ids("CON-", idx + 1, 9),
                "account_id": ids("ACC-", owner[idx] + 1, 8),
                "first_name": first_name,
                "last_name": last_name,
                "email": pc.if_else(pa.array(no_email[idx]), pa.scalar(None, pa.string()), email),
                "title": labels(TITLES, title[idx], no_title[idx]),
                "created_at": ts(contact_at[idx]),
                "updated_at": ts(contact_at[idx]),
            }
        )

    return [
        RawTable("crm", "accounts", crm.created, (), render_accounts),
        RawTable("crm", "contacts", contact_at, (), render_contacts),
        _opportunities(rng, c, crm, end),
    ]


def _opportunities(rng: np.random.Generator, c: Customers, crm: Crm, end: int) -> RawTable:
    """One row per stage change (like Salesforce OpportunityHistory)."""
    n = c.signup.size
    account_created = crm.created[crm.customer_account - 1]
    is_customer = np.zeros(crm.created.size, bool)
    is_customer[crm.customer_account - 1] = True
    prospect = np.flatnonzero(~is_customer)
    prospect = prospect[rng.random(prospect.size) < 0.6]
    opened = np.concatenate(
        [
            account_created + (rng.random(n) * (c.signup - account_created) * 0.5).astype(np.int64),
            crm.created[prospect] + (rng.random(prospect.size) * 10 * DAY).astype(np.int64),
        ]
    )
    account = np.concatenate([crm.customer_account - 1, prospect])
    plan = np.concatenate([c.plan, rng.choice(4, prospect.size, p=[0.45, 0.33, 0.17, 0.05])])
    qualified = np.concatenate(
        [
            c.signup + HOUR,
            np.where(rng.random(prospect.size) < 0.5, opened[n:] + rng.integers(3, 21, prospect.size) * DAY, NONE),
        ]
    )
    won = np.concatenate([np.where(c.paid_start != NONE, c.paid_start + 2 * HOUR, NONE), np.full(prospect.size, NONE)])
    lost = np.concatenate(
        [
            np.where(c.has_trial & (c.paid_start == NONE), c.trial_end + rng.integers(1, 6, n) * DAY, NONE),
            np.where(
                (qualified[n:] != NONE) & (rng.random(prospect.size) < 0.4),
                qualified[n:] + rng.integers(10, 61, prospect.size) * DAY,
                NONE,
            ),
        ]
    )
    order = np.argsort(opened, kind="stable")
    number = np.empty(order.size, np.int64)
    number[order] = np.arange(1, order.size + 1)

    opp = np.tile(np.arange(opened.size), 4)
    stage = np.repeat(np.arange(4), opened.size)
    at = np.concatenate([opened, qualified, won, lost])
    rows = np.flatnonzero((at != NONE) & (at < end))
    rows = rows[np.argsort(at[rows], kind="stable")]
    opp, stage, at = opp[rows], stage[rows], at[rows]
    no_amount = (stage == 0) & (rng.random(rows.size) < 0.3)
    amount = PRICE_CENTS[0, plan[opp]] * 12 / 100.0
    expected_close = (opened[opp] + 30 * DAY) // DAY
    close_day = np.where(stage >= 2, at // DAY, expected_close).astype(np.int32)

    def render(idx: np.ndarray, cutoff: int) -> pa.Table:
        return pa.table(
            {
                "history_id": ids("OH-", idx + 1, 9),
                "opportunity_id": ids("OPP-", number[opp[idx]], 8),
                "account_id": ids("ACC-", account[opp[idx]] + 1, 8),
                "stage": labels(STAGES, stage[idx]),
                "amount": pa.array(amount[idx], mask=no_amount[idx]),
                "close_date": pa.array(close_day[idx], pa.date32()),
                "created_at": ts(opened[opp[idx]]),
                "stage_changed_at": ts(at[idx]),
                "updated_at": ts(at[idx]),
            }
        )

    return RawTable("crm", "opportunities", at, (), render)


# ---------------------------------------------------------------- billing and support tables


def _rank(created: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Creation order and each row's position in it, so ids increase with time."""
    order = np.argsort(created, kind="stable")
    position = np.empty(order.size, np.int64)
    position[order] = np.arange(order.size)
    return order, position


def billing_tables(rng: np.random.Generator, c: Customers, crm: Crm, b: Billing, end: int) -> list[RawTable]:
    n = c.signup.size
    # ~2% of billing customers point at no CRM account: half never linked, half a merged id.
    unmatched = rng.random(n) < 0.02
    unlinked = unmatched & (rng.random(n) < 0.5)
    crm_ref = np.where(unmatched, crm.created.size + 1 + rng.integers(0, crm.created.size, n), crm.customer_account)
    no_email = rng.random(n) < 0.01

    def render_customers(idx: np.ndarray, cutoff: int) -> pa.Table:
        return pa.table(
            {
                "customer_id": ids("cus_", idx + 1, 8),
                "crm_account_id": ids("ACC-", crm_ref[idx], 8, unlinked[idx]),
                "email": pc.binary_join_element_wise(
                    ids("billing@acct", crm.customer_account[idx], 8, no_email[idx]), ".example.com", ""
                ),
                "currency": labels(CURRENCIES, c.currency[idx]),
                "created_at": ts(c.signup[idx]),
                "updated_at": ts(c.signup[idx]),
            }
        )

    p = b.periods
    customer, first = p.get("customer"), p.get("first", bool)
    trial_only = np.flatnonzero(c.has_trial & (c.paid_start == NONE))
    with_trial = first & c.has_trial[customer]
    customer = np.concatenate([customer, trial_only])
    plan = np.concatenate([p.get("plan"), c.plan[trial_only]])
    started = np.concatenate([p.get("start"), np.full(trial_only.size, NONE)])
    ended = np.concatenate([b.period_end, c.trial_end[trial_only]])
    reason = np.concatenate([b.period_reason, np.full(trial_only.size, 4)])
    trial_start = np.concatenate([np.where(with_trial, c.signup[p.get("customer")], NONE), c.signup[trial_only]])
    trial_end = np.concatenate([np.where(with_trial, c.trial_end[p.get("customer")], NONE), c.trial_end[trial_only]])
    created = np.where(trial_start != NONE, trial_start, started)
    order, position = _rank(created)
    period_sub = position[: p.get("customer").size] + 1
    customer, plan, started, ended, reason, trial_start, trial_end, created = (
        a[order] for a in (customer, plan, started, ended, reason, trial_start, trial_end, created)
    )
    mrr = mrr_cents(c.currency[customer], plan, c.discounted[customer])

    def render_subscriptions(idx: np.ndarray, cutoff: int) -> pa.Table:
        st, en = started[idx], ended[idx]
        has_st, has_en = (st >= 0) & (st < cutoff), (en >= 0) & (en < cutoff)
        changed = (reason[idx] == 2) | (reason[idx] == 3)
        status = np.where(has_en, np.where(has_st, np.where(changed, 4, 3), 2), np.where(has_st, 1, 0))
        return pa.table(
            {
                "subscription_id": ids("sub_", idx + 1, 9),
                "customer_id": ids("cus_", customer[idx] + 1, 8),
                "plan": labels(PLANS, plan[idx]),
                "mrr_cents": pa.array(mrr[idx]),
                "currency": labels(CURRENCIES, c.currency[customer[idx]]),
                "status": labels(SUB_STATUS, status),
                "trial_start": ts(trial_start[idx]),
                "trial_end": ts(trial_end[idx]),
                "started_at": ts(st, cutoff),
                "ended_at": ts(en, cutoff),
                "end_reason": labels(END_REASONS, np.maximum(reason[idx], 0), ~has_en),
                "created_at": ts(created[idx]),
                "updated_at": updated_at(created[idx], cutoff, st, en),
            }
        )

    inv = b.invoices
    order, inv_position = _rank(inv.get("issued"))
    inv_customer, inv_sub, amount, issued, paid, uncollectible = (
        a[order]
        for a in (
            inv.get("customer"),
            period_sub[inv.get("period")],
            inv.get("amount"),
            inv.get("issued"),
            inv.get("paid"),
            inv.get("uncollectible"),
        )
    )

    def render_invoices(idx: np.ndarray, cutoff: int) -> pa.Table:
        is_paid = (paid[idx] >= 0) & (paid[idx] < cutoff)
        gave_up = (uncollectible[idx] >= 0) & (uncollectible[idx] < cutoff)
        return pa.table(
            {
                "invoice_id": ids("in_", idx + 1, 10),
                "customer_id": ids("cus_", inv_customer[idx] + 1, 8),
                "subscription_id": ids("sub_", inv_sub[idx], 9),
                "amount_cents": pa.array(amount[idx]),
                "currency": labels(CURRENCIES, c.currency[inv_customer[idx]]),
                "status": labels(INVOICE_STATUS, np.where(is_paid, 1, np.where(gave_up, 2, 0))),
                "issued_at": ts(issued[idx]),
                "paid_at": ts(paid[idx], cutoff),
                "updated_at": updated_at(issued[idx], cutoff, paid[idx], uncollectible[idx]),
            }
        )

    pay = b.payments
    order, _ = _rank(pay.get("at"))
    pay_invoice = inv_position[pay.get("invoice")][order]
    at, ok, refunded, failure = (
        pay.get(k, bool if k == "ok" else np.int64)[order] for k in ("at", "ok", "refunded", "failure")
    )

    def render_payments(idx: np.ndarray, cutoff: int) -> pa.Table:
        inv_idx, succeeded = pay_invoice[idx], ok[idx]
        was_refunded = (refunded[idx] >= 0) & (refunded[idx] < cutoff)
        return pa.table(
            {
                "payment_id": ids("py_", idx + 1, 10),
                "invoice_id": ids("in_", inv_idx + 1, 10),
                "customer_id": ids("cus_", inv_customer[inv_idx] + 1, 8),
                "amount_cents": pa.array(amount[inv_idx]),
                "currency": labels(CURRENCIES, c.currency[inv_customer[inv_idx]]),
                "status": labels(PAYMENT_STATUS, np.where(succeeded, np.where(was_refunded, 2, 0), 1)),
                "failure_code": labels(FAILURE_CODES, failure[idx], succeeded),
                "created_at": ts(at[idx]),
                "paid_at": ts(np.where(succeeded, at[idx], NONE)),
                "refunded_at": ts(refunded[idx], cutoff),
                "updated_at": updated_at(at[idx], cutoff, refunded[idx]),
            }
        )

    return [
        RawTable("billing", "customers", c.signup, (), render_customers),
        RawTable("billing", "subscriptions", created, (started, ended), render_subscriptions),
        RawTable("billing", "invoices", issued, (paid, uncollectible), render_invoices),
        RawTable("billing", "payments", at, (refunded,), render_payments),
    ]


def ticket_table(c: Customers, crm: Crm, b: Billing) -> RawTable:
    t = b.tickets
    order, _ = _rank(t.get("created"))
    customer, created, solved, priority, category, channel, csat = (
        t.get(k)[order] for k in ("customer", "created", "solved", "priority", "category", "channel", "csat")
    )
    # Support syncs organisations from the CRM, so tickets carry the true CRM account id.
    account = crm.customer_account[customer]

    def render(idx: np.ndarray, cutoff: int) -> pa.Table:
        is_solved = (solved[idx] >= 0) & (solved[idx] < cutoff)
        return pa.table(
            {
                "ticket_id": pa.array(100_000 + idx),
                "account_id": ids("ACC-", account[idx], 8),
                "priority": labels(PRIORITIES, priority[idx]),
                "category": labels(CATEGORIES, category[idx]),
                "channel": labels(TICKET_CHANNELS, channel[idx]),
                "status": labels(("open", "solved"), is_solved.astype(np.int64)),
                "created_at": ts(created[idx]),
                "solved_at": ts(solved[idx], cutoff),
                "csat": pa.array(csat[idx].astype(np.int32), mask=~is_solved | (csat[idx] == 0)),
                "updated_at": updated_at(created[idx], cutoff, solved[idx]),
            }
        )

    return RawTable("support", "tickets", created, (solved,), render)
