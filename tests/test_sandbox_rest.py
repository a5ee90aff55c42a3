"""Contract tests of the stand-in's REST API over real HTTP: pagination, filters, scoping, rate limits, writes."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import requests

from embedded_app.sandbox.dataset import parse_timestamp

COMPANY_A = 10001
COMPANY_B = 10002
TIMEOUT = 10


class Api:
    """A tiny client for the tests: bearer token + company header on every call."""

    def __init__(self, box, token: str, company_id: int | None = COMPANY_A) -> None:
        self.base = box.url
        self.headers = {"Authorization": f"Bearer {token}"}
        if company_id is not None:
            self.headers["Procore-Company-Id"] = str(company_id)

    def get(self, path: str, **params) -> requests.Response:
        return requests.get(self.base + path, params=params, headers=self.headers, timeout=TIMEOUT)

    def send(self, method: str, path: str, body: dict, **params) -> requests.Response:
        return requests.request(method, self.base + path, params=params, json=body, headers=self.headers,
                                timeout=TIMEOUT)


def _controller(box) -> str:
    """A token of the user who sees both companies."""
    user = next(u for u in box.state.dataset["users"] if u.get("company_ids"))
    return box.token(user_id=user["id"])["access_token"]


def _busiest_project(box, company_id: int = COMPANY_A) -> dict:
    state = box.state
    projects = [p for p in state.dataset["projects"] if p["company_id"] == company_id]
    return max(projects, key=lambda p: len(state.children_of("payment_applications", "project_id", p["id"])))


def test_pagination_headers_and_link(sandbox):
    api = Api(sandbox, sandbox.token()["access_token"])
    project = _busiest_project(sandbox)
    first = api.get("/rest/v1.0/payment_applications", project_id=project["id"])
    assert first.status_code == 200
    total = int(first.headers["Total"])
    assert total > 30 and first.headers["Per-Page"] == "30" and len(first.json()) == 30
    links = requests.utils.parse_header_links(first.headers["Link"])
    rels = {link["rel"]: link["url"] for link in links}
    assert set(rels) == {"first", "next", "last"}

    seen: list[int] = []
    url: str | None = f"{api.base}/rest/v1.0/payment_applications?project_id={project['id']}&per_page=7"
    pages = 0
    while url:
        page = requests.get(url, headers=api.headers, timeout=TIMEOUT)
        seen.extend(r["id"] for r in page.json())
        rels = {link["rel"]: link["url"] for link in requests.utils.parse_header_links(page.headers["Link"])}
        assert "first" in rels and "last" in rels
        if pages:
            assert "prev" in rels
        url = rels.get("next")
        pages += 1
    assert len(seen) == len(set(seen)) == total
    assert pages == -(-total // 7)

    past_end = api.get("/rest/v1.0/payment_applications", project_id=project["id"], page=pages + 1, per_page=7)
    assert past_end.status_code == 200 and past_end.json() == []
    clamped = api.get("/rest/v1.0/vendors", company_id=COMPANY_A, per_page=50_000)
    assert clamped.headers["Per-Page"] == "1000"


def test_filters_updated_at_id_and_sort(sandbox):
    api = Api(sandbox, sandbox.token()["access_token"])
    project = _busiest_project(sandbox)
    records = sandbox.state.children_of("payment_applications", "project_id", project["id"])
    stamps = sorted(parse_timestamp(r["updated_at"]) for r in records)
    low, high = stamps[len(stamps) // 4], stamps[len(stamps) // 2]
    window = f"{low.strftime('%Y-%m-%dT%H:%M:%SZ')}...{high.strftime('%Y-%m-%dT%H:%M:%SZ')}"
    expected = {r["id"] for r in records if low <= parse_timestamp(r["updated_at"]) <= high}
    got = api.get("/rest/v1.0/payment_applications", project_id=project["id"], per_page=1000,
                  **{"filters[updated_at]": window, "sort": "updated_at"})
    assert got.status_code == 200
    assert {r["id"] for r in got.json()} == expected
    order = [r["updated_at"] for r in got.json()]
    assert order == sorted(order)

    # a warm sync: touched records are exactly what changed since "just before now"
    touched = [r["id"] for r in records[:3]]
    assert sandbox.state.touch("payment_applications", touched) == 3
    since = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    later = (datetime.now(UTC) + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    changed = api.get("/rest/v1.0/payment_applications", project_id=project["id"],
                      **{"filters[updated_at]": f"{since}...{later}"})
    assert sorted(r["id"] for r in changed.json()) == sorted(touched)

    gone = touched[1]
    assert sandbox.state.remove("payment_applications", [gone]) == 1
    after = api.get("/rest/v1.0/payment_applications", project_id=project["id"], per_page=1000)
    assert gone not in {r["id"] for r in after.json()} and int(after.headers["Total"]) == len(records) - 1

    by_id = api.get("/rest/v1.0/payment_applications", project_id=project["id"],
                    **{"filters[id]": f"{touched[0]},{touched[2]}"})
    assert sorted(r["id"] for r in by_id.json()) == sorted([touched[0], touched[2]])
    bad = api.get("/rest/v1.0/payment_applications", project_id=project["id"], **{"filters[updated_at]": "soon"})
    assert bad.status_code == 400


def test_auth_and_company_scoping(sandbox):
    dana = sandbox.token()["access_token"]
    no_token = requests.get(f"{sandbox.url}/rest/v1.0/me", timeout=TIMEOUT)
    assert no_token.status_code == 401
    assert Api(sandbox, "garbage").get("/rest/v1.0/me").status_code == 401

    missing = Api(sandbox, dana, company_id=None).get("/rest/v1.0/projects", company_id=COMPANY_A)
    assert missing.status_code == 403 and missing.json() == {"message": "Missing Procore-Company-Id header!"}
    assert Api(sandbox, dana, company_id=None).get("/rest/v1.0/companies").status_code == 200

    other_company = Api(sandbox, dana, company_id=COMPANY_B).get("/rest/v1.0/projects", company_id=COMPANY_B)
    assert other_company.status_code == 403
    mismatch = Api(sandbox, dana).get("/rest/v1.0/vendors", company_id=COMPANY_B)
    assert mismatch.status_code == 403
    assert Api(sandbox, dana, company_id=999).get("/rest/v1.0/vendors", company_id=999).status_code == 403

    # the controller sees both companies, but a project of B is not reachable with A's header
    both = Api(sandbox, _controller(sandbox))
    companies = Api(sandbox, _controller(sandbox), company_id=None).get("/rest/v1.0/companies").json()
    assert sorted(c["id"] for c in companies) == [COMPANY_A, COMPANY_B]
    b_project = _busiest_project(sandbox, COMPANY_B)
    wrong = both.get("/rest/v1.0/prime_contracts", project_id=b_project["id"])
    assert wrong.status_code in (403, 404)
    right = Api(sandbox, _controller(sandbox), COMPANY_B).get("/rest/v1.0/prime_contracts",
                                                               project_id=b_project["id"])
    assert right.status_code == 200 and right.json()


def test_spike_limit_gives_429_and_failed_requests_count(make_sandbox):
    box = make_sandbox(spike_limit=3, spike_window=30.0)
    api = Api(box, box.token()["access_token"])
    first = api.get("/rest/v1.0/me")
    assert first.headers["X-Rate-Limit-Limit"] == "3" and first.headers["X-Rate-Limit-Remaining"] == "2"
    assert Api(box, box.token()["access_token"], None).get("/rest/v1.0/projects", company_id=1).status_code == 403
    assert api.get("/rest/v1.0/me").headers["X-Rate-Limit-Remaining"] == "0"
    over = api.get("/rest/v1.0/me")
    assert over.status_code == 429
    assert 1 <= int(over.headers["Retry-After"]) <= 30
    assert int(over.headers["X-Rate-Limit-Reset"]) >= int(datetime.now(UTC).timestamp())
    assert over.headers["X-Rate-Limit-Remaining"] == "0"
    assert box.state.count_429 == 1 and box.state.request_count == 4
    box.state.reset_counters()
    assert api.get("/rest/v1.0/me").status_code == 200


def test_hourly_limit_and_window_reset(make_sandbox):
    now = [1_800_000_000.0]
    box = make_sandbox(hourly_limit=2, spike_limit=50, clock=lambda: now[0])
    api = Api(box, box.token()["access_token"])
    assert api.get("/rest/v1.0/me").headers["X-Rate-Limit-Limit"] == "2"
    api.get("/rest/v1.0/me")
    over = api.get("/rest/v1.0/me")
    assert over.status_code == 429 and over.headers["X-Rate-Limit-Reset"] == str(1_800_003_600)
    now[0] += 3601
    assert api.get("/rest/v1.0/me").status_code == 200


def test_contract_list_omits_show_fields_and_patch_custom_fields_persists(sandbox):
    api = Api(sandbox, sandbox.token()["access_token"])
    project = _busiest_project(sandbox)
    listed = api.get("/rest/v1.0/prime_contracts", project_id=project["id"]).json()
    assert listed and "payment_terms" not in listed[0] and "payments_received" not in listed[0]
    contract = listed[0]
    assert contract["vendor"]["id"] and "email_address" in contract["vendor"]
    shown = api.get(f"/rest/v1.0/prime_contract/{contract['id']}", project_id=project["id"]).json()
    assert "payment_terms" in shown and isinstance(shown["payments_received"], list)

    defs = api.get(f"/rest/v1.1/companies/{COMPANY_A}/custom_field_definitions").json()
    stage = next(d for d in defs if d["label"] == "Collections stage")
    promised = next(d for d in defs if d["label"] == "Next promised payment")
    patched = api.send("PATCH", f"/rest/v1.0/prime_contract/{contract['id']}", {"prime_contract": {
        f"custom_field_{stage['id']}": "Second reminder", f"custom_field_{promised['id']}": "2026-12-15"}},
        project_id=project["id"])
    assert patched.status_code == 200, patched.text
    again = api.get(f"/rest/v1.0/prime_contract/{contract['id']}", project_id=project["id"]).json()
    assert again["custom_fields"][f"custom_field_{stage['id']}"]["value"] == "Second reminder"
    assert again["custom_fields"][f"custom_field_{promised['id']}"] == {"data_type": "date", "value": "2026-12-15"}
    assert again["updated_at"] > shown["updated_at"]

    invalid = api.send("PATCH", f"/rest/v1.0/prime_contract/{contract['id']}", {"prime_contract": {
        f"custom_field_{promised['id']}": "next week", "custom_field_1": "x"}}, project_id=project["id"])
    assert invalid.status_code == 422
    assert set(invalid.json()["errors"]) == {f"custom_field_{promised['id']}", "custom_field_1"}
    assert api.send("PATCH", f"/rest/v1.0/prime_contract/{contract['id']}", {},
                    project_id=project["id"]).status_code == 400


def test_post_contract_payment_shows_up_everywhere(sandbox):
    api = Api(sandbox, sandbox.token()["access_token"])
    project = _busiest_project(sandbox)
    pay_app = next(a for a in api.get("/rest/v1.0/payment_applications", project_id=project["id"],
                                      per_page=1000).json() if a["status"] == "approved")
    contract_id = pay_app["contract"]["id"]
    before = api.get(f"/rest/v1.0/prime_contract/{contract_id}", project_id=project["id"]).json()
    created = api.send("POST", "/rest/v1.0/contract_payments", {
        "project_id": project["id"], "contract_id": contract_id, "contract_payment": {
            "date": "2026-12-01", "amount": "1234.56", "payment_method": "check", "check_number": "4411",
            "invoice_number": pay_app["invoice_number"], "draw_request_number": pay_app["number"],
            "notes": "partial"}})
    assert created.status_code == 201, created.text
    payment = created.json()
    assert payment["amount"] == "1234.56" and payment["contract_id"] == contract_id

    listed = api.get("/rest/v1.0/contract_payments", project_id=project["id"], contract_id=contract_id).json()
    assert payment["id"] in {p["id"] for p in listed}
    after = api.get(f"/rest/v1.0/prime_contract/{contract_id}", project_id=project["id"]).json()
    assert payment["id"] in {p["id"] for p in after["payments_received"]}
    assert Decimal(after["total_payments"]) - Decimal(before["total_payments"]) == Decimal("1234.56")
    shown = api.get(f"/rest/v1.0/payment_applications/{pay_app['id']}", project_id=project["id"]).json()
    assert Decimal(shown["total_amount_paid"]) - Decimal(pay_app["total_amount_paid"]) == Decimal("1234.56")
    assert shown["g703"]

    invalid = api.send("POST", "/rest/v1.0/contract_payments", {
        "project_id": project["id"], "contract_id": contract_id,
        "contract_payment": {"amount": "lots", "payment_method": "barter"}})
    assert invalid.status_code == 422
    assert set(invalid.json()["errors"]) == {"amount", "date", "payment_method"}
    missing = api.get("/rest/v1.0/contract_payments", project_id=project["id"])
    assert missing.status_code == 400


def test_generic_tool_items_create_update_and_statuses(sandbox):
    api = Api(sandbox, sandbox.token()["access_token"])
    tools = api.get(f"/rest/v1.0/companies/{COMPANY_A}/generic_tools").json()
    log = next(t for t in tools if t["title"] == "Collections Log")
    controller_b = Api(sandbox, _controller(sandbox), COMPANY_B)
    assert all(t["title"] != "Collections Log" for t in
               controller_b.get(f"/rest/v1.0/companies/{COMPANY_B}/generic_tools").json())

    project = _busiest_project(sandbox)
    base = f"/rest/v1.0/projects/{project['id']}/generic_tools/{log['id']}/generic_tool_items"
    statuses = [s["name"] for s in api.get(f"{base}/available_statuses").json()]
    assert "Open" in statuses and "Closed" in statuses
    bookkeeper = next(u for u in sandbox.state.dataset["users"] if u["company_id"] == COMPANY_A)
    created = api.send("POST", base, {"generic_tool_item": {
        "title": "Promise to pay $50,000", "description": "Call with AP", "status": "Open",
        "due_date": "2026-12-10", "private": True, "assignee_ids": [bookkeeper["id"]]}})
    assert created.status_code == 201, created.text
    item = created.json()
    assert item["status_type"] == "Open" and item["assignees"][0]["id"] == bookkeeper["id"]

    updated = api.send("PATCH", f"{base}/{item['id']}", {"generic_tool_item": {"status": "Closed"}})
    assert updated.status_code == 200 and updated.json()["status_type"] == "Closed"
    listed = api.get(base).json()
    assert [(i["id"], i["status"]) for i in listed] == [(item["id"], "Closed")]

    invalid = api.send("POST", base, {"generic_tool_item": {"title": "", "status": "Maybe",
                                                            "due_date": "12/10/2026"}})
    assert invalid.status_code == 422
    assert set(invalid.json()["errors"]) == {"title", "status", "due_date"}


def test_vendors_and_webhooks(sandbox):
    api = Api(sandbox, sandbox.token()["access_token"])
    vendors = api.get("/rest/v1.0/vendors", company_id=COMPANY_A).json()
    assert vendors and all("invoice_contacts" not in v for v in vendors)
    shown = api.get(f"/rest/v1.0/vendors/{vendors[0]['id']}", company_id=COMPANY_A).json()
    assert "invoice_contacts" in shown

    hook = api.send("POST", "/rest/v1.0/webhooks/hooks", {"company_id": COMPANY_A, "hook": {
        "api_version": "v2", "namespace": "collections-app", "destination_url": "http://localhost:5100/webhooks",
        "destination_headers": {"Authorization": "Bearer s3cret"}}})
    assert hook.status_code == 201, hook.text
    hook_id = hook.json()["id"]
    trigger = api.send("POST", f"/rest/v1.0/webhooks/hooks/{hook_id}/triggers", {
        "company_id": COMPANY_A, "api_version": "v2",
        "trigger": {"resource_name": "Payment Applications", "event_type": "update"}})
    assert trigger.status_code == 201
    assert [h["id"] for h in api.get("/rest/v1.0/webhooks/hooks", company_id=COMPANY_A).json()] == [hook_id]
    bad = api.send("POST", "/rest/v1.0/webhooks/hooks", {"company_id": COMPANY_A, "hook": {
        "namespace": "Bad Name", "destination_url": "ftp://x"}})
    assert bad.status_code == 422 and set(bad.json()["errors"]) == {"namespace", "destination_url"}


def test_concurrent_requests_are_all_served_and_counted(make_sandbox):
    box = make_sandbox(spike_limit=10_000)
    api = Api(box, box.token()["access_token"])
    project = _busiest_project(box)

    def call(n: int) -> int:
        if n % 3 == 0:
            return api.send("POST", "/rest/v1.0/webhooks/hooks", {"company_id": COMPANY_A, "hook": {
                "namespace": f"ns-{n}", "destination_url": "http://localhost/hook"}}).status_code
        return api.get("/rest/v1.0/prime_contracts", project_id=project["id"]).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = list(pool.map(call, range(30)))
    assert statuses.count(201) == 10 and statuses.count(200) == 20
    assert box.state.request_count == 30
    hooks = api.get("/rest/v1.0/webhooks/hooks", company_id=COMPANY_A).json()
    assert len({h["id"] for h in hooks}) == 10
