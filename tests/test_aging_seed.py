"""The aging CLI's JSON for the built-in seed, checked against hand-worked expectations (issue 4, "Done when").

The CLI runs for real (``python -m embedded_app aging … --json`` in a subprocess, syncing company 10001 from a
stand-in over HTTP). The expectations are computed here, independently of ``embedded_app.engine``, straight
from the seed dataset with a small re-implementation of the rules in docs/aging.md:

- an invoice is an approved pay app billed on or before the as-of date; amount = ``g702.current_payment_due``;
- due date = billing date + terms ("Net N", "N days", "Due on receipt" = 0, blank = 30);
- payments dated on or before the as-of date go first to the invoice they name (invoice number, else draw
  number), then whatever is left pays the contract's open invoices oldest due date first (then lowest number);
  cash beyond every invoice is an unapplied credit;
- buckets by days past due; retainage = ``g702.total_retainage`` of the contract's latest approved pay app;
- the customer is the contract's ``vendor.id``.

The picked customers are chosen so that together they exercise matched and unmatched payments, partial payments,
an overpayment credit, retainage on several contracts, "Due on receipt" and blank terms; the test asserts that
they still do, so a change to the seed cannot quietly make it weaker.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
COMPANY = 10001
AS_OF = date(2026, 11, 30)
BUCKET_KEYS = ("current", "1_30", "31_60", "61_90", "91_plus")
TOTAL_KEYS = (*BUCKET_KEYS, "past_due", "open", "retainage", "unapplied_credit")
CUSTOMER_KEYS = {
    "id", "name", "email", "buckets", "open", "retainage", "unapplied_credit", "oldest_days_past_due", "stage",
    "flags", "invoices",
}
INVOICE_KEYS = {
    "pay_app_id", "project_id", "contract_id", "number", "invoice_number", "billing_date", "due_date", "amount",
    "open", "days_past_due", "bucket",
}
MONEY = re.compile(r"-?\d+\.\d\d")

# Sagebrush Ventures LLC: 9 contracts, short-paid invoices, an overpayment credit, blank terms.
# Three Rivers Housing Authority: "Due on receipt", many unmatched ("ACH received") payments.
# Union Square Unified School District: no email on file, "Due on receipt" and "30 days".
# Parkside Water District: a chronic slow payer, open in every bucket.
PICKED = (3000004, 3000006, 3000019, 3000009)


# ------------------------------------------------------------------------------ the rules, re-implemented


def terms_days(text: str | None) -> int:
    t = (text or "").strip().lower()
    if not t:
        return 30
    if t == "due on receipt":
        return 0
    m = re.fullmatch(r"net (\d+)|(\d+) days", t)
    assert m, f"terms the seed is not expected to use: {text!r}"
    return int(m.group(1) or m.group(2))


def bucket(days: int) -> str:
    if days <= 0:
        return "current"
    if days <= 30:
        return "1_30"
    if days <= 60:
        return "31_60"
    if days <= 90:
        return "61_90"
    return "91_plus"


@dataclass
class Inv:
    app: dict[str, Any]
    due: date
    amount: Decimal
    open: Decimal


@dataclass
class Expected:
    invoices: list[Inv] = field(default_factory=list)
    buckets: dict[str, Decimal] = field(default_factory=lambda: {k: Decimal("0") for k in BUCKET_KEYS})
    retainage: Decimal = Decimal("0")
    credit: Decimal = Decimal("0")
    retainage_contracts: int = 0
    terms: set[str] = field(default_factory=set)
    payments_by_invoice_number: int = 0
    payments_by_draw_only: int = 0
    payments_unmatched: int = 0

    @property
    def open(self) -> Decimal:
        return sum(self.buckets.values(), Decimal("0"))


def expected_for(data: dict[str, Any], customer_id: int) -> Expected:
    projects = {p["id"] for p in data["projects"] if p["company_id"] == COMPANY}
    contracts = [
        c for c in data["prime_contracts"] if c["project_id"] in projects and c["vendor"]["id"] == customer_id
    ]
    out = Expected()
    for contract in contracts:
        days = terms_days(contract["payment_terms"])
        approved = [
            a
            for a in data["payment_applications"]
            if a["contract"]["id"] == contract["id"]
            and a["status"] == "approved"
            and date.fromisoformat(a["billing_date"]) <= AS_OF
        ]
        if not approved:
            continue
        out.terms.add(contract["payment_terms"])
        latest = max(approved, key=lambda a: (a["billing_date"], a["number"]))
        held = Decimal(latest["g702"]["total_retainage"])
        out.retainage += held
        out.retainage_contracts += held > 0
        invs = []
        for a in approved:
            amount = Decimal(a["g702"]["current_payment_due"])
            assert amount > 0, "negative pay apps are outside this hand-worked re-implementation"
            due = date.fromisoformat(a["billing_date"]) + timedelta(days=days)
            invs.append(Inv(a, due, amount, amount))
        invs.sort(key=lambda i: (i.due, i.app["number"]))
        payments = [
            p
            for p in data["contract_payments"]
            if p["contract_id"] == contract["id"] and date.fromisoformat(p["date"]) <= AS_OF
        ]
        leftover = Decimal("0")
        for p in payments:
            cash = Decimal(p["amount"])
            target = None
            if p["invoice_number"]:
                target = next((i for i in invs if i.app["invoice_number"] == p["invoice_number"]), None)
                out.payments_by_invoice_number += target is not None
            if target is None and p["draw_request_number"] is not None:
                target = next((i for i in invs if i.app["number"] == p["draw_request_number"]), None)
                out.payments_by_draw_only += target is not None
            if target is None:
                out.payments_unmatched += 1
            else:
                applied = min(cash, target.open)
                target.open -= applied
                cash -= applied
            leftover += cash
        for inv in invs:  # oldest due first, then lowest number
            applied = min(leftover, inv.open)
            inv.open -= applied
            leftover -= applied
        out.credit += leftover
        for inv in invs:
            if inv.open > 0:
                out.invoices.append(inv)
                out.buckets[bucket((AS_OF - inv.due).days)] += inv.open
    return out


# ------------------------------------------------------------------------------------------ the CLI run


@pytest.fixture
def report(make_sandbox: Any, tmp_path: Path) -> dict[str, Any]:
    # the seed stand-in over HTTP; a full sync of the company under the default spike limit waits out 429s (~10 s)
    running = make_sandbox(hourly_limit=10**7, spike_limit=10**6)
    env = {
        **os.environ,
        "PROCORE_API_URL": running.api_url,
        "PROCORE_LOGIN_URL": running.login_url,
        "PROCORE_CLIENT_ID": "demo-service-account",
        "PROCORE_CLIENT_SECRET": "demo-service-secret",
        "DATABASE": str(tmp_path / "aging.sqlite"),
        "SECRET_KEY": "aging-seed-test",
    }
    argv = ["aging", "--company-id", str(COMPANY), "--as-of", AS_OF.isoformat(), "--json"]
    proc = subprocess.run(
        [sys.executable, "-m", "embedded_app", *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def money(value: Decimal) -> str:
    return f"{value:.2f}"


def check_shape(report: dict[str, Any]) -> None:
    assert report["company_id"] == COMPANY and report["as_of"] == AS_OF.isoformat()
    assert set(TOTAL_KEYS) <= set(report["totals"])
    assert all(MONEY.fullmatch(report["totals"][k]) for k in TOTAL_KEYS), report["totals"]
    assert isinstance(report["tasks"], list) and isinstance(report["metrics"], dict)
    assert report["customers"]
    for c in report["customers"]:
        assert CUSTOMER_KEYS <= set(c), sorted(CUSTOMER_KEYS - set(c))
        assert set(BUCKET_KEYS) <= set(c["buckets"])
        for key in ("open", "retainage", "unapplied_credit"):
            assert MONEY.fullmatch(c[key]), (c["id"], key, c[key])
        assert all(MONEY.fullmatch(c["buckets"][k]) and not c["buckets"][k].startswith("-") for k in BUCKET_KEYS)
        assert all(set(f) >= {"code", "reason"} for f in c["flags"])
        for inv in c["invoices"]:
            assert INVOICE_KEYS <= set(inv), sorted(INVOICE_KEYS - set(inv))
            assert MONEY.fullmatch(inv["amount"]) and MONEY.fullmatch(inv["open"])
            assert inv["bucket"] in BUCKET_KEYS


def check_totals(report: dict[str, Any]) -> None:
    totals = {k: Decimal(v) for k, v in report["totals"].items() if k in TOTAL_KEYS}
    customers = report["customers"]
    for k in BUCKET_KEYS:
        assert totals[k] == sum((Decimal(c["buckets"][k]) for c in customers), Decimal("0")), k
    for k in ("open", "retainage", "unapplied_credit"):
        assert totals[k] == sum((Decimal(c[k]) for c in customers), Decimal("0")), k
    assert totals["open"] == sum((totals[k] for k in BUCKET_KEYS), Decimal("0"))
    assert totals["past_due"] == totals["open"] - totals["current"]


def check_customer(data: dict[str, Any], got: dict[str, Any], want: Expected) -> None:
    cid = got["id"]
    assert {k: Decimal(v) for k, v in got["buckets"].items() if k in BUCKET_KEYS} == want.buckets, cid
    assert got["open"] == money(want.open), cid
    assert got["retainage"] == money(want.retainage), cid
    assert got["unapplied_credit"] == money(want.credit), cid
    vendor = next(v for v in data["vendors"] if v["id"] == cid)
    assert got["name"] == vendor["name"]
    expected_invoices = {
        i.app["id"]: {
            "pay_app_id": i.app["id"],
            "project_id": i.app["project_id"],
            "contract_id": i.app["contract"]["id"],
            "number": i.app["number"],
            "invoice_number": i.app["invoice_number"],
            "billing_date": i.app["billing_date"],
            "due_date": i.due.isoformat(),
            "amount": money(i.amount),
            "open": money(i.open),
            "days_past_due": (AS_OF - i.due).days,
            "bucket": bucket((AS_OF - i.due).days),
        }
        for i in want.invoices
    }
    got_invoices = {inv["pay_app_id"]: {k: inv[k] for k in INVOICE_KEYS} for inv in got["invoices"]}
    assert got_invoices == expected_invoices, cid
    days = [(AS_OF - i.due).days for i in want.invoices]
    assert got["oldest_days_past_due"] == (max(0, *days) if days else None), cid


def test_aging_cli_json_for_the_seed_matches_hand_worked_customers(report, seed_dataset):
    check_shape(report)
    check_totals(report)

    customers = {c["id"]: c for c in report["customers"]}
    expected = {cid: expected_for(seed_dataset, cid) for cid in PICKED}
    for cid, want in expected.items():
        assert cid in customers, f"customer {cid} missing from the report"
        check_customer(seed_dataset, customers[cid], want)

    # the picked customers still exercise what they were picked for
    wants = list(expected.values())
    assert sum(w.payments_by_invoice_number for w in wants) > 0
    assert sum(w.payments_by_draw_only for w in wants) > 0
    assert sum(w.payments_unmatched for w in wants) > 0
    assert any(Decimal("0") < i.open < i.amount for w in wants for i in w.invoices), "a partly paid invoice"
    assert any(w.credit > 0 for w in wants), "an overpayment credit"
    assert any(w.retainage_contracts >= 2 for w in wants), "retainage held on several contracts"
    assert {"Due on receipt", ""} <= set().union(*(w.terms for w in wants))
    assert len({b for w in wants for b, v in w.buckets.items() if v}) == len(BUCKET_KEYS)
    assert any((AS_OF - i.due).days == 1 for w in wants for i in w.invoices), "an invoice one day past due"
    assert any(customers[cid]["email"] is None for cid in PICKED)
