"""Promises-to-pay, call notes and disputes: validated, kept locally, written to Procore, watched after each sync.

No Flask here: the views, the background sync and the CLI call the same functions.

Every entry is saved locally first (state ``pending_sync``) and then written to Procore as a private item of the
company's "Collections Log" correspondence type, with ``due_date`` = the promised date (or a call's next step).
Procore failing never loses an entry: it stays queued ("pending sync") and is retried after the next sync, by
the retry button or by ``python -m embedded_app promises --retry``. It is never written twice: the entry's
``idem_key`` comes from the form, the Procore item id is recorded the moment Procore returns it, and a retry
whose previous attempt may have reached Procore first looks for the item by the reference line in its
description before creating one.

Watching: :func:`watch` re-evaluates every promise with the engine (kept / partially kept / broken / pending).
A promise whose outcome changed is queued to update **the same** Procore item (title, status, description). The
engine reads the same entries (``store.worklog.engine_inputs``), so a broken promise also escalates the ladder
one stage and puts the customer on "Needs a call" with the reason.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from .collections import STAGE_LABELS, build_report
from .engine import Policy
from .engine.money import usd
from .procore.client import ProcoreClient
from .procore.errors import ProcoreError, ReconnectRequired
from .store import Database, sessions
from .store import worklog as store
from .writeback import CollectionsLogMissing, LogEntry, create_log_item, find_collections_log, update_log_item

log = logging.getLogger(__name__)

HORIZON_DAYS = 60  # a promised date may be at most this many days ahead (configurable per call)
CALL_OUTCOMES = {
    "reached": "Reached", "voicemail": "Left a voicemail", "wrong_number": "Wrong number",
    "dispute_raised": "Dispute raised",
}
CHANNELS = {"call": "Call", "email": "Email", "meeting": "Meeting"}
OUTCOME_LABELS = {
    "pending": "Pending", "kept": "Kept", "partially_kept": "Partially kept", "broken": "Broken",
    "cancelled": "Cancelled",
}
FIELD_LABELS = {"stage": "Collections stage", "next_promise": "Next promised payment"}
MAX_NOTE = 4000
MAX_AMOUNT_DIGITS = 15  # an amount with more digits before the point than this is no real promise


def today() -> date:
    """The business day used for validation and watching (one place, so tests can move the clock)."""
    return date.today()


class WorklogInvalid(ValueError):
    """What the bookkeeper typed cannot be logged. ``errors`` maps form field → plain-words message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


@dataclass
class Logged:
    """The outcome of logging one entry: the local row (always saved) and what Procore said."""

    entry: dict[str, Any]
    created: bool  # False: the same form was submitted before (idempotency key), nothing new was saved
    push: PushResult | None = None


@dataclass
class PushResult:
    entry_id: int
    state: str  # synced | failed | skipped (someone else is pushing it)
    item_id: int | None = None
    error: str | None = None
    setup_missing: bool = False  # the company has no Collections Log correspondence type yet


@dataclass
class SyncSummary:
    synced: int = 0
    failed: int = 0
    skipped: int = 0
    setup_missing: bool = False
    errors: list[str] = field(default_factory=list)
    newly_broken: list[int] = field(default_factory=list)  # entry ids whose promise became broken / partly kept
    changed: int = 0


# --- reading the customer ------------------------------------------------------------------------------------

def customer_of(db: Database, company_id: int, customer_id: int, as_of: date | None = None,
                policy: Policy | None = None) -> dict[str, Any] | None:
    """The engine's JSON for one customer of the company (None when the cache has no such customer)."""
    report = build_report(db, company_id, as_of=as_of or today(), policy=policy).to_json()
    return next((c for c in report["customers"] if c["id"] == customer_id), None)


def open_invoices(customer: dict[str, Any]) -> list[dict[str, Any]]:
    """The customer's open invoices, oldest first (due date, then billing date, then pay app id)."""
    rows = [i for i in customer.get("invoices", []) if Decimal(i["open"]) > 0]
    return sorted(rows, key=lambda i: (i["due_date"], i["billing_date"], i["pay_app_id"]))


def _invoice_label(inv: dict[str, Any]) -> str:
    number = f"pay app #{inv['number']}" if inv.get("number") is not None else f"pay app {inv['pay_app_id']}"
    return f"{number} ({inv['invoice_number']})" if inv.get("invoice_number") else number


