"""Refresh from Procore without blocking the page: start a sync in a background thread, poll its progress."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, current_app, render_template, request
from flask.typing import ResponseReturnValue

from .. import connection, worklog
from .. import sync as receivables_sync
from ..procore.errors import ReconnectRequired
from ..store import get_db, open_db
from ..store.cache import latest_sync_run
from .context import company_id_arg, current_user_id, require_company_access

bp = Blueprint("sync", __name__, url_prefix="/sync")


def relative_time(iso: str | None) -> str | None:
    if not iso:
        return None
    try:
        then = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    minutes = int((datetime.now(UTC) - then).total_seconds() // 60)
    if minutes < 1:
        return "just now"
    if minutes < 60:
        return f"{minutes} min ago"
    if minutes < 48 * 60:
        return f"{minutes // 60} h ago"
    return then.strftime("%b %d")


def status_context(company_id: int, run: dict[str, Any] | None, just_finished: bool = False) -> dict[str, Any]:
    last = latest_sync_run(get_db(), company_id, status="succeeded")
    active = bool(run and run.get("status") in ("queued", "running"))
    skipped = json.loads(last["warnings"]) if last and last.get("warnings") else []
    return {"company_id": company_id, "run": run, "sync_active": active, "just_finished": just_finished,
            "last_synced": relative_time(last["finished_at"]) if last else None, "skipped_projects": skipped}


def _connected_company() -> tuple[int, int]:
    company_id = company_id_arg()
    user_id = current_user_id()
    if user_id is None:
        raise ReconnectRequired("not connected")
    require_company_access(user_id, company_id)
    return user_id, company_id


@bp.post("")
def start() -> ResponseReturnValue:
    user_id, company_id = _connected_company()
    config = dict(current_app.config)
    run_id = receivables_sync.start_background_sync(
        lambda: open_db(config["DATABASE"]),
        lambda: connection.user_client(open_db(config["DATABASE"]), config, user_id, company_id=company_id),
        company_id,
        full=request.form.get("full") == "1",
        after_sync=lambda db, client: worklog.after_sync(db, client, company_id),
    )
    run = receivables_sync.sync_status(get_db(), run_id, company_id)
    return render_template("_sync_status.html", **status_context(company_id, run))


@bp.get("/status")
def status() -> ResponseReturnValue:
    _, company_id = _connected_company()
    run_id = request.args.get("run_id") or None
    run = receivables_sync.sync_status(get_db(), run_id, company_id) if run_id else latest_sync_run(
        get_db(), company_id)
    return render_template("_sync_status.html", **status_context(company_id, run, just_finished=bool(run_id)))
