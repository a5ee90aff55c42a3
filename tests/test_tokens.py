"""OAuth, encrypted token storage and safe refresh (unit tests with ``responses``; concurrency on the stand-in)."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from embedded_app.crypto import SecretBox
from embedded_app.procore import auth, errors
from embedded_app.procore.client import ProcoreClient
from embedded_app.store import open_db
from embedded_app.store.tokens import TokenStore, user_owner

LOGIN = "https://login.example.test"
API = "https://api.example.test"


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def db_path(tmp_path):
    return str(tmp_path / "tokens.sqlite")


@pytest.fixture
def store(db_path):
    db = open_db(db_path)
    yield TokenStore(db, SecretBox("unit-test-key"))
    db.conn.close()


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def oauth(clock):
    return auth.ProcoreOAuth(LOGIN, "client-1", "s3cret-client", "http://localhost:5100/oauth/callback", clock=clock)


def form(call) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(call.request.body).items()}


def test_authorization_url_has_state_and_pkce_s256(oauth):
    req = oauth.authorization_request()
    parts = urlsplit(req.url)
    q = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{LOGIN}/oauth/authorize"
    assert q["response_type"] == "code" and q["client_id"] == "client-1"
    assert q["redirect_uri"] == "http://localhost:5100/oauth/callback"
    assert q["state"] == req.state and len(req.state) >= 20
    assert q["code_challenge_method"] == "S256"
    digest = hashlib.sha256(req.code_verifier.encode()).digest()
    assert q["code_challenge"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert "s3cret" not in req.url and req.code_verifier not in repr(req)
    assert oauth.authorization_request().state != req.state


def test_module_level_authorization_url():
    url, state, verifier = auth.authorization_url(LOGIN, "client-1", "http://app/cb")
    assert state in url and verifier not in url and "code_challenge=" in url


def test_state_check_and_callback_parsing():
    assert auth.check_state("abc", "abc")
    assert not auth.check_state("abc", "abd") and not auth.check_state("", "") and not auth.check_state(None, "x")
    assert auth.parse_callback("code=c1&state=s1") == {"code": "c1", "state": "s1"}
    assert auth.parse_callback({}, "#code=c2&state=s2") == {"code": "c2", "state": "s2"}
    assert auth.parse_callback("?error=access_denied")["error"] == "access_denied"


@responses.activate
def test_exchange_code_sends_verifier_and_client_credentials_in_body(oauth):
    responses.post(
        f"{LOGIN}/oauth/token",
        json={
            "access_token": "at-1",
            "refresh_token": "rt-1",
            "expires_in": 5400,
            "token_type": "bearer",
            "created_at": 1_800_000_000,
        },
    )
    tokens = oauth.exchange_code("the-code", "the-verifier")
    body = form(responses.calls[0])
    assert body["grant_type"] == "authorization_code" and body["code"] == "the-code"
    assert body["code_verifier"] == "the-verifier" and body["client_id"] == "client-1"
    assert body["client_secret"] == "s3cret-client"
    assert body["redirect_uri"] == "http://localhost:5100/oauth/callback"
    assert tokens.access_token == "at-1" and tokens.refresh_token == "rt-1"
    assert "at-1" not in repr(tokens) and "rt-1" not in repr(tokens)
    assert "s3cret" not in repr(oauth)


@responses.activate
def test_bad_code_is_an_oauth_error_without_secrets(oauth):
    responses.post(
        f"{LOGIN}/oauth/token",
        status=400,
        json={
            "error": "invalid_grant",
            "error_description": "The provided authorization grant is invalid, expired, …",
        },
    )
    with pytest.raises(errors.OAuthError) as info:
        oauth.exchange_code("used-code", "v")
    assert info.value.error == "invalid_grant"
    assert "used-code" not in str(info.value) and "s3cret" not in str(info.value)


@responses.activate
def test_refresh_invalid_grant_means_reconnect(oauth):
    responses.post(f"{LOGIN}/oauth/token", status=401, json={"error": "invalid_grant"})
    with pytest.raises(errors.ReconnectRequired):
        oauth.refresh("dead-refresh-token")


@responses.activate
def test_login_server_unreachable(oauth):
    import requests

    responses.post(f"{LOGIN}/oauth/token", body=requests.ConnectionError("refused"))
    with pytest.raises(errors.ConnectionFailed):
        oauth.client_credentials()


@responses.activate
def test_client_credentials_wrong_secret(oauth):
    responses.post(
        f"{LOGIN}/oauth/token",
        status=401,
        json={"error": "invalid_client", "error_description": "Client authentication failed"},
    )
    with pytest.raises(errors.OAuthError) as info:
        oauth.client_credentials()
    assert info.value.error == "invalid_client"
    assert form(responses.calls[0])["grant_type"] == "client_credentials"


def test_tokens_are_encrypted_at_rest(store, db_path):
    saved = store.save(
        user_owner(7), access_token="ACCESS-plain-123", refresh_token="REFRESH-plain-456", expires_at=123.0, user_id=7
    )
    assert saved.generation == 1
    raw = open(db_path, "rb").read() + b"".join(
        open(p, "rb").read() for p in (db_path + "-wal",) if __import__("os").path.exists(p)
    )
    assert b"ACCESS-plain-123" not in raw and b"REFRESH-plain-456" not in raw
    row = next(store.db.query("select * from oauth_tokens"))
    assert "ACCESS-plain" not in json.dumps(row) and "REFRESH-plain" not in json.dumps(row)
    loaded = store.get(user_owner(7))
    assert loaded.access_token == "ACCESS-plain-123" and loaded.refresh_token == "REFRESH-plain-456"
    assert "plain" not in repr(loaded) + repr(store)
    assert store.save(user_owner(7), access_token="a2", refresh_token="r2", expires_at=1.0).generation == 2
    # another key cannot read it
    with pytest.raises(ValueError):
        TokenStore(store.db, SecretBox("other-key")).get(user_owner(7))
    assert store.delete(user_owner(7)) and store.get(user_owner(7)) is None


def _token_response(n: int) -> dict:
    return {"access_token": f"at-{n}", "refresh_token": f"rt-{n}", "expires_in": 5400, "token_type": "bearer"}


@responses.activate
def test_user_provider_refreshes_before_expiry_and_rotates(store, oauth, clock):
    store.save(user_owner(1), access_token="at-0", refresh_token="rt-0", expires_at=clock.now + 1000, user_id=1)
    responses.post(f"{LOGIN}/oauth/token", json=_token_response(1))
    provider = auth.UserTokenProvider.for_user(store, oauth, 1, clock=clock)
    assert provider.access_token() == "at-0"
    clock.now += 800  # within the leeway of expiry
    assert provider.access_token() == "at-1"
    assert form(responses.calls[0]) | {} == {
        **form(responses.calls[0]),
        "grant_type": "refresh_token",
        "refresh_token": "rt-0",
    }
    stored = store.get(user_owner(1))
    assert (stored.access_token, stored.refresh_token, stored.generation) == ("at-1", "rt-1", 2)
    assert provider.access_token() == "at-1" and len(responses.calls) == 1


@responses.activate
def test_401_refresh_then_retry_through_the_client(store, oauth):
    store.save(user_owner(1), access_token="at-0", refresh_token="rt-0", expires_at=9e12, user_id=1)
    responses.post(f"{LOGIN}/oauth/token", json=_token_response(1))
    responses.get(f"{API}/rest/v1.0/me", status=401)
    responses.get(f"{API}/rest/v1.0/me", json={"id": 1})
    provider = auth.UserTokenProvider.for_user(store, oauth, 1)
    assert ProcoreClient(API, provider).me() == {"id": 1}
    assert responses.calls[2].request.headers["Authorization"] == "Bearer at-1"
    assert provider.refreshes == 1


@responses.activate
def test_second_instance_adopts_a_token_refreshed_elsewhere(store, oauth, db_path):
    store.save(user_owner(1), access_token="at-0", refresh_token="rt-0", expires_at=9e12, user_id=1)
    responses.post(f"{LOGIN}/oauth/token", json=_token_response(1))
    first = auth.UserTokenProvider.for_user(store, oauth, 1)
    other_db = open_db(db_path)
    second = auth.UserTokenProvider.for_user(TokenStore(other_db, SecretBox("unit-test-key")), oauth, 1)
    assert second.access_token() == "at-0"
    assert first.refresh("at-0") == "at-1"
    # the second one still holds at-0; Procore rejects it; it must not spend rt-0 again
    assert second.refresh("at-0") == "at-1"
    assert len(responses.calls) == 1
    other_db.conn.close()


@responses.activate
def test_revoked_refresh_token_deletes_and_asks_to_reconnect(store, oauth):
    store.save(user_owner(1), access_token="at-0", refresh_token="rt-0", expires_at=9e12, user_id=1)
    responses.post(f"{LOGIN}/oauth/token", status=400, json={"error": "invalid_grant"})
    provider = auth.UserTokenProvider.for_user(store, oauth, 1)
    with pytest.raises(errors.ReconnectRequired) as info:
        provider.refresh("at-0")
    assert "rt-0" not in str(info.value)
    assert store.get(user_owner(1)) is None
    with pytest.raises(errors.ReconnectRequired):
        provider.access_token()


@responses.activate
def test_transient_refresh_failure_keeps_the_tokens(store, oauth):
    store.save(user_owner(1), access_token="at-0", refresh_token="rt-0", expires_at=9e12, user_id=1)
    responses.post(f"{LOGIN}/oauth/token", status=503, body="busy")
    with pytest.raises(errors.ServerError):
        auth.UserTokenProvider.for_user(store, oauth, 1).refresh("at-0")
    assert store.get(user_owner(1)).refresh_token == "rt-0"


def test_not_connected_is_reconnect_required(store, oauth):
    with pytest.raises(errors.ReconnectRequired):
        auth.UserTokenProvider.for_user(store, oauth, 99).access_token()


@responses.activate
def test_service_account_token_is_cached_until_expiry(store, oauth, clock):
    responses.post(f"{LOGIN}/oauth/token", json={"access_token": "svc-1", "expires_in": 5400})
    responses.post(f"{LOGIN}/oauth/token", json={"access_token": "svc-2", "expires_in": 5400})
    provider = auth.ServiceAccountProvider(oauth, store, clock=clock)
    assert provider.access_token() == "svc-1"
    assert provider.access_token() == "svc-1"
    # a new process reuses the stored (encrypted) token
    assert auth.ServiceAccountProvider(oauth, store, clock=clock).access_token() == "svc-1"
    assert len(responses.calls) == 1
    clock.now += 5200
    assert provider.access_token() == "svc-2"
    assert provider.refresh("svc-1") == "svc-2"  # already replaced: no new request
    assert len(responses.calls) == 2


@responses.activate
def test_sign_in_saves_tokens_under_the_procore_user(store, oauth):
    responses.post(f"{LOGIN}/oauth/token", json=_token_response(1))
    responses.get(f"{API}/rest/v1.0/me", json={"id": 55, "login": "pat@example.com", "name": "Pat"})
    user = auth.sign_in(store, oauth, API, "code", "verifier")
    assert user["id"] == 55
    assert store.get("user:55").access_token == "at-1"
    assert responses.calls[1].request.headers["Authorization"] == "Bearer at-1"


@responses.activate
def test_disconnect_revokes_and_deletes(store, oauth):
    store.save(user_owner(1), access_token="at-0", refresh_token="rt-0", expires_at=9e12, user_id=1)
    responses.post(f"{LOGIN}/oauth/revoke", json={})
    assert auth.disconnect(store, oauth, user_owner(1)) is True
    body = form(responses.calls[0])
    assert body["token"] == "rt-0" and body["client_id"] == "client-1"
    assert store.get(user_owner(1)) is None


@responses.activate
def test_disconnect_deletes_even_when_procore_is_unreachable(store, oauth):
    import requests

    store.save(user_owner(1), access_token="at-0", refresh_token="rt-0", expires_at=9e12, user_id=1)
    responses.post(f"{LOGIN}/oauth/revoke", body=requests.ConnectionError("down"))
    assert auth.disconnect(store, oauth, user_owner(1)) is False
    assert store.get(user_owner(1)) is None


def test_immediate_transaction_blocks_other_writers(db_path):
    """BEGIN IMMEDIATE takes SQLite's write lock: a second connection cannot write until it commits."""
    import sqlite3

    a = open_db(db_path)
    b = sqlite3.connect(db_path, timeout=0.05)
    store = TokenStore(a, SecretBox("k"))
    with store.immediate():
        store.save("user:1", access_token="a", refresh_token="r", expires_at=1.0)
        with pytest.raises(sqlite3.OperationalError):
            b.execute("BEGIN IMMEDIATE")
    b.execute("BEGIN IMMEDIATE")
    b.execute("ROLLBACK")
    b.close()
    a.conn.close()


