"""AR metrics: countback DSO, simple DSO, best-possible DSO, ADD, CEI, history and the DSO bridge.

Definitions are spelled out in docs/aging.md ("Metrics"). AR here is the open amount of progress invoices
(retainage excluded, unapplied credits not netted); sales are the approved pay apps' current payment due.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from datetime import date, timedelta
from decimal import Decimal

from .aging import Book, allocate, bucket_of
from .model import BUCKETS, DsoBridge, MonthPoint

HUNDRED = Decimal(100)


def month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def add_months(year: int, month: int, delta: int) -> tuple[int, int]:
    idx = year * 12 + (month - 1) + delta
    return idx // 12, idx % 12 + 1


def countback_months(
    day: date, billed_by_month: dict[tuple[int, int], int], max_months: int
) -> list[tuple[int, int]]:
    """(days, billed cents) for calendar months walking back from ``day``'s month; that month counts only up to
    ``day`` (its days = ``day.day``)."""
    out = []
    y, m = day.year, day.month
    for i in range(max_months):
        yy, mm = add_months(y, m, -i)
        days = day.day if i == 0 else calendar.monthrange(yy, mm)[1]
        out.append((days, billed_by_month.get((yy, mm), 0)))
    return out


def countback_dso(ar_cents: int, months: list[tuple[int, int]]) -> tuple[Decimal, int]:
    """Walk back month by month consuming each month's sales until the AR is used up.

    A month whose sales the AR covers adds all its days; the month where the AR runs out adds the fraction
    remaining / sales of its days. Returns (days, months used). AR ≤ 0 → 0 days."""
    remaining = ar_cents
    days = Decimal(0)
    used = 0
    for n_days, sales in months:
        if remaining <= 0:
            break
        used += 1
        if sales <= 0 or remaining >= sales:
            days += n_days
            remaining -= max(sales, 0)
        else:
            days += Decimal(remaining) * n_days / Decimal(sales)
            remaining = 0
    return days, used


def ratio_dso(ar_cents: int, sales_cents: int, days: int) -> Decimal | None:
    """AR / sales × days; ``None`` when there were no sales in the window."""
    if sales_cents <= 0:
        return None
    return Decimal(ar_cents) * days / Decimal(sales_cents)


def cei(begin_ar: int, sales: int, end_ar: int, end_current: int) -> Decimal | None:
    """(begin AR + sales − end AR) / (begin AR + sales − end current AR) × 100; ``None`` if the divisor is 0."""
    denominator = begin_ar + sales - end_current
    if denominator <= 0:
        return None
    return Decimal(begin_ar + sales - end_ar) * HUNDRED / Decimal(denominator)


def snapshot(books: Iterable[Book], day: date, edges: tuple[int, int, int]) -> tuple[dict[str, int], int, int]:
    """Open AR by bucket, total open and retainage held across ``books`` as they stood at the end of ``day``."""
    buckets = dict.fromkeys(BUCKETS, 0)
    total = 0
    retainage = 0
    ordinal = day.toordinal()
    for book in books:
        if not book.invoices and not book.retainage_points:
            continue
        latest = book.latest_approved(day)
        if latest is not None:
            retainage += latest[3]
        k, m = book.prefix(day)
        if k == 0 or book.fully_paid(k, m):
            continue
        opens, _credit = allocate(book.invoices, k, book.cash, m)
        invs = book.invoices
        for i in range(k):
            o = opens[i]
            if o > 0:
                b = bucket_of(ordinal - invs[i].due_date.toordinal(), edges)
                buckets[b] += o
                total += o
    return buckets, total, retainage


def collected_by_month(books: Iterable[Book]) -> dict[tuple[int, int], int]:
    out: dict[tuple[int, int], int] = {}
    for book in books:
        for c in book.cash:
            if c.source == "payment":
                ym = (c.day.year, c.day.month)
                out[ym] = out.get(ym, 0) + c.cents
    return out


def history(
    books: list[Book], as_of: date, now_buckets: dict[str, int], now_open: int, now_retainage: int,
    billed_by_month: dict[tuple[int, int], int], months: int, max_countback: int, edges: tuple[int, int, int],
) -> list[MonthPoint]:
    """``months`` points: the month ends before the as-of month, then the as-of date itself. Each point has the
    open AR by bucket, billed and collected in its month, countback DSO and CEI for its month."""
    collected = collected_by_month(books)
    points: list[MonthPoint] = []
    prev_open: int | None = None
    for i in range(months, -1, -1):  # one extra month at the start: the opening balance for the first CEI
        if i == 0:
            day, buckets, total, ret = as_of, now_buckets, now_open, now_retainage
        else:
            y, m = add_months(as_of.year, as_of.month, -i)
            day = month_end(y, m)
            buckets, total, ret = snapshot(books, day, edges)
        ym = (day.year, day.month)
        billed = billed_by_month.get(ym, 0)
        dso, _used = countback_dso(total, countback_months(day, billed_by_month, max_countback))
        point = MonthPoint(
            month=f"{day.year:04d}-{day.month:02d}", date=day, buckets=buckets, open_cents=total,
            retainage_cents=ret, billed_cents=billed, collected_cents=collected.get(ym, 0), countback_dso=dso,
            cei=None if prev_open is None else cei(prev_open, billed, total, buckets["current"]),
        )
        prev_open = total
        if i < months:
            points.append(point)
    return points


def bridge(
    prev: MonthPoint, now: MonthPoint, billed_by_month: dict[tuple[int, int], int], max_countback: int,
    promise_collected: int,
) -> DsoBridge:
    """Split the countback DSO change from ``prev`` (last month end) to ``now`` (as-of) into steps that add up:
    new billing (AR + this month's billing, with this month's sales in the countback), collections other than
    promised payments, payments counted toward kept / partly kept promises, and other (credits, reversals)."""
    months = countback_months(now.date, billed_by_month, max_countback)
    start = prev.countback_dso if prev.countback_dso is not None else Decimal(0)
    billed, collected = now.billed_cents, now.collected_cents
    promise_cash = min(max(promise_collected, 0), max(collected, 0))
    s1, _ = countback_dso(prev.open_cents + billed, months)
    s2, _ = countback_dso(max(0, prev.open_cents + billed - (collected - promise_cash)), months)
    s3, _ = countback_dso(max(0, prev.open_cents + billed - collected), months)
    end = now.countback_dso if now.countback_dso is not None else Decimal(0)
    return DsoBridge(
        start=prev.countback_dso, new_billing=s1 - start, collections=s2 - s1, promises_kept=s3 - s2,
        other=end - s3, end=now.countback_dso, billed_cents=billed, collected_cents=collected,
        promise_collected_cents=promise_cash,
    )


def window_sales(books: Iterable[Book], as_of: date, days: int) -> int:
    """Approved billing (current payment due, credits subtract) dated in the ``days`` days ending ``as_of``."""
    start = as_of - timedelta(days=days - 1)
    total = 0
    for book in books:
        for rp in reversed(book.retainage_points):  # every approved pay app, sorted by billing date
            if rp[0] < start:
                break
            if rp[0] <= as_of:
                total += rp[4]
    return total
