"""Payment terms parsing: "Net N", "N days", "Due on receipt", blank/unknown → company default with a note."""

from __future__ import annotations

import pytest

from embedded_app.engine import parse_terms


@pytest.mark.parametrize(
    ("text", "days", "certain"),
    [
        ("Net 30", 30, True),
        ("net30", 30, True),
        ("NET-45", 45, True),
        ("Net 60 days", 60, True),
        ("2/10 Net 30", 30, True),
        ("2% 10 Net 30", 30, True),
        ("30 days", 30, True),
        ("45 Days", 45, True),
        ("10 calendar days", 10, True),
        ("Payment due within 20 days of invoice", 20, True),
        ("Due on receipt", 0, True),
        ("due upon receipt", 0, True),
        ("Payable on receipt", 0, True),
        (15, 15, True),
        ("", 30, False),
        ("   ", 30, False),
        (None, 30, False),
        ("Net 30 EOM", 30, False),
        ("paid when paid", 30, False),
        ("Net 900", 30, False),
        (-5, 30, False),
        (True, 30, False),
    ],
)
def test_parse_terms(text, days, certain):
    t = parse_terms(text)
    assert (t.days, t.certain) == (days, certain)
    assert (t.note is None) == certain
    if not certain:
        assert "default 30 days" in t.note


def test_default_is_configurable_and_named_in_the_note():
    t = parse_terms("whenever convenient", default_days=45)
    assert t.days == 45 and 'could not read payment terms "whenever convenient"' in t.note
    assert "default 45 days" in parse_terms(None, default_days=45).note
