"""Who is asking, and for which company: every view goes through these helpers."""

from __future__ import annotations

from flask import abort, request

from .. import security
from ..store import get_db, sessions


def current_user_id() -> int | None:
    return sessions.user_for(get_db(), security.session_id(create=False))


def company_id_arg() -> int:
    raw = request.values.get("company_id", "")
    try:
        return int(raw)
    except ValueError:
        abort(400, description="The Procore company id is missing from the link. Open the app from Procore's "
                               "Apps menu so Procore fills it in.")


def project_id_arg() -> int | None:
    raw = (request.values.get("project_id") or "").strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        abort(400, description="The Procore project id in the link is not a number.")


def require_company_access(user_id: int, company_id: int) -> dict:
    """The company must be one Procore lists for this user (cached at connect/refresh)."""
    for company in sessions.visible_companies(get_db(), user_id):
        if int(company["id"]) == company_id:
            return company
    abort(403, description="Your Procore account does not have access to this company, or the app is not "
                           "installed there. Ask your Procore company administrator.")
