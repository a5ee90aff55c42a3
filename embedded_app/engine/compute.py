"""``compute``: the whole aging report for one company (or one project) on one day."""

from __future__ import annotations

import gc
from collections.abc import Iterable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from . import flags as F
from .aging import Book, allocate, as_date, bucket_of, prepare
from .ladder import higher, next_action, one_up, stage_for, stage_start
from .metrics import bridge, history, window_sales
from .model import (
    BUCKETS,
    PAUSED,
    AgingReport,
    CallItem,
    Contact,
    ContractAging,
    CustomerAging,
    Dispute,
    Flag,
    Invoice,
    Metrics,
    ProjectStage,
    Promise,
    PromiseOutcome,
    Task,
)
from .money import to_cents
from .policy import Policy
from .promises import evaluate_with, receipts_for


def _text(v: Any) -> str | None:
    if v is None:
        return None
    s = str(v).strip()
    return s or None


def _customer_identity(
    customer_id: int | None, vendors: dict[int, dict[str, Any]], books: list[Book]
) -> tuple[str, str | None, str | None]:
    rec = vendors.get(customer_id) if customer_id is not None else None
    embedded = next((b.record.get("vendor") for b in books if isinstance(b.record.get("vendor"), dict)), None) or {}
    name = None
    email = phone = None
    for r in (rec, embedded):
        if not r:
            continue
        pc = r.get("primary_contact") if isinstance(r.get("primary_contact"), dict) else {}
        name = name or _text(r.get("name"))
        email = email or _text(r.get("email_address")) or _text(pc.get("email_address"))
        phone = phone or _text(r.get("business_phone")) or _text(pc.get("business_phone")) or _text(
            pc.get("mobile_phone"))
    if name is None:
        name = f"Customer {customer_id}" if customer_id is not None else "(no owner/client on the contract)"
    return name, email, phone


def _is_final(pay_app: dict[str, Any]) -> bool:
    if pay_app.get("is_last") is True or pay_app.get("final") is True:
        return True
    try:
        if Decimal(str(pay_app.get("percent_complete"))) >= 100:
            return True
    except Exception:  # noqa: BLE001 - missing/unreadable percent: not final by this test
        pass
    g702 = pay_app.get("g702") or {}
    total = to_cents(g702.get("contract_sum_to_date"))
    done = to_cents(g702.get("total_completed_and_stored_to_date"))
    return total > 0 and done >= total


def _contract_aging(book: Book, opens_cents: int, credit: int, as_of: date) -> ContractAging:
    rec = book.record
    latest = book.latest_approved(as_of)
    ret = latest[3] if latest else 0
    status = str(rec.get("status") or "")
    stage, reason = "none", None
    if ret > 0:
        stage = "held"
        done = as_date(rec.get("substantial_completion_date"))
        if status.lower() == "complete":
            stage, reason = "retainage_release", "contract status is Complete"
        elif done is not None and done <= as_of:
            stage, reason = "retainage_release", f"substantially complete on {done.isoformat()}"
        elif latest is not None and _is_final(latest[5]):
            num = latest[1] if latest[1] >= 0 else latest[2]
            stage, reason = "retainage_release", f"final pay app #{num} approved"
        else:
            reason = "work not complete yet: retainage is held, not due"
    return ContractAging(
        id=book.id, project_id=book.project_id, number=str(rec.get("number") or ""),
        title=str(rec.get("title") or ""), status=status, terms_days=book.terms.days, terms_note=book.terms.note,
        retainage_cents=ret, retainage_stage=stage, retainage_reason=reason, open_cents=opens_cents,
        unapplied_credit_cents=credit,
    )


