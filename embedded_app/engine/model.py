"""Plain dataclasses: the work state the engine reads (promises, contacts, disputes) and what it returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from .money import fmt, to_cents, to_decimal

BUCKETS = ("current", "1_30", "31_60", "61_90", "91_plus")
STAGES = ("current", "reminder", "first_notice", "second_notice", "final_notice", "call")
PAUSED = "paused"


# --------------------------------------------------------------------------------------------- work state (input)
@dataclass(frozen=True)
class Promise:
    """A promise-to-pay: ``amount`` by ``promised_date``. ``invoice_ids`` are pay-app ids it covers (empty: the
    customer's balance in general). ``status``: "open" (evaluated by the engine) or "cancelled" (ignored)."""

    customer_id: int | None
    amount: Decimal | str | int
    promised_date: date
    created_on: date
    invoice_ids: tuple[int, ...] = ()
    status: str = "open"
    id: int | str | None = None

    @property
    def amount_cents(self) -> int:
        return to_cents(self.amount)


@dataclass(frozen=True)
class Contact:
    """A collections contact made: ``kind`` "email" or "call", at ladder ``stage``; ``replied_on`` when the
    customer answered (an email reply, a call that reached someone)."""

    customer_id: int | None
    stage: str
    sent_on: date
    kind: str = "email"
    replied_on: date | None = None
    project_id: int | None = None
    id: int | str | None = None


@dataclass(frozen=True)
class Dispute:
    """An invoice (pay app) the customer disputes, open from ``opened_on`` until ``resolved_on``."""

    pay_app_id: int
    opened_on: date
    resolved_on: date | None = None
    reason: str = ""
    id: int | str | None = None

    def open_on(self, day: date) -> bool:
        return self.opened_on <= day and (self.resolved_on is None or self.resolved_on > day)


# --------------------------------------------------------------------------------------------------- results
@dataclass(slots=True)
class Invoice:
    """An approved pay app billed on or before the as-of date, with its open amount after payments."""

    pay_app_id: int
    project_id: int | None
    contract_id: int | None
    customer_id: int | None
    number: int | None
    invoice_number: str
    billing_date: date
    due_date: date
    amount_cents: int
    open_cents: int = 0
    days_past_due: int = 0
    bucket: str = "current"
    stage: str = "current"
    paused: str | None = None  # "disputed" | "promise" when the ladder is paused for this invoice

    @property
    def amount(self) -> Decimal:
        return to_decimal(self.amount_cents)

    @property
    def open(self) -> Decimal:
        return to_decimal(self.open_cents)

    def to_json(self) -> dict[str, Any]:
        return {
            "pay_app_id": self.pay_app_id, "project_id": self.project_id, "contract_id": self.contract_id,
            "number": self.number, "invoice_number": self.invoice_number,
            "billing_date": self.billing_date.isoformat(), "due_date": self.due_date.isoformat(),
            "amount": fmt(self.amount_cents), "open": fmt(self.open_cents), "days_past_due": self.days_past_due,
            "bucket": self.bucket, "stage": self.stage, "paused": self.paused,
        }


@dataclass(frozen=True, slots=True)
class Flag:
    code: str
    reason: str
    source: str | None = None  # for deadline flags: the rule's source note

    def to_json(self) -> dict[str, str]:
        out = {"code": self.code, "reason": self.reason}
        if self.source:
            out["source"] = self.source
        return out


@dataclass(frozen=True, slots=True)
class ScoreComponent:
    code: str
    points: int
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "points": self.points, "detail": self.detail}


@dataclass(slots=True)
class ContractAging:
    """One prime contract of a customer: terms used, retainage held and its stage."""

    id: int
    project_id: int | None
    number: str
    title: str
    status: str
    terms_days: int
    terms_note: str | None
    retainage_cents: int = 0
    retainage_stage: str = "none"  # "none" | "held" | "retainage_release"
    retainage_reason: str | None = None
    open_cents: int = 0
    unapplied_credit_cents: int = 0

    @property
    def retainage(self) -> Decimal:
        return to_decimal(self.retainage_cents)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "project_id": self.project_id, "number": self.number, "title": self.title,
            "status": self.status, "terms_days": self.terms_days, "terms_note": self.terms_note,
            "open": fmt(self.open_cents), "retainage": fmt(self.retainage_cents),
            "retainage_stage": self.retainage_stage, "retainage_reason": self.retainage_reason,
            "unapplied_credit": fmt(self.unapplied_credit_cents),
        }


@dataclass(slots=True)
class ProjectStage:
    id: int | None
    name: str
    state_code: str | None
    stage: str
    open_cents: int
    past_due_cents: int

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "state_code": self.state_code, "stage": self.stage,
                "open": fmt(self.open_cents), "past_due": fmt(self.past_due_cents)}


@dataclass(slots=True)
class NextAction:
    action: str  # "none" | "wait" | "send_reminder" | "send_first_notice" | ... | "call" | "send_retainage_release"
    on: date | None
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"action": self.action, "on": self.on.isoformat() if self.on else None, "reason": self.reason}


