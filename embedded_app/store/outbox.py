"""Drafts (with every edit kept) and the e-mail outbox (exactly-once sending state). Every query is company-scoped.

Outbox status machine::

    queued ──claim──▶ sending ──SMTP ok──▶ sent
      ▲                 │ ├──SMTP refused / failed before DATA──▶ failed ──claim (retry)──▶ sending
      │                 │ └──connection lost during DATA──────────▶ uncertain ──human──▶ sent | failed
      └─ (never)        └──process died: reconcile → failed (no DATA yet) | uncertain (DATA started)

``claim`` is a single compare-and-set UPDATE (queued|failed → sending), so two workers or a double click can
never both send. ``data_started_at`` is written before the SMTP DATA command: without it a delivery provably
did not happen.
"""

from __future__ import annotations

import json
from typing import Any

import sqlite_utils

from .cache import utcnow_iso
from .sql import insert_unless_key_exists
from .sql import write as _write

STATUSES = ("queued", "sending", "sent", "failed", "uncertain", "cancelled")

OUTBOX_COLUMNS: dict[str, type] = {
    "id": int, "company_id": int, "customer_id": int, "stage": str, "idem_key": str, "day": str,
    "draft_id": int, "draft_version": int, "message_id": str, "from_addr": str, "from_name": str,
    "to_addrs": str, "reply_to": str, "subject": str, "body": str, "invoice_ids": str, "project_ids": str,
    "status": str, "attempts": int, "claim_token": str, "claimed_at": str, "data_started_at": str,
    "sent_at": str, "last_error": str, "queued_by": int, "queued_at": str, "updated_at": str,
    "resolved_by": int, "resolved_at": str, "writeback_status": str, "writeback_ref": str,
    "writeback_error": str, "writeback_at": str,
}
JSON_COLUMNS = ("to_addrs", "invoice_ids", "project_ids")


def ensure_tables(db: sqlite_utils.Database) -> None:
    drafts = db.table("drafts", pk="id")
    if not drafts.exists():
        drafts.create(
            {
                "id": int, "company_id": int, "customer_id": int, "stage": str, "facts": str, "subject": str,
                "body": str, "to_addrs": str, "cited_invoices": str, "source": str, "model": str, "usage": str,
                "grounding_errors": str, "fallback_reason": str, "attempts": int, "created_by": int,
                "created_at": str, "dismissed_at": str, "dismissed_by": int,
            },
            pk="id",
        )
        drafts.create_index(["company_id", "customer_id", "created_at"], if_not_exists=True)
    elif "dismissed_at" not in drafts.columns_dict:  # databases made before drafts could be skipped
        drafts.add_column("dismissed_at", str)
        drafts.add_column("dismissed_by", int)
    versions = db.table("draft_versions", pk="id")
    if not versions.exists():
        versions.create(
            {
                "id": int, "company_id": int, "draft_id": int, "version": int, "subject": str, "body": str,
                "to_addrs": str, "edited_by": int, "edited_at": str,
            },
            pk="id",
            foreign_keys=[("draft_id", "drafts", "id")],
        )
        versions.create_index(["draft_id", "version"], unique=True, if_not_exists=True)
    outbox = db.table("outbox", pk="id")
    if not outbox.exists():
        outbox.create(OUTBOX_COLUMNS, pk="id", defaults={"status": "queued", "attempts": 0})
        outbox.create_index(["idem_key"], unique=True, if_not_exists=True)
        outbox.create_index(["company_id", "status"], if_not_exists=True)
        outbox.create_index(["company_id", "customer_id", "queued_at"], if_not_exists=True)
    events = db.table("outbox_events", pk="id")
    if not events.exists():
        events.create(
            {"id": int, "company_id": int, "outbox_id": int, "at": str, "event": str, "detail": str}, pk="id"
        )
        events.create_index(["company_id", "outbox_id"], if_not_exists=True)


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for column in JSON_COLUMNS:
        if out.get(column) is not None:
            out[column] = json.loads(out[column])
    return out


# --- drafts ---------------------------------------------------------------------------------------------------

def insert_draft(db: sqlite_utils.Database, row: dict[str, Any]) -> int:
    data = {**row, "created_at": row.get("created_at") or utcnow_iso()}
    for column in ("facts", "to_addrs", "cited_invoices", "usage", "grounding_errors"):
        if not isinstance(data.get(column), str):
            data[column] = json.dumps(data.get(column))
    return int(db.table("drafts").insert(data).last_pk)