@responses.activate
def test_threads_share_one_refresh(db_path, oauth):
    """Many threads hitting a 401 at once: exactly one refresh token is spent."""
    db = open_db(db_path)
    TokenStore(db, SecretBox("k")).save(
        user_owner(1), access_token="at-0", refresh_token="rt-0", expires_at=9e12, user_id=1
    )
    db.conn.close()
    spent: list[str] = []
    lock = threading.Lock()

    def token_endpoint(request):
        refresh = parse_qs(request.body)["refresh_token"][0]
        with lock:
            if refresh in spent:
                return 401, {}, json.dumps({"error": "invalid_grant"})
            spent.append(refresh)
            n = len(spent)
        return 200, {}, json.dumps(_token_response(n))

    responses.add_callback(responses.POST, f"{LOGIN}/oauth/token", callback=token_endpoint)
    results, failures = [], []

    def worker():
        conn = open_db(db_path)
        try:
            provider = auth.UserTokenProvider.for_user(TokenStore(conn, SecretBox("k")), oauth, 1)
            provider.access_token()
            results.append(provider.refresh("at-0"))
        except Exception as exc:  # pragma: no cover - reported below
            failures.append(exc)
        finally:
            conn.conn.close()

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert spent == ["rt-0"]
    assert results == ["at-1"] * 6


