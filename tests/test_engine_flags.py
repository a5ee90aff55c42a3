"""Needs-a-call flags (each with a reason naming its data) and the ranked, explainable call list."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest

from embedded_app.engine import Contact, Dispute, LegalRule, Policy, Promise, compute
from tests.fixtures.engine import Receivables

AS_OF = date(2026, 6, 30)


def codes(customer):
    return [f.code for f in customer.flags]


def setup(rx: Receivables, days: int, amount: str = "1000.00", customer_id: int = 10, contract_id: int = 100,
          pay_app_id: int = 1, project_id: int = 1, state: str = "CO", **customer: object) -> Receivables:
    if not any(p["id"] == project_id for p in rx.data["projects"]):
        rx.project(project_id, state_code=state)
    if not any(v["id"] == customer_id for v in rx.data["vendors"]):
        rx.customer(customer_id, **customer)
    if contract_id not in rx._contracts:
        rx.contract(contract_id, customer_id=customer_id, project_id=project_id)
    rx.pay_app(pay_app_id, contract_id, pay_app_id, AS_OF - timedelta(days=days + 30), amount)
    return rx


@pytest.mark.parametrize(("amount", "days", "flagged"), [
    ("5000.01", 61, True), ("5000.00", 61, False), ("9000.00", 60, False), ("9000.00", 120, True)])
def test_over_61_days(receivables, amount, days, flagged):
    c = compute(setup(receivables, days, amount).data, AS_OF).customers[0]
    assert ("over_61_days" in codes(c)) == flagged
    if flagged:
        f = c.flags[codes(c).index("over_61_days")]
        assert f.reason.startswith(f"${float(amount):,.2f} open 61+ days past due (over the $5,000.00 threshold)")
        assert f"pay app #1 (INV-1), {days} days past due" in f.reason


def test_over_61_threshold_is_configurable(receivables):
    c = compute(setup(receivables, 70, "100.00").data, AS_OF, Policy(call_threshold_61_plus="99")).customers[0]
    assert "over_61_days" in codes(c)


def test_broken_promise_reason(receivables):
    rx = setup(receivables, 30, "50000.00")
    rx.payment(1, 100, "10000.00", AS_OF - timedelta(days=12))
    p = Promise(10, "40000.00", date(2026, 6, 15), date(2026, 6, 1))
    c = compute(rx.data, AS_OF, promises=[p]).customers[0]
    assert c.flags[0].code == "broken_promise"
    assert c.flags[0].reason == "Promised $40,000.00 by 2026-06-15; $10,000.00 received"


@pytest.mark.parametrize(
    ("contacts", "payment_day", "flagged"),
    [
        ([Contact(10, "final_notice", AS_OF - timedelta(days=10))], None, True),
        ([Contact(10, "final_notice", AS_OF - timedelta(days=6))], None, False),  # give it 7 days
        ([Contact(10, "final_notice", AS_OF - timedelta(days=10), replied_on=AS_OF - timedelta(days=8))], None,
         False),
        ([Contact(10, "final_notice", AS_OF - timedelta(days=10)),
          Contact(10, "call", AS_OF - timedelta(days=2), kind="call")], None, False),
        ([Contact(10, "final_notice", AS_OF - timedelta(days=10))], AS_OF - timedelta(days=3), False),
        ([Contact(10, "second_notice", AS_OF - timedelta(days=10))], None, False),
    ],
)
def test_final_notice_no_reply(receivables, contacts, payment_day, flagged):
    rx = setup(receivables, 50, "3000.00")
    if payment_day:
        rx.payment(1, 100, "100.00", payment_day)
    c = compute(rx.data, AS_OF, contacts=contacts).customers[0]
    assert ("final_notice_no_reply" in codes(c)) == flagged
    if flagged:
        assert c.flags[0].reason == (f"Final notice sent {(AS_OF - timedelta(days=10)).isoformat()} (10 days ago); "
                                     "no reply, no call and no payment since")


@pytest.mark.parametrize(("email", "contact_email", "amount", "flagged"), [
    (None, None, "1000.00", True), ("", None, "1000.00", True), (None, "pat@owner.example", "1000.00", False),
    ("ap@owner.example", None, "1000.00", False), (None, None, "40.00", False)])
def test_no_email(receivables, email, contact_email, amount, flagged):
    pc = {"first_name": "Pat", "last_name": "Payer", "email_address": contact_email, "business_phone": None}
    rx = setup(receivables, 5, amount, email=email, phone="555-0199", primary_contact=pc)
    c = compute(rx.data, AS_OF).customers[0]
    assert ("no_email" in codes(c)) == flagged
    if flagged:
        assert c.flags[0].reason == ("No contact email on file for Owner 10 (directory company 10) with $1,000.00 "
                                     "open; phone on file: 555-0199")
    else:
        assert c.email == (email or contact_email or c.email)


def test_disputed_reason(receivables):
    rx = setup(receivables, 20, "12000.00")
    d = Dispute(1, AS_OF - timedelta(days=12), reason="quantities on line 4")
    c = compute(rx.data, AS_OF, disputes=[d]).customers[0]
    assert c.flags[0].code == "disputed"
    assert c.flags[0].reason == ("Pay app #1 (INV-1), $12,000.00 open, disputed since 2026-06-18 (12 days): "
                                 "quantities on line 4")


@pytest.mark.parametrize(("big", "small", "flagged"), [
    ("300.00", "100.00", True), ("250.00", "750.00", False), ("100.00", "300.00", False)])
def test_concentration(receivables, big, small, flagged):
    rx = setup(receivables, 20, big, customer_id=10, contract_id=100, pay_app_id=1)
    setup(rx, 20, small, customer_id=20, contract_id=200, pay_app_id=2)
    r = compute(rx.data, AS_OF)
    c = r.customer(10)
    assert ("concentration" in codes(c)) == flagged
    if flagged:
        f = c.flags[codes(c).index("concentration")]
        assert f.reason == "Owner 10 owes $300.00 of $400.00 past due (75.0 %, over the 25 % limit)"


def test_concentration_needs_two_customers(receivables):
    c = compute(setup(receivables, 20, "300.00").data, AS_OF).customers[0]
    assert "concentration" not in codes(c)


@pytest.mark.parametrize(
    ("state", "days_past_due", "terms_days", "flagged", "text"),
    [
        # Texas prompt pay: 35 days after billing; flagged from 7 days before and after it passed
        ("TX", -2, 30, True, "Texas private prompt payment (TX, Project 1): deadline 2026-07-07 in 7 days"),
        ("TX", -10, 30, False, None),
        ("TX", 20, 30, True, "deadline 2026-06-15 passed 15 days ago"),
        ("CO", 20, 30, False, None),
        ("AL", 1, 30, True, "Alabama private prompt payment (AL, Project 1): deadline 2026-06-29 passed 1 day ago"),
    ],
)
def test_prompt_pay_deadline(receivables, state, days_past_due, terms_days, flagged, text):
    rx = setup(receivables, days_past_due, "2000.00", state=state)
    c = compute(rx.data, AS_OF).customers[0]
    deadline = [f for f in c.flags if f.code == "deadline"]
    assert bool(deadline) == flagged
    if flagged:
        assert text in deadline[0].reason
        assert "Not legal advice" in deadline[0].reason and deadline[0].source
        assert deadline[0].to_json()["source"]


@pytest.mark.parametrize(("completion", "flagged", "text"), [
    ("2026-04-15", True, "California mechanics lien (CA, Project 1): deadline 2026-07-14 in 14 days"),
    ("2026-03-01", False, None),   # passed: a lien deadline that passed is not flagged
    ("2026-06-01", False, None),   # 61 days left: outside the 30-day warning
    (None, False, None)])
def test_california_lien_deadline(receivables, completion, flagged, text):
    rx = receivables
    rx.project(1, state_code="CA")
    rx.contract(100, substantial_completion_date=completion)
    rx.pay_app(1, 100, 1, "2026-03-01", "900.00", retainage="100.00")
    rx.payment(1, 100, "900.00", "2026-04-01")
    c = compute(rx.data, AS_OF).customers[0]
    deadline = [f for f in c.flags if f.code == "deadline"]
    assert bool(deadline) == flagged
    if flagged:
        assert text in deadline[0].reason and "$100.00 unpaid incl. retainage" in deadline[0].reason


def test_legal_rules_are_configurable_data(receivables):
    rule = LegalRule(code="CO_TEST", state="CO", kind="prompt_pay", label="Test rule", start="billing_date",
                     days=40, warn_days=20, source="made up for the test")
    rx = setup(receivables, -5, "2000.00", state="CO")
    c = compute(rx.data, AS_OF, Policy(legal_rules=(rule,))).customers[0]
    assert [f.source for f in c.flags if f.code == "deadline"] == ["made up for the test"]
    assert not [f for f in compute(rx.data, AS_OF, Policy(legal_rules=())).customers[0].flags]


def test_federal_rules_apply_to_listed_projects(receivables):
    rx = setup(receivables, -20, "2000.00", state="CO")  # billed 10 days ago; federal prompt pay 14 days
    assert not compute(rx.data, AS_OF).customers[0].flags
    c = compute(rx.data, AS_OF, Policy(federal_project_ids=frozenset({1}))).customers[0]
    assert "Federal prompt payment" in c.flags[0].reason


def test_call_list_ranked_by_explained_score(receivables):
    rx = receivables
    setup(rx, 100, "9000.00", customer_id=10, contract_id=100, pay_app_id=1)  # over 61 + concentration
    setup(rx, 20, "1000.00", customer_id=20, contract_id=200, pay_app_id=2, email=None)  # no email
    setup(rx, 5, "1000.00", customer_id=30, contract_id=300, pay_app_id=3)  # nothing to flag
    p = Promise(20, "1000.00", AS_OF - timedelta(days=10), AS_OF - timedelta(days=20))
    r = compute(rx.data, AS_OF, promises=[p])
    assert [x.customer_id for x in r.needs_a_call] == [10, 20]
    top = r.needs_a_call[0]
    assert top.score == sum(c.points for c in top.components)
    assert {c.code for c in top.components} == {"past_due", "age", "over_61_days", "concentration"}
    assert [c.points for c in top.components if c.code == "age"] == [30]  # 100 days / 3, capped at 30
    second = r.needs_a_call[1]
    assert {c.code for c in second.components} >= {"broken_promise", "no_email", "promise_history"}
    assert second.reasons == [f.reason for f in second.flags]
    assert r.customer(30).call_score == 0 or not r.customer(30).flags
    j = r.to_json()["needs_a_call"][0]
    assert j["customer_id"] == 10 and j["score"] == top.score and j["score_components"]


def test_flag_weights_are_configurable(receivables):
    rx = receivables
    setup(rx, 100, "9000.00", customer_id=10, contract_id=100, pay_app_id=1)
    setup(rx, 1, "100.00", customer_id=20, contract_id=200, pay_app_id=2, email=None)
    policy = Policy()
    weights = {**policy.score_flag_points, "no_email": 500}
    r = compute(rx.data, AS_OF, replace(policy, score_flag_points=weights))
    assert r.needs_a_call[0].customer_id == 20
