"""Bad input gets a clear message and loses nothing: every form and id-taking endpoint, hit with malformed values
(non-numeric or out-of-range ids, bad or absurd dates, huge amounts, missing fields), answers in plain words —
a 4xx error, or the form back with the field marked (the work-log and settings forms re-render in place with
the typed values kept) — and never a 500 or a stack trace.

One stand-in and one synced app for the module (the cases only send refused input, so they do not interfere).
"""

from __future__ import annotations

import re
import threading
from datetime import date, timedelta
from html import unescape
from typing import Any

import pytest

from embedded_app import create_app, worklog
from embedded_app.store import open_db

from .fixtures.sandbox import _start
from .fixtures.webapp import DANA, SUMMIT, connect, csrf_of, sync_and_wait

HUGE = "9" * 30  # does not fit SQLite's 64-bit integers
TODAY = date.today()


@pytest.fixture(scope="module")
def world(seed_dataset, tmp_path_factory) -> Any:
    sandbox = _start(seed_dataset, spike_limit=5000, hourly_limit=100000)
    app = create_app({"TESTING": True, "SECRET_KEY": "test-secret",
                      "DATABASE": str(tmp_path_factory.mktemp("bad-input") / "app.sqlite"),
                      "PROCORE_API_URL": sandbox.url, "PROCORE_LOGIN_URL": sandbox.url})
    client = app.test_client()
    connect(client, sandbox.url, DANA)
    sync_and_wait(client)
    db = open_db(app.config["DATABASE"])
    report = worklog.build_report(db, SUMMIT, as_of=TODAY).to_json()
    db.conn.close()
    customer = next(c for c in sorted(report["customers"], key=lambda c: c["id"]) if worklog.open_invoices(c))
    headers = {"X-CSRF-Token": csrf_of(client, SUMMIT), "HX-Request": "true"}
    yield {"client": client, "app": app, "customer": customer, "headers": headers}
    from embedded_app import sync

    sync.wait_for_background_sync(SUMMIT, 120)
    threading.Thread(target=sandbox.stop, daemon=True).start()


def _entry_count(app: Any) -> int:
    db = open_db(app.config["DATABASE"])
    try:
        return db.conn.execute("select count(*) from worklog_entries").fetchone()[0]
    finally:
        db.conn.close()


C = "{customer}"  # replaced by a real customer id of the company
GET_CASES: list[tuple[str, str]] = [
    ("/collections?company_id=abc", "company id"),
    ("/collections?company_id=&section=aging", "company id"),
    (f"/collections?company_id={SUMMIT}&as_of=30/11/2026", "as-of date"),
    (f"/collections?company_id={SUMMIT}&as_of=9999-12-31", "as-of date"),
    (f"/collections?company_id={SUMMIT}&as_of=0001-01-01", "as-of date"),
    (f"/collections?company_id={SUMMIT}&project_id=abc", "project id"),
    (f"/collections?company_id={SUMMIT}&project_id={HUGE}", "project id"),
    (f"/collections/aging.csv?company_id={SUMMIT}&as_of=tomorrow", "as-of date"),
    (f"/collections/aging.csv?company_id={SUMMIT}&project_id={HUGE}", "project id"),
    (f"/panel?company_id={SUMMIT}&as_of=9999-12-31&view=prime_contracts&id=1", "as-of date"),
    (f"/panel?company_id={SUMMIT}&project_id=x1", "project id"),
    ("/sync/status?company_id=ten", "company id"),
    (f"/worklog/form/promise?company_id={SUMMIT}&customer_id=abc", "customer id"),
    (f"/worklog/form/promise?company_id={SUMMIT}&customer_id={HUGE}", "customer id"),
    (f"/worklog/form/promise?company_id={SUMMIT}", "Which customer"),
    (f"/worklog/form/call?company_id={SUMMIT}&customer_id={C}&contract_id=abc", "contract id"),
    (f"/worklog/form/nonsense?company_id={SUMMIT}&customer_id={C}", "no such form"),
    (f"/outreach/history?company_id={SUMMIT}&customer_id=abc", "customer"),
    (f"/outreach/history?company_id={SUMMIT}&customer_id={HUGE}", "customer"),
    (f"/outreach/history?company_id={SUMMIT}", "customer is missing"),
    (f"/outreach/drafts/{HUGE}?company_id={SUMMIT}", "not found"),
    (f"/outreach/drafts/abc?company_id={SUMMIT}", "not found"),
    (f"/outreach/drafts/424242?company_id={SUMMIT}", "draft does not exist"),
]