# ------------------------------------------------------------------------------ against the stand-in (real HTTP)


def _stand_in_oauth(running) -> auth.ProcoreOAuth:
    return auth.ProcoreOAuth(running.url, "demo-app-client", "demo-app-secret", "http://localhost:5100/oauth/callback")


def test_code_flow_with_pkce_against_the_stand_in(sandbox, db_path):
    import requests

    oauth = _stand_in_oauth(sandbox)
    req = oauth.authorization_request()
    user = sandbox.state.dataset["users"][0]
    form_fields = {k: v[0] for k, v in parse_qs(urlsplit(req.url).query).items()}
    consent = requests.post(
        f"{sandbox.url}/oauth/authorize",
        data={**form_fields, "user_id": user["id"], "decision": "allow"},
        allow_redirects=False,
    )
    assert consent.status_code == 302
    callback = auth.parse_callback(
        urlsplit(consent.headers["Location"]).query, urlsplit(consent.headers["Location"]).fragment
    )
    assert auth.check_state(req.state, callback["state"])
    db = open_db(db_path)
    store = TokenStore(db, SecretBox("k"))
    me = auth.sign_in(store, oauth, sandbox.url, callback["code"], req.code_verifier)
    assert me["id"] == user["id"]
    assert store.get(user_owner(user["id"])).refresh_token
    # a wrong verifier is refused (PKCE really checked)
    req2 = oauth.authorization_request()
    fields2 = {k: v[0] for k, v in parse_qs(urlsplit(req2.url).query).items()}
    consent2 = requests.post(
        f"{sandbox.url}/oauth/authorize", data={**fields2, "user_id": user["id"]}, allow_redirects=False
    )
    code2 = auth.parse_callback(urlsplit(consent2.headers["Location"]).query)["code"]
    with pytest.raises(errors.OAuthError):
        oauth.exchange_code(code2, "not-the-verifier")
    db.conn.close()


