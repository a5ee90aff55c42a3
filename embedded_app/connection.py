"""Glue between the web views / CLI and the Procore package: sign-in, per-user clients, disconnect.

No Flask here: callers pass the app's config mapping, so jobs can use the same functions. Only
``embedded_app.procore`` speaks HTTP to Procore.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .procore import auth
from .procore.client import ProcoreClient
from .store import Database, sessions


def oauth(config: Mapping[str, Any], redirect_uri: str | None = None) -> auth.ProcoreOAuth:
    return auth.ProcoreOAuth.from_config(config, redirect_uri)


def tokens(db: Database, config: Mapping[str, Any]) -> auth.TokenStore:
    return auth.token_store(db, config["TOKEN_ENCRYPTION_KEY"])


def authorization_url(config: Mapping[str, Any], redirect_uri: str) -> tuple[str, str, str]:
    """Procore's authorize URL with a fresh ``state`` and PKCE S256 challenge: (url, state, code_verifier)."""
    return auth.authorization_url(config["PROCORE_LOGIN_URL"], config["PROCORE_CLIENT_ID"], redirect_uri)


def complete_sign_in(db: Database, config: Mapping[str, Any], code: str, code_verifier: str,
                     redirect_uri: str) -> dict[str, Any]:
    """Exchange the code, store the tokens encrypted under the Procore user, remember the companies Procore
    lists for that user (the only ones they will see here) and return the user."""
    user = auth.sign_in(tokens(db, config), oauth(config, redirect_uri), config["PROCORE_API_URL"], code,
                        code_verifier, redirect_uri)
    sessions.record_user(db, user)
    refresh_companies(db, config, int(user["id"]))
    return user


def user_client(db: Database, config: Mapping[str, Any], user_id: int, company_id: int | None = None,
                **kwargs: Any) -> ProcoreClient:
    provider = auth.UserTokenProvider.for_user(tokens(db, config), oauth(config), user_id)
    return ProcoreClient(config["PROCORE_API_URL"], provider, company_id=company_id, **kwargs)


def refresh_companies(db: Database, config: Mapping[str, Any], user_id: int) -> list[dict[str, Any]]:
    with user_client(db, config, user_id) as client:
        companies = client.companies()
    sessions.set_visible_companies(db, user_id, companies)
    return companies


def disconnect_user(db: Database, config: Mapping[str, Any], user_id: int) -> None:
    """Revoke the user's tokens at Procore (best effort), delete them and every session of the user."""
    auth.disconnect(tokens(db, config), oauth(config), auth.user_owner(user_id))
    sessions.forget(db, user_id=user_id)
