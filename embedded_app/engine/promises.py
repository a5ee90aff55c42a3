"""Promise-to-pay evaluation: kept, partially kept, broken or still pending on the as-of date."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from .aging import Book, allocate, prepare
from .model import Promise, PromiseOutcome
from .policy import Policy


@dataclass(slots=True)
class Receipt:
    """A payment as the promise watcher sees it: how much of it went to which pay app."""

    id: int
    day: date
    cents: int
    applied: dict[int, int]  # pay_app_id → cents (credit, unapplied, is under key -1)


def receipts_for(books: Iterable[Book], as_of: date) -> dict[int | None, list[Receipt]]:
    """Per customer, every positive payment on or before ``as_of`` with the pay apps it was applied to."""
    out: dict[int | None, list[Receipt]] = {}
    for book in books:
        k, m = len(book.invoices), len(book.cash)
        record: list[tuple[int, int, int]] = []
        allocate(book.invoices, k, book.cash, m, record)
        by_cash: dict[int, dict[int, int]] = {}
        for j, i, cents in record:
            target = book.invoices[i].pay_app_id if i >= 0 else -1
            d = by_cash.setdefault(j, {})
            d[target] = d.get(target, 0) + cents
        lst = out.setdefault(book.customer_id, [])
        for j, c in enumerate(book.cash):
            if c.source == "payment" and c.cents > 0:
                lst.append(Receipt(c.id, c.day, c.cents, by_cash.get(j, {})))
    for lst in out.values():
        lst.sort(key=lambda r: (r.day, r.id))
    return out


def _sort_key(p: Promise) -> tuple[Any, ...]:
    return (p.promised_date, p.created_on, str(p.id), p.amount_cents, p.invoice_ids)


def evaluate_with(
    promises: Iterable[Promise], receipts: dict[int | None, list[Receipt]], as_of: date, policy: Policy,
    customer_of_pay_app: dict[int, int | None] | None = None,
) -> list[PromiseOutcome]:
    """Evaluate promises against receipts. Each payment counts toward at most one promise: promises are taken in
    promised-date order and consume the payments dated from the day they were made to their deadline."""
    grace = timedelta(days=policy.promise_grace_days)
    used: dict[tuple[int | None, int], int] = {}  # (customer, receipt id) → cents already counted
    outcomes: list[PromiseOutcome] = []
    for p in sorted(promises, key=_sort_key):
        deadline = p.promised_date + grace
        if p.status.lower() == "cancelled":
            outcomes.append(PromiseOutcome(p, "cancelled", 0, deadline))
            continue
        customer = p.customer_id
        if customer is None and p.invoice_ids and customer_of_pay_app:
            customer = customer_of_pay_app.get(p.invoice_ids[0])
        target = p.amount_cents
        received = 0
        counted: list[tuple[int, date, int]] = []
        end = min(deadline, as_of)
        covered = set(p.invoice_ids)
        for r in receipts.get(customer, ()):
            if r.day < p.created_on:
                continue
            if r.day > end or received >= target:
                break
            avail = r.cents - used.get((customer, r.id), 0)
            if covered:
                avail = min(avail, sum(v for k, v in r.applied.items() if k in covered))
            if avail <= 0:
                continue
            take = min(avail, target - received)
            used[(customer, r.id)] = used.get((customer, r.id), 0) + take
            received += take
            counted.append((r.id, r.day, take))
        if received >= target:
            status = "kept"
        elif as_of <= deadline:
            status = "pending"
        elif received == 0:
            status = "broken"
        else:
            status = "partially_kept"
        outcomes.append(PromiseOutcome(p, status, received, deadline, tuple(counted)))
    return outcomes


def evaluate_promises(
    receivables: dict[str, Any], promises: Iterable[Promise], as_of: date, policy: Policy | None = None,
) -> list[PromiseOutcome]:
    """Evaluate each promise on ``as_of``: kept (promised amount received by promised date + grace days),
    partially_kept / broken (deadline passed short / with nothing), pending (deadline not passed yet), cancelled.

    Counted toward a promise: payments of the customer dated from the promise's ``created_on`` through the
    deadline (never after ``as_of``); if the promise names pay apps, only the part applied to them."""
    policy = policy or Policy()
    promises = list(promises)
    prepared = prepare(receivables, as_of, policy)
    wanted = {p.customer_id for p in promises}
    pay_app_customer = {i.pay_app_id: b.customer_id for b in prepared.books.values() for i in b.invoices}
    wanted |= {pay_app_customer.get(i) for p in promises for i in p.invoice_ids}
    books = [b for b in prepared.books.values() if b.customer_id in wanted]
    return evaluate_with(promises, receipts_for(books, as_of), as_of, policy, pay_app_customer)
