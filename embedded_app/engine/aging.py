"""Reading the receivables dict into per-contract books, and applying cash to invoices.

Pure functions over plain data: no I/O. Amounts are whole cents (see ``money``).
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from .model import Invoice
from .money import to_cents
from .policy import Policy
from .terms import Terms, parse_terms


def as_date(value: Any) -> date | None:
    """"YYYY-MM-DD" (or an ISO timestamp, or a date) → ``date``; anything unreadable → ``None``."""
    if type(value) is str and len(value) == 10:
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and len(value) >= 10:
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def as_int(value: Any) -> int | None:
    if type(value) is int:
        return value
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        try:
            f = float(str(value).strip())
        except ValueError:
            return None
        return int(f) if f.is_integer() else None


@dataclass(slots=True)
class Cash:
    """Money received on a contract: a contract payment, or the credit of a pay app with a negative amount."""

    id: int
    day: date
    cents: int
    key: str  # invoice_number, stripped and upper-cased ("" when none)
    draw: int | None  # draw_request_number = the pay app's ``number``
    source: str = "payment"  # "payment" | "credit_pay_app"


@dataclass(slots=True)
class Book:
    """One prime contract with its invoices (sorted oldest due first) and its cash (sorted by date)."""

    id: int
    project_id: int | None
    customer_id: int | None
    record: dict[str, Any]
    terms: Terms
    invoices: list[Invoice] = field(default_factory=list)
    cash: list[Cash] = field(default_factory=list)
    # (billing_date, number, pay_app_id, total_retainage_cents, current_payment_due_cents, pay app record) of
    # every approved pay app billed on or before the as-of date
    retainage_points: list[tuple[date, int, int, int, int, dict[str, Any]]] = field(default_factory=list)
    has_negative_cash: bool = False
    _ret_dates: list[date] | None = None
    _bill_dates: list[date] | None = None
    _cash_dates: list[date] | None = None
    _cum_inv: list[int] | None = None
    _cum_cash: list[int] | None = None

    def finish(self) -> None:
        self.invoices.sort(key=lambda i: (i.due_date, i.number if i.number is not None else -1, i.pay_app_id))
        self.cash.sort(key=lambda c: (c.day, c.source, c.id))
        self.retainage_points.sort(key=lambda r: (r[0], r[1], r[2]))
        self.has_negative_cash = any(c.cents < 0 for c in self.cash)

    def latest_approved(self, day: date) -> tuple[date, int, int, int, int, dict[str, Any]] | None:
        pts = self.retainage_points
        if not pts:
            return None
        if pts[-1][0] <= day:
            return pts[-1]
        if self._ret_dates is None:
            self._ret_dates = [p[0] for p in pts]
        k = bisect_right(self._ret_dates, day)
        return pts[k - 1] if k else None

    def prefix(self, day: date) -> tuple[int, int]:
        """How many invoices were billed and how many cash items were dated on or before ``day``.

        Within one contract the terms are the same for every invoice, so due-date order is billing-date order."""
        if self._bill_dates is None:
            self._bill_dates = [i.billing_date for i in self.invoices]
            self._cash_dates = [c.day for c in self.cash]
        return bisect_right(self._bill_dates, day), bisect_right(self._cash_dates, day)  # type: ignore[arg-type]

    def fully_paid(self, k: int, m: int) -> bool:
        """True when the first ``m`` cash items cover the first ``k`` invoices in full (no allocation needed)."""
        if self.has_negative_cash:
            return False
        if self._cum_inv is None:
            acc, cum = 0, [0]
            for inv in self.invoices:
                acc += inv.amount_cents
                cum.append(acc)
            self._cum_inv = cum
            acc, cum = 0, [0]
            for c in self.cash:
                acc += c.cents
                cum.append(acc)
            self._cum_cash = cum
        return self._cum_cash[m] >= self._cum_inv[k]  # type: ignore[index]


@dataclass(slots=True)
class Prepared:
    projects: dict[int, dict[str, Any]]
    vendors: dict[int, dict[str, Any]]
    books: dict[int, Book]
    resubmits: list[tuple[dict[str, Any], Book | None]]
    warnings: list[str]
    billed_by_month: dict[tuple[int, int], int]


def prepare(receivables: dict[str, Any], as_of: date, policy: Policy, project_id: int | None = None) -> Prepared:
    """Group the receivables dict into per-contract books, keeping only what is dated on or before ``as_of``."""
    problems: Counter[str] = Counter()
    projects: dict[int, dict[str, Any]] = {}
    for p in receivables.get("projects") or ():
        pid = as_int(p.get("id"))
        if pid is not None and (project_id is None or pid == project_id):
            projects[pid] = p
    vendors: dict[int, dict[str, Any]] = {}
    for v in receivables.get("vendors") or ():
        vid = as_int(v.get("id"))
        if vid is not None:
            vendors[vid] = v

    books: dict[int, Book] = {}
    terms_cache: dict[Any, Terms] = {}
    for c in receivables.get("prime_contracts") or ():
        cid = as_int(c.get("id"))
        if cid is None:
            problems["a prime contract without an id was left out"] += 1
            continue
        pid = as_int(c.get("project_id"))
        if project_id is not None and pid != project_id:
            continue
        vendor = c.get("vendor") or {}
        customer_id = as_int(vendor.get("id")) if isinstance(vendor, dict) and vendor.get("id") is not None \
            else as_int(c.get("vendor_id"))
        raw_terms = c.get("payment_terms")
        key = raw_terms if isinstance(raw_terms, str | int | float | type(None)) else repr(raw_terms)
        terms = terms_cache.get(key)
        if terms is None:
            terms = terms_cache[key] = parse_terms(raw_terms, policy.default_terms_days)
        books[cid] = Book(cid, pid, customer_id, c, terms)

    resubmits: list[tuple[dict[str, Any], Book | None]] = []
    billed: dict[tuple[int, int], int] = {}
    for pa in receivables.get("payment_applications") or ():
        if project_id is not None and as_int(pa.get("project_id")) != project_id:
            continue
        status = (pa.get("status") or "").lower()
        if status != "approved":
            if status == "revise_and_resubmit":
                contract = pa.get("contract") or {}
                cid = as_int(contract.get("id") if isinstance(contract, dict) else None) or as_int(
                    pa.get("contract_id"))
                resubmits.append((pa, books.get(cid) if cid is not None else None))
            continue
        contract = pa.get("contract") or {}
        cid = as_int(contract.get("id") if isinstance(contract, dict) else None)
        if cid is None:
            cid = as_int(pa.get("contract_id"))
        book = books.get(cid) if cid is not None else None
        pay_app_id = as_int(pa.get("id"))
        if book is None or pay_app_id is None:
            problems["an approved pay app whose prime contract is not in the cache was left out"] += 1
            continue
        billing = as_date(pa.get("billing_date")) or as_date(pa.get("period_end")) or as_date(pa.get("created_at"))
        if billing is None:
            problems["an approved pay app without a billing date was left out"] += 1
            continue
        if billing > as_of:
            continue
        g702 = pa.get("g702") or {}
        amount = to_cents(g702.get("current_payment_due"))
        number = as_int(pa.get("number"))
        book.retainage_points.append(
            (billing, number if number is not None else -1, pay_app_id,
             max(0, to_cents(g702.get("total_retainage"))), amount, pa))
        ym = (billing.year, billing.month)
        billed[ym] = billed.get(ym, 0) + amount
        if amount > 0:
            inv_no = pa.get("invoice_number")
            book.invoices.append(Invoice(
                pay_app_id=pay_app_id, project_id=book.project_id if book.project_id is not None
                else as_int(pa.get("project_id")), contract_id=book.id, customer_id=book.customer_id,
                number=number, invoice_number="" if inv_no is None else str(inv_no),
                billing_date=billing, due_date=billing + timedelta(days=book.terms.days), amount_cents=amount,
            ))
        elif amount < 0:
            # A negative current payment due is a credit to the customer: applied like unmatched cash.
            book.cash.append(Cash(pay_app_id, billing, -amount, "", None, "credit_pay_app"))

    for p in receivables.get("contract_payments") or ():
        if project_id is not None and as_int(p.get("project_id")) != project_id:
            continue
        cid = as_int(p.get("contract_id"))
        book = books.get(cid) if cid is not None else None
        pay_id = as_int(p.get("id"))
        if book is None or pay_id is None:
            problems["a payment whose prime contract is not in the cache was left out"] += 1
            continue
        day = as_date(p.get("date"))
        if day is None:
            problems["a payment without a date was left out"] += 1
            continue
        if day > as_of:
            continue
        cents = to_cents(p.get("amount"))
        if cents == 0:
            continue
        inv_no = p.get("invoice_number")
        key = str(inv_no).strip().upper() if inv_no is not None else ""
        book.cash.append(Cash(pay_id, day, cents, key, as_int(p.get("draw_request_number"))))

    for book in books.values():
        book.finish()
    warnings = [f"{msg} ({n})" if n > 1 else msg for msg, n in sorted(problems.items())]
    return Prepared(projects, vendors, books, resubmits, warnings, billed)


Application = tuple[int, int, int]  # (cash index, invoice index or -1 for unapplied credit, cents)


def allocate(
    invoices: list[Invoice], k: int, cash: list[Cash], m: int, record: list[Application] | None = None
) -> tuple[list[int], int]:
    """Apply the first ``m`` cash items to the first ``k`` invoices (already sorted oldest due first).

    1. Each payment goes first to the invoice whose ``invoice_number`` matches (else whose pay-app ``number``
       matches its ``draw_request_number``), up to that invoice's open amount.
    2. Negative cash (reversals) takes back the most recent leftovers.
    3. Every leftover, in date order, pays the contract's open invoices oldest due date first.
    Returns (open cents per invoice, unapplied credit cents). ``record`` receives each application.
    """
    opens = [invoices[i].amount_cents for i in range(k)]
    left = [0] * m
    by_key: dict[str, list[int]] | None = None
    by_draw: dict[int, list[int]] | None = None
    negative = 0
    for j in range(m):
        c = cash[j]
        amt = c.cents
        if amt <= 0:
            negative -= amt
            continue
        if c.key or c.draw is not None:
            if by_key is None:
                by_key, by_draw = {}, {}
                for i in range(k):
                    inv = invoices[i]
                    if inv.invoice_number:
                        by_key.setdefault(inv.invoice_number.strip().upper(), []).append(i)
                    if inv.number is not None:
                        by_draw.setdefault(inv.number, []).append(i)
            targets = by_key.get(c.key) if c.key else None
            if not targets and c.draw is not None:
                targets = by_draw.get(c.draw)  # type: ignore[union-attr]
            if targets:
                for i in targets:
                    o = opens[i]
                    if o > 0:
                        a = o if o < amt else amt
                        opens[i] = o - a
                        amt -= a
                        if record is not None:
                            record.append((j, i, a))
                        if amt == 0:
                            break
        left[j] = amt
    if negative:
        for j in range(m - 1, -1, -1):
            if left[j] > 0:
                take = left[j] if left[j] < negative else negative
                left[j] -= take
                negative -= take
                if not negative:
                    break
    credit = 0
    ptr = 0
    for j in range(m):
        amt = left[j]
        while amt > 0 and ptr < k:
            o = opens[ptr]
            if o <= 0:
                ptr += 1
                continue
            a = o if o < amt else amt
            opens[ptr] = o - a
            amt -= a
            if record is not None:
                record.append((j, ptr, a))
        if amt > 0:
            credit += amt
            if record is not None:
                record.append((j, -1, amt))
    return opens, credit


def bucket_of(days: int, edges: tuple[int, int, int]) -> str:
    if days <= 0:
        return "current"
    if days <= edges[0]:
        return "1_30"
    if days <= edges[1]:
        return "31_60"
    if days <= edges[2]:
        return "61_90"
    return "91_plus"
