"""Aging rules: invoices, due dates, cash application, credits, retainage, buckets, the JSON contract."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from embedded_app.engine import BUCKETS, Policy, compute
from tests.fixtures.engine import Receivables

AS_OF = date(2026, 6, 30)


def opens(report, customer_id=10):
    c = report.customer(customer_id)
    return {i.pay_app_id: str(i.open) for i in c.invoices} if c else {}


def two_invoices(rx: Receivables) -> Receivables:
    rx.contract(100, customer_id=10, terms="Net 30")
    rx.pay_app(1, 100, 1, "2026-04-01", "1000.00")
    rx.pay_app(2, 100, 2, "2026-05-01", "2000.00")
    return rx


def test_only_approved_pay_apps_billed_by_as_of_are_invoices(receivables):
    rx = receivables
    rx.contract(100)
    rx.pay_app(1, 100, 1, "2026-06-01", "100.00")
    rx.pay_app(2, 100, 2, "2026-06-02", "200.00", status="draft")
    rx.pay_app(3, 100, 3, "2026-06-03", "300.00", status="under_review")
    rx.pay_app(4, 100, 4, "2026-06-04", "400.00", status="revise_and_resubmit")
    rx.pay_app(5, 100, 5, "2026-07-01", "500.00")  # billed after the as-of date
    r = compute(rx.data, AS_OF)
    assert opens(r) == {1: "100.00"}
    assert r.totals["open"] == 10000
    assert [t.pay_app_id for t in r.tasks] == [4]
    assert r.tasks[0].text.startswith("Fix and resubmit pay app #4 (INV-4) on Project 1 for Owner 10")


@pytest.mark.parametrize(
    ("terms", "due"),
    [("Net 30", "2026-05-31"), ("Net 45", "2026-06-15"), ("Due on receipt", "2026-05-01"), ("", "2026-05-31"),
     (..., "2026-05-31"), ("whenever", "2026-05-31")],
)
def test_due_date_is_billing_date_plus_terms(receivables, terms, due):
    receivables.contract(100, terms=terms)
    receivables.pay_app(1, 100, 1, "2026-05-01", "10.00")
    r = compute(receivables.data, AS_OF)
    inv = r.customers[0].invoices[0]
    assert inv.due_date.isoformat() == due
    uncertain = terms in ("", ..., "whenever")
    assert (r.customers[0].contracts[0].terms_note is not None) == uncertain
    assert (r.to_json()["customers"][0]["terms_note"] is not None) == uncertain


@pytest.mark.parametrize(
    ("payments", "expected_open", "credit"),
    [
        # matched by invoice_number: applies to that invoice first
        ([("500.00", "2026-06-01", "INV-2", None)], {1: "1000.00", 2: "1500.00"}, "0.00"),
        # matched invoice_number is case/space-insensitive
        ([("500.00", "2026-06-01", " inv-2 ", None)], {1: "1000.00", 2: "1500.00"}, "0.00"),
        # matched by draw_request_number = pay app number
        ([("500.00", "2026-06-01", None, 2)], {1: "1000.00", 2: "1500.00"}, "0.00"),
        # invoice_number wins over draw number
        ([("500.00", "2026-06-01", "INV-1", 2)], {1: "500.00", 2: "2000.00"}, "0.00"),
        # unmatched: oldest due first
        ([("1200.00", "2026-06-01", None, None)], {2: "1800.00"}, "0.00"),
        # unknown invoice number: treated as unmatched
        ([("300.00", "2026-06-01", "NOPE", None)], {1: "700.00", 2: "2000.00"}, "0.00"),
        # matched payment bigger than its invoice: the rest goes oldest first
        ([("2500.00", "2026-06-01", "INV-2", None)], {1: "500.00"}, "0.00"),
        # overpayment: credit on the customer, never a negative bucket
        ([("3100.00", "2026-06-01", None, None)], {}, "100.00"),
        ([("2000.00", "2026-06-01", "INV-2", None), ("1000.25", "2026-06-02", "INV-1", None)], {}, "0.25"),
        # matched payments are applied before any leftover, whatever their dates
        ([("1500.00", "2026-05-10", None, None), ("1000.00", "2026-06-01", "INV-1", None)], {2: "500.00"}, "0.00"),
        # payments after the as-of date do not count
        ([("3000.00", "2026-07-01", None, None)], {1: "1000.00", 2: "2000.00"}, "0.00"),
        # amounts as numbers
        ([(1000, "2026-06-01", None, None), (0.5, "2026-06-01", None, None)], {2: "1999.50"}, "0.00"),
    ],
)
def test_cash_application(receivables, payments, expected_open, credit):
    two_invoices(receivables)
    for n, (amount, day, inv_no, draw) in enumerate(payments):
        receivables.payment(500 + n, 100, amount, day, invoice_number=inv_no, draw=draw)
    r = compute(receivables.data, AS_OF)
    c = r.customer(10)
    assert opens(r) == expected_open
    assert str(c.unapplied_credit) == credit
    assert r.to_json()["totals"]["unapplied_credit"] == credit
    assert all(v >= 0 for v in c.buckets.values())


def test_credit_stays_on_its_contract_and_reduces_the_balance(receivables):
    rx = two_invoices(receivables)
    rx.contract(200, customer_id=10, project_id=2)
    rx.pay_app(3, 200, 1, "2026-05-01", "100.00")
    rx.payment(1, 200, "150.00", "2026-06-01")
    r = compute(rx.data, AS_OF)
    c = r.customer(10)
    assert str(c.open) == "3000.00" and str(c.unapplied_credit) == "50.00" and str(c.balance) == "2950.00"
    j = r.to_json()["customers"][0]
    assert (j["open"], j["unapplied_credit"], j["balance"]) == ("3000.00", "50.00", "2950.00")


def test_negative_pay_app_is_a_credit(receivables):
    rx = two_invoices(receivables)
    rx.pay_app(3, 100, 3, "2026-06-01", "-250.00")
    r = compute(rx.data, AS_OF)
    assert opens(r) == {1: "750.00", 2: "2000.00"}


def test_reversal_takes_back_unapplied_cash(receivables):
    rx = two_invoices(receivables)
    rx.payment(1, 100, "1000.00", "2026-06-01")
    rx.payment(2, 100, "-400.00", "2026-06-05")
    r = compute(rx.data, AS_OF)
    assert opens(r) == {1: "400.00", 2: "2000.00"}


def test_retainage_from_latest_approved_pay_app(receivables):
    rx = receivables
    rx.contract(100)
    rx.pay_app(1, 100, 1, "2026-03-01", "900.00", retainage="100.00")
    rx.pay_app(2, 100, 2, "2026-04-01", "900.00", retainage="200.00")
    rx.pay_app(3, 100, 3, "2026-04-01", "900.00", retainage="300.00")  # same day, higher number: latest
    rx.pay_app(4, 100, 4, "2026-05-01", "900.00", retainage="999.00", status="under_review")
    rx.pay_app(5, 100, 5, "2026-07-05", "900.00", retainage="888.00")  # after as-of
    rx.payment(1, 100, "2700.00", "2026-06-01")
    r = compute(rx.data, AS_OF)
    c = r.customer(10)
    assert str(c.retainage) == "300.00" and c.open_cents == 0
    assert c.buckets == dict.fromkeys(BUCKETS, 0)  # retainage is never in a bucket
    assert r.to_json()["totals"]["retainage"] == "300.00"


@pytest.mark.parametrize(
    ("billing", "days", "bucket"),
    [("2026-06-30", -30, "current"), ("2026-05-31", 0, "current"), ("2026-05-30", 1, "1_30"),
     ("2026-05-01", 30, "1_30"), ("2026-04-30", 31, "31_60"), ("2026-04-01", 60, "31_60"),
     ("2026-03-31", 61, "61_90"), ("2026-03-02", 90, "61_90"), ("2026-03-01", 91, "91_plus"),
     ("2025-01-01", 515, "91_plus")],
)
def test_bucket_boundaries(receivables, billing, days, bucket):
    receivables.contract(100, terms="Net 30")
    receivables.pay_app(1, 100, 1, billing, "10.00")
    r = compute(receivables.data, AS_OF)
    inv = r.customers[0].invoices[0]
    assert (inv.days_past_due, inv.bucket) == (days, bucket)
    assert r.customers[0].buckets[bucket] == 1000


def test_customer_is_the_contract_owner_across_projects(receivables):
    rx = receivables
    rx.customer(10, "Acme Owner LLC")
    rx.contract(100, customer_id=10, project_id=1)
    rx.contract(200, customer_id=10, project_id=2)
    rx.contract(300, customer_id=20, project_id=2)
    rx.pay_app(1, 100, 1, "2026-06-01", "1.00")
    rx.pay_app(2, 200, 1, "2026-06-01", "2.00")
    rx.pay_app(3, 300, 1, "2026-06-01", "4.00")
    r = compute(rx.data, AS_OF)
    assert [(c.id, c.name, str(c.open)) for c in r.customers] == [(10, "Acme Owner LLC", "3.00"),
                                                                    (20, "Owner 20", "4.00")]
    assert [p.id for p in r.customer(10).projects] == [1, 2]
    only2 = compute(rx.data, AS_OF, project_id=2)
    assert [(c.id, str(c.open)) for c in only2.customers] == [(10, "2.00"), (20, "4.00")]


def test_tolerates_missing_and_odd_fields():
    data = {
        "projects": [{"id": 1}],
        "vendors": [],
        "prime_contracts": [{"id": 100, "project_id": 1, "vendor": {"id": 10}}, {"title": "no id"}],
        "payment_applications": [
            {"id": 1, "contract": {"id": 100}, "number": "1", "billing_date": "2026-05-01T10:00:00Z",
             "status": "approved", "g702": {"current_payment_due": 12.5}},
            {"id": 2, "contract_id": 100, "billing_date": "2026-05-01", "status": "approved"},  # no g702
            {"id": 3, "contract": {"id": 999}, "billing_date": "2026-05-01", "status": "approved",
             "g702": {"current_payment_due": "5"}},
            {"id": 4, "contract": {"id": 100}, "status": "approved", "g702": {"current_payment_due": "5"}},
            {"id": 5, "contract": None, "status": None},
        ],
        "contract_payments": [{"id": 1, "contract_id": 100, "amount": "2.5", "date": "2026-06-01"},
                              {"id": 2, "contract_id": 100, "amount": "x", "date": "2026-06-01"},
                              {"id": 3, "contract_id": 100, "amount": "1"}],
    }
    r = compute(data, AS_OF)
    c = r.customer(10)
    assert c.name == "Customer 10" and c.email is None
    assert str(c.open) == "10.00"
    assert len(r.warnings) == 4
    r.to_json()


def test_json_contract(receivables):
    rx = two_invoices(receivables)
    rx.payment(1, 100, "250.00", "2026-06-01", invoice_number="INV-1")
    j = compute(rx.data, AS_OF, company_id=7).to_json()
    assert j["company_id"] == 7 and j["as_of"] == "2026-06-30"
    assert set(j["totals"]) >= {"current", "1_30", "31_60", "61_90", "91_plus", "past_due", "open", "retainage",
                                "unapplied_credit"}
    assert j["totals"]["open"] == "2750.00" and j["totals"]["past_due"] == "2750.00"
    c = j["customers"][0]
    assert set(c) >= {"id", "name", "email", "buckets", "open", "retainage", "unapplied_credit",
                      "oldest_days_past_due", "stage", "flags", "invoices"}
    assert c["buckets"] == {"current": "0.00", "1_30": "2000.00", "31_60": "750.00", "61_90": "0.00",
                            "91_plus": "0.00"}
    inv = c["invoices"][0]
    assert inv == {**inv, "pay_app_id": 1, "project_id": 1, "contract_id": 100, "number": 1, "invoice_number": "INV-1",
                   "billing_date": "2026-04-01", "due_date": "2026-05-01", "amount": "1000.00", "open": "750.00",
                   "days_past_due": 60, "bucket": "31_60"}
    assert c["oldest_days_past_due"] == 60
    assert isinstance(j["tasks"], list) and isinstance(j["metrics"], dict)


def test_decimal_attributes(receivables):
    rx = two_invoices(receivables)
    r = compute(rx.data, AS_OF)
    assert r.total("open") == Decimal("3000.00")
    assert r.customers[0].invoices[0].amount == Decimal("1000.00")


def test_custom_bucket_edges(receivables):
    receivables.contract(100, terms="Net 30")
    receivables.pay_app(1, 100, 1, "2026-04-30", "10.00")  # 31 days past due
    r = compute(receivables.data, AS_OF, Policy(bucket_edges=(45, 60, 90)))
    assert r.customers[0].invoices[0].bucket == "1_30"
