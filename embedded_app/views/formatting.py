"""Jinja filters: money with thousands separators (tabular), days, percentages, dates."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation

from flask import Flask


def _dec(value: object) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def money(value: object) -> str:
    d = _dec(value)
    if d is None:
        return "—"
    return f"-${abs(d):,.2f}" if d < 0 else f"${d:,.2f}"


def money0(value: object, credit: bool = False) -> str:
    d = _dec(value)
    if d is None or d == 0:
        return "—"
    text = f"{abs(d):,.0f}"
    if credit:
        return f"({text})"
    return f"-{text}" if d < 0 else text


def days(value: object) -> str:
    d = _dec(value)
    return "—" if d is None else f"{d:.0f} d"


def pct(value: object) -> str:
    d = _dec(value)
    return "—" if d is None else f"{d:.0f} %"


def day(value: object) -> str:
    if not value:
        return "—"
    try:
        return date.fromisoformat(str(value)[:10]).strftime("%b %d, %Y")
    except ValueError:
        return str(value)


def init_app(app: Flask) -> None:
    app.jinja_env.filters.update(money=money, money0=money0, days=days, pct=pct, day=day)
