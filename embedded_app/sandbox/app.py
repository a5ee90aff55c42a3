"""The Procore stand-in as a Flask app: OAuth (login host) and REST (API host) on one origin.

``create_sandbox_app(dataset)`` serves a dataset (see ``docs/sandbox-dataset.md``) with Procore's paths, field
names, pagination headers, rate-limit headers and errors. State lives in memory in a :class:`SandboxState`
reachable as ``app.extensions["sandbox"]``; every request runs under its lock (the server is threaded).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flask import Flask, Response, g, jsonify, redirect, render_template_string, request

from .dataset import CONTRACT_STATUSES, DATASET_KEYS, parse_timestamp, validate_dataset

__all__ = ["SandboxState", "create_sandbox_app", "ApiError", "INVALID_GRANT_DESCRIPTION"]

INVALID_GRANT_DESCRIPTION = (
    "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the "
    "authorization request, or was issued to another client."
)
INVALID_CLIENT_DESCRIPTION = (
    "Client authentication failed due to unknown client, no client authentication included, or unsupported "
    "authentication method."
)
CODE_TTL = 600
DEFAULT_PER_PAGE = 100
PAY_APP_PER_PAGE = 30
MAX_PER_PAGE = 1000
EXEMPT_FROM_COMPANY_HEADER = {"/rest/v1.0/me", "/rest/v1.0/companies"}
SHOW_ONLY_CONTRACT_FIELDS = (
    "payment_terms", "revised_contract_amount", "owner_invoices_amount", "total_payments", "outstanding_balance",
    "percentage_paid", "pending_change_orders_amount", "allow_payment_applications", "allow_payments",
    "payments_received",
)
PATCHABLE_CONTRACT_FIELDS = ("title", "description", "payment_terms", "status", "private", "executed", "inclusions",
                             "exclusions")
WEBHOOK_RESOURCES = (
    "Prime Contracts", "Payment Applications", "Contract Payments", "Projects", "Vendors",
    "Generic Tool Items", "Prime Contract Change Orders",
)
PAYMENT_METHODS = ("check", "credit_card", "electronic")
G703_LINES = (("01-000", "General Conditions", "0.08"), ("02-000", "Sitework", "0.12"), ("03-000", "Concrete", "0.18"),
              ("05-000", "Structural Steel", "0.17"), ("15-000", "Mechanical, Electrical & Plumbing", "0.27"),
              ("09-000", "Finishes", "0.18"))
CENT = Decimal("0.01")


class ApiError(Exception):
    """An error answer: status, JSON body and extra headers."""

    def __init__(self, status: int, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None):
        super().__init__(status, body)
        self.status = status
        self.body = body if body is not None else {"message": "Error"}
        self.headers = headers or {}


def _message(status: int, text: str) -> ApiError:
    return ApiError(status, {"message": text})


def _invalid(errors: dict[str, list[str]]) -> ApiError:
    return ApiError(422, {"errors": errors})


def _missing_param(name: str) -> ApiError:
    return ApiError(400, {"message": f"param is missing or the value is empty: {name}",
                          "errors": {name: ["is missing"]}})


def _money(value: Decimal) -> str:
    return str(value.quantize(CENT))


def _dec(value: Any) -> Decimal:
    try:
        return Decimal(str(value)) if value not in (None, "") else Decimal(0)
    except InvalidOperation:
        return Decimal(0)


TOOL_NAMES = {"prime_contracts": "Prime Contracts"}


@dataclass
class AccessToken:
    value: str
    client_id: str
    user_id: int | None
    created_at: float
    expires_at: float
    refresh_token: str | None = None
    revoked: bool = False


@dataclass
class RefreshToken:
    value: str
    client_id: str
    user_id: int | None
    access_token: str
    used: bool = False
    revoked: bool = False


@dataclass
class AuthCode:
    code: str
    client_id: str
    user_id: int
    redirect_uri: str
    code_challenge: str | None
    code_challenge_method: str | None
    expires_at: float
    used: bool = False
    tokens: list[str] = field(default_factory=list)


@dataclass
class _Window:
    length: float
    limit: int
    start: float = 0.0
    count: int = 0

    def roll(self, now: float) -> None:
        if now >= self.start + self.length:
            self.start = now
            self.count = 0

    @property
    def reset(self) -> float:
        return self.start + self.length

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.count)


class SandboxState:
    """Everything the stand-in knows: the live dataset, indexes, tokens, rate-limit windows and counters."""

    def __init__(self, dataset: dict[str, Any], *, hourly_limit: int, spike_limit: int, spike_window: float,
                 token_ttl: int, clock: Callable[[], float]) -> None:
        self.lock = threading.RLock()
        self.clock = clock
        self.hourly_limit = hourly_limit
        self.spike_limit = spike_limit
        self.spike_window = spike_window
        self.token_ttl = token_ttl
        self.dataset: dict[str, Any] = dataset
        self.dataset.setdefault("generic_tool_items", [])
        self.dataset.setdefault("webhook_hooks", [])
        self.dataset.setdefault("webhook_triggers", [])
        self.request_count = 0
        self.count_429 = 0
        self.request_log: deque[tuple[str, str, int]] = deque(maxlen=20_000)
        self.access_tokens: dict[str, AccessToken] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.codes: dict[str, AuthCode] = {}
        self.windows: dict[str, tuple[_Window, _Window]] = {}
        self._reindex()

    # --- indexes ------------------------------------------------------------------------------------------
    def _reindex(self) -> None:
        d = self.dataset
        now = self.now_iso()
        for key in DATASET_KEYS:
            if key == "oauth_clients":
                continue
            for record in d[key]:
                record.setdefault("updated_at", record.get("created_at") or now)
                record.setdefault("created_at", record["updated_at"])
        self.by_id: dict[str, dict[int, dict[str, Any]]] = {
            key: {r["id"]: r for r in d[key]}
            for key in (*DATASET_KEYS, "generic_tool_items", "webhook_hooks", "webhook_triggers")
            if key != "oauth_clients"
        }
        self.clients = {c["client_id"]: c for c in d["oauth_clients"]}
        self.children: dict[tuple[str, str], dict[int, list[dict[str, Any]]]] = {}
        for key, parent in (("projects", "company_id"), ("vendors", "company_id"), ("users", "company_id"),
                            ("custom_field_definitions", "company_id"), ("generic_tools", "company_id"),
                            ("prime_contracts", "project_id"), ("payment_applications", "project_id"),
                            ("payment_applications", "contract_id"), ("contract_payments", "contract_id"),
                            ("generic_tool_items", "generic_tool_id")):
            groups: dict[int, list[dict[str, Any]]] = {}
            for record in d[key]:
                groups.setdefault(self._parent(record, parent), []).append(record)
            self.children[(key, parent)] = groups
        for contract in d["prime_contracts"]:
            contract.setdefault("custom_fields", {})
            vendor = contract.get("vendor")
            if not vendor and contract.get("vendor_id"):
                contract["vendor"] = {"id": contract["vendor_id"]}
        self.service_users = {
            c["client_id"]: {"id": 7_900_001 + n, "login": f"{c['client_id']}@service-account.invalid",
                             "name": c.get("name") or c["client_id"]}
            for n, c in enumerate(d["oauth_clients"]) if c.get("kind") == "service_account"
        }

    @staticmethod
    def _parent(record: dict[str, Any], parent: str) -> int:
        if parent == "contract_id" and "contract_id" not in record:
            return int((record.get("contract") or {}).get("id") or 0)
        return int(record.get(parent) or 0)

    def children_of(self, key: str, parent: str, parent_id: int) -> list[dict[str, Any]]:
        return self.children[(key, parent)].get(parent_id, [])

    def add(self, key: str, record: dict[str, Any]) -> dict[str, Any]:
        self.dataset[key].append(record)
        self.by_id[key][record["id"]] = record
        for (k, parent), groups in self.children.items():
            if k == key:
                groups.setdefault(self._parent(record, parent), []).append(record)
        return record

    def next_id(self, key: str) -> int:
        ids = self.by_id[key]
        return max(ids, default=90_000_000) + 1 if ids else 90_000_001

    # --- time ---------------------------------------------------------------------------------------------
    def now(self) -> float:
        return float(self.clock())

    def now_iso(self) -> str:
        return datetime.fromtimestamp(self.now(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    # --- public helpers for tests and benchmarks ------------------------------------------------------------
    def touch(self, resource_name: str, ids: Iterable[int]) -> int:
        """Set ``updated_at`` of the given records of ``resource_name`` (a dataset key) to now; returns how many."""
        with self.lock:
            records = self.by_id.get(resource_name)
            if records is None:
                raise KeyError(f"unknown resource {resource_name!r}; use one of {', '.join(self.by_id)}")
            stamp = self.now_iso()
            touched = 0
            for rid in ids:
                record = records.get(int(rid))
                if record is not None:
                    record["updated_at"] = stamp
                    touched += 1
            return touched

    def remove(self, resource_name: str, ids: Iterable[int]) -> int:
        """Delete records of ``resource_name`` (a dataset key) as if deleted in Procore; returns how many."""
        with self.lock:
            if resource_name not in self.by_id:
                raise KeyError(f"unknown resource {resource_name!r}; use one of {', '.join(self.by_id)}")
            doomed = {int(rid) for rid in ids} & set(self.by_id[resource_name])
            if doomed:
                self.dataset[resource_name] = [r for r in self.dataset[resource_name] if r["id"] not in doomed]
                self.reindex()
            return len(doomed)

    def reindex(self) -> None:
        """Rebuild the lookup indexes after ``dataset`` lists were changed directly (hold ``lock`` meanwhile)."""
        with self.lock:
            self._reindex()

    def reset_counters(self) -> None:
        """Zero the request counters, the request log and every rate-limit window."""
        with self.lock:
            self.request_count = 0
            self.count_429 = 0
            self.request_log.clear()
            self.windows.clear()

    def issue_token(self, client_id: str = "demo-app-client", user_id: int | None = None) -> dict[str, Any]:
        """Mint a token response directly (tests that don't need the authorize dance). For a ``user`` client
        without ``user_id`` the first user who may see one of the client's companies is used."""
        with self.lock:
            client = self.clients[client_id]
            if client.get("kind") == "user" and user_id is None:
                user_id = next(u["id"] for u in self.dataset["users"]
                               if set(self.user_company_ids(u)) & set(client["company_ids"]))
            return self._token_response(client, user_id if client.get("kind") == "user" else None)

    # --- OAuth helpers -------------------------------------------------------------------------------------
    @staticmethod
    def user_company_ids(user: dict[str, Any]) -> list[int]:
        ids = list(user.get("company_ids") or [])
        if user.get("company_id") and user["company_id"] not in ids:
            ids.insert(0, user["company_id"])
        return ids

    def _token_response(self, client: dict[str, Any], user_id: int | None) -> dict[str, Any]:
        now = self.now()
        access = AccessToken(secrets.token_urlsafe(32), client["client_id"], user_id, now, now + self.token_ttl)
        body: dict[str, Any] = {"access_token": access.value, "token_type": "bearer", "expires_in": self.token_ttl,
                                "created_at": int(now)}
        if client.get("kind") == "user":
            refresh = RefreshToken(secrets.token_urlsafe(32), client["client_id"], user_id, access.value)
            access.refresh_token = refresh.value
            self.refresh_tokens[refresh.value] = refresh
            body["refresh_token"] = refresh.value
        self.access_tokens[access.value] = access
        return body

    def token_companies(self, token: AccessToken) -> list[int]:
        client = self.clients.get(token.client_id) or {}
        allowed = list(client.get("company_ids") or [])
        if token.user_id is None:
            return allowed
        user = self.by_id["users"].get(token.user_id)
        if user is None:
            return []
        mine = self.user_company_ids(user)
        return [cid for cid in allowed if cid in mine]

    def token_user(self, token: AccessToken) -> dict[str, Any]:
        if token.user_id is None:
            return self.service_users[token.client_id]
        user = self.by_id["users"][token.user_id]
        return {"id": user["id"], "login": user.get("login"), "name": user.get("name")}

    def rate_check(self, key: str) -> tuple[dict[str, str], bool]:
        """Count one request for ``key``; return the rate-limit headers and whether it is over the limit."""
        now = self.now()
        windows = self.windows.get(key)
        if windows is None:
            windows = (_Window(3600.0, self.hourly_limit, now), _Window(self.spike_window, self.spike_limit, now))
            self.windows[key] = windows
        for window in windows:
            window.roll(now)
        over = [w for w in windows if w.count >= w.limit]
        if not over:
            for window in windows:
                window.count += 1
        shown = max(over, key=lambda w: w.reset) if over else min(
            windows, key=lambda w: (w.remaining / w.limit if w.limit else 0.0, w.reset))
        headers = {
            "X-Rate-Limit-Limit": str(shown.limit),
            "X-Rate-Limit-Remaining": str(shown.remaining),
            "X-Rate-Limit-Reset": str(math.ceil(shown.reset)),
        }
        if over:
            headers["Retry-After"] = str(max(1, math.ceil(shown.reset - now)))
        return headers, bool(over)


# ======================================================================================================
# Request parsing helpers
# ======================================================================================================

def _int_param(name: str, value: Any, *, required: bool = True) -> int | None:
    if value is None or value == "":
        if required:
            raise _missing_param(name)
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ApiError(400, {"message": f"{name} must be an integer", "errors": {name: ["is invalid"]}}) from None


def _body() -> dict[str, Any]:
    if request.is_json:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise ApiError(400, {"message": "The request body must be a JSON object"})
        return data
    return request.form.to_dict()


def _filter_values(name: str) -> list[str]:
    values = request.args.getlist(f"filters[{name}]") + request.args.getlist(f"filters[{name}][]")
    out: list[str] = []
    for value in values:
        out.extend(part.strip() for part in value.split(",") if part.strip())
    return out


def _filter_ids(name: str) -> set[int] | None:
    values = _filter_values(name)
    if not values:
        return None
    try:
        return {int(v) for v in values}
    except ValueError:
        raise ApiError(400, {"message": f"filters[{name}] must be integers",
                             "errors": {f"filters[{name}]": ["is invalid"]}}) from None


def _time_range(name: str) -> tuple[datetime | None, datetime | None] | None:
    raw = request.args.get(f"filters[{name}]")
    if raw is None:
        return None
    try:
        if "..." in raw:
            low, high = raw.split("...", 1)
        else:
            low, high = raw, ""
        start = parse_timestamp(low) if low.strip() else None
        end = parse_timestamp(high) if high.strip() else None
        if end is not None and len(high.strip()) == 10:
            end = end.replace(hour=23, minute=59, second=59)
    except ValueError:
        raise ApiError(400, {"message": f"filters[{name}] must be an ISO 8601 range like "
                                        "2026-11-01T00:00:00Z...2026-11-30T23:59:59Z",
                             "errors": {f"filters[{name}]": ["is invalid"]}}) from None
    return start, end


def _apply_common(records: list[dict[str, Any]], extra: dict[str, Callable[[dict[str, Any]], Any]] | None = None,
                  ) -> list[dict[str, Any]]:
    out = records
    ids = _filter_ids("id")
    if ids is not None:
        out = [r for r in out if r["id"] in ids]
    for name in ("updated_at", "created_at"):
        window = _time_range(name)
        if window is not None:
            start, end = window
            kept = []
            for r in out:
                stamp = r.get(name)
                if not stamp:
                    continue
                moment = parse_timestamp(stamp)
                if (start is None or moment >= start) and (end is None or moment <= end):
                    kept.append(r)
            out = kept
    for name, getter in (extra or {}).items():
        wanted = _filter_values(name)
        if wanted:
            out = [r for r in out if str(getter(r)).lower() in {w.lower() for w in wanted}]
    sort = request.args.get("sort", "")
    if sort:
        key = sort.lstrip("-")
        if key in ("updated_at", "created_at", "id", "number", "billing_date", "date", "name"):
            out = sorted(out, key=lambda r: (r.get(key) is None, r.get(key) or "" if key != "id" else r["id"]),
                         reverse=sort.startswith("-"))
    elif out is records:
        out = list(records)
    return out


def _paginate(records: list[Any], *, default_per_page: int = DEFAULT_PER_PAGE) -> Response:
    try:
        page = max(1, int(request.args.get("page", 1)))
    except ValueError:
        page = 1
    try:
        per_page = int(request.args.get("per_page", default_per_page))
    except ValueError:
        per_page = default_per_page
    per_page = min(max(1, per_page), MAX_PER_PAGE)
    total = len(records)
    last = max(1, math.ceil(total / per_page))
    chunk = records[(page - 1) * per_page: page * per_page]
    response = jsonify(chunk)
    pairs = [(k, v) for k, v in request.args.items(multi=True) if k not in ("page", "per_page")]

    def link(n: int) -> str:
        return f"{request.base_url}?{urlencode([*pairs, ('page', n), ('per_page', per_page)])}"

    links = [f'<{link(1)}>; rel="first"']
    if 1 < page <= last + 1:
        links.append(f'<{link(min(page - 1, last))}>; rel="prev"')
    if page < last:
        links.append(f'<{link(page + 1)}>; rel="next"')
    links.append(f'<{link(last)}>; rel="last"')
    response.headers["Total"] = str(total)
    response.headers["Per-Page"] = str(per_page)
    response.headers["Link"] = ", ".join(links)
    return response


# ======================================================================================================
# The app
# ======================================================================================================

CONSENT_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Procore stand-in – authorize {{ client_name }}</title>
<style>
 body{font-family:system-ui,sans-serif;background:#f4f5f6;margin:0;padding:40px}
 main{max-width:460px;margin:auto;background:#fff;border-radius:6px;padding:24px 28px;
      box-shadow:0 1px 4px rgba(0,0,0,.15)}
 h1{font-size:20px;margin-top:0} .brand{color:#f47e42;font-weight:700}
 label{display:block;padding:8px;border:1px solid #d6dadc;border-radius:4px;margin:6px 0;cursor:pointer}
 button{font-size:15px;padding:8px 18px;border-radius:4px;border:0;margin-right:8px;cursor:pointer}
 .allow{background:#f47e42;color:#fff} .deny{background:#e4e6e8}
 small{color:#6a767c}
</style></head>
<body><main>
<p class="brand">Procore (local stand-in)</p>
<h1>Authorize {{ client_name }}</h1>
<p><strong>{{ client_name }}</strong> wants to access your Procore data. Sign in as:</p>
<form method="post" action="{{ action }}">
 {% for name, value in hidden %}<input type="hidden" name="{{ name }}" value="{{ value }}">{% endfor %}
 {% for user in users %}
 <label><input type="radio" name="user_id" value="{{ user.id }}" {% if loop.first %}checked{% endif %}>
  {{ user.name }} <small>{{ user.login }} · {{ user.job_title or "" }} · {{ user.companies }}</small></label>
 {% endfor %}
 <p><button class="allow" type="submit" name="decision" value="allow">Allow</button>
 <button class="deny" type="submit" name="decision" value="deny">Deny</button></p>
</form>
<small>This page imitates Procore's login and consent screen; no password is asked.</small>
</main></body></html>
"""

ERROR_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Authorization error</title></head>
<body><h1>Authorization error</h1><p>{{ error }}: {{ description }}</p></body></html>"""

AUTHORIZE_PARAMS = ("response_type", "client_id", "redirect_uri", "state", "code_challenge",
                    "code_challenge_method", "response_mode", "scope")


def create_sandbox_app(
    dataset: dict[str, Any],
    *,
    hourly_limit: int = 3600,
    spike_limit: int = 100,
    spike_window: float = 10.0,
    token_ttl: int = 5400,
    clock: Callable[[], float] = time.time,
) -> Flask:
    """A Flask app imitating Procore's login host and REST API over ``dataset``.

    The dataset is validated and deep-copied (the caller's dict is never mutated); the live records are
    ``app.extensions["sandbox"].dataset``. Rate limits apply per OAuth client to REST requests: at most
    ``hourly_limit`` an hour and ``spike_limit`` per ``spike_window`` seconds. Access tokens live ``token_ttl``
    seconds; ``clock`` (Unix seconds) lets tests move time.
    """
    data = validate_dataset(json.loads(json.dumps(dataset)))
    state = SandboxState(data, hourly_limit=hourly_limit, spike_limit=spike_limit, spike_window=spike_window,
                         token_ttl=token_ttl, clock=clock)
    app = Flask(__name__)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.json.compact = True  # type: ignore[attr-defined]
    app.extensions["sandbox"] = state

    # --- locking, auth, company header, rate limits ---------------------------------------------------------
    @app.before_request
    def _enter() -> Response | None:
        state.lock.acquire()
        g.sandbox_locked = True
        if not request.path.startswith("/rest/"):
            return None
        state.request_count += 1
        token = _bearer_token()
        record = state.access_tokens.get(token) if token else None
        headers, over = state.rate_check(record.client_id if record else "anonymous")
        g.rate_headers = headers
        if over:
            state.count_429 += 1
            raise ApiError(429, {"message": "Rate limit exceeded. Try again later."}, headers)
        if record is None:
            raise _unauthorized("The access token is invalid" if token else "No access token was provided")
        if record.revoked:
            raise _unauthorized("The access token was revoked")
        if record.expires_at <= state.now():
            raise _unauthorized("The access token expired")
        g.token = record
        g.companies = state.token_companies(record)
        if request.path.rstrip("/") in EXEMPT_FROM_COMPANY_HEADER:
            g.company_id = None
            return None
        raw = request.headers.get("Procore-Company-Id", "").strip()
        if not raw:
            raise _message(403, "Missing Procore-Company-Id header!")
        try:
            company_id = int(raw)
        except ValueError:
            raise _message(403, "Invalid Procore-Company-Id header") from None
        if company_id not in g.companies:
            client = state.clients.get(record.client_id) or {}
            if company_id not in (client.get("company_ids") or []):
                raise _message(403, "App is not connected to this company")
            raise _message(403, "You do not have access to this company")
        g.company_id = company_id
        return None

    @app.after_request
    def _after(response: Response) -> Response:
        if request.path.startswith("/rest/"):
            for name, value in (getattr(g, "rate_headers", None) or {}).items():
                response.headers.setdefault(name, value)
            state.request_log.append((request.method, request.full_path.rstrip("?"), response.status_code))
        return response

    @app.teardown_request
    def _leave(_exc: BaseException | None) -> None:
        if g.pop("sandbox_locked", False):
            state.lock.release()

    @app.errorhandler(ApiError)
    def _api_error(error: ApiError) -> Response:
        response = jsonify(error.body)
        response.status_code = error.status
        for name, value in error.headers.items():
            response.headers[name] = value
        return response

    @app.errorhandler(404)
    def _not_found(error: Exception) -> Any:
        if request.path.startswith("/rest/"):
            return jsonify({"message": "Not Found"}), 404
        return error

    @app.errorhandler(405)
    def _not_allowed(error: Exception) -> Any:
        if request.path.startswith("/rest/"):
            return jsonify({"message": "Method Not Allowed"}), 405
        return error

    def _bearer_token() -> str | None:
        header = request.headers.get("Authorization", "")
        if header.lower().startswith("bearer "):
            return header[7:].strip() or None
        return request.args.get("access_token") or None

    def _unauthorized(text: str) -> ApiError:
        return ApiError(401, {"message": text, "error": "invalid_token"},
                        {"WWW-Authenticate": f'Bearer realm="Doorkeeper", error="invalid_token", '
                                             f'error_description="{text}"'})

    # --- scoping helpers ------------------------------------------------------------------------------------
    def company_param(value: Any, name: str = "company_id") -> int:
        company_id = _int_param(name, value)
        assert company_id is not None
        if company_id != g.company_id:
            if company_id in state.by_id["companies"] and company_id not in g.companies:
                raise _message(403, "You do not have access to this company")
            raise _message(403, f"{name} {company_id} does not match the Procore-Company-Id header")
        return company_id

    def project_scope(value: Any, tool: str | None = None) -> dict[str, Any]:
        """The project named by ``value``, if the token may see it (and, with ``tool``, that Procore tool on it:
        a user record may carry ``denied_tools: {"prime_contracts": [project ids]}``)."""
        project_id = _int_param("project_id", value)
        project = state.by_id["projects"].get(project_id or 0)
        if project is None:
            raise _message(404, "Project not found")
        if project.get("company_id") != g.company_id:
            raise _message(403, "This project belongs to another company than the Procore-Company-Id header")
        client = state.clients.get(g.token.client_id) or {}
        if client.get("project_ids") is not None and project["id"] not in client["project_ids"]:
            raise _message(403, "The app has not been granted access to this project")
        if tool and g.token.user_id is not None:
            user = state.by_id["users"].get(g.token.user_id) or {}
            if project["id"] in ((user.get("denied_tools") or {}).get(tool) or []):
                tool_name = TOOL_NAMES.get(tool, tool)
                raise _message(403, f"You do not have permission to access {tool_name} on this project")
        return project

    def contract_in(project: dict[str, Any], contract_id: Any) -> dict[str, Any]:
        cid = _int_param("contract_id", contract_id)
        contract = state.by_id["prime_contracts"].get(cid or 0)
        if contract is None or contract.get("project_id") != project["id"]:
            raise _message(404, "Prime contract not found")
        return contract

    # --- serializers ----------------------------------------------------------------------------------------
    def vendor_out(vendor: dict[str, Any], *, show: bool = False, view: str = "normal") -> dict[str, Any]:
        if view == "compact":
            return {"id": vendor["id"], "name": vendor.get("name"), "is_active": vendor.get("is_active", True)}
        out = dict(vendor)
        if not show:
            out.pop("invoice_contacts", None)
        return out

    def vendor_ref(contract: dict[str, Any]) -> dict[str, Any] | None:
        ref = contract.get("vendor")
        if not ref:
            return None
        vendor = state.by_id["vendors"].get(ref.get("id"))
        if vendor is None:
            return ref
        out = vendor_out(vendor)
        out.pop("company_id", None)
        return out

    def matched_payments(app_record: dict[str, Any]) -> list[dict[str, Any]]:
        contract_id = SandboxState._parent(app_record, "contract_id")
        invoice = app_record.get("invoice_number")
        number = app_record.get("number")
        return [p for p in state.children_of("contract_payments", "contract_id", contract_id)
                if (number is not None and p.get("draw_request_number") == number)
                or (invoice and p.get("invoice_number") == invoice)]

    def pay_app_out(app_record: dict[str, Any], *, show: bool = False) -> dict[str, Any]:
        out = dict(app_record)
        out["total_amount_paid"] = _money(sum((_dec(p.get("amount")) for p in matched_payments(app_record)),
                                              Decimal(0)))
        if show:
            out["g703"] = app_record.get("g703") or _g703(app_record)
        else:
            out.pop("g703", None)
        return out

    def payment_received(p: dict[str, Any]) -> dict[str, Any]:
        return {k: p.get(k) for k in ("id", "amount", "date", "check_number", "draw_request_number",
                                      "invoice_number", "notes", "payment_number")}

    def contract_out(contract: dict[str, Any], *, show: bool = False) -> dict[str, Any]:
        out = {k: v for k, v in contract.items() if k not in SHOW_ONLY_CONTRACT_FIELDS}
        out["vendor"] = vendor_ref(contract)
        out.pop("vendor_id", None)
        out["custom_fields"] = contract.get("custom_fields") or {}
        if not show:
            return out
        payments = sorted(state.children_of("contract_payments", "contract_id", contract["id"]),
                          key=lambda p: (p.get("date") or "", p["id"]))
        apps = state.children_of("payment_applications", "contract_id", contract["id"])
        revised = _dec(contract.get("grand_total")) + _dec(contract.get("approved_change_orders"))
        invoiced = sum((_dec((a.get("g702") or {}).get("current_payment_due")) for a in apps
                        if a.get("status") == "approved"), Decimal(0))
        paid = sum((_dec(p.get("amount")) for p in payments), Decimal(0))
        out.update({
            "payment_terms": contract.get("payment_terms"),
            "revised_contract_amount": _money(revised),
            "owner_invoices_amount": _money(invoiced),
            "total_payments": _money(paid),
            "outstanding_balance": _money(invoiced - paid),
            "percentage_paid": _money(paid / revised * 100) if revised else "0.00",
            "pending_change_orders_amount": contract.get("pending_change_orders_amount") or "0.00",
            "allow_payment_applications": contract.get("allow_payment_applications", True),
            "allow_payments": contract.get("allow_payments", True),
            "payments_received": [payment_received(p) for p in payments],
        })
        return out

    # --- OAuth -----------------------------------------------------------------------------------------------
    def oauth_error(status: int, error: str, description: str) -> ApiError:
        return ApiError(status, {"error": error, "error_description": description},
                        {"Cache-Control": "no-store", "Pragma": "no-cache"})

    def _redirect_with(uri: str, params: dict[str, str], fragment: bool) -> Response:
        parts = urlsplit(uri)
        clean = {k: v for k, v in params.items() if v is not None}
        if fragment:
            return redirect(urlunsplit((*parts[:4], urlencode(clean))), code=302)
        query = parse_qsl(parts.query, keep_blank_values=True) + list(clean.items())
        return redirect(urlunsplit((parts[0], parts[1], parts[2], urlencode(query), parts[4])), code=302)

    def _authorize_request(params: dict[str, str]) -> tuple[dict[str, Any], str] | Response:
        client = state.clients.get(params.get("client_id") or "")
        if client is None or client.get("kind") != "user":
            return Response(render_template_string(ERROR_PAGE, error="invalid_client",
                                                   description=INVALID_CLIENT_DESCRIPTION), 401)
        uris = client.get("redirect_uris") or []
        redirect_uri = params.get("redirect_uri") or (uris[0] if len(uris) == 1 else "")
        if redirect_uri not in uris:
            return Response(render_template_string(
                ERROR_PAGE, error="invalid_redirect_uri",
                description="The requested redirect uri is malformed or doesn't match client redirect URI."), 400)
        fragment = params.get("response_mode") == "fragment"
        state_param = params.get("state")
        if params.get("response_type") != "code":
            return _redirect_with(redirect_uri, {
                "error": "unsupported_response_type",
                "error_description": "The authorization server does not support this response type.",
                "state": state_param}, fragment)
        if params.get("code_challenge") and params.get("code_challenge_method", "plain") not in ("S256", "plain"):
            return _redirect_with(redirect_uri, {
                "error": "invalid_request",
                "error_description": "The code challenge method must be plain or S256.",
                "state": state_param}, fragment)
        return client, redirect_uri

    @app.get("/oauth/authorize")
    def oauth_authorize() -> Any:
        params = {k: request.args.get(k, "") for k in AUTHORIZE_PARAMS if request.args.get(k) is not None}
        checked = _authorize_request(params)
        if isinstance(checked, Response):
            return checked
        client, redirect_uri = checked
        params["redirect_uri"] = redirect_uri
        companies = state.by_id["companies"]
        users = []
        for user in state.dataset["users"]:
            visible = [cid for cid in state.user_company_ids(user) if cid in client["company_ids"]]
            if visible:
                users.append({**user, "companies": ", ".join(companies[c]["name"] for c in visible)})
        return render_template_string(CONSENT_PAGE, client_name=client.get("name") or client["client_id"],
                                      users=users, hidden=sorted(params.items()), action=request.path)

    @app.post("/oauth/authorize")
    def oauth_authorize_decision() -> Any:
        form = request.form
        params = {k: form.get(k, "") for k in AUTHORIZE_PARAMS if form.get(k) is not None}
        checked = _authorize_request(params)
        if isinstance(checked, Response):
            return checked
        client, redirect_uri = checked
        fragment = params.get("response_mode") == "fragment"
        if form.get("decision", "allow") != "allow":
            return _redirect_with(redirect_uri, {
                "error": "access_denied",
                "error_description": "The resource owner or authorization server denied the request.",
                "state": params.get("state")}, fragment)
        user = None
        if form.get("user_id"):
            try:
                user = state.by_id["users"].get(int(form["user_id"]))
            except ValueError:
                user = None
        elif form.get("login"):
            user = next((u for u in state.dataset["users"] if u.get("login") == form["login"]), None)
        if user is None or not set(state.user_company_ids(user)) & set(client["company_ids"]):
            return Response(render_template_string(ERROR_PAGE, error="invalid_request",
                                                   description="Choose a user who may use this app."), 400)
        code = AuthCode(secrets.token_urlsafe(24), client["client_id"], user["id"], redirect_uri,
                        params.get("code_challenge") or None,
                        (params.get("code_challenge_method") or "plain") if params.get("code_challenge") else None,
                        state.now() + CODE_TTL)
        state.codes[code.code] = code
        return _redirect_with(redirect_uri, {"code": code.code, "state": params.get("state")}, fragment)

    def _oauth_params() -> dict[str, str]:
        params: dict[str, str] = {k: v for k, v in request.form.items()}
        if request.is_json:
            body = request.get_json(silent=True)
            if isinstance(body, dict):
                params.update({k: str(v) for k, v in body.items() if v is not None})
        for k, v in request.args.items():
            params.setdefault(k, v)
        return params

    def _client_auth(params: dict[str, str]) -> dict[str, Any]:
        auth = request.authorization
        if auth is not None and auth.type == "basic" and auth.username:
            client_id, secret = auth.username, auth.password or ""
        else:
            client_id, secret = params.get("client_id", ""), params.get("client_secret", "")
        client = state.clients.get(client_id)
        if client is None or not hmac.compare_digest(str(client["client_secret"]).encode(), secret.encode()):
            raise oauth_error(401, "invalid_client", INVALID_CLIENT_DESCRIPTION)
        return client

    def _revoke_access(value: str | None) -> None:
        token = state.access_tokens.get(value or "")
        if token is not None:
            token.revoked = True
            refresh = state.refresh_tokens.get(token.refresh_token or "")
            if refresh is not None:
                refresh.revoked = True

    @app.post("/oauth/token")
    def oauth_token() -> Any:
        params = _oauth_params()
        client = _client_auth(params)
        grant = params.get("grant_type", "")
        if grant == "authorization_code":
            code = state.codes.get(params.get("code", ""))
            if code is None or code.client_id != client["client_id"]:
                raise oauth_error(400, "invalid_grant", INVALID_GRANT_DESCRIPTION)
            if code.used:
                for value in code.tokens:  # a replayed code revokes what it issued (RFC 6749 §4.1.2)
                    _revoke_access(value)
                raise oauth_error(400, "invalid_grant", INVALID_GRANT_DESCRIPTION)
            if code.expires_at <= state.now():
                raise oauth_error(400, "invalid_grant", INVALID_GRANT_DESCRIPTION)
            if not params.get("redirect_uri"):
                raise oauth_error(400, "invalid_request", "Missing required parameter: redirect_uri.")
            if params["redirect_uri"] != code.redirect_uri:
                raise oauth_error(400, "invalid_grant", INVALID_GRANT_DESCRIPTION)
            if code.code_challenge:
                verifier = params.get("code_verifier", "")
                if not verifier:
                    raise oauth_error(400, "invalid_request", "Missing required parameter: code_verifier.")
                if code.code_challenge_method == "S256":
                    computed = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
                    ok = hmac.compare_digest(computed.decode(), code.code_challenge)
                else:
                    ok = hmac.compare_digest(verifier, code.code_challenge)
                if not ok:
                    raise oauth_error(400, "invalid_grant", INVALID_GRANT_DESCRIPTION)
            code.used = True
            body = state._token_response(client, code.user_id)
            code.tokens.append(body["access_token"])
        elif grant == "refresh_token":
            refresh = state.refresh_tokens.get(params.get("refresh_token", ""))
            if refresh is None or refresh.used or refresh.revoked or refresh.client_id != client["client_id"]:
                raise oauth_error(401, "invalid_grant", INVALID_GRANT_DESCRIPTION)
            refresh.used = True
            old = state.access_tokens.get(refresh.access_token)
            if old is not None:
                old.revoked = True
            body = state._token_response(client, refresh.user_id)
        elif grant == "client_credentials":
            if client.get("kind") != "service_account":
                raise oauth_error(400, "unauthorized_client",
                                  "The client is not authorized to perform this request using this method.")
            body = state._token_response(client, None)
        else:
            raise oauth_error(400, "unsupported_grant_type",
                              "The authorization grant type is not supported by the authorization server.")
        response = jsonify(body)
        response.headers["Cache-Control"] = "no-store"
        response.headers["Pragma"] = "no-cache"
        return response

    @app.post("/oauth/revoke")
    def oauth_revoke() -> Any:
        params = _oauth_params()
        value = params.get("token", "")
        if value in state.access_tokens:
            _revoke_access(value)
        elif value in state.refresh_tokens:
            refresh = state.refresh_tokens[value]
            refresh.revoked = True
            _revoke_access(refresh.access_token)
        return jsonify({})

    @app.get("/oauth/token/info")
    def oauth_token_info() -> Any:
        value = _bearer_token()
        token = state.access_tokens.get(value or "")
        if token is None or token.revoked or token.expires_at <= state.now():
            raise ApiError(401, {"error": "invalid_token", "error_description": "The access token is invalid"})
        return jsonify({
            "resource_owner_id": state.token_user(token)["id"],
            "scopes": [],
            "expires_in_seconds": max(0, int(token.expires_at - state.now())),
            "application": {"uid": token.client_id},
            "created_at": int(token.created_at),
        })

    # --- REST: identity and directory -------------------------------------------------------------------------
    @app.get("/rest/v1.0/me")
    def me() -> Any:
        return jsonify(state.token_user(g.token))

    @app.get("/rest/v1.0/companies")
    def companies() -> Any:
        records = [{"id": c["id"], "name": c.get("name"), "is_active": c.get("is_active", True),
                    "logo_url": c.get("logo_url"), "my_company": c.get("my_company", True)}
                   for cid in g.companies if (c := state.by_id["companies"].get(cid))]
        return _paginate(records)

    @app.get("/rest/v1.0/projects")
    def projects() -> Any:
        company_id = company_param(request.args.get("company_id"))
        records = state.children_of("projects", "company_id", company_id)
        client = state.clients.get(g.token.client_id) or {}
        if client.get("project_ids") is not None:
            records = [p for p in records if p["id"] in client["project_ids"]]
        return _paginate(_apply_common(records, {"active": lambda r: r.get("active", True)}))

    @app.get("/rest/v1.0/projects/<int:project_id>")
    def project_show(project_id: int) -> Any:
        company_param(request.args.get("company_id"))
        return jsonify(project_scope(project_id))

    @app.get("/rest/v1.0/vendors")
    def vendors() -> Any:
        company_id = company_param(request.args.get("company_id"))
        view = request.args.get("view", "normal")
        records = _apply_common(state.children_of("vendors", "company_id", company_id),
                                {"is_active": lambda r: r.get("is_active", True)})
        return _paginate([vendor_out(v, view=view) for v in records])

    @app.get("/rest/v1.0/vendors/<int:vendor_id>")
    def vendor_show(vendor_id: int) -> Any:
        company_id = company_param(request.args.get("company_id"))
        vendor = state.by_id["vendors"].get(vendor_id)
        if vendor is None or vendor.get("company_id") != company_id:
            raise _message(404, "Vendor not found")
        return jsonify(vendor_out(vendor, show=True))

    # --- REST: prime contracts ------------------------------------------------------------------------------
    @app.get("/rest/v1.0/prime_contracts")
    def prime_contracts() -> Any:
        project = project_scope(request.args.get("project_id"), tool="prime_contracts")
        records = _apply_common(state.children_of("prime_contracts", "project_id", project["id"]),
                                {"status": lambda r: r.get("status"),
                                 "vendor_id": lambda r: (r.get("vendor") or {}).get("id")})
        return _paginate([contract_out(c) for c in records])

    @app.get("/rest/v1.0/prime_contract/<int:contract_id>")
    def prime_contract_show(contract_id: int) -> Any:
        project = project_scope(request.args.get("project_id"), tool="prime_contracts")
        return jsonify(contract_out(contract_in(project, contract_id), show=True))

    @app.patch("/rest/v1.0/prime_contract/<int:contract_id>")
    def prime_contract_update(contract_id: int) -> Any:
        body = _body()
        project = project_scope(request.args.get("project_id") or body.get("project_id"), tool="prime_contracts")
        contract = contract_in(project, contract_id)
        changes = body.get("prime_contract")
        if not isinstance(changes, dict) or not changes:
            raise _missing_param("prime_contract")
        errors: dict[str, list[str]] = {}
        updates: dict[str, Any] = {}
        custom = _custom_field_values(changes, project["company_id"], errors)
        for name in PATCHABLE_CONTRACT_FIELDS:
            if name not in changes:
                continue
            value = changes[name]
            if name == "status" and value not in CONTRACT_STATUSES:
                errors.setdefault(name, []).append(f"must be one of {', '.join(CONTRACT_STATUSES)}")
            elif name in ("private", "executed") and not isinstance(value, bool):
                errors.setdefault(name, []).append("must be true or false")
            elif name not in ("private", "executed") and value is not None and not isinstance(value, str):
                errors.setdefault(name, []).append("must be a string")
            else:
                updates[name] = value
        if errors:
            raise _invalid(errors)
        contract.update(updates)
        contract.setdefault("custom_fields", {}).update(custom)
        contract["updated_at"] = state.now_iso()
        return jsonify(contract_out(contract, show=True))

    def _custom_field_values(changes: dict[str, Any], company_id: int, errors: dict[str, list[str]],
                             ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        definitions = {d["id"]: d for d in state.children_of("custom_field_definitions", "company_id", company_id)}
        for key, value in changes.items():
            match = re.fullmatch(r"custom_field_(\d+)", key)
            if not match:
                continue
            definition = definitions.get(int(match.group(1)))
            if definition is None:
                errors.setdefault(key, []).append("is not a custom field definition of this company")
                continue
            data_type = definition.get("data_type", "string")
            problem = _custom_value_problem(data_type, value)
            if problem:
                errors.setdefault(key, []).append(problem)
                continue
            out[key] = {"data_type": data_type, "value": value}
        return out

    # --- REST: payment applications -------------------------------------------------------------------------
    def _pay_app_list(records: list[dict[str, Any]]) -> Response:
        extra = {"status": lambda r: r.get("status"),
                 "contract_id": lambda r: SandboxState._parent(r, "contract_id")}
        out = _apply_common(records, extra)
        is_last = request.args.get("filters[is_last]")
        if is_last is not None and is_last.lower() in ("true", "1"):
            latest: dict[int, dict[str, Any]] = {}
            for r in out:
                cid = SandboxState._parent(r, "contract_id")
                if cid not in latest or (r.get("number") or 0) > (latest[cid].get("number") or 0):
                    latest[cid] = r
            out = [r for r in out if latest.get(SandboxState._parent(r, "contract_id")) is r]
        return _paginate([pay_app_out(a) for a in out], default_per_page=PAY_APP_PER_PAGE)

    @app.get("/rest/v1.0/payment_applications")
    def payment_applications() -> Any:
        project = project_scope(request.args.get("project_id"), tool="prime_contracts")
        return _pay_app_list(state.children_of("payment_applications", "project_id", project["id"]))

    @app.get("/rest/v1.0/prime_contracts/<int:contract_id>/payment_applications")
    def contract_payment_applications(contract_id: int) -> Any:
        project = project_scope(request.args.get("project_id"), tool="prime_contracts")
        contract = contract_in(project, contract_id)
        return _pay_app_list(state.children_of("payment_applications", "contract_id", contract["id"]))

    @app.get("/rest/v1.0/payment_applications/<int:app_id>")
    def payment_application_show(app_id: int) -> Any:
        project = project_scope(request.args.get("project_id"), tool="prime_contracts")
        record = state.by_id["payment_applications"].get(app_id)
        if record is None or record.get("project_id") != project["id"]:
            raise _message(404, "Payment application not found")
        return jsonify(pay_app_out(record, show=True))

    # --- REST: contract payments ----------------------------------------------------------------------------
    @app.get("/rest/v1.0/contract_payments")
    def contract_payments() -> Any:
        project = project_scope(request.args.get("project_id"), tool="prime_contracts")
        contract = contract_in(project, request.args.get("contract_id"))
        records = _apply_common(state.children_of("contract_payments", "contract_id", contract["id"]))
        return _paginate(records)

    @app.post("/rest/v1.0/contract_payments")
    def contract_payment_create() -> Any:
        body = _body()
        project = project_scope(body.get("project_id") or request.args.get("project_id"), tool="prime_contracts")
        contract = contract_in(project, body.get("contract_id") or request.args.get("contract_id"))
        fields = body.get("contract_payment")
        if not isinstance(fields, dict) or not fields:
            raise _missing_param("contract_payment")
        errors: dict[str, list[str]] = {}
        amount = fields.get("amount")
        if amount in (None, ""):
            errors["amount"] = ["can't be blank"]
        elif isinstance(amount, bool) or not isinstance(amount, str | int | float) or _bad_decimal(amount):
            errors["amount"] = ["is not a number"]
        paid_on = fields.get("date")
        if paid_on in (None, ""):
            errors["date"] = ["can't be blank"]
        elif not _is_date(paid_on):
            errors["date"] = ["must be a date YYYY-MM-DD"]
        method = fields.get("payment_method")
        if method not in (None, "") and method not in PAYMENT_METHODS:
            errors["payment_method"] = [f"must be one of {', '.join(PAYMENT_METHODS)}"]
        draw = fields.get("draw_request_number")
        if draw not in (None, ""):
            try:
                draw = int(draw)
            except (TypeError, ValueError):
                errors["draw_request_number"] = ["is not a number"]
        else:
            draw = None
        for name in ("check_number", "invoice_number", "notes"):
            if fields.get(name) is not None and not isinstance(fields.get(name), str | int):
                errors[name] = ["must be a string"]
        if errors:
            raise _invalid(errors)
        existing = state.children_of("contract_payments", "contract_id", contract["id"])
        now = state.now_iso()
        record = {
            "id": state.next_id("contract_payments"), "project_id": project["id"], "contract_id": contract["id"],
            "amount": _money(Decimal(str(amount))), "date": paid_on,
            "payment_method": method or None,
            "check_number": str(fields["check_number"]) if fields.get("check_number") is not None else None,
            "draw_request_number": draw,
            "invoice_number": str(fields["invoice_number"]) if fields.get("invoice_number") else None,
            "notes": fields.get("notes") or "", "payment_number": str(len(existing) + 1), "status": "approved",
            "date_payment_settled": None, "created_at": now, "updated_at": now,
        }
        state.add("contract_payments", record)
        return jsonify(record), 201

    # --- REST: custom fields, generic tools (correspondence) ------------------------------------------------
    @app.get("/rest/v1.1/companies/<int:company_id>/custom_field_definitions")
    @app.get("/rest/v1.0/companies/<int:company_id>/custom_field_definitions")
    def custom_field_definitions(company_id: int) -> Any:
        company_param(company_id)
        records = _apply_common(state.children_of("custom_field_definitions", "company_id", company_id),
                                {"holder_type": lambda r: r.get("holder_type")})
        return _paginate(records)

    @app.get("/rest/v1.0/companies/<int:company_id>/generic_tools")
    def generic_tools(company_id: int) -> Any:
        company_param(company_id)
        records = [{k: v for k, v in t.items() if k != "statuses"}
                   for t in _apply_common(state.children_of("generic_tools", "company_id", company_id))]
        return _paginate(records)

    def tool_in(project: dict[str, Any], tool_id: int) -> dict[str, Any]:
        tool = state.by_id["generic_tools"].get(tool_id)
        if tool is None or tool.get("company_id") != project.get("company_id"):
            raise _message(404, "Generic tool not found")
        return tool

    def tool_statuses(tool: dict[str, Any]) -> list[dict[str, str]]:
        return tool.get("statuses") or [{"status_name": "Draft", "status": "Draft"},
                                        {"status_name": "Open", "status": "Open"},
                                        {"status_name": "Closed", "status": "Closed"}]

    def company_user(company_id: int, value: Any, field_name: str, errors: dict[str, list[str]],
                     ) -> dict[str, Any] | None:
        try:
            user = state.by_id["users"].get(int(value))
        except (TypeError, ValueError):
            user = None
        if user is None or company_id not in state.user_company_ids(user):
            errors.setdefault(field_name, []).append(f"{value!r} is not a user of this company")
            return None
        return {"id": user["id"], "login": user.get("login"), "name": user.get("name")}

    def _item_fields(tool: dict[str, Any], project: dict[str, Any], fields: dict[str, Any], *, creating: bool,
                     ) -> dict[str, Any]:
        errors: dict[str, list[str]] = {}
        updates: dict[str, Any] = {}
        company_id = project["company_id"]
        if creating or "title" in fields:
            title = fields.get("title")
            if not isinstance(title, str) or not title.strip():
                errors["title"] = ["can't be blank"]
            else:
                updates["title"] = title
        if "description" in fields:
            if fields["description"] is not None and not isinstance(fields["description"], str):
                errors["description"] = ["must be a string"]
            else:
                updates["description"] = fields["description"]
        statuses = {s["status_name"]: s["status"] for s in tool_statuses(tool)}
        if "status" in fields or creating:
            status = fields.get("status") or ("Open" if "Open" in statuses else next(iter(statuses)))
            if status not in statuses:
                errors["status"] = [f"must be one of {', '.join(statuses)}"]
            else:
                updates["status"] = status
                updates["status_type"] = statuses[status]
        if "due_date" in fields:
            if fields["due_date"] not in (None, "") and not _is_date(fields["due_date"]):
                errors["due_date"] = ["must be a date YYYY-MM-DD"]
            else:
                updates["due_date"] = fields["due_date"] or None
        for flag in ("private",):
            if flag in fields:
                if not isinstance(fields[flag], bool):
                    errors[flag] = ["must be true or false"]
                else:
                    updates[flag] = fields[flag]
        if "received_from_id" in fields:
            updates["received_from"] = (company_user(company_id, fields["received_from_id"], "received_from_id",
                                                     errors) if fields["received_from_id"] is not None else None)
        for name, target in (("assignee_ids", "assignees"), ("distribution_member_ids", "distribution_members")):
            if name in fields:
                values = fields[name]
                if not isinstance(values, list):
                    errors[name] = ["must be a list of user ids"]
                    continue
                people = [company_user(company_id, v, name, errors) for v in values]
                updates[target] = [p for p in people if p]
        custom = _custom_field_values(fields, company_id, errors)
        if errors:
            raise _invalid(errors)
        if custom:
            updates["custom_fields"] = custom
        return updates

    @app.get("/rest/v1.0/projects/<int:project_id>/generic_tools/<int:tool_id>/generic_tool_items")
    def generic_tool_items(project_id: int, tool_id: int) -> Any:
        project = project_scope(project_id)
        tool = tool_in(project, tool_id)
        records = [i for i in state.children_of("generic_tool_items", "generic_tool_id", tool["id"])
                   if i.get("project_id") == project["id"]]
        return _paginate(_apply_common(records, {"status": lambda r: r.get("status")}))

    @app.get("/rest/v1.0/projects/<int:project_id>/generic_tools/<int:tool_id>/generic_tool_items/"
             "available_statuses")
    def generic_tool_statuses(project_id: int, tool_id: int) -> Any:
        tool = tool_in(project_scope(project_id), tool_id)
        return _paginate([{"name": s["status_name"], "status": s["status"]} for s in tool_statuses(tool)])

    def item_in(project: dict[str, Any], tool: dict[str, Any], item_id: int) -> dict[str, Any]:
        item = state.by_id["generic_tool_items"].get(item_id)
        if item is None or item.get("project_id") != project["id"] or item.get("generic_tool_id") != tool["id"]:
            raise _message(404, "Generic tool item not found")
        return item

    @app.get("/rest/v1.0/projects/<int:project_id>/generic_tools/<int:tool_id>/generic_tool_items/<int:item_id>")
    def generic_tool_item_show(project_id: int, tool_id: int, item_id: int) -> Any:
        project = project_scope(project_id)
        return jsonify(item_in(project, tool_in(project, tool_id), item_id))

    @app.post("/rest/v1.0/projects/<int:project_id>/generic_tools/<int:tool_id>/generic_tool_items")
    def generic_tool_item_create(project_id: int, tool_id: int) -> Any:
        project = project_scope(project_id)
        tool = tool_in(project, tool_id)
        fields = _body().get("generic_tool_item")
        if not isinstance(fields, dict) or not fields:
            raise _missing_param("generic_tool_item")
        updates = _item_fields(tool, project, fields, creating=True)
        now = state.now_iso()
        siblings = [i for i in state.children_of("generic_tool_items", "generic_tool_id", tool["id"])
                    if i.get("project_id") == project["id"]]
        record: dict[str, Any] = {
            "id": state.next_id("generic_tool_items"), "project_id": project["id"], "generic_tool_id": tool["id"],
            "generic_tool": {"id": tool["id"], "title": tool.get("title")}, "number": str(len(siblings) + 1),
            "title": "", "description": None, "status": "Open", "status_type": "Open", "due_date": None,
            "private": False, "created_by": state.token_user(g.token), "received_from": None, "assignees": [],
            "distribution_members": [], "custom_fields": {}, "created_at": now, "updated_at": now,
        }
        record.update(updates)
        state.add("generic_tool_items", record)
        return jsonify(record), 201

    @app.patch("/rest/v1.0/projects/<int:project_id>/generic_tools/<int:tool_id>/generic_tool_items/<int:item_id>")
    def generic_tool_item_update(project_id: int, tool_id: int, item_id: int) -> Any:
        project = project_scope(project_id)
        tool = tool_in(project, tool_id)
        item = item_in(project, tool, item_id)
        fields = _body().get("generic_tool_item")
        if not isinstance(fields, dict) or not fields:
            raise _missing_param("generic_tool_item")
        updates = _item_fields(tool, project, fields, creating=False)
        custom = updates.pop("custom_fields", None)
        item.update(updates)
        if custom:
            item.setdefault("custom_fields", {}).update(custom)
        item["updated_at"] = state.now_iso()
        return jsonify(item)

    # --- REST: webhooks ---------------------------------------------------------------------------------------
    def hook_owner(source: dict[str, Any]) -> tuple[int | None, int | None]:
        if source.get("project_id") not in (None, ""):
            project = project_scope(source.get("project_id"))
            return project["company_id"], project["id"]
        if source.get("company_id") in (None, ""):
            raise _missing_param("company_id")
        return company_param(source.get("company_id")), None

    @app.get("/rest/v1.0/webhooks/resources")
    def webhook_resources() -> Any:
        hook_owner(request.args)
        return _paginate([{"name": name} for name in WEBHOOK_RESOURCES])

    @app.get("/rest/v1.0/webhooks/hooks")
    def webhook_hooks() -> Any:
        company_id, project_id = hook_owner(request.args)
        records = [h for h in state.dataset["webhook_hooks"]
                   if h["owned_by_company_id"] == company_id and h["owned_by_project_id"] == project_id]
        namespace = request.args.get("namespace")
        if namespace:
            records = [h for h in records if h["namespace"] == namespace]
        return _paginate(records)

    @app.post("/rest/v1.0/webhooks/hooks")
    def webhook_hook_create() -> Any:
        body = _body()
        company_id, project_id = hook_owner(body)
        hook = body.get("hook")
        if not isinstance(hook, dict) or not hook:
            raise _missing_param("hook")
        errors: dict[str, list[str]] = {}
        namespace = hook.get("namespace")
        if not isinstance(namespace, str) or not re.fullmatch(r"[a-z0-9-]+", namespace):
            errors["namespace"] = ["must contain only lowercase letters, digits and dashes"]
        url = hook.get("destination_url")
        if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
            errors["destination_url"] = ["must be an http(s) URL"]
        api_version = hook.get("api_version") or "v2"
        if api_version not in ("v1", "v2"):
            errors["api_version"] = ["must be v1 or v2"]
        headers = hook.get("destination_headers") or {}
        if not isinstance(headers, dict):
            errors["destination_headers"] = ["must be an object"]
        if errors:
            raise _invalid(errors)
        now = state.now_iso()
        record = {"id": state.next_id("webhook_hooks"), "owned_by_company_id": company_id,
                  "owned_by_project_id": project_id, "api_version": api_version, "namespace": namespace,
                  "destination_url": url, "destination_headers": headers, "created_at": now, "updated_at": now}
        state.add("webhook_hooks", record)
        return jsonify(record), 201

    def hook_in(hook_id: int) -> dict[str, Any]:
        hook = state.by_id["webhook_hooks"].get(hook_id)
        if hook is None or hook["owned_by_company_id"] != g.company_id:
            raise _message(404, "Hook not found")
        return hook

    @app.get("/rest/v1.0/webhooks/hooks/<int:hook_id>")
    def webhook_hook_show(hook_id: int) -> Any:
        return jsonify(hook_in(hook_id))

    @app.get("/rest/v1.0/webhooks/hooks/<int:hook_id>/triggers")
    def webhook_triggers(hook_id: int) -> Any:
        hook = hook_in(hook_id)
        return _paginate([t for t in state.dataset["webhook_triggers"] if t["hook_id"] == hook["id"]])

    @app.post("/rest/v1.0/webhooks/hooks/<int:hook_id>/triggers")
    def webhook_trigger_create(hook_id: int) -> Any:
        hook = hook_in(hook_id)
        body = _body()
        trigger = body.get("trigger")
        if not isinstance(trigger, dict) or not trigger:
            raise _missing_param("trigger")
        errors: dict[str, list[str]] = {}
        if trigger.get("resource_name") not in WEBHOOK_RESOURCES:
            errors["resource_name"] = [f"must be one of {', '.join(WEBHOOK_RESOURCES)}"]
        if trigger.get("event_type") not in ("create", "update", "delete"):
            errors["event_type"] = ["must be one of create, update, delete"]
        if errors:
            raise _invalid(errors)
        now = state.now_iso()
        record = {"id": state.next_id("webhook_triggers"), "hook_id": hook["id"],
                  "resource_name": trigger["resource_name"], "event_type": trigger["event_type"],
                  "api_version": body.get("api_version") or hook["api_version"], "created_at": now,
                  "updated_at": now}
        state.add("webhook_triggers", record)
        return jsonify(record), 201

    return app


# ======================================================================================================
# Small pure helpers
# ======================================================================================================

def _is_date(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return len(value) == 10


def _bad_decimal(value: Any) -> bool:
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return True
    return not number.is_finite()


def _custom_value_problem(data_type: str, value: Any) -> str | None:
    if value is None:
        return None
    if data_type == "date":
        return None if _is_date(value) else "must be a date YYYY-MM-DD"
    if data_type == "decimal":
        ok = not isinstance(value, bool) and isinstance(value, str | int | float) and not _bad_decimal(value)
        return None if ok else "must be a number"
    if data_type == "boolean":
        return None if isinstance(value, bool) else "must be true or false"
    if data_type in ("string", "rich_text"):
        return None if isinstance(value, str) else "must be a string"
    return None


def _g703(app_record: dict[str, Any]) -> list[dict[str, Any]]:
    """Schedule-of-values lines derived from the G702 totals (used when a dataset gives no ``g703``)."""
    g702 = app_record.get("g702") or {}
    scheduled = _dec(g702.get("contract_sum_to_date"))
    completed = _dec(g702.get("total_completed_and_stored_to_date"))
    this_period = _dec(app_record.get("total_amount_accrued_this_period"))
    retained = _dec(g702.get("total_retainage"))
    lines = []
    left = [scheduled, completed, this_period, retained]
    for n, (code, description, weight) in enumerate(G703_LINES):
        last = n == len(G703_LINES) - 1
        parts = left if last else [(total * Decimal(weight)).quantize(CENT) for total in
                                   (scheduled, completed, this_period, retained)]
        if not last:
            left = [a - b for a, b in zip(left, parts, strict=True)]
        value, done, period, held = parts
        lines.append({
            "id": app_record["id"] * 10 + n, "item_number": str(n + 1), "cost_code": code,
            "description": description, "scheduled_value": _money(value),
            "work_completed_from_previous_application": _money(done - period),
            "work_completed_this_period": _money(period), "materials_presently_stored": "0.00",
            "total_completed_and_stored_to_date": _money(done),
            "percent_complete": _money(done / value * 100) if value else "0.00",
            "balance_to_finish": _money(value - done), "retainage_currently_retained": _money(held),
        })
    return lines
