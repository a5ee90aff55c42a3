"""Reading sync runs (the sync records its progress in ``sync_runs``) for the progress display."""

from __future__ import annotations

from typing import Any

import sqlite_utils


def get_run(db: sqlite_utils.Database, company_id: int, run_id: str) -> dict[str, Any] | None:
    rows = list(db.query("select * from sync_runs where id = ? and company_id = ?", [run_id, company_id]))
    return rows[0] if rows else None


def latest_run(db: sqlite_utils.Database, company_id: int) -> dict[str, Any] | None:
    rows = list(db.query(
        "select * from sync_runs where company_id = ? order by started_at desc limit 1", [company_id]
    ))
    return rows[0] if rows else None


def last_success(db: sqlite_utils.Database, company_id: int) -> dict[str, Any] | None:
    rows = list(db.query(
        "select * from sync_runs where company_id = ? and status = 'succeeded' order by finished_at desc limit 1",
        [company_id],
    ))
    return rows[0] if rows else None


def has_cache(db: sqlite_utils.Database, company_id: int) -> bool:
    return bool(list(db.query("select 1 from projects where company_id = ? limit 1", [company_id])))


def create_run(db: sqlite_utils.Database, company_id: int, run_id: str, started_at: str) -> dict[str, Any]:
    """Record a sync as started (the sync fills in progress as it goes)."""
    db.table("sync_runs").insert({
        "id": run_id, "company_id": company_id, "status": "running", "started_at": started_at,
        "project_index": 0, "requests": 0, "message": "starting",
    }, alter=True)
    return get_run(db, company_id, run_id) or {}