def test_concurrent_refresh_against_the_stand_in_spends_one_refresh_token(sandbox, db_path):
    state = sandbox.state
    user = state.dataset["users"][0]
    issued = state.issue_token("demo-app-client", user["id"])
    db = open_db(db_path)
    TokenStore(db, SecretBox("k")).save(
        user_owner(user["id"]),
        access_token=issued["access_token"],
        refresh_token=issued["refresh_token"],
        expires_at=9e12,
        user_id=user["id"],
    )
    db.conn.close()
    oauth = _stand_in_oauth(sandbox)
    barrier = threading.Barrier(4)
    tokens, failures = [], []

    def worker():
        conn = open_db(db_path)
        try:
            provider = auth.UserTokenProvider.for_user(TokenStore(conn, SecretBox("k")), oauth, user["id"])
            old = provider.access_token()
            barrier.wait()
            tokens.append(provider.refresh(old))  # all four saw a 401 with the same token
        except Exception as exc:  # pragma: no cover - reported below
            failures.append(exc)
        finally:
            conn.conn.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    used = [r for r in state.refresh_tokens.values() if r.used]
    assert len(used) == 1 and used[0].value == issued["refresh_token"]
    assert len(set(tokens)) == 1 and tokens[0] != issued["access_token"]
    # every caller's token works; the old one was revoked by the refresh
    assert ProcoreClient(sandbox.url, tokens[0]).me()["id"] == user["id"]
    with pytest.raises(errors.Unauthorized):
        ProcoreClient(sandbox.url, issued["access_token"]).me()


