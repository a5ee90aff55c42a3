"""Promises-to-pay, call notes and disputes (filled in by the promises issue)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("worklog", __name__, url_prefix="/worklog")
