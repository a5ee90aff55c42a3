"""The one HTTP client for Procore's REST API.

Everything that calls Procore goes through :class:`ProcoreClient`: it sets ``Authorization`` and
``Procore-Company-Id``, follows pagination (``Link`` first, then ``Total``), retries 429/5xx/connection
failures a bounded number of times with jitter (honouring ``Retry-After`` and ``X-Rate-Limit-Reset``), slows
down on its own when the rate-limit window is nearly spent, refreshes the token once on a 401, and turns every
failure into a typed error from :mod:`embedded_app.procore.errors`.
"""

from __future__ import annotations

import email.utils
import logging
import random
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

import requests

from .errors import (
    ConnectionFailed,
    ProcoreError,
    RateLimited,
    ReconnectRequired,
    Unauthorized,
    error_for_status,
)

log = logging.getLogger(__name__)

# Largest ``per_page`` asked of each list endpoint (Procore recommends <= 2,000; older docs allow 10,000).
# Keys are regular expressions over the path; the first match wins. The server may clamp further: pagination
# follows the ``Link``/``Per-Page`` headers, so a lower server maximum only costs requests, never records.
DEFAULT_MAX_PER_PAGE = 1000
MAX_PER_PAGE: list[tuple[str, int]] = [
    (r"/companies$", 1000),
    (r"/projects$", 1000),
    (r"/prime_contracts$", 1000),
    (r"/payment_applications$", 1000),
    (r"/contract_payments$", 1000),
    (r"/vendors$", 1000),
    (r"/custom_field_definitions$", 1000),
    (r"/generic_tools$", 1000),
    (r"/generic_tool_items$", 1000),
]

# Paths Procore serves without a company context: never send Procore-Company-Id to them by default.
COMPANY_EXEMPT = re.compile(r"^/rest/v[0-9.]+/(me|companies)$")

_DEFAULT = object()


@runtime_checkable
class TokenProvider(Protocol):
    """Source of access tokens. ``refresh(rejected)`` is called once after a 401 with the failed token."""

    def access_token(self) -> str: ...

    def refresh(self, rejected: str) -> str: ...


class StaticToken:
    """A fixed access token (tests, scripts). A 401 cannot be fixed by refreshing it."""

    def __init__(self, token: str) -> None:
        self._token = token

    def access_token(self) -> str:
        return self._token

    def refresh(self, rejected: str) -> str:
        raise ReconnectRequired("the access token was rejected and cannot be refreshed")

    def __repr__(self) -> str:
        return "StaticToken(<hidden>)"


@dataclass
class RateLimit:
    """The last ``X-Rate-Limit-*`` numbers Procore sent (they describe the window closest to its limit)."""

    limit: int | None = None
    remaining: int | None = None
    reset: float | None = None  # Unix seconds
    seen_at: float | None = None


@dataclass
class RequestEvent:
    """Passed to ``on_request`` after every HTTP answer (for progress displays); never holds secrets."""

    method: str
    path: str
    status: int | None
    requests_made: int
    rate_limit: RateLimit
    waited: float = 0.0


@dataclass
class Page:
    items: list[dict[str, Any]]
    response: requests.Response = field(repr=False)


def iso(value: datetime | str) -> str:
    """UTC ISO-8601 with a ``Z``, second precision, as Procore prints timestamps."""
    if isinstance(value, str):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def updated_range(since: datetime | str, until: datetime | str | None = None) -> str:
    """The value of ``filters[updated_at]``: ``<since>...<until>`` (until defaults to now)."""
    return f"{iso(since)}...{iso(until or datetime.now(UTC))}"