def _money(value: Any) -> str:
    return usd(int((Decimal(str(value)) * 100).to_integral_value()))


def _parse_amount(raw: Any) -> Decimal | None:
    text = str(raw or "").strip().replace(",", "").replace("$", "")
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def _parse_day(raw: Any) -> date | None:
    if isinstance(raw, date):
        return raw
    try:
        return date.fromisoformat(str(raw or "").strip())
    except ValueError:
        return None


def _contract_for(customer: dict[str, Any], contract_id: int | None, invoices: Iterable[dict[str, Any]],
                  errors: dict[str, str]) -> tuple[int | None, int | None]:
    """(contract id, project id) the entry belongs to: the contract in view, else the first covered invoice's."""
    contracts = {int(c["id"]): c for c in customer.get("contracts", [])}
    if contract_id is not None:
        if contract_id not in contracts:
            errors["contract_id"] = "That prime contract does not belong to this customer."
            return None, None
        return contract_id, contracts[contract_id].get("project_id")
    for inv in invoices:
        return inv.get("contract_id"), inv.get("project_id")
    first = next(iter(contracts.values()), None)
    return (int(first["id"]), first.get("project_id")) if first else (None, None)


# --- validation ----------------------------------------------------------------------------------------------

def validate_promise(
    customer: dict[str, Any], *, amount: Any, promised_date: Any, invoice_ids: Iterable[int] = (),
    on: date | None = None, horizon_days: int = HORIZON_DAYS,
) -> tuple[Decimal, date, tuple[int, ...]]:
    """Check a promise-to-pay; return (amount, promised date, covered pay app ids). Raises WorklogInvalid.

    Amount > 0 and at most the customer's open balance; promised date from today to ``horizon_days`` ahead;
    covered invoices must be open invoices of the customer — none chosen: oldest first up to the amount."""
    on = on or today()
    errors: dict[str, str] = {}
    value = _parse_amount(amount)
    balance = Decimal(customer.get("balance") or customer.get("open") or "0")
    if value is None:
        errors["amount"] = "Enter the amount promised as a number, for example 12500.00."
    elif value <= 0:
        errors["amount"] = "The amount promised must be more than $0.00."
    elif value > balance and value.adjusted() >= MAX_AMOUNT_DIGITS:  # e.g. 1e999999: cannot even be formatted
        errors["amount"] = f"The amount promised is more than the open balance of {_money(balance)}."
    elif value.quantize(Decimal("0.01")) != value:
        errors["amount"] = "The amount promised can have at most two decimals (cents)."
    elif value > balance:
        errors["amount"] = (f"The amount promised ({_money(value)}) is more than the open balance of "
                            f"{_money(balance)}.")
    day = _parse_day(promised_date)
    if day is None:
        errors["promised_date"] = "Enter the promised date, for example 2026-12-15."
    elif day < on:
        errors["promised_date"] = f"The promised date is in the past; use {on.isoformat()} or later."
    elif day > on + timedelta(days=horizon_days):
        errors["promised_date"] = (f"The promised date is more than {horizon_days} days ahead; promises up to "
                                   f"{(on + timedelta(days=horizon_days)).isoformat()} are tracked.")
    open_rows = open_invoices(customer)
    by_id = {int(i["pay_app_id"]): i for i in open_rows}
    chosen = [int(i) for i in invoice_ids]
    if any(i not in by_id for i in chosen):
        errors["invoice_ids"] = "Pick only open invoices of this customer."
    if not open_rows:
        errors["amount"] = "This customer has no open invoices, so there is nothing to promise."
    if errors:
        raise WorklogInvalid(errors)
    assert value is not None and day is not None
    if not chosen:
        left = value
        for inv in open_rows:  # oldest first up to the amount
            if left <= 0:
                break
            chosen.append(int(inv["pay_app_id"]))
            left -= Decimal(inv["open"])
    else:
        chosen = sorted(set(chosen), key=lambda i: [int(r["pay_app_id"]) for r in open_rows].index(i))
        covered = sum(Decimal(by_id[i]["open"]) for i in chosen)
        if value > covered:
            raise WorklogInvalid({"amount": f"The amount promised ({_money(value)}) is more than the open amount "
                                            f"of the invoices picked ({_money(covered)})."})
    return value, day, tuple(chosen)


