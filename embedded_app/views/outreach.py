"""Drafts, review, sending, opt-in and mail settings: the bookkeeper's "Ready to send" queue, the side panel's
"Draft reminder", and the Settings section. Thin: the work is in ``outbox`` (exactly-once sending, settings),
``outreach`` (drafting from the report, the Procore Collections Log) and ``drafting``.

Expected refusals (no opt-in, no SMTP, a bad address) are answered 200 with the reasons in plain words so htmx
swaps them in place; unexpected errors go through views/errors.py.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from flask import Blueprint, Response, abort, current_app, make_response, render_template, request

from .. import collections, connection, outbox, outreach
from ..crypto import SecretBox
from ..procore.errors import ReconnectRequired
from ..store import get_db, sessions
from ..store import outbox as outbox_store
from .context import company_id_arg, current_user_id, int_arg, require_company_access

bp = Blueprint("outreach", __name__, url_prefix="/outreach")

OUTBOX_CHANGED = "outbox-changed"  # HX-Trigger event: lists of sent / failed emails reload themselves
ATTENTION = ("queued", "sending", "failed", "uncertain")


def _who() -> tuple[int, int, dict[str, Any]]:
    company_id = company_id_arg()
    user_id = current_user_id()
    if user_id is None:
        raise ReconnectRequired("not connected")
    company = require_company_access(user_id, company_id)
    return user_id, company_id, company


def _box() -> SecretBox:
    return SecretBox(current_app.config["TOKEN_ENCRYPTION_KEY"])


def _after_send(user_id: int, company_id: int) -> Any:
    config = current_app.config
    db = get_db()
    return outreach.collections_log_hook(
        db, company_id, lambda: connection.user_client(db, config, user_id, company_id=company_id)
    )


def _changed(body: str) -> Response:
    response = make_response(body)
    response.headers["HX-Trigger"] = OUTBOX_CHANGED
    return response


def _report(company_id: int) -> dict[str, Any]:
    return collections.build_report(get_db(), company_id, as_of=date.today()).to_json()


def plain_error(text: str | None) -> str:
    """Stored errors look like "CollectionsLogMissing: Company 10002 has no…": drop the class name."""
    return re.sub(r"^[A-Z][A-Za-z]+(Error|Exception|Missing|Refused|Required|Failed)?: ", "", text or "")


@bp.app_template_filter("first_lines")
def first_lines(body: str, count: int = 3) -> str:
    lines = [line for line in (body or "").splitlines() if line.strip()]
    text = " ".join(lines[:count])
    return text if len(text) <= 280 else text[:277] + "…"


@bp.app_context_processor
def _inject() -> dict[str, Any]:
    return {"stage_label": lambda s: collections.STAGE_LABELS.get(s or "", (s or "").replace("_", " ")),
            "plain_error": plain_error}


# --- the queue --------------------------------------------------------------------------------------------------

def _queue_context(company_id: int, **extra: Any) -> dict[str, Any]:
    db = get_db()
    return {
        "company_id": company_id, "blockers": outbox.send_blockers(db, company_id),
        "drafts": outbox.pending_drafts(db, company_id), **_outbox_context(company_id), **extra,
    }


def _outbox_context(company_id: int, customer_id: int | None = None) -> dict[str, Any]:
    rows = outbox.outbox_rows(get_db(), company_id, customer_id=customer_id)
    return {"attention": [r for r in rows if r["status"] in ATTENTION],
            "sent": [r for r in rows if r["status"] == "sent"], "company_id": company_id}


@bp.get("/queue")
def queue() -> str:
    _, company_id, _ = _who()
    outbox.reconcile(get_db())  # settle rows a crashed process left in "sending" (never resends)
    return render_template("_outreach_queue.html", **_queue_context(company_id))


@bp.get("/outbox")
def outbox_list() -> str:
    _, company_id, _ = _who()
    return render_template("_queue_outbox.html", **_outbox_context(company_id))


@bp.get("/history")
def history() -> str:
    _, company_id, _ = _who()
    customer_id = int_arg("customer_id", "customer")
    if customer_id is None:
        abort(400, description="The customer is missing from the request.")
    ctx = _outbox_context(company_id, customer_id)
    return render_template("_outreach_history.html", rows=ctx["sent"] + ctx["attention"], company_id=company_id,
                           customer_id=customer_id)


@bp.post("/drafts/due")
def draft_all() -> str:
    user_id, company_id, company = _who()
    db = get_db()
    report = _report(company_id)
    result = outreach.draft_everyone_due(
        db, current_app.config, company_id=company_id, company_name=company["name"], report=report,
        projects=collections.project_names(db, company_id), user_id=user_id,
    )
    return render_template("_outreach_queue.html", **_queue_context(company_id, bulk=result))


@bp.post("/drafts")
def create_draft() -> str:
    """The side panel's "Draft reminder": open the customer's waiting draft, or draft a new one."""
    user_id, company_id, company = _who()
    customer_id = int_arg("customer_id", "customer")
    db = get_db()
    waiting = outbox.pending_drafts(db, company_id, customer_id=customer_id) if customer_id is not None else []
    if waiting:
        return _editor(company_id, waiting[0]["id"], notice="This reminder was drafted earlier and is waiting "
                                                            "for review.")
    report = _report(company_id)
    customer = next((c for c in report["customers"] if c.get("id") == customer_id), None)
    if customer is None:
        abort(404, description="This customer has nothing open in the receivables loaded from Procore.")
    try:
        draft_id = outreach.draft_for_customer(
            db, current_app.config, company_id=company_id, company_name=company["name"], report=report,
            customer=customer, projects=collections.project_names(db, company_id), user_id=user_id,
        )
    except ValueError as exc:
        return render_template("_outreach_notice.html", kind="warning", message=str(exc))
    return _editor(company_id, draft_id)


def _draft_or_404(company_id: int, draft_id: int) -> dict[str, Any]:
    row = outbox.get_draft(get_db(), company_id, draft_id)
    if row is None:
        abort(404, description="This draft does not exist (or belongs to another company).")
    return row


def _editor(company_id: int, draft_id: int, *, status: int = 200, **extra: Any) -> Any:
    row = _draft_or_404(company_id, draft_id)
    db = get_db()
    editors = {v["edited_by"] for v in row["versions"] if v.get("edited_by")}
    names = {uid: sessions.user_name(db, int(uid)) or f"user {uid}" for uid in editors}
    ctx = {"d": row, "facts": row["facts"], "current": row["current"], "company_id": company_id,
           "blockers": outbox.send_blockers(db, company_id), "editor_names": names, **extra}
    return render_template("_draft_editor.html", **ctx), status


@bp.get("/drafts/<id:draft_id>")
def editor(draft_id: int) -> Any:
    _, company_id, _ = _who()
    return _editor(company_id, draft_id)


def _form_edit(company_id: int, draft_id: int, user_id: int) -> dict[str, Any] | None:
    """Keep the form's text as a new version when it differs from the current one. Returns the edit result."""
    row = _draft_or_404(company_id, draft_id)
    current = row["current"]
    subject = request.form.get("subject", current["subject"])
    body = request.form.get("body", current["body"]).replace("\r\n", "\n")
    raw_to = request.form.get("to")
    to = (current["to"] or []) if raw_to is None else [t for t in re.split(r"[,;\s]+", raw_to) if t]
    if subject.strip() == current["subject"] and body == current["body"] and to == (current["to"] or []):
        return None
    return outbox.edit_draft(get_db(), company_id, draft_id, subject=subject, body=body, to=to, edited_by=user_id)


