"""The receivables sync against the Procore stand-in over real HTTP."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from embedded_app import sync
from embedded_app.procore import auth, errors
from embedded_app.procore.client import ProcoreClient
from embedded_app.store import cache, open_db
from tests.fixtures.procore import COMPANY_A, COMPANY_B, USER_CLIENT_ID, USER_CLIENT_SECRET


def expected_counts(state: Any, company_id: int, project_ids: list[int] | None = None) -> dict[str, int]:
    data = state.dataset
    projects = [p["id"] for p in data["projects"] if p["company_id"] == company_id]
    if project_ids is not None:
        projects = [p for p in projects if p in project_ids]
    contracts = [c["id"] for c in data["prime_contracts"] if c["project_id"] in projects]
    return {
        "projects": len(projects),
        "prime_contracts": len(contracts),
        "payment_applications": sum(1 for a in data["payment_applications"] if a["project_id"] in projects),
        "contract_payments": sum(1 for p in data["contract_payments"] if p["contract_id"] in contracts),
        "vendors": sum(1 for v in data["vendors"] if v["company_id"] == company_id),
    }


def cached_counts(db: Any, company_id: int) -> dict[str, int]:
    return {
        table: db.execute(f"select count(*) from {table} where company_id = ?", [company_id]).fetchone()[0]
        for table in ("projects", "prime_contracts", "payment_applications", "contract_payments", "vendors")
    }


def service_project_ids(state: Any) -> list[int] | None:
    return state.clients["demo-service-account"].get("project_ids")


def test_cold_sync_fills_the_cache_and_records_progress(fast_sandbox, make_service_client, cache_db):
    state = fast_sandbox.state
    client = make_service_client(fast_sandbox)
    seen: list[sync.SyncProgress] = []
    state.reset_counters()
    result = sync.run_sync(cache_db, client, COMPANY_A, progress=seen.append)
    want = expected_counts(state, COMPANY_A)
    assert cached_counts(cache_db, COMPANY_A) == want
    assert cached_counts(cache_db, COMPANY_B) == dict.fromkeys(want, 0)
    assert result.status == "succeeded" and result.full and result.projects == want["projects"]
    # lists (projects, vendors, 2 per project) + one show per contract; payments come with the show
    assert result.requests == state.request_count == 2 + 2 * want["projects"] + want["prime_contracts"]
    assert result.count_429 == 0
    # show-only fields are cached with the contract; payments carry their contract and project
    contracts = cache.load_receivables(cache_db, COMPANY_A)["prime_contracts"]
    assert all("payment_terms" in c and "payments_received" not in c for c in contracts)
    payments = cache.load_receivables(cache_db, COMPANY_A)["contract_payments"]
    assert all(p["contract_id"] and p["project_id"] for p in payments)
    # progress: project k of n, requests, rate-limit budget, in the callback and in sync_runs
    indexes = [p.project_index for p in seen if p.phase == "project"]
    assert list(dict.fromkeys(indexes)) == list(range(1, want["projects"] + 1))
    assert seen[-1].phase == "done" and seen[-1].requests == result.requests
    assert seen[-1].rate_limit_remaining is not None
    run = sync.sync_status(cache_db, result.run_id, company_id=COMPANY_A)
    assert run["status"] == "succeeded" and run["project_count"] == want["projects"]
    assert run["requests"] == result.requests and run["percent"] == 100
    assert sync.sync_status(cache_db, result.run_id, company_id=COMPANY_B) is None


def test_warm_sync_without_changes_costs_one_request_per_project_and_resource(
    fast_sandbox, make_service_client, cache_db
):
    state = fast_sandbox.state
    client = make_service_client(fast_sandbox)
    sync.run_sync(cache_db, client, COMPANY_A)
    before = cached_counts(cache_db, COMPANY_A)
    state.reset_counters()
    result = sync.run_sync(cache_db, client, COMPANY_A)
    want = expected_counts(state, COMPANY_A)
    assert not result.full and result.status == "succeeded"
    assert cached_counts(cache_db, COMPANY_A) == before
    # projects + vendors; per project: contracts and pay apps; contract payments need a contract id: one each
    assert state.request_count == 2 + 2 * want["projects"] + want["prime_contracts"]
    assert result.count("prime_contract_show").requests == 0
    logged = [path for _m, path, _s in state.request_log]
    assert all("filters%5Bupdated_at%5D=" in p for p in logged), logged[:3]


def _contract_of(state: Any, company_id: int) -> dict[str, Any]:
    project_ids = {p["id"] for p in state.dataset["projects"] if p["company_id"] == company_id}
    allowed = service_project_ids(state)
    return next(
        c
        for c in state.dataset["prime_contracts"]
        if c["project_id"] in project_ids
        and (allowed is None or c["project_id"] in allowed)
        and any(a for a in state.children_of("payment_applications", "contract_id", c["id"]))
    )


def test_changes_are_picked_up_by_a_warm_sync(make_sandbox, small_dataset, make_service_client, cache_db):
    running = make_sandbox(small_dataset, spike_limit=10**6)
    state = running.state
    client = make_service_client(running)
    sync.run_sync(cache_db, client, COMPANY_A)
    contract = _contract_of(state, COMPANY_A)
    pid, cid = contract["project_id"], contract["id"]
    # 1. terms changed in Procore (PATCH bumps updated_at)
    client.update_prime_contract(pid, cid, {"payment_terms": "Net 10"})
    # 2. a pay app changes status
    app = state.children_of("payment_applications", "contract_id", cid)[0]
    app["status"] = "revise_and_resubmit"
    state.touch("payment_applications", [app["id"]])
    # 3. a payment arrives (the contract itself does not change)
    other = next(
        c for c in state.dataset["prime_contracts"] if c["project_id"] in service_project_ids(state) and c["id"] != cid
    )
    created = client.create_contract_payment(
        other["project_id"], other["id"], {"date": "2026-11-20", "amount": "1234.50", "invoice_number": "X-1"}
    )
    result = sync.run_sync(cache_db, client, COMPANY_A)
    assert not result.full
    data = cache.load_receivables(cache_db, COMPANY_A)
    assert next(c for c in data["prime_contracts"] if c["id"] == cid)["payment_terms"] == "Net 10"
    assert next(a for a in data["payment_applications"] if a["id"] == app["id"])["status"] == "revise_and_resubmit"
    payment = next(p for p in data["contract_payments"] if p["id"] == created["id"])
    assert payment["amount"] == "1234.50" and payment["contract_id"] == other["id"]
    assert result.count("prime_contract_show").requests == 1


def _remove(state: Any, key: str, record_id: int) -> None:
    with state.lock:
        state.dataset[key] = [r for r in state.dataset[key] if r["id"] != record_id]
        state._reindex()


def test_deletions_are_removed_on_the_full_pass(make_sandbox, small_dataset, make_service_client, cache_db):
    running = make_sandbox(small_dataset, spike_limit=10**6)
    state = running.state
    client = make_service_client(running)
    sync.run_sync(cache_db, client, COMPANY_A)
    contract = _contract_of(state, COMPANY_A)
    app = state.children_of("payment_applications", "contract_id", contract["id"])[0]
    payment = state.children_of("contract_payments", "contract_id", contract["id"])[0]
    vendor = next(v for v in state.dataset["vendors"] if v["company_id"] == COMPANY_A)
    for key, rid in (
        ("payment_applications", app["id"]),
        ("contract_payments", payment["id"]),
        ("vendors", vendor["id"]),
    ):
        _remove(state, key, rid)

    def ids(table: str) -> set[int]:
        return {r[0] for r in cache_db.execute(f"select id from {table} where company_id = ?", [COMPANY_A])}

    sync.run_sync(cache_db, client, COMPANY_A)  # warm: deletions are invisible to updated_at filters
    assert app["id"] in ids("payment_applications")
    result = sync.run_sync(cache_db, client, COMPANY_A, full=True)
    assert result.full
    assert app["id"] not in ids("payment_applications")
    assert payment["id"] not in ids("contract_payments")
    assert vendor["id"] not in ids("vendors")
    assert cached_counts(cache_db, COMPANY_A) == expected_counts(state, COMPANY_A, service_project_ids(state))


def test_a_project_that_disappears_takes_its_records_along(make_sandbox, small_dataset, make_service_client, cache_db):
    running = make_sandbox(small_dataset, spike_limit=10**6)
    state = running.state
    client = make_service_client(running)
    sync.run_sync(cache_db, client, COMPANY_A)
    gone = service_project_ids(state).pop()  # the company admin withdrew the app's access to one project
    sync.run_sync(cache_db, client, COMPANY_A, full=True)
    for table in ("prime_contracts", "payment_applications", "contract_payments"):
        assert cache_db.execute(f"select count(*) from {table} where project_id = ?", [gone]).fetchone()[0] == 0
    assert cached_counts(cache_db, COMPANY_A) == expected_counts(state, COMPANY_A, service_project_ids(state))


class FailingClient(ProcoreClient):
    """Fails listing pay apps of one project (as a network failure would)."""

    fail_project: int | None = None

    def payment_applications(self, project_id, updated_since=None):
        if project_id == self.fail_project:
            raise errors.ServerError("simulated outage", status=502)
        return super().payment_applications(project_id, updated_since)


def test_failure_midway_keeps_the_last_good_state(make_sandbox, small_dataset, cache_db):
    running = make_sandbox(small_dataset, spike_limit=10**6)
    state = running.state
    oauth = auth.ProcoreOAuth(running.url, "demo-service-account", "demo-service-secret")
    client = FailingClient(running.url, auth.ServiceAccountProvider(oauth), company_id=COMPANY_A)
    sync.run_sync(cache_db, client, COMPANY_A)
    first, second, *_ = service_project_ids(state)
    changed = {}
    for pid in (first, second):
        contract = state.children_of("prime_contracts", "project_id", pid)[0]
        client.update_prime_contract(pid, contract["id"], {"payment_terms": f"Net {pid % 50 + 5}"})
        changed[pid] = contract["id"]
    before = {r["id"]: r for r in cache.load_receivables(cache_db, COMPANY_A)["prime_contracts"]}
    client.fail_project = second
    with pytest.raises(errors.ServerError):
        sync.run_sync(cache_db, client, COMPANY_A)
    after = {r["id"]: r for r in cache.load_receivables(cache_db, COMPANY_A)["prime_contracts"]}
    assert after[changed[first]]["payment_terms"] == f"Net {first % 50 + 5}"  # project done before the failure
    assert after[changed[second]] == before[changed[second]]  # fetched, but never half-saved
    run = sync.sync_status(cache_db, company_id=COMPANY_A)
    assert run["status"] == "failed" and "simulated outage" in run["error"]
    assert not cache_db.conn.in_transaction
    client.fail_project = None
    sync.run_sync(cache_db, client, COMPANY_A)  # the next run picks up where the cursors say
    final = {r["id"]: r for r in cache.load_receivables(cache_db, COMPANY_A)["prime_contracts"]}
    assert final[changed[second]]["payment_terms"] == f"Net {second % 50 + 5}"
    client.close()


def test_throttling_avoids_429_with_a_small_spike_window(make_sandbox, small_dataset, make_service_client, cache_db):
    running = make_sandbox(small_dataset, spike_limit=6, spike_window=1.0)
    client = make_service_client(running)
    result = sync.run_sync(cache_db, client, COMPANY_A)
    assert result.status == "succeeded"
    assert running.state.count_429 == 0 and result.count_429 == 0
    assert result.requests > 6  # it really had to wait for the window


def test_recovers_from_429s(make_sandbox, small_dataset, make_service_client, cache_db):
    running = make_sandbox(small_dataset, spike_limit=6, spike_window=1.0)
    # throttling off: the client runs into the wall and must honour Retry-After / X-Rate-Limit-Reset
    client = make_service_client(running, reserve=-(10**6), slow_below=0.0)
    result = sync.run_sync(cache_db, client, COMPANY_A)
    assert result.status == "succeeded"
    assert running.state.count_429 > 0 and result.count_429 == running.state.count_429
    assert cached_counts(cache_db, COMPANY_A) == expected_counts(
        running.state, COMPANY_A, service_project_ids(running.state)
    )


def test_a_long_rate_limit_wait_fails_fast_and_is_recorded(make_sandbox, small_dataset, make_service_client, cache_db):
    running = make_sandbox(small_dataset, hourly_limit=5, spike_limit=1000)
    client = make_service_client(running, max_wait=2.0)
    with pytest.raises(errors.RateLimited):
        sync.run_sync(cache_db, client, COMPANY_A)
    run = sync.sync_status(cache_db, company_id=COMPANY_A)
    assert run["status"] == "failed" and "rate limit" in run["error"].lower()


def test_unknown_company_is_forbidden(fast_sandbox, make_service_client, cache_db):
    client = make_service_client(fast_sandbox, company_id=None)
    with pytest.raises((errors.Forbidden, errors.NotFound)):
        sync.run_sync(cache_db, client, 424242)


def test_visible_companies_are_what_procore_lists_for_the_user(fast_sandbox, cache_db):
    state = fast_sandbox.state
    user = next(u for u in state.dataset["users"] if len(state.user_company_ids(u)) == 1)
    token = state.issue_token(USER_CLIENT_ID, user["id"])
    client = ProcoreClient(fast_sandbox.url, token["access_token"])
    me = client.me()
    companies = sync.refresh_visible_companies(cache_db, client, me)
    assert [c["id"] for c in companies] == state.user_company_ids(user)
    assert sync.visible_company_ids(cache_db, user["id"]) == set(state.user_company_ids(user))
    row = cache_db.execute("select name from users where id = ?", [user["id"]]).fetchone()
    assert row[0] == user["name"]
    assert USER_CLIENT_SECRET  # the user client is the app's (not the service account)
    client.close()


def test_background_sync_and_polling(fast_sandbox, make_service_client, tmp_path):
    path = str(tmp_path / "bg.sqlite")
    run_id = sync.start_background_sync(lambda: open_db(path), lambda: make_service_client(fast_sandbox), COMPANY_A)
    again = sync.start_background_sync(lambda: open_db(path), lambda: make_service_client(fast_sandbox), COMPANY_A)
    assert again == run_id  # one sync per company at a time
    sync.wait_for_background_sync(COMPANY_A, timeout=60)
    db = open_db(path)
    status = sync.sync_status(db, run_id, company_id=COMPANY_A)
    assert status["status"] == "succeeded" and status["percent"] == 100
    assert json.loads(json.dumps(status))  # serialisable for a JSON/htmx endpoint
    db.conn.close()
    assert threading.active_count() >= 1