def _user_name(db: Database, user_id: int | None) -> str:
    if user_id is None:
        return ""
    return sessions.user_name(db, user_id) or f"user {user_id}"


def _clean(text: Any, limit: int = MAX_NOTE) -> str:
    return str(text or "").strip()[:limit]


def _need_customer(db: Database, company_id: int, customer_id: int, on: date) -> dict[str, Any]:
    customer = customer_of(db, company_id, customer_id, on)
    if customer is None:
        raise WorklogInvalid({"customer_id": "This customer is not in the cached receivables of this company. "
                                             "Refresh from Procore and try again."})
    return customer


def _save_and_push(db: Database, client: ProcoreClient | None, row: dict[str, Any]) -> Logged:
    try:
        entry, created = store.insert_if_absent(db, row)
    except store.KeyTaken as exc:  # a form key copied from another company's entry: refuse, say nothing of it
        raise WorklogInvalid({"idem_key": "This form could not be saved as it was sent. Check the values and "
                                          "submit it again."}) from exc
    result = None
    if client is not None and entry["sync_state"] in ("pending_sync", "failed"):
        result = push(db, client, entry["company_id"], entry["id"])
        entry = store.get(db, entry["company_id"], entry["id"]) or entry
    return Logged(entry, created, result)


def _resubmitted(db: Database, client: ProcoreClient | None, entry: dict[str, Any]) -> Logged:
    """The same form again (double click, or resubmitted after a failure): no new entry; push it if it waits."""
    if client is None or entry["sync_state"] not in ("pending_sync", "failed"):
        return Logged(entry, False)
    result = push(db, client, entry["company_id"], entry["id"])
    return Logged(store.get(db, entry["company_id"], entry["id"]) or entry, False, result)


def new_key() -> str:
    """An idempotency key for a form (rendered into it, so a resubmission finds the same entry)."""
    return uuid.uuid4().hex


# --- logging -------------------------------------------------------------------------------------------------

def log_promise(
    db: Database, client: ProcoreClient | None, company_id: int, user_id: int | None, *, customer_id: int,
    amount: Any, promised_date: Any, invoice_ids: Iterable[int] = (), contract_id: int | None = None,
    contact_name: str = "", channel: str = "call", note: str = "", idem_key: str | None = None,
    on: date | None = None, horizon_days: int = HORIZON_DAYS,
) -> Logged:
    """Validate and log a promise-to-pay; write it to Procore when ``client`` is given (else leave it queued)."""
    on = on or today()
    if idem_key and (existing := store.get_by_key(db, company_id, idem_key)) is not None:
        return _resubmitted(db, client, existing)
    customer = _need_customer(db, company_id, customer_id, on)
    value, day, covered = validate_promise(customer, amount=amount, promised_date=promised_date,
                                           invoice_ids=invoice_ids, on=on, horizon_days=horizon_days)
    errors: dict[str, str] = {}
    if channel not in CHANNELS:
        errors["channel"] = "Choose how the promise was made: call, email or meeting."
    by_id = {int(i["pay_app_id"]): i for i in customer["invoices"]}
    contract, project = _contract_for(customer, contract_id, [by_id[i] for i in covered], errors)
    if errors:
        raise WorklogInvalid(errors)
    row = {
        "company_id": company_id, "kind": "promise", "idem_key": idem_key or new_key(), "customer_id": customer_id,
        "customer_name": customer["name"], "project_id": project, "contract_id": contract,
        "invoice_ids": list(covered), "amount": f"{value:.2f}", "promised_date": day.isoformat(),
        "contact_name": _clean(contact_name, 200), "channel": channel, "note": _clean(note), "status": "open",
        "stage": customer.get("stage"), "created_on": on.isoformat(), "created_by": user_id,
        "created_by_name": _user_name(db, user_id), "evaluated_status": "pending", "received": "0.00",
    }
    return _save_and_push(db, client, row)


