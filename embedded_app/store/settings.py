"""Company collections settings: SMTP transport (password encrypted by the caller), opt-in, signature, reply-to.

The SMTP password is stored only as ``smtp_password_enc`` (SecretBox ciphertext); this module never sees the
plain password. Opt-in records who recorded it and when; revoking keeps the history in ``opt_in_events``.
"""

from __future__ import annotations

from typing import Any

import sqlite_utils

from .cache import utcnow_iso

SETTINGS_COLUMNS: dict[str, type] = {
    "company_id": int,
    "signature": str,
    "reply_to": str,
    "from_addr": str,
    "from_name": str,
    "smtp_host": str,
    "smtp_port": int,
    "smtp_security": str,  # starttls | ssl | none
    "smtp_username": str,
    "smtp_password_enc": str,
    "opt_in_by": int,
    "opt_in_by_name": str,
    "opt_in_at": str,
    "test_email_at": str,
    "test_email_ok": int,
    "test_email_error": str,
    "updated_at": str,
    "updated_by": int,
}
EDITABLE = {
    "signature", "reply_to", "from_addr", "from_name", "smtp_host", "smtp_port", "smtp_security",
    "smtp_username", "smtp_password_enc",
}


def ensure_tables(db: sqlite_utils.Database) -> None:
    table = db.table("company_settings", pk="company_id")
    if not table.exists():
        table.create(SETTINGS_COLUMNS, pk="company_id")
    events = db.table("opt_in_events", pk="id")
    if not events.exists():
        events.create(
            {"id": int, "company_id": int, "action": str, "user_id": int, "user_name": str, "at": str}, pk="id"
        )
        events.create_index(["company_id", "at"], if_not_exists=True)


def get(db: sqlite_utils.Database, company_id: int) -> dict[str, Any] | None:
    rows = list(db.query("select * from company_settings where company_id = ?", [company_id]))
    return rows[0] if rows else None


def save(db: sqlite_utils.Database, company_id: int, updated_by: int | None, **fields: Any) -> dict[str, Any]:
    """Upsert the given editable fields (unknown names are refused)."""
    unknown = set(fields) - EDITABLE
    if unknown:
        raise ValueError(f"not editable settings: {sorted(unknown)}")
    row = {"company_id": company_id, **fields, "updated_at": utcnow_iso(), "updated_by": updated_by}
    db.table("company_settings").upsert(row, pk="company_id", alter=True)
    return get(db, company_id) or {}


def record_opt_in(
    db: sqlite_utils.Database, company_id: int, user_id: int, user_name: str, at: str | None = None
) -> dict[str, Any]:
    at = at or utcnow_iso()
    with db.conn:
        db.table("company_settings").upsert(
            {"company_id": company_id, "opt_in_by": user_id, "opt_in_by_name": user_name, "opt_in_at": at},
            pk="company_id", alter=True,
        )
        db.table("opt_in_events").insert(
            {"company_id": company_id, "action": "opt_in", "user_id": user_id, "user_name": user_name, "at": at}
        )
    return get(db, company_id) or {}


def revoke_opt_in(db: sqlite_utils.Database, company_id: int, user_id: int, user_name: str) -> None:
    at = utcnow_iso()
    with db.conn:
        db.execute(
            "update company_settings set opt_in_by = null, opt_in_by_name = null, opt_in_at = null "
            "where company_id = ?", [company_id],
        )
        db.table("opt_in_events").insert(
            {"company_id": company_id, "action": "revoke", "user_id": user_id, "user_name": user_name, "at": at}
        )


def opt_in_history(db: sqlite_utils.Database, company_id: int) -> list[dict[str, Any]]:
    return list(db.query("select * from opt_in_events where company_id = ? order by id", [company_id]))


def record_test_email(db: sqlite_utils.Database, company_id: int, ok: bool, error: str | None = None) -> None:
    db.table("company_settings").upsert(
        {"company_id": company_id, "test_email_at": utcnow_iso(), "test_email_ok": int(ok),
         "test_email_error": error},
        pk="company_id", alter=True,
    )
