"""Company-wide receivables sync from Procore into the SQLite cache.

Order: projects → (per project) prime contracts (+ one show call per new/changed contract for ``payment_terms``
and ``payments_received``) → payment applications → contract payments → vendors (the owners' contacts).

- ``fetch_*`` functions only talk to Procore (through :class:`~embedded_app.procore.client.ProcoreClient`);
  ``store.cache.save_*`` only write. Each project is fetched completely first and then saved in **one
  transaction** together with its cursors, so a failure midway keeps the last good state of every project.
- **Warm refresh**: each (resource, scope) has a cursor in ``sync_cursors``; the next run asks only for
  ``filters[updated_at]=<cursor − overlap>...<now>``, so a refresh with no changes costs one request per project
  and resource (contract payments need a contract id, so theirs is one request per contract).
- **Full pass** (``full=True``, no cursor yet, or the last full pass older than ``FULL_EVERY``): everything is
  listed again and records Procore no longer returns are deleted from the cache.
- Progress goes to a callback and into ``sync_runs`` (project k of n, requests used, rate-limit budget left) so
  a web view can poll it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from .procore.client import ProcoreClient, RequestEvent
from .procore.errors import Forbidden, ProcoreError, ReconnectRequired
from .store import Database, cache

log = logging.getLogger(__name__)

RECONNECT_MESSAGE = "Reconnect to Procore: the connection expired or was revoked"

# Re-read this much before the cursor: covers clock skew between us and Procore and records committed while the
# previous run was listing. Costs no extra requests (the window still fits in one page).
OVERLAP = timedelta(minutes=2)
FULL_EVERY = timedelta(hours=24)
# Fields only the prime contract "show" call has; their presence in the cache marks a contract as shown.
SHOW_MARKER = "payment_terms"
PROGRESS_DB_INTERVAL = 0.5  # seconds between sync_runs updates while requests are running

COMPANY_SCOPE = "company"


def project_scope(project_id: int) -> str:
    return f"project:{int(project_id)}"


def contract_scope(project_id: int, contract_id: int) -> str:
    return f"project:{int(project_id)}:contract:{int(contract_id)}"


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _parse_iso(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass
class SyncProgress:
    """What a progress bar or the web view shows. ``project_index`` counts from 1 while a project is running."""

    run_id: str
    company_id: int
    phase: str
    project_index: int = 0
    project_count: int = 0
    project_name: str = ""
    requests: int = 0
    rate_limit_remaining: int | None = None
    rate_limit_limit: int | None = None
    message: str = ""


@dataclass
class ResourceCount:
    fetched: int = 0
    deleted: int = 0
    requests: int = 0


@dataclass
class SyncResult:
    run_id: str
    company_id: int
    full: bool
    status: str = "running"
    started_at: str = ""
    finished_at: str = ""
    projects: int = 0
    requests: int = 0
    count_429: int = 0
    seconds: float = 0.0
    resources: dict[str, ResourceCount] = field(default_factory=dict)
    error: str | None = None
    # Projects Procore refused (403) for this user or service account: skipped, the rest of the sync goes on.
    skipped: list[dict[str, Any]] = field(default_factory=list)

    def count(self, resource: str) -> ResourceCount:
        return self.resources.setdefault(resource, ResourceCount())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ------------------------------------------------------------------------------------------------- fetch


@dataclass
class Window:
    """How to list one (resource, scope): everything (full) or changes since ``since``."""

    full: bool
    since: datetime | None = None

    @property
    def updated_since(self) -> datetime | None:
        return None if self.full or self.since is None else self.since - OVERLAP


def fetch_projects(client: ProcoreClient, company_id: int, window: Window) -> list[dict[str, Any]]:
    return client.projects(company_id, updated_since=window.updated_since)


def fetch_vendors(client: ProcoreClient, company_id: int, window: Window) -> list[dict[str, Any]]:
    return client.vendors(company_id, updated_since=window.updated_since)


def fetch_prime_contracts(client: ProcoreClient, project_id: int, window: Window) -> list[dict[str, Any]]:
    return client.prime_contracts(project_id, updated_since=window.updated_since)


def fetch_prime_contract_detail(client: ProcoreClient, project_id: int, contract_id: int) -> dict[str, Any]:
    return client.prime_contract(project_id, contract_id)


def fetch_payment_applications(client: ProcoreClient, project_id: int, window: Window) -> list[dict[str, Any]]:
    return client.payment_applications(project_id, updated_since=window.updated_since)


def fetch_contract_payments(
    client: ProcoreClient, project_id: int, contract_id: int, window: Window
) -> list[dict[str, Any]]:
    return client.contract_payments(project_id, contract_id, updated_since=window.updated_since)


def is_deleted(record: Mapping[str, Any]) -> bool:
    return bool(record.get("deleted_at"))


@dataclass
class ProjectBatch:
    """Everything fetched for one project, saved in one transaction."""

    project_id: int
    contracts: list[dict[str, Any]] = field(default_factory=list)  # merged list + show records
    contracts_full: bool = False
    deleted_contract_ids: list[int] = field(default_factory=list)
    pay_apps: list[dict[str, Any]] = field(default_factory=list)
    pay_apps_full: bool = False
    # contract id -> (payments, complete list for that contract?)
    payments: dict[int, tuple[list[dict[str, Any]], bool]] = field(default_factory=dict)
    all_contract_ids: set[int] = field(default_factory=set)
    cursors: list[tuple[str, str, bool]] = field(default_factory=list)  # (resource, scope, was full)


def _merge_show(listed: Mapping[str, Any], shown: Mapping[str, Any]) -> dict[str, Any]:
    merged = {**listed, **{k: v for k, v in shown.items() if k != "payments_received"}}
    merged.setdefault(SHOW_MARKER, None)
    return merged


def _payment_from_show(raw: Mapping[str, Any], project_id: int, contract_id: int) -> dict[str, Any]:
    return {**raw, "contract_id": contract_id, "project_id": project_id}


def fetch_project(
    db: Database,
    client: ProcoreClient,
    company_id: int,
    project_id: int,
    *,
    full_pass: bool,
    counts: SyncResult | None = None,
) -> ProjectBatch:
    """Fetch one project's receivables (no writes). Which calls are made depends on the cursors."""
    batch = ProjectBatch(project_id)
    scope = project_scope(project_id)

    def window(resource: str, scope_: str) -> Window:
        cursor = cache.get_cursor(db, company_id, resource, scope_)
        if full_pass or cursor is None:
            return Window(full=True)
        return Window(full=False, since=_parse_iso(cursor.get("synced_at")))

    def counted(resource: str, fn: Callable[[], Any]) -> Any:
        before = client.requests_made
        result = fn()
        if counts is not None:
            c = counts.count(resource)
            c.requests += client.requests_made - before
            if isinstance(result, list):
                c.fetched += len(result)
        return result

    cached_contracts = cache.cached_versions(db, "prime_contracts", company_id, project_id=project_id)

    # Prime contracts, then one show call for each new or changed one (payment terms, payments received).
    w = window("prime_contracts", scope)
    listed = counted("prime_contracts", lambda: fetch_prime_contracts(client, project_id, w))
    batch.contracts_full = w.full
    batch.cursors.append(("prime_contracts", scope, w.full))
    live = [c for c in listed if not is_deleted(c)]
    batch.deleted_contract_ids = [int(c["id"]) for c in listed if is_deleted(c)]
    shown_ids: set[int] = set()
    for contract in live:
        cid = int(contract["id"])
        cached = cached_contracts.get(cid)
        unchanged = cached is not None and cached[0] == (contract.get("updated_at") or "") and SHOW_MARKER in cached[1]
        if unchanged:
            show_fields = {k: v for k, v in cached[1].items() if k not in contract}
            batch.contracts.append({**contract, **show_fields})
            continue
        shown = counted("prime_contract_show", lambda cid=cid: fetch_prime_contract_detail(client, project_id, cid))
        batch.contracts.append(_merge_show(contract, shown))
        received = shown.get("payments_received")
        if isinstance(received, list):
            batch.payments[cid] = ([_payment_from_show(p, project_id, cid) for p in received], True)
            shown_ids.add(cid)
            batch.cursors.append(("contract_payments", contract_scope(project_id, cid), True))

    if w.full:
        batch.all_contract_ids = {int(c["id"]) for c in live}
    else:
        batch.all_contract_ids = (set(cached_contracts) | {int(c["id"]) for c in live}) - set(
            batch.deleted_contract_ids
        )

    # Payment applications (owner invoices).
    w = window("payment_applications", scope)
    batch.pay_apps = counted("payment_applications", lambda: fetch_payment_applications(client, project_id, w))
    batch.pay_apps_full = w.full
    batch.cursors.append(("payment_applications", scope, w.full))

    # Contract payments: one call per contract not just shown (the endpoint requires a contract id).
    for cid in sorted(batch.all_contract_ids - shown_ids):
        cscope = contract_scope(project_id, cid)
        w = window("contract_payments", cscope)
        payments = counted(
            "contract_payments", lambda cid=cid, w=w: fetch_contract_payments(client, project_id, cid, w)
        )
        batch.payments[cid] = (payments, w.full)
        batch.cursors.append(("contract_payments", cscope, w.full))
    return batch


