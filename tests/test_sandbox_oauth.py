"""Contract tests of the stand-in's OAuth endpoints, over real HTTP."""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlsplit

import requests

from embedded_app.sandbox.app import INVALID_GRANT_DESCRIPTION

CLIENT = {"client_id": "demo-app-client", "client_secret": "demo-app-secret"}
REDIRECT = "http://localhost:5100/oauth/callback"
TIMEOUT = 10


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def _authorize(base: str, *, challenge: str | None = None, state: str = "st-1", user_id: int | None = None,
               **extra: str) -> requests.Response:
    params = {"response_type": "code", "client_id": CLIENT["client_id"], "redirect_uri": REDIRECT, "state": state,
              **extra}
    if challenge:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    page = requests.get(f"{base}/oauth/authorize", params=params, timeout=TIMEOUT)
    assert page.status_code == 200
    assert "Allow" in page.text and "Dana Whitfield" in page.text
    form = {**params, "decision": "allow"}
    if user_id is not None:
        form["user_id"] = str(user_id)
    else:
        form["login"] = "dana.whitfield@summitridgebuilder.example.com"
    return requests.post(f"{base}/oauth/authorize", data=form, allow_redirects=False, timeout=TIMEOUT)


def _code_from(response: requests.Response) -> dict[str, list[str]]:
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(REDIRECT)
    return parse_qs(urlsplit(location).query)


def _me(base: str, token: str) -> requests.Response:
    return requests.get(f"{base}/rest/v1.0/me", headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT)


def test_authorization_code_with_pkce(sandbox):
    verifier, challenge = _pkce()
    query = _code_from(_authorize(sandbox.url, challenge=challenge, state="xyz"))
    assert query["state"] == ["xyz"]
    code = query["code"][0]
    token_url = f"{sandbox.url}/oauth/token"
    grant = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, **CLIENT}

    wrong = requests.post(token_url, data={**grant, "code_verifier": "not-the-verifier"}, timeout=TIMEOUT)
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    missing = requests.post(token_url, data=grant, timeout=TIMEOUT)
    assert missing.status_code == 400

    ok = requests.post(token_url, json={**grant, "code_verifier": verifier}, timeout=TIMEOUT)
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 5400
    assert body["refresh_token"] and isinstance(body["created_at"], int)
    me = _me(sandbox.url, body["access_token"])
    assert me.status_code == 200 and me.json()["name"] == "Dana Whitfield"

    # codes are single use; a replay also revokes what the code issued
    replay = requests.post(token_url, data={**grant, "code_verifier": verifier}, timeout=TIMEOUT)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert _me(sandbox.url, body["access_token"]).status_code == 401


def test_authorize_checks_redirect_uri_and_supports_fragment_and_deny(sandbox):
    bad = requests.get(f"{sandbox.url}/oauth/authorize", params={
        "response_type": "code", "client_id": CLIENT["client_id"], "redirect_uri": "https://evil.example/cb"},
        timeout=TIMEOUT)
    assert bad.status_code == 400
    unknown = requests.get(f"{sandbox.url}/oauth/authorize", params={"response_type": "code", "client_id": "nope"},
                           timeout=TIMEOUT)
    assert unknown.status_code == 401

    frag = _authorize(sandbox.url, state="s2", response_mode="fragment")
    assert frag.status_code == 302
    fragment = parse_qs(urlsplit(frag.headers["Location"]).fragment)
    assert fragment["state"] == ["s2"] and fragment["code"][0]

    denied = requests.post(f"{sandbox.url}/oauth/authorize", data={
        "response_type": "code", "client_id": CLIENT["client_id"], "redirect_uri": REDIRECT, "state": "s3",
        "decision": "deny"}, allow_redirects=False, timeout=TIMEOUT)
    assert parse_qs(urlsplit(denied.headers["Location"]).query)["error"] == ["access_denied"]


