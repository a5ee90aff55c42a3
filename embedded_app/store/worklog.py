"""Work log: promises-to-pay, call notes and disputes, each with its Procore Collections Log item and sync state.

Procore is the system of record; this table is the local queue and cache of what was logged. Every entry has an
``idem_key`` (unique): the form that created it carries the key, so a double click or a retry finds the same row.

Sync state machine (``sync_state``)::

    pending_sync ──claim──▶ syncing ──Procore ok──▶ synced ──(outcome changed: update the same item)──▶ pending_sync
         ▲                    │
         └──── failed ◀───────┘  (error and attempts kept; retried on the next sync or the retry button)

``claim`` is one compare-and-set UPDATE, so a background sync and a click on "Retry" never push the same entry
twice. Once ``procore_item_id`` is recorded every later push updates that item instead of creating one.
Every query is scoped by company id.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlite_utils

from ..engine import Contact, Dispute, Promise
from .cache import utcnow_iso
from .sql import insert_unless_key_exists
from .sql import write as _write

KINDS = ("promise", "call", "dispute")
SYNC_STATES = ("pending_sync", "syncing", "synced", "failed")
# A claim older than this belongs to a worker that died: the entry may be claimed again.
STALE_CLAIM = timedelta(minutes=5)

ENTRY_COLUMNS: dict[str, type] = {
    "id": int, "company_id": int, "kind": str, "idem_key": str, "customer_id": int, "customer_name": str,
    "project_id": int, "contract_id": int, "pay_app_id": int, "invoice_ids": str, "amount": str,
    "promised_date": str, "contact_name": str, "channel": str, "outcome": str, "note": str,
    "next_step_date": str, "reason": str, "stage": str, "status": str, "resolved_on": str, "created_on": str,
    "created_by": int, "created_by_name": str, "created_at": str, "updated_at": str,
    "evaluated_status": str, "evaluated_on": str, "received": str,
    "sync_state": str, "sync_error": str, "attempts": int, "claim_token": str, "claimed_at": str,
    "procore_tool_id": int, "procore_item_id": int, "synced_at": str, "fields_error": str,
}
FIELD_KEYS = ("stage", "next_promise")  # prime contract custom fields the app fills when mapped


class KeyTaken(ValueError):
    """The idempotency key is already used by an entry of another company (nothing was saved)."""


def ensure_tables(db: sqlite_utils.Database) -> None:
    entries = db.table("worklog_entries", pk="id")
    if not entries.exists():
        entries.create(ENTRY_COLUMNS, pk="id", defaults={"sync_state": "pending_sync", "attempts": 0})
        entries.create_index(["idem_key"], unique=True, if_not_exists=True)
        entries.create_index(["company_id", "customer_id", "created_at"], if_not_exists=True)
        entries.create_index(["company_id", "sync_state"], if_not_exists=True)
    fields = db.table("worklog_field_map", pk=("company_id", "field_key"))
    if not fields.exists():
        # definition_id null: looked for, not found in Procore (checked_at says when).
        fields.create(
            {"company_id": int, "field_key": str, "definition_id": int, "label": str, "data_type": str,
             "checked_at": str},
            pk=("company_id", "field_key"),
        )


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    out["invoice_ids"] = json.loads(out["invoice_ids"]) if out.get("invoice_ids") else []
    return out


# --- entries ---------------------------------------------------------------------------------------------------

def insert_if_absent(db: sqlite_utils.Database, row: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Insert a new entry (state ``pending_sync``) unless its ``idem_key`` exists; return (row, created?)."""
    if row.get("kind") not in KINDS:
        raise ValueError(f"unknown work-log kind {row.get('kind')!r}")
    data = {k: v for k, v in row.items() if k in ENTRY_COLUMNS and k != "id"}
    if not isinstance(data.get("invoice_ids"), str):
        data["invoice_ids"] = json.dumps([int(i) for i in data.get("invoice_ids") or []])
    now = utcnow_iso()
    data.update(sync_state="pending_sync", attempts=0, created_at=now, updated_at=now)
    created = insert_unless_key_exists(db, "worklog_entries", data)
    existing = get_by_key(db, int(data["company_id"]), data["idem_key"])
    if existing is None:  # the key exists under another company: refuse rather than leak
        raise KeyTaken("idempotency key collision across companies")
    return existing, created