# -------------------------------------------------------------------------------------------------- save


def save_project_batch(
    db: Database, company_id: int, batch: ProjectBatch, synced_at: str, counts: SyncResult | None = None
) -> None:
    """Write one project's batch and its cursors in a single transaction."""
    pid = batch.project_id

    def deleted(resource: str, n: int) -> None:
        if counts is not None:
            counts.count(resource).deleted += n

    with db.atomic():
        cache.save_prime_contracts(db, company_id, pid, batch.contracts)
        if batch.deleted_contract_ids:
            deleted("prime_contracts", cache.delete_ids(db, "prime_contracts", company_id, batch.deleted_contract_ids))
        if batch.contracts_full:
            deleted(
                "prime_contracts",
                cache.delete_missing(
                    db, "prime_contracts", company_id, [c["id"] for c in batch.contracts], project_id=pid
                ),
            )
        live_apps = [a for a in batch.pay_apps if not is_deleted(a)]
        cache.save_payment_applications(db, company_id, pid, live_apps)
        gone_apps = [int(a["id"]) for a in batch.pay_apps if is_deleted(a)]
        if gone_apps:
            deleted("payment_applications", cache.delete_ids(db, "payment_applications", company_id, gone_apps))
        if batch.pay_apps_full:
            deleted(
                "payment_applications",
                cache.delete_missing(
                    db, "payment_applications", company_id, [a["id"] for a in live_apps], project_id=pid
                ),
            )
        for cid, (payments, complete) in batch.payments.items():
            live = [p for p in payments if not is_deleted(p)]
            cache.save_contract_payments(db, company_id, pid, cid, live)
            gone = [int(p["id"]) for p in payments if is_deleted(p)]
            if gone:
                deleted("contract_payments", cache.delete_ids(db, "contract_payments", company_id, gone))
            if complete:
                deleted(
                    "contract_payments",
                    cache.delete_missing(
                        db, "contract_payments", company_id, [p["id"] for p in live], project_id=pid, contract_id=cid
                    ),
                )
        deleted(
            "contract_payments", cache.delete_payments_of_missing_contracts(db, company_id, pid, batch.all_contract_ids)
        )
        for resource, scope, was_full in batch.cursors:
            cache.set_cursor(db, company_id, resource, scope, synced_at, full_at=synced_at if was_full else None)


