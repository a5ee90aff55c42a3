"""Who is asking, and for which company: every view goes through these helpers."""

from __future__ import annotations

from typing import Any

from flask import abort, request
from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter

from .. import security
from ..store import get_db, sessions

# Procore ids and ours are SQLite integers (signed 64 bit): anything larger is not an id of ours, and binding it
# to a query would raise OverflowError (a 500) instead of a plain answer.
MAX_ID = 2**63 - 1


class IdConverter(IntegerConverter):
    """``<id:name>`` in a route: a non-negative integer; one too large for SQLite is a plain 404, not a 500.

    (Not ``IntegerConverter(max=...)``: werkzeug then answers 405 "Method Not Allowed" for some paths.)"""

    def to_python(self, value: str) -> Any:
        number = super().to_python(value)
        if number > MAX_ID:
            raise NotFound(description="There is no such record: the id in the link is not one of ours.")
        return number


def current_user_id() -> int | None:
    return sessions.user_for(get_db(), security.session_id(create=False))


def _as_id(raw: str) -> int:
    """``raw`` as an id; ValueError when it is not a whole number that fits SQLite."""
    value = int(raw)
    if abs(value) > MAX_ID:
        raise ValueError(f"{raw!r} is out of range")
    return value


def company_id_arg() -> int:
    raw = request.values.get("company_id", "")
    try:
        return _as_id(raw)
    except ValueError:
        abort(400, description="The Procore company id is missing from the link. Open the app from Procore's "
                               "Apps menu so Procore fills it in.")


def project_id_arg() -> int | None:
    return int_arg("project_id", "Procore project id")


def int_arg(name: str, label: str | None = None) -> int | None:
    """An optional id from the query string or form: None when absent, 400 in plain words when it is not one."""
    raw = (request.values.get(name) or "").strip()
    if not raw:
        return None
    try:
        return _as_id(raw)
    except ValueError:
        abort(400, description=f"The {label or name.replace('_', ' ')} in the request is not a number.")


def require_company_access(user_id: int, company_id: int) -> dict:
    """The company must be one Procore lists for this user (cached at connect/refresh)."""
    for company in sessions.visible_companies(get_db(), user_id):
        if int(company["id"]) == company_id:
            return company
    abort(403, description="Your Procore account does not have access to this company, or the app is not "
                           "installed there. Ask your Procore company administrator.")
