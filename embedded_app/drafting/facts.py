"""The facts a dunning draft may use, and nothing else.

``DraftFacts`` is a plain dataclass: the engine's per-customer dict is mapped into it by ``facts_from_customer``.
Whatever is not in here cannot appear in a draft (the grounding check enforces it), and only this is sent to the
model (no bulk data).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

STAGES = ("reminder", "first_notice", "second_notice", "final_notice", "retainage_release")

MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)


def to_decimal(value: Any) -> Decimal:
    """Amounts arrive as strings ("1234.56"), ints, floats or Decimals; None counts as zero."""
    if value is None or value == "":
        return Decimal("0.00")
    try:
        return Decimal(str(value)).quantize(Decimal("0.01"))
    except InvalidOperation as exc:
        raise ValueError(f"not an amount: {value!r}") from exc


def money(value: Decimal | str | int | float, currency: str = "USD") -> str:
    """Display form used in templates and offered to the model: $1,234.56 (or 1,234.56 EUR)."""
    amount = to_decimal(value)
    text = f"{abs(amount):,.2f}"
    sign = "-" if amount < 0 else ""
    return f"{sign}${text}" if currency == "USD" else f"{sign}{text} {currency}"


def iso_date(value: Any) -> str | None:
    """Normalise a date-ish value (date, 'YYYY-MM-DD', ISO datetime) to 'YYYY-MM-DD'."""
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value.isoformat()[:10]
    text = str(value).strip()
    return date.fromisoformat(text[:10]).isoformat()


def long_date(value: str | None) -> str:
    """'2026-11-15' -> 'November 15, 2026' (the form the templates use and the model is told to use)."""
    if not value:
        return ""
    d = date.fromisoformat(value)
    return f"{MONTHS[d.month - 1]} {d.day}, {d.year}"


@dataclass(frozen=True)
class InvoiceFact:
    pay_app_id: int
    project_name: str
    pay_app_number: str | None
    invoice_number: str | None
    billing_date: str | None  # ISO date
    due_date: str | None  # ISO date
    amount: Decimal
    open: Decimal
    days_past_due: int
    project_id: int | None = None
    contract_id: int | None = None


@dataclass(frozen=True)
class PromiseFact:
    promised_date: str  # ISO date the customer promised to pay by
    amount: Decimal | None = None
    status: str = "open"  # open | kept | broken
    made_on: str | None = None  # ISO date the promise was made


@dataclass(frozen=True)
class ContactFact:
    date: str  # ISO date
    channel: str  # email | call | letter | note
    summary: str = ""


@dataclass(frozen=True)
class DraftFacts:
    company_name: str
    signature: str
    reply_to: str | None
    customer_id: int
    customer_name: str
    contact_name: str | None
    contact_email: str | None
    stage: str
    invoices: tuple[InvoiceFact, ...]
    total_open: Decimal
    retainage_held: Decimal = Decimal("0.00")
    language: str | None = None
    promises: tuple[PromiseFact, ...] = ()
    prior_contacts: tuple[ContactFact, ...] = ()
    company_id: int | None = None
    currency: str = "USD"
    as_of: str | None = None  # ISO date the draft is written for
    response_days: int | None = None  # e.g. "within 10 days" on a final notice, only if the company set it
    retainage_percent: Decimal | None = None

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ValueError(f"unknown stage {self.stage!r}; expected one of {', '.join(STAGES)}")

    @property
    def promises_made(self) -> int:
        return len(self.promises)

    @property
    def promises_broken(self) -> int:
        return sum(1 for p in self.promises if p.status == "broken")

    @property
    def invoice_ids(self) -> list[int]:
        return sorted(inv.pay_app_id for inv in self.invoices)

    @property
    def project_ids(self) -> list[int]:
        return sorted({inv.project_id for inv in self.invoices if inv.project_id is not None})

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (Decimals as strings); ``from_dict`` reverses it. Used to store facts with a draft."""
        return json.loads(json.dumps(asdict(self), default=str))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DraftFacts:
        d = dict(data)
        d["invoices"] = tuple(
            InvoiceFact(**{**i, "amount": to_decimal(i["amount"]), "open": to_decimal(i["open"])})
            for i in d.get("invoices", ())
        )
        d["promises"] = tuple(
            PromiseFact(**{**p, "amount": None if p.get("amount") is None else to_decimal(p["amount"])})
            for p in d.get("promises", ())
        )
        d["prior_contacts"] = tuple(ContactFact(**c) for c in d.get("prior_contacts", ()))
        d["total_open"] = to_decimal(d["total_open"])
        d["retainage_held"] = to_decimal(d.get("retainage_held"))
        if d.get("retainage_percent") is not None:
            d["retainage_percent"] = Decimal(str(d["retainage_percent"]))
        return cls(**d)

    def model_data(self) -> dict[str, Any]:
        """What the model sees: only the facts the email needs, with display forms it must copy verbatim."""
        cur = self.currency
        data: dict[str, Any] = {
            "stage": self.stage,
            "language": self.language or "en",
            "as_of": self.as_of and long_date(self.as_of),
            "company_name": self.company_name,
            "signature": self.signature,
            "customer_name": self.customer_name,
            "contact_name": self.contact_name,
            "invoices": [
                {
                    "pay_app_id": inv.pay_app_id,
                    "project_name": inv.project_name,
                    "pay_app_number": inv.pay_app_number,
                    "invoice_number": inv.invoice_number,
                    "billing_date": long_date(inv.billing_date),
                    "due_date": long_date(inv.due_date),
                    "amount": money(inv.amount, cur),
                    "open": money(inv.open, cur),
                    "days_past_due": inv.days_past_due,
                }
                for inv in self.invoices
            ],
            "total_open": money(self.total_open, cur),
            "retainage_held": money(self.retainage_held, cur),
            "promises_made": self.promises_made,
            "promises_broken": self.promises_broken,
            "promises": [
                {
                    "promised_date": long_date(p.promised_date),
                    "amount": None if p.amount is None else money(p.amount, cur),
                    "status": p.status,
                    "made_on": long_date(p.made_on) if p.made_on else None,
                }
                for p in self.promises
            ],
            "prior_contacts": [
                {"date": long_date(c.date), "channel": c.channel, "summary": c.summary}
                for c in self.prior_contacts
            ],
        }
        if self.response_days:
            data["response_days"] = self.response_days
        if self.retainage_percent is not None:
            data["retainage_percent"] = f"{self.retainage_percent.normalize():f}%"
        return data


