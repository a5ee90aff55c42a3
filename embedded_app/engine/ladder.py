"""The dunning ladder: which stage an invoice and a customer are at, and what to do next."""

from __future__ import annotations

from datetime import date, timedelta

from .model import PAUSED, STAGES, Contact, NextAction
from .policy import Policy

_ORDER = {s: i for i, s in enumerate(STAGES)}
TEMPLATE = {
    "reminder": "send_reminder", "first_notice": "send_first_notice", "second_notice": "send_second_notice",
    "final_notice": "send_final_notice", "call": "call",
}


def stage_for(days_past_due: int, policy: Policy) -> str:
    """Stage of one open invoice by days past due (negative: days before the due date)."""
    if days_past_due >= policy.call_from:
        return "call"
    if days_past_due >= policy.final_notice_from:
        return "final_notice"
    if days_past_due >= policy.second_notice_from:
        return "second_notice"
    if days_past_due >= policy.first_notice_from:
        return "first_notice"
    if days_past_due >= -policy.reminder_days_before_due:
        return "reminder"
    return "current"


def stage_start(stage: str, policy: Policy) -> int:
    """Days past due at which ``stage`` begins."""
    return {
        "current": -10**6, "reminder": -policy.reminder_days_before_due, "first_notice": policy.first_notice_from,
        "second_notice": policy.second_notice_from, "final_notice": policy.final_notice_from,
        "call": policy.call_from,
    }[stage]


def higher(a: str, b: str) -> str:
    return a if _ORDER.get(a, 0) >= _ORDER.get(b, 0) else b


def one_up(stage: str) -> str:
    i = _ORDER.get(stage, 0)
    return STAGES[min(i + 1, len(STAGES) - 1)]


def next_action(
    stage: str, hold: str | None, hold_reason: str | None, entered_on: date | None, contacts: list[Contact],
    as_of: date, policy: Policy,
) -> NextAction:
    """What to do for a customer at ``stage`` given the contacts made so far (sorted by date).

    A stage's message is sent once: if a contact at this stage was made on or after the day the customer entered
    the stage, wait for the next stage. Otherwise contact now, unless the last contact (any stage, any kind) was
    less than the minimum gap ago."""
    if stage == PAUSED or hold in ("disputed", "promise"):
        return NextAction("none", None, hold_reason or "ladder paused")
    if hold == "small_balance":
        return NextAction("none", None, hold_reason or "balance within the small-balance tolerance")
    if stage == "current":
        return NextAction("none", None, "nothing is due yet")
    past = [c for c in contacts if c.sent_on <= as_of]
    if entered_on is not None:
        done = [c for c in past if c.stage == stage and c.sent_on >= entered_on]
        if done:
            last = done[-1]
            if stage == "call":
                nxt = last.sent_on + timedelta(days=policy.min_contact_gap_days)
                if nxt > as_of:
                    gap = policy.min_contact_gap_days
                    return NextAction("wait", nxt, f"called on {last.sent_on.isoformat()}; call again from "
                                                   f"{nxt.isoformat()} (minimum gap {gap} days)")
                return NextAction("call", as_of, f"called on {last.sent_on.isoformat()} and still "
                                                 "61+ days past due: call again")
            nxt_stage = one_up(stage)
            return NextAction("wait", None, f"{stage.replace('_', ' ')} already sent on {last.sent_on.isoformat()};"
                                            f" next step is {nxt_stage.replace('_', ' ')} when the oldest invoice "
                                            "reaches it")
    if past:
        last = past[-1]
        nxt = last.sent_on + timedelta(days=policy.min_contact_gap_days)
        if nxt > as_of:
            return NextAction("wait", nxt, f"last contact on {last.sent_on.isoformat()} ({last.kind}); minimum gap "
                                           f"{policy.min_contact_gap_days} days")
    if stage == "call":
        return NextAction(TEMPLATE[stage], as_of, "call the customer: reminders have run their course")
    return NextAction(TEMPLATE[stage], as_of, f"send the {stage.replace('_', ' ')}")
