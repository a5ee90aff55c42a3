"""Company isolation: a user of company A can neither read nor act on company B's records.

Dana (7000001) sees only Summit Ridge (A, 10001); Marcus (7000003) sees only Harborline (B, 10002). Marcus makes
B's records through the UI (a draft, a failed outbox row, a dispute, a promise, a sync run, settings and opt-in);
then Dana tries every company-data endpoint of ``app.url_map``

1. with B's company id (and B's ids): 403, nothing of B in the answer;
2. with her own company id and B's record ids (draft, outbox row, work-log entry, customer, project, contract,
   run, idempotency key): 404 (or her own, B-free data for lists), nothing of B in the answer;

and afterwards every B row is exactly as it was. A test fails if an endpoint is added without a case here.
"""

from __future__ import annotations

import re
import threading
from datetime import date, timedelta
from html import unescape
from typing import Any

import pytest

from embedded_app import collections, create_app, outreach
from embedded_app.store import open_db

from .fixtures.sandbox import _start
from .fixtures.webapp import DANA, HARBORLINE, SUMMIT, connect, csrf_of, sync_and_wait

MARCUS = 7000003  # sees only Harborline
PUBLIC = {"static", "pages.index", "pages.healthz", "pages.install", "auth.start", "auth.callback",
          "auth.complete", "auth.disconnect"}
B_REASON = "B-ONLY dispute reason 7f3c"
B_NOTE = "B-ONLY promise note 91ad"
B_FROM = "ar@harborline-only.test"
B_SUBJECT_EDIT = "B-ONLY edited subject 5e2b"
B_TABLES = ("drafts", "draft_versions", "outbox", "outbox_events", "worklog_entries", "company_settings",
            "opt_in_events", "sync_runs")


def _db(app: Any) -> Any:
    return open_db(app.config["DATABASE"])


def _b_state(app: Any) -> dict[str, list[Any]]:
    db = _db(app)
    try:
        return {t: db.conn.execute(f"select * from {t} where company_id = ? order by rowid", [HARBORLINE]).fetchall()
                for t in B_TABLES}
    finally:
        db.conn.close()


def _ok(response: Any) -> str:
    body = unescape(response.get_data(as_text=True))
    assert response.status_code == 200, body[:2000]
    return body