def _invoice_from_engine(inv: dict[str, Any], projects: dict[int, str]) -> InvoiceFact:
    project_id = inv.get("project_id")
    project_name = projects.get(int(project_id)) if project_id is not None else None
    number = inv.get("number")
    return InvoiceFact(
        pay_app_id=int(inv["pay_app_id"]),
        project_name=project_name or inv.get("project_name") or (f"Project {project_id}" if project_id else ""),
        pay_app_number=None if number in (None, "") else str(number),
        invoice_number=inv.get("invoice_number") or None,
        billing_date=iso_date(inv.get("billing_date")),
        due_date=iso_date(inv.get("due_date")),
        amount=to_decimal(inv.get("amount")),
        open=to_decimal(inv.get("open")),
        days_past_due=int(inv.get("days_past_due") or 0),
        project_id=None if project_id is None else int(project_id),
        contract_id=None if inv.get("contract_id") is None else int(inv["contract_id"]),
    )


def facts_from_customer(
    customer: dict[str, Any],
    *,
    company: dict[str, Any],
    projects: dict[int, str],
    promises: Any = (),
    contacts: Any = (),
    stage: str | None = None,
    as_of: date | str | None = None,
) -> DraftFacts:
    """Map one engine customer dict (see engine docs) into ``DraftFacts``.

    ``company``: {"id", "name", "signature", "reply_to", optional "currency", "response_days"}.
    ``projects``: project id -> project name. ``promises``: dicts {"promised_date", "amount", "status",
    "made_on"}. ``contacts``: dicts {"date", "channel", "summary"}. ``stage`` overrides the engine's stage.
    Invoices with nothing open, or paused by the engine (disputed, under a live promise), are left out, and
    ``total_open`` is the sum of the invoices kept, so the email never chases a disputed amount. A
    retainage-release draft keeps every invoice (it is about retainage). Stages without an email ("current",
    "call", "paused") raise ValueError.
    """
    chosen_stage = stage or customer.get("stage") or "reminder"
    if chosen_stage not in STAGES:
        raise ValueError(f"stage {chosen_stage!r} has no email draft (expected one of {', '.join(STAGES)})")
    names = {int(p["id"]): str(p.get("name") or "") for p in customer.get("projects") or () if p.get("id")}
    names.update({int(k): v for k, v in projects.items()})
    raw = list(customer.get("invoices") or ())
    if chosen_stage != "retainage_release":
        # nothing paid in full, nothing disputed or under a live promise (the engine marks those "paused")
        raw = [i for i in raw if to_decimal(i.get("open")) > 0 and not i.get("paused")]
    invoices = sorted((_invoice_from_engine(i, names) for i in raw), key=lambda i: (i.due_date or "", i.pay_app_id))
    total_open = sum((i.open for i in invoices), Decimal("0.00"))
    return DraftFacts(
        company_id=None if company.get("id") is None else int(company["id"]),
        company_name=company.get("name") or "",
        signature=company.get("signature") or company.get("name") or "",
        reply_to=company.get("reply_to") or None,
        currency=company.get("currency") or "USD",
        response_days=company.get("response_days") if chosen_stage == "final_notice" else None,
        customer_id=int(customer["id"]),
        customer_name=customer.get("name") or "",
        contact_name=customer.get("contact_name") or None,
        contact_email=(customer.get("email") or "").strip() or None,
        language=customer.get("language") or None,
        stage=chosen_stage,
        invoices=tuple(invoices),
        total_open=total_open,
        retainage_held=to_decimal(customer.get("retainage")),
        promises=tuple(
            PromiseFact(
                promised_date=iso_date(p["promised_date"]) or "",
                amount=None if p.get("amount") in (None, "") else to_decimal(p["amount"]),
                status=p.get("status") or "open",
                made_on=iso_date(p.get("made_on")),
            )
            for p in promises
        ),
        prior_contacts=tuple(
            ContactFact(date=iso_date(c["date"]) or "", channel=c.get("channel") or "note",
                        summary=c.get("summary") or "")
            for c in contacts
        ),
        as_of=iso_date(as_of) if as_of else date.today().isoformat(),
    )
