"""The cookie-less fallback: a short-lived signed session token carried by a header or a POSTed form field.

A browser that refuses the iframe's cookie (Safari) is played by a test client without cookies; the sign-in
popup is a separate client that keeps its own (first-party) cookie, as a real popup does."""

from __future__ import annotations

import logging
import re
import time
from html.parser import HTMLParser
from typing import Any

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from embedded_app import security
from embedded_app.store import open_db

from .fixtures.webapp import DANA, HARBORLINE, PRIYA, SUMMIT, popup_ticket

TOKEN_RE = re.compile(r'"X-Session-Token": "([^"]+)"')
URL_ATTRS = {"href", "src", "action", "hx-get", "hx-post", "hx-put", "hx-delete", "data-connect-url",
             "data-context-url", "data-next", "formaction"}


class _Elements(HTMLParser):
    """Every start tag of the page with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {name: value or "" for name, value in attrs}))


def elements(html: str) -> list[tuple[str, dict[str, str]]]:
    parser = _Elements()
    parser.feed(html)
    return parser.elements


def hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, name
    return match.group(1)


def connect_without_cookie(app: Any, user_id: int, company_id: int = SUMMIT) -> tuple[Any, str]:
    """Sign in from a frame whose cookie is refused; returns (cookie-less client, session token)."""
    frame = app.test_client(use_cookies=False)
    page = frame.get(f"/collections?company_id={company_id}")
    assert "Set-Cookie" in page.headers  # the app offered its cookie; this browser refuses it
    html = page.get_data(as_text=True)
    start = re.search(r'data-connect-url="([^"]+)"', html).group(1).replace("&amp;", "&")
    ticket = popup_ticket(app.test_client(), app.standin.url, start, user_id)
    done = frame.post("/oauth/complete", data={
        "ticket": ticket, "csrf_token": hidden(html, "csrf_token"), "session_token": hidden(html, "session_token"),
        "flow": hidden(html, "flow"), "next": f"/collections?company_id={company_id}",
    })
    assert done.status_code == 200, done.get_data(as_text=True)
    body = done.get_data(as_text=True)
    assert 'id="session-resume"' in body and f'data-next="/collections?company_id={company_id}"' in body
    token = TOKEN_RE.search(body).group(1)
    assert token != hidden(html, "session_token")  # a fresh session: the pre-sign-in token never signs in
    return frame, token


@pytest.fixture
def cookieless(standin_app):
    frame, token = connect_without_cookie(standin_app, DANA)
    yield frame, token
    from embedded_app import sync

    sync.wait_for_background_sync(SUMMIT, 120)


def test_token_round_trip_and_rejections(app, monkeypatch):
    with app.test_request_context("/"):
        token = security.issue_session_token("sid-123")
        assert security.read_session_token(token) == "sid-123"
        assert security.read_session_token(token[:-2] + ("AA" if token[-2:] != "AA" else "BB")) is None
        assert security.read_session_token(token + "x") is None
        assert security.read_session_token("") is None and security.read_session_token(None) is None
        assert security.read_session_token("not-a-token") is None
        other_salt = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="oauth-ticket").dumps({"sid": "sid-123"})
        assert security.read_session_token(other_salt) is None
        other_key = URLSafeTimedSerializer("another-secret", salt="session-token").dumps({"sid": "sid-123"})
        assert security.read_session_token(other_key) is None
        flow = security.issue_flow_token("nonce", "sid-123")
        assert security.read_session_token(flow) is None  # a flow token is not a session token
        assert security.read_flow_token(flow) == {"nonce": "nonce", "sid": "sid-123"}
        assert security.read_flow_token(token) is None

        now = time.time()
        monkeypatch.setattr(TimestampSigner, "get_timestamp",
                            lambda self: int(now - security.SESSION_TOKEN_MAX_AGE - 60))
        expired = security.issue_session_token("sid-123")
        expired_flow = security.issue_flow_token("nonce", "sid-123")
        monkeypatch.undo()
        assert security.read_session_token(expired) is None
        assert security.read_flow_token(expired_flow) is None


def test_cookieless_sign_in_then_header_or_form_field_authenticates(cookieless):
    frame, token = cookieless
    header = {"X-Session-Token": token}
    tab = frame.get(f"/collections?company_id={SUMMIT}", headers=header).get_data(as_text=True)
    assert "Welcome to Collections" in tab and TOKEN_RE.search(tab)
    # No token: the connect page. A token in the query string is never accepted.
    for url in (f"/collections?company_id={SUMMIT}", f"/collections?company_id={SUMMIT}&session_token={token}",
                f"/collections?company_id={SUMMIT}&X-Session-Token={token}"):
        page = frame.get(url).get_data(as_text=True)
        assert "Connect to Procore" in page and not TOKEN_RE.search(page), url
    # Refresh from Procore over htmx (header), the sync's progress and result with the header too.
    csrf = re.search(r'"X-CSRF-Token": "([^"]+)"', tab).group(1)
    started = frame.post("/sync", data={"company_id": SUMMIT},
                         headers={**header, "X-CSRF-Token": csrf, "HX-Request": "true"})
    assert started.status_code == 200 and "Refreshing from Procore" in started.get_data(as_text=True)
    without = frame.post("/sync", data={"company_id": SUMMIT}, headers={"X-CSRF-Token": csrf, "HX-Request": "true"})
    assert without.status_code == 400  # no session: the CSRF token cannot match
    from embedded_app import sync

    sync.wait_for_background_sync(SUMMIT, 120)
    aging = frame.get(f"/collections?company_id={SUMMIT}", headers=header).get_data(as_text=True)
    assert 'id="aging-table"' in aging
    # A plain form POST (no htmx) carries the token as a field: the CSV export.
    exported = frame.post(f"/collections/aging.csv?company_id={SUMMIT}",
                          data={"csrf_token": csrf, "session_token": token})
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    assert frame.post(f"/collections/aging.csv?company_id={SUMMIT}", data={"csrf_token": csrf}).status_code == 400


def test_cookie_wins_when_both_are_present(connected_client, standin_app):
    """Dana's cookie and Priya's token in one request: Dana's session is used (she cannot see Harborline)."""
    _, priya_token = connect_without_cookie(standin_app, PRIYA, company_id=HARBORLINE)
    header = {"X-Session-Token": priya_token}
    assert connected_client.get(f"/collections?company_id={HARBORLINE}", headers=header).status_code == 403
    cookieless = standin_app.test_client(use_cookies=False)
    assert cookieless.get(f"/collections?company_id={HARBORLINE}", headers=header).status_code == 200
    # A forged CSRF pairing fails too: Priya's token does not lend its session to Dana's cookie.
    priya_page = cookieless.get(f"/collections?company_id={HARBORLINE}", headers=header).get_data(as_text=True)
    priya_csrf = re.search(r'"X-CSRF-Token": "([^"]+)"', priya_page).group(1)
    answer = connected_client.post("/sync", data={"company_id": SUMMIT},
                                   headers={**header, "X-CSRF-Token": priya_csrf, "HX-Request": "true"})
    assert answer.status_code == 400


