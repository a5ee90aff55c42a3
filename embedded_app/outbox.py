"""Review-and-send orchestration without Flask: settings and opt-in, drafts and edits, exactly-once sending.

Views, CLI commands and autopilot jobs all call these functions with a store connection (``db``).

Exactly once
------------
* ``queue_email`` writes the outbox row *before* anything is sent. Its idempotency key is
  sha256(company, customer, stage, sorted invoice ids, day); the key is unique, so a second queue of the same
  email (double click, retried request) returns the existing row and creates nothing.
* ``deliver`` claims the row with one compare-and-set UPDATE (queued|failed → sending). Only the caller that won
  the claim talks to SMTP; everyone else gets the row back unchanged. The Message-ID is derived from the key,
  so even a human-approved resend is recognisable as the same message by the recipient's mail system.
* Failures before the SMTP DATA command are proven non-deliveries: status ``failed`` with the error kept,
  retryable by calling ``deliver`` again. A connection lost during DATA → ``uncertain``.
* ``reconcile`` (run at start-up and periodically) looks at rows stuck in ``sending`` (a crash between claim and
  record). If DATA had not started (``data_started_at`` empty) the email provably did not leave → ``failed``
  (retryable). Otherwise the server may have accepted it → ``uncertain``: we do NOT resend automatically,
  because a duplicate dunning email to a customer is worse than a short delay; a human checks the sent folder /
  asks the customer and calls ``resolve_uncertain``.
* Opt-in gate: nothing is queued or delivered unless the company's opt-in is recorded (who, when) and an SMTP
  transport is configured. The gate is checked again at delivery (opt-in may have been revoked meanwhile).
* ``after_send(row)`` is called once, after the row is recorded as sent (e.g. to log a Collections Log item
  in Procore). Its failure never un-sends anything: it is recorded as ``writeback_status = 'failed'`` and can
  be retried with ``retry_writeback``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from . import mail
from .crypto import SecretBox
from .drafting import Draft, DraftFacts, check_grounding
from .store import Database
from .store import outbox as store
from .store import settings as settings_store

log = logging.getLogger(__name__)

AfterSend = Callable[[dict[str, Any]], Any]

STUCK_AFTER = timedelta(minutes=5)  # longer than any SMTP conversation (timeout 30 s per step)


class SendRefused(Exception):
    """The gate refused: ``reasons`` says why (no opt-in, no SMTP transport, no recipient...)."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


# --- keys -----------------------------------------------------------------------------------------------------

def idempotency_key(
    company_id: int, customer_id: int, stage: str, invoice_ids: Iterable[int], day: date | str
) -> str:
    day_text = day.isoformat() if isinstance(day, date) else str(day)
    material = json.dumps(
        [int(company_id), int(customer_id), stage, sorted({int(i) for i in invoice_ids}), day_text],
        separators=(",", ":"),
    )
    return hashlib.sha256(material.encode()).hexdigest()[:40]


def message_id_for(idem_key: str, from_addr: str) -> str:
    domain = (from_addr.rpartition("@")[2] or "localhost").strip().lower() or "localhost"
    return f"<dunning.{idem_key}@{domain}>"


# --- company settings and opt-in -------------------------------------------------------------------------------

