"""The Collections tab, the side panel, the install guide and a health check."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, abort, current_app, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from .. import charts, collections, outbox
from ..store import get_db
from ..store.cache import has_cached_data, latest_sync_run
from .context import company_id_arg, current_user_id, project_id_arg, require_company_access
from .sync import status_context

bp = Blueprint("pages", __name__)

SECTIONS = [("aging", "Aging"), ("calls", "Needs a call"), ("queue", "Ready to send"), ("promises", "Promises"),
            ("tasks", "Tasks"), ("settings", "Settings")]
COLUMNS = [
    ("name", "Customer"), ("current", "Current"), ("1_30", "1–30"), ("31_60", "31–60"), ("61_90", "61–90"),
    ("91_plus", "91+"), ("retainage", "Retainage"), ("unapplied_credit", "Credit"), ("days", "Days"),
    ("stage", "Stage"),
]
FLAG_LABELS = {
    "broken_promise": "Broken promise", "over_61_days": "61+ days", "final_notice_no_reply": "No reply to final notice",
    "no_email": "No email", "deadline": "Lien / prompt-pay deadline", "disputed": "Disputed",
    "concentration": "Large share of past due",
}


@bp.get("/")
def index() -> ResponseReturnValue:
    if request.args.get("company_id"):
        return redirect(url_for("pages.collections", **request.args))
    return redirect(url_for("pages.install"))


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    return {"status": "ok"}


@bp.get("/install")
def install() -> ResponseReturnValue:
    return render_template("install.html")


# The engine looks back 12 months and ahead to due dates: dates near year 1 or 9999 overflow Python's calendar.
AS_OF_MIN, AS_OF_MAX = date(1900, 1, 1), date(2999, 12, 31)


def as_of_arg() -> date:
    raw = request.args.get("as_of", "")
    if not raw:
        return date.today()
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        abort(400, description="The as-of date must look like 2026-11-30.")
    if not AS_OF_MIN <= day <= AS_OF_MAX:
        abort(400, description=f"The as-of date must be between {AS_OF_MIN.isoformat()} and "
                               f"{AS_OF_MAX.isoformat()}.")
    return day


def procore_pay_app_url(item: dict[str, Any]) -> str:
    base = current_app.config.get("PROCORE_WEB_URL", "https://app.procore.com")
    return (f"{base}/{item.get('project_id')}/project/prime_contracts/{item.get('contract_id')}"
            f"/payment_applications/{item.get('pay_app_id')}")


def _chart_svgs(report: dict[str, Any]) -> dict[str, str]:
    history = report["metrics"].get("history") or []
    months = [h["month"] for h in history]
    out = {
        "aging": charts.aging_by_month(months, [h["buckets"] for h in history]),
        "dso": charts.line(months, [h.get("countback_dso") for h in history], "Countback DSO"),
        "bridge": "",
    }
    bridge = report["metrics"].get("dso_bridge")
    if bridge and bridge.get("start") is not None and bridge.get("end") is not None:
        out["bridge"] = charts.waterfall(
            "Last month", bridge["start"],
            [("New billing", bridge["new_billing"]), ("Collections", bridge["collections"]),
             ("Promises kept", bridge["promises_kept"]), ("Other", bridge["other"])],
            "Today", bridge["end"],
        )
    return out


def _cei_shown(report: dict[str, Any]) -> tuple[str, Any]:
    """CEI of the last complete month (the as-of month only when the as-of date is its last day)."""
    history = report["metrics"].get("history") or []
    as_of = date.fromisoformat(report["as_of"])
    month_complete = (as_of + timedelta(days=1)).day == 1
    if not month_complete and len(history) >= 2:
        point = history[-2]
    elif history:
        point = history[-1]
    else:
        return "CEI", report["metrics"].get("cei")
    label = date.fromisoformat(point["date"]).strftime("%b %Y")
    return f"CEI ({label})", point.get("cei")


def _dso_trend(report: dict[str, Any]) -> float | None:
    history = report["metrics"].get("history") or []
    if len(history) < 2 or history[-1].get("countback_dso") is None or history[-2].get("countback_dso") is None:
        return None
    return float(history[-1]["countback_dso"]) - float(history[-2]["countback_dso"])


@bp.get("/collections", endpoint="collections")
def collections_tab() -> ResponseReturnValue:
    company_id = company_id_arg()
    fixed_project_id = project_id_arg()  # from Procore's project-level Apps menu
    user_id = current_user_id()
    if user_id is None or request.args.get("reconnect"):
        return render_template("connect.html", company_id=company_id, project_id=fixed_project_id, mode="tab",
                               reconnect=user_id is not None)
    company = require_company_access(user_id, company_id)
    db = get_db()
    section = request.args.get("section", "aging")
    if section not in dict(SECTIONS):
        section = "aging"
    project_id = fixed_project_id or project_id_arg()
    ctx: dict[str, Any] = {
        "company": company, "company_id": company_id, "fixed_project_id": fixed_project_id,
        "project_id": project_id, "section": section, "sections": SECTIONS,
        **status_context(company_id, latest_sync_run(db, company_id)),
    }
    ctx["has_data"] = has_cached_data(db, company_id)
    if ctx["has_data"]:
        ctx.update(_tab_data(company_id, project_id, fixed_project_id, section))
    if request.headers.get("HX-Request") and request.headers.get("HX-Target") == "section":
        return render_template(f"_section_{section}.html", **ctx)
    return render_template("tab.html", **ctx)


def _filters() -> dict[str, Any]:
    return {
        "stage": request.args.get("stage", ""), "flag": request.args.get("flag", ""),
        "needs_call": request.args.get("needs_call") == "1", "past_due": request.args.get("past_due") == "1",
        "q": request.args.get("q", ""), "sort": request.args.get("sort", "past_due"),
        "dir": request.args.get("dir", "desc"),
    }


def _tab_data(company_id: int, project_id: int | None, fixed_project_id: int | None, section: str) -> dict:
    db = get_db()
    report = collections.build_report(db, company_id, project_id=project_id, as_of=as_of_arg()).to_json()
    projects = collections.project_names(db, company_id)
    filters = _filters()
    descending = filters["dir"] != "asc"
    customers = collections.filter_customers(
        report["customers"], stage=filters["stage"], flag=filters["flag"], needs_call=filters["needs_call"],
        past_due_only=filters["past_due"], query=filters["q"], sort=filters["sort"], descending=descending,
    )
    base = {k: v for k, v in request.args.items(multi=False) if k not in ("sort", "dir")}
    base["company_id"] = str(company_id)

    def section_url(key: str) -> str:
        params = {"company_id": company_id, "section": key}
        if fixed_project_id:
            params["project_id"] = fixed_project_id
        return url_for("pages.collections") + "?" + urlencode(params)

    def sort_url(key: str) -> str:
        same = filters["sort"] == key
        direction = ("asc" if descending else "desc") if same else ("asc" if key in ("name",) else "desc")
        return url_for("pages.collections") + "?" + urlencode({**base, "section": "aging", "sort": key,
                                                               "dir": direction})

    return {
        "report": report, "customers": customers, "projects": projects,
        "project_name": projects.get(fixed_project_id) if fixed_project_id else None,
        "filters": filters, "sort": filters["sort"], "descending": descending,
        "shown_totals": collections.sum_customers(customers), "buckets": collections.BUCKETS,
        "columns": COLUMNS, "stage_labels": collections.STAGE_LABELS, "flag_labels": FLAG_LABELS,
        "section_url": section_url, "sort_url": sort_url, "procore_pay_app_url": procore_pay_app_url,
        "csv_url": url_for("pages.aging_csv") + "?" + urlencode(base),
        "charts": _chart_svgs(report) if section == "aging" else {}, "dso_trend": _dso_trend(report),
        "cei": _cei_shown(report),
        "section_counts": {"calls": len(report["needs_a_call"]), "tasks": len(report["tasks"]),
                           "queue": len(outbox.pending_drafts(db, company_id))},
    }


@bp.route("/collections/aging.csv", methods=["GET", "POST"])
def aging_csv() -> ResponseReturnValue:
    company_id = company_id_arg()
    user_id = current_user_id()
    if user_id is None:
        abort(401, description="Connect to Procore first.")
    require_company_access(user_id, company_id)
    project_id = project_id_arg()
    report = collections.build_report(get_db(), company_id, project_id=project_id, as_of=as_of_arg()).to_json()
    f = _filters()
    customers = collections.filter_customers(
        report["customers"], stage=f["stage"], flag=f["flag"], needs_call=f["needs_call"],
        past_due_only=f["past_due"], query=f["q"], sort=f["sort"], descending=f["dir"] != "asc",
    )
    body = collections.aging_csv(customers, collections.sum_customers(customers))
    name = f"aging-{company_id}-{report['as_of']}.csv"
    return Response(body, mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.get("/panel")
def panel() -> ResponseReturnValue:
    company_id = company_id_arg()
    project_id = project_id_arg()
    user_id = current_user_id()
    if user_id is None:
        return render_template("connect.html", company_id=company_id, project_id=project_id, mode="panel")
    company = require_company_access(user_id, company_id)
    if request.headers.get("HX-Request") and not request.headers.get("HX-Boosted"):
        return _panel_context(company_id, project_id)
    return render_template("panel.html", company=company, company_id=company_id, project_id=project_id)


def _panel_context(company_id: int, project_id: int | None):
    """The one customer/contract in view (Procore's ``setup`` context: view + record id)."""
    db = get_db()
    view = request.args.get("view", "")
    record_id = request.args.get("id", type=int)
    report = collections.build_report(db, company_id, as_of=as_of_arg()).to_json()
    contract_id = None
    if view.startswith("prime_contracts.payment_applications") and record_id:
        contract_id = next((i["contract_id"] for c in report["customers"] for i in c["invoices"]
                            if i["pay_app_id"] == record_id), None)
    elif record_id:
        contract_id = record_id
    customer = contract = None
    for c in report["customers"]:
        for k in c.get("contracts", []):
            if k["id"] == contract_id:
                customer, contract = c, k
    if customer is None:
        return render_template("_panel_empty.html", view=view, record_id=record_id,
                               has_data=has_cached_data(db, company_id))
    invoices = [i for i in customer["invoices"] if i["contract_id"] == contract_id and i["open"] != "0.00"]
    contract_buckets = {b: sum(float(i["open"]) for i in invoices if i["bucket"] == b) for b in collections.BUCKETS}
    projects = collections.project_names(db, company_id)
    return render_template(
        "_panel_context.html", customer=customer, contract=contract, invoices=invoices,
        project_name=projects.get(contract.get("project_id"), ""), company_id=company_id,
        bucket_bar=charts.bucket_bar(contract_buckets), stage_labels=collections.STAGE_LABELS,
        flag_labels=FLAG_LABELS, procore_pay_app_url=procore_pay_app_url,
        contract_open=f"{sum(float(i['open']) for i in invoices):.2f}",
    )