POST_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("/sync", {"company_id": "abc"}, "company id"),
    ("/worklog/promise", {"customer_id": C, "amount": "abc", "promised_date": "soon"}, "amount promised as a number"),
    ("/worklog/promise", {"customer_id": C, "amount": "1e999999", "promised_date": "+1"}, "more than the open balance"),
    ("/worklog/promise", {"customer_id": C, "amount": HUGE, "promised_date": "+1"}, "more than the open balance"),
    ("/worklog/promise", {"customer_id": C, "amount": "1e30", "promised_date": "+1"}, "more than the open balance"),
    ("/worklog/promise", {"customer_id": C, "amount": "-5", "promised_date": "+1"}, "more than $0.00"),
    ("/worklog/promise", {"customer_id": C, "amount": "NaN", "promised_date": "+1"}, "amount promised as a number"),
    ("/worklog/promise", {"customer_id": C, "amount": "1.001", "promised_date": "+1"}, "two decimals"),
    ("/worklog/promise", {"customer_id": C, "amount": "10", "promised_date": "99999-01-01"}, "promised date"),
    ("/worklog/promise", {"customer_id": C, "amount": "10", "promised_date": "9999-12-31"}, "days ahead"),
    ("/worklog/promise", {"customer_id": C, "amount": "10", "promised_date": "2001-01-01"}, "in the past"),
    ("/worklog/promise", {"customer_id": C, "amount": "10", "promised_date": "+1", "invoice_ids": HUGE},
     "only open invoices"),
    ("/worklog/promise", {"customer_id": C, "amount": "10", "promised_date": "+1", "contract_id": HUGE},
     "contract id"),
    ("/worklog/promise", {"customer_id": C, "amount": "10", "promised_date": "+1", "contract_id": "7"},
     "does not belong to this customer"),
    ("/worklog/promise", {"customer_id": C, "amount": "10", "promised_date": "+1", "channel": "fax"},
     "how the promise was made"),
    ("/worklog/promise", {"amount": "10", "promised_date": "+1"}, "Which customer"),
    ("/worklog/promise", {"customer_id": "abc", "amount": "10"}, "customer id"),
    ("/worklog/promise", {"customer_id": HUGE, "amount": "10"}, "customer id"),
    ("/worklog/promise", {"customer_id": "424242", "amount": "10"}, "not in the cached receivables"),
    ("/worklog/call", {"customer_id": C, "outcome": "shouted"}, "how the call went"),
    ("/worklog/call", {"customer_id": C, "outcome": "reached", "next_step_date": "31/12/2026"}, "next step date"),
    ("/worklog/call", {"customer_id": C, "outcome": "reached", "next_step_date": "9999-12-31"}, "within"),
    ("/worklog/call", {"customer_id": C, "outcome": "dispute_raised"}, "what the customer disputes"),
    ("/worklog/dispute", {"customer_id": C, "pay_app_id": "abc", "reason": "x"}, "open invoice"),
    ("/worklog/dispute", {"customer_id": C, "pay_app_id": HUGE, "reason": "x"}, "open invoice"),
    ("/worklog/dispute", {"customer_id": C}, "what the customer disputes"),
    (f"/worklog/disputes/{HUGE}/resolve", {}, "not found"),
    ("/worklog/disputes/424242/resolve", {}, "dispute is not logged"),
    ("/outreach/drafts", {"customer_id": "abc"}, "customer"),
    ("/outreach/drafts", {"customer_id": HUGE}, "customer"),
    ("/outreach/drafts", {}, "nothing open"),
    (f"/outreach/drafts/{HUGE}", {"subject": "x"}, "not found"),
    (f"/outreach/drafts/{HUGE}/send", {}, "not found"),
    (f"/outreach/drafts/{HUGE}/skip", {}, "not found"),
    ("/outreach/drafts/424242/send", {}, "draft does not exist"),
    (f"/outreach/outbox/{HUGE}/retry", {}, "not found"),
    (f"/outreach/outbox/{HUGE}/resolve", {"delivered": "yes"}, "not found"),
    (f"/outreach/outbox/{HUGE}/log", {}, "not found"),
    ("/outreach/outbox/424242/retry", {}, "not in your company"),
    ("/outreach/settings", {"smtp_port": "abc"}, "SMTP port must be a number"),
    ("/outreach/settings", {"smtp_port": HUGE}, "SMTP port must be a number"),
    ("/outreach/settings", {"smtp_port": "9" * 5000}, "SMTP port must be a number"),
    ("/outreach/settings", {"smtp_port": "25", "from_addr": "not-an-address"}, "from address"),
    ("/outreach/settings", {"smtp_port": "25", "reply_to": "x@"}, "reply-to address"),
    ("/outreach/settings", {"smtp_port": "25", "smtp_security": "carrier-pigeon"}, "starttls, ssl or none"),
    ("/outreach/settings/test", {}, "Enter the address"),
    ("/outreach/opt-in", {"action": "record"}, "Tick the box"),
    ("/oauth/complete", {"ticket": "garbage"}, "could not be verified"),
]


