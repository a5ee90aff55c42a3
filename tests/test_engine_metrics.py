"""Metrics with hand-worked numbers: countback DSO, simple DSO, best-possible DSO, ADD, CEI, history, bridge."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from embedded_app.engine import Promise, cei, compute, countback_dso
from tests.fixtures.engine import Receivables

AS_OF = date(2026, 3, 31)


def q(value: Decimal | None) -> str | None:
    return None if value is None else str(value.quantize(Decimal("0.01")))


def test_countback_with_30_day_months_matches_the_textbook_example():
    # AR 212k, sales 100k, 80k, 70k → 30 + 30 + 32/70 · 30 ≈ 73.71 days
    days, used = countback_dso(21_200_000, [(30, 10_000_000), (30, 8_000_000), (30, 7_000_000)])
    assert q(days) == "73.71" and used == 3
    assert countback_dso(0, [(30, 1)]) == (Decimal(0), 0)
    # a month without sales consumes nothing and counts in full
    assert countback_dso(100, [(31, 0), (30, 200)]) == (Decimal(46), 2)


def test_cei_formula():
    assert q(cei(15_000_000, 10_000_000, 21_200_000, 10_000_000)) == "25.33"
    assert cei(0, 0, 0, 0) is None


def hand_worked(promise_paid: bool = False) -> tuple[Receivables, list[Promise]]:
    """Billing 70k (Jan 10), 80k (Feb 10), 100k (Mar 10), Net 30; one unmatched payment of 38k on Mar 5."""
    rx = Receivables()
    rx.contract(100, customer_id=10, terms="Net 30")
    rx.pay_app(1, 100, 1, "2026-01-10", "70000.00")
    rx.pay_app(2, 100, 2, "2026-02-10", "80000.00")
    rx.pay_app(3, 100, 3, "2026-03-10", "100000.00")
    rx.payment(1, 100, "38000.00", "2026-03-05")
    promises = [Promise(10, "38000.00", date(2026, 3, 10), date(2026, 3, 1))] if promise_paid else []
    return rx, promises


def test_hand_worked_metrics():
    rx, _ = hand_worked()
    r = compute(rx.data, AS_OF)
    # Open: Jan 32k (50 days past due), Feb 80k (19 days), Mar 100k (current) = 212k
    assert r.to_json()["totals"] == {**r.to_json()["totals"], "open": "212000.00", "current": "100000.00",
                                     "1_30": "80000.00", "31_60": "32000.00"}
    m = r.metrics
    # Countback over calendar months: Mar 31 days (100k), Feb 28 days (80k), Jan 32/70 · 31 = 14.17 → 73.17
    assert q(m.countback_dso) == "73.17" and m.countback_months_used == 3
    # Simple DSO over 90 days (Jan 1 – Mar 31, sales 250k): 212/250 · 90 = 76.32; best possible 100/250 · 90 = 36
    assert q(m.simple_dso) == "76.32" and q(m.best_possible_dso) == "36.00" and q(m.add) == "40.32"
    # CEI for the month: begin 150k (Feb 28), sales 100k, end 212k, end current 100k → 38/150 = 25.33 %
    assert q(m.cei) == "25.33"
    j = r.to_json()["metrics"]
    assert (j["countback_dso"], j["simple_dso"], j["best_possible_dso"], j["add"], j["cei"]) == (
        "73.2", "76.3", "36.0", "40.3", "25.3")


def test_history_points():
    rx, _ = hand_worked()
    h = compute(rx.data, AS_OF).metrics.history
    assert len(h) == 12
    assert [p.month for p in h[-3:]] == ["2026-01", "2026-02", "2026-03"]
    assert [p.date.isoformat() for p in h[-3:]] == ["2026-01-31", "2026-02-28", "2026-03-31"]
    jan, feb, mar = h[-3:]
    assert (jan.open_cents, jan.buckets["current"]) == (7_000_000, 7_000_000)
    assert (feb.open_cents, feb.buckets["current"], feb.buckets["1_30"]) == (15_000_000, 8_000_000, 7_000_000)
    assert (feb.billed_cents, feb.collected_cents, mar.collected_cents) == (8_000_000, 0, 3_800_000)
    # Feb 28: 150k AR, Feb sales 80k (28 days) + Jan 70k (31 days) → 59 days exactly
    assert q(feb.countback_dso) == "59.00"
    assert all(p.open_cents == 0 for p in h[:-3])
    assert h[-1].to_json()["open"] == "212000.00"


def test_history_mid_month_as_of_counts_days_to_date():
    rx, _ = hand_worked()
    r = compute(rx.data, date(2026, 3, 15))
    # AR on Mar 15: 32k + 80k + 100k = 212k; Mar counts 15 days (100k), Feb 28 (80k), Jan 32/70 · 31
    assert q(r.metrics.countback_dso) == "57.17"
    assert r.metrics.history[-1].date == date(2026, 3, 15)


def test_dso_bridge_adds_up():
    rx, _ = hand_worked()
    b = compute(rx.data, AS_OF).metrics.bridge
    # start 59; + this month's billing (AR 250k against Jan–Mar sales) → 90; − 38k collected → 73.17
    assert (q(b.start), q(b.new_billing), q(b.collections), q(b.promises_kept), q(b.other), q(b.end)) == (
        "59.00", "31.00", "-16.83", "0.00", "0.00", "73.17")
    assert b.start + b.new_billing + b.collections + b.promises_kept + b.other == b.end


def test_dso_bridge_credits_kept_promises():
    rx, promises = hand_worked(promise_paid=True)
    r = compute(rx.data, AS_OF, promises=promises)
    b = r.metrics.bridge
    assert r.promise_outcomes[0].status == "kept"
    assert (q(b.collections), q(b.promises_kept)) == ("0.00", "-16.83")
    assert b.to_json()["collected_on_promises"] == "38000.00"


def test_no_sales_no_ratio_dso():
    rx = Receivables()
    rx.contract(100)
    rx.pay_app(1, 100, 1, "2025-01-10", "100.00")
    m = compute(rx.data, AS_OF).metrics
    assert m.simple_dso is None and m.best_possible_dso is None and m.add is None
    # countback walks back to January 2025, whose 100.00 of sales covers the AR exactly: every day since Jan 1
    assert m.countback_dso == Decimal((date(2026, 3, 31) - date(2025, 1, 1)).days + 1) == Decimal(455)