def get_draft(db: sqlite_utils.Database, company_id: int, draft_id: int) -> dict[str, Any] | None:
    rows = list(db.query("select * from drafts where company_id = ? and id = ?", [company_id, draft_id]))
    if not rows:
        return None
    row = dict(rows[0])
    for column in ("facts", "to_addrs", "cited_invoices", "usage", "grounding_errors"):
        row[column] = json.loads(row[column]) if row.get(column) else None
    return row


def pending_drafts(
    db: sqlite_utils.Database, company_id: int, *, customer_id: int | None = None
) -> list[dict[str, Any]]:
    """Draft ids (newest first) neither skipped nor handed to the outbox (a cancelled row does not count)."""
    where, params = ["d.company_id = ?", "d.dismissed_at is null"], [company_id]
    if customer_id is not None:
        where.append("d.customer_id = ?")
        params.append(customer_id)
    rows = db.query(
        f"select d.id, d.customer_id, d.stage from drafts d where {' and '.join(where)} and not exists ("
        "select 1 from outbox o where o.company_id = d.company_id and o.draft_id = d.id "
        "and o.status != 'cancelled') order by d.id desc",
        params,
    )
    return list(rows)


def dismiss_draft(db: sqlite_utils.Database, company_id: int, draft_id: int, by: int | None) -> bool:
    return _write(
        db, "update drafts set dismissed_at = ?, dismissed_by = ? where company_id = ? and id = ? "
        "and dismissed_at is null",
        [utcnow_iso(), by, company_id, draft_id],
    ) == 1


def draft_versions(db: sqlite_utils.Database, company_id: int, draft_id: int) -> list[dict[str, Any]]:
    rows = db.query(
        "select * from draft_versions where company_id = ? and draft_id = ? order by version",
        [company_id, draft_id],
    )
    return [_decode(r) for r in rows]


def add_draft_version(
    db: sqlite_utils.Database, company_id: int, draft_id: int, *, subject: str, body: str, to_addrs: list[str],
    edited_by: int | None,
) -> int:
    with db.conn:
        current = db.conn.execute(
            "select coalesce(max(version), 0) from draft_versions where company_id = ? and draft_id = ?",
            [company_id, draft_id],
        ).fetchone()[0]
        version = int(current) + 1
        db.conn.execute(
            "insert into draft_versions (company_id, draft_id, version, subject, body, to_addrs, edited_by, "
            "edited_at) values (?, ?, ?, ?, ?, ?, ?, ?)",
            [company_id, draft_id, version, subject, body, json.dumps(to_addrs), edited_by, utcnow_iso()],
        )
    return version


# --- outbox ---------------------------------------------------------------------------------------------------

def add_event(db: sqlite_utils.Database, company_id: int, outbox_id: int, event: str, detail: str = "") -> None:
    _write(
        db, "insert into outbox_events (company_id, outbox_id, at, event, detail) values (?, ?, ?, ?, ?)",
        [company_id, outbox_id, utcnow_iso(), event, detail],
    )


def events(db: sqlite_utils.Database, company_id: int, outbox_id: int) -> list[dict[str, Any]]:
    return list(db.query(
        "select * from outbox_events where company_id = ? and outbox_id = ? order by id", [company_id, outbox_id]
    ))


