"""Reading a prime contract's free-text ``payment_terms`` into a number of days."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_RECEIPT = re.compile(r"^(?:payment\s+|payable\s+|net\s+)?(?:due\s+)?(?:up)?on\s+receipt(?:\s+of\s+invoice)?\.?$")
# "Net 30", "net30", "NET-45", "Net 30 days", "2/10 Net 30", "2% 10 Net 30"
_NET = re.compile(
    r"^(?:\d+(?:\.\d+)?\s*%?\s*/?\s*\d+\s*,?\s*)?net\s*[-:]?\s*(\d{1,3})(?:\s*(?:calendar\s+)?days?)?\.?$"
)
# "30 days", "45 calendar days", "due in 30 days", "payment due within 30 days", "within 30 days of invoice"
_DAYS = re.compile(
    r"^(?:(?:payment\s+)?(?:is\s+)?(?:due|payable)\s+)?(?:in\s+|within\s+)?(\d{1,3})\s*(?:calendar\s+)?days?"
    r"(?:\s+(?:of|from|after)\s+(?:the\s+)?(?:invoice|receipt|billing)(?:\s+date)?)?\.?$"
)


@dataclass(frozen=True, slots=True)
class Terms:
    """Result of reading payment terms: ``days`` to add to the billing date, whether the reading is certain,
    and a note for the bookkeeper when the company default was used."""

    days: int
    certain: bool
    note: str | None = None


def parse_terms(text: Any, default_days: int = 30, max_days: int = 365) -> Terms:
    """Parse "Net N", "N days", "Due on receipt" (0). Blank/unknown → ``default_days`` with a note saying so."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return Terms(default_days, False, f"no payment terms on the contract; company default {default_days} days used")
    if isinstance(text, bool):
        return Terms(default_days, False, f"unreadable payment terms; company default {default_days} days used")
    if isinstance(text, int | float):
        n = int(text)
        if 0 <= n <= max_days and n == text:
            return Terms(n, True)
        return Terms(default_days, False,
                     f"payment terms {text!r} out of range; company default {default_days} days used")
    raw = str(text).strip()
    s = re.sub(r"\s+", " ", raw.lower())
    if _RECEIPT.match(s):
        return Terms(0, True)
    m = _NET.match(s) or _DAYS.match(s)
    if m:
        n = int(m.group(1))
        if n <= max_days:
            return Terms(n, True)
    return Terms(default_days, False,
                 f'could not read payment terms "{raw}"; company default {default_days} days used')
