"""A local page that imitates Procore's shell, for the demo and the browser tests.

It runs on a different origin from the app and frames it twice, as Procore does: the Collections tab (the
full-screen Apps-menu component, company or project level) and the 400 px side panel on a prime contract view,
answering the panel's ``initialize`` message with a ``setup`` context and sending ``sidepanel:app:visible``.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, render_template, request
from flask.typing import ResponseReturnValue

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def records_from_dataset(dataset: dict[str, Any]) -> list[dict[str, Any]]:
    """The prime contracts a Procore user could click on, with their company and project."""
    companies = {c["id"]: c for c in dataset.get("companies", [])}
    projects = {p["id"]: p for p in dataset.get("projects", [])}
    out = []
    for contract in dataset.get("prime_contracts", []):
        project = projects.get(contract.get("project_id"))
        if not project:
            continue
        company = companies.get(project.get("company_id"), {})
        out.append({
            "company_id": project.get("company_id"), "company_name": company.get("name", ""),
            "project_id": project["id"], "project_name": project.get("name", ""),
            "contract_id": contract["id"], "contract_title": contract.get("title") or f"Contract {contract['id']}",
            "owner": (contract.get("vendor") or {}).get("name", ""),
        })
    out.sort(key=lambda r: (r["company_id"], r["project_name"], r["contract_id"]))
    return out


def create_host_app(app_url: str, records: list[dict[str, Any]]) -> Flask:
    host = Flask(
        __name__,
        template_folder=os.path.join(_ROOT, "templates", "hostpage"),
        static_folder=os.path.join(_ROOT, "static", "hostpage"),
        static_url_path="/shell-static",
    )
    companies: dict[int, str] = {}
    for r in records:
        companies.setdefault(r["company_id"], r["company_name"])

    @host.get("/")
    def shell() -> ResponseReturnValue:
        company_id = request.args.get("company_id", type=int) or (next(iter(companies)) if companies else 0)
        mine = [r for r in records if r["company_id"] == company_id]
        contract_id = request.args.get("contract_id", type=int)
        current = next((r for r in mine if r["contract_id"] == contract_id), mine[0] if mine else None)
        view = request.args.get("view", "tab")
        project_id = request.args.get("project_id", type=int)
        return render_template(
            "shell.html", app_url=app_url.rstrip("/"), companies=companies, company_id=company_id,
            contracts=mine, current=current, view=view, project_id=project_id,
        )

    return host
