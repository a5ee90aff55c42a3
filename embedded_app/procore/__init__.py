"""Everything that speaks HTTP to Procore: the REST client, OAuth, typed errors."""

from __future__ import annotations

from .client import ProcoreClient, RateLimit, RequestEvent, StaticToken, TokenProvider
from .errors import (
    ConnectionFailed,
    Forbidden,
    InvalidRequest,
    NotFound,
    OAuthError,
    ProcoreError,
    RateLimited,
    ReconnectRequired,
    ServerError,
    Unauthorized,
)

__all__ = [
    "ConnectionFailed",
    "Forbidden",
    "InvalidRequest",
    "NotFound",
    "OAuthError",
    "ProcoreClient",
    "ProcoreError",
    "RateLimit",
    "RateLimited",
    "ReconnectRequired",
    "RequestEvent",
    "ServerError",
    "StaticToken",
    "TokenProvider",
    "Unauthorized",
]