@bp.post("/drafts/<id:draft_id>")
def save_draft(draft_id: int) -> Any:
    user_id, company_id, _ = _who()
    try:
        result = _form_edit(company_id, draft_id, user_id)
    except ValueError as exc:
        return _editor(company_id, draft_id, error=str(exc))
    if result is None:
        return _editor(company_id, draft_id, notice="No changes to save.")
    return _editor(company_id, draft_id, notice=f"Saved as version {result['version']}; the original draft and "
                                                "every edit are kept.", warnings=result["warnings"])


@bp.post("/drafts/<id:draft_id>/send")
def send_draft(draft_id: int) -> Any:
    """Save any edit, queue (idempotency key: a second click finds the same row) and deliver at most once."""
    user_id, company_id, _ = _who()
    db = get_db()
    try:
        _form_edit(company_id, draft_id, user_id)
    except ValueError as exc:
        return _editor(company_id, draft_id, error=str(exc))
    try:
        row, created = outbox.queue_draft(db, company_id, draft_id, queued_by=user_id)
    except outbox.SendRefused as exc:
        return _editor(company_id, draft_id, refused=exc.reasons)
    duplicate = not created and row.get("draft_id") != draft_id
    if duplicate:  # the same email (customer, stage, invoices, day) was already queued from another draft
        outbox.skip_draft(db, company_id, draft_id, by=user_id)
    elif row["status"] in ("queued", "failed"):  # a concurrent click loses the claim inside deliver
        try:
            row = outbox.deliver(db, company_id, row["id"], box=_box(), after_send=_after_send(user_id, company_id))
        except outbox.SendRefused as exc:
            return _editor(company_id, draft_id, refused=exc.reasons)
    return _changed(render_template("_send_result.html", row=row, company_id=company_id, duplicate=duplicate,
                                    repeat=not created and not duplicate))


@bp.post("/drafts/<id:draft_id>/skip")
def skip_draft(draft_id: int) -> str:
    user_id, company_id, _ = _who()
    row = _draft_or_404(company_id, draft_id)
    outbox.skip_draft(get_db(), company_id, draft_id, by=user_id)
    return render_template("_outreach_notice.html", kind="info",
                           message=f"Skipped the draft for {row['facts']['customer_name']}. Nothing was sent; "
                                   "the draft is kept for the record.")


# --- outbox rows: retry, resolve, write-back ---------------------------------------------------------------------

def _row_or_404(company_id: int, row_id: int) -> dict[str, Any]:
    row = outbox_store.get(get_db(), company_id, row_id)
    if row is None:
        abort(404, description="This email is not in your company's outbox.")
    return row


