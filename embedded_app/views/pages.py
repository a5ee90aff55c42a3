"""The Collections tab, the side panel, the install guide and a health check."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for

from .context import company_id_arg, current_user_id, project_id_arg, require_company_access

bp = Blueprint("pages", __name__)


@bp.get("/")
def index():
    if request.args.get("company_id"):
        return redirect(url_for("pages.collections", **request.args))
    return redirect(url_for("pages.install"))


@bp.get("/healthz")
def healthz():
    return {"status": "ok"}


@bp.get("/install")
def install():
    return render_template("install.html")


@bp.get("/collections")
def collections():
    company_id = company_id_arg()
    project_id = project_id_arg()
    user_id = current_user_id()
    if user_id is None:
        return render_template("connect.html", company_id=company_id, project_id=project_id, mode="tab")
    company = require_company_access(user_id, company_id)
    return render_template("tab.html", company=company, company_id=company_id, project_id=project_id)


@bp.get("/panel")
def panel():
    company_id = company_id_arg()
    project_id = project_id_arg()
    user_id = current_user_id()
    if user_id is None:
        return render_template("connect.html", company_id=company_id, project_id=project_id, mode="panel")
    company = require_company_access(user_id, company_id)
    return render_template("panel.html", company=company, company_id=company_id, project_id=project_id)