# --------------------------------------------------------------------------------------------------- run


class _Reporter:
    """Fans progress out to the callback and (rate-limited) to the ``sync_runs`` row."""

    def __init__(
        self,
        db: Database,
        client: ProcoreClient,
        progress: Callable[[SyncProgress], None] | None,
        state: SyncProgress,
        base_requests: int,
    ) -> None:
        self.db = db
        self.client = client
        self.progress = progress
        self.state = state
        self.base_requests = base_requests
        self._last_db_write = 0.0

    def on_request(self, event: RequestEvent) -> None:
        self.state.requests = self.client.requests_made - self.base_requests
        self.state.rate_limit_remaining = event.rate_limit.remaining
        self.state.rate_limit_limit = event.rate_limit.limit
        self.emit(db_force=False)

    def emit(self, db_force: bool = True, **changes: Any) -> None:
        for key, value in changes.items():
            setattr(self.state, key, value)
        self.state.requests = self.client.requests_made - self.base_requests
        if self.progress is not None:
            self.progress(SyncProgress(**asdict(self.state)))
        now = time.monotonic()
        if (db_force or now - self._last_db_write >= PROGRESS_DB_INTERVAL) and not self.db.conn.in_transaction:
            self._last_db_write = now
            s = self.state
            cache.save_sync_run(
                self.db,
                {
                    "id": s.run_id,
                    "project_index": s.project_index,
                    "project_count": s.project_count,
                    "requests": s.requests,
                    "rate_limit_remaining": s.rate_limit_remaining,
                    "rate_limit_limit": s.rate_limit_limit,
                    "message": s.message,
                },
            )


