"""Application services for the tab, the panel and the CLI: build the aging report from the cache.

No Flask here, so jobs (autopilot, scheduled runs) can call the same functions as the views.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

from .store import Database, worklog
from .store.cache import load_receivables

BUCKETS = ("current", "1_30", "31_60", "61_90", "91_plus")
STAGES = ("current", "paused", "reminder", "first_notice", "second_notice", "final_notice", "call")
STAGE_LABELS = {
    "current": "Current", "reminder": "Reminder", "first_notice": "First notice",
    "second_notice": "Second notice", "final_notice": "Final notice", "call": "Call",
    "retainage_release": "Retainage release", "paused": "Paused",
}


def work_state(db: Database, company_id: int) -> dict[str, Any]:
    """Promises, contacts and disputes recorded for the company (engine inputs)."""
    return worklog.engine_inputs(db, company_id)


def build_report(db: Database, company_id: int, *, project_id: int | None = None, as_of: date | None = None,
                 policy: Any = None) -> Any:
    """The engine's AgingReport for one company (optionally one project) from the cache."""
    from .engine import compute

    receivables = load_receivables(db, company_id, project_id)
    return compute(receivables, as_of or date.today(), policy, company_id=company_id, project_id=project_id,
                   **work_state(db, company_id))


def project_names(db: Database, company_id: int) -> dict[int, str]:
    return {int(p["id"]): (p.get("display_name") or p.get("name") or f"Project {p['id']}")
            for p in load_receivables(db, company_id)["projects"]}


def filter_customers(customers: list[dict[str, Any]], *, stage: str = "",
                     flag: str = "", needs_call: bool = False, past_due_only: bool = False, query: str = "",
                     sort: str = "past_due", descending: bool = True) -> list[dict[str, Any]]:
    """The aging table's filters and sorting over the report JSON's customers (the project filter recomputes
    the report for that project instead)."""
    rows = []
    q = query.strip().lower()
    for c in customers:
        if stage and c.get("stage") != stage:
            continue
        if flag and not any(f["code"] == flag for f in c.get("flags", [])):
            continue
        if needs_call and not c.get("flags"):
            continue
        if past_due_only and _amount(c.get("past_due")) <= 0:
            continue
        if q and q not in (c.get("name") or "").lower():
            continue
        rows.append(c)
    numeric = {"open", "past_due", "retainage", "unapplied_credit", *BUCKETS}

    def key(c: dict[str, Any]) -> Any:
        if sort in numeric:
            value = c["buckets"].get(sort) if sort in BUCKETS else c.get(sort)
            return _amount(value)
        if sort == "days":
            return c.get("oldest_days_past_due") or -10**6
        if sort == "stage":
            return STAGES.index(c["stage"]) if c.get("stage") in STAGES else -1
        return (c.get("name") or "").lower()

    rows.sort(key=key, reverse=descending)
    return rows


def _amount(value: Any) -> float:
    try:
        return float(value or 0)
    except (TypeError, ValueError):
        return 0.0


def aging_csv(customers: list[dict[str, Any]], totals: dict[str, str]) -> str:
    """The aging table as CSV for the accountant: one row per customer, then a totals row (exact cents)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Customer", "Email", "Current", "1-30", "31-60", "61-90", "91+", "Past due", "Open",
                     "Retainage", "Unapplied credit", "Oldest days past due", "Stage", "Flags"])
    for c in customers:
        writer.writerow([
            c.get("name"), c.get("email") or "", *(c["buckets"][b] for b in BUCKETS), c.get("past_due"),
            c.get("open"), c.get("retainage"), c.get("unapplied_credit"),
            "" if c.get("oldest_days_past_due") is None else c["oldest_days_past_due"],
            STAGE_LABELS.get(c.get("stage", ""), c.get("stage")), "; ".join(f["reason"] for f in c.get("flags", [])),
        ])
    writer.writerow(["Totals", "", *(totals[b] for b in BUCKETS), totals["past_due"], totals["open"],
                     totals["retainage"], totals["unapplied_credit"], "", "", ""])
    return out.getvalue()


def sum_customers(customers: list[dict[str, Any]]) -> dict[str, str]:
    """Totals over a (filtered) list of customers, to the cent."""
    from decimal import Decimal

    keys = (*BUCKETS, "past_due", "open", "retainage", "unapplied_credit")
    sums = dict.fromkeys(keys, Decimal("0"))
    for c in customers:
        for b in BUCKETS:
            sums[b] += Decimal(c["buckets"][b])
        for k in ("past_due", "open", "retainage", "unapplied_credit"):
            sums[k] += Decimal(c.get(k) or "0")
    return {k: f"{v:.2f}" for k, v in sums.items()}
