"""Connecting a Procore user from inside the iframe.

Procore's login page cannot be framed, so the framed app opens ``/oauth/start`` in a popup. The popup is a
top-level window with its own (unpartitioned) cookie jar, so it cannot share the iframe's session: it finishes the
code exchange (state + PKCE) server-side, stores the tokens encrypted under the Procore user id, and posts a
one-time, short-lived, signed *ticket* back to ``window.opener`` (same origin). The iframe then POSTs that ticket
to ``/oauth/complete``, which binds its own partitioned session to the user. The ticket carries a nonce that only
the iframe session that started the flow knows, so a ticket cannot be replayed into someone else's session.

When the iframe's cookie is refused (Safari), the nonce cannot live in the cookie session: the connect page also
carries a signed *flow* token (nonce + the page's session id), and ``/oauth/complete`` binds a fresh session id
and answers a small page carrying its session token (see ``security``'s docstring).
"""

from __future__ import annotations

import logging
import secrets

from flask import Blueprint, abort, current_app, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from .. import connection, security
from ..procore import errors as procore_errors
from ..store import get_db, sessions

log = logging.getLogger(__name__)
bp = Blueprint("auth", __name__, url_prefix="/oauth")

TICKET_MAX_AGE = 120  # seconds


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="oauth-ticket")


def redirect_uri() -> str:
    return current_app.config["PUBLIC_URL"] + url_for("auth.callback")


@bp.get("/start")
def start() -> ResponseReturnValue:
    """Popup entry: remember state, PKCE verifier and the iframe's nonce, then go to Procore's consent page."""
    nonce = request.args.get("nonce") or ""
    url, state, verifier = connection.authorization_url(current_app.config, redirect_uri())
    session["oauth"] = {"state": state, "verifier": verifier, "nonce": nonce,
                        "company_id": request.args.get("company_id", "")}
    return redirect(url)


@bp.get("/callback")
def callback() -> ResponseReturnValue:
    code = request.args.get("code")
    error = request.args.get("error")
    pending = session.get("oauth")
    if not code and not error:
        # The code may be in the URL fragment, which only the browser sees: callback.js moves it to the query.
        return render_template("callback.html", status="pending")
    if error:
        return render_template("callback.html", status="failure",
                               error=request.args.get("error_description") or error), 400
    if not pending or not secrets.compare_digest(request.args.get("state", ""), pending.get("state", "")):
        return render_template("callback.html", status="failure",
                               error="the sign-in request expired or did not start here"), 400
    session.pop("oauth", None)
    try:
        user = connection.complete_sign_in(get_db(), current_app.config, code, pending["verifier"], redirect_uri())
    except procore_errors.ProcoreError as exc:
        log.warning("OAuth code exchange failed: %s", type(exc).__name__)
        return render_template("callback.html", status="failure",
                               error="Procore did not accept the sign-in. Try again."), 502
    ticket = _serializer().dumps({"user_id": int(user["id"]), "nonce": pending.get("nonce", "")})
    return render_template("callback.html", status="success", ticket=ticket)


@bp.post("/complete")
def complete() -> ResponseReturnValue:
    """The iframe hands in the popup's ticket; bind this (partitioned) session to the Procore user."""
    try:
        data = _serializer().loads(request.form.get("ticket", ""), max_age=TICKET_MAX_AGE)
    except SignatureExpired:
        abort(400, description="The sign-in took too long. Press “Connect to Procore” again.")
    except BadSignature:
        abort(400, description="The sign-in could not be verified. Press “Connect to Procore” again.")
    nonce = str(data.get("nonce", ""))
    expected = [n for n in (session.pop("connect_nonce", None), _flow_nonce()) if n]
    if not nonce or not any(secrets.compare_digest(nonce, n) for n in expected):
        abort(400, description="This sign-in was started from another window. Press “Connect to Procore” again.")
    target = _local_path(request.form.get("next"))
    if security.session_source() == "token":
        # No cookie: bind a fresh session id (the token on the connect page never becomes a signed-in one) and
        # hand its token to the frame, which loads the target with it (app.js).
        old_sid = security.session_id(create=False)
        sid = secrets.token_urlsafe(32)
        sessions.bind_user(get_db(), sid, int(data["user_id"]))
        sessions.forget(get_db(), sid=old_sid)
        security.use_token_session(sid)
        return render_template("resume.html", next=target)
    sid = security.session_id(create=True)
    sessions.bind_user(get_db(), sid, int(data["user_id"]))
    return redirect(target)


def _flow_nonce() -> str | None:
    """The nonce of the connect page's signed flow token, if it belongs to this request's session."""
    flow = security.read_flow_token(request.form.get("flow"))
    sid = security.session_id(create=False)
    if flow and sid and secrets.compare_digest(flow["sid"], sid):
        return flow["nonce"]
    return None


@bp.post("/disconnect")
def disconnect() -> ResponseReturnValue:
    sid = security.session_id(create=False)
    user_id = sessions.user_for(get_db(), sid)
    if user_id is not None:
        connection.disconnect_user(get_db(), current_app.config, user_id)
    session.clear()
    return redirect(_local_path(request.form.get("next")))


def _local_path(target: str | None) -> str:
    """Only a path on this app: never an open redirect to another site ("//host", "/\\host", "https://…")."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return url_for("pages.install")


def connect_nonce() -> str:
    """A nonce for the current iframe session; the popup's ticket must carry it back."""
    nonce = session.get("connect_nonce")
    if not nonce:
        nonce = secrets.token_urlsafe(16)
        session["connect_nonce"] = nonce
    return nonce


def connect_flow() -> str:
    """The signed flow token of the connect page: its nonce, tied to this page's session id."""
    return security.issue_flow_token(connect_nonce(), security.session_id(create=True) or "")


def connect_session_token() -> str:
    """The token of this page's (not yet signed-in) session, for the connect page's complete form only."""
    return security.issue_session_token(security.session_id(create=True) or "")


def session_token() -> str:
    """The session token when this request's session is bound to a user ("" otherwise), once per request."""
    key = "collections.session_token"
    if key not in request.environ:
        sid = security.session_id(create=False)
        bound = sessions.user_for(get_db(), sid) is not None
        request.environ[key] = security.issue_session_token(sid) if sid and bound else ""
    return request.environ[key]


@bp.app_context_processor
def _inject_nonce() -> dict:
    return {"connect_nonce": connect_nonce, "connect_flow": connect_flow,
            "connect_session_token": connect_session_token, "session_token": session_token}
