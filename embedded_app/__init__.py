"""Receivables collections embedded in Procore."""

from __future__ import annotations

from typing import Any

from flask import Flask

from . import config as config_module

__all__ = ["create_app"]


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Application factory (flaskr style): configuration from the environment, overridden by ``test_config``."""
    import os

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    app = Flask(
        __name__,
        instance_relative_config=True,
        template_folder=os.path.join(root, "templates"),
        static_folder=os.path.join(root, "static"),
    )
    app.config.from_mapping(config_module.from_env())
    if test_config:
        app.config.from_mapping(test_config)
    if not app.config.get("SECRET_KEY"):
        raise RuntimeError(
            "SECRET_KEY is not set. In production (APP_ENV=production) the app refuses to start without it: "
            "set SECRET_KEY to a long random value."
        )
    if not app.config.get("TOKEN_ENCRYPTION_KEY"):
        app.config["TOKEN_ENCRYPTION_KEY"] = app.config["SECRET_KEY"]

    from . import security, store, views

    store.init_app(app)
    _reconcile_outbox(app.config["DATABASE"])
    security.init_app(app)
    views.init_app(app)
    return app


def _reconcile_outbox(path: str) -> None:
    """Settle emails a crashed process left in "sending" (failed if DATA never started, else uncertain for a
    human to confirm), so a crash between SMTP accept and our record never resends anything."""
    from . import outbox
    from .store import open_db

    db = open_db(path)
    try:
        outbox.reconcile(db)
    finally:
        db.conn.close()
