"""Small SQL helpers shared by the work-state tables (outbox, work log)."""

from __future__ import annotations

from typing import Any

import sqlite_utils


def write(db: sqlite_utils.Database, sql: str, params: list[Any]) -> int:
    """Run one statement in its own committed transaction; return the number of rows changed."""
    with db.conn:
        return db.conn.execute(sql, params).rowcount


def insert_unless_key_exists(db: sqlite_utils.Database, table: str, data: dict[str, Any]) -> bool:
    """Insert ``data`` into ``table`` unless its unique ``idem_key`` is taken; True if a row was created."""
    columns = list(data)
    sql = (f"insert into {table} ({', '.join(columns)}) values ({', '.join('?' * len(columns))}) "
           "on conflict(idem_key) do nothing")
    return write(db, sql, [data[c] for c in columns]) == 1
