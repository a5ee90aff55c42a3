"""Grounding check: a draft may only state what the facts say.

Every amount, date, invoice / pay-app number, percentage and day count found in the subject and body must match
the facts; e-mail addresses must be the contact's or the reply-to; links are not allowed; escalation language
(liens, lawyers, stopping work) is not allowed before the final notice. Free-text facts (project, customer,
company names, signature) are masked first, so digits inside a project title are neither checked nor can they
smuggle anything past the check.

Known limits (documented, not silently ignored): amounts in European notation (1.234,56) and month names in
languages other than English are not recognised as amounts/dates; numeric dates are read as M/D/Y or D/M/Y
(either passes if it matches a fact).
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation

from .facts import MONTHS, DraftFacts

_MONTH_RE = (
    r"(Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
    r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
_MONTH_INDEX = {m[:3].lower(): i + 1 for i, m in enumerate(MONTHS)}

ISO_DATE = re.compile(r"(?<!\d)(\d{4})-(\d{1,2})-(\d{1,2})(?!\d)")
MDY_NAMED = re.compile(
    _MONTH_RE + r"\.?\s+(\d{1,2})(?:st|nd|rd|th)?(?!\d)(?:,?\s+(\d{4})(?!\d))?", re.IGNORECASE
)
DMY_NAMED = re.compile(
    r"(?<!\d)(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?" + _MONTH_RE + r"\.?(?:,?\s+(\d{4})(?!\d))?", re.IGNORECASE
)
NUMERIC_DATE = re.compile(r"(?<![\d/])(\d{1,2})/(\d{1,2})/(\d{4}|\d{2})(?![\d/])")
PERCENT = re.compile(r"(?<![\d.,])(\d+(?:\.\d+)?)\s*(?:%|percent\b|per\s+cent\b)", re.IGNORECASE)
AMOUNT = re.compile(
    r"(?:(?P<cur>\$|USD\s?|US\$)\s*(?P<a>\d[\d,]*(?:\.\d+)?))"
    r"|(?<![\w.,$])(?P<b>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+\.\d{2})(?![\d%])",
)
DAYS = re.compile(r"(?<![\d.,])(\d+)\s*(?:-\s*)?(?:calendar\s+|business\s+)?days?\b", re.IGNORECASE)
_REF_TOKEN = r"#?\s*([A-Za-z0-9][A-Za-z0-9\-/]*[A-Za-z0-9]|\d)"
PAY_APP_REF = re.compile(
    r"\b(?:pay(?:ment)?[\s-]*app(?:lication)?s?|progress\s+billings?|applications?\s+for\s+payment)\.?"
    r"\s*(?:no\.?|number|nr\.?)?\s*" + _REF_TOKEN,
    re.IGNORECASE,
)
INVOICE_REF = re.compile(
    r"\b(?:inv(?:oice)?s?)\.?\s*(?:no\.?|number|nr\.?)?\s*" + _REF_TOKEN, re.IGNORECASE
)
HASH_REF = re.compile(r"#\s?([A-Za-z0-9][A-Za-z0-9\-/]*)")
PREFIXED_ID = re.compile(r"\b([A-Za-z]{1,6}-\d[\w\-]*)\b")
EMAIL = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")
URL = re.compile(r"\b(?:https?://|www\.)\S+", re.IGNORECASE)
ESCALATION = re.compile(
    r"\b(liens?(?!\s+(?:waivers?|releases?))|legal\s+action|lawsuit|sue|suing|attorneys?|lawyers?|court|litigation|collection\s+agency|"
    r"collections\s+agency|stop(?:ping)?\s+work|suspend(?:ing)?\s+work|work\s+stoppage)\b",
    re.IGNORECASE,
)
MASK = "\u27e6data\u27e7"

MAX_SUBJECT = 200
MAX_BODY = 6000


def _q(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"))


def allowed_amounts(facts: DraftFacts) -> set[Decimal]:
    amounts = {_q(facts.total_open), _q(facts.retainage_held)}
    for inv in facts.invoices:
        amounts |= {_q(inv.amount), _q(inv.open), _q(inv.amount - inv.open)}
    for p in facts.promises:
        if p.amount is not None:
            amounts.add(_q(p.amount))
    return amounts


def allowed_dates(facts: DraftFacts) -> set[date]:
    values = [facts.as_of]
    for inv in facts.invoices:
        values += [inv.billing_date, inv.due_date]
    for p in facts.promises:
        values += [p.promised_date, p.made_on]
    values += [c.date for c in facts.prior_contacts]
    return {date.fromisoformat(v) for v in values if v}


def _known_refs(facts: DraftFacts) -> tuple[set[str], set[str]]:
    invoices = {inv.invoice_number.lower() for inv in facts.invoices if inv.invoice_number}
    pay_apps = {str(inv.pay_app_number).lower() for inv in facts.invoices if inv.pay_app_number}
    return invoices, pay_apps


def _mask(text: str, facts: DraftFacts) -> str:
    strings = {facts.company_name, facts.customer_name, facts.signature, facts.contact_name or ""}
    strings |= {inv.project_name for inv in facts.invoices}
    strings |= {c.summary for c in facts.prior_contacts}
    for s in sorted((s for s in strings if s and len(s.strip()) >= 3), key=len, reverse=True):
        text = re.sub(re.escape(s), MASK, text, flags=re.IGNORECASE)
    return text


def _to_date(year: str | None, month: int, day: int) -> date | None:
    try:
        return date(int(year), month, day) if year else date(2000, month, day)
    except ValueError:
        return None


def _date_ok(found: date | None, has_year: bool, allowed: set[date]) -> bool:
    if found is None:
        return False
    if has_year:
        return found in allowed
    return any((d.month, d.day) == (found.month, found.day) for d in allowed)


def check(subject: str, body: str, cited_invoices: list[int] | None, facts: DraftFacts) -> list[str]:
    """Return a list of human-readable grounding errors (empty means the draft is grounded)."""
    errors: list[str] = []
    if not subject.strip():
        errors.append("the subject is empty")
    if not body.strip():
        errors.append("the body is empty")
    if len(subject) > MAX_SUBJECT:
        errors.append(f"the subject is longer than {MAX_SUBJECT} characters")
    if len(body) > MAX_BODY:
        errors.append(f"the body is longer than {MAX_BODY} characters")
    if "\n" in subject or "\r" in subject:
        errors.append("the subject must be a single line")

    text = _mask(subject + "\n" + body, facts)

    # E-mail addresses and links: recipients and contact points come from the facts only.
    allowed_emails = {e.lower() for e in (facts.contact_email, facts.reply_to) if e}
    for m in EMAIL.finditer(text):
        if m.group(0).lower().rstrip(".") not in allowed_emails:
            errors.append(f"e-mail address {m.group(0)!r} is not the contact's or the reply-to address")
    text = EMAIL.sub(MASK, text)
    for m in URL.finditer(text):
        errors.append(f"link {m.group(0)!r} is not allowed in a collections email")
    text = URL.sub(MASK, text)

    # Dates (before numbers, so '2026-11-15' is not read as anything else).
    dates = allowed_dates(facts)
    for m in ISO_DATE.finditer(text):
        d = _to_date(m.group(1), int(m.group(2)), int(m.group(3)))
        if not _date_ok(d, True, dates):
            errors.append(f"date {m.group(0)!r} does not match any date in the facts")
    text = ISO_DATE.sub(MASK, text)
    for m in MDY_NAMED.finditer(text):
        d = _to_date(m.group(3), _MONTH_INDEX[m.group(1)[:3].lower()], int(m.group(2)))
        if not _date_ok(d, bool(m.group(3)), dates):
            errors.append(f"date {m.group(0)!r} does not match any date in the facts")
    text = MDY_NAMED.sub(MASK, text)
    for m in DMY_NAMED.finditer(text):
        d = _to_date(m.group(3), _MONTH_INDEX[m.group(2)[:3].lower()], int(m.group(1)))
        if not _date_ok(d, bool(m.group(3)), dates):
            errors.append(f"date {m.group(0)!r} does not match any date in the facts")
    text = DMY_NAMED.sub(MASK, text)
    for m in NUMERIC_DATE.finditer(text):
        a, b, y = int(m.group(1)), int(m.group(2)), m.group(3)
        year = y if len(y) == 4 else f"20{y}"
        if not (_date_ok(_to_date(year, a, b), True, dates) or _date_ok(_to_date(year, b, a), True, dates)):
            errors.append(f"date {m.group(0)!r} does not match any date in the facts")
    text = NUMERIC_DATE.sub(MASK, text)

    # Invoice and pay-app references.
    invoices, pay_apps = _known_refs(facts)
    for m in INVOICE_REF.finditer(text):
        token = m.group(1).lower()
        if any(ch.isdigit() for ch in token) and token not in invoices:
            errors.append(f"invoice number {m.group(1)!r} is not one of the invoices in the facts")
    for m in PAY_APP_REF.finditer(text):
        token = m.group(1).lower()
        if any(ch.isdigit() for ch in token) and token not in pay_apps:
            errors.append(f"pay application number {m.group(1)!r} is not one of the pay apps in the facts")
    refs_seen = {m.group(1).lower() for m in INVOICE_REF.finditer(text)}
    refs_seen |= {m.group(1).lower() for m in PAY_APP_REF.finditer(text)}
    for pattern in (HASH_REF, PREFIXED_ID):
        for m in pattern.finditer(text):
            token = m.group(1).lower()
            if token not in refs_seen and token not in invoices | pay_apps:
                errors.append(f"reference {m.group(1)!r} is not an invoice or pay app number in the facts")
    for pattern in (INVOICE_REF, PAY_APP_REF, HASH_REF, PREFIXED_ID):
        text = pattern.sub(MASK, text)

    # Percentages.
    percents = set()
    if facts.retainage_percent is not None:
        percents.add(Decimal(facts.retainage_percent).normalize())
    for m in PERCENT.finditer(text):
        if Decimal(m.group(1)).normalize() not in percents:
            errors.append(f"percentage {m.group(0).strip()!r} is not in the facts")
    text = PERCENT.sub(MASK, text)

    # Amounts.
    amounts = allowed_amounts(facts)
    for m in AMOUNT.finditer(text):
        raw = m.group("a") or m.group("b")
        try:
            value = _q(Decimal(raw.replace(",", "").rstrip(".")))
        except InvalidOperation:
            errors.append(f"amount {m.group(0)!r} cannot be read")
            continue
        if value not in amounts:
            errors.append(f"amount {m.group(0).strip()!r} does not match any amount in the facts")
    text = AMOUNT.sub(MASK, text)

    # Day counts ("45 days past due", "within 10 days").
    day_counts = {inv.days_past_due for inv in facts.invoices}
    if facts.response_days:
        day_counts.add(int(facts.response_days))
    for m in DAYS.finditer(text):
        if int(m.group(1)) not in day_counts:
            errors.append(f"day count {m.group(0)!r} is not in the facts")

    # Tone: no escalation before the final notice.
    if facts.stage != "final_notice":
        for m in ESCALATION.finditer(text):
            errors.append(f"escalation language {m.group(0)!r} is not allowed at stage {facts.stage}")

    # Citations.
    if cited_invoices is not None:
        known_ids = {inv.pay_app_id for inv in facts.invoices}
        unknown = [i for i in cited_invoices if i not in known_ids]
        if unknown:
            errors.append(f"cited_invoices contains pay_app_ids not in the facts: {unknown}")
        missing = sorted(known_ids - set(cited_invoices))
        if missing:
            errors.append(f"cited_invoices must list every invoice in the facts; missing pay_app_ids {missing}")
    return list(dict.fromkeys(errors))
