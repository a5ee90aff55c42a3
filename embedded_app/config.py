"""Configuration from environment variables, with safe defaults for the local demo.

Every setting is documented in README.md ("Configuration"). Nothing here does I/O beyond reading os.environ.
"""

from __future__ import annotations

import os
from typing import Any

# The Procore web hosts that may frame the app and post messages to it (see shared procore-api.md).
PROCORE_WEB_HOSTS = (
    "https://app.procore.com",
    "https://us02.procore.com",
    "https://uk01.procore.com",
    "https://sandbox.procore.com",
    "https://sandbox-monthly.procore.com",
)

# Local demo layout: the app on localhost, the stand-in and the host page on 127.0.0.1 (different sites).
DEMO_APP_URL = "http://localhost:5100"
DEMO_STANDIN_URL = "http://127.0.0.1:5101"
DEMO_HOST_PAGE_URL = "http://127.0.0.1:5102"

DEV_SECRET_KEY = "dev-only-insecure-secret-key"


def _env_list(value: str | None) -> list[str]:
    return [v.strip().rstrip("/") for v in (value or "").split(",") if v.strip()]


def from_env(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Build the Flask config mapping from environment variables."""
    env = dict(os.environ if environ is None else environ)
    app_env = env.get("APP_ENV", "development")
    extra_hosts = _env_list(env.get("EXTRA_FRAME_ANCESTORS"))
    if app_env != "production" and "EXTRA_FRAME_ANCESTORS" not in env:
        extra_hosts = [DEMO_HOST_PAGE_URL]
    return {
        "APP_ENV": app_env,
        "SECRET_KEY": env.get("SECRET_KEY") or (None if app_env == "production" else DEV_SECRET_KEY),
        "TOKEN_ENCRYPTION_KEY": env.get("TOKEN_ENCRYPTION_KEY"),
        "DATABASE": env.get("DATABASE", os.path.join("instance", "collections.sqlite")),
        "PROCORE_API_URL": env.get("PROCORE_API_URL", DEMO_STANDIN_URL).rstrip("/"),
        "PROCORE_LOGIN_URL": env.get("PROCORE_LOGIN_URL", DEMO_STANDIN_URL).rstrip("/"),
        "PROCORE_CLIENT_ID": env.get("PROCORE_CLIENT_ID", "demo-app-client"),
        "PROCORE_CLIENT_SECRET": env.get("PROCORE_CLIENT_SECRET", "demo-app-secret"),
        "PROCORE_WEB_HOSTS": list(PROCORE_WEB_HOSTS) + extra_hosts,
        "PUBLIC_URL": env.get("PUBLIC_URL", DEMO_APP_URL).rstrip("/"),
        "ANTHROPIC_API_KEY": env.get("ANTHROPIC_API_KEY") or None,
        "ANTHROPIC_MODEL": env.get("ANTHROPIC_MODEL", "claude-sonnet-5-5"),
        "SMTP_HOST": env.get("SMTP_HOST") or None,
        "SMTP_PORT": int(env.get("SMTP_PORT", "587")),
        "SMTP_USERNAME": env.get("SMTP_USERNAME") or None,
        "SMTP_PASSWORD": env.get("SMTP_PASSWORD") or None,
        "SMTP_STARTTLS": env.get("SMTP_STARTTLS", "true").lower() in ("1", "true", "yes"),
        "SMTP_FROM": env.get("SMTP_FROM") or None,
    }
