"""Security for a framed app: framing policy, cookies, CSRF, session ids, response headers.

- ``Content-Security-Policy: frame-ancestors`` lists only the Procore web hosts (plus the local host page in
  development), so nobody else can frame the app.
- The session cookie is ``SameSite=None; Secure; Partitioned; HttpOnly`` (CHIPS) and holds only a random
  session id; tokens stay server-side, encrypted.
- Every state-changing request carries a CSRF token (form field ``csrf_token`` or header ``X-CSRF-Token``, which
  htmx sends through ``hx-headers`` on <body>). The token is an HMAC of the session id.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from flask import Flask, abort, current_app, g, request, session

F = TypeVar("F", bound=Callable[..., Any])

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
_CSRF_EXEMPT_ATTR = "_csrf_exempt"


def csrf_exempt(view: F) -> F:
    """Mark a view as exempt from CSRF (only for machine callers that authenticate otherwise)."""
    setattr(view, _CSRF_EXEMPT_ATTR, True)
    return view


def session_id(create: bool = True) -> str | None:
    sid = session.get("sid")
    if not sid and create:
        sid = secrets.token_urlsafe(32)
        session["sid"] = sid
        session.permanent = True
    return sid


def csrf_token() -> str:
    sid = session_id(create=True) or ""
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, b"csrf|" + sid.encode(), hashlib.sha256).hexdigest()


def _check_csrf() -> None:
    if request.method in SAFE_METHODS:
        return
    view = current_app.view_functions.get(request.endpoint or "")
    if view is not None and getattr(view, _CSRF_EXEMPT_ATTR, False):
        return
    sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token") or ""
    sid = session_id(create=False)
    if not sid or not hmac.compare_digest(sent, csrf_token()):
        abort(400, description="This form has expired or did not come from the Collections app. "
                               "Reload the page and try again.")


def frame_ancestors(app: Flask) -> str:
    return " ".join(["'self'", *app.config["PROCORE_WEB_HOSTS"]])


def _content_security_policy(app: Flask) -> str:
    return "; ".join([
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self' " + app.config["PROCORE_LOGIN_URL"],
        f"frame-ancestors {frame_ancestors(app)}",
    ])


def init_app(app: Flask) -> None:
    app.config.update(
        SESSION_COOKIE_NAME="collections_session",
        PERMANENT_SESSION_LIFETIME=timedelta(days=7),
        SESSION_COOKIE_SAMESITE="None",
        SESSION_COOKIE_SECURE=True,
        SESSION_COOKIE_PARTITIONED=True,
        SESSION_COOKIE_HTTPONLY=True,
    )
    csp = _content_security_policy(app)

    @app.before_request
    def _before() -> None:
        g.request_started = datetime.now(UTC)
        _check_csrf()

    @app.after_request
    def _headers(response: Any) -> Any:
        response.headers["Content-Security-Policy"] = csp
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
        response.vary.add("HX-Request")
        if request.endpoint != "static":
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.context_processor
    def _inject() -> dict[str, Any]:
        return {"csrf_token": csrf_token}
