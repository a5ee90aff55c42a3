"""HTTP views. Thin: they read the request, call the store / sync / engine / drafting modules, render."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from . import auth, errors, pages

    app.register_blueprint(pages.bp)
    app.register_blueprint(auth.bp)
    errors.init_app(app)