def log_call(
    db: Database, client: ProcoreClient | None, company_id: int, user_id: int | None, *, customer_id: int,
    outcome: str, note: str = "", next_step_date: Any = None, contact_name: str = "", contract_id: int | None = None,
    idem_key: str | None = None, on: date | None = None, horizon_days: int = HORIZON_DAYS,
) -> Logged:
    """Log a call: outcome (reached / voicemail / wrong number / dispute raised), note, next step date."""
    on = on or today()
    if idem_key and (existing := store.get_by_key(db, company_id, idem_key)) is not None:
        return _resubmitted(db, client, existing)
    customer = _need_customer(db, company_id, customer_id, on)
    errors: dict[str, str] = {}
    if outcome not in CALL_OUTCOMES:
        errors["outcome"] = "Choose how the call went: reached, voicemail, wrong number or dispute raised."
    next_day = None
    if next_step_date not in (None, ""):
        next_day = _parse_day(next_step_date)
        if next_day is None:
            errors["next_step_date"] = "Enter the next step date, for example 2026-12-15 (or leave it empty)."
        elif next_day < on:
            errors["next_step_date"] = f"The next step date is in the past; use {on.isoformat()} or later."
        elif next_day > on + timedelta(days=horizon_days):
            errors["next_step_date"] = f"Plan the next step within {horizon_days} days."
    if outcome == "dispute_raised" and not _clean(note):
        errors["note"] = "Say what the customer disputes (then mark the invoice disputed)."
    contract, project = _contract_for(customer, contract_id, open_invoices(customer), errors)
    if errors:
        raise WorklogInvalid(errors)
    row = {
        "company_id": company_id, "kind": "call", "idem_key": idem_key or new_key(), "customer_id": customer_id,
        "customer_name": customer["name"], "project_id": project, "contract_id": contract, "outcome": outcome,
        "note": _clean(note), "next_step_date": next_day.isoformat() if next_day else None,
        "contact_name": _clean(contact_name, 200), "stage": customer.get("stage"), "status": "open",
        "created_on": on.isoformat(), "created_by": user_id, "created_by_name": _user_name(db, user_id),
    }
    return _save_and_push(db, client, row)


def mark_disputed(
    db: Database, client: ProcoreClient | None, company_id: int, user_id: int | None, *, customer_id: int,
    pay_app_id: Any, reason: str, idem_key: str | None = None, on: date | None = None,
) -> Logged:
    """Mark one open invoice disputed: the ladder pauses for that invoice only; the rest keeps going."""
    on = on or today()
    if idem_key and (existing := store.get_by_key(db, company_id, idem_key)) is not None:
        return _resubmitted(db, client, existing)
    customer = _need_customer(db, company_id, customer_id, on)
    errors: dict[str, str] = {}
    try:
        pay_app = int(pay_app_id)
    except (TypeError, ValueError):
        pay_app = None
    invoice = next((i for i in open_invoices(customer) if int(i["pay_app_id"]) == pay_app), None)
    if invoice is None:
        errors["pay_app_id"] = "Pick the open invoice the customer disputes."
    if not _clean(reason):
        errors["reason"] = "Say what the customer disputes, for example \"quantities on line 4\"."
    open_disputes = [e for e in store.list_entries(db, company_id, kind="dispute", customer_id=customer_id)
                     if e.get("status") == "open" and e.get("pay_app_id") == pay_app]
    if invoice is not None and open_disputes:
        errors["pay_app_id"] = f"{_invoice_label(invoice).capitalize()} is already marked disputed."
    if errors:
        raise WorklogInvalid(errors)
    assert invoice is not None
    row = {
        "company_id": company_id, "kind": "dispute", "idem_key": idem_key or new_key(), "customer_id": customer_id,
        "customer_name": customer["name"], "project_id": invoice.get("project_id"),
        "contract_id": invoice.get("contract_id"), "pay_app_id": pay_app, "invoice_ids": [pay_app],
        "amount": invoice["open"], "reason": _clean(reason), "status": "open", "stage": customer.get("stage"),
        "created_on": on.isoformat(), "created_by": user_id, "created_by_name": _user_name(db, user_id),
    }
    return _save_and_push(db, client, row)


def resolve_dispute(db: Database, client: ProcoreClient | None, company_id: int, entry_id: int,
                    on: date | None = None) -> PushResult | None:
    """The dispute is settled: the invoice rejoins the ladder and the Procore item is closed."""
    if not store.resolve_dispute(db, company_id, entry_id, on or today()):
        return None
    return push(db, client, company_id, entry_id) if client is not None else None


# --- Procore items -------------------------------------------------------------------------------------------