def _now() -> datetime:
    return datetime.now(UTC)


def run_sync(
    db: Database,
    client: ProcoreClient,
    company_id: int,
    *,
    full: bool = False,
    progress: Callable[[SyncProgress], None] | None = None,
    run_id: str | None = None,
    full_every: timedelta = FULL_EVERY,
) -> SyncResult:
    """Sync one company's receivables into the cache and return what happened.

    Raises the :class:`~embedded_app.procore.errors.ProcoreError` that stopped it (after recording it in
    ``sync_runs``); projects finished before the failure stay saved, the rest keep their previous state.
    """
    company_id = int(company_id)
    run_id = run_id or uuid.uuid4().hex
    started = _now()
    t0 = time.monotonic()
    base_requests, base_429 = client.requests_made, client.count_429
    company_cursor = cache.get_cursor(db, company_id, "projects", COMPANY_SCOPE)
    last_full = _parse_iso(company_cursor.get("full_at")) if company_cursor else None
    full_pass = full or company_cursor is None or last_full is None or started - last_full >= full_every
    result = SyncResult(run_id=run_id, company_id=company_id, full=full_pass, started_at=_iso(started))
    cache.save_sync_run(
        db,
        {
            "id": run_id,
            "company_id": company_id,
            "status": "running",
            "started_at": result.started_at,
            "finished_at": None,
            "project_index": 0,
            "project_count": 0,
            "requests": 0,
            "rate_limit_remaining": None,
            "rate_limit_limit": None,
            "error": None,
            "message": "full pass" if full_pass else "refresh",
        },
    )
    state = SyncProgress(run_id=run_id, company_id=company_id, phase="projects", message="Listing projects")
    reporter = _Reporter(db, client, progress, state, base_requests)
    previous_hook = client.on_request

    def hook(event: RequestEvent) -> None:
        if previous_hook is not None:
            previous_hook(event)
        reporter.on_request(event)

    client.on_request = hook
    try:
        reporter.emit()
        # 1. Projects (company scope).
        stamp = _iso(started)
        if full_pass:
            window = Window(full=True)
        else:
            window = Window(full=False, since=_parse_iso(company_cursor.get("synced_at") if company_cursor else None))
        before = client.requests_made
        projects = fetch_projects(client, company_id, window)
        c = result.count("projects")
        c.requests += client.requests_made - before
        c.fetched += len(projects)
        live_projects = [p for p in projects if not is_deleted(p)]
        with db.atomic():
            cache.save_projects(db, company_id, live_projects)
            gone = {int(p["id"]) for p in projects if is_deleted(p)}
            if full_pass:
                keep = {int(p["id"]) for p in live_projects}
                gone |= set(cache.cached_versions(db, "projects", company_id)) - keep
            for pid in gone:
                cache.delete_project_data(db, company_id, pid)
            c.deleted += len(gone)
            cache.set_cursor(db, company_id, "projects", COMPANY_SCOPE, stamp, full_at=stamp if full_pass else None)
        cached_projects = cache.cached_versions(db, "projects", company_id)
        project_ids = sorted(cached_projects)
        result.projects = len(project_ids)

        # 2. Per project: contracts (+ shows), pay apps, payments; one transaction each.
        for index, pid in enumerate(project_ids, start=1):
            record = cached_projects[pid][1]
            name = record.get("display_name") or record.get("name") or str(pid)
            reporter.emit(
                phase="project",
                project_index=index,
                project_count=len(project_ids),
                project_name=name,
                message=f"Project {index} of {len(project_ids)}: {name}",
            )
            project_stamp = _iso(_now())
            try:
                batch = fetch_project(db, client, company_id, pid, full_pass=full_pass, counts=result)
            except Forbidden as exc:
                # e.g. no permission to the Prime Contracts tool on this project: say so and keep going.
                result.skipped.append({"project_id": pid, "project": name, "reason": exc.message})
                continue
            save_project_batch(db, company_id, batch, project_stamp, counts=result)

        # 3. Vendors: the owners' contact details.
        reporter.emit(phase="vendors", message="Owner contacts")
        vendor_cursor = cache.get_cursor(db, company_id, "vendors", COMPANY_SCOPE)
        vendor_stamp = _iso(_now())
        if full_pass or vendor_cursor is None:
            window = Window(full=True)
        else:
            window = Window(full=False, since=_parse_iso(vendor_cursor.get("synced_at")))
        before = client.requests_made
        vendors = fetch_vendors(client, company_id, window)
        c = result.count("vendors")
        c.requests += client.requests_made - before
        c.fetched += len(vendors)
        with db.atomic():
            live_vendors = [v for v in vendors if not is_deleted(v)]
            cache.save_vendors(db, company_id, live_vendors)
            gone_vendors = [int(v["id"]) for v in vendors if is_deleted(v)]
            c.deleted += cache.delete_ids(db, "vendors", company_id, gone_vendors)
            if window.full:
                c.deleted += cache.delete_missing(db, "vendors", company_id, [v["id"] for v in live_vendors])
            cache.set_cursor(
                db, company_id, "vendors", COMPANY_SCOPE, vendor_stamp, full_at=vendor_stamp if window.full else None
            )
        result.status = "succeeded"
    except BaseException as exc:
        result.status = "failed"
        result.error = _describe(exc)
        raise
    finally:
        client.on_request = previous_hook
        result.requests = client.requests_made - base_requests
        result.count_429 = client.count_429 - base_429
        result.seconds = round(time.monotonic() - t0, 3)
        result.finished_at = _iso(_now())
        if db.conn.in_transaction:  # never leave a half-written project behind
            db.rollback()
        state.requests = result.requests
        state.phase = "done" if result.status == "succeeded" else "failed"
        state.message = (
            f"Synced {result.projects} projects with {result.requests} requests"
            if result.status == "succeeded"
            else (result.error or "failed")
        )
        if progress is not None:
            progress(SyncProgress(**asdict(state)))
        cache.save_sync_run(
            db,
            {
                "id": run_id,
                "status": result.status,
                "finished_at": result.finished_at,
                "project_index": state.project_index,
                "project_count": state.project_count,
                "requests": result.requests,
                "rate_limit_remaining": client.rate_limit.remaining,
                "rate_limit_limit": client.rate_limit.limit,
                "message": state.message,
                "error": result.error,
                "warnings": json.dumps(result.skipped) if result.skipped else None,
            },
        )
    return result