def test_ticket_needs_the_flow_of_the_same_session(standin_app):
    """A ticket is only accepted with the flow token of the page (and session) that started it."""
    frame = standin_app.test_client(use_cookies=False)
    html = frame.get(f"/collections?company_id={SUMMIT}").get_data(as_text=True)
    other = frame.get(f"/collections?company_id={SUMMIT}").get_data(as_text=True)  # another session (no cookie)
    start = re.search(r'data-connect-url="([^"]+)"', html).group(1).replace("&amp;", "&")
    ticket = popup_ticket(standin_app.test_client(), standin_app.standin.url, start, DANA)
    fields = {"ticket": ticket, "csrf_token": hidden(other, "csrf_token"),
              "session_token": hidden(other, "session_token"), "next": "/install"}
    # the other session's own flow (wrong nonce), the first page's flow (other session id), no flow at all
    for flow in (hidden(other, "flow"), hidden(html, "flow"), ""):
        answer = frame.post("/oauth/complete", data={**fields, "flow": flow})
        assert answer.status_code == 400, flow
    db = open_db(standin_app.config["DATABASE"])
    assert list(db.query("select sid from sessions")) == []
    answer = frame.post("/oauth/complete", data={
        "ticket": ticket, "csrf_token": hidden(html, "csrf_token"), "session_token": hidden(html, "session_token"),
        "flow": hidden(html, "flow"), "next": "/install"})
    assert answer.status_code == 200 and 'data-next="/install"' in answer.get_data(as_text=True)


