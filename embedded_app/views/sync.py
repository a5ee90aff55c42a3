"""Refresh from Procore without blocking the page: start a sync in a background thread, poll its progress."""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, current_app, render_template

from .. import connection
from ..procore.errors import ProcoreError, ReconnectRequired
from ..store import get_db, open_db, runs
from .context import company_id_arg, current_user_id, require_company_access

log = logging.getLogger(__name__)
bp = Blueprint("sync", __name__, url_prefix="/sync")


def _run_in_background(config: dict[str, Any], user_id: int, company_id: int, run_id: str) -> None:
    from ..sync import run_sync

    db = open_db(config["DATABASE"])
    try:
        with connection.user_client(db, config, user_id, company_id=company_id) as client:
            run_sync(db, client, company_id, run_id=run_id)
    except ReconnectRequired:
        log.info("sync %s stopped: reconnect required", run_id)
    except ProcoreError as exc:
        log.warning("sync %s failed: %s", run_id, exc)
    except Exception:  # the thread must never die silently
        log.exception("sync %s crashed", run_id)
    finally:
        db.conn.close()


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
    last = runs.last_success(get_db(), company_id)
    return {"company_id": company_id, "run": run, "just_finished": just_finished,
            "last_synced": relative_time(last["finished_at"]) if last else None}


@bp.post("")
def start():
    company_id = company_id_arg()
    user_id = current_user_id()
    if user_id is None:
        raise ReconnectRequired("not connected")
    require_company_access(user_id, company_id)
    db = get_db()
    run = runs.latest_run(db, company_id)
    if run is None or run["status"] != "running":
        run_id = uuid.uuid4().hex
        run = runs.create_run(db, company_id, run_id, datetime.now(UTC).isoformat())
        config = dict(current_app.config)
        threading.Thread(target=_run_in_background, args=(config, user_id, company_id, run_id),
                         name=f"sync-{company_id}", daemon=True).start()
    return render_template("_sync_status.html", **status_context(company_id, run))


@bp.get("/status")
def status():
    from flask import request

    company_id = company_id_arg()
    user_id = current_user_id()
    if user_id is None:
        raise ReconnectRequired("not connected")
    require_company_access(user_id, company_id)
    run_id = request.args.get("run_id", "")
    run = runs.get_run(get_db(), company_id, run_id) if run_id else runs.latest_run(get_db(), company_id)
    return render_template("_sync_status.html", **status_context(company_id, run, just_finished=bool(run_id)))
