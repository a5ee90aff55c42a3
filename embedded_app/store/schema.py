"""Table definitions. Idempotent: ``ensure(db)`` creates what is missing and adds new columns."""

from __future__ import annotations

import sqlite_utils

# Cache of Procore records. Each row keeps the record as Procore returned it in ``data`` (JSON text) next to
# the columns we filter on. ``company_id`` is on every row so every read can be scoped to one company.
CACHE_TABLES: dict[str, dict[str, type]] = {
    "projects": {"id": int, "company_id": int, "updated_at": str, "data": str},
    "vendors": {"id": int, "company_id": int, "updated_at": str, "data": str},
    "prime_contracts": {
        "id": int, "company_id": int, "project_id": int, "vendor_id": int, "updated_at": str, "data": str,
    },
    "payment_applications": {
        "id": int, "company_id": int, "project_id": int, "contract_id": int, "status": str,
        "billing_date": str, "updated_at": str, "data": str,
    },
    "contract_payments": {
        "id": int, "company_id": int, "project_id": int, "contract_id": int, "date": str,
        "updated_at": str, "data": str,
    },
}


def ensure(db: sqlite_utils.Database) -> None:
    for name, columns in CACHE_TABLES.items():
        table = db.table(name, pk=("company_id", "id"))
        if not table.exists():
            table.create(columns, pk=("company_id", "id"))
            table.create_index(["company_id", "updated_at"], if_not_exists=True)
            if "project_id" in columns:
                table.create_index(["company_id", "project_id"], if_not_exists=True)
    # Last successful sync per (company, resource, scope): drives warm refresh with filters[updated_at].
    cursors = db.table("sync_cursors", pk=("company_id", "resource", "scope"))
    if not cursors.exists():
        cursors.create(
            {"company_id": int, "resource": str, "scope": str, "synced_at": str, "full_at": str},
            pk=("company_id", "resource", "scope"),
        )
    runs = db.table("sync_runs", pk="id")
    if not runs.exists():
        runs.create(
            {
                "id": str, "company_id": int, "status": str, "started_at": str, "finished_at": str,
                "project_index": int, "project_count": int, "requests": int, "rate_limit_remaining": int,
                "rate_limit_limit": int, "message": str, "error": str,
            },
            pk="id",
        )
        runs.create_index(["company_id", "started_at"], if_not_exists=True)
    sessions = db.table("sessions", pk="sid")
    if not sessions.exists():
        sessions.create(
            {"sid": str, "user_id": int, "created_at": str, "last_seen": str}, pk="sid",
        )
    tokens = db.table("oauth_tokens", pk="owner")
    if not tokens.exists():
        # owner: "user:<procore user id>" or "service:<client id>". Secrets encrypted (Fernet) at rest.
        tokens.create(
            {
                "owner": str, "user_id": int, "access_token_enc": str, "refresh_token_enc": str,
                "expires_at": float, "updated_at": str, "generation": int,
            },
            pk="owner",
        )
    users = db.table("users", pk="id")
    if not users.exists():
        users.create({"id": int, "login": str, "name": str, "updated_at": str}, pk="id")
    visible = db.table("user_companies", pk=("user_id", "company_id"))
    if not visible.exists():
        visible.create(
            {"user_id": int, "company_id": int, "company_name": str, "checked_at": str},
            pk=("user_id", "company_id"),
        )
    companies = db.table("companies", pk="id")
    if not companies.exists():
        companies.create({"id": int, "name": str, "updated_at": str, "data": str}, pk="id")
    from . import outbox, settings, worklog

    settings.ensure_tables(db)
    outbox.ensure_tables(db)
    worklog.ensure_tables(db)