def reference(entry: dict[str, Any]) -> str:
    """The line that identifies the entry in its Procore item (how a retry finds an item it may have made)."""
    return f"Ref: collections-app {entry['idem_key']}"


def log_entry(entry: dict[str, Any], customer: dict[str, Any] | None = None) -> LogEntry:
    """The Collections Log item for an entry, as it should read now."""
    who = entry.get("customer_name") or (customer or {}).get("name") or f"customer {entry.get('customer_id')}"
    invoices = {int(i["pay_app_id"]): i for i in (customer or {}).get("invoices", [])}
    covered = ", ".join(_invoice_label(invoices[i]) if i in invoices else f"pay app {i}"
                        for i in entry.get("invoice_ids") or [])
    by = entry.get("created_by_name") or "the Collections app"
    lines: list[str] = []
    status, due, assignees = "Open", None, ()
    if entry["kind"] == "promise":
        amount = _money(entry["amount"])
        due = date.fromisoformat(entry["promised_date"])
        outcome = entry.get("evaluated_status") or "pending"
        title = f"Promise to pay {amount} by {entry['promised_date']} · {who}"
        lines.append(f"{who} promised to pay {amount} by {entry['promised_date']}.")
        if covered:
            lines.append(f"Covers: {covered}.")
        made = " ".join(x for x in (f"Promised by {entry['contact_name']}" if entry.get("contact_name") else "",
                                    f"by {CHANNELS.get(entry.get('channel') or '', 'call').lower()}") if x)
        lines.append(made[0].upper() + made[1:] + ".")
        if outcome in ("broken", "partially_kept"):
            word = "Broken promise" if outcome == "broken" else "Promise partly kept"
            title = f"{word}: {amount} by {entry['promised_date']} · {who}"
            lines.append(f"Outcome on {entry.get('evaluated_on')}: {OUTCOME_LABELS[outcome].lower()}: "
                         f"{_money(entry.get('received') or '0')} received of {amount}. The reminders resume one "
                         "stage higher and the customer is on the call list.")
            assignees = (int(entry["created_by"]),) if entry.get("created_by") else ()
        elif outcome == "kept":
            status = "Closed"
            lines.append(f"Outcome on {entry.get('evaluated_on')}: kept ({_money(entry.get('received') or '0')} "
                         "received).")
        if entry.get("status") == "cancelled":
            status = "Closed"
            lines.append("Cancelled.")
    elif entry["kind"] == "call":
        outcome = CALL_OUTCOMES.get(entry.get("outcome") or "", entry.get("outcome") or "")
        title = f"Call: {outcome.lower()} · {who}"
        lines.append(f"Called {who}" + (f" ({entry['contact_name']})" if entry.get("contact_name") else "")
                     + f": {outcome.lower()}.")
        if entry.get("next_step_date"):
            due = date.fromisoformat(entry["next_step_date"])
            lines.append(f"Next step by {entry['next_step_date']}.")
            assignees = (int(entry["created_by"]),) if entry.get("created_by") else ()
        else:
            status = "Closed"
    else:
        label = covered or f"pay app {entry.get('pay_app_id')}"
        title = f"Dispute: {label} · {who}"
        lines.append(f"{who} disputes {label}" + (f" ({_money(entry['amount'])} open)" if entry.get("amount")
                                                    else "") + ".")
        lines.append(f"Reason: {entry.get('reason')}")
        lines.append("Reminders are paused for this invoice only; the rest of the balance keeps its schedule.")
        if entry.get("status") == "resolved":
            status = "Closed"
            lines.append(f"Resolved on {entry.get('resolved_on')}; the invoice is back on the schedule.")
    if entry.get("note"):
        lines.append(f"Note: {entry['note']}")
    lines.append(f"Logged by {by} on {entry.get('created_on')} in the Collections app.")
    lines.append(reference(entry))
    return LogEntry(int(entry["project_id"]), title, "\n".join(lines), due, status, assignees)


def _find_existing_item(client: ProcoreClient, tool_id: int, entry: dict[str, Any]) -> int | None:
    marker = reference(entry)
    for item in client.generic_tool_items(int(entry["project_id"]), tool_id):
        if marker in (item.get("description") or ""):
            return int(item["id"])
    return None