def compute(
    receivables: dict[str, Any],
    as_of: date,
    policy: Policy | None = None,
    *,
    promises: Iterable[Promise] = (),
    contacts: Iterable[Contact] = (),
    disputes: Iterable[Dispute] = (),
    company_id: int | None = None,
    project_id: int | None = None,
) -> AgingReport:
    """Aging, retainage, dunning stages, call flags and metrics for the receivables of one company on ``as_of``.

    ``receivables`` is what ``embedded_app.store.cache.load_receivables`` returns. Only records dated on or before
    ``as_of`` count. The work state (promises, contacts, disputes) is plain dataclasses. See docs/aging.md.

    Python's cyclic garbage collector is paused while the report is built (it creates no reference cycles, and
    scanning a company's worth of loaded records over and over costs about a third of the time); it is restored
    on the way out.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _compute(receivables, as_of, policy, list(promises), list(contacts), list(disputes), company_id,
                        project_id)
    finally:
        if was_enabled:
            gc.enable()


def _compute(
    receivables: dict[str, Any], as_of: date, policy: Policy | None, promises: list[Promise],
    contacts: list[Contact], disputes: list[Dispute], company_id: int | None, project_id: int | None,
) -> AgingReport:
    policy = policy or Policy()
    prep = prepare(receivables, as_of, policy, project_id)
    edges = policy.bucket_edges
    ordinal = as_of.toordinal()

    open_disputes: dict[int, Dispute] = {}
    for d in sorted(disputes, key=lambda d: (d.opened_on, str(d.id))):
        if d.open_on(as_of):
            open_disputes.setdefault(d.pay_app_id, d)
    contacts_by: dict[int | None, list[Contact]] = {}
    for c in sorted(contacts, key=lambda c: (c.sent_on, c.kind, c.stage, str(c.id))):
        contacts_by.setdefault(c.customer_id, []).append(c)

    # Per contract: apply cash, then age each invoice.
    by_customer: dict[int | None, list[Book]] = {}
    contract_state: dict[int, tuple[int, int]] = {}
    for book in prep.books.values():
        invs = book.invoices
        opens, credit = allocate(invs, len(invs), book.cash, len(book.cash))
        total = 0
        for inv, o in zip(invs, opens, strict=True):
            inv.open_cents = o
            if o:
                total += o
                d = ordinal - inv.due_date.toordinal()
                inv.days_past_due = d
                inv.bucket = bucket_of(d, edges)
                inv.stage = stage_for(d, policy)
            else:
                inv.days_past_due = ordinal - inv.due_date.toordinal()
                inv.bucket = bucket_of(inv.days_past_due, edges)
                inv.stage = "current"
        contract_state[book.id] = (total, credit)
        by_customer.setdefault(book.customer_id, []).append(book)

    # Promises.
    outcomes: list[PromiseOutcome] = []
    if promises:
        pay_app_customer = {i.pay_app_id: b.customer_id for b in prep.books.values() for i in b.invoices}
        wanted = {p.customer_id for p in promises} | {
            pay_app_customer.get(i) for p in promises for i in p.invoice_ids}
        books = [b for c in wanted for b in by_customer.get(c, ())]
        outcomes = evaluate_with(promises, receipts_for(books, as_of), as_of, policy, pay_app_customer)
    outcomes_by: dict[int | None, list[PromiseOutcome]] = {}
    for o in outcomes:
        cust = o.promise.customer_id
        if cust is None and o.promise.invoice_ids:
            cust = next((b.customer_id for b in prep.books.values() for i in b.invoices
                         if i.pay_app_id == o.promise.invoice_ids[0]), None)
        outcomes_by.setdefault(cust, []).append(o)

    customers: list[CustomerAging] = []
    for cust_id, books in by_customer.items():
        books.sort(key=lambda b: b.id)
        has_activity = any(b.invoices or b.cash or b.retainage_points for b in books)
        if not has_activity:
            continue
        customers.append(_customer(cust_id, books, contract_state, prep, open_disputes,
                                   contacts_by.get(cust_id, []), outcomes_by.get(cust_id, []), as_of, policy))

    # Company-wide flags and ranking.
    total_past_due = sum(c.past_due_cents for c in customers)
    n_past_due = sum(1 for c in customers if c.past_due_cents > 0)
    for c in customers:
        f = F.concentration(c.name, c.past_due_cents, total_past_due, n_past_due, policy)
        if f:
            c.flags.append(f)
        due = [o for o in outcomes_by.get(c.id, []) if o.status in ("kept", "partially_kept", "broken")]
        kept = sum(1 for o in due if o.status == "kept")
        c.call_score, c.score_components = F.score(c.past_due_cents, c.oldest_days_past_due, c.flags, kept,
                                                   len(due), policy)
    customers.sort(key=lambda c: (c.name.casefold(), c.id is None, c.id or 0))
    calls = [
        CallItem(c.id, c.name, c.phone, c.email, c.call_score, c.score_components, c.flags, c.past_due_cents,
                 c.open_cents)
        for c in customers if c.flags
    ]
    calls.sort(key=lambda x: (-x.score, -x.past_due_cents, x.name.casefold(), x.customer_id or 0))

    totals = dict.fromkeys(BUCKETS, 0)
    for c in customers:
        for k in BUCKETS:
            totals[k] += c.buckets[k]
    totals["past_due"] = sum(c.past_due_cents for c in customers)
    totals["open"] = sum(c.open_cents for c in customers)
    totals["retainage"] = sum(c.retainage_cents for c in customers)
    totals["unapplied_credit"] = sum(c.unapplied_credit_cents for c in customers)
    totals["balance"] = totals["open"] - totals["unapplied_credit"]

    tasks = _tasks(prep, as_of)
    metrics = _metrics(prep, as_of, totals, outcomes, policy)
    return AgingReport(
        company_id=company_id, project_id=project_id, as_of=as_of, totals=totals, customers=customers,
        tasks=tasks, metrics=metrics, needs_a_call=calls, promise_outcomes=outcomes, warnings=prep.warnings,
        legal_note=policy.legal_note,
    )


def _customer(
    cust_id: int | None, books: list[Book], contract_state: dict[int, tuple[int, int]], prep: Any,
    open_disputes: dict[int, Dispute], contacts: list[Contact], outcomes: list[PromiseOutcome], as_of: date,
    policy: Policy,
) -> CustomerAging:
    name, email, phone = _customer_identity(cust_id, prep.vendors, books)
    invoices: list[Invoice] = [i for b in books for i in b.invoices if i.open_cents > 0]
    invoices.sort(key=lambda i: (i.due_date, i.project_id or 0, i.contract_id or 0, i.number or 0, i.pay_app_id))
    contracts = [_contract_aging(b, *contract_state[b.id], as_of) for b in books]
    credit = sum(c.unapplied_credit_cents for c in contracts)
    retainage = sum(c.retainage_cents for c in contracts)

    # Pauses: open disputes per invoice; live (pending) promises per covered invoice or the whole balance.
    pending = [o for o in outcomes if o.status == "pending"]
    promise_all = any(not o.promise.invoice_ids for o in pending)
    promise_ids = {i for o in pending for i in o.promise.invoice_ids}
    disputed_items: list[tuple[Invoice, Dispute]] = []
    for inv in invoices:
        inv.paused = None
        d = open_disputes.get(inv.pay_app_id)
        if d is not None:
            inv.paused = "disputed"
            disputed_items.append((inv, d))
        elif promise_all or inv.pay_app_id in promise_ids:
            inv.paused = "promise"

    buckets = dict.fromkeys(BUCKETS, 0)
    for inv in invoices:
        buckets[inv.bucket] += inv.open_cents
    open_cents = sum(buckets.values())
    oldest = max((i.days_past_due for i in invoices), default=None)
    oldest = None if oldest is None else max(oldest, 0)

    ladder = "current"
    for inv in invoices:
        ladder = higher(inv.stage, ladder)
    active = [i for i in invoices if i.paused is None]
    base = "current"
    driver: Invoice | None = None
    for inv in active:
        if driver is None or inv.days_past_due > driver.days_past_due:
            driver = inv
        base = higher(inv.stage, base)

    broken = None
    live_later = [o for o in outcomes if o.status != "cancelled"]
    for o in sorted((o for o in outcomes if o.broken), key=lambda o: (o.deadline, o.promise.created_on)):
        superseded = any(x.promise.created_on > o.promise.created_on for x in live_later if x is not o)
        if not superseded:
            broken = o
    active_cents = sum(i.open_cents for i in active)
    hold = hold_reason = None
    entered: date | None = None
    if broken is not None and open_cents - credit <= policy.tolerance_cents:
        broken = None
    if not invoices:
        stage = "current"
    elif not active:
        stage = PAUSED
        kinds = {i.paused for i in invoices}
        hold = "disputed" if "disputed" in kinds else "promise"
        parts = []
        if "disputed" in kinds:
            parts.append("every open invoice is disputed" if kinds == {"disputed"} else "disputed invoices")
        if "promise" in kinds:
            p = min(pending, key=lambda o: o.deadline)
            parts.append(f"promise to pay {F.usd(p.promise.amount_cents)} by {p.promise.promised_date.isoformat()}")
        hold_reason = "ladder paused: " + " and ".join(parts)
    elif active_cents - credit <= policy.tolerance_cents and broken is None:
        stage = "current"
        hold = "small_balance"
        hold_reason = (f"{F.usd(max(0, active_cents - credit))} open is within the "
                       f"{F.usd(policy.tolerance_cents)} small-balance tolerance: no reminders")
    else:
        stage = base
        if driver is not None and stage != "current":
            entered = driver.due_date + timedelta(days=stage_start(stage, policy))
        if broken is not None:
            stage = one_up(base)
            entered = broken.deadline + timedelta(days=1)

    projects: dict[int | None, list[Invoice]] = {}
    for inv in invoices:
        projects.setdefault(inv.project_id, []).append(inv)
    for b in books:
        projects.setdefault(b.project_id, [])
    project_rows = []
    for pid in sorted(projects, key=lambda x: (x is None, x or 0)):
        invs = projects[pid]
        act = [i for i in invs if i.paused is None]
        pstage = "current"
        for i in act:
            pstage = higher(i.stage, pstage)
        if invs and not act:
            pstage = PAUSED
        prec = prep.projects.get(pid, {}) if pid is not None else {}
        project_rows.append(ProjectStage(
            id=pid, name=str(prec.get("display_name") or prec.get("name") or (f"Project {pid}" if pid else "")),
            state_code=prec.get("state_code"), stage=pstage, open_cents=sum(i.open_cents for i in invs),
            past_due_cents=sum(i.open_cents for i in invs if i.days_past_due > 0),
        ))

    flags: list[Flag] = []
    if broken is not None:
        flags.append(F.broken_promise(broken))
    f = F.over_61_days(invoices, policy)
    if f:
        flags.append(f)
    last_payment = max((c.day for b in books for c in b.cash if c.source == "payment" and c.cents > 0),
                       default=None)
    past_due_cents = open_cents - buckets["current"]
    f = F.final_notice_no_reply(contacts, last_payment, past_due_cents, as_of, policy)
    if f:
        flags.append(f)
    f = F.no_email(name, cust_id, email, phone, open_cents - credit, policy)
    if f:
        flags.append(f)
    flags.extend(F.deadlines(invoices, contracts, {b.id: b.record for b in books}, prep.projects, as_of, policy))
    f = F.disputed(disputed_items, as_of)
    if f:
        flags.append(f)

    due = [o for o in outcomes if o.status in ("kept", "partially_kept", "broken")]
    rate = None
    if due:
        rate = Decimal(sum(1 for o in due if o.status == "kept")) * 100 / Decimal(len(due))
    retainage_stage = "none"
    for c in contracts:
        if c.retainage_stage == "retainage_release":
            retainage_stage = "retainage_release"
        elif c.retainage_stage == "held" and retainage_stage == "none":
            retainage_stage = "held"
    return CustomerAging(
        id=cust_id, name=name, email=email, phone=phone, buckets=buckets, open_cents=open_cents,
        retainage_cents=retainage, unapplied_credit_cents=credit, oldest_days_past_due=oldest, stage=stage,
        ladder_stage=ladder, hold=hold, flags=flags, invoices=invoices, contracts=contracts,
        projects=project_rows,
        next_action=next_action(stage, hold, hold_reason, entered, contacts, as_of, policy),
        retainage_stage=retainage_stage, promise_kept_rate=rate,
        terms_notes=sorted({f"contract {c.number or c.id}: {c.terms_note}" for c in contracts if c.terms_note}),
    )


def _tasks(prep: Any, as_of: date) -> list[Task]:
    tasks = []
    for pa, book in prep.resubmits:
        from .aging import as_int

        pid = as_int(pa.get("id"))
        if pid is None:
            continue
        number = as_int(pa.get("number"))
        inv_no = str(pa.get("invoice_number") or "")
        project_id = as_int(pa.get("project_id")) if book is None or book.project_id is None else book.project_id
        prec = prep.projects.get(project_id, {}) if project_id is not None else {}
        pname = prec.get("display_name") or prec.get("name") or (f"project {project_id}" if project_id else "")
        customer_id = book.customer_id if book else None
        cname = None
        if book is not None:
            cname = _customer_identity(customer_id, prep.vendors, [book])[0]
        label = f"pay app #{number}" if number is not None else f"pay app {pid}"
        text = f"Fix and resubmit {label}" + (f" ({inv_no})" if inv_no else "")
        if pname:
            text += f" on {pname}"
        if cname:
            text += f" for {cname}"
        text += ": the owner returned it as revise and resubmit"
        tasks.append(Task("resubmit_pay_app", text, pid, project_id, book.id if book else None, customer_id,
                          number, inv_no, as_date(pa.get("billing_date"))))
    tasks.sort(key=lambda t: (t.project_id or 0, t.contract_id or 0, t.number or 0, t.pay_app_id))
    return tasks


def _metrics(prep: Any, as_of: date, totals: dict[str, int], outcomes: list[PromiseOutcome],
             policy: Policy) -> Metrics:
    books = sorted(prep.books.values(), key=lambda b: b.id)
    now_buckets = {k: totals[k] for k in BUCKETS}
    hist = history(books, as_of, now_buckets, totals["open"], totals["retainage"], prep.billed_by_month,
                   policy.history_months, policy.countback_max_months, policy.bucket_edges)
    from .metrics import countback_dso, countback_months, ratio_dso

    dso, used = countback_dso(totals["open"], countback_months(as_of, prep.billed_by_month,
                                                               policy.countback_max_months))
    n = policy.simple_dso_days
    sales = window_sales(books, as_of, n)
    simple = ratio_dso(totals["open"], sales, n)
    best = ratio_dso(totals["current"], sales, n)
    add = simple - best if simple is not None and best is not None else None
    due = [o for o in outcomes if o.status in ("kept", "partially_kept", "broken")]
    kept = sum(1 for o in due if o.status == "kept")
    rate = Decimal(kept) * 100 / Decimal(len(due)) if due else None
    promise_cash = sum(
        cents for o in outcomes if o.status in ("kept", "partially_kept")
        for _pid, day, cents in o.counted if (day.year, day.month) == (as_of.year, as_of.month)
    )
    br = bridge(hist[-2], hist[-1], prep.billed_by_month, policy.countback_max_months, promise_cash) \
        if len(hist) >= 2 else None
    return Metrics(
        countback_dso=dso, simple_dso=simple, best_possible_dso=best, add=add, cei=hist[-1].cei if hist else None,
        promise_kept_rate=rate, promises_kept=kept, promises_due=len(due),
        promises_pending=sum(1 for o in outcomes if o.status == "pending"), history=hist, bridge=br,
        simple_dso_window_days=n, countback_months_used=used,
    )
