"""Drafting reminders from the engine's report and logging sent ones to Procore. No Flask: the outreach views,
the CLI and autopilot jobs share these functions.

* ``draft_stage`` picks the email a customer is due for (the engine's ``next_action`` ``send_<stage>``).
* ``draft_for_customer`` / ``draft_everyone_due`` build facts, draft (Claude or template) and save the draft.
* ``collections_log_hook`` is the ``after_send`` hook of ``outbox.deliver``: every sent email becomes a private
  "Collections Log" correspondence item on each project it concerns (title, body, recipients, pay apps). Its
  return value (the Procore item ids) is stored on the outbox row as ``writeback_ref``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

from . import outbox
from .drafting import STAGES, DraftFacts, draft, facts_from_customer, long_date, money
from .procore.client import ProcoreClient
from .store import Database
from .writeback import LogEntry, create_log_item, find_collections_log

PROMISE_STATUS = {"pending": "open", "kept": "kept", "broken": "broken", "partially_kept": "broken"}


def draft_stage(customer: Mapping[str, Any]) -> str | None:
    """The email stage a customer is due for now, or None when no email is due (current, paused, a call…)."""
    action = (customer.get("next_action") or {}).get("action") or ""
    if action.startswith("send_") and action[5:] in STAGES:
        return action[5:]
    return None


def manual_stage(customer: Mapping[str, Any]) -> str | None:
    """The stage a bookkeeper may draft for on demand (side panel): the due one, else the customer's stage,
    else retainage release, else a friendly reminder when something is past due."""
    due = draft_stage(customer)
    if due:
        return due
    if customer.get("stage") in STAGES:
        return str(customer["stage"])
    if customer.get("retainage_stage") == "retainage_release":
        return "retainage_release"
    if customer.get("stage") == "call":
        return "final_notice"
    if Decimal(str(customer.get("past_due") or "0")) > 0:
        return "reminder"
    return None


def company_facts(db: Database, company_id: int, company_name: str) -> dict[str, Any]:
    settings = outbox.public_settings(db, company_id)
    return {"id": company_id, "name": company_name, "signature": settings.get("signature") or company_name,
            "reply_to": settings.get("reply_to") or None}


def _promises(report: Mapping[str, Any], customer_id: int) -> list[dict[str, Any]]:
    return [
        {"promised_date": p["promised_date"], "amount": p.get("amount"),
         "status": PROMISE_STATUS.get(p.get("status") or "", "open")}
        for p in report.get("promises") or ()
        if p.get("customer_id") == customer_id and p.get("status") != "cancelled"
    ]


def _emails_sent(db: Database, company_id: int, customer_id: int) -> list[dict[str, Any]]:
    """Earlier reminders to this customer (prior contacts the draft may mention), oldest first, at most five."""
    rows = outbox.outbox_rows(db, company_id, status="sent", customer_id=customer_id)[:5]
    return [{"date": r["sent_at"][:10], "channel": "email", "summary": f"{r['stage'].replace('_', ' ')} emailed"}
            for r in reversed(rows) if r.get("sent_at")]


def draft_for_customer(
    db: Database,
    config: Mapping[str, Any],
    *,
    company_id: int,
    company_name: str,
    report: Mapping[str, Any],
    customer: Mapping[str, Any],
    projects: Mapping[int, str],
    user_id: int | None,
    stage: str | None = None,
) -> int:
    """Draft and save one email for ``customer`` (engine JSON). Raises ValueError when no email stage applies."""
    chosen = stage or manual_stage(customer)
    if chosen is None:
        raise ValueError(f"{customer.get('name')}: nothing is due, so there is no reminder to draft")
    facts = facts_from_customer(
        dict(customer), company=company_facts(db, company_id, company_name), projects=dict(projects),
        promises=_promises(report, int(customer["id"])), contacts=_emails_sent(db, company_id, int(customer["id"])),
        stage=chosen, as_of=report.get("as_of"),
    )
    if not facts.invoices and chosen != "retainage_release":
        raise ValueError(f"{customer.get('name')}: every open invoice is disputed or under a promise; "
                         "nothing to remind them of")
    result = draft(facts, api_key=config.get("ANTHROPIC_API_KEY"),
                   model=config.get("ANTHROPIC_MODEL") or "claude-sonnet-5-5")
    return outbox.save_draft(db, company_id, facts, result, created_by=user_id)


def draft_everyone_due(
    db: Database,
    config: Mapping[str, Any],
    *,
    company_id: int,
    company_name: str,
    report: Mapping[str, Any],
    projects: Mapping[int, str],
    user_id: int | None,
) -> dict[str, Any]:
    """One draft per customer whose next action is an email, unless one is already waiting for review.

    Returns {"drafted": [ids], "already": n, "skipped": [(name, reason)]}.
    """
    waiting = {(d["customer_id"], d["stage"]) for d in outbox.pending_drafts(db, company_id)}
    out: dict[str, Any] = {"drafted": [], "already": 0, "skipped": []}
    for customer in report.get("customers") or ():
        stage = draft_stage(customer)
        if stage is None or customer.get("id") is None:
            continue
        if (int(customer["id"]), stage) in waiting:
            out["already"] += 1
            continue
        try:
            out["drafted"].append(draft_for_customer(
                db, config, company_id=company_id, company_name=company_name, report=report, customer=customer,
                projects=projects, user_id=user_id, stage=stage,
            ))
        except ValueError as exc:
            out["skipped"].append((customer.get("name"), str(exc)))
    return out


# --- the Collections Log in Procore ------------------------------------------------------------------------------

def log_entries(row: Mapping[str, Any], facts: DraftFacts | None) -> list[LogEntry]:
    """One private log item per project the email concerns: recipients, Message-ID, pay apps, then the body."""
    invoices = list(facts.invoices) if facts is not None else []
    project_ids = list(row.get("project_ids") or []) or sorted({i.project_id for i in invoices if i.project_id})
    if not project_ids:
        raise ValueError("the email concerns no project, so there is no project to log it on")
    sent = (row.get("sent_at") or "")[:16].replace("T", " ")
    entries = []
    for project_id in project_ids:
        mine = [i for i in invoices if i.project_id == project_id] or invoices
        if mine:
            pay_apps = "\n".join(
                f"- Pay app #{i.pay_app_number or '?'}"
                + (f" ({i.invoice_number})" if i.invoice_number else "")
                + f", {i.project_name}, due {long_date(i.due_date)}, open {money(i.open)}"
                for i in mine
            )
        else:
            pay_apps = "\n".join(f"- Pay app id {i}" for i in row.get("invoice_ids") or [])
        description = (
            f"Collections email sent {sent} UTC\n"
            f"To: {', '.join(row.get('to_addrs') or [])}\n"
            f"Reply-To: {row.get('reply_to') or row.get('from_addr')}\n"
            f"Message-ID: {row.get('message_id')}\n"
            f"Stage: {(row.get('stage') or '').replace('_', ' ')}\n"
            f"Pay apps:\n{pay_apps}\n\n"
            f"Subject: {row.get('subject')}\n\n{row.get('body')}"
        )
        entries.append(LogEntry(project_id=int(project_id), title=f"Email sent: {row.get('subject')}",
                                description=description, status="Closed"))
    return entries


def log_sent_email(client: ProcoreClient, company_id: int, row: Mapping[str, Any], facts: DraftFacts | None) -> str:
    """Write the Collections Log items; returns their Procore ids ("123" or "123,124")."""
    tool = find_collections_log(client, company_id)
    ids = [str(create_log_item(client, int(tool["id"]), entry).get("id")) for entry in log_entries(row, facts)]
    return ",".join(ids)


def collections_log_hook(
    db: Database, company_id: int, make_client: Callable[[], ProcoreClient]
) -> Callable[[dict[str, Any]], str]:
    """The ``after_send`` hook for ``outbox.deliver`` / ``resolve_uncertain`` / ``retry_writeback``."""

    def after_send(row: dict[str, Any]) -> str:
        facts = None
        if row.get("draft_id"):
            saved = outbox.get_draft(db, company_id, int(row["draft_id"]))
            if saved is not None:
                facts = DraftFacts.from_dict(saved["facts"])
        with make_client() as client:
            return log_sent_email(client, company_id, row, facts)

    return after_send


def deliver_queued(
    db: Database, company_id: int, box: Any, after_send: Callable[[dict[str, Any]], Any] | None,
    *, statuses: Iterable[str] = ("queued",),
) -> list[dict[str, Any]]:
    """Deliver every row of the company in ``statuses`` (the CLI's ``outbox --deliver``); returns the rows after."""
    results = []
    for status in statuses:
        for row in outbox.outbox_rows(db, company_id, status=status):
            results.append(outbox.deliver(db, company_id, row["id"], box=box, after_send=after_send))
    return results
