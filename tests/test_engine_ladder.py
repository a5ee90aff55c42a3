"""Dunning ladder: stage boundaries, minimum gap, small-balance tolerance, pauses, broken promises, retainage."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from embedded_app.engine import Contact, Dispute, Policy, Promise, compute, stage_for
from tests.fixtures.engine import Receivables

AS_OF = date(2026, 6, 30)


def one_invoice(rx: Receivables, days_past_due: int, amount: str = "1000.00", terms: str = "Net 30") -> Receivables:
    billing = AS_OF - timedelta(days=days_past_due + 30)
    rx.contract(100, customer_id=10, terms=terms)
    rx.pay_app(1, 100, 1, billing, amount)
    return rx


@pytest.mark.parametrize(
    ("days", "stage"),
    [(-30, "current"), (-8, "current"), (-7, "reminder"), (0, "reminder"), (1, "first_notice"),
     (15, "first_notice"), (16, "second_notice"), (45, "second_notice"), (46, "final_notice"),
     (60, "final_notice"), (61, "call"), (400, "call")],
)
def test_stage_boundaries(receivables, days, stage):
    assert stage_for(days, Policy()) == stage
    r = compute(one_invoice(receivables, days).data, AS_OF)
    c = r.customers[0]
    assert (c.stage, c.ladder_stage, c.invoices[0].stage) == (stage, stage, stage)
    expected = "none" if stage == "current" else ("call" if stage == "call" else f"send_{stage}")
    assert c.next_action.action == expected


def test_boundaries_are_configurable():
    p = Policy(first_notice_from=5, second_notice_from=20, final_notice_from=40, call_from=50,
               reminder_days_before_due=3)
    assert [stage_for(d, p) for d in (-4, -3, 4, 5, 20, 40, 50)] == [
        "current", "reminder", "reminder", "first_notice", "second_notice", "final_notice", "call"]
    with pytest.raises(ValueError):
        Policy(first_notice_from=20, second_notice_from=10)


def test_customer_stage_follows_the_oldest_invoice_and_projects_have_their_own(receivables):
    rx = receivables
    rx.contract(100, customer_id=10, project_id=1)
    rx.contract(200, customer_id=10, project_id=2)
    rx.pay_app(1, 100, 1, AS_OF - timedelta(days=30 + 20), "100.00")  # 20 days past due
    rx.pay_app(2, 200, 1, AS_OF - timedelta(days=30 + 50), "100.00")  # 50 days past due
    c = compute(rx.data, AS_OF).customers[0]
    assert c.stage == "final_notice"
    assert [(p.id, p.stage) for p in c.projects] == [(1, "second_notice"), (2, "final_notice")]


@pytest.mark.parametrize(
    ("contacts", "action", "on"),
    [
        ([], "send_second_notice", AS_OF),
        # any contact less than 7 days ago: wait until the gap has passed
        ([Contact(10, "first_notice", AS_OF - timedelta(days=3))], "wait", AS_OF + timedelta(days=4)),
        ([Contact(10, "first_notice", AS_OF - timedelta(days=7))], "send_second_notice", AS_OF),
        # this stage's message already sent since the invoice reached the stage: wait for the next stage
        ([Contact(10, "second_notice", AS_OF - timedelta(days=10))], "wait", None),
        # a second notice sent before the invoice reached this stage does not count
        ([Contact(10, "second_notice", AS_OF - timedelta(days=40))], "send_second_notice", AS_OF),
        # contacts dated after the as-of date are ignored
        ([Contact(10, "second_notice", AS_OF + timedelta(days=1))], "send_second_notice", AS_OF),
    ],
)
def test_minimum_gap_and_send_once_per_stage(receivables, contacts, action, on):
    r = compute(one_invoice(receivables, 30).data, AS_OF, contacts=contacts)
    na = r.customers[0].next_action
    assert (na.action, na.on) == (action, on)


def test_minimum_gap_is_configurable(receivables):
    contacts = [Contact(10, "first_notice", AS_OF - timedelta(days=3))]
    r = compute(one_invoice(receivables, 30).data, AS_OF, Policy(min_contact_gap_days=2), contacts=contacts)
    assert r.customers[0].next_action.action == "send_second_notice"


@pytest.mark.parametrize(("amount", "credit", "held"), [
    ("50.00", "0", True), ("50.01", "0", False), ("80.00", "30.00", True), ("80.00", "29.99", False)])
def test_small_balance_tolerance(receivables, amount, credit, held):
    rx = one_invoice(receivables, 70, amount)
    if credit != "0":
        rx.contract(200, customer_id=10, project_id=2)
        rx.payment(1, 200, credit, "2026-06-01")
    c = compute(rx.data, AS_OF).customers[0]
    assert (c.hold == "small_balance") == held
    assert c.stage == ("current" if held else "call")
    assert c.ladder_stage == "call"
    assert (c.next_action.action == "none") == held


def test_dispute_pauses_only_that_invoice(receivables):
    rx = receivables
    rx.contract(100)
    rx.pay_app(1, 100, 1, AS_OF - timedelta(days=30 + 70), "100.00")  # call stage, disputed
    rx.pay_app(2, 100, 2, AS_OF - timedelta(days=30 + 20), "100.00")  # second notice
    disputes = [Dispute(1, AS_OF - timedelta(days=5), reason="quantities")]
    c = compute(rx.data, AS_OF, disputes=disputes).customers[0]
    assert [i.paused for i in c.invoices] == ["disputed", None]
    assert c.stage == "second_notice" and c.ladder_stage == "call"
    assert any(f.code == "disputed" for f in c.flags)
    # resolved dispute: the ladder resumes
    resolved = [Dispute(1, AS_OF - timedelta(days=5), resolved_on=AS_OF)]
    assert compute(rx.data, AS_OF, disputes=resolved).customers[0].stage == "call"


def test_every_invoice_disputed_pauses_the_customer(receivables):
    rx = one_invoice(receivables, 70)
    c = compute(rx.data, AS_OF, disputes=[Dispute(1, AS_OF - timedelta(days=1))]).customers[0]
    assert (c.stage, c.hold, c.next_action.action) == ("paused", "disputed", "none")


@pytest.mark.parametrize(("invoice_ids", "stage"), [((), "paused"), ((1,), "current"), ((2,), "call")])
def test_live_promise_pauses(receivables, invoice_ids, stage):
    rx = receivables
    rx.contract(100)
    rx.pay_app(1, 100, 1, AS_OF - timedelta(days=30 + 70), "100.00")
    rx.pay_app(2, 100, 2, AS_OF - timedelta(days=10), "100.00")
    promise = Promise(10, "100.00", AS_OF + timedelta(days=5), AS_OF - timedelta(days=2), invoice_ids=invoice_ids)
    c = compute(rx.data, AS_OF, promises=[promise]).customers[0]
    assert c.stage == stage
    if stage == "paused":
        assert c.hold == "promise" and "promise to pay $100.00" in c.next_action.reason


@pytest.mark.parametrize(
    ("days", "escalated"),
    [(20, "final_notice"), (50, "call"), (70, "call"), (3, "second_notice")],
)
def test_broken_promise_resumes_one_stage_higher(receivables, days, escalated):
    rx = one_invoice(receivables, days)
    broken = Promise(10, "1000.00", AS_OF - timedelta(days=5), AS_OF - timedelta(days=20))
    c = compute(rx.data, AS_OF, promises=[broken]).customers[0]
    assert c.stage == escalated
    assert c.flags[0].code == "broken_promise"
    assert c.flags[0].reason == f"Promised $1,000.00 by {(AS_OF - timedelta(days=5)).isoformat()}; $0.00 received"


def test_grace_days_delay_the_break(receivables):
    rx = one_invoice(receivables, 20)
    promise = Promise(10, "1000.00", AS_OF - timedelta(days=3), AS_OF - timedelta(days=20))
    c = compute(rx.data, AS_OF, promises=[promise]).customers[0]  # grace 3 days: deadline is today
    assert c.stage == "paused"
    c = compute(rx.data, AS_OF, Policy(promise_grace_days=2), promises=[promise]).customers[0]
    assert c.stage == "final_notice" and c.flags[0].code == "broken_promise"


def test_a_newer_promise_supersedes_a_broken_one(receivables):
    rx = one_invoice(receivables, 20)
    broken = Promise(10, "1000.00", AS_OF - timedelta(days=10), AS_OF - timedelta(days=20))
    newer = Promise(10, "1000.00", AS_OF + timedelta(days=10), AS_OF - timedelta(days=2))
    c = compute(rx.data, AS_OF, promises=[broken, newer]).customers[0]
    assert c.stage == "paused" and not any(f.code == "broken_promise" for f in c.flags)


@pytest.mark.parametrize(
    ("contract", "pay_app_extra", "stage", "reason"),
    [
        ({"status": "Approved"}, {}, "held", "work not complete yet"),
        ({"status": "Complete"}, {}, "retainage_release", "contract status is Complete"),
        ({"substantial_completion_date": "2026-06-01"}, {}, "retainage_release",
         "substantially complete on 2026-06-01"),
        ({"substantial_completion_date": "2026-07-15"}, {}, "held", "work not complete yet"),
        ({}, {"percent_complete": "100.0"}, "retainage_release", "final pay app #2 approved"),
        ({}, {"g702": {"contract_sum_to_date": "500", "total_completed_and_stored_to_date": "500"}},
         "retainage_release", "final pay app #2 approved"),
    ],
)
def test_retainage_release_path(receivables, contract, pay_app_extra, stage, reason):
    rx = receivables
    rx.contract(100, **{"status": "Approved", **contract})
    rx.pay_app(1, 100, 1, "2026-04-01", "900.00", retainage="100.00")
    rx.pay_app(2, 100, 2, "2026-05-01", "900.00", retainage="200.00", **pay_app_extra)
    rx.payment(1, 100, "1800.00", "2026-06-01")
    c = compute(rx.data, AS_OF).customers[0]
    assert c.retainage_stage == stage and c.contracts[0].retainage_stage == stage
    assert reason in c.contracts[0].retainage_reason
    assert c.stage == "current"  # progress billings are paid; retainage never drives the dunning stage
    assert c.to_json()["contracts"][0]["retainage_stage"] == stage


def test_no_retainage_no_retainage_stage(receivables):
    rx = one_invoice(receivables, 5)
    assert compute(rx.data, AS_OF).customers[0].retainage_stage == "none"


def test_revise_and_resubmit_is_a_task_never_dunned(receivables):
    rx = receivables
    rx.contract(100)
    rx.pay_app(7, 100, 7, "2026-01-01", "5000.00", status="revise_and_resubmit", invoice_number="INV-0007")
    r = compute(rx.data, AS_OF)
    assert r.customers == [] and r.totals["open"] == 0
    assert r.tasks[0].text == ("Fix and resubmit pay app #7 (INV-0007) on Project 1 for Owner 10: the owner "
                               "returned it as revise and resubmit")
    assert r.to_json()["tasks"][0]["kind"] == "resubmit_pay_app"