def _fill(text: str, world: Any) -> str:
    return text.replace(C, str(world["customer"]["id"]))


def _assert_plain_answer(response: Any, expected: str) -> str:
    body = unescape(response.get_data(as_text=True))
    assert response.status_code < 500, body
    assert "Traceback" not in body and "File \"" not in body and "Error:" not in body
    assert expected.lower() in body.lower(), body[:2000]
    if response.status_code >= 400:  # an error page / fragment with a title and a message
        assert 'class="notice notice-error"' in body or response.mimetype != "text/html", body[:2000]
    return body


@pytest.mark.parametrize(("url", "expected"), GET_CASES, ids=[c[0] for c in GET_CASES])
def test_bad_query_gets_a_plain_4xx(world, url: str, expected: str) -> None:
    response = world["client"].get(_fill(url, world), headers=world["headers"])
    _assert_plain_answer(response, expected)
    assert 400 <= response.status_code < 500


@pytest.mark.parametrize(("path", "data", "expected"), POST_CASES,
                         ids=[f"{c[0]}-{'-'.join(f'{k}={str(v)[:12]}' for k, v in c[1].items())}" for c in POST_CASES])
def test_bad_form_gets_a_plain_answer_and_nothing_is_saved(world, path: str, data: dict[str, Any],
                                                           expected: str) -> None:
    form = {"company_id": str(SUMMIT), **{k: _fill(str(v), world) for k, v in data.items()}}
    if form.get("promised_date") == "+1":
        form["promised_date"] = (TODAY + timedelta(days=1)).isoformat()
    if path == "/sync":
        form = {k: v for k, v in data.items()}
    before = _entry_count(world["app"])
    response = world["client"].post(path, data=form, headers=world["headers"])
    body = _assert_plain_answer(response, expected)
    assert _entry_count(world["app"]) == before  # refused: nothing half-saved
    if response.status_code == 200 and path.startswith("/worklog/"):
        # the form comes back with the field marked and the typed values kept
        assert "Nothing was saved yet" in body
        for key in ("amount", "note", "reason"):
            if form.get(key) and len(form[key]) < 100:
                assert re.search(rf'name="{key}"[^>]*value="{re.escape(form[key])}"', body) or \
                    f">{form[key]}</textarea>" in body, (key, body[:3000])