def refresh_field_map(db: Database, client: ProcoreClient, company_id: int) -> dict[str, dict[str, Any]]:
    """Map "Collections stage" / "Next promised payment" to the company's prime contract custom fields, by label."""
    wanted = {label.lower(): key for key, label in FIELD_LABELS.items()}
    found: dict[str, dict[str, Any] | None] = dict.fromkeys(FIELD_LABELS)
    for definition in client.custom_field_definitions(company_id):
        label = (definition.get("label") or definition.get("name") or "").strip().lower()
        holder = (definition.get("holder_type") or "PrimeContract").replace("_", "").lower()
        if label in wanted and holder in ("primecontract", "") and definition.get("active", True):
            found[wanted[label]] = {"id": definition["id"], "label": definition.get("label") or definition.get("name"),
                                    "data_type": definition.get("data_type")}
    store.save_field_map(db, company_id, found)
    return store.field_map(db, company_id)


def stage_text(customer: dict[str, Any] | None) -> str | None:
    if customer is None:
        return None
    stage = customer.get("stage") or "current"
    if stage == "paused":
        text = "Paused (" + ("disputed" if customer.get("hold") == "disputed" else "promise to pay") + ")"
    else:
        text = STAGE_LABELS.get(stage, stage.replace("_", " ").capitalize())
        if customer.get("hold") == "promise":
            text += " (promise to pay)"
    if any(f.get("code") == "broken_promise" for f in customer.get("flags", [])):
        text += " · broken promise"
    return text


def next_promised_payment(db: Database, company_id: int, customer_id: int) -> str | None:
    """The earliest promised date still pending for the customer (None when there is none)."""
    days = [e["promised_date"] for e in store.list_entries(db, company_id, kind="promise", customer_id=customer_id)
            if e.get("status") != "cancelled" and (e.get("evaluated_status") or "pending") == "pending"]
    return min(days) if days else None


def _contract_fields(db: Database, company_id: int, entry: dict[str, Any], customer: dict[str, Any] | None,
                     mapping: dict[str, dict[str, Any]]) -> dict[str, Any]:
    values = {"stage": stage_text(customer), "next_promise": next_promised_payment(db, company_id,
                                                                                    entry["customer_id"])}
    return {f"custom_field_{m['definition_id']}": values[key] for key, m in mapping.items()
            if m.get("definition_id") and key in values and (key != "stage" or values[key] is not None)}


@dataclass
class _Batch:
    """What one push run looks up once: the Collections Log tool, the field mapping and the report."""

    tool_id: int | None = None
    missing: CollectionsLogMissing | None = None
    mapping: dict[str, dict[str, Any]] | None = None
    customers: dict[int, dict[str, Any]] | None = None


def _prepare(db: Database, client: ProcoreClient, company_id: int, batch: _Batch, on: date) -> None:
    if batch.tool_id is None and batch.missing is None:
        try:
            batch.tool_id = int(find_collections_log(client, company_id)["id"])
        except CollectionsLogMissing as exc:
            batch.missing = exc
    if batch.mapping is None:
        mapping = store.field_map(db, company_id)
        if not mapping:
            mapping = refresh_field_map(db, client, company_id)
        batch.mapping = mapping
    if batch.customers is None:
        report = build_report(db, company_id, as_of=on).to_json()
        batch.customers = {c["id"]: c for c in report["customers"]}