def test_client_refreshes_on_401_against_the_stand_in(make_sandbox, db_path):
    running = make_sandbox(token_ttl=5400)
    state = running.state
    user = state.dataset["users"][0]
    issued = state.issue_token("demo-app-client", user["id"])
    db = open_db(db_path)
    store = TokenStore(db, SecretBox("k"))
    store.save(
        user_owner(user["id"]),
        access_token=issued["access_token"],
        refresh_token=issued["refresh_token"],
        expires_at=9e12,
        user_id=user["id"],
    )
    state.access_tokens[issued["access_token"]].revoked = True  # e.g. expired early on Procore's side
    provider = auth.UserTokenProvider.for_user(store, _stand_in_oauth(running), user["id"])
    assert ProcoreClient(running.url, provider).me()["id"] == user["id"]
    assert provider.refreshes == 1 and store.get(user_owner(user["id"])).generation == 2
    db.conn.close()


def test_revoked_refresh_token_against_the_stand_in_means_reconnect(sandbox, db_path):
    state = sandbox.state
    user = state.dataset["users"][0]
    issued = state.issue_token("demo-app-client", user["id"])
    db = open_db(db_path)
    store = TokenStore(db, SecretBox("k"))
    store.save(
        user_owner(user["id"]),
        access_token=issued["access_token"],
        refresh_token=issued["refresh_token"],
        expires_at=9e12,
        user_id=user["id"],
    )
    oauth = _stand_in_oauth(sandbox)
    assert oauth.revoke(issued["refresh_token"])  # e.g. the user uninstalled the app in Procore
    client = ProcoreClient(sandbox.url, auth.UserTokenProvider.for_user(store, oauth, user["id"]))
    with pytest.raises(errors.ReconnectRequired):
        client.me()
    assert store.get(user_owner(user["id"])) is None
    # disconnect after that is harmless
    assert auth.disconnect(store, oauth, user_owner(user["id"])) is False
    db.conn.close()
