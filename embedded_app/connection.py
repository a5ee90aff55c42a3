"""Glue between the web views / CLI and the Procore package: sign-in, per-user clients, disconnect.

Views call these functions; only ``embedded_app.procore`` speaks HTTP to Procore.
"""

from __future__ import annotations

from typing import Any

from flask import current_app

from .store import Database, sessions


def _settings() -> dict[str, Any]:
    return current_app.config


def authorization_url(redirect_uri: str) -> tuple[str, str, str]:
    """Procore's authorize URL with a fresh ``state`` and PKCE S256 challenge: (url, state, code_verifier)."""
    from .procore import auth

    cfg = _settings()
    return auth.authorization_url(cfg["PROCORE_LOGIN_URL"], cfg["PROCORE_CLIENT_ID"], redirect_uri)


def complete_sign_in(db: Database, code: str, code_verifier: str, redirect_uri: str) -> dict[str, Any]:
    raise NotImplementedError  # replaced once embedded_app.procore.auth lands


def disconnect_user(db: Database, user_id: int) -> None:
    sessions.forget(db, user_id=user_id)
