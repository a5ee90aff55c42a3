"""Typed errors for everything that goes wrong talking to Procore.

Messages never contain tokens, secrets or request headers: they name the HTTP method, the path (without the
query string) and Procore's own error text, which is safe to show a bookkeeper or write to a log.
"""

from __future__ import annotations

from typing import Any


class ProcoreError(Exception):
    """Base class. ``status`` is the HTTP status when Procore answered, else ``None``."""

    default_message = "Procore request failed"

    def __init__(
        self,
        message: str | None = None,
        *,
        status: int | None = None,
        method: str | None = None,
        path: str | None = None,
        body: Any = None,
    ) -> None:
        self.message = message or self.default_message
        self.status = status
        self.method = method
        self.path = path
        self.body = body
        super().__init__(self.message)

    def __str__(self) -> str:
        where = f"{self.method} {self.path}: " if self.method and self.path else ""
        status = f" (HTTP {self.status})" if self.status else ""
        return f"{where}{self.message}{status}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class Unauthorized(ProcoreError):
    """401: the access token is missing, expired or revoked (the client refreshes once before raising)."""

    default_message = "Procore rejected the access token"


class ReconnectRequired(Unauthorized):
    """The stored connection cannot be used any more (refresh failed or was revoked, or there is none).

    The UI shows "Reconnect to Procore"; nothing else can fix it.
    """

    default_message = "The Procore connection has expired or was revoked: reconnect to Procore"


class Forbidden(ProcoreError):
    """403: no permission, wrong/missing company header, or the app is not connected to this company."""

    default_message = "Procore denied access (permission or company)"


class NotFound(ProcoreError):
    """404: the record does not exist or the user may not see it."""

    default_message = "Not found in Procore (or not visible to this user)"


class InvalidRequest(ProcoreError):
    """400/422: Procore refused the request; ``messages`` holds its validation messages."""

    default_message = "Procore refused the request"

    def __init__(
        self, message: str | None = None, *, messages: list[str] | None = None, **kwargs: Any
    ) -> None:
        self.messages = list(messages or ([] if message is None else [message]))
        super().__init__(message or ("; ".join(self.messages) if self.messages else None), **kwargs)


class RateLimited(ProcoreError):
    """429 (after bounded retries), or the rate-limit budget would need a longer wait than allowed.

    ``retry_after`` is the number of seconds until the window resets, when known.
    """

    default_message = "Procore's API rate limit is used up"

    def __init__(
        self, message: str | None = None, *, retry_after: float | None = None, **kwargs: Any
    ) -> None:
        self.retry_after = retry_after
        if message is None and retry_after is not None:
            message = f"{self.default_message}; retry in {max(0, round(retry_after))} s"
        super().__init__(message, **kwargs)


class ServerError(ProcoreError):
    """5xx after bounded retries."""

    default_message = "Procore had a server error"


class ConnectionFailed(ProcoreError):
    """Procore could not be reached (DNS, refused connection, TLS, timeout) after bounded retries."""

    default_message = "Procore could not be reached"


class OAuthError(ProcoreError):
    """The OAuth server refused: ``error`` is the OAuth code (``invalid_client``, ``invalid_grant``…)."""

    default_message = "Procore's login server refused the request"

    def __init__(
        self,
        message: str | None = None,
        *,
        error: str | None = None,
        description: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.error = error
        self.description = description
        if message is None:
            message = ": ".join(p for p in (error, description) if p) or None
        super().__init__(message, **kwargs)


def messages_from_body(body: Any) -> list[str]:
    """Flatten an error body (``errors`` as list, dict of lists or string; or ``message``/``error``)."""
    out: list[str] = []
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, dict):
            for field, value in errors.items():
                values = value if isinstance(value, list) else [value]
                for v in values:
                    text = str(v)
                    out.append(text if field in ("base", "") else f"{field} {text}")
        elif isinstance(errors, list):
            out.extend(str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors)
        elif isinstance(errors, str):
            out.append(errors)
        for key in ("message", "error_description", "error"):
            value = body.get(key)
            if isinstance(value, str) and value and value not in out and not out:
                out.append(value)
    elif isinstance(body, str) and body.strip():
        out.append(body.strip()[:300])
    return out


def error_for_status(status: int, body: Any, *, method: str, path: str) -> ProcoreError:
    """The typed error for an HTTP error answer."""
    messages = messages_from_body(body)
    text = "; ".join(messages) or None
    kwargs: dict[str, Any] = {"status": status, "method": method, "path": path, "body": body}
    if status == 401:
        return Unauthorized(text, **kwargs)
    if status == 403:
        return Forbidden(text, **kwargs)
    if status == 404:
        return NotFound(text, **kwargs)
    if status in (400, 409, 422):
        return InvalidRequest(text, messages=messages, **kwargs)
    if status == 429:
        return RateLimited(text, **kwargs)
    if status >= 500:
        return ServerError(text, **kwargs)
    return ProcoreError(text, **kwargs)
