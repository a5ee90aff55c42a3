"""OAuth 2.0 with Procore's login server (authlib), and the token providers the REST client uses.

- :class:`ProcoreOAuth`: authorize URL with ``state`` + PKCE S256, code exchange, refresh, revoke, client
  credentials. Client credentials go in the body (``client_secret_post``), as Procore documents.
- :class:`UserTokenProvider`: a person's tokens from the :class:`~embedded_app.store.tokens.TokenStore`,
  refreshed shortly before expiry and after a 401. Refresh tokens are single use and rotate, so refreshes are
  serialised per owner: an in-process lock per (database, owner) **and** a ``BEGIN IMMEDIATE`` transaction in
  which the stored generation is re-checked — if another thread or process refreshed meanwhile, its token is used
  and ours is never spent twice.
- :class:`ServiceAccountProvider`: client-credentials tokens, cached (optionally encrypted in the store) until
  shortly before expiry.
- :func:`sign_in` / :func:`disconnect`: what the OAuth views call.

Nothing here logs or puts a token or secret into an exception message or a repr.
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client.errors import OAuthError as AuthlibOAuthError
from authlib.integrations.requests_client import OAuth2Session

from ..crypto import SecretBox
from ..store.tokens import StoredToken, TokenStore, service_owner, user_owner
from .errors import ConnectionFailed, OAuthError, ProcoreError, ReconnectRequired, ServerError

log = logging.getLogger(__name__)

# Refresh this many seconds before the access token expires (Procore tokens live 5,400 s).
REFRESH_LEEWAY = 300.0


@dataclass(frozen=True)
class AuthorizationRequest:
    """Where to send the popup, and what to keep server-side until the callback (never in the URL again)."""

    url: str
    state: str = field(repr=False)
    code_verifier: str = field(repr=False)


@dataclass(frozen=True)
class TokenSet:
    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_at: float
    token_type: str = "bearer"
    created_at: float | None = None

    @classmethod
    def from_response(cls, data: Mapping[str, Any], now: float) -> TokenSet:
        if not data.get("access_token"):
            raise OAuthError("the token response has no access token")
        created = data.get("created_at")
        try:
            created_at = float(created) if created is not None else None
        except (TypeError, ValueError):
            created_at = None
        expires_in = float(data.get("expires_in") or 5400)
        # Measure expiry from our own clock: the server's created_at may be skewed.
        return cls(
            access_token=str(data["access_token"]),
            refresh_token=data.get("refresh_token") or None,
            expires_at=now + expires_in,
            token_type=str(data.get("token_type") or "bearer"),
            created_at=created_at,
        )


def check_state(expected: str | None, received: str | None) -> bool:
    """Constant-time comparison of the ``state`` kept in the session with the one Procore sent back."""
    return bool(expected) and bool(received) and hmac.compare_digest(str(expected), str(received))


def parse_callback(query: Mapping[str, Any] | str = "", fragment: str = "") -> dict[str, str]:
    """``code``/``state``/``error``/``error_description`` from the callback URL's query or fragment."""
    values: dict[str, str] = {}
    sources: list[Mapping[str, Any]] = []
    if isinstance(query, str):
        sources.append({k: v[0] for k, v in parse_qs(query.lstrip("?")).items()})
    else:
        sources.append(query)
    sources.append({k: v[0] for k, v in parse_qs(fragment.lstrip("#")).items()})
    for source in sources:
        for key in ("code", "state", "error", "error_description"):
            if key not in values and source.get(key):
                values[key] = str(source[key])
    return values


