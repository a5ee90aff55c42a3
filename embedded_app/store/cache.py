"""Saving Procore records into the cache and reading them back as plain, API-shaped data.

``save_*(db, ...)`` write what the sync fetched; ``load_receivables`` returns the same shape the sandbox
dataset file uses (lists of API records), which is what the pure engine takes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import sqlite_utils


def utcnow_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _dump(record: dict[str, Any]) -> str:
    return json.dumps(record, separators=(",", ":"), sort_keys=True)


def _upsert(db: sqlite_utils.Database, table: str, rows: list[dict[str, Any]]) -> int:
    if rows:
        db.table(table).upsert_all(rows, pk=("company_id", "id"), alter=True)
    return len(rows)


def save_company(db: sqlite_utils.Database, company: dict[str, Any]) -> None:
    db.table("companies").upsert(
        {"id": int(company["id"]), "name": company.get("name") or "", "updated_at": utcnow_iso(),
         "data": _dump(company)},
        pk="id",
    )


def save_projects(db: sqlite_utils.Database, company_id: int, records: Iterable[dict[str, Any]]) -> int:
    rows = [
        {"id": int(r["id"]), "company_id": company_id, "updated_at": r.get("updated_at") or "", "data": _dump(r)}
        for r in records
    ]
    return _upsert(db, "projects", rows)


def save_vendors(db: sqlite_utils.Database, company_id: int, records: Iterable[dict[str, Any]]) -> int:
    rows = [
        {"id": int(r["id"]), "company_id": company_id, "updated_at": r.get("updated_at") or "", "data": _dump(r)}
        for r in records
    ]
    return _upsert(db, "vendors", rows)


def save_prime_contracts(
    db: sqlite_utils.Database, company_id: int, project_id: int, records: Iterable[dict[str, Any]]
) -> int:
    rows = []
    for r in records:
        vendor = r.get("vendor") or {}
        rows.append({
            "id": int(r["id"]), "company_id": company_id, "project_id": project_id,
            "vendor_id": vendor.get("id") if vendor else r.get("vendor_id"),
            "updated_at": r.get("updated_at") or "", "data": _dump({**r, "project_id": project_id}),
        })
    return _upsert(db, "prime_contracts", rows)


def save_payment_applications(
    db: sqlite_utils.Database, company_id: int, project_id: int, records: Iterable[dict[str, Any]]
) -> int:
    rows = []
    for r in records:
        contract = r.get("contract") or {}
        rows.append({
            "id": int(r["id"]), "company_id": company_id, "project_id": project_id,
            "contract_id": contract.get("id") or r.get("contract_id"), "status": r.get("status") or "",
            "billing_date": r.get("billing_date") or "", "updated_at": r.get("updated_at") or "",
            "data": _dump({**r, "project_id": project_id}),
        })
    return _upsert(db, "payment_applications", rows)


def save_contract_payments(
    db: sqlite_utils.Database, company_id: int, project_id: int, contract_id: int,
    records: Iterable[dict[str, Any]],
) -> int:
    rows = [
        {
            "id": int(r["id"]), "company_id": company_id, "project_id": project_id, "contract_id": contract_id,
            "date": r.get("date") or "", "updated_at": r.get("updated_at") or "",
            "data": _dump({**r, "project_id": project_id, "contract_id": contract_id}),
        }
        for r in records
    ]
    return _upsert(db, "contract_payments", rows)


def delete_missing(
    db: sqlite_utils.Database, table: str, company_id: int, keep_ids: Iterable[int], **scope: int
) -> int:
    """Delete cached rows of ``table`` in the given scope whose ids Procore no longer returns."""
    if table not in {"projects", "vendors", "prime_contracts", "payment_applications", "contract_payments"}:
        raise ValueError(f"not a cache table: {table}")
    where = ["company_id = ?"]
    params: list[Any] = [company_id]
    for column, value in scope.items():
        if column not in {"project_id", "contract_id"}:
            raise ValueError(f"not a scope column: {column}")
        where.append(f"{column} = ?")
        params.append(value)
    keep = {int(i) for i in keep_ids}
    existing = [row[0] for row in db.execute(f"select id from {table} where {' and '.join(where)}", params)]
    gone = [i for i in existing if i not in keep]
    for chunk_start in range(0, len(gone), 500):
        chunk = gone[chunk_start:chunk_start + 500]
        marks = ",".join("?" * len(chunk))
        db.execute(
            f"delete from {table} where {' and '.join(where)} and id in ({marks})", [*params, *chunk]
        )
    return len(gone)


def load_receivables(
    db: sqlite_utils.Database, company_id: int, project_id: int | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Everything the engine needs for one company (optionally one project), in the dataset-file shape."""
    out: dict[str, list[dict[str, Any]]] = {}
    for table in ("projects", "vendors", "prime_contracts", "payment_applications", "contract_payments"):
        where, params = "company_id = ?", [company_id]
        if project_id is not None and table != "vendors":
            where += " and " + ("id" if table == "projects" else "project_id") + " = ?"
            params.append(project_id)
        out[table] = [json.loads(row[0]) for row in db.execute(
            f"select data from {table} where {where} order by id", params
        )]
    return out


