"""Security for a framed app: framing policy, cookies, CSRF, session ids, response headers.

- ``Content-Security-Policy: frame-ancestors`` lists only the Procore web hosts (plus the local host page in
  development), so nobody else can frame the app.
- The session cookie is ``SameSite=None; Secure; Partitioned; HttpOnly`` (CHIPS) and holds only a random
  session id; tokens stay server-side, encrypted.
- Every state-changing request carries a CSRF token (form field ``csrf_token`` or header ``X-CSRF-Token``, which
  htmx sends through ``hx-headers`` on <body>). The token is an HMAC of the session id, wherever that id came from.

Cookie-less fallback (Safari and any browser that refuses the iframe's third-party cookie):

- The session id can also travel as a *session token*: the id signed with itsdangerous (salt ``session-token``),
  valid for ``SESSION_TOKEN_MAX_AGE`` (12 h, renewed on every full page the app renders). ``session_id()`` takes
  the cookie's id when there is one (the cookie always wins), else a valid token from the ``X-Session-Token``
  header (htmx: ``hx-headers`` on <body>, plus ``hx-boost`` so links and forms go through htmx) or the
  ``session_token`` field of a POSTed form. Never from the query string: URLs end up in access logs (werkzeug
  logs request lines), browser history and ``Referer`` headers, so the token is never put in a URL and one found
  there is ignored. Nothing logs it.
- Pages carry the token only for a session bound to a Procore user (``hx-headers``; hidden ``session_token``
  fields in plain POST forms). app.js keeps it in the frame's ``sessionStorage``; after a reload (which cannot
  send headers) it finds the connect page, re-requests the same URL with the header and swaps the page in.
- Sign-in does not need the cookie either: the connect page carries a signed *flow* token (salt
  ``connect-flow``: nonce + the page's session id, ``FLOW_MAX_AGE``) besides the nonce it hands to the popup;
  ``/oauth/complete`` accepts the popup's ticket when its nonce equals the cookie session's nonce (as before) or
  the flow's nonce for the same session id. Without a cookie, complete binds a *fresh* session id to the user
  (the pre-sign-in token is never authenticated) and answers a small page carrying the new token, from which
  app.js loads the target page with the header. The popup is a first-party window: its own cookie (state + PKCE)
  works as before.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from flask import Flask, abort, current_app, g, request, session
from itsdangerous import BadSignature, URLSafeTimedSerializer

F = TypeVar("F", bound=Callable[..., Any])

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
_CSRF_EXEMPT_ATTR = "_csrf_exempt"

SESSION_TOKEN_HEADER = "X-Session-Token"
SESSION_TOKEN_FIELD = "session_token"
SESSION_TOKEN_SALT = "session-token"
SESSION_TOKEN_MAX_AGE = 12 * 60 * 60  # seconds
FLOW_SALT = "connect-flow"
FLOW_MAX_AGE = 60 * 60  # seconds: the connect page may stay open a while before "Connect to Procore"
_TOKEN_SID_KEY = "collections.token_sid"


def csrf_exempt(view: F) -> F:
    """Mark a view as exempt from CSRF (only for machine callers that authenticate otherwise)."""
    setattr(view, _CSRF_EXEMPT_ATTR, True)
    return view


def _signer(salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=salt)


def issue_session_token(sid: str) -> str:
    """The session id, signed and timestamped: for the ``X-Session-Token`` header or a ``session_token`` field."""
    return _signer(SESSION_TOKEN_SALT).dumps({"sid": sid})


def read_session_token(token: str | None, max_age: int = SESSION_TOKEN_MAX_AGE) -> str | None:
    """The session id in a valid token; None when it is missing, tampered with or older than ``max_age``."""
    if not token:
        return None
    try:
        data = _signer(SESSION_TOKEN_SALT).loads(token, max_age=max_age)
    except BadSignature:  # includes SignatureExpired
        return None
    sid = data.get("sid") if isinstance(data, dict) else None
    return sid if isinstance(sid, str) and sid else None


def issue_flow_token(nonce: str, sid: str) -> str:
    """The connect page's sign-in flow: the nonce handed to the popup, tied to this page's session id."""
    return _signer(FLOW_SALT).dumps({"nonce": nonce, "sid": sid})


def read_flow_token(token: str | None) -> dict[str, str] | None:
    if not token:
        return None
    try:
        data = _signer(FLOW_SALT).loads(token, max_age=FLOW_MAX_AGE)
    except BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("nonce"), str) or not isinstance(data.get("sid"), str):
        return None
    return {"nonce": data["nonce"], "sid": data["sid"]}


def _token_sid() -> str | None:
    """The session id from a token in the header or a POSTed form field (never the query string), once per request."""
    if _TOKEN_SID_KEY not in request.environ:  # per request (``g`` may outlive one request in tests)
        raw = request.headers.get(SESSION_TOKEN_HEADER) or request.form.get(SESSION_TOKEN_FIELD)
        request.environ[_TOKEN_SID_KEY] = read_session_token(raw)
    return request.environ[_TOKEN_SID_KEY]


def use_token_session(sid: str) -> None:
    """From now on in this request, the (cookie-less) session is ``sid`` (after /oauth/complete binds a new one)."""
    request.environ[_TOKEN_SID_KEY] = sid


def session_source() -> str | None:
    """Where this request's session id comes from: "cookie", "token" or None."""
    if session.get("sid"):
        return "cookie"
    return "token" if _token_sid() else None


def session_id(create: bool = True) -> str | None:
    sid = session.get("sid") or _token_sid()
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
