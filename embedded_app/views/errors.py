"""Errors rendered in plain words, in place (fragment for htmx, page otherwise). Never a stack trace."""

from __future__ import annotations

import logging

from flask import Flask, render_template, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


def render_error(status: int, title: str, message: str):
    template = "_error.html" if request.headers.get("HX-Request") else "error.html"
    response = render_template(template, status=status, title=title, message=message)
    return response, status


def init_app(app: Flask) -> None:
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
