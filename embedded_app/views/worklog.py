"""Promises-to-pay, call notes and disputes: inline forms in the side panel and the needs-a-call rows, the
retry button, and the helpers the panel history and the Promises section render with."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from flask import Blueprint, abort, current_app, render_template, request
from flask.typing import ResponseReturnValue

from .. import connection, worklog
from ..engine import Policy
from ..procore.client import ProcoreClient
from ..store import get_db
from ..store import worklog as store
from ..writeback import COLLECTIONS_LOG_TITLE
from .context import company_id_arg, current_user_id, int_arg, require_company_access

bp = Blueprint("worklog", __name__, url_prefix="/worklog")

FORMS = {"promise": "_worklog_promise_form.html", "call": "_worklog_call_form.html",
         "dispute": "_worklog_dispute_form.html"}
TARGETS = ("panel", "call")


def horizon_days() -> int:
    value = current_app.config.get("PROMISE_HORIZON_DAYS") or os.environ.get("PROMISE_HORIZON_DAYS") or 60
    try:
        return max(1, int(value))
    except (TypeError, ValueError):
        return worklog.HORIZON_DAYS


def _access() -> tuple[int, int]:
    company_id = company_id_arg()
    user_id = current_user_id()
    if user_id is None:
        abort(401, description="Connect to Procore first: reload the page and press Connect to Procore.")
    require_company_access(user_id, company_id)
    return user_id, company_id


def _int_arg(name: str) -> int | None:
    return int_arg(name)


def _client(user_id: int, company_id: int) -> ProcoreClient:
    # A click must not hang on a slow Procore: one retry, short timeouts; the entry stays queued otherwise.
    return connection.user_client(get_db(), current_app.config, user_id, company_id=company_id, max_retries=1,
                                  timeout=(3.0, 20.0), max_wait=5.0)


def _form_context(kind: str, company_id: int, customer: dict[str, Any], **extra: Any) -> dict[str, Any]:
    on = worklog.today()
    target = request.values.get("target", "panel")
    return {
        "kind": kind, "company_id": company_id, "customer": customer, "contract_id": _int_arg("contract_id"),
        "target": target if target in TARGETS else "panel", "open_invoices": worklog.open_invoices(customer),
        "today": on.isoformat(), "max_day": (on + timedelta(days=horizon_days())).isoformat(),
        "horizon": horizon_days(), "outcomes": worklog.CALL_OUTCOMES, "channels": worklog.CHANNELS,
        "idem_key": request.values.get("idem_key") or worklog.new_key(), "errors": {}, "values": {},
        **extra,
    }


def _customer(company_id: int) -> dict[str, Any]:
    customer_id = _int_arg("customer_id")
    if customer_id is None:
        abort(400, description="Which customer? The request names none.")
    customer = worklog.customer_of(get_db(), company_id, customer_id)
    if customer is None:
        abort(404, description="This customer is not in the cached receivables of this company. Refresh from "
                               "Procore and try again.")
    return customer


@bp.get("/form/<kind>")
def form(kind: str) -> ResponseReturnValue:
    if kind not in FORMS:
        abort(404, description="There is no such form.")
    _, company_id = _access()
    customer = _customer(company_id)
    return render_template(FORMS[kind], **_form_context(kind, company_id, customer))


def _submit(kind: str):
    user_id, company_id = _access()
    customer = _customer(company_id)
    db = get_db()
    values = request.form.to_dict()
    common = {"customer_id": customer["id"], "idem_key": values.get("idem_key") or None}
    try:
        with _client(user_id, company_id) as client:
            if kind == "promise":
                logged = worklog.log_promise(
                    db, client, company_id, user_id, **common, amount=values.get("amount"),
                    promised_date=values.get("promised_date"),
                    invoice_ids=[int(i) for i in request.form.getlist("invoice_ids") if i.isdigit()],
                    contract_id=_int_arg("contract_id"), contact_name=values.get("contact_name", ""),
                    channel=values.get("channel", "call"), note=values.get("note", ""), horizon_days=horizon_days(),
                )
            elif kind == "call":
                logged = worklog.log_call(
                    db, client, company_id, user_id, **common, outcome=values.get("outcome", ""),
                    note=values.get("note", ""), next_step_date=values.get("next_step_date"),
                    contact_name=values.get("contact_name", ""), contract_id=_int_arg("contract_id"),
                    horizon_days=horizon_days(),
                )
            else:
                logged = worklog.mark_disputed(
                    db, client, company_id, user_id, **common, pay_app_id=values.get("pay_app_id"),
                    reason=values.get("reason", ""),
                )
    except worklog.WorklogInvalid as exc:
        renewed = {"idem_key": worklog.new_key()} if "idem_key" in exc.errors else {}  # the key was refused
        ctx = _form_context(kind, company_id, customer, errors=exc.errors, values=values,
                            chosen=[int(i) for i in request.form.getlist("invoice_ids") if i.isdigit()], **renewed)
        return render_template(FORMS[kind], **ctx)
    return render_template("_worklog_result.html", logged=logged, entry=logged.entry, push=logged.push,
                           company_id=company_id, customer=customer, target=request.values.get("target", "panel"),
                           log_title=COLLECTIONS_LOG_TITLE, grace_days=Policy().promise_grace_days)


@bp.post("/promise")
def promise() -> ResponseReturnValue:
    return _submit("promise")


@bp.post("/call")
def call() -> ResponseReturnValue:
    return _submit("call")


@bp.post("/dispute")
def dispute() -> ResponseReturnValue:
    return _submit("dispute")


@bp.post("/disputes/<id:entry_id>/resolve")
def resolve(entry_id: int) -> ResponseReturnValue:
    user_id, company_id = _access()
    db = get_db()
    entry = store.get(db, company_id, entry_id)
    if entry is None or entry["kind"] != "dispute":
        abort(404, description="That dispute is not logged for this company.")
    with _client(user_id, company_id) as client:
        worklog.resolve_dispute(db, client, company_id, entry_id)
    return render_template("_worklog_entry.html", e=store.get(db, company_id, entry_id), company_id=company_id)


@bp.post("/retry")
def retry() -> ResponseReturnValue:
    """Write every queued entry of the company to Procore now (the "Retry" button)."""
    user_id, company_id = _access()
    db = get_db()
    with _client(user_id, company_id) as client:
        summary = worklog.retry_pending(db, client, company_id)
    return render_template("_worklog_retry.html", summary=summary, company_id=company_id,
                           pending=store.unsynced(db, company_id), log_title=COLLECTIONS_LOG_TITLE)


@bp.post("/fields")
def fields() -> ResponseReturnValue:
    """Look up the prime contract custom fields again ("Collections stage", "Next promised payment")."""
    user_id, company_id = _access()
    with _client(user_id, company_id) as client:
        mapping = worklog.refresh_field_map(get_db(), client, company_id)
    return render_template("_worklog_fields.html", mapping=mapping, company_id=company_id,
                           labels=worklog.FIELD_LABELS)


# --- helpers for the panel history, the call rows and the Promises section ---------------------------------

def _history(company_id: int, customer_id: int, limit: int = 8) -> list[dict[str, Any]]:
    return store.list_entries(get_db(), int(company_id), customer_id=int(customer_id), limit=limit)


def _promise_rows(company_id: int, report: dict[str, Any]) -> list[dict[str, Any]]:
    """Every logged promise with its engine outcome on the report's as-of date (newest first)."""
    outcomes = {str(o.get("id")): o for o in report.get("promises", [])}
    rows = []
    for e in store.list_entries(get_db(), int(company_id), kind="promise"):
        rows.append({**e, "outcome": outcomes.get(f"wl-{e['id']}")})
    return rows


def _worklog_status(company_id: int) -> dict[str, Any]:
    db = get_db()
    pending = store.unsynced(db, int(company_id))
    errors = [e["sync_error"] for e in pending if e.get("sync_error")]
    return {
        "pending": pending, "setup_missing": any(COLLECTIONS_LOG_TITLE in (err or "") for err in errors),
        "last_error": errors[-1] if errors else None, "fields": store.field_map(db, int(company_id)),
    }


def _entries(company_id: int, kind: str, limit: int = 50) -> list[dict[str, Any]]:
    return store.list_entries(get_db(), int(company_id), kind=kind, limit=limit)


@bp.app_context_processor
def _template_helpers() -> dict[str, Any]:
    return {
        "worklog_history": _history, "worklog_promise_rows": _promise_rows, "worklog_status": _worklog_status,
        "worklog_entries": _entries, "worklog_outcome_labels": worklog.OUTCOME_LABELS,
        "worklog_call_outcomes": worklog.CALL_OUTCOMES, "worklog_field_labels": worklog.FIELD_LABELS,
        "worklog_log_title": COLLECTIONS_LOG_TITLE,
    }