def insert_if_absent(db: sqlite_utils.Database, row: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Insert a queued row unless its ``idem_key`` exists; return (the row with that key, created?)."""
    data = {k: v for k, v in row.items() if k in OUTBOX_COLUMNS and k != "id"}
    for column in JSON_COLUMNS:
        if column in data and not isinstance(data[column], str):
            data[column] = json.dumps(data[column])
    now = utcnow_iso()
    data.update(status="queued", attempts=0, queued_at=now, updated_at=now)
    created = insert_unless_key_exists(db, "outbox", data)
    existing = get_by_key(db, data["company_id"], data["idem_key"])
    if existing is None:  # the key exists under another company: refuse rather than leak
        raise ValueError("idempotency key collision across companies")
    if created:
        add_event(db, existing["company_id"], existing["id"], "queued", f"by user {row.get('queued_by')}")
    return existing, created


def get(db: sqlite_utils.Database, company_id: int, row_id: int) -> dict[str, Any] | None:
    rows = list(db.query("select * from outbox where company_id = ? and id = ?", [company_id, row_id]))
    return _decode(rows[0]) if rows else None


def get_by_key(db: sqlite_utils.Database, company_id: int, idem_key: str) -> dict[str, Any] | None:
    rows = list(db.query("select * from outbox where company_id = ? and idem_key = ?", [company_id, idem_key]))
    return _decode(rows[0]) if rows else None


def list_rows(
    db: sqlite_utils.Database, company_id: int, *, status: str | None = None, customer_id: int | None = None,
    limit: int = 200,
) -> list[dict[str, Any]]:
    where, params = ["company_id = ?"], [company_id]
    if status is not None:
        where.append("status = ?")
        params.append(status)
    if customer_id is not None:
        where.append("customer_id = ?")
        params.append(customer_id)
    rows = db.query(
        f"select * from outbox where {' and '.join(where)} order by id desc limit ?", [*params, limit]
    )
    return [_decode(r) for r in rows]


def claim(db: sqlite_utils.Database, company_id: int, row_id: int, token: str) -> bool:
    """Atomically move a queued/failed row to sending. False if another caller has it or it is done."""
    now = utcnow_iso()
    return _write(
        db,
        "update outbox set status = 'sending', claim_token = ?, claimed_at = ?, data_started_at = null, "
        "attempts = attempts + 1, updated_at = ? "
        "where company_id = ? and id = ? and status in ('queued', 'failed')",
        [token, now, now, company_id, row_id],
    ) == 1


def mark_data_started(db: sqlite_utils.Database, row_id: int, token: str) -> None:
    changed = _write(
        db, "update outbox set data_started_at = ?, updated_at = ? "
        "where id = ? and claim_token = ? and status = 'sending'",
        [utcnow_iso(), utcnow_iso(), row_id, token],
    )
    if changed != 1:
        raise RuntimeError(f"outbox row {row_id} is no longer claimed by this sender; not sending")


def mark_sent(db: sqlite_utils.Database, row_id: int, token: str) -> bool:
    # 'uncertain' too: if reconcile flagged a slow sender that then succeeded, the truth wins.
    now = utcnow_iso()
    return _write(
        db, "update outbox set status = 'sent', sent_at = ?, last_error = null, updated_at = ? "
        "where id = ? and claim_token = ? and status in ('sending', 'uncertain')",
        [now, now, row_id, token],
    ) == 1


def mark_failed(db: sqlite_utils.Database, row_id: int, token: str, error: str, *, uncertain: bool = False) -> bool:
    status = "uncertain" if uncertain else "failed"
    return _write(
        db, "update outbox set status = ?, last_error = ?, updated_at = ? "
        "where id = ? and claim_token = ? and status = 'sending'",
        [status, error, utcnow_iso(), row_id, token],
    ) == 1


def stuck_sending(db: sqlite_utils.Database, claimed_before: str) -> list[dict[str, Any]]:
    """Rows left in 'sending' whose claim is older than ``claimed_before`` (ISO), across companies."""
    rows = db.query(
        "select * from outbox where status = 'sending' and claimed_at < ? order by id", [claimed_before]
    )
    return [_decode(r) for r in rows]


def release_stuck(db: sqlite_utils.Database, row_id: int, token: str, *, uncertain: bool, error: str) -> bool:
    return _write(
        db, "update outbox set status = ?, last_error = ?, updated_at = ? "
        "where id = ? and claim_token = ? and status = 'sending'",
        ["uncertain" if uncertain else "failed", error, utcnow_iso(), row_id, token],
    ) == 1


def resolve(
    db: sqlite_utils.Database, company_id: int, row_id: int, *, delivered: bool, by: int | None, note: str
) -> bool:
    now = utcnow_iso()
    if delivered:
        sql = ("update outbox set status = 'sent', sent_at = coalesce(sent_at, ?), resolved_by = ?, "
               "resolved_at = ?, updated_at = ? where company_id = ? and id = ? and status = 'uncertain'")
        params: list[Any] = [now, by, now, now, company_id, row_id]
    else:
        sql = ("update outbox set status = 'failed', last_error = ?, resolved_by = ?, resolved_at = ?, "
               "updated_at = ? where company_id = ? and id = ? and status = 'uncertain'")
        params = [note, by, now, now, company_id, row_id]
    return _write(db, sql, params) == 1


def cancel(db: sqlite_utils.Database, company_id: int, row_id: int) -> bool:
    return _write(
        db, "update outbox set status = 'cancelled', updated_at = ? "
        "where company_id = ? and id = ? and status in ('queued', 'failed')",
        [utcnow_iso(), company_id, row_id],
    ) == 1


def set_writeback(
    db: sqlite_utils.Database, company_id: int, row_id: int, *, status: str, ref: str | None = None,
    error: str | None = None,
) -> None:
    _write(
        db, "update outbox set writeback_status = ?, writeback_ref = ?, writeback_error = ?, writeback_at = ? "
        "where company_id = ? and id = ?",
        [status, ref, error, utcnow_iso(), company_id, row_id],
    )
