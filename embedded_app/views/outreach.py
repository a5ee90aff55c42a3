"""Drafts, review, sending, opt-in and mail settings (filled in by the drafting/sending issue)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("outreach", __name__, url_prefix="/outreach")
