"""The work log without HTTP: promise lifecycle through the store and the engine (boundary dates, partial
payments, payments matched to other invoices), validation in plain words, idempotency and claims, scoping."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from embedded_app import worklog
from embedded_app.engine import compute
from embedded_app.store import cache
from embedded_app.store import worklog as store
from tests.fixtures.engine import Receivables

C = 10001
MADE = date(2026, 6, 1)
PROMISED = date(2026, 6, 15)
DEADLINE = PROMISED + timedelta(days=3)  # default grace: 3 days


def _save(db, rx: Receivables, company_id: int = C) -> None:
    cache.save_projects(db, company_id, rx.data["projects"])
    cache.save_vendors(db, company_id, rx.data["vendors"])
    for c in rx.data["prime_contracts"]:
        cache.save_prime_contracts(db, company_id, c["project_id"], [c])
    for a in rx.data["payment_applications"]:
        cache.save_payment_applications(db, company_id, a["project_id"], [a])
    for p in rx.data["contract_payments"]:
        cache.save_contract_payments(db, company_id, p["project_id"], p["contract_id"], [p])


@pytest.fixture
def book(cache_db):
    """Customer 10 owes two $1,000.00 pay apps (due May 1 and May 31) on contract 100."""
    rx = Receivables()
    rx.contract(100, customer_id=10)
    rx.pay_app(1, 100, 1, "2026-04-01", "1000.00")
    rx.pay_app(2, 100, 2, "2026-05-01", "1000.00")
    _save(cache_db, rx)
    return cache_db, rx


def _promise(db, amount="500.00", invoice_ids=(), key="k1", on=MADE, promised=PROMISED, company_id=C):
    return worklog.log_promise(db, None, company_id, 7, customer_id=10, amount=amount, promised_date=promised,
                               invoice_ids=invoice_ids, idem_key=key, on=on).entry


def _pay(db, rx, pid, amount, day, invoice_number=None):
    rx.payment(pid, 100, amount, day, invoice_number=invoice_number)
    _save(db, rx)


@pytest.mark.parametrize(
    ("payments", "status", "received"),
    [
        ([("500.00", DEADLINE, None)], "kept", "500.00"),  # paid on the last grace day
        ([("500.00", DEADLINE + timedelta(days=1), None)], "broken", "0.00"),  # the day after grace
        ([("200.00", PROMISED, None)], "partially_kept", "200.00"),
        ([("200.00", PROMISED, None), ("300.00", PROMISED + timedelta(days=2), None)], "kept", "500.00"),
        ([("500.00", MADE - timedelta(days=1), None)], "broken", "0.00"),  # before the promise was made
    ],
)
def test_lifecycle_after_a_sync(book, payments, status, received):
    db, rx = book
    entry = _promise(db)
    for n, (amount, day, inv) in enumerate(payments, start=1):
        _pay(db, rx, 500 + n, amount, day, inv)
    on = DEADLINE + timedelta(days=2)
    summary = worklog.watch(db, C, on=on)
    row = store.get(db, C, entry["id"])
    assert (row["evaluated_status"], row["received"]) == (status, received)
    assert summary.changed == 1 and (entry["id"] in summary.newly_broken) == (status in ("broken",
                                                                                         "partially_kept"))
    assert row["sync_state"] == "pending_sync"  # the outcome is queued as an update of the same item
    assert worklog.watch(db, C, on=on).changed == 0  # evaluating again changes nothing


def test_pending_until_the_deadline_then_broken_escalates_and_needs_a_call(book):
    db, rx = book
    entry = _promise(db, invoice_ids=(2,))
    assert worklog.watch(db, C, on=DEADLINE).changed == 0  # still pending on the last grace day
    report = worklog.build_report(db, C, as_of=DEADLINE).to_json()
    [customer] = report["customers"]
    paused = {i["pay_app_id"]: i["paused"] for i in customer["invoices"]}
    assert paused == {1: None, 2: "promise"}  # only the promised invoice waits

    after = DEADLINE + timedelta(days=1)
    assert worklog.watch(db, C, on=after).newly_broken == [entry["id"]]
    report = worklog.build_report(db, C, as_of=after).to_json()
    [customer] = report["customers"]
    assert customer["stage"] != customer["ladder_stage"]  # one stage up
    [call] = [c for c in report["needs_a_call"] if c["customer_id"] == 10]
    assert "Promised $500.00 by 2026-06-15; $0.00 received" in [f["reason"] for f in call["flags"]]
    assert report["metrics"]["promise_kept_rate"] == "0.0" and report["metrics"]["promises_due"] == 1
    assert customer["promise_kept_rate"] == "0.0"


def test_payment_matched_to_another_invoice_does_not_keep_the_promise(book):
    db, rx = book
    entry = _promise(db, invoice_ids=(2,))
    _pay(db, rx, 601, "500.00", PROMISED, invoice_number="INV-1")  # applied to pay app 1, not the promised #2
    worklog.watch(db, C, on=DEADLINE + timedelta(days=1))
    assert store.get(db, C, entry["id"])["evaluated_status"] == "broken"


def test_validation_boundaries_in_plain_words(book):
    db, _ = book
    customer = worklog.customer_of(db, C, 10, MADE)
    ok = worklog.validate_promise(customer, amount="2000.00", promised_date=MADE, on=MADE)
    assert ok[2] == (1, 2)  # the whole balance, promised for today
    assert worklog.validate_promise(customer, amount="1000.00", promised_date=MADE, on=MADE)[2] == (1,)
    assert worklog.validate_promise(customer, amount="1000.01", promised_date=MADE, on=MADE)[2] == (1, 2)
    assert worklog.validate_promise(customer, amount="1,000", promised_date=MADE + timedelta(days=60),
                                    on=MADE)[1] == MADE + timedelta(days=60)
    cases = [
        ({"amount": "2000.01", "promised_date": MADE}, "amount", "more than the open balance of $2,000.00"),
        ({"amount": "0", "promised_date": MADE}, "amount", "more than $0.00"),
        ({"amount": "-5", "promised_date": MADE}, "amount", "more than $0.00"),
        ({"amount": "1.005", "promised_date": MADE}, "amount", "two decimals"),
        ({"amount": "10", "promised_date": MADE - timedelta(days=1)}, "promised_date", "in the past"),
        ({"amount": "10", "promised_date": MADE + timedelta(days=61)}, "promised_date", "more than 60 days"),
        ({"amount": "10", "promised_date": "15/06/2026"}, "promised_date", "for example"),
        ({"amount": "10", "promised_date": MADE, "invoice_ids": (99,)}, "invoice_ids", "only open invoices"),
        ({"amount": "1500", "promised_date": MADE, "invoice_ids": (2,)}, "amount", "invoices picked ($1,000.00)"),
    ]
    for kwargs, field, words in cases:
        with pytest.raises(worklog.WorklogInvalid) as err:
            worklog.validate_promise(customer, on=MADE, **kwargs)
        assert words in err.value.errors[field], (kwargs, err.value.errors)
    with pytest.raises(worklog.WorklogInvalid):
        worklog.validate_promise(customer, amount="10", promised_date=MADE + timedelta(days=8), on=MADE,
                                 horizon_days=7)


def test_double_submit_is_one_entry_and_claims_are_exclusive(book):
    db, _ = book
    first = worklog.log_promise(db, None, C, 7, customer_id=10, amount="100", promised_date=PROMISED,
                                idem_key="same", on=MADE)
    again = worklog.log_promise(db, None, C, 7, customer_id=10, amount="100", promised_date=PROMISED,
                                idem_key="same", on=MADE)
    assert first.created and not again.created and first.entry["id"] == again.entry["id"]
    assert len(store.list_entries(db, C)) == 1
    entry_id = first.entry["id"]
    assert store.claim(db, C, entry_id, "a")
    assert not store.claim(db, C, entry_id, "b")  # a second pusher (double click, background sync) backs off
    later = datetime.now(UTC) + store.STALE_CLAIM + timedelta(seconds=5)
    assert store.claim(db, C, entry_id, "c", now=later)  # a dead pusher's claim expires
    assert not store.mark_synced(db, C, entry_id, "a")  # the stale claimant can no longer finish
    assert store.mark_failed(db, C, entry_id, "c", "boom")
    row = store.get(db, C, entry_id)
    assert (row["sync_state"], row["attempts"], row["sync_error"]) == ("failed", 2, "boom")


def test_entries_are_scoped_by_company(book):
    db, rx = book
    _save(db, rx, company_id=20002)
    _promise(db, key="mine")
    _promise(db, key="theirs", company_id=20002)
    assert len(worklog.store.engine_inputs(db, C)["promises"]) == 1
    assert [e["idem_key"] for e in store.list_entries(db, 20002)] == ["theirs"]
    assert store.get(db, 20002, store.list_entries(db, C)[0]["id"]) is None
    with pytest.raises(ValueError):
        store.insert_if_absent(db, {"company_id": 20002, "kind": "call", "idem_key": "mine", "customer_id": 10})


def test_dispute_pauses_only_that_invoice_and_calls_are_contacts(book):
    db, _ = book
    d = worklog.mark_disputed(db, None, C, 7, customer_id=10, pay_app_id=1, reason="quantities on line 4",
                              on=MADE).entry
    with pytest.raises(worklog.WorklogInvalid) as err:
        worklog.mark_disputed(db, None, C, 7, customer_id=10, pay_app_id="1", reason="again", on=MADE)
    assert "already marked disputed" in err.value.errors["pay_app_id"]
    worklog.log_call(db, None, C, 7, customer_id=10, outcome="reached", note="check is coming", on=MADE,
                     next_step_date=MADE + timedelta(days=3))
    inputs = store.engine_inputs(db, C)
    [contact] = inputs["contacts"]
    assert (contact.kind, contact.sent_on, contact.replied_on) == ("call", MADE, MADE)
    report = compute(cache.load_receivables(db, C), MADE, None, company_id=C, **inputs).to_json()
    paused = {i["pay_app_id"]: i["paused"] for i in report["customers"][0]["invoices"]}
    assert paused == {1: "disputed", 2: None}
    store.resolve_dispute(db, C, d["id"], MADE + timedelta(days=1))
    inputs = store.engine_inputs(db, C)
    report = compute(cache.load_receivables(db, C), MADE + timedelta(days=1), None, company_id=C, **inputs)
    assert all(i["paused"] is None for i in report.to_json()["customers"][0]["invoices"])
    with pytest.raises(worklog.WorklogInvalid) as err:
        worklog.log_call(db, None, C, 7, customer_id=10, outcome="maybe", next_step_date="2020-01-01", on=MADE)
    assert set(err.value.errors) == {"outcome", "next_step_date"}


def test_procore_item_reads_like_a_log_entry(book):
    db, _ = book
    entry = _promise(db, amount="1500.00")
    customer = worklog.customer_of(db, C, 10, MADE)
    item = worklog.log_entry(entry, customer)
    assert item.due_date == PROMISED and item.status == "Open" and item.assignee_ids == ()
    assert item.title.startswith("Promise to pay $1,500.00 by 2026-06-15")
    assert "pay app #1 (INV-1), pay app #2 (INV-2)" in item.description
    assert worklog.reference(entry) in item.description
    broken = worklog.log_entry({**entry, "evaluated_status": "broken", "evaluated_on": "2026-06-19",
                                "received": "0.00"}, customer)
    assert broken.title.startswith("Broken promise") and broken.assignee_ids == (7,) and broken.status == "Open"
    kept = worklog.log_entry({**entry, "evaluated_status": "kept", "evaluated_on": "2026-06-19",
                              "received": "1500.00"}, customer)
    assert kept.status == "Closed"