@pytest.fixture(scope="module")
def world(seed_dataset, tmp_path_factory) -> Any:
    sandbox = _start(seed_dataset, spike_limit=5000, hourly_limit=100000)
    app = create_app({"TESTING": True, "SECRET_KEY": "test-secret",
                      "DATABASE": str(tmp_path_factory.mktemp("isolation") / "app.sqlite"),
                      "PROCORE_API_URL": sandbox.url, "PROCORE_LOGIN_URL": sandbox.url})
    dana, marcus = app.test_client(), app.test_client()
    connect(dana, sandbox.url, DANA, SUMMIT)
    connect(marcus, sandbox.url, MARCUS, HARBORLINE)
    sync_and_wait(dana, SUMMIT)
    b_run = sync_and_wait(marcus, HARBORLINE)["run_id"]

    # Company B's records, made by Marcus through the UI.
    hb = {"X-CSRF-Token": csrf_of(marcus, HARBORLINE), "HX-Request": "true"}

    def b_post(path: str, data: dict[str, Any]) -> str:
        return _ok(marcus.post(path, data={"company_id": HARBORLINE, **data}, headers=hb))

    db = _db(app)
    report = collections.build_report(db, HARBORLINE, as_of=date.today()).to_json()
    projects = collections.project_names(db, HARBORLINE)
    db.conn.close()
    emailable = next(c for c in report["customers"] if c["email"] and outreach.draft_stage(c)
                     and any(i["open"] != "0.00" and not i["paused"] for i in c["invoices"]))
    b_post("/outreach/settings", {"from_name": "Harborline AR", "from_addr": B_FROM, "smtp_host": "127.0.0.1",
                                  "smtp_port": 1, "smtp_security": "none", "smtp_password": "b-smtp-pw"})
    b_post("/outreach/opt-in", {"action": "record", "confirm": "yes"})
    draft_id = int(re.search(r'data-draft-id="(\d+)"', b_post("/outreach/drafts",
                                                               {"customer_id": emailable["id"]})).group(1))
    b_post(f"/outreach/drafts/{draft_id}/send", {})  # nothing listens on port 1: a failed row with Retry
    other = next(c for c in report["customers"] if c["id"] != emailable["id"] and outreach.draft_stage(c)
                 and c["email"] and any(i["open"] != "0.00" and not i["paused"] for i in c["invoices"]))
    waiting_draft = int(re.search(r'data-draft-id="(\d+)"', b_post("/outreach/drafts",
                                                                    {"customer_id": other["id"]})).group(1))
    invoice = next(i for i in emailable["invoices"] if i["open"] != "0.00" and not i["paused"])
    b_post("/worklog/dispute", {"customer_id": emailable["id"], "pay_app_id": invoice["pay_app_id"],
                                "reason": B_REASON, "idem_key": "b-dispute-key"})
    b_post("/worklog/promise", {"customer_id": other["id"], "amount": "1.00", "note": B_NOTE,
                                "promised_date": (date.today() + timedelta(days=3)).isoformat(),
                                "idem_key": "b-promise-key"})
    db = _db(app)
    outbox_id = db.conn.execute("select id from outbox where company_id = ?", [HARBORLINE]).fetchone()[0]
    dispute_id = db.conn.execute("select id from worklog_entries where company_id = ? and kind = 'dispute'",
                                 [HARBORLINE]).fetchone()[0]
    a_report = collections.build_report(db, SUMMIT, as_of=date.today()).to_json()
    db.conn.close()
    a_customer = next(c for c in sorted(a_report["customers"], key=lambda c: c["id"])
                      if any(i["open"] != "0.00" for i in c["invoices"]))
    a_names = {c["name"] for c in a_report["customers"]}
    b_only_names = sorted(c["name"] for c in report["customers"] if c["name"] not in a_names)
    ids = {
        "draft": draft_id, "waiting_draft": waiting_draft, "row": outbox_id, "entry": dispute_id, "run": b_run,
        "customer": emailable["id"], "pay_app": invoice["pay_app_id"], "contract": invoice["contract_id"],
        "project": next(iter(projects)), "a_customer": a_customer["id"],
    }
    markers = [B_REASON, B_NOTE, B_FROM, B_SUBJECT_EDIT, *b_only_names[:5], emailable["email"]]
    assert b_only_names, "the seed has customers only company B bills"
    yield {"app": app, "dana": dana, "marcus": marcus, "ids": ids, "markers": markers}
    from embedded_app import sync

    for company_id in (SUMMIT, HARBORLINE):
        sync.wait_for_background_sync(company_id, 120)
    threading.Thread(target=sandbox.stop, daemon=True).start()


