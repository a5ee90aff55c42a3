"""Errors rendered in plain words, in place (fragment for htmx, page otherwise). Never a stack trace."""

from __future__ import annotations

import logging

from flask import Flask, render_template, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


def render_error(status: int, title: str, message: str) -> tuple[str, int]:
    # A boosted link or form (or app.js loading a page with the session token) swaps the whole page.
    partial = request.headers.get("HX-Request") and not request.headers.get("HX-Boosted")
    template = "_error.html" if partial else "error.html"
    response = render_template(template, status=status, title=title, message=message)
    return response, status


def init_app(app: Flask) -> None:
    from ..procore.errors import ProcoreError, ReconnectRequired

    @app.errorhandler(ReconnectRequired)
    def _reconnect(exc: ReconnectRequired):
        company_id = request.values.get("company_id", "")
        if request.headers.get("HX-Request") and not request.headers.get("HX-Boosted"):
            response = render_template("_error.html", title="Reconnect to Procore",
                                       message="Your Procore connection has expired or was revoked. "
                                               "Reload the page and connect again.")
            return response, 401
        mode = "panel" if request.path.startswith("/panel") else "tab"
        return render_template("connect.html", company_id=company_id, project_id=None, mode=mode,
                               reconnect=True), 401

    @app.errorhandler(ProcoreError)
    def _procore(exc: ProcoreError):
        log.warning("Procore call failed on %s: %s", request.path, type(exc).__name__)
        return render_error(502, "Procore did not answer as expected",
                            "Procore could not be reached or refused the request. Nothing was lost; "
                            "try again in a moment.")

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        return render_error(exc.code or 500, exc.name, exc.description or exc.name)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        if isinstance(exc, HTTPException):
            return _http(exc)
        log.exception("unexpected error on %s", request.path)
        return render_error(500, "Something went wrong",
                            "The Collections app hit an unexpected problem. Nothing was lost; try again in a moment.")
