"""Promises, calls and disputes against the Procore stand-in over real HTTP: Collections Log items and prime
contract custom fields really written and read back; Procore failing → pending sync → retried exactly once."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest

from embedded_app import worklog
from embedded_app.store import open_db
from embedded_app.store import worklog as store

from .fixtures.webapp import HARBORLINE, PRIYA, SUMMIT, connect, csrf_of, sync_and_wait

TODAY = date.today()


@pytest.fixture
def synced(connected_client, standin_app):
    sync_and_wait(connected_client)
    return connected_client


def _db(app):
    return open_db(app.config["DATABASE"])


def _customer_with_open_invoices(app, company_id=SUMMIT, minimum="1000"):
    report = worklog.build_report(_db(app), company_id, as_of=TODAY).to_json()
    for c in sorted(report["customers"], key=lambda c: c["id"]):
        rows = worklog.open_invoices(c)
        if len(rows) >= 2 and Decimal(c["balance"]) > Decimal(minimum):
            return c, rows
    raise AssertionError("the seed has a customer with two open invoices")


def _log_tool(client, company_id=SUMMIT):
    return next(t for t in client.generic_tools(company_id) if t["title"] == "Collections Log")


def _items(service, project_id, company_id=SUMMIT):
    return service.generic_tool_items(project_id, _log_tool(service, company_id)["id"])


def _post(client, path, data, company_id=SUMMIT):
    return client.post(path, data={"company_id": company_id, **data},
                       headers={"X-CSRF-Token": csrf_of(client, company_id), "HX-Request": "true"})


def test_promise_from_the_panel_is_a_procore_item_with_the_due_date_and_custom_fields(
        synced, standin_app, make_service_client):
    customer, rows = _customer_with_open_invoices(standin_app)
    contract_id = rows[0]["contract_id"]
    form = synced.get(f"/worklog/form/promise?company_id={SUMMIT}&customer_id={customer['id']}"
                      f"&contract_id={contract_id}&target=panel", headers={"HX-Request": "true"})
    assert form.status_code == 200
    html = form.get_data(as_text=True)
    key = re.search(r'name="idem_key" value="([0-9a-f]+)"', html).group(1)
    promised = TODAY + timedelta(days=10)
    amount = Decimal(rows[0]["open"]) + Decimal("1.00")  # more than the oldest: covers the next one too
    data = {"customer_id": customer["id"], "contract_id": contract_id, "idem_key": key, "amount": f"{amount}",
            "promised_date": promised.isoformat(), "contact_name": "Pat Owner", "channel": "call",
            "note": "Check run on Friday", "target": "panel"}
    answer = _post(synced, "/worklog/promise", data)
    assert answer.status_code == 200
    body = answer.get_data(as_text=True)
    assert 'data-sync-state="synced"' in body, body
    assert 'hx-swap-oob="true"' in body  # the panel history refreshes too

    db = _db(standin_app)
    [entry] = store.list_entries(db, SUMMIT, kind="promise")
    assert entry["invoice_ids"] == [rows[0]["pay_app_id"], rows[1]["pay_app_id"]]  # oldest first up to the amount
    service = make_service_client(standin_app.standin)
    [item] = [i for i in _items(service, entry["project_id"]) if i["id"] == entry["procore_item_id"]]
    assert item["due_date"] == promised.isoformat()
    assert item["private"] is True
    assert "Pat Owner" in item["description"] and worklog.reference(entry) in item["description"]
    assert item["status"] == "Open"

    shown = service.prime_contract(entry["project_id"], contract_id)["custom_fields"]
    definitions = {d["label"]: d["id"] for d in service.custom_field_definitions(SUMMIT)}
    assert shown[f"custom_field_{definitions['Next promised payment']}"]["value"] == promised.isoformat()
    assert "promise to pay" in shown[f"custom_field_{definitions['Collections stage']}"]["value"].lower()

    # The same form submitted again (double click): nothing new, in Procore or here.
    again = _post(synced, "/worklog/promise", data)
    assert "was already logged" in again.get_data(as_text=True)
    assert len(store.list_entries(db, SUMMIT, kind="promise")) == 1
    assert len([i for i in _items(service, entry["project_id"]) if worklog.reference(entry) in
                (i["description"] or "")]) == 1

    # The panel history and the Promises section show it.
    section = synced.get(f"/collections?company_id={SUMMIT}&section=promises",
                         headers={"HX-Request": "true", "HX-Target": "section"}).get_data(as_text=True)
    assert f'data-entry-id="{entry["id"]}"' in section and 'data-status="pending"' in section


def test_validation_errors_in_plain_words_nothing_saved(synced, standin_app):
    customer, rows = _customer_with_open_invoices(standin_app)
    base = {"customer_id": customer["id"], "idem_key": "k-invalid", "channel": "call"}
    too_much = Decimal(customer["balance"]) + 1
    cases = [
        ({"amount": "0", "promised_date": (TODAY + timedelta(days=3)).isoformat()}, "more than $0.00"),
        ({"amount": f"{too_much}", "promised_date": (TODAY + timedelta(days=3)).isoformat()},
         "more than the open balance"),
        ({"amount": "10", "promised_date": (TODAY - timedelta(days=1)).isoformat()}, "in the past"),
        ({"amount": "10", "promised_date": (TODAY + timedelta(days=61)).isoformat()}, "more than 60 days ahead"),
        ({"amount": "ten", "promised_date": "soon"}, "as a number"),
    ]
    for fields, words in cases:
        body = _post(synced, "/worklog/promise", {**base, **fields}).get_data(as_text=True)
        assert words in body, (fields, body)
        assert "Nothing was saved yet" in body
    call = _post(synced, "/worklog/call", {"customer_id": customer["id"], "outcome": "shouted"})
    assert "Choose how the call went" in call.get_data(as_text=True)
    dispute = _post(synced, "/worklog/dispute", {"customer_id": customer["id"], "pay_app_id": "", "reason": ""})
    assert "Pick the open invoice" in dispute.get_data(as_text=True)
    assert store.list_entries(_db(standin_app), SUMMIT) == []


def test_call_and_dispute_are_logged_and_the_dispute_pauses_only_that_invoice(synced, standin_app,
                                                                              make_service_client):
    customer, rows = _customer_with_open_invoices(standin_app)
    next_step = TODAY + timedelta(days=5)
    call = _post(synced, "/worklog/call", {"customer_id": customer["id"], "outcome": "reached",
                                          "note": "AP clerk says the check is being signed",
                                          "next_step_date": next_step.isoformat(), "target": "call"})
    assert 'data-sync-state="synced"' in call.get_data(as_text=True)
    disputed = rows[0]
    answer = _post(synced, "/worklog/dispute", {"customer_id": customer["id"], "pay_app_id": disputed["pay_app_id"],
                                               "reason": "quantities on line 4", "target": "call"})
    assert 'data-sync-state="synced"' in answer.get_data(as_text=True)

    db = _db(standin_app)
    service = make_service_client(standin_app.standin)
    [call_entry] = store.list_entries(db, SUMMIT, kind="call")
    [item] = [i for i in _items(service, call_entry["project_id"]) if i["id"] == call_entry["procore_item_id"]]
    assert item["due_date"] == next_step.isoformat() and "reached" in item["title"].lower()
    [dispute_entry] = store.list_entries(db, SUMMIT, kind="dispute")
    [d_item] = [i for i in _items(service, dispute_entry["project_id"]) if i["id"] == dispute_entry["procore_item_id"]]
    assert "quantities on line 4" in d_item["description"]

    after = worklog.customer_of(db, SUMMIT, customer["id"], TODAY)
    paused = {i["pay_app_id"]: i["paused"] for i in after["invoices"]}
    assert paused[disputed["pay_app_id"]] == "disputed"
    assert paused[rows[1]["pay_app_id"]] is None  # the undisputed rest keeps going

    # Resolving closes the Procore item and un-pauses the invoice.
    resolved = _post(synced, f"/worklog/disputes/{dispute_entry['id']}/resolve", {})
    assert "resolved" in resolved.get_data(as_text=True)
    [d_item] = [i for i in _items(service, dispute_entry["project_id"]) if i["id"] == dispute_entry["procore_item_id"]]
    assert d_item["status"] == "Closed"
    assert store.list_entries(db, SUMMIT, kind="dispute")[0]["procore_item_id"] == dispute_entry["procore_item_id"]


def test_procore_failure_keeps_the_entry_pending_and_retry_writes_exactly_once(synced, standin_app,
                                                                                make_service_client):
    """The stand-in creates the item but the answer is lost (HTTP 500 after the write), then refuses outright;
    the entry stays "pending sync", and the retry finds the item it made instead of creating a second one."""
    sandbox_app = standin_app.standin.app
    mode = {"lose_answer": True, "refuse": False}

    def refuse():
        from flask import request
        if mode["refuse"] and "/generic_tool" in request.path:
            return {"errors": "temporarily unavailable"}, 500
        return None

    def lose(response):
        from flask import request
        if mode["lose_answer"] and request.method == "POST" and request.path.endswith("/generic_tool_items"):
            response.status_code = 500
        return response

    # Registered through the dicts: the stand-in has already served requests (Flask refuses decorators then).
    sandbox_app.before_request_funcs.setdefault(None, []).append(refuse)
    sandbox_app.after_request_funcs.setdefault(None, []).append(lose)
    customer, rows = _customer_with_open_invoices(standin_app)
    promised = TODAY + timedelta(days=7)
    body = _post(synced, "/worklog/promise", {"customer_id": customer["id"], "amount": "500.00",
                                             "promised_date": promised.isoformat(), "channel": "email",
                                             "target": "call"}).get_data(as_text=True)
    assert "pending sync" in body and "Retry now" in body
    db = _db(standin_app)
    [entry] = store.list_entries(db, SUMMIT, kind="promise")
    assert entry["sync_state"] == "failed" and entry["procore_item_id"] is None and entry["attempts"] == 1
    assert "HTTP 500" in entry["sync_error"]
    # It still counts: the engine pauses the customer's covered invoice on the promise.
    section = synced.get(f"/collections?company_id={SUMMIT}&section=promises",
                         headers={"HX-Request": "true", "HX-Target": "section"}).get_data(as_text=True)
    assert "1 entry pending sync" in section

    mode.update(lose_answer=False, refuse=True)
    retry = _post(synced, "/worklog/retry", {}).get_data(as_text=True)
    assert "still pending sync" in retry
    assert store.get(db, SUMMIT, entry["id"])["sync_state"] == "failed"

    mode.update(refuse=False)
    retry = _post(synced, "/worklog/retry", {}).get_data(as_text=True)
    assert "1 entry written to Procore" in retry
    done = store.get(db, SUMMIT, entry["id"])
    assert done["sync_state"] == "synced" and done["attempts"] == 3
    service = make_service_client(standin_app.standin)
    mine = [i for i in _items(service, done["project_id"]) if worklog.reference(done) in (i["description"] or "")]
    assert [i["id"] for i in mine] == [done["procore_item_id"]]  # exactly one item, the one the lost answer made
    assert mine[0]["due_date"] == promised.isoformat()
    # Nothing left to do: another retry writes nothing.
    assert "Nothing is waiting" in _post(synced, "/worklog/retry", {}).get_data(as_text=True)


def test_broken_promise_after_a_later_sync_updates_the_same_item_and_needs_a_call(
        synced, standin_app, make_service_client, monkeypatch):
    customer, rows = _customer_with_open_invoices(standin_app)
    promised = TODAY + timedelta(days=2)
    _post(synced, "/worklog/promise", {"customer_id": customer["id"], "amount": "750.00",
                                      "promised_date": promised.isoformat(), "channel": "call"})
    db = _db(standin_app)
    [entry] = store.list_entries(db, SUMMIT, kind="promise")
    assert entry["sync_state"] == "synced"

    later = promised + timedelta(days=4)  # past the 3 grace days, no payment since
    monkeypatch.setattr(worklog, "today", lambda: later)
    sync_and_wait(synced)
    done = store.get(db, SUMMIT, entry["id"])
    assert done["evaluated_status"] == "broken" and done["sync_state"] == "synced"
    service = make_service_client(standin_app.standin)
    mine = [i for i in _items(service, done["project_id"]) if worklog.reference(done) in (i["description"] or "")]
    assert len(mine) == 1 and mine[0]["id"] == entry["procore_item_id"]
    assert mine[0]["title"].startswith("Broken promise") and "broken" in mine[0]["description"]
    definitions = {d["label"]: d["id"] for d in service.custom_field_definitions(SUMMIT)}
    fields = service.prime_contract(done["project_id"], done["contract_id"])["custom_fields"]
    assert fields[f"custom_field_{definitions['Next promised payment']}"]["value"] is None
    assert "broken promise" in fields[f"custom_field_{definitions['Collections stage']}"]["value"]

    calls = synced.get(f"/collections?company_id={SUMMIT}&section=calls&as_of={later.isoformat()}",
                       headers={"HX-Request": "true", "HX-Target": "section"}).get_data(as_text=True)
    row = calls[calls.index(f'data-customer-id="{customer["id"]}"'):]
    assert f"Promised $750.00 by {promised.isoformat()}; $0.00 received" in row[:3000]
    tab = synced.get(f"/collections?company_id={SUMMIT}&section=promises&as_of={later.isoformat()}").get_data(
        as_text=True)
    assert 'data-status="broken"' in tab and 'data-kept-rate="0.0"' in tab


def test_company_without_collections_log_explains_the_set_up_and_keeps_the_entry(standin_app):
    client = standin_app.test_client()
    connect(client, standin_app.standin.url, PRIYA, company_id=HARBORLINE)
    sync_and_wait(client, HARBORLINE)
    customer, rows = _customer_with_open_invoices(standin_app, HARBORLINE, minimum="100")
    body = _post(client, "/worklog/call", {"customer_id": customer["id"], "outcome": "voicemail"},
                 company_id=HARBORLINE).get_data(as_text=True)
    assert "One-time set-up in Procore" in body and "pending sync" in body
    [entry] = store.list_entries(_db(standin_app), HARBORLINE)
    assert entry["sync_state"] == "failed" and "Collections Log" in entry["sync_error"]
    section = client.get(f"/collections?company_id={HARBORLINE}&section=promises").get_data(as_text=True)
    assert "One-time set-up in Procore" in section
    # Another company's entries are invisible here, and its users cannot retry ours.
    assert store.list_entries(_db(standin_app), SUMMIT) == []
    from embedded_app import sync

    sync.wait_for_background_sync(HARBORLINE, 120)


def test_cli_promises_retry_writes_queued_entries_as_the_service_account(fast_sandbox, service_settings,
                                                                          make_service_client):
    import io

    from embedded_app import cli

    settings = service_settings(fast_sandbox)
    assert cli.cmd_sync(SUMMIT, settings=settings, quiet=True) == cli.EXIT_OK
    db = open_db(settings["DATABASE"])
    report = worklog.build_report(db, SUMMIT, as_of=TODAY).to_json()
    customer = next(c for c in report["customers"] if worklog.open_invoices(c))
    logged = worklog.log_promise(db, None, SUMMIT, None, customer_id=customer["id"], amount="100.00",
                                 promised_date=TODAY + timedelta(days=3))  # no client: queued
    assert logged.entry["sync_state"] == "pending_sync"
    out = io.StringIO()
    assert cli.cmd_promises(SUMMIT, settings=settings, stdout=out) == cli.EXIT_ERROR  # still pending
    assert "1 entries pending sync" in out.getvalue()
    out = io.StringIO()
    assert cli.main(["promises", "--company-id", str(SUMMIT), "--retry"], environ=settings, stdout=out) == 0
    assert "written to Procore: 1" in out.getvalue()
    entry = store.get(db, SUMMIT, logged.entry["id"])
    service = make_service_client(fast_sandbox)
    [item] = [i for i in _items(service, entry["project_id"]) if i["id"] == entry["procore_item_id"]]
    assert item["due_date"] == (TODAY + timedelta(days=3)).isoformat()