# endpoint → (method, path, params) for an attack; {draft}, {row}, … are B's ids, {company} the company id used.
CASES: dict[str, tuple[str, str, dict[str, str]]] = {
    "pages.collections": ("GET", "/collections", {"project_id": "{project}", "section": "queue"}),
    "pages.aging_csv": ("GET", "/collections/aging.csv", {"project_id": "{project}"}),
    "pages.panel": ("GET", "/panel", {"view": "prime_contracts", "id": "{contract}"}),
    "sync.start": ("POST", "/sync", {"full": "1"}),
    "sync.status": ("GET", "/sync/status", {"run_id": "{run}"}),
    "worklog.form": ("GET", "/worklog/form/promise", {"customer_id": "{customer}"}),
    "worklog.promise": ("POST", "/worklog/promise", {"customer_id": "{customer}", "amount": "1.00",
                                                     "promised_date": "{tomorrow}"}),
    "worklog.call": ("POST", "/worklog/call", {"customer_id": "{customer}", "outcome": "reached"}),
    "worklog.dispute": ("POST", "/worklog/dispute", {"customer_id": "{customer}", "pay_app_id": "{pay_app}",
                                                     "reason": "mine"}),
    "worklog.resolve": ("POST", "/worklog/disputes/{entry}/resolve", {}),
    "worklog.retry": ("POST", "/worklog/retry", {}),
    "worklog.fields": ("POST", "/worklog/fields", {}),
    "outreach.queue": ("GET", "/outreach/queue", {}),
    "outreach.outbox_list": ("GET", "/outreach/outbox", {}),
    "outreach.history": ("GET", "/outreach/history", {"customer_id": "{customer}"}),
    "outreach.draft_all": ("POST", "/outreach/drafts/due", {}),
    "outreach.create_draft": ("POST", "/outreach/drafts", {"customer_id": "{customer}"}),
    "outreach.editor": ("GET", "/outreach/drafts/{waiting_draft}", {}),
    "outreach.save_draft": ("POST", "/outreach/drafts/{waiting_draft}", {"subject": B_SUBJECT_EDIT}),
    "outreach.send_draft": ("POST", "/outreach/drafts/{waiting_draft}/send", {}),
    "outreach.skip_draft": ("POST", "/outreach/drafts/{waiting_draft}/skip", {}),
    "outreach.retry": ("POST", "/outreach/outbox/{row}/retry", {}),
    "outreach.resolve": ("POST", "/outreach/outbox/{row}/resolve", {"delivered": "yes"}),
    "outreach.retry_log": ("POST", "/outreach/outbox/{row}/log", {}),
    "outreach.settings": ("GET", "/outreach/settings", {}),
    "outreach.save_settings": ("POST", "/outreach/settings", {"from_addr": "evil@attacker.test",
                                                              "smtp_port": "25"}),
    "outreach.opt_in": ("POST", "/outreach/opt-in", {"action": "revoke"}),
    "outreach.test_email": ("POST", "/outreach/settings/test", {"test_to": "evil@attacker.test"}),
}
# With her own company id these act only on company A (no B id to pass): only the B-company-id attack applies.
OWN_COMPANY_ONLY = {"sync.start", "worklog.retry", "worklog.fields", "outreach.draft_all", "outreach.save_settings",
                    "outreach.opt_in", "outreach.test_email", "outreach.queue", "outreach.outbox_list",
                    "outreach.settings"}
# Lists and pages answer 200 with company A's own data when handed B's ids (a B project, contract, customer, run).
LISTS = {"pages.collections", "pages.aging_csv", "pages.panel", "sync.status", "outreach.history"}


def _request(client: Any, world: Any, endpoint: str, company_id: int) -> Any:
    method, path, params = CASES[endpoint]
    values = {k: str(v) for k, v in world["ids"].items()}
    values["tomorrow"] = (date.today() + timedelta(days=1)).isoformat()
    fill = lambda text: text.format(**values) if "{" in text else text  # noqa: E731
    data = {"company_id": str(company_id), **{k: fill(v) for k, v in params.items()}}
    if method == "GET":
        return client.get(fill(path), query_string=data, headers={"HX-Request": "true"})
    own = SUMMIT if client is world["dana"] else HARBORLINE  # the session's CSRF token, read from its own tab
    headers = {"X-CSRF-Token": csrf_of(client, own), "HX-Request": "true"}
    return client.post(f"{fill(path)}?company_id={company_id}", data=data, headers=headers)


def _no_leak(world: Any, response: Any) -> None:
    body = unescape(response.get_data(as_text=True))
    leaked = [m for m in world["markers"] if m in body]
    assert not leaked, f"company B data in the answer: {leaked}"
    assert f"data-draft-id=\"{world['ids']['draft']}\"" not in body
    assert f"data-draft-id=\"{world['ids']['waiting_draft']}\"" not in body


