"""Configuration safety, disconnect, and the sign-in redirect never leaving the app."""

from __future__ import annotations

import re

import pytest

from embedded_app import config, create_app
from embedded_app.store import open_db

from .fixtures.webapp import DANA, SUMMIT, connect, csrf_of


def test_production_refuses_to_start_without_a_secret_key(monkeypatch, tmp_path):
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("DATABASE", str(tmp_path / "p.sqlite"))
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app()


def test_production_frames_only_procore_hosts():
    settings = config.from_env({"APP_ENV": "production", "SECRET_KEY": "x"})
    assert settings["PROCORE_WEB_HOSTS"] == list(config.PROCORE_WEB_HOSTS)
    dev = config.from_env({})
    assert config.DEMO_HOST_PAGE_URL in dev["PROCORE_WEB_HOSTS"]
    extra = config.from_env({"APP_ENV": "production", "EXTRA_FRAME_ANCESTORS": "https://staging.example.com/"})
    assert "https://staging.example.com" in extra["PROCORE_WEB_HOSTS"]


def test_disconnect_revokes_at_procore_and_deletes_tokens(standin_app):
    client = standin_app.test_client()
    connect(client, standin_app.standin.url, DANA)
    db = open_db(standin_app.config["DATABASE"])
    row = next(db.query("select * from oauth_tokens where owner = ?", [f"user:{DANA}"]))
    assert row
    state = standin_app.standin.state
    live_before = [t for t, rec in state.access_tokens.items() if rec.user_id == DANA and not rec.revoked]
    assert live_before
    page = client.get(f"/collections?company_id={SUMMIT}").get_data(as_text=True)
    assert "Disconnect" in page
    answer = client.post("/oauth/disconnect", data={"csrf_token": csrf_of(client),
                                                    "next": f"/collections?company_id={SUMMIT}"})
    assert answer.status_code == 302
    assert list(db.query("select * from oauth_tokens where owner = ?", [f"user:{DANA}"])) == []
    assert all(state.access_tokens[t].revoked for t in live_before)
    again = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Connect to Procore" in again


@pytest.mark.parametrize("target", ["//evil.test/x", "https://evil.test/", "/\\evil.test", "javascript:alert(1)"])
def test_redirect_after_disconnect_stays_on_the_app(client, target):
    page = client.get(f"/collections?company_id={SUMMIT}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    answer = client.post("/oauth/disconnect", data={"csrf_token": token, "next": target})
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/install"