def get(db: sqlite_utils.Database, company_id: int, entry_id: int) -> dict[str, Any] | None:
    rows = list(db.query("select * from worklog_entries where company_id = ? and id = ?", [company_id, entry_id]))
    return _decode(rows[0]) if rows else None


def get_by_key(db: sqlite_utils.Database, company_id: int, idem_key: str) -> dict[str, Any] | None:
    rows = list(db.query("select * from worklog_entries where company_id = ? and idem_key = ?",
                         [company_id, idem_key]))
    return _decode(rows[0]) if rows else None


def list_entries(
    db: sqlite_utils.Database, company_id: int, *, kind: str | None = None, customer_id: int | None = None,
    sync_states: tuple[str, ...] | None = None, limit: int = 500,
) -> list[dict[str, Any]]:
    """Newest first."""
    where, params = ["company_id = ?"], [company_id]
    if kind is not None:
        where.append("kind = ?")
        params.append(kind)
    if customer_id is not None:
        where.append("customer_id = ?")
        params.append(customer_id)
    if sync_states:
        where.append(f"sync_state in ({', '.join('?' * len(sync_states))})")
        params.extend(sync_states)
    rows = db.query(
        f"select * from worklog_entries where {' and '.join(where)} order by created_at desc, id desc limit ?",
        [*params, limit],
    )
    return [_decode(r) for r in rows]


def unsynced(db: sqlite_utils.Database, company_id: int) -> list[dict[str, Any]]:
    """Entries waiting for Procore (never pushed, failed, or changed since the last push), oldest first."""
    rows = db.query(
        "select * from worklog_entries where company_id = ? and sync_state in ('pending_sync', 'failed', 'syncing') "
        "order by id", [company_id],
    )
    return [_decode(r) for r in rows]


def claim(db: sqlite_utils.Database, company_id: int, entry_id: int, token: str,
          now: datetime | None = None) -> bool:
    """Atomically take an entry for one push (pending_sync/failed, or a stale syncing claim)."""
    now = now or datetime.now(UTC)
    stale = (now - STALE_CLAIM).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    return _write(
        db,
        "update worklog_entries set sync_state = 'syncing', claim_token = ?, claimed_at = ?, "
        "attempts = attempts + 1, updated_at = ? where company_id = ? and id = ? and "
        "(sync_state in ('pending_sync', 'failed') or (sync_state = 'syncing' and claimed_at < ?))",
        [token, utcnow_iso(), utcnow_iso(), company_id, entry_id, stale],
    ) == 1


def record_item(db: sqlite_utils.Database, company_id: int, entry_id: int, token: str, *, tool_id: int,
                item_id: int) -> None:
    """The Procore item exists: remember its id at once (before anything else can fail)."""
    _write(
        db, "update worklog_entries set procore_tool_id = ?, procore_item_id = ?, updated_at = ? "
        "where company_id = ? and id = ? and claim_token = ?",
        [tool_id, item_id, utcnow_iso(), company_id, entry_id, token],
    )


def mark_synced(db: sqlite_utils.Database, company_id: int, entry_id: int, token: str,
                fields_error: str | None = None) -> bool:
    now = utcnow_iso()
    return _write(
        db, "update worklog_entries set sync_state = 'synced', sync_error = null, synced_at = ?, "
        "fields_error = ?, claim_token = null, updated_at = ? "
        "where company_id = ? and id = ? and claim_token = ? and sync_state = 'syncing'",
        [now, fields_error, now, company_id, entry_id, token],
    ) == 1


def mark_failed(db: sqlite_utils.Database, company_id: int, entry_id: int, token: str, error: str) -> bool:
    return _write(
        db, "update worklog_entries set sync_state = 'failed', sync_error = ?, claim_token = null, updated_at = ? "
        "where company_id = ? and id = ? and claim_token = ? and sync_state = 'syncing'",
        [error, utcnow_iso(), company_id, entry_id, token],
    ) == 1