def test_every_company_endpoint_has_an_isolation_case(world) -> None:
    endpoints = {rule.endpoint for rule in world["app"].url_map.iter_rules()}
    assert endpoints - PUBLIC == set(CASES), "classify new endpoints here (PUBLIC or CASES)"


@pytest.mark.parametrize("endpoint", sorted(CASES))
def test_other_company_id_is_refused(world, endpoint: str) -> None:
    before = _b_state(world["app"])
    response = _request(world["dana"], world, endpoint, HARBORLINE)
    assert response.status_code == 403, response.get_data(as_text=True)[:1000]
    _no_leak(world, response)
    assert _b_state(world["app"]) == before


@pytest.mark.parametrize("endpoint", sorted(set(CASES) - OWN_COMPANY_ONLY))
def test_other_company_record_ids_are_not_found(world, endpoint: str) -> None:
    before = _b_state(world["app"])
    response = _request(world["dana"], world, endpoint, SUMMIT)
    if endpoint in LISTS:
        assert response.status_code in (200, 404), response.get_data(as_text=True)[:1000]
    else:
        assert response.status_code == 404, response.get_data(as_text=True)[:1000]
    _no_leak(world, response)
    assert _b_state(world["app"]) == before


@pytest.mark.parametrize("kind", ["promise", "dispute"])
def test_other_company_idempotency_key_neither_returns_nor_changes_its_entry(world, kind: str) -> None:
    """A form key copied from B's entry, on Dana's own customer: refused in plain words, B's entry untouched,
    nothing saved for A under B's key."""
    before = _b_state(world["app"])
    dana = world["dana"]
    customer = world["ids"]["a_customer"]
    db = _db(world["app"])
    a_report = collections.build_report(db, SUMMIT, as_of=date.today()).to_json()
    a_entries = db.conn.execute("select count(*) from worklog_entries where company_id = ?", [SUMMIT]).fetchone()[0]
    db.conn.close()
    c = next(x for x in a_report["customers"] if x["id"] == customer)
    invoice = next(i for i in c["invoices"] if i["open"] != "0.00")
    data = {"company_id": SUMMIT, "customer_id": customer, "idem_key": f"b-{kind}-key"}
    if kind == "promise":
        data.update(amount="1.00", promised_date=(date.today() + timedelta(days=2)).isoformat())
    else:
        data.update(pay_app_id=invoice["pay_app_id"], reason="quantities")
    response = dana.post(f"/worklog/{kind}", data=data, headers={"X-CSRF-Token": csrf_of(dana, SUMMIT),
                                                                 "HX-Request": "true"})
    body = unescape(response.get_data(as_text=True))
    assert response.status_code < 500, body[:1000]
    assert "could not be saved as it was sent" in body and f'value="b-{kind}-key"' not in body
    _no_leak(world, response)
    assert _b_state(world["app"]) == before
    db = _db(world["app"])
    try:
        assert db.conn.execute("select count(*) from worklog_entries where company_id = ?",
                               [SUMMIT]).fetchone()[0] == a_entries
    finally:
        db.conn.close()


@pytest.mark.parametrize("endpoint", ["outreach.editor", "worklog.form", "outreach.history", "sync.status"])
def test_the_owner_can_open_the_same_records(world, endpoint: str) -> None:
    """Control: the ids the attacks use are real — Marcus (company B) gets them."""
    response = _request(world["marcus"], world, endpoint, HARBORLINE)
    assert response.status_code == 200, response.get_data(as_text=True)[:1000]


def test_signed_out_requests_see_nothing(world) -> None:
    anonymous = world["app"].test_client()
    for endpoint in sorted(set(CASES) - {"sync.start"}):
        method, _, _ = CASES[endpoint]
        if method != "GET":
            continue
        response = _request(anonymous, world, endpoint, HARBORLINE)
        assert response.status_code in (200, 401), (endpoint, response.status_code)
        _no_leak(world, response)
