"""Server-rendered SVG charts: readable without JavaScript, in print, and by screen readers.

Pure functions from numbers to SVG text (no Flask, no I/O). Colours come from attributes, not inline CSS, so
the strict Content-Security-Policy (``style-src 'self'``) holds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from decimal import Decimal
from html import escape

BUCKET_COLOURS = {
    "current": "#7fb77e",
    "1_30": "#f2c14e",
    "31_60": "#f08a4b",
    "61_90": "#d9534f",
    "91_plus": "#8e1b1b",
}
BUCKET_LABELS = {"current": "Current", "1_30": "1–30", "31_60": "31–60", "61_90": "61–90", "91_plus": "91+"}


def _num(value: object) -> float:
    try:
        return float(Decimal(str(value)))
    except Exception:
        return 0.0


def money_short(value: object) -> str:
    v = _num(value)
    sign = "-" if v < 0 else ""
    v = abs(v)
    if v >= 1_000_000:
        return f"{sign}${v / 1_000_000:.1f}M"
    if v >= 1_000:
        return f"{sign}${v / 1_000:.0f}k"
    return f"{sign}${v:,.0f}"


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return value


def _grid(left: float, right: float, top: float, plot_h: float, ymax: float,
          label: Callable[[float], str]) -> list[str]:
    """Five horizontal gridlines with their axis labels."""
    body: list[str] = []
    for i in range(5):
        y = top + plot_h - plot_h * i / 4
        body.append(f'<line x1="{left}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e3e6e8"/>')
        body.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" fill="#5c6366">'
                    f"{escape(label(ymax * i / 4))}</text>")
    return body


def _frame(title: str, desc: str, width: int, height: int, body: list[str]) -> str:
    uid = "chart-" + hashlib.sha1(f"{title}|{desc}".encode()).hexdigest()[:10]
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
        f'role="img" aria-labelledby="{uid}-t {uid}-d" class="chart">'
        f'<title id="{uid}-t">{escape(title)}</title><desc id="{uid}-d">{escape(desc)}</desc>'
        + "".join(body) + "</svg>"
    )


def aging_by_month(months: Sequence[str], buckets: Sequence[dict[str, object]], width: int = 640,
                   height: int = 240) -> str:
    """Stacked bars: open receivables at each month end, split by aging bucket."""
    left, right, top, bottom = 56, 8, 12, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(_num(b.get(k, 0)) for k in BUCKET_COLOURS) for b in buckets]
    ymax = _nice_max(max(totals, default=0))
    body = _grid(left, width - right, top, plot_h, ymax, money_short)
    n = max(len(months), 1)
    slot = plot_w / n
    bar_w = slot * 0.7
    for i, (month, values) in enumerate(zip(months, buckets, strict=False)):
        x = left + slot * i + (slot - bar_w) / 2
        y = top + plot_h
        for key, colour in BUCKET_COLOURS.items():
            h = plot_h * _num(values.get(key, 0)) / ymax
            if h <= 0:
                continue
            y -= h
            body.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" fill="{colour}">'
                f"<title>{escape(month)} · {BUCKET_LABELS[key]}: {escape(money_short(values.get(key, 0)))}</title>"
                "</rect>"
            )
        body.append(f'<text x="{x + bar_w / 2:.1f}" y="{height - bottom + 14}" text-anchor="middle" '
                    f'font-size="10" fill="#5c6366">{escape(month[2:] if len(month) == 7 else month)}</text>')
    lx = left
    for key, colour in BUCKET_COLOURS.items():
        body.append(f'<rect x="{lx}" y="{height - 14}" width="10" height="10" fill="{colour}"/>')
        body.append(f'<text x="{lx + 14}" y="{height - 5}" font-size="11" fill="#232729">{BUCKET_LABELS[key]}</text>')
        lx += 70
    latest = money_short(totals[-1]) if totals else "$0"
    return _frame("Aging by month", f"Open receivables by aging bucket at each month end; latest {latest}.",
                  width, height, body)


def line(months: Sequence[str], values: Sequence[object], title: str, unit: str = " d", width: int = 640,
         height: int = 200) -> str:
    """A single series over months (e.g. countback DSO)."""
    left, right, top, bottom = 44, 12, 12, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    nums = [_num(v) for v in values]
    ymax = _nice_max(max(nums, default=0))
    body = _grid(left, width - right, top, plot_h, ymax, lambda v: f"{v:.0f}")
    n = len(nums)
    step = plot_w / max(n - 1, 1)
    points = [(left + step * i, top + plot_h - plot_h * v / ymax) for i, v in enumerate(nums)]
    if points:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        body.append(f'<polyline points="{path}" fill="none" stroke="#d94a00" stroke-width="2.5"/>')
    for (x, y), month, v in zip(points, months, nums, strict=False):
        body.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="#d94a00"><title>{escape(month)}: '
                    f"{v:.1f}{escape(unit)}</title></circle>")
        body.append(f'<text x="{x:.1f}" y="{height - 8}" text-anchor="middle" font-size="10" fill="#5c6366">'
                    f"{escape(month[2:] if len(month) == 7 else month)}</text>")
    last = f"{nums[-1]:.1f}{unit}" if nums else "no data"
    return _frame(title, f"{title} over {n} months; latest {last}.", width, height, body)


def waterfall(start_label: str, start: object, steps: Sequence[tuple[str, object]], end_label: str, end: object,
              title: str = "DSO bridge", unit: str = " d", width: int = 640, height: int = 220) -> str:
    """Start value, signed contributions, end value (e.g. last month's DSO → this month's)."""
    left, right, top, bottom = 44, 12, 12, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    running = _num(start)
    bars: list[tuple[str, float, float, str]] = [(start_label, 0.0, running, "#5c6366")]
    for label, delta in steps:
        d = _num(delta)
        bars.append((label, running, running + d, "#1d6b3a" if d < 0 else "#b3261e"))
        running += d
    bars.append((end_label, 0.0, _num(end), "#5c6366"))
    ymax = _nice_max(max(max(a, b) for _, a, b, _ in bars))
    slot = plot_w / len(bars)
    bar_w = slot * 0.6
    body: list[str] = []
    for i, (label, a, b, colour) in enumerate(bars):
        x = left + slot * i + (slot - bar_w) / 2
        y1 = top + plot_h - plot_h * max(a, b) / ymax
        h = max(plot_h * abs(b - a) / ymax, 1.0)
        value = b if i in (0, len(bars) - 1) else b - a
        shown = f"{value:+.1f}" if 0 < i < len(bars) - 1 else f"{value:.1f}"
        body.append(f'<rect x="{x:.1f}" y="{y1:.1f}" width="{bar_w:.1f}" height="{h:.1f}" fill="{colour}">'
                    f"<title>{escape(label)}: {shown}{escape(unit)}</title></rect>")
        body.append(f'<text x="{x + bar_w / 2:.1f}" y="{y1 - 4:.1f}" text-anchor="middle" font-size="11" '
                    f'fill="#232729">{shown}</text>')
        body.append(f'<text x="{x + bar_w / 2:.1f}" y="{height - bottom + 16}" text-anchor="middle" font-size="10" '
                    f'fill="#5c6366">{escape(label)}</text>')
    desc = f"{start_label} {_num(start):.1f}{unit} to {end_label} {_num(end):.1f}{unit}: " + ", ".join(
        f"{label} {_num(d):+.1f}" for label, d in steps)
    return _frame(title, desc, width, height, body)


def bucket_bar(buckets: dict[str, object], width: int = 376, height: int = 18) -> str:
    """One horizontal bar split by bucket (the side panel)."""
    total = sum(max(_num(buckets.get(k, 0)), 0) for k in BUCKET_COLOURS)
    body: list[str] = []
    x = 0.0
    for key, colour in BUCKET_COLOURS.items():
        v = max(_num(buckets.get(key, 0)), 0)
        if total <= 0 or v <= 0:
            continue
        w = width * v / total
        body.append(f'<rect x="{x:.1f}" y="0" width="{w:.1f}" height="{height}" fill="{colour}">'
                    f"<title>{BUCKET_LABELS[key]}: {escape(money_short(v))}</title></rect>")
        x += w
    if not body:
        body.append(f'<rect x="0" y="0" width="{width}" height="{height}" fill="#e3e6e8"/>')
    desc = ", ".join(f"{BUCKET_LABELS[k]} {money_short(buckets.get(k, 0))}" for k in BUCKET_COLOURS)
    return _frame("Open balance by aging bucket", desc, width, height, body)