def _int(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(float(value))
    except ValueError:
        return None


def _retry_after_seconds(value: str | None, now: float) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


def _reset_epoch(value: str | None, now: float) -> float | None:
    """``X-Rate-Limit-Reset`` as Unix seconds (tolerating servers that send seconds-until-reset)."""
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if number > 1_000_000_000 else now + number


def _json(resp: requests.Response) -> Any:
    if not resp.content:
        return None
    try:
        return resp.json()
    except ValueError:
        return resp.text


def _items(body: Any) -> list[dict[str, Any]]:
    if isinstance(body, list):
        return body
    if isinstance(body, dict) and isinstance(body.get("data"), list):  # v2 envelope
        return body["data"]
    if body in (None, ""):
        return []
    raise ProcoreError("expected a list from a list endpoint")


class ProcoreClient:
    """Procore REST client over one ``requests.Session``.

    ``token_provider``: an object with ``access_token()`` and ``refresh(rejected)`` (see
    :class:`TokenProvider`) or a plain access-token string. ``company_id`` is sent as ``Procore-Company-Id``
    unless a call overrides it.
    ``sleep``/``clock`` are injectable for tests. ``on_request(event)`` is called after every answer.

    Throttling: before each request, if the last answer said ``remaining <= reserve``, the client waits until
    ``X-Rate-Limit-Reset``; below ``slow_below`` (fraction of the limit) it spreads the remaining requests
    evenly over the rest of the window. A wait longer than ``max_wait`` seconds raises :class:`RateLimited`
    instead (e.g. the hourly budget is gone) so a sync fails fast and says when to retry.

    Not thread-safe: use one client per thread.
    """

    def __init__(
        self,
        api_url: str,
        token_provider: TokenProvider | str,
        company_id: int | None = None,
        session: requests.Session | None = None,
        max_retries: int = 4,
        sleep: Callable[[float], None] = time.sleep,
        on_request: Callable[[RequestEvent], None] | None = None,
        *,
        clock: Callable[[], float] = time.time,
        timeout: float | tuple[float, float] = (5.0, 60.0),
        max_wait: float = 120.0,
        reserve: int = 1,
        slow_below: float = 0.1,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        max_per_page: list[tuple[str, int]] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.tokens: TokenProvider = (
            StaticToken(token_provider) if isinstance(token_provider, str) else token_provider
        )
        self.company_id = company_id
        self.session = session or requests.Session()
        self.max_retries = max_retries
        self.sleep = sleep
        self.clock = clock
        self.on_request = on_request
        self.timeout = timeout
        self.max_wait = max_wait
        self.reserve = reserve
        self.slow_below = slow_below
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.max_per_page_rules = [(re.compile(p), n) for p, n in (max_per_page or MAX_PER_PAGE)]
        self.rng = rng or random.Random()
        self.requests_made = 0
        self.retries = 0
        self.count_429 = 0
        self.waited = 0.0  # seconds spent sleeping (throttle + backoff)
        self.rate_limit = RateLimit()

    def __repr__(self) -> str:
        return f"ProcoreClient({self.api_url!r}, company_id={self.company_id!r})"

    def __enter__(self) -> ProcoreClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.session.close()

    # ----------------------------------------------------------------------------------------- low level

    def max_per_page(self, path: str) -> int:
        path = urlsplit(path).path
        for pattern, limit in self.max_per_page_rules:
            if pattern.search(path):
                return limit
        return DEFAULT_MAX_PER_PAGE

    def _url(self, path: str) -> tuple[str, str]:
        """(absolute URL, path for messages). Absolute URLs are re-based onto ``api_url`` (tokens stay)."""
        if path.startswith(("http://", "https://")):
            parts = urlsplit(path)
            rel = parts.path + (f"?{parts.query}" if parts.query else "")
            return self.api_url + rel, parts.path
        if not path.startswith("/"):
            path = "/" + path
        return self.api_url + path, urlsplit(path).path

    def _company_header(self, path: str, company_id: Any) -> int | None:
        if company_id is _DEFAULT:
            return None if COMPANY_EXEMPT.match(path) else self.company_id
        return company_id

    def _throttle_wait(self) -> float:
        rl = self.rate_limit
        if rl.remaining is None or rl.reset is None:
            return 0.0
        now = self.clock()
        left = rl.reset - now
        if left <= 0:
            return 0.0  # the window has rolled over since we last heard
        if rl.remaining <= self.reserve:
            return left + 0.05 + self.rng.uniform(0, 0.1)
        if rl.limit and rl.remaining < rl.limit * self.slow_below:
            return left / (rl.remaining - self.reserve + 1)
        return 0.0

    def _wait(self, seconds: float, why: str) -> None:
        if seconds <= 0:
            return
        if seconds > self.max_wait:
            raise RateLimited(retry_after=seconds)
        log.debug("procore: waiting %.2f s (%s)", seconds, why)
        self.waited += seconds
        self.sleep(seconds)

    def _note_rate_limit(self, resp: requests.Response) -> None:
        h = resp.headers
        remaining = _int(h.get("X-Rate-Limit-Remaining"))
        if remaining is None:
            return
        now = self.clock()
        self.rate_limit = RateLimit(
            limit=_int(h.get("X-Rate-Limit-Limit")),
            remaining=remaining,
            reset=_reset_epoch(h.get("X-Rate-Limit-Reset"), now),
            seen_at=now,
        )

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.backoff_cap, self.backoff_base * (2**attempt))
        return self.rng.uniform(ceiling / 2, ceiling)

    def _retry_wait(self, resp: requests.Response, attempt: int) -> float:
        now = self.clock()
        candidates = []
        retry_after = _retry_after_seconds(resp.headers.get("Retry-After"), now)
        if retry_after is not None:
            candidates.append(retry_after)
        if resp.status_code == 429:
            reset = _reset_epoch(resp.headers.get("X-Rate-Limit-Reset"), now)
            if reset is not None:
                candidates.append(max(0.0, reset - now))
        if candidates:
            base = max(candidates)
            return base + self.rng.uniform(0.05, 0.05 + min(1.0, 0.1 * base + 0.2))
        return self._backoff(attempt)

    def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        *,
        company_id: Any = _DEFAULT,
    ) -> requests.Response:
        """Send one request with auth, company header, throttling, retries and typed errors."""
        method = method.upper()
        url, short = self._url(path)
        company = self._company_header(short, company_id)
        idempotent = method in ("GET", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS")
        attempt = 0
        refreshed = False
        while True:
            self._wait(self._throttle_wait(), "rate-limit window nearly spent")
            token = self.tokens.access_token()
            headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
            if company is not None:
                headers["Procore-Company-Id"] = str(company)
            try:
                resp = self.session.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    headers=headers,
                    timeout=self.timeout,
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                # A POST that may have reached Procore is not retried (it could be created twice).
                safe = idempotent or isinstance(exc, requests.ConnectTimeout) or _not_sent(exc)
                if safe and attempt < self.max_retries:
                    self.retries += 1
                    self._wait(self._backoff(attempt), f"connection failed: {type(exc).__name__}")
                    attempt += 1
                    continue
                raise ConnectionFailed(
                    f"Procore could not be reached at {urlsplit(self.api_url).netloc} ({type(exc).__name__})",
                    method=method,
                    path=short,
                ) from None
            self.requests_made += 1
            self._note_rate_limit(resp)
            status = resp.status_code
            if status == 429:
                self.count_429 += 1
            if self.on_request is not None:
                self.on_request(
                    RequestEvent(method, short, status, self.requests_made, self.rate_limit, self.waited)
                )
            if status == 401 and not refreshed:
                refreshed = True
                self.tokens.refresh(token)
                continue
            retryable = status == 429 or status == 503 or (idempotent and status in (500, 502, 504))
            if retryable and attempt < self.max_retries:
                wait = self._retry_wait(resp, attempt)
                self.retries += 1
                self._wait(wait, f"HTTP {status}")
                attempt += 1
                continue
            if status >= 400:
                err = error_for_status(status, _json(resp), method=method, path=short)
                if isinstance(err, RateLimited):
                    err.retry_after = self._retry_wait(resp, attempt)
                if isinstance(err, Unauthorized) and refreshed:
                    raise ReconnectRequired(
                        "Procore rejected a freshly refreshed token: reconnect to Procore",
                        status=status,
                        method=method,
                        path=short,
                    )
                raise err
            return resp

    def get(self, path: str, params: Mapping[str, Any] | None = None, *, company_id: Any = _DEFAULT) -> Any:
        return _json(self.request("GET", path, params, company_id=company_id))

    def post(
        self,
        path: str,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        *,
        company_id: Any = _DEFAULT,
    ) -> Any:
        return _json(self.request("POST", path, params, json, company_id=company_id))

    def patch(
        self,
        path: str,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        *,
        company_id: Any = _DEFAULT,
    ) -> Any:
        return _json(self.request("PATCH", path, params, json, company_id=company_id))

    def pages(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        per_page: int | None = None,
        *,
        company_id: Any = _DEFAULT,
    ) -> Iterator[Page]:
        """Yield each page of a list endpoint.

        Follows ``Link: rel="next"``; when the answer has no ``Link`` header it computes the pages from
        ``Total``/``Per-Page``; with neither, it stops at the first short (or empty) page.
        """
        limit = self.max_per_page(path)
        size = min(per_page or limit, limit)
        query: dict[str, Any] | None = {**(params or {}), "per_page": size, "page": 1}
        next_path = path
        page_no = 1
        while True:
            resp = self.request("GET", next_path, query, company_id=company_id)
            items = _items(_json(resp))
            yield Page(items, resp)
            link_next = resp.links.get("next", {}).get("url") if resp.headers.get("Link") else None
            if link_next:
                next_path, query = link_next, None
                continue
            if resp.headers.get("Link"):
                return  # a Link header without rel=next: last page
            if not items:
                return
            served = _int(resp.headers.get("Per-Page")) or size
            total = _int(resp.headers.get("Total"))
            if total is not None:
                if page_no * served >= total:
                    return
            elif len(items) < served:
                return
            page_no += 1
            query = {**(params or {}), "per_page": size, "page": page_no}
            next_path = path

    def paginate(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        per_page: int | None = None,
        *,
        company_id: Any = _DEFAULT,
    ) -> Iterator[dict[str, Any]]:
        """Yield every record of a list endpoint across pages."""
        for page in self.pages(path, params, per_page, company_id=company_id):
            yield from page.items

    def list_all(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        company_id: Any = _DEFAULT,
        updated_since: datetime | str | None = None,
    ) -> list[dict[str, Any]]:
        query = dict(params or {})
        if updated_since is not None:
            query["filters[updated_at]"] = updated_range(updated_since)
        return list(self.paginate(path, query, company_id=company_id))

    # ------------------------------------------------------------------------------------------- typed

    def me(self) -> dict[str, Any]:
        return self.get("/rest/v1.0/me", company_id=None)

    def companies(self) -> list[dict[str, Any]]:
        return self.list_all("/rest/v1.0/companies", company_id=None)

    def projects(self, company_id: int, updated_since: datetime | str | None = None) -> list[dict[str, Any]]:
        return self.list_all(
            "/rest/v1.0/projects",
            {"company_id": company_id},
            company_id=company_id,
            updated_since=updated_since,
        )

    def prime_contracts(
        self, project_id: int, updated_since: datetime | str | None = None
    ) -> list[dict[str, Any]]:
        return self.list_all(
            "/rest/v1.0/prime_contracts", {"project_id": project_id}, updated_since=updated_since
        )

    def prime_contract(self, project_id: int, id: int) -> dict[str, Any]:
        return self.get(f"/rest/v1.0/prime_contract/{int(id)}", {"project_id": project_id})

    def payment_applications(
        self, project_id: int, updated_since: datetime | str | None = None
    ) -> list[dict[str, Any]]:
        return self.list_all(
            "/rest/v1.0/payment_applications", {"project_id": project_id}, updated_since=updated_since
        )

    def contract_payments(
        self, project_id: int, contract_id: int, updated_since: datetime | str | None = None
    ) -> list[dict[str, Any]]:
        return self.list_all(
            "/rest/v1.0/contract_payments",
            {"project_id": project_id, "contract_id": contract_id},
            updated_since=updated_since,
        )

    def vendors(self, company_id: int, updated_since: datetime | str | None = None) -> list[dict[str, Any]]:
        return self.list_all(
            "/rest/v1.0/vendors",
            {"company_id": company_id},
            company_id=company_id,
            updated_since=updated_since,
        )

    def custom_field_definitions(self, company_id: int) -> list[dict[str, Any]]:
        return self.list_all(
            f"/rest/v1.1/companies/{int(company_id)}/custom_field_definitions", company_id=company_id
        )

    def update_prime_contract(self, project_id: int, id: int, fields: Mapping[str, Any]) -> dict[str, Any]:
        return self.patch(
            f"/rest/v1.0/prime_contract/{int(id)}",
            {"project_id": project_id, "prime_contract": dict(fields)},
            {"project_id": project_id},
        )

    def generic_tools(self, company_id: int) -> list[dict[str, Any]]:
        return self.list_all(f"/rest/v1.0/companies/{int(company_id)}/generic_tools", company_id=company_id)

    def generic_tool_items(self, project_id: int, tool_id: int) -> list[dict[str, Any]]:
        return self.list_all(
            f"/rest/v1.0/projects/{int(project_id)}/generic_tools/{int(tool_id)}/generic_tool_items"
        )

    def create_generic_tool_item(
        self, project_id: int, tool_id: int, item: Mapping[str, Any]
    ) -> dict[str, Any]:
        return self.post(
            f"/rest/v1.0/projects/{int(project_id)}/generic_tools/{int(tool_id)}/generic_tool_items",
            {"generic_tool_item": dict(item)},
        )

    def update_generic_tool_item(
        self, project_id: int, tool_id: int, item_id: int, fields: Mapping[str, Any]
    ) -> dict[str, Any]:
        return self.patch(
            f"/rest/v1.0/projects/{int(project_id)}/generic_tools/{int(tool_id)}/generic_tool_items/{int(item_id)}",
            {"generic_tool_item": dict(fields)},
        )

    def create_contract_payment(
        self, project_id: int, contract_id: int, payment: Mapping[str, Any]
    ) -> dict[str, Any]:
        return self.post(
            "/rest/v1.0/contract_payments",
            {"project_id": project_id, "contract_id": contract_id, "contract_payment": dict(payment)},
        )


def _not_sent(exc: Exception) -> bool:
    """True when the connection failed before the request could reach the server (refused, DNS)."""
    text = repr(exc)
    return any(s in text for s in ("NewConnectionError", "NameResolutionError", "Connection refused"))
