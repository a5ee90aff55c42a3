"""HTTP views. Thin: they read the request, call the store / sync / engine / drafting modules, render."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from . import auth, errors, formatting, outreach, pages, sync, worklog
    from .context import IdConverter

    app.url_map.converters["id"] = IdConverter  # before the blueprints: their routes use <id:...>
    app.register_blueprint(pages.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(sync.bp)
    app.register_blueprint(worklog.bp)
    app.register_blueprint(outreach.bp)
    errors.init_app(app)
    formatting.init_app(app)
