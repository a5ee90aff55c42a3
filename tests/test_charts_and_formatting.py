"""Server-rendered charts and the money/day formatting used on screen."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from embedded_app import charts, collections
from embedded_app.views import formatting

SVG = "{http://www.w3.org/2000/svg}"


def test_aging_chart_is_valid_svg_with_one_rect_per_nonzero_bucket_and_a_description():
    svg = charts.aging_by_month(
        ["2026-10", "2026-11"],
        [{"current": "100.00", "1_30": "50.00", "31_60": "0", "61_90": "0", "91_plus": "0"},
         {"current": "80.00", "1_30": "0", "31_60": "0", "61_90": "0", "91_plus": "30.00"}],
    )
    root = ET.fromstring(svg)
    bars = [r for r in root.iter(SVG + "rect") if r.find(SVG + "title") is not None]
    assert len(bars) == 4
    assert root.get("role") == "img"
    assert "latest $110" in root.find(SVG + "desc").text


def test_waterfall_steps_add_up_to_the_end_value_in_the_description():
    svg = charts.waterfall("Oct", "70.0", [("Collections", "-5.0"), ("Billing", "2.0")], "Nov", "67.0")
    desc = ET.fromstring(svg).find(SVG + "desc").text
    assert desc == "Oct 70.0 d to Nov 67.0 d: Collections -5.0, Billing +2.0"


def test_two_charts_on_one_page_do_not_share_element_ids():
    a = ET.fromstring(charts.line(["2026-10"], ["10"], "DSO"))
    b = ET.fromstring(charts.line(["2026-10"], ["12"], "DSO"))
    assert a.find(SVG + "title").get("id") != b.find(SVG + "title").get("id")


def test_money_formats():
    assert formatting.money("1234567.5") == "$1,234,567.50"
    assert formatting.money("-12") == "-$12.00"
    assert formatting.money0("0.00") == "—"
    assert formatting.money0("1499.50") == "1,500"
    assert formatting.money0("250", credit=True) == "(250)"
    assert formatting.day("2026-11-05") == "Nov 05, 2026"


def _customer(name, stage, past_due, flags=(), **buckets):
    b = {k: "0.00" for k in collections.BUCKETS}
    b.update(buckets)
    return {"name": name, "stage": stage, "past_due": past_due, "open": past_due, "retainage": "10.00",
            "unapplied_credit": "0.00", "buckets": b, "flags": [{"code": c, "reason": c} for c in flags],
            "oldest_days_past_due": 5}


def test_filters_sorting_and_totals_to_the_cent():
    rows = [
        _customer("Acme Owner", "call", "100.10", ["broken_promise"], **{"91_plus": "100.10"}),
        _customer("Bayside", "first_notice", "20.05", **{"1_30": "20.05"}),
        _customer("Cedar", "current", "0.00", current="5.00"),
    ]
    assert [c["name"] for c in collections.filter_customers(rows)] == ["Acme Owner", "Bayside", "Cedar"]
    assert [c["name"] for c in collections.filter_customers(rows, needs_call=True)] == ["Acme Owner"]
    assert [c["name"] for c in collections.filter_customers(rows, past_due_only=True, sort="name",
                                                             descending=False)] == ["Acme Owner", "Bayside"]
    assert [c["name"] for c in collections.filter_customers(rows, query="bay")] == ["Bayside"]
    assert [c["name"] for c in collections.filter_customers(rows, stage="current")] == ["Cedar"]
    totals = collections.sum_customers(rows)
    assert totals["past_due"] == "120.15"
    assert totals["retainage"] == "30.00"
    csv_text = collections.aging_csv(rows, totals)
    assert csv_text.splitlines()[-1].startswith("Totals,,5.00,20.05,0.00,0.00,100.10,120.15")