def _describe(exc: BaseException) -> str:
    """A one-line, secret-free description for the UI and the sync_runs row."""
    if isinstance(exc, ReconnectRequired):
        return RECONNECT_MESSAGE
    if isinstance(exc, ProcoreError):
        return str(exc)
    return f"{type(exc).__name__}: the sync stopped unexpectedly"


# ----------------------------------------------------------------------------------- background runs (web)

# (database file, company id) -> (run id, thread): one background sync per company and database per process.
_RUNNING: dict[tuple[str, int], tuple[str, threading.Thread]] = {}
_RUNNING_GUARD = threading.Lock()


def start_background_sync(
    open_db: Callable[[], Database],
    make_client: Callable[[], ProcoreClient],
    company_id: int,
    *,
    full: bool = False,
    after_sync: Callable[[Database, ProcoreClient], Any] | None = None,
) -> str:
    """Start ``run_sync`` in a daemon thread and return its run id at once (poll :func:`sync_status`).

    ``after_sync(db, client)`` runs in the same thread after a successful sync (e.g. re-evaluating promises);
    its failures are logged and never fail the sync.

    ``open_db`` and ``make_client`` are called **inside the worker thread** (SQLite connections, including the
    one a user token provider refreshes through, must stay in the thread that made them), so they must not
    need a Flask request context: capture the config and user id in the closure. If a sync of that company is
    already running in this process, its run id is returned instead of starting a second one.
    """
    company_id = int(company_id)
    db = open_db()
    key = (db.execute("PRAGMA database_list").fetchone()[2] or ":memory:", company_id)
    with _RUNNING_GUARD:
        running = _RUNNING.get(key)
        if running is not None and running[1].is_alive():
            db.conn.close()
            return running[0]
        run_id = uuid.uuid4().hex
        cache.save_sync_run(
            db,
            {
                "id": run_id,
                "company_id": company_id,
                "status": "queued",
                "started_at": _iso(_now()),
                "project_index": 0,
                "project_count": 0,
                "requests": 0,
                "message": "Starting",
            },
        )
        db.conn.close()

        def work() -> None:
            thread_db = open_db()
            client: ProcoreClient | None = None
            try:
                client = make_client()
                run_sync(thread_db, client, company_id, full=full, run_id=run_id)
                if after_sync is not None:
                    try:
                        after_sync(thread_db, client)
                    except Exception:
                        log.exception("after-sync work of company %s failed", company_id)
            except Exception as exc:  # run_sync records its own failures; this covers make_client
                log.warning("background sync of company %s failed: %s", company_id, _describe(exc))
                if cache.get_sync_run(thread_db, run_id).get("status") in ("queued", "running"):
                    cache.save_sync_run(
                        thread_db,
                        {
                            "id": run_id,
                            "status": "failed",
                            "error": _describe(exc),
                            "finished_at": _iso(_now()),
                            "message": _describe(exc),
                        },
                    )
            finally:
                if client is not None:
                    client.close()
                thread_db.conn.close()

        thread = threading.Thread(target=work, name=f"sync-{company_id}", daemon=True)
        _RUNNING[key] = (run_id, thread)
        thread.start()
    return run_id


