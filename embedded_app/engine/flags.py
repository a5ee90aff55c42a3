"""Needs-a-call flags (each with a reason naming the data behind it) and the explainable call score."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from .aging import as_date
from .metrics import add_months, month_end
from .model import Contact, ContractAging, Dispute, Flag, Invoice, PromiseOutcome, ScoreComponent
from .money import usd
from .policy import LegalRule, Policy


def _inv_label(inv: Invoice) -> str:
    label = f"pay app #{inv.number}" if inv.number is not None else f"pay app {inv.pay_app_id}"
    if inv.invoice_number:
        label += f" ({inv.invoice_number})"
    return label


def _days(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"


def broken_promise(outcome: PromiseOutcome) -> Flag:
    p = outcome.promise
    return Flag("broken_promise", f"Promised {usd(p.amount_cents)} by {p.promised_date.isoformat()}; "
                                  f"{usd(outcome.received_cents)} received")


def over_61_days(open_invoices: Iterable[Invoice], policy: Policy) -> Flag | None:
    old = [i for i in open_invoices if i.days_past_due >= policy.call_from and i.open_cents > 0]
    total = sum(i.open_cents for i in old)
    if not old or total <= policy.call_threshold_cents:
        return None
    oldest = max(old, key=lambda i: (i.days_past_due, -i.pay_app_id))
    return Flag("over_61_days", f"{usd(total)} open {policy.call_from}+ days past due (over the "
                                f"{usd(policy.call_threshold_cents)} threshold); oldest is {_inv_label(oldest)}, "
                                f"{_days(oldest.days_past_due)} past due")


def final_notice_no_reply(
    contacts: list[Contact], last_payment_on: date | None, past_due_cents: int, as_of: date, policy: Policy
) -> Flag | None:
    if past_due_cents <= policy.tolerance_cents:
        return None
    finals = [c for c in contacts if c.stage == "final_notice" and c.sent_on <= as_of]
    if not finals:
        return None
    last = finals[-1]
    waited = (as_of - last.sent_on).days
    if waited < policy.final_notice_reply_days:
        return None
    for c in contacts:
        if c.sent_on > as_of:
            continue
        if c.replied_on is not None and last.sent_on <= c.replied_on <= as_of:
            return None
        if c.sent_on > last.sent_on and c.kind == "call":
            return None
    if last_payment_on is not None and last_payment_on > last.sent_on:
        return None
    return Flag("final_notice_no_reply", f"Final notice sent {last.sent_on.isoformat()} ({_days(waited)} ago); no "
                                         "reply, no call and no payment since")


def no_email(name: str, customer_id: int | None, email: str | None, phone: str | None, balance_cents: int,
             policy: Policy) -> Flag | None:
    if email or balance_cents <= policy.tolerance_cents:
        return None
    who = f"{name} (directory company {customer_id})" if customer_id is not None else name
    tail = f"; phone on file: {phone}" if phone else "; no phone on file either"
    return Flag("no_email", f"No contact email on file for {who} with {usd(balance_cents)} open{tail}")


def disputed(items: list[tuple[Invoice, Dispute]], as_of: date) -> Flag | None:
    if not items:
        return None
    parts = []
    for inv, d in sorted(items, key=lambda x: (x[1].opened_on, x[0].pay_app_id)):
        age = (as_of - d.opened_on).days
        text = f"{_inv_label(inv)}, {usd(inv.open_cents)} open, disputed since {d.opened_on.isoformat()} " \
               f"({_days(age)})"
        if d.reason:
            text += f": {d.reason}"
        parts.append(text)
    text = "; ".join(parts)
    return Flag("disputed", text[0].upper() + text[1:])


def concentration(name: str, past_due_cents: int, total_past_due_cents: int, customers_past_due: int,
                  policy: Policy) -> Flag | None:
    if total_past_due_cents <= 0 or customers_past_due < policy.concentration_min_customers:
        return None
    if past_due_cents <= policy.tolerance_cents:
        return None
    share = Decimal(past_due_cents) * 100 / Decimal(total_past_due_cents)
    if share <= policy.concentration_pct:
        return None
    return Flag("concentration", f"{name} owes {usd(past_due_cents)} of {usd(total_past_due_cents)} past due "
                                 f"({share.quantize(Decimal('0.1'), ROUND_HALF_UP)} %, over the "
                                 f"{policy.concentration_pct} % limit)")


def _rule_deadline(rule: LegalRule, start: date) -> date:
    if rule.start == "billing_month":
        y, m = add_months(start.year, start.month, rule.month_offset)
        return min(date(y, m, max(1, rule.day_of_month)), month_end(y, m))
    return start + timedelta(days=rule.days)


def deadlines(
    open_invoices: list[Invoice], contracts: list[ContractAging], contract_records: dict[int, dict[str, Any]],
    projects: dict[int, dict[str, Any]], as_of: date, policy: Policy,
) -> list[Flag]:
    """One flag per applicable rule and project: the most urgent deadline within the rule's warning window
    (or already passed, for rules that keep running, such as prompt-payment interest)."""
    if not policy.legal_rules:
        return []
    by_project: dict[int | None, list[Invoice]] = {}
    for inv in open_invoices:
        by_project.setdefault(inv.project_id, []).append(inv)
    project_ids = set(by_project) | {c.project_id for c in contracts if c.retainage_cents > 0 or c.open_cents > 0}
    flags: list[Flag] = []
    for pid in sorted(project_ids, key=lambda x: (x is None, x or 0)):
        project = projects.get(pid, {}) if pid is not None else {}
        state = (project.get("state_code") or "").strip().upper()
        keys = {state} if state else set()
        if pid is not None and pid in policy.federal_project_ids:
            keys.add("FED")
        pname = project.get("display_name") or project.get("name") or (f"project {pid}" if pid else "project")
        for rule in policy.legal_rules:
            if rule.state.upper() not in keys:
                continue
            best: tuple[int, date, str] | None = None  # (urgency key, deadline, subject)
            if rule.start in ("billing_date", "billing_month"):
                for inv in by_project.get(pid, ()):
                    dl = _rule_deadline(rule, inv.billing_date)
                    left = (dl - as_of).days
                    if left > rule.warn_days or (left < 0 and not rule.flag_when_passed):
                        continue
                    subject = f"{_inv_label(inv)} billed {inv.billing_date.isoformat()}, {usd(inv.open_cents)} open"
                    key = left if left >= 0 else 10**6 - left
                    if best is None or key < best[0]:
                        best = (key, dl, subject)
            elif rule.start == "completion":
                for c in contracts:
                    if c.project_id != pid or (c.retainage_cents <= 0 and c.open_cents <= 0):
                        continue
                    done = as_date((contract_records.get(c.id) or {}).get("substantial_completion_date"))
                    if done is None or done > as_of:
                        continue
                    dl = _rule_deadline(rule, done)
                    left = (dl - as_of).days
                    if left > rule.warn_days or (left < 0 and not rule.flag_when_passed):
                        continue
                    subject = f"contract {c.number or c.id} substantially complete {done.isoformat()}, " \
                              f"{usd(c.open_cents + c.retainage_cents)} unpaid incl. retainage"
                    key = left if left >= 0 else 10**6 - left
                    if best is None or key < best[0]:
                        best = (key, dl, subject)
            if best is None:
                continue
            _, dl, subject = best
            left = (dl - as_of).days
            when = f"passed {_days(-left)} ago" if left < 0 else ("is today" if left == 0 else f"in {_days(left)}")
            flags.append(Flag("deadline", f"{rule.label} ({state or 'federal'}, {pname}): deadline "
                                          f"{dl.isoformat()} {when} — {subject}. Not legal advice.", rule.source))
    return flags


def score(
    past_due_cents: int, oldest_days: int | None, flags: list[Flag], kept: int, due: int, policy: Policy
) -> tuple[int, list[ScoreComponent]]:
    """Call score = dollars past due + age of the oldest invoice + a weight per flag + promise history."""
    comps: list[ScoreComponent] = []
    per = int(policy.score_past_due_per_point * 100) or 1
    pts = min(policy.score_past_due_max, max(0, past_due_cents) // per)
    if pts:
        comps.append(ScoreComponent("past_due", pts, f"{usd(past_due_cents)} past due: 1 point per "
                                                     f"{usd(per)}, at most {policy.score_past_due_max}"))
    if oldest_days and oldest_days > 0:
        pts = min(policy.score_age_max, oldest_days // max(1, policy.score_age_days_per_point))
        if pts:
            comps.append(ScoreComponent("age", pts, f"oldest invoice {_days(oldest_days)} past due: 1 point per "
                                                    f"{_days(policy.score_age_days_per_point)}, at most "
                                                    f"{policy.score_age_max}"))
    seen: set[str] = set()
    for f in flags:
        if f.code in seen:
            continue
        seen.add(f.code)
        pts = policy.score_flag_points.get(f.code, 0)
        if pts:
            comps.append(ScoreComponent(f.code, pts, f"flag {f.code.replace('_', ' ')}"))
    if due:
        broken = due - kept
        pts = (broken * policy.score_promise_history_max + due // 2) // due
        if pts:
            comps.append(ScoreComponent("promise_history", pts, f"kept {kept} of {due} promises that came due"))
    return sum(c.points for c in comps), comps