def get_cursor(db: sqlite_utils.Database, company_id: int, resource: str, scope: str) -> dict[str, Any] | None:
    rows = list(db.query(
        "select * from sync_cursors where company_id = ? and resource = ? and scope = ?",
        [company_id, resource, scope],
    ))
    return rows[0] if rows else None


def set_cursor(
    db: sqlite_utils.Database, company_id: int, resource: str, scope: str, synced_at: str,
    full_at: str | None = None,
) -> None:
    row: dict[str, Any] = {"company_id": company_id, "resource": resource, "scope": scope, "synced_at": synced_at}
    if full_at is not None:
        row["full_at"] = full_at
    db.table("sync_cursors").upsert(row, pk=("company_id", "resource", "scope"), alter=True)


# --------------------------------------------------------------------------------------------- sync helpers
# Added for the sync (embedded_app/sync.py). Every query is scoped by company id.

CACHE_TABLE_NAMES = ("projects", "vendors", "prime_contracts", "payment_applications", "contract_payments")


def cached_versions(
    db: sqlite_utils.Database, table: str, company_id: int, **scope: int
) -> dict[int, tuple[str, dict[str, Any]]]:
    """``{id: (updated_at, record)}`` of the cached rows of ``table`` in one company (and optional scope)."""
    if table not in CACHE_TABLE_NAMES:
        raise ValueError(f"not a cache table: {table}")
    where, params = ["company_id = ?"], [company_id]
    for column, value in scope.items():
        if column not in {"project_id", "contract_id"}:
            raise ValueError(f"not a scope column: {column}")
        where.append(f"{column} = ?")
        params.append(value)
    return {
        int(row[0]): (row[1] or "", json.loads(row[2]))
        for row in db.execute(f"select id, updated_at, data from {table} where {' and '.join(where)}", params)
    }


def delete_ids(db: sqlite_utils.Database, table: str, company_id: int, ids: Iterable[int]) -> int:
    """Delete the given ids of one company from a cache table (records Procore reports as deleted)."""
    if table not in CACHE_TABLE_NAMES:
        raise ValueError(f"not a cache table: {table}")
    gone = [int(i) for i in ids]
    for start in range(0, len(gone), 500):
        chunk = gone[start:start + 500]
        db.execute(
            f"delete from {table} where company_id = ? and id in ({','.join('?' * len(chunk))})",
            [company_id, *chunk],
        )
    return len(gone)


def delete_project_data(db: sqlite_utils.Database, company_id: int, project_id: int) -> None:
    """Forget one project's cached records and sync cursors (the project is gone or no longer visible)."""
    for table in ("prime_contracts", "payment_applications", "contract_payments"):
        db.execute(f"delete from {table} where company_id = ? and project_id = ?", [company_id, project_id])
    db.execute("delete from projects where company_id = ? and id = ?", [company_id, project_id])
    db.execute("delete from sync_cursors where company_id = ? and scope = ?", [company_id, f"project:{project_id}"])
    db.execute(
        "delete from sync_cursors where company_id = ? and scope like ?", [company_id, f"project:{project_id}:%"]
    )


def delete_payments_of_missing_contracts(
    db: sqlite_utils.Database, company_id: int, project_id: int, contract_ids: Iterable[int]
) -> int:
    keep = sorted({int(i) for i in contract_ids})
    marks = ",".join("?" * len(keep)) or "null"
    cursor = db.execute(
        f"delete from contract_payments where company_id = ? and project_id = ? and contract_id not in ({marks})",
        [company_id, project_id, *keep],
    )
    return cursor.rowcount


def has_cached_data(db: sqlite_utils.Database, company_id: int) -> bool:
    return db.execute("select 1 from projects where company_id = ? limit 1", [company_id]).fetchone() is not None


def save_sync_run(db: sqlite_utils.Database, run: dict[str, Any]) -> None:
    """Insert or update a row of ``sync_runs`` (``id`` required; other columns as given)."""
    db.table("sync_runs").upsert(dict(run), pk="id", alter=True)


def get_sync_run(db: sqlite_utils.Database, run_id: str) -> dict[str, Any] | None:
    rows = list(db.query("select * from sync_runs where id = ?", [run_id]))
    return rows[0] if rows else None


def latest_sync_run(
    db: sqlite_utils.Database, company_id: int, status: str | None = None
) -> dict[str, Any] | None:
    sql, params = "select * from sync_runs where company_id = ?", [company_id]
    if status is not None:
        sql += " and status = ?"
        params.append(status)
    rows = list(db.query(sql + " order by started_at desc, rowid desc limit 1", params))
    return rows[0] if rows else None