@dataclass(slots=True)
class CustomerAging:
    id: int | None
    name: str
    email: str | None
    phone: str | None
    buckets: dict[str, int]  # cents per bucket key
    open_cents: int
    retainage_cents: int
    unapplied_credit_cents: int
    oldest_days_past_due: int | None
    stage: str
    ladder_stage: str  # the stage by age alone, before pauses / tolerance / broken-promise escalation
    hold: str | None  # None | "disputed" | "promise" | "small_balance"
    flags: list[Flag]
    invoices: list[Invoice]
    contracts: list[ContractAging]
    projects: list[ProjectStage]
    next_action: NextAction
    retainage_stage: str
    call_score: int = 0
    score_components: list[ScoreComponent] = field(default_factory=list)
    promise_kept_rate: Decimal | None = None
    terms_notes: list[str] = field(default_factory=list)

    @property
    def past_due_cents(self) -> int:
        return self.open_cents - self.buckets["current"]

    @property
    def open(self) -> Decimal:
        return to_decimal(self.open_cents)

    @property
    def past_due(self) -> Decimal:
        return to_decimal(self.past_due_cents)

    @property
    def retainage(self) -> Decimal:
        return to_decimal(self.retainage_cents)

    @property
    def unapplied_credit(self) -> Decimal:
        return to_decimal(self.unapplied_credit_cents)

    @property
    def balance(self) -> Decimal:
        """Open less unapplied credit: what the customer owes net."""
        return to_decimal(self.open_cents - self.unapplied_credit_cents)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": self.name, "email": self.email, "phone": self.phone,
            "buckets": {k: fmt(v) for k, v in self.buckets.items()},
            "past_due": fmt(self.past_due_cents), "open": fmt(self.open_cents),
            "retainage": fmt(self.retainage_cents), "unapplied_credit": fmt(self.unapplied_credit_cents),
            "balance": fmt(self.open_cents - self.unapplied_credit_cents),
            "oldest_days_past_due": self.oldest_days_past_due, "stage": self.stage,
            "ladder_stage": self.ladder_stage, "hold": self.hold, "retainage_stage": self.retainage_stage,
            "flags": [f.to_json() for f in self.flags],
            "call_score": self.call_score, "score_components": [c.to_json() for c in self.score_components],
            "promise_kept_rate": _days(self.promise_kept_rate),
            "next_action": self.next_action.to_json(),
            "terms_note": "; ".join(self.terms_notes) if self.terms_notes else None,
            "projects": [p.to_json() for p in self.projects],
            "contracts": [c.to_json() for c in self.contracts],
            "invoices": [i.to_json() for i in self.invoices],
        }


@dataclass(slots=True)
class CallItem:
    """One row of the ranked needs-a-call list."""

    customer_id: int | None
    name: str
    phone: str | None
    email: str | None
    score: int
    components: list[ScoreComponent]
    flags: list[Flag]
    past_due_cents: int
    open_cents: int

    @property
    def reasons(self) -> list[str]:
        return [f.reason for f in self.flags]

    def to_json(self) -> dict[str, Any]:
        return {
            "customer_id": self.customer_id, "name": self.name, "phone": self.phone, "email": self.email,
            "score": self.score, "score_components": [c.to_json() for c in self.components],
            "flags": [f.to_json() for f in self.flags], "past_due": fmt(self.past_due_cents),
            "open": fmt(self.open_cents),
        }


@dataclass(slots=True)
class Task:
    kind: str  # "resubmit_pay_app"
    text: str
    pay_app_id: int
    project_id: int | None
    contract_id: int | None
    customer_id: int | None
    number: int | None
    invoice_number: str
    billing_date: date | None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "text": self.text, "pay_app_id": self.pay_app_id, "project_id": self.project_id,
            "contract_id": self.contract_id, "customer_id": self.customer_id, "number": self.number,
            "invoice_number": self.invoice_number,
            "billing_date": self.billing_date.isoformat() if self.billing_date else None,
        }


@dataclass(slots=True)
class PromiseOutcome:
    """How a promise stands on the as-of date. ``status``: "kept" | "partially_kept" | "broken" | "pending" |
    "cancelled". ``deadline`` = promised date + grace days; ``received`` counts payments dated from the day the
    promise was made through the deadline (and not after the as-of date)."""

    promise: Promise
    status: str
    received_cents: int
    deadline: date
    counted: tuple[tuple[int, date, int], ...] = ()  # (payment id, payment date, cents counted)

    @property
    def payment_ids(self) -> tuple[int, ...]:
        return tuple(c[0] for c in self.counted)

    @property
    def received(self) -> Decimal:
        return to_decimal(self.received_cents)

    @property
    def shortfall(self) -> Decimal:
        return to_decimal(max(0, self.promise.amount_cents - self.received_cents))

    @property
    def broken(self) -> bool:
        return self.status in ("broken", "partially_kept")

    def to_json(self) -> dict[str, Any]:
        p = self.promise
        return {
            "id": p.id, "customer_id": p.customer_id, "amount": fmt(p.amount_cents),
            "promised_date": p.promised_date.isoformat(), "deadline": self.deadline.isoformat(),
            "status": self.status, "received": fmt(self.received_cents),
            "shortfall": fmt(max(0, p.amount_cents - self.received_cents)), "payment_ids": list(self.payment_ids),
        }