def _row_response(company_id: int, row: dict[str, Any], **extra: Any) -> Response:
    return _changed(render_template("_outbox_row.html", row=row, company_id=company_id, **extra))


@bp.post("/outbox/<id:row_id>/retry")
def retry(row_id: int) -> Response:
    user_id, company_id, _ = _who()
    row = _row_or_404(company_id, row_id)
    try:
        row = outbox.deliver(get_db(), company_id, row_id, box=_box(), after_send=_after_send(user_id, company_id))
    except outbox.SendRefused as exc:
        return _row_response(company_id, row, refused=exc.reasons)
    return _row_response(company_id, row)


@bp.post("/outbox/<id:row_id>/resolve")
def resolve(row_id: int) -> Response:
    user_id, company_id, _ = _who()
    _row_or_404(company_id, row_id)
    delivered = request.form.get("delivered") == "yes"
    try:
        row = outbox.resolve_uncertain(get_db(), company_id, row_id, delivered=delivered, by=user_id,
                                       after_send=_after_send(user_id, company_id) if delivered else None)
    except ValueError:  # already settled (another click, another user): show how it stands now
        row = _row_or_404(company_id, row_id)
    return _row_response(company_id, row)


@bp.post("/outbox/<id:row_id>/log")
def retry_log(row_id: int) -> Response:
    user_id, company_id, _ = _who()
    _row_or_404(company_id, row_id)
    row = outbox.retry_writeback(get_db(), company_id, row_id, _after_send(user_id, company_id))
    return _row_response(company_id, row)


# --- settings: opt-in, SMTP transport, test email ----------------------------------------------------------------

def _settings_page(company_id: int, **extra: Any) -> str:
    db = get_db()
    shown = outbox.public_settings(db, company_id)
    config = current_app.config
    if not shown.get("smtp_host") and config.get("SMTP_HOST"):  # the deployment's default transport, prefilled
        shown.update(smtp_host=config["SMTP_HOST"], smtp_port=config.get("SMTP_PORT"),
                     smtp_security="starttls" if config.get("SMTP_STARTTLS") else "none",
                     smtp_username=config.get("SMTP_USERNAME"), from_addr=shown.get("from_addr")
                     or config.get("SMTP_FROM"), prefilled=True)
    return render_template("_outreach_settings.html", s=shown, company_id=company_id,
                           blockers=outbox.send_blockers(db, company_id), **extra)


@bp.get("/settings")
def settings() -> str:
    _, company_id, _ = _who()
    return _settings_page(company_id)


@bp.post("/settings")
def save_settings() -> str:
    user_id, company_id, _ = _who()
    form = request.form
    fields: dict[str, Any] = {k: (form.get(k) or "").strip() or None for k in (
        "from_name", "from_addr", "reply_to", "smtp_host", "smtp_security", "smtp_username")}
    fields["signature"] = (form.get("signature") or "").replace("\r\n", "\n").strip() or None
    try:
        port = int(form.get("smtp_port") or 587)
        if not 0 < port < 65536:
            raise ValueError
    except ValueError:
        return _settings_page(company_id, error="The SMTP port must be a number such as 587 (STARTTLS), 465 (SSL) "
                                                "or 25.")
    password = form.get("smtp_password") or None  # empty field: keep the stored password
    if form.get("clear_password") == "1":
        password = ""
    try:
        outbox.save_settings(get_db(), company_id, box=_box(), updated_by=user_id, smtp_password=password,
                             smtp_port=port, **fields)
    except ValueError as exc:
        message = str(exc).replace("reply_to", "The reply-to address").replace("from_addr", "The from address")
        return _settings_page(company_id, error=message)
    return _settings_page(company_id, notice="Settings saved. The password is stored encrypted and never shown.")


@bp.post("/opt-in")
def opt_in() -> str:
    user_id, company_id, _ = _who()
    db = get_db()
    name = sessions.user_name(db, user_id) or f"Procore user {user_id}"
    if request.form.get("action") == "revoke":
        outbox.revoke_opt_in(db, company_id, user_id=user_id, user_name=name)
        return _settings_page(company_id, notice="Opt-in revoked: no email will be sent until it is recorded again.")
    if request.form.get("confirm") != "yes":
        return _settings_page(company_id, error="Tick the box to confirm that your company agrees to contacting "
                                                "its customers by email.")
    outbox.record_opt_in(db, company_id, user_id=user_id, user_name=name)
    return _settings_page(company_id, notice=f"Opt-in recorded for {name}.")


@bp.post("/settings/test")
def test_email() -> str:
    _, company_id, _ = _who()
    to = (request.form.get("test_to") or "").strip()
    if not to:
        return render_template("_outreach_notice.html", kind="error",
                               message="Enter the address the test email goes to.")
    ok, error = outbox.send_test(get_db(), company_id, _box(), to)
    if ok:
        return render_template("_outreach_notice.html", kind="success",
                               message=f"Test email sent to {to}. Check that it arrived (and not in spam).")
    return render_template("_outreach_notice.html", kind="error",
                           message=f"The test email could not be sent: {plain_error(error)}")
