"""Deterministic template fallback, one Jinja template per stage (``templates/<stage>.txt.j2``).

Used when no API key is configured, when the API fails, or when the model's drafts fail the grounding check
twice. Output depends only on the facts, so the demo and the tests are reproducible. English only.
"""

from __future__ import annotations

import os
from decimal import Decimal

import jinja2

from .facts import DraftFacts, long_date, money

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")),
    autoescape=False,  # plain-text email; nothing here is rendered as HTML
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=False,
    trim_blocks=False,
)
_env.filters["money"] = money
_env.filters["long_date"] = long_date
_env.filters["percent"] = lambda v: f"{Decimal(v).normalize():f}%"


def render_template(facts: DraftFacts) -> tuple[str, str]:
    """Return (subject, body) for the facts' stage."""
    text = _env.get_template(f"{facts.stage}.txt.j2").render(f=facts)
    first, _, rest = text.lstrip("\n").partition("\n")
    if not first.startswith("Subject: "):
        raise RuntimeError(f"template {facts.stage} must start with a Subject: line")
    body = "\n".join(line.rstrip() for line in rest.strip("\n").splitlines())
    while "\n\n\n" in body:
        body = body.replace("\n\n\n", "\n\n")
    return first.removeprefix("Subject: ").strip(), body + "\n"
