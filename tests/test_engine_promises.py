"""Promise evaluation: kept / partially kept / broken / pending, with grace days and payment matching."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from embedded_app.engine import Policy, Promise, compute, evaluate_promises
from tests.fixtures.engine import Receivables

PROMISED = date(2026, 6, 15)
MADE = date(2026, 6, 1)


def data(payments: list[tuple[str, date, str | None]]) -> dict:
    rx = Receivables()
    rx.contract(100, customer_id=10)
    rx.pay_app(1, 100, 1, "2026-04-01", "1000.00")
    rx.pay_app(2, 100, 2, "2026-05-01", "1000.00")
    for n, (amount, day, inv_no) in enumerate(payments):
        rx.payment(n + 1, 100, amount, day, invoice_number=inv_no)
    return rx.data


@pytest.mark.parametrize(
    ("payments", "as_of", "status", "received"),
    [
        ([], PROMISED, "pending", "0.00"),
        ([], PROMISED + timedelta(days=3), "pending", "0.00"),  # grace 3 days: still pending on the deadline
        ([], PROMISED + timedelta(days=4), "broken", "0.00"),
        ([("500.00", PROMISED + timedelta(days=3), None)], PROMISED + timedelta(days=4), "kept", "500.00"),
        ([("500.00", PROMISED + timedelta(days=4), None)], PROMISED + timedelta(days=4), "broken", "0.00"),
        ([("200.00", PROMISED, None)], PROMISED + timedelta(days=10), "partially_kept", "200.00"),
        ([("600.00", MADE + timedelta(days=1), None)], MADE + timedelta(days=1), "kept", "500.00"),  # early
        ([("500.00", MADE - timedelta(days=1), None)], PROMISED + timedelta(days=10), "broken", "0.00"),  # before
        ([("200.00", PROMISED, None), ("300.00", PROMISED + timedelta(days=1), None)],
         PROMISED + timedelta(days=30), "kept", "500.00"),
        ([("500.00", PROMISED + timedelta(days=1), None)], PROMISED + timedelta(days=1) - timedelta(days=1),
         "pending", "0.00"),  # payment after the as-of date is not seen yet
    ],
)
def test_promise_status(payments, as_of, status, received):
    p = Promise(10, "500.00", PROMISED, MADE, id="p1")
    [o] = evaluate_promises(data(payments), [p], as_of, Policy())
    assert (o.status, str(o.received)) == (status, received)
    assert o.deadline == PROMISED + timedelta(days=3)
    assert o.broken == (status in ("broken", "partially_kept"))
    assert o.to_json()["status"] == status


def test_grace_is_configurable():
    p = Promise(10, "500.00", PROMISED, MADE)
    [o] = evaluate_promises(data([]), [p], PROMISED + timedelta(days=1), Policy(promise_grace_days=0))
    assert o.status == "broken"


def test_payments_matched_to_other_invoices_do_not_keep_an_invoice_promise():
    p = Promise(10, "500.00", PROMISED, MADE, invoice_ids=(2,))
    pays = [("500.00", PROMISED, "INV-1")]  # matched to pay app 1, not the promised pay app 2
    [o] = evaluate_promises(data(pays), [p], PROMISED + timedelta(days=10))
    assert o.status == "broken"
    pays = [("500.00", PROMISED, "INV-2")]
    [o] = evaluate_promises(data(pays), [p], PROMISED + timedelta(days=10))
    assert o.status == "kept" and o.payment_ids == (1,)
    # a general promise counts any payment of the customer
    [o] = evaluate_promises(data([("500.00", PROMISED, "INV-1")]), [Promise(10, "500.00", PROMISED, MADE)],
                            PROMISED + timedelta(days=10))
    assert o.status == "kept"


def test_a_payment_counts_toward_one_promise_only():
    ps = [Promise(10, "500.00", PROMISED, MADE, id="a"), Promise(10, "500.00", PROMISED + timedelta(days=5), MADE,
                                                                  id="b")]
    outcomes = evaluate_promises(data([("700.00", PROMISED, None)]), ps, PROMISED + timedelta(days=30))
    assert [(o.promise.id, o.status, str(o.received)) for o in outcomes] == [
        ("a", "kept", "500.00"), ("b", "partially_kept", "200.00")]


def test_cancelled_promises_are_ignored():
    p = Promise(10, "500.00", PROMISED, MADE, status="cancelled")
    [o] = evaluate_promises(data([]), [p], PROMISED + timedelta(days=30))
    assert o.status == "cancelled"
    r = compute(data([]), PROMISED + timedelta(days=30), promises=[p])
    assert not r.customers[0].flags or all(f.code != "broken_promise" for f in r.customers[0].flags)


def test_compute_reports_outcomes_and_kept_rate():
    ps = [Promise(10, "500.00", PROMISED, MADE, id="a"),
          Promise(10, "100.00", PROMISED + timedelta(days=1), MADE, id="b"),
          Promise(10, "100.00", PROMISED + timedelta(days=60), MADE, id="c")]
    r = compute(data([("500.00", PROMISED, None)]), PROMISED + timedelta(days=30), promises=ps)
    assert [o.status for o in r.promise_outcomes] == ["kept", "broken", "pending"]
    m = r.metrics
    assert (m.promises_kept, m.promises_due, m.promises_pending) == (1, 2, 1)
    assert str(m.promise_kept_rate) == "50"
    assert r.to_json()["metrics"]["promise_kept_rate"] == "50.0"
    assert r.customers[0].to_json()["promise_kept_rate"] == "50.0"
    assert [p["id"] for p in r.to_json()["promises"]] == ["a", "b", "c"]