def set_evaluation(db: sqlite_utils.Database, company_id: int, entry_id: int, *, status: str, received: str,
                   on: date) -> bool:
    """Record a promise's new outcome and queue an update of its Procore item. False if unchanged."""
    return _write(
        db, "update worklog_entries set evaluated_status = ?, received = ?, evaluated_on = ?, updated_at = ?, "
        "sync_state = case when sync_state = 'syncing' then sync_state else 'pending_sync' end "
        "where company_id = ? and id = ? and kind = 'promise' and coalesce(evaluated_status, '') != ?",
        [status, received, on.isoformat(), utcnow_iso(), company_id, entry_id, status],
    ) == 1


def resolve_dispute(db: sqlite_utils.Database, company_id: int, entry_id: int, on: date) -> bool:
    return _write(
        db, "update worklog_entries set status = 'resolved', resolved_on = ?, updated_at = ?, "
        "sync_state = case when sync_state = 'syncing' then sync_state else 'pending_sync' end "
        "where company_id = ? and id = ? and kind = 'dispute' and status = 'open'",
        [on.isoformat(), utcnow_iso(), company_id, entry_id],
    ) == 1


# --- custom-field mapping ------------------------------------------------------------------------------------

def field_map(db: sqlite_utils.Database, company_id: int) -> dict[str, dict[str, Any]]:
    rows = db.query("select * from worklog_field_map where company_id = ?", [company_id])
    return {r["field_key"]: dict(r) for r in rows}


def save_field_map(db: sqlite_utils.Database, company_id: int, mapping: dict[str, dict[str, Any] | None]) -> None:
    now = utcnow_iso()
    with db.conn:
        for key in FIELD_KEYS:
            found = mapping.get(key) or {}
            db.conn.execute(
                "insert into worklog_field_map (company_id, field_key, definition_id, label, data_type, checked_at) "
                "values (?, ?, ?, ?, ?, ?) on conflict(company_id, field_key) do update set "
                "definition_id = excluded.definition_id, label = excluded.label, data_type = excluded.data_type, "
                "checked_at = excluded.checked_at",
                [company_id, key, found.get("id"), found.get("label"), found.get("data_type"), now],
            )


# --- engine inputs -------------------------------------------------------------------------------------------

def _day(value: str | None) -> date | None:
    return date.fromisoformat(value[:10]) if value else None


def engine_inputs(db: sqlite_utils.Database, company_id: int) -> dict[str, Any]:
    """The company's promises, contacts (call notes and e-mails sent from the outbox) and disputes as the
    engine's dataclasses. Entries count from the moment they are logged, synced to Procore or not."""
    promises: list[Promise] = []
    contacts: list[Contact] = []
    disputes: list[Dispute] = []
    for row in db.query("select * from worklog_entries where company_id = ? order by id", [company_id]):
        entry = _decode(row)
        created = _day(entry["created_on"]) or _day(entry["created_at"])
        if created is None:
            continue
        if entry["kind"] == "promise" and entry.get("amount") and entry.get("promised_date"):
            promises.append(Promise(
                entry["customer_id"], entry["amount"], date.fromisoformat(entry["promised_date"]), created,
                tuple(entry["invoice_ids"]), "cancelled" if entry.get("status") == "cancelled" else "open",
                id=f"wl-{entry['id']}",
            ))
        elif entry["kind"] == "call":
            reached = entry.get("outcome") in ("reached", "dispute_raised")
            contacts.append(Contact(
                entry["customer_id"], entry.get("stage") or "call", created, "call",
                created if reached else None, entry.get("project_id"), id=f"wl-{entry['id']}",
            ))
        elif entry["kind"] == "dispute" and entry.get("pay_app_id"):
            disputes.append(Dispute(
                int(entry["pay_app_id"]), created, _day(entry.get("resolved_on")), entry.get("reason") or "",
                id=f"wl-{entry['id']}",
            ))
    if db.table("outbox").exists():
        for row in db.query(
            "select id, customer_id, stage, sent_at from outbox where company_id = ? and status = 'sent' "
            "and sent_at is not null order by id", [company_id],
        ):
            sent = _day(row["sent_at"])
            if sent is not None and row["stage"]:
                contacts.append(Contact(row["customer_id"], row["stage"], sent, "email", id=f"outbox-{row['id']}"))
    return {"promises": promises, "contacts": contacts, "disputes": disputes}