def test_refresh_tokens_rotate_and_reuse_fails(sandbox):
    query = _code_from(_authorize(sandbox.url))
    first = requests.post(f"{sandbox.url}/oauth/token", data={
        "grant_type": "authorization_code", "code": query["code"][0], "redirect_uri": REDIRECT, **CLIENT},
        timeout=TIMEOUT).json()

    # HTTP Basic client authentication
    second = requests.post(f"{sandbox.url}/oauth/token", auth=(CLIENT["client_id"], CLIENT["client_secret"]),
                           data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
                           timeout=TIMEOUT)
    assert second.status_code == 200
    rotated = second.json()
    assert rotated["refresh_token"] != first["refresh_token"]
    assert rotated["access_token"] != first["access_token"]
    assert _me(sandbox.url, rotated["access_token"]).status_code == 200
    assert _me(sandbox.url, first["access_token"]).status_code == 401

    reuse = requests.post(f"{sandbox.url}/oauth/token", json={
        "grant_type": "refresh_token", "refresh_token": first["refresh_token"], **CLIENT}, timeout=TIMEOUT)
    assert reuse.status_code == 401
    assert reuse.json() == {"error": "invalid_grant", "error_description": INVALID_GRANT_DESCRIPTION}

    third = requests.post(f"{sandbox.url}/oauth/token", files={
        "grant_type": (None, "refresh_token"), "refresh_token": (None, rotated["refresh_token"]),
        "client_id": (None, CLIENT["client_id"]), "client_secret": (None, CLIENT["client_secret"])},
        timeout=TIMEOUT)
    assert third.status_code == 200, third.text


def test_client_credentials_for_service_accounts_only(sandbox):
    token_url = f"{sandbox.url}/oauth/token"
    sa = requests.post(token_url, data={"grant_type": "client_credentials", "client_id": "demo-service-account",
                                        "client_secret": "demo-service-secret"}, timeout=TIMEOUT)
    assert sa.status_code == 200
    body = sa.json()
    assert "refresh_token" not in body
    companies = requests.get(f"{sandbox.url}/rest/v1.0/companies",
                             headers={"Authorization": f"Bearer {body['access_token']}"}, timeout=TIMEOUT)
    assert companies.status_code == 200
    assert sorted(c["id"] for c in companies.json()) == [10001, 10002]

    user_client = requests.post(token_url, data={"grant_type": "client_credentials", **CLIENT}, timeout=TIMEOUT)
    assert user_client.status_code == 400 and user_client.json()["error"] == "unauthorized_client"
    wrong_secret = requests.post(token_url, data={"grant_type": "client_credentials",
                                                  "client_id": "demo-service-account", "client_secret": "x"},
                                 timeout=TIMEOUT)
    assert wrong_secret.status_code == 401 and wrong_secret.json()["error"] == "invalid_client"


def test_tokens_expire_codes_expire_and_revoke(make_sandbox):
    now = [1_800_000_000.0]
    box = make_sandbox(clock=lambda: now[0], token_ttl=60)
    token = box.token()
    info = requests.get(f"{box.url}/oauth/token/info", headers={"Authorization": f"Bearer {token['access_token']}"},
                        timeout=TIMEOUT)
    assert info.status_code == 200
    assert info.json()["application"]["uid"] == "demo-app-client" and info.json()["expires_in_seconds"] == 60

    now[0] += 61
    expired = _me(box.url, token["access_token"])
    assert expired.status_code == 401 and "expired" in expired.json()["message"]

    query = _code_from(_authorize(box.url))
    now[0] += 601
    late = requests.post(f"{box.url}/oauth/token", data={
        "grant_type": "authorization_code", "code": query["code"][0], "redirect_uri": REDIRECT, **CLIENT},
        timeout=TIMEOUT)
    assert late.status_code == 400 and late.json()["error"] == "invalid_grant"

    fresh = box.token()
    revoke = requests.post(f"{box.url}/oauth/revoke", data={"token": fresh["access_token"], **CLIENT},
                           timeout=TIMEOUT)
    assert revoke.status_code == 200
    assert _me(box.url, fresh["access_token"]).status_code == 401
    reuse = requests.post(f"{box.url}/oauth/token", data={"grant_type": "refresh_token",
                                                          "refresh_token": fresh["refresh_token"], **CLIENT},
                          timeout=TIMEOUT)
    assert reuse.status_code == 401
    assert requests.post(f"{box.url}/oauth/revoke", data={"token": "unknown"}, timeout=TIMEOUT).status_code == 200