def _days(value: Decimal | None) -> str | None:
    return None if value is None else str(value.quantize(Decimal("0.1")))


@dataclass(slots=True)
class MonthPoint:
    """One point of the monthly history (a month end, or the as-of date for the last point)."""

    month: str  # "YYYY-MM"
    date: date
    buckets: dict[str, int]
    open_cents: int
    retainage_cents: int
    billed_cents: int  # approved pay apps billed in the month (up to ``date``)
    collected_cents: int  # payments dated in the month (up to ``date``)
    countback_dso: Decimal | None
    cei: Decimal | None

    @property
    def past_due_cents(self) -> int:
        return self.open_cents - self.buckets["current"]

    def to_json(self) -> dict[str, Any]:
        return {
            "month": self.month, "date": self.date.isoformat(),
            "buckets": {k: fmt(v) for k, v in self.buckets.items()}, "open": fmt(self.open_cents),
            "past_due": fmt(self.past_due_cents), "retainage": fmt(self.retainage_cents),
            "billed": fmt(self.billed_cents), "collected": fmt(self.collected_cents),
            "countback_dso": _days(self.countback_dso), "cei": _days(self.cei),
        }


@dataclass(slots=True)
class DsoBridge:
    """Countback DSO change from the previous month end to the as-of date, split into steps that add up."""

    start: Decimal | None
    new_billing: Decimal
    collections: Decimal
    promises_kept: Decimal
    other: Decimal
    end: Decimal | None
    billed_cents: int
    collected_cents: int
    promise_collected_cents: int

    def to_json(self) -> dict[str, Any]:
        return {
            "start": _days(self.start), "new_billing": _days(self.new_billing),
            "collections": _days(self.collections), "promises_kept": _days(self.promises_kept),
            "other": _days(self.other), "end": _days(self.end), "billed": fmt(self.billed_cents),
            "collected": fmt(self.collected_cents), "collected_on_promises": fmt(self.promise_collected_cents),
        }


@dataclass(slots=True)
class Metrics:
    countback_dso: Decimal | None
    simple_dso: Decimal | None
    best_possible_dso: Decimal | None
    add: Decimal | None
    cei: Decimal | None
    promise_kept_rate: Decimal | None
    promises_kept: int
    promises_due: int
    promises_pending: int
    history: list[MonthPoint]
    bridge: DsoBridge | None
    simple_dso_window_days: int
    countback_months_used: int

    def to_json(self) -> dict[str, Any]:
        return {
            "countback_dso": _days(self.countback_dso), "simple_dso": _days(self.simple_dso),
            "best_possible_dso": _days(self.best_possible_dso), "add": _days(self.add), "cei": _days(self.cei),
            "promise_kept_rate": _days(self.promise_kept_rate), "promises_kept": self.promises_kept,
            "promises_due": self.promises_due, "promises_pending": self.promises_pending,
            "simple_dso_window_days": self.simple_dso_window_days,
            "countback_months_used": self.countback_months_used,
            "history": [m.to_json() for m in self.history],
            "dso_bridge": self.bridge.to_json() if self.bridge else None,
        }


@dataclass(slots=True)
class AgingReport:
    company_id: int | None
    project_id: int | None
    as_of: date
    totals: dict[str, int]  # cents: bucket keys + past_due, open, retainage, unapplied_credit
    customers: list[CustomerAging]
    tasks: list[Task]
    metrics: Metrics
    needs_a_call: list[CallItem]
    promise_outcomes: list[PromiseOutcome]
    warnings: list[str]
    legal_note: str

    @property
    def history(self) -> list[MonthPoint]:
        return self.metrics.history

    def customer(self, customer_id: int | None) -> CustomerAging | None:
        for c in self.customers:
            if c.id == customer_id:
                return c
        return None

    def total(self, key: str) -> Decimal:
        return to_decimal(self.totals[key])

    def to_json(self) -> dict[str, Any]:
        return {
            "company_id": self.company_id, "project_id": self.project_id, "as_of": self.as_of.isoformat(),
            "totals": {k: fmt(v) for k, v in self.totals.items()},
            "customers": [c.to_json() for c in self.customers],
            "tasks": [t.to_json() for t in self.tasks],
            "metrics": self.metrics.to_json(),
            "needs_a_call": [c.to_json() for c in self.needs_a_call],
            "promises": [o.to_json() for o in self.promise_outcomes],
            "warnings": list(self.warnings),
            "legal_note": self.legal_note,
        }
