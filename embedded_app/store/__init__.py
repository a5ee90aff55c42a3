"""The store: the only package that imports sqlite_utils.

SQLite holds only ephemeral cache (copies of Procore records) and work state (sessions, encrypted tokens, sync
runs, drafts, outbox). Procore stays the system of record. Every query over company data is scoped by company id.
"""

from __future__ import annotations

import os
from typing import Any

import sqlite_utils

Database = sqlite_utils.Database


def open_db(path: str) -> sqlite_utils.Database:
    """Open (creating if needed) the SQLite file at ``path`` with the schema in place. A connection belongs to
    the thread that opened it."""
    if path != ":memory:":
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    db = sqlite_utils.Database(path)
    db.execute("PRAGMA busy_timeout = 10000")
    if path != ":memory:":
        db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA foreign_keys = ON")
    from . import schema

    schema.ensure(db)
    return db


def init_app(app: Any) -> None:
    """Flask integration: one connection per request context, closed on teardown."""
    from flask import g

    def close_db(_exc: BaseException | None = None) -> None:
        db = g.pop("db", None)
        if db is not None:
            db.conn.close()

    app.teardown_appcontext(close_db)
    open_db(app.config["DATABASE"]).conn.close()


def get_db() -> sqlite_utils.Database:
    from flask import current_app, g

    if "db" not in g:
        g.db = open_db(current_app.config["DATABASE"])
    return g.db
