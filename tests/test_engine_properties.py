"""Property tests: buckets sum to open, open never negative, totals = sum over customers, order independence."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from embedded_app.engine import BUCKETS, Contact, Dispute, Promise, compute

AS_OF = date(2026, 6, 30)
amounts = st.one_of(
    st.integers(min_value=-50_000, max_value=2_000_000).map(lambda c: f"{c / 100:.2f}"),
    st.integers(min_value=0, max_value=20_000),
    st.decimals(min_value=-100, max_value=20_000, places=3, allow_nan=False).map(str),
)
days = st.integers(min_value=-400, max_value=40)


@st.composite
def datasets(draw):
    n_customers = draw(st.integers(1, 4))
    n_contracts = draw(st.integers(1, 6))
    contracts = []
    for k in range(n_contracts):
        contracts.append({
            "id": 100 + k, "project_id": draw(st.integers(1, 3)),
            "vendor": {"id": 10 + draw(st.integers(0, n_customers - 1))},
            "payment_terms": draw(st.sampled_from(["Net 30", "Net 45", "Due on receipt", "", None, "odd"])),
            "status": draw(st.sampled_from(["Approved", "Complete"])),
        })
    pay_apps = []
    for i in range(draw(st.integers(0, 14))):
        c = draw(st.sampled_from(contracts))
        pay_apps.append({
            "id": 1000 + i, "project_id": c["project_id"], "contract": {"id": c["id"]}, "number": i % 5 + 1,
            "invoice_number": f"INV-{i % 7}", "billing_date": (AS_OF + timedelta(days=draw(days))).isoformat(),
            "status": draw(st.sampled_from(["approved", "approved", "approved", "draft", "revise_and_resubmit"])),
            "g702": {"current_payment_due": draw(amounts), "total_retainage": draw(amounts)},
        })
    payments = []
    for j in range(draw(st.integers(0, 10))):
        c = draw(st.sampled_from(contracts))
        payments.append({
            "id": 5000 + j, "project_id": c["project_id"], "contract_id": c["id"], "amount": draw(amounts),
            "date": (AS_OF + timedelta(days=draw(days))).isoformat(),
            "invoice_number": draw(st.sampled_from([None, "INV-1", "INV-2", "inv-3", "X"])),
            "draw_request_number": draw(st.sampled_from([None, 1, 2, 9])),
        })
    data = {
        "projects": [{"id": p, "name": f"P{p}", "state_code": s} for p, s in ((1, "TX"), (2, "CA"), (3, "CO"))],
        "vendors": [{"id": 10 + v, "name": f"Owner {v}", "email_address": None if v == 2 else f"o{v}@x"}
                    for v in range(n_customers)],
        "prime_contracts": contracts, "payment_applications": pay_apps, "contract_payments": payments,
    }
    ids = [pa["id"] for pa in pay_apps] or [1]
    promises = [Promise(10 + draw(st.integers(0, n_customers - 1)), draw(amounts),
                        AS_OF + timedelta(days=draw(days) // 4), AS_OF - timedelta(days=draw(st.integers(0, 90))),
                        invoice_ids=tuple(draw(st.lists(st.sampled_from(ids), max_size=2))), id=n)
                for n in range(draw(st.integers(0, 3)))]
    contacts = [Contact(10 + draw(st.integers(0, n_customers - 1)),
                        draw(st.sampled_from(["reminder", "first_notice", "final_notice", "call"])),
                        AS_OF + timedelta(days=draw(days) // 4), id=n) for n in range(draw(st.integers(0, 3)))]
    disputes = [Dispute(draw(st.sampled_from(ids)), AS_OF - timedelta(days=draw(st.integers(0, 60))), id=n)
                for n in range(draw(st.integers(0, 2)))]
    return data, promises, contacts, disputes


PROPS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPS
@given(datasets())
def test_invariants(case):
    data, promises, contacts, disputes = case
    r = compute(data, AS_OF, promises=promises, contacts=contacts, disputes=disputes)
    totals = dict.fromkeys(r.totals, 0)
    for c in r.customers:
        assert sum(c.buckets.values()) == c.open_cents
        assert all(v >= 0 for v in c.buckets.values())
        assert c.unapplied_credit_cents >= 0 and c.retainage_cents >= 0
        assert all(i.open_cents > 0 and i.open_cents <= i.amount_cents for i in c.invoices)
        assert sum(i.open_cents for i in c.invoices) == c.open_cents
        assert c.past_due_cents == sum(i.open_cents for i in c.invoices if i.days_past_due > 0)
        assert c.call_score == sum(s.points for s in c.score_components)
        for k in BUCKETS:
            totals[k] += c.buckets[k]
        totals["open"] += c.open_cents
        totals["past_due"] += c.past_due_cents
        totals["retainage"] += c.retainage_cents
        totals["unapplied_credit"] += c.unapplied_credit_cents
    for k in (*BUCKETS, "open", "past_due", "retainage", "unapplied_credit"):
        assert r.totals[k] == totals[k], k
    assert sum(r.totals[k] for k in BUCKETS) == r.totals["open"]
    assert r.metrics.history[-1].open_cents == r.totals["open"]
    b = r.metrics.bridge
    assert abs(b.start + b.new_billing + b.collections + b.promises_kept + b.other - b.end) < Decimal("1e-20")
    j = r.to_json()
    assert all(float(v) >= 0 for v in j["totals"].values() if v != j["totals"]["balance"])


@PROPS
@given(datasets(), st.randoms(use_true_random=False))
def test_result_is_independent_of_input_order(case, rnd: random.Random):
    data, promises, contacts, disputes = case
    expected = compute(data, AS_OF, promises=promises, contacts=contacts, disputes=disputes).to_json()
    shuffled = {k: rnd.sample(v, len(v)) for k, v in data.items()}
    got = compute(shuffled, AS_OF, promises=rnd.sample(promises, len(promises)),
                  contacts=rnd.sample(contacts, len(contacts)), disputes=rnd.sample(disputes, len(disputes))).to_json()
    assert got == expected


@PROPS
@given(datasets())
def test_history_matches_a_recompute_at_each_month_end(case):
    data, *_ = case
    r = compute(data, AS_OF)
    for point in r.metrics.history[-4:-1]:
        again = compute(data, point.date)
        assert point.open_cents == again.totals["open"]
        assert point.buckets == {k: again.totals[k] for k in BUCKETS}
        assert point.retainage_cents == again.totals["retainage"]
