"""Benchmark: the collections engine against the time to merely read the same rows from the SQLite cache.

    .venv/bin/python benchmarks/engine.py                      # 100k approved invoices / 10k customers
    .venv/bin/python benchmarks/engine.py --invoices 10000 --customers 1000   # quick run

Generates a dataset-shaped receivables dict (its own fast generator, records shaped like Procore's API), saves it
into a temporary SQLite file with ``embedded_app.store`` (open_db + cache.save_*), then times
(a) ``cache.load_receivables`` — the read floor — and (b) ``engine.compute`` over the loaded data (aging,
stages, flags, metrics with 12-month history). Prints a table; the goal is engine ≤ 3 × read floor.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import sys
import tempfile
import time
from collections import defaultdict
from datetime import date, timedelta
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from embedded_app.engine import Contact, Dispute, Promise, compute  # noqa: E402
from embedded_app.store import cache, open_db  # noqa: E402

STATES = ["CA", "TX", "CO", "AZ", "WA", "AL", "FL", "NY"]
TERMS = ["Net 30", "Net 45", "30 days", "Due on receipt", "", None, "2/10 Net 30", "Net 60", "payable monthly"]


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def generate(n_invoices: int, n_customers: int, as_of: date, seed: int = 7) -> dict[str, list[dict[str, Any]]]:
    """A company with ``n_customers`` owners, about one prime contract each (some have two), and
    ``n_invoices`` approved pay apps spread over the last two years, most of them paid."""
    rnd = random.Random(seed)
    n_projects = max(1, n_customers // 4)
    projects = [
        {"id": 10_000 + p, "name": f"Project {p}", "display_name": f"P{p:05d} Project {p}",
         "project_number": f"P{p:05d}", "active": True, "state_code": STATES[p % len(STATES)],
         "updated_at": "2026-01-01T00:00:00Z"}
        for p in range(n_projects)
    ]
    vendors = []
    for c in range(n_customers):
        email = None if c % 37 == 0 else f"ap{c}@owner{c}.example"
        vendors.append({
            "id": 500_000 + c, "name": f"Owner {c} LLC", "email_address": email, "business_phone": f"555-{c:05d}",
            "is_active": True, "updated_at": "2026-01-01T00:00:00Z",
            "primary_contact": {"id": 900_000 + c, "first_name": "Pat", "last_name": f"Payer{c}",
                                "email_address": email, "business_phone": f"555-{c:05d}"},
        })
    n_contracts = n_customers + n_customers // 5
    contracts = []
    for k in range(n_contracts):
        v = vendors[k % n_customers]
        p = projects[rnd.randrange(n_projects)]
        contracts.append({
            "id": 700_000 + k, "project_id": p["id"], "number": f"PC-{k:05d}", "title": f"Prime contract {k}",
            "status": "Complete" if k % 11 == 0 else "Approved", "executed": True, "private": False,
            "grand_total": "1000000.0", "retainage_percent": "10.0", "payment_terms": TERMS[k % len(TERMS)],
            "substantial_completion_date": (as_of - timedelta(days=rnd.randrange(0, 200))).isoformat()
            if k % 13 == 0 else None,
            "vendor": {k2: v[k2] for k2 in ("id", "name", "email_address", "business_phone", "is_active",
                                            "primary_contact")},
            "contractor": {"id": 1, "name": "Builder Co"}, "updated_at": "2026-01-01T00:00:00Z",
        })
    per = [0] * n_contracts
    for i in range(n_invoices):
        per[i % n_contracts] += 1
    pay_apps: list[dict[str, Any]] = []
    payments: list[dict[str, Any]] = []
    pa_id, pay_id = 1_000_000, 3_000_000
    for k, c in enumerate(contracts):
        n = per[k]
        start = as_of - timedelta(days=30 * n + rnd.randrange(0, 30))
        retainage = 0
        total_paid = 0
        sum_to_date = 0
        extra = 1 if k % 17 == 0 or k % 19 == 0 else 0  # a pay app that is not (yet) owed, on top of n
        for num in range(1, n + 1 + extra):
            billing = start + timedelta(days=30 * (num - 1) + rnd.randrange(0, 5))
            if billing > as_of:
                billing = as_of
            gross = rnd.randrange(1_000_000, 20_000_000)
            ret = gross // 10
            retainage += ret
            due = gross - ret
            sum_to_date += gross
            status = "approved"
            if num > n and k % 17 == 0:
                status = "revise_and_resubmit"
            elif num > n:
                status = "under_review"
            pay_apps.append({
                "id": pa_id, "project_id": c["project_id"], "number": num, "invoice_number": f"{k}-{num:03d}",
                "billing_date": billing.isoformat(), "period_start": (billing - timedelta(days=30)).isoformat(),
                "period_end": billing.isoformat(), "status": status, "percent_complete": str(min(100, num * 9)),
                "formatted_contract_company": c["vendor"]["name"],
                "contract": {"id": c["id"], "type": "PrimeContract", "title": c["title"]},
                "created_at": billing.isoformat() + "T12:00:00Z", "updated_at": billing.isoformat() + "T12:00:00Z",
                "g702": {
                    "original_contract_sum": "1000000.0", "net_change_by_change_orders": "0.0",
                    "contract_sum_to_date": "1000000.0", "total_completed_and_stored_to_date": _money(sum_to_date),
                    "completed_work_retainage_percent": "10.0", "completed_work_retainage_amount": _money(retainage),
                    "stored_materials_retainage_percent": "0.0", "stored_materials_retainage_amount": "0.0",
                    "total_retainage": _money(retainage),
                    "total_earned_less_retainage": _money(sum_to_date - retainage),
                    "less_previous_certificates_for_payment": _money(sum_to_date - gross - (retainage - ret)),
                    "current_payment_due": _money(due), "balance_to_finish_including_retainage": "0.0",
                    "tax_applicable_to_this_payment": "0.0",
                },
            })
            pa_id += 1
            if status != "approved":
                continue
            age = (as_of - billing).days
            r = rnd.random()
            if age < 25 and r < 0.7:
                continue  # recent: not paid yet
            if r < 0.08:
                continue  # never paid
            amount = due if r > 0.2 else due // 2
            pay_day = min(as_of, billing + timedelta(days=rnd.randrange(10, 75)))
            matched = r > 0.3
            payments.append({
                "id": pay_id, "project_id": c["project_id"], "contract_id": c["id"], "amount": _money(amount),
                "date": pay_day.isoformat(), "check_number": str(pay_id), "payment_number": str(num),
                "invoice_number": f"{k}-{num:03d}" if matched else None,
                "draw_request_number": num if matched and r > 0.6 else None, "notes": "", "status": "approved",
                "date_payment_settled": pay_day.isoformat(), "created_at": pay_day.isoformat() + "T00:00:00Z",
                "updated_at": pay_day.isoformat() + "T00:00:00Z",
            })
            total_paid += amount
            pay_id += 1
    return {"projects": projects, "vendors": vendors, "prime_contracts": contracts,
            "payment_applications": pay_apps, "contract_payments": payments}


def save(db: Any, company_id: int, data: dict[str, list[dict[str, Any]]]) -> None:
    db.execute("PRAGMA synchronous = OFF")
    cache.save_company(db, {"id": company_id, "name": "Benchmark Builder Co"})
    cache.save_projects(db, company_id, data["projects"])
    cache.save_vendors(db, company_id, data["vendors"])
    by_project: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for c in data["prime_contracts"]:
        by_project[c["project_id"]].append(c)
    for pid, rows in by_project.items():
        cache.save_prime_contracts(db, company_id, pid, rows)
    by_project = defaultdict(list)
    for pa in data["payment_applications"]:
        by_project[pa["project_id"]].append(pa)
    for pid, rows in by_project.items():
        cache.save_payment_applications(db, company_id, pid, rows)
    by_contract: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
    for p in data["contract_payments"]:
        by_contract[(p["project_id"], p["contract_id"])].append(p)
    for (pid, cid), rows in by_contract.items():
        cache.save_contract_payments(db, company_id, pid, cid, rows)


def work_state(data: dict[str, list[dict[str, Any]]], as_of: date) -> tuple[list, list, list]:
    """Some promises, contacts and disputes, so the pauses and flags are exercised."""
    rnd = random.Random(11)
    customers = [v["id"] for v in data["vendors"]]
    promises = [Promise(c, "5000.00", as_of - timedelta(days=rnd.randrange(-20, 40)),
                        as_of - timedelta(days=60), id=i) for i, c in enumerate(customers[::10])]
    contacts = [Contact(c, "final_notice", as_of - timedelta(days=rnd.randrange(0, 30)), id=i)
                for i, c in enumerate(customers[::7])]
    approved = [pa["id"] for pa in data["payment_applications"] if pa["status"] == "approved"]
    disputes = [Dispute(pid, as_of - timedelta(days=10), id=i) for i, pid in enumerate(approved[::200])]
    return promises, contacts, disputes


def best_of(fn: Any, repeat: int) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        gc.collect()
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best, result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--invoices", type=int, default=100_000, help="approved pay apps to generate")
    ap.add_argument("--customers", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3, help="best of N timings")
    ap.add_argument("--as-of", default="2026-06-30")
    args = ap.parse_args(argv)
    as_of = date.fromisoformat(args.as_of)
    company_id = 4242

    t = time.perf_counter()
    data = generate(args.invoices, args.customers, as_of)
    gen_s = time.perf_counter() - t
    promises, contacts, disputes = work_state(data, as_of)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench.sqlite")
        db = open_db(path)
        t = time.perf_counter()
        save(db, company_id, data)
        save_s = time.perf_counter() - t
        del data
        db.conn.close()
        db = open_db(path)
        read_s, loaded = best_of(lambda: cache.load_receivables(db, company_id), args.repeat)
        engine_s, report = best_of(lambda: compute(loaded, as_of, company_id=company_id, promises=promises,
                                                   contacts=contacts, disputes=disputes), args.repeat)
        json_s, _ = best_of(report.to_json, 1)
        db.conn.close()

    n_approved = sum(1 for pa in loaded["payment_applications"] if pa["status"] == "approved")
    print(f"dataset: {n_approved:,} approved pay apps ({len(loaded['payment_applications']):,} in all), "
          f"{len(loaded['contract_payments']):,} payments, {len(loaded['prime_contracts']):,} contracts, "
          f"{len(loaded['vendors']):,} customers; generated in {gen_s:.1f} s, saved in {save_s:.1f} s")
    print(f"report: {len(report.customers):,} customers with activity, open ${report.total('open'):,}, "
          f"{len(report.needs_a_call):,} need a call, {len(report.tasks):,} tasks")
    ratio = engine_s / read_s
    rows = [
        ("read floor: load_receivables (SQLite cache)", f"{read_s:.2f} s"),
        ("engine: compute (aging, stages, flags, metrics + 12-month history)", f"{engine_s:.2f} s"),
        ("ratio engine / read floor", f"{ratio:.2f} ×"),
        ("goal", "≤ 3 ×  " + ("MET" if ratio <= 3 else "NOT MET")),
        ("(not in the ratio) AgingReport.to_json", f"{json_s:.2f} s"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"| {'measure'.ljust(width)} | {'best of ' + str(args.repeat):>12} |")
    print(f"|{'-' * (width + 2)}|{'-' * 14}|")
    for name, value in rows:
        print(f"| {name.ljust(width)} | {value:>12} |")
    return 0 if ratio <= 3 else 1


if __name__ == "__main__":
    raise SystemExit(main())