def test_disconnect_without_cookie_ends_the_token_session(cookieless):
    frame, token = cookieless
    header = {"X-Session-Token": token}
    tab = frame.get(f"/collections?company_id={SUMMIT}", headers=header).get_data(as_text=True)
    assert hidden(tab, "session_token") == TOKEN_RE.search(tab).group(1)  # the plain form carries it
    done = frame.post("/oauth/disconnect", data={"csrf_token": hidden(tab, "csrf_token"),
                                                 "session_token": hidden(tab, "session_token"),
                                                 "next": f"/collections?company_id={SUMMIT}"})
    assert done.status_code == 302
    page = frame.get(f"/collections?company_id={SUMMIT}", headers=header).get_data(as_text=True)
    assert "Connect to Procore" in page and not TOKEN_RE.search(page)


def test_no_token_in_any_url_and_never_logged(standin_app, caplog):
    caplog.set_level(logging.DEBUG)
    frame, token = connect_without_cookie(standin_app, DANA)
    header = {"X-Session-Token": token}
    sync_headers = {**header, "HX-Request": "true"}
    pages = []
    tab = frame.get(f"/collections?company_id={SUMMIT}", headers=header).get_data(as_text=True)
    csrf = re.search(r'"X-CSRF-Token": "([^"]+)"', tab).group(1)
    started = frame.post("/sync", data={"company_id": SUMMIT}, headers={**sync_headers, "X-CSRF-Token": csrf})
    pages.append(started.get_data(as_text=True))
    from embedded_app import sync

    sync.wait_for_background_sync(SUMMIT, 120)
    run_id = re.search(r'run_id=([^"&]+)', pages[0]).group(1)
    pages.append(frame.get(f"/sync/status?company_id={SUMMIT}&run_id={run_id}", headers=sync_headers)
                 .get_data(as_text=True))
    assert "Refresh finished" in pages[-1]
    for section in ("aging", "calls", "queue", "promises", "tasks", "settings"):
        pages.append(frame.get(f"/collections?company_id={SUMMIT}&section={section}", headers=header)
                     .get_data(as_text=True))
    pages.append(frame.get(f"/collections?company_id={SUMMIT}&reconnect=1", headers=header).get_data(as_text=True))
    pages.append(frame.get(f"/panel?company_id={SUMMIT}", headers=header).get_data(as_text=True))
    tokens = {token} | {TOKEN_RE.search(p).group(1) for p in pages if TOKEN_RE.search(p)}
    assert len(tokens) > 1 and 'id="aging-table"' in pages[2]
    for html in pages:
        for tag, attrs in elements(html):
            for name, value in attrs.items():
                if name in URL_ATTRS:
                    assert "session_token" not in value.lower() and "session-token" not in value.lower(), value
                    assert not any(t in value for t in tokens), (tag, name)
                elif any(t in value for t in tokens):  # only in hx-headers and hidden session_token fields
                    assert name == "hx-headers" or (tag == "input" and attrs.get("name") == "session_token"), name
    logged = "\n".join(r.getMessage() + repr(r.args) for r in caplog.records)
    assert not any(t in logged for t in tokens)
