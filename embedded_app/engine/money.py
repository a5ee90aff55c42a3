"""Money: parsed with ``Decimal`` and held as whole cents (``int``) inside the engine.

Procore sends money as JSON strings ("7396144.0"); numbers are accepted too. Every amount is rounded to the cent
once, on the way in (half up), so all later arithmetic is exact integer arithmetic on cents.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

CENT = Decimal("0.01")


def to_cents(value: Any) -> int:
    """Parse an amount (string, int, float, Decimal, None) into whole cents. Unreadable or missing → 0."""
    if type(value) is str:  # the common case: Procore money strings such as "7396144.0"
        try:
            d = Decimal(value)
            if d.is_finite():
                return int(d.quantize(CENT, rounding=ROUND_HALF_UP).scaleb(2))
        except (InvalidOperation, ValueError):
            pass
    if value is None or value == "":
        return 0
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value * 100
    try:
        if isinstance(value, Decimal):
            d = value
        elif isinstance(value, float):
            d = Decimal(repr(value))
        else:
            s = str(value).strip().replace(",", "").replace("$", "")
            if not s:
                return 0
            d = Decimal(s)
        if not d.is_finite():
            return 0
        return int(d.quantize(CENT, rounding=ROUND_HALF_UP).scaleb(2))
    except (InvalidOperation, ValueError):
        return 0


def to_decimal(cents: int) -> Decimal:
    """Whole cents → ``Decimal`` with two places (``12345`` → ``Decimal("123.45")``)."""
    return Decimal(cents).scaleb(-2)


def fmt(cents: int) -> str:
    """Whole cents → the JSON money string with two decimals (``-5`` → ``"-0.05"``)."""
    sign = "-" if cents < 0 else ""
    c = -cents if cents < 0 else cents
    return f"{sign}{c // 100}.{c % 100:02d}"


def usd(cents: int) -> str:
    """Whole cents → a bookkeeper's dollar figure (``4000000`` → ``"$40,000.00"``)."""
    sign = "-" if cents < 0 else ""
    c = -cents if cents < 0 else cents
    return f"{sign}${c // 100:,}.{c % 100:02d}"