def save_settings(
    db: Database, company_id: int, *, box: SecretBox, updated_by: int | None, smtp_password: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """Save settings (signature, reply_to, from_addr, from_name, smtp_host, smtp_port, smtp_security,
    smtp_username). ``smtp_password``: None keeps the stored one, "" clears it, anything else is encrypted."""
    for key in ("reply_to", "from_addr"):
        if fields.get(key) and not mail.valid_address(fields[key]):
            raise ValueError(f"{key} is not a valid e-mail address")
    if fields.get("smtp_security") not in (None, "starttls", "ssl", "none"):
        raise ValueError("smtp_security must be starttls, ssl or none")
    if smtp_password is not None:
        fields["smtp_password_enc"] = box.encrypt(smtp_password) if smtp_password else None
    settings_store.save(db, company_id, updated_by, **fields)
    return public_settings(db, company_id)


def public_settings(db: Database, company_id: int) -> dict[str, Any]:
    """Settings for display: never the password (only whether one is stored)."""
    row = settings_store.get(db, company_id) or {"company_id": company_id}
    out = {k: v for k, v in row.items() if k != "smtp_password_enc"}
    out["has_smtp_password"] = bool(row.get("smtp_password_enc"))
    out["opted_in"] = bool(row.get("opt_in_at"))
    out["opt_in_history"] = settings_store.opt_in_history(db, company_id)
    return out


def record_opt_in(db: Database, company_id: int, *, user_id: int, user_name: str) -> dict[str, Any]:
    """The company administrator consents to contacting their customers. Who and when are kept."""
    settings_store.record_opt_in(db, company_id, user_id, user_name)
    return public_settings(db, company_id)


def revoke_opt_in(db: Database, company_id: int, *, user_id: int, user_name: str) -> dict[str, Any]:
    settings_store.revoke_opt_in(db, company_id, user_id, user_name)
    return public_settings(db, company_id)


def smtp_settings_for(db: Database, company_id: int, box: SecretBox) -> mail.SmtpSettings | None:
    row = settings_store.get(db, company_id)
    if not row or not row.get("smtp_host") or not row.get("from_addr"):
        return None
    return mail.SmtpSettings(
        host=row["smtp_host"],
        port=int(row.get("smtp_port") or 587),
        security=row.get("smtp_security") or "starttls",
        username=row.get("smtp_username") or None,
        password=box.decrypt(row["smtp_password_enc"]) if row.get("smtp_password_enc") else None,
        from_addr=row["from_addr"],
        from_name=row.get("from_name") or None,
        reply_to=row.get("reply_to") or None,
    )


def send_blockers(db: Database, company_id: int) -> list[str]:
    """Why this company cannot send now (empty list: it can)."""
    row = settings_store.get(db, company_id) or {}
    reasons = []
    if not row.get("opt_in_at"):
        reasons.append("the company administrator has not recorded the opt-in to contacting customers")
    if not row.get("smtp_host") or not row.get("from_addr"):
        reasons.append("no SMTP transport is configured (host and from address)")
    return reasons


def send_test(db: Database, company_id: int, box: SecretBox, to: str) -> tuple[bool, str | None]:
    """The settings page's "send test email": returns (ok, error text); the outcome is recorded."""
    smtp = smtp_settings_for(db, company_id, box)
    if smtp is None:
        return False, "no SMTP transport is configured"
    company = settings_store.get(db, company_id) or {}
    try:
        mail.send_test_email(smtp, to, company_name=company.get("from_name"))
    except mail.MailError as exc:
        settings_store.record_test_email(db, company_id, False, str(exc))
        return False, str(exc)
    settings_store.record_test_email(db, company_id, True)
    return True, None


# --- drafts and edits ------------------------------------------------------------------------------------------

def save_draft(db: Database, company_id: int, facts: DraftFacts, draft: Draft, *, created_by: int | None) -> int:
    """Keep the generated draft (version 0) with its facts, source, model, usage and grounding errors."""
    return store.insert_draft(db, {
        "company_id": company_id, "customer_id": facts.customer_id, "stage": facts.stage,
        "facts": facts.to_dict(), "subject": draft.subject, "body": draft.body, "to_addrs": draft.to,
        "cited_invoices": draft.cited_invoices, "source": draft.source, "model": draft.model,
        "usage": draft.usage, "grounding_errors": draft.grounding_errors, "fallback_reason": draft.fallback_reason,
        "attempts": draft.attempts, "created_by": created_by,
    })


def get_draft(db: Database, company_id: int, draft_id: int) -> dict[str, Any] | None:
    """The draft with ``facts`` (dict), ``versions`` (edits, oldest first) and ``current`` (what would be sent)."""
    row = store.get_draft(db, company_id, draft_id)
    if row is None:
        return None
    versions = store.draft_versions(db, company_id, draft_id)
    latest = versions[-1] if versions else None
    row["versions"] = versions
    row["current"] = {
        "version": latest["version"] if latest else 0,
        "subject": latest["subject"] if latest else row["subject"],
        "body": latest["body"] if latest else row["body"],
        "to": latest["to_addrs"] if latest else row["to_addrs"],
    }
    return row


def edit_draft(
    db: Database, company_id: int, draft_id: int, *, subject: str, body: str, to: list[str],
    edited_by: int | None,
) -> dict[str, Any]:
    """Save a human edit as a new version (the original and every edit are kept).

    Returns {"version", "warnings"}: warnings are grounding findings on the edited text (shown, not blocking:
    the bookkeeper is in control). Invalid recipient addresses are refused.
    """
    row = store.get_draft(db, company_id, draft_id)
    if row is None:
        raise LookupError(f"draft {draft_id} not found")
    to = [t.strip() for t in to if t and t.strip()]
    bad = [t for t in to if not mail.valid_address(t)]
    if bad:
        raise ValueError(f"invalid recipient address(es): {', '.join(bad)}")
    if "\n" in subject or "\r" in subject:
        raise ValueError("the subject must be a single line")
    version = store.add_draft_version(
        db, company_id, draft_id, subject=subject.strip(), body=body, to_addrs=to, edited_by=edited_by
    )
    facts = DraftFacts.from_dict(row["facts"])
    warnings = check_grounding(subject, body, None, facts)
    return {"version": version, "warnings": warnings}


def pending_drafts(db: Database, company_id: int, *, customer_id: int | None = None) -> list[dict[str, Any]]:
    """Drafts waiting for a human (not sent, queued or skipped), newest first, each as ``get_draft`` returns it."""
    out = []
    for ref in store.pending_drafts(db, company_id, customer_id=customer_id):
        row = get_draft(db, company_id, int(ref["id"]))
        if row is not None:
            out.append(row)
    return out


def skip_draft(db: Database, company_id: int, draft_id: int, *, by: int | None) -> bool:
    """Set a draft aside without sending (kept for audit). False if it was already skipped or unknown."""
    return store.dismiss_draft(db, company_id, draft_id, by)


# --- queue and deliver -----------------------------------------------------------------------------------------

def queue_email(
    db: Database,
    *,
    company_id: int,
    customer_id: int,
    stage: str,
    invoice_ids: Iterable[int],
    to: list[str],
    subject: str,
    body: str,
    queued_by: int | None,
    reply_to: str | None = None,
    project_ids: Iterable[int] = (),
    draft_id: int | None = None,
    draft_version: int | None = None,
    day: date | None = None,
) -> tuple[dict[str, Any], bool]:
    """Write the outbox row (before any sending). Returns (row, created); the same key returns the old row."""
    reasons = send_blockers(db, company_id)
    if not to:
        reasons.append("the customer has no e-mail contact: call instead")
    reasons += [f"invalid recipient address: {t}" for t in to if not mail.valid_address(t)]
    if reasons:
        raise SendRefused(reasons)
    company = settings_store.get(db, company_id) or {}
    invoice_ids = sorted({int(i) for i in invoice_ids})
    key = idempotency_key(company_id, customer_id, stage, invoice_ids, day or date.today())
    from_addr = company["from_addr"]
    row, created = store.insert_if_absent(db, {
        "company_id": company_id, "customer_id": customer_id, "stage": stage, "idem_key": key,
        "day": (day or date.today()).isoformat(), "draft_id": draft_id, "draft_version": draft_version,
        "message_id": message_id_for(key, from_addr), "from_addr": from_addr,
        "from_name": company.get("from_name"), "to_addrs": list(to),
        "reply_to": reply_to or company.get("reply_to"), "subject": subject, "body": body,
        "invoice_ids": invoice_ids, "project_ids": sorted({int(p) for p in project_ids}), "queued_by": queued_by,
    })
    return row, created


def queue_draft(
    db: Database, company_id: int, draft_id: int, *, queued_by: int | None, day: date | None = None
) -> tuple[dict[str, Any], bool]:
    """Queue the current version of a saved draft (what the Send button does before ``deliver``)."""
    row = get_draft(db, company_id, draft_id)
    if row is None:
        raise LookupError(f"draft {draft_id} not found")
    facts = DraftFacts.from_dict(row["facts"])
    current = row["current"]
    return queue_email(
        db, company_id=company_id, customer_id=facts.customer_id, stage=facts.stage,
        invoice_ids=facts.invoice_ids, to=current["to"] or [], subject=current["subject"], body=current["body"],
        queued_by=queued_by, reply_to=facts.reply_to, project_ids=facts.project_ids, draft_id=draft_id,
        draft_version=current["version"], day=day,
    )


def deliver(
    db: Database,
    company_id: int,
    row_id: int,
    smtp: mail.SmtpSettings | None = None,
    *,
    box: SecretBox | None = None,
    after_send: AfterSend | None = None,
) -> dict[str, Any]:
    """Send one outbox row at most once. Returns the row after the attempt (see ``status``, ``last_error``).

    ``smtp`` defaults to the company's stored transport (needs ``box`` to decrypt the password). Calling it on
    a row that is sending, sent, uncertain or cancelled does nothing and returns the row.
    """
    row = store.get(db, company_id, row_id)
    if row is None:
        raise LookupError(f"outbox row {row_id} not found")
    if row["status"] not in ("queued", "failed"):
        return row
    reasons = send_blockers(db, company_id)
    if smtp is None and not reasons:
        if box is None:
            raise ValueError("pass smtp settings or the SecretBox to read the stored ones")
        smtp = smtp_settings_for(db, company_id, box)
    if smtp is None and not reasons:
        reasons.append("no SMTP transport is configured")
    if reasons:
        raise SendRefused(reasons)
    assert smtp is not None
    token = uuid.uuid4().hex
    if not store.claim(db, company_id, row_id, token):
        return store.get(db, company_id, row_id) or row
    store.add_event(db, company_id, row_id, "claimed", f"attempt {row['attempts'] + 1}")
    try:
        mail.send_message(
            smtp, row["to_addrs"], row["subject"], row["body"], reply_to=row["reply_to"],
            message_id=row["message_id"],
            headers={"X-Collections-Key": row["idem_key"]},
            before_data=lambda: store.mark_data_started(db, row_id, token),
        )
    except mail.MailError as exc:
        store.mark_failed(db, row_id, token, str(exc), uncertain=exc.uncertain)
        store.add_event(db, company_id, row_id, "uncertain" if exc.uncertain else "failed", str(exc))
        log.warning("outbox row %s not sent (%s): %s", row_id, "uncertain" if exc.uncertain else "failed", exc)
        return store.get(db, company_id, row_id) or row
    store.mark_sent(db, row_id, token)
    store.add_event(db, company_id, row_id, "sent", row["message_id"])
    sent = store.get(db, company_id, row_id) or row
    if after_send is not None:
        sent = _run_after_send(db, company_id, sent, after_send)
    return sent


def _run_after_send(db: Database, company_id: int, row: dict[str, Any], after_send: AfterSend) -> dict[str, Any]:
    try:
        ref = after_send(row)
    except Exception as exc:  # the email is sent; a failed write-back is recorded and retried later
        store.set_writeback(db, company_id, row["id"], status="failed", error=f"{type(exc).__name__}: {exc}")
        store.add_event(db, company_id, row["id"], "writeback_failed", str(exc))
        log.warning("write-back for outbox row %s failed: %s", row["id"], exc)
    else:
        store.set_writeback(db, company_id, row["id"], status="done", ref=None if ref is None else str(ref))
        store.add_event(db, company_id, row["id"], "writeback_done", "" if ref is None else str(ref))
    return store.get(db, company_id, row["id"]) or row


def retry_writeback(db: Database, company_id: int, row_id: int, after_send: AfterSend) -> dict[str, Any]:
    """Retry the after-send hook of a sent row whose write-back failed (or never ran)."""
    row = store.get(db, company_id, row_id)
    if row is None:
        raise LookupError(f"outbox row {row_id} not found")
    if row["status"] != "sent" or row.get("writeback_status") == "done":
        return row
    return _run_after_send(db, company_id, row, after_send)


def reconcile(db: Database, *, stuck_after: timedelta = STUCK_AFTER, now: datetime | None = None) -> dict[str, int]:
    """Settle rows left in ``sending`` by a crashed process (all companies). Never resends anything.

    Claimed but DATA never started → ``failed`` (provably not delivered; ``deliver`` may retry it).
    DATA started → ``uncertain`` (the server may have accepted it): a human confirms with ``resolve_uncertain``.
    """
    cutoff = ((now or datetime.now(UTC)) - stuck_after).replace(microsecond=0)
    cutoff_iso = cutoff.isoformat().replace("+00:00", "Z")
    counts = {"failed": 0, "uncertain": 0}
    for row in store.stuck_sending(db, cutoff_iso):
        uncertain = bool(row.get("data_started_at"))
        if uncertain:
            error = ("interrupted after the message was handed to the SMTP server; it may have been delivered. "
                     "Check the sent mail or ask the customer, then confirm.")
        else:
            error = "interrupted before the message was handed to the SMTP server; not delivered, safe to retry"
        if store.release_stuck(db, row["id"], row["claim_token"], uncertain=uncertain, error=error):
            counts["uncertain" if uncertain else "failed"] += 1
            store.add_event(db, row["company_id"], row["id"], "reconciled",
                            "uncertain" if uncertain else "failed")
    return counts


def resolve_uncertain(
    db: Database, company_id: int, row_id: int, *, delivered: bool, by: int | None,
    after_send: AfterSend | None = None,
) -> dict[str, Any]:
    """A human confirms an uncertain send: delivered → sent (and the write-back runs); not → failed (retryable)."""
    note = "confirmed not delivered by a user; retryable"
    if not store.resolve(db, company_id, row_id, delivered=delivered, by=by, note=note):
        raise ValueError(f"outbox row {row_id} is not uncertain")
    store.add_event(db, company_id, row_id, "resolved", "delivered" if delivered else "not delivered")
    row = store.get(db, company_id, row_id)
    assert row is not None
    if delivered and after_send is not None:
        row = _run_after_send(db, company_id, row, after_send)
    return row


def cancel(db: Database, company_id: int, row_id: int) -> bool:
    return store.cancel(db, company_id, row_id)


def outbox_rows(
    db: Database, company_id: int, *, status: str | None = None, customer_id: int | None = None
) -> list[dict[str, Any]]:
    return store.list_rows(db, company_id, status=status, customer_id=customer_id)


def outbox_events(db: Database, company_id: int, row_id: int) -> list[dict[str, Any]]:
    return store.events(db, company_id, row_id)