def push(db: Database, client: ProcoreClient, company_id: int, entry_id: int, *, on: date | None = None,
         _batch: _Batch | None = None) -> PushResult:
    """Write one entry to Procore now: create its Collections Log item (or update the one recorded), then the
    prime contract's mapped custom fields. Failures leave the entry queued with the error; never raises
    ProcoreError."""
    token = uuid.uuid4().hex
    if not store.claim(db, company_id, entry_id, token):
        return PushResult(entry_id, "skipped")
    entry = store.get(db, company_id, entry_id)
    assert entry is not None
    batch = _batch or _Batch()
    try:
        _prepare(db, client, company_id, batch, on or today())
        if batch.missing is not None:
            store.mark_failed(db, company_id, entry_id, token, str(batch.missing))
            return PushResult(entry_id, "failed", error=str(batch.missing), setup_missing=True)
        assert batch.tool_id is not None and batch.customers is not None and batch.mapping is not None
        if not entry.get("project_id"):
            raise ValueError("the entry has no Procore project to log it on")
        customer = batch.customers.get(entry["customer_id"])
        item = log_entry(entry, customer)
        tool_id = int(entry.get("procore_tool_id") or batch.tool_id)
        item_id = entry.get("procore_item_id")
        if item_id is None and entry["attempts"] > 1:  # an earlier attempt may have created it
            item_id = _find_existing_item(client, tool_id, entry)
            if item_id is not None:
                store.record_item(db, company_id, entry_id, token, tool_id=tool_id, item_id=item_id)
        if item_id is None:
            created = create_log_item(client, tool_id, item)
            item_id = int(created["id"])
            store.record_item(db, company_id, entry_id, token, tool_id=tool_id, item_id=item_id)
        else:
            update_log_item(client, tool_id, int(item_id), item)
        fields = _contract_fields(db, company_id, entry, customer, batch.mapping)
        if fields and entry.get("contract_id"):
            client.update_prime_contract(int(entry["project_id"]), int(entry["contract_id"]), fields)
    except (ProcoreError, ValueError, KeyError) as exc:
        message = _describe(exc)
        store.mark_failed(db, company_id, entry_id, token, message)
        log.warning("work-log entry %s of company %s not written to Procore: %s", entry_id, company_id, message)
        return PushResult(entry_id, "failed", item_id=entry.get("procore_item_id"), error=message)
    store.mark_synced(db, company_id, entry_id, token)
    return PushResult(entry_id, "synced", item_id=int(item_id))


def _describe(exc: Exception) -> str:
    if isinstance(exc, ReconnectRequired):
        return "The Procore connection has expired or was revoked; reconnect to Procore, then retry"
    if isinstance(exc, ProcoreError):
        if exc.status is None:
            return "Procore could not be reached"
        return f"Procore refused the request (HTTP {exc.status}): {exc.message}"
    return str(exc)


def retry_pending(db: Database, client: ProcoreClient, company_id: int, *, on: date | None = None) -> SyncSummary:
    """Push every queued entry of the company (oldest first). Stops early when Procore is unreachable."""
    summary = SyncSummary()
    batch = _Batch()
    for entry in store.unsynced(db, company_id):
        result = push(db, client, company_id, entry["id"], on=on, _batch=batch)
        if result.state == "synced":
            summary.synced += 1
        elif result.state == "skipped":
            summary.skipped += 1
        else:
            summary.failed += 1
            summary.setup_missing = summary.setup_missing or result.setup_missing
            if result.error and result.error not in summary.errors:
                summary.errors.append(result.error)
            if result.error == "Procore could not be reached":
                break
    return summary


def watch(db: Database, company_id: int, *, on: date | None = None, policy: Policy | None = None) -> SyncSummary:
    """Re-evaluate every promise of the company on ``on`` and queue an update of the Procore item of each
    promise whose outcome changed (no Procore call here; :func:`retry_pending` writes them)."""
    on = on or today()
    report = build_report(db, company_id, as_of=on, policy=policy)
    summary = SyncSummary()
    for outcome in report.promise_outcomes:
        pid = str(outcome.promise.id or "")
        if not pid.startswith("wl-"):
            continue
        entry_id = int(pid[3:])
        if store.set_evaluation(db, company_id, entry_id, status=outcome.status,
                                received=f"{outcome.received:.2f}", on=on):
            summary.changed += 1
            if outcome.broken:
                summary.newly_broken.append(entry_id)
    return summary


def after_sync(db: Database, client: ProcoreClient | None, company_id: int, *, on: date | None = None) -> SyncSummary:
    """Run after every receivables sync: re-evaluate promises, then write queued entries and outcome changes to
    Procore. Never raises (a failure here must not fail the sync); entries stay queued."""
    try:
        watched = watch(db, company_id, on=on)
        summary = retry_pending(db, client, company_id, on=on) if client is not None else SyncSummary()
        summary.changed, summary.newly_broken = watched.changed, watched.newly_broken
        return summary
    except Exception:  # pragma: no cover - logged; the sync itself succeeded
        log.exception("watching promises of company %s after the sync failed", company_id)
        return SyncSummary(errors=["watching promises failed; see the log"])


def pending_count(db: Database, company_id: int) -> int:
    return len(store.unsynced(db, company_id))