def wait_for_background_sync(company_id: int, timeout: float | None = None) -> None:
    """Block until this process's background sync of the company (if any) ends (tests, shutdown)."""
    with _RUNNING_GUARD:
        threads = [thread for (_, cid), (_, thread) in _RUNNING.items() if cid == int(company_id)]
    for thread in threads:
        thread.join(timeout)


def sync_status(db: Database, run_id: str | None = None, company_id: int | None = None) -> dict[str, Any] | None:
    """The ``sync_runs`` row of a run (or the latest run of a company), with a ready-made ``percent``."""
    if run_id is not None:
        row = cache.get_sync_run(db, run_id)
        if row is not None and company_id is not None and int(row["company_id"]) != int(company_id):
            return None  # every read is scoped by company
    elif company_id is not None:
        row = cache.latest_sync_run(db, int(company_id))
    else:
        raise ValueError("run_id or company_id is required")
    if row is None:
        return None
    count = row.get("project_count") or 0
    done = row.get("status") in ("succeeded", "failed")
    index = row.get("project_index") or 0
    row = dict(row)
    row["percent"] = 100 if done else (int(100 * max(0, index - 1) / count) if count else 0)
    return row


# --------------------------------------------------------------------------------------- visible companies


def refresh_visible_companies(db: Database, client: ProcoreClient, user: int | Mapping[str, Any]) -> list[dict]:
    """Ask Procore which companies this user sees (``/companies``) and record exactly those.

    ``user`` is the Procore user id or the ``/me`` record (which is then saved too). Returns the companies.
    """
    from .store import sessions

    if isinstance(user, Mapping):
        sessions.record_user(db, dict(user))
        user_id = int(user["id"])
    else:
        user_id = int(user)
    companies = [c for c in client.companies() if c.get("id") is not None]
    with db.atomic():
        for company in companies:
            cache.save_company(db, company)
        sessions.set_visible_companies(db, user_id, companies)
    return companies


def visible_company_ids(db: Database, user_id: int) -> set[int]:
    from .store import sessions

    return {int(c["id"]) for c in sessions.visible_companies(db, user_id)}
