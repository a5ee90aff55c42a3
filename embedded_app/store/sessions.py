"""Browser sessions: the cookie holds only a random session id; this table maps it to a Procore user."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlite_utils


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def bind_user(db: sqlite_utils.Database, sid: str, user_id: int) -> None:
    db.table("sessions").upsert(
        {"sid": sid, "user_id": int(user_id), "created_at": _now(), "last_seen": _now()}, pk="sid"
    )


def user_for(db: sqlite_utils.Database, sid: str | None) -> int | None:
    if not sid:
        return None
    rows = list(db.query("select user_id from sessions where sid = ?", [sid]))
    return int(rows[0]["user_id"]) if rows else None


def forget(db: sqlite_utils.Database, sid: str | None = None, user_id: int | None = None) -> None:
    if sid:
        db.execute("delete from sessions where sid = ?", [sid])
    if user_id is not None:
        db.execute("delete from sessions where user_id = ?", [int(user_id)])


def record_user(db: sqlite_utils.Database, user: dict) -> None:
    db.table("users").upsert(
        {"id": int(user["id"]), "login": user.get("login") or "", "name": user.get("name") or "",
         "updated_at": _now()},
        pk="id",
    )


def user_name(db: sqlite_utils.Database, user_id: int) -> str | None:
    rows = list(db.query("select name, login from users where id = ?", [user_id]))
    return (rows[0]["name"] or rows[0]["login"]) if rows else None


def visible_companies(db: sqlite_utils.Database, user_id: int) -> list[dict]:
    return list(db.query(
        "select company_id as id, company_name as name from user_companies where user_id = ? order by name",
        [user_id],
    ))


def set_visible_companies(db: sqlite_utils.Database, user_id: int, companies: list[dict]) -> None:
    with db.atomic():
        db.execute("delete from user_companies where user_id = ?", [user_id])
        if companies:
            db.table("user_companies").insert_all(
                [{"user_id": user_id, "company_id": int(c["id"]), "company_name": c.get("name") or "",
                  "checked_at": _now()} for c in companies],
                pk=("user_id", "company_id"), replace=True,
            )