class ProcoreOAuth:
    """The OAuth endpoints of Procore's login server (``{login_url}/oauth/...``)."""

    def __init__(
        self,
        login_url: str,
        client_id: str,
        client_secret: str,
        redirect_uri: str | None = None,
        *,
        timeout: float | tuple[float, float] = (5.0, 20.0),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.login_url = login_url.rstrip("/")
        self.client_id = client_id
        self._client_secret = client_secret
        self.redirect_uri = redirect_uri
        self.timeout = timeout
        self.clock = clock

    def __repr__(self) -> str:
        return f"ProcoreOAuth({self.login_url!r}, client_id={self.client_id!r})"

    @classmethod
    def from_config(cls, config: Mapping[str, Any], redirect_uri: str | None = None, **kwargs: Any) -> ProcoreOAuth:
        return cls(
            config["PROCORE_LOGIN_URL"],
            config["PROCORE_CLIENT_ID"],
            config["PROCORE_CLIENT_SECRET"],
            redirect_uri,
            **kwargs,
        )

    @property
    def token_url(self) -> str:
        return f"{self.login_url}/oauth/token"

    def _session(self, redirect_uri: str | None = None) -> OAuth2Session:
        # A fresh session per call: authlib sessions keep the last token as state, so sharing one between
        # threads could mix users up.
        session = OAuth2Session(
            self.client_id,
            self._client_secret,
            token_endpoint_auth_method="client_secret_post",
            revocation_endpoint_auth_method="client_secret_post",
            redirect_uri=redirect_uri or self.redirect_uri,
            code_challenge_method="S256",
        )
        return session

    def _token_call(self, what: str, call: Callable[[OAuth2Session], Any], redirect_uri: str | None = None) -> TokenSet:
        session = self._session(redirect_uri)
        try:
            data = call(session)
        except AuthlibOAuthError as exc:
            raise OAuthError(error=exc.error, description=exc.description, method="POST", path="/oauth/token") from None
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else None
            cls = ServerError if status and status >= 500 else OAuthError
            raise cls(f"{what} failed", status=status, method="POST", path="/oauth/token") from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise ConnectionFailed(
                f"Procore's login server could not be reached ({type(exc).__name__})",
                method="POST",
                path="/oauth/token",
            ) from None
        except ValueError as exc:  # a non-JSON answer
            raise OAuthError(
                f"{what}: unexpected answer from the login server", method="POST", path="/oauth/token"
            ) from exc
        finally:
            session.close()
        return TokenSet.from_response(data, self.clock())

    def authorization_request(self, redirect_uri: str | None = None, state: str | None = None) -> AuthorizationRequest:
        """A fresh authorize URL with ``state`` and a PKCE S256 challenge. Keep state and verifier server-side."""
        state = state or generate_token(32)
        verifier = generate_token(64)
        session = self._session(redirect_uri)
        try:
            url, _ = session.create_authorization_url(
                f"{self.login_url}/oauth/authorize",
                state=state,
                code_verifier=verifier,
            )
        finally:
            session.close()
        return AuthorizationRequest(url=url, state=state, code_verifier=verifier)

    def exchange_code(self, code: str, code_verifier: str, redirect_uri: str | None = None) -> TokenSet:
        """Trade a (single-use, 10-minute) authorization code for tokens."""
        return self._token_call(
            "code exchange",
            lambda s: s.fetch_token(
                self.token_url,
                grant_type="authorization_code",
                code=code,
                code_verifier=code_verifier,
                timeout=self.timeout,
            ),
            redirect_uri,
        )

    def refresh(self, refresh_token: str) -> TokenSet:
        """Spend a refresh token (single use!) for a new pair. ``invalid_grant`` -> :class:`ReconnectRequired`."""
        try:
            return self._token_call(
                "token refresh",
                lambda s: s.refresh_token(self.token_url, refresh_token=refresh_token, timeout=self.timeout),
            )
        except OAuthError as exc:
            if exc.error in ("invalid_grant", "invalid_token", "invalid_request") or exc.status in (400, 401):
                raise ReconnectRequired(status=exc.status, method="POST", path="/oauth/token") from None
            raise

    def client_credentials(self) -> TokenSet:
        """A service-account (DMSA) access token; ``invalid_client`` means wrong client id/secret."""
        return self._token_call(
            "client credentials",
            lambda s: s.fetch_token(self.token_url, grant_type="client_credentials", timeout=self.timeout),
        )

    def revoke(self, token: str) -> bool:
        """Revoke a token (Procore revokes the access and refresh token together; it answers 200 either way)."""
        session = self._session()
        try:
            resp = session.revoke_token(f"{self.login_url}/oauth/revoke", token=token, timeout=self.timeout)
        except (requests.ConnectionError, requests.Timeout):
            return False
        finally:
            session.close()
        return resp.status_code < 400


def authorization_url(login_url: str, client_id: str, redirect_uri: str) -> tuple[str, str, str]:
    """``(url, state, code_verifier)`` for the popup (the secret is not needed to build the URL)."""
    req = ProcoreOAuth(login_url, client_id, "", redirect_uri).authorization_request()
    return req.url, req.state, req.code_verifier


# ------------------------------------------------------------------------------------------ token providers

_LOCKS: dict[tuple[str, str], threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _owner_lock(location: str, owner: str) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault((location, owner), threading.Lock())


class UserTokenProvider:
    """Access tokens for one stored owner (usually ``user:<id>``), refreshed safely.

    One instance per thread (it uses the store's connection). Instances in other threads or processes that share
    the database coordinate through the lock and the ``generation`` column.
    """

    def __init__(
        self,
        store: TokenStore,
        oauth: ProcoreOAuth,
        owner: str,
        *,
        leeway: float = REFRESH_LEEWAY,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.oauth = oauth
        self.owner = owner
        self.leeway = leeway
        self.clock = clock
        self.refreshes = 0  # how many refresh tokens this instance spent
        self._current: StoredToken | None = None
        self._location = store.location()

    @classmethod
    def for_user(cls, store: TokenStore, oauth: ProcoreOAuth, user_id: int, **kwargs: Any) -> UserTokenProvider:
        return cls(store, oauth, user_owner(user_id), **kwargs)

    def __repr__(self) -> str:
        return f"UserTokenProvider({self.owner!r})"

    def _load(self) -> StoredToken:
        current = self.store.get(self.owner)
        if current is None:
            raise ReconnectRequired("not connected to Procore")
        self._current = current
        return current

    def access_token(self) -> str:
        current = self._current or self._load()
        if current.expires_within(self.leeway, self.clock()):
            current = self._load()  # someone may have refreshed already
            if current.expires_within(self.leeway, self.clock()):
                return self._refresh(current.access_token, current.generation)
        return current.access_token

    def refresh(self, rejected: str) -> str:
        """Called by the client after a 401 with the token that was rejected."""
        generation = self._current.generation if self._current else -1
        return self._refresh(rejected, generation)

    def _refresh(self, rejected: str, seen_generation: int) -> str:
        revoked = False
        with _owner_lock(self._location, self.owner):
            with self.store.immediate():
                current = self.store.get(self.owner)
                if current is None:
                    raise ReconnectRequired("not connected to Procore")
                # Rotated since the rejected token was read (by another thread or process): use that one.
                someone_else = current.access_token != rejected or (
                    seen_generation >= 0 and current.generation != seen_generation
                )
                if someone_else and not current.expires_within(self.leeway, self.clock()):
                    self._current = current
                    return current.access_token
                if not current.refresh_token:
                    raise ReconnectRequired("no refresh token stored")
                try:
                    tokens = self.oauth.refresh(current.refresh_token)
                except ReconnectRequired:
                    self.store.delete(self.owner)  # revoked or spent: only a new sign-in helps
                    revoked = True
                else:
                    self.refreshes += 1
                    self._current = self.store.save(
                        self.owner,
                        access_token=tokens.access_token,
                        refresh_token=tokens.refresh_token or current.refresh_token,
                        expires_at=tokens.expires_at,
                        user_id=current.user_id,
                    )
        if revoked:
            self._current = None
            log.info("procore: refresh refused for %s; reconnect required", self.owner)
            raise ReconnectRequired()
        assert self._current is not None
        return self._current.access_token


class ServiceAccountProvider:
    """Client-credentials tokens for unattended runs; cached until ``leeway`` seconds before expiry.

    With a ``store`` the token is also kept encrypted under ``service:<client id>`` so separate CLI runs reuse
    it instead of asking the login server each time.
    """

    def __init__(
        self,
        oauth: ProcoreOAuth,
        store: TokenStore | None = None,
        *,
        leeway: float = REFRESH_LEEWAY,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.oauth = oauth
        self.store = store
        self.leeway = leeway
        self.clock = clock
        self.owner = service_owner(oauth.client_id)
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ServiceAccountProvider({self.owner!r})"

    def _fetch(self) -> str:
        tokens = self.oauth.client_credentials()
        self._token, self._expires_at = tokens.access_token, tokens.expires_at
        if self.store is not None:
            self.store.save(
                self.owner, access_token=tokens.access_token, refresh_token=None, expires_at=tokens.expires_at
            )
        return tokens.access_token

    def access_token(self) -> str:
        with self._lock:
            now = self.clock()
            if self._token and self._expires_at - now > self.leeway:
                return self._token
            if self.store is not None:
                stored = self.store.get(self.owner)
                if stored and not stored.expires_within(self.leeway, now):
                    self._token, self._expires_at = stored.access_token, stored.expires_at
                    return stored.access_token
            return self._fetch()

    def refresh(self, rejected: str) -> str:
        with self._lock:
            if self._token and self._token != rejected and self._expires_at - self.clock() > self.leeway:
                return self._token
            return self._fetch()


# ------------------------------------------------------------------------------------------ sign-in glue


def sign_in(
    store: TokenStore,
    oauth: ProcoreOAuth,
    api_url: str,
    code: str,
    code_verifier: str,
    redirect_uri: str | None = None,
    *,
    session: requests.Session | None = None,
) -> dict[str, Any]:
    """Finish the popup flow: exchange the code, ask Procore who this is (``/me``), store the tokens encrypted
    under ``user:<id>`` and return the user record (``id``, ``login``, ``name``)."""
    from .client import ProcoreClient

    tokens = oauth.exchange_code(code, code_verifier, redirect_uri)
    with ProcoreClient(api_url, tokens.access_token, session=session, max_retries=2) as client:
        user = client.me()
    if not isinstance(user, dict) or "id" not in user:
        raise ProcoreError("Procore did not say who signed in")
    store.save(
        user_owner(user["id"]),
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        expires_at=tokens.expires_at,
        user_id=int(user["id"]),
    )
    return user


def disconnect(store: TokenStore, oauth: ProcoreOAuth, owner: str) -> bool:
    """Revoke the owner's tokens at Procore (best effort) and delete them here. True if Procore confirmed."""
    current = store.get(owner)
    revoked = False
    if current is not None:
        try:
            revoked = oauth.revoke(current.refresh_token or current.access_token)
        except ProcoreError:
            revoked = False
        store.delete(owner)
    return revoked


def token_store(db: Any, secret: str) -> TokenStore:
    """A :class:`TokenStore` over ``db`` keyed with the configured encryption secret."""
    return TokenStore(db, SecretBox(secret))
