"""The built-in seed (size, variety, consistency, determinism), dataset validation and the command line."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import date, timedelta
from decimal import Decimal

import pytest
import requests

from embedded_app.sandbox import DatasetError, build_seed, load_dataset, validate_dataset
from embedded_app.sandbox.__main__ import main
from embedded_app.sandbox.seed import SEED_ANCHOR, terms_days


def test_seed_size_and_variety(seed_dataset):
    d = seed_dataset
    assert len(d["companies"]) == 2
    assert len(d["projects"]) >= 15
    assert {"CA", "TX", "NY", "FL"} <= {p["state_code"] for p in d["projects"]}
    contracts = d["prime_contracts"]
    owners = Counter(c["vendor"]["id"] for c in contracts)
    assert len(owners) >= 40
    projects_per_owner = defaultdict(set)
    for c in contracts:
        projects_per_owner[c["vendor"]["id"]].add(c["project_id"])
    assert sum(1 for ps in projects_per_owner.values() if len(ps) > 1) >= 5
    assert any(not v["email_address"] for v in d["vendors"])

    apps = d["payment_applications"]
    assert len(apps) >= 1500
    statuses = Counter(a["status"] for a in apps)
    assert set(statuses) == {"draft", "under_review", "revise_and_resubmit", "approved"}
    assert statuses["approved"] > len(apps) * 0.8
    billing = sorted(a["billing_date"] for a in apps)
    assert billing[-1] <= SEED_ANCHOR.isoformat()
    assert date.fromisoformat(billing[0]) >= SEED_ANCHOR - timedelta(days=24 * 31)

    assert {"Net 30", "Net 45", "Due on receipt", "30 days", ""} <= {c["payment_terms"] for c in contracts}
    assert all(Decimal("5") <= Decimal(c["retainage_percent"]) <= Decimal("10") for c in contracts)
    complete = [c for c in contracts if c["status"] == "Complete"]
    assert complete and all(c["substantial_completion_date"] for c in complete)
    assert all("project_id" in c and "payment_terms" in c for c in contracts)


def test_seed_money_is_consistent(seed_dataset):
    by_contract = defaultdict(list)
    for a in seed_dataset["payment_applications"]:
        for value in a["g702"].values():
            assert isinstance(value, str) and value.count(".") == 1
        by_contract[a["contract"]["id"]].append(a)
    for apps in by_contract.values():
        previous = Decimal("0")
        for a in sorted(apps, key=lambda a: a["number"]):
            g = {k: Decimal(v) for k, v in a["g702"].items()}
            assert g["less_previous_certificates_for_payment"] == previous
            assert g["current_payment_due"] == g["total_earned_less_retainage"] - previous
            assert g["total_earned_less_retainage"] == g["total_completed_and_stored_to_date"] - g["total_retainage"]
            assert g["contract_sum_to_date"] == g["original_contract_sum"] + g["net_change_by_change_orders"]
            previous = g["total_earned_less_retainage"]


def test_seed_payments_partial_late_matched_and_unmatched(seed_dataset):
    apps = {(a["contract"]["id"], a["number"]): a for a in seed_dataset["payment_applications"]}
    terms = {c["id"]: c["payment_terms"] for c in seed_dataset["prime_contracts"]}
    payments = seed_dataset["contract_payments"]
    matched = [p for p in payments if p["draw_request_number"] is not None]
    assert any(not p["invoice_number"] and p["draw_request_number"] is None for p in payments)
    assert any(p["invoice_number"] and p["draw_request_number"] is None for p in payments)
    per_app = Counter((p["contract_id"], p["draw_request_number"]) for p in matched)
    assert any(n > 1 for n in per_app.values())  # partial payments
    late = 0
    for p in matched:
        app = apps[(p["contract_id"], p["draw_request_number"])]
        assert Decimal(p["amount"]) <= Decimal(app["g702"]["current_payment_due"])
        due = date.fromisoformat(app["billing_date"]) + timedelta(days=terms_days(terms[p["contract_id"]]))
        late += date.fromisoformat(p["date"]) > due
    assert late > len(matched) * 0.2
    assert all(p["date"] <= SEED_ANCHOR.isoformat() for p in payments)


def test_seed_users_clients_custom_fields_and_tools(seed_dataset):
    d = seed_dataset
    assert any(len(u.get("company_ids") or []) == 2 for u in d["users"])
    for company in d["companies"]:
        assert any(u["company_id"] == company["id"] and u["job_title"] == "Bookkeeper" for u in d["users"])
    clients = {c["client_id"]: c for c in d["oauth_clients"]}
    assert clients["demo-app-client"]["redirect_uris"] == ["http://localhost:5100/oauth/callback"]
    assert clients["demo-service-account"]["kind"] == "service_account"
    assert {d["label"] for d in d["custom_field_definitions"]} == {"Collections stage", "Next promised payment"}
    logs = [t for t in d["generic_tools"] if t["title"] == "Collections Log"]
    assert len(logs) == 1
    assert {t["company_id"] for t in d["generic_tools"]} == {c["id"] for c in d["companies"]}


def test_seed_is_deterministic_and_scales(seed_dataset):
    assert build_seed() == seed_dataset
    assert build_seed(seed=7) != seed_dataset
    bigger = build_seed(scale=3)
    ratio = len(bigger["payment_applications"]) / len(seed_dataset["payment_applications"])
    assert 2.4 < ratio < 3.6
    assert validate_dataset(copy.deepcopy(bigger))["payment_applications"]


def _tiny() -> dict:
    return {
        "companies": [{"id": 1, "name": "Acme Builders"}],
        "projects": [{"id": 10, "company_id": 1, "name": "Depot", "state_code": "TX"}],
        "vendors": [{"id": 20, "company_id": 1, "name": "Owner LLC", "email_address": None}],
        "users": [{"id": 30, "company_id": 1, "login": "ann@acme.example", "name": "Ann"}],
        "prime_contracts": [{"id": 40, "project_id": 10, "vendor": {"id": 20}, "grand_total": "1000.00",
                             "status": "Approved", "payment_terms": "Net 30"}],
        "payment_applications": [{"id": 50, "project_id": 10, "contract": {"id": 40}, "number": 1,
                                  "status": "approved", "billing_date": "2026-10-25",
                                  "g702": {"current_payment_due": "450.00"}}],
        "contract_payments": [{"id": 60, "project_id": 10, "contract_id": 40, "amount": "450.00",
                               "date": "2026-11-20"}],
        "oauth_clients": [{"client_id": "c", "client_secret": "s", "redirect_uris": ["http://x/cb"],
                           "company_ids": [1], "kind": "user"}],
        "something_else": {"ignored": True},
    }


def test_tiny_dataset_is_valid_and_served(make_sandbox):
    data = validate_dataset(_tiny())
    assert "something_else" not in data and data["generic_tools"] == []
    box = make_sandbox(_tiny())
    token = box.token(client_id="c")["access_token"]
    shown = requests.get(f"{box.url}/rest/v1.0/prime_contract/40", params={"project_id": 10}, timeout=10,
                         headers={"Authorization": f"Bearer {token}", "Procore-Company-Id": "1"}).json()
    assert shown["vendor"]["name"] == "Owner LLC"
    assert shown["payments_received"][0]["amount"] == "450.00"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["payment_applications"][0].update(status="paid"), ["payment_applications[0]", "id 50",
                                                                        "'status'"]),
        (lambda d: d["payment_applications"][0]["g702"].update(current_payment_due="lots"),
         ["payment_applications[0]", "g702.current_payment_due"]),
        (lambda d: d["contract_payments"][0].update(contract_id=99), ["contract_payments[0]", "id 60",
                                                                       "'contract_id'", "99"]),
        (lambda d: d["prime_contracts"][0].update(project_id="10"), ["prime_contracts[0]", "'project_id'"]),
        (lambda d: d["projects"].append({"id": 10, "company_id": 1, "name": "Dup"}), ["projects[1]", "duplicate"]),
        (lambda d: d["vendors"][0].pop("name"), ["vendors[0]", "id 20", "'name'"]),
        (lambda d: d["contract_payments"][0].update(date="20/11/2026"), ["contract_payments[0]", "'date'"]),
        (lambda d: d["users"][0].update(company_ids=[1, 5]), ["users[0]", "company_ids[1]"]),
        (lambda d: d["oauth_clients"][0].update(kind="robot"), ["oauth_clients[0]", "'c'", "'kind'"]),
        (lambda d: d["prime_contracts"][0].update(updated_at="yesterday"), ["prime_contracts[0]", "'updated_at'"]),
        (lambda d: d.update(projects={"id": 1}), ["projects: must be a list"]),
    ],
)
def test_validation_names_record_and_field(mutate, expected):
    data = _tiny()
    mutate(data)
    with pytest.raises(DatasetError) as info:
        validate_dataset(data)
    for fragment in expected:
        assert fragment in str(info.value)


def test_load_dataset_and_command_line(tmp_path, capsys):
    seed_file = tmp_path / "tiny.json"
    seed_file.write_text(json.dumps(_tiny()))
    assert load_dataset(seed_file)["projects"][0]["id"] == 10
    broken = tmp_path / "broken.json"
    broken.write_text('{"companies": [}')
    with pytest.raises(DatasetError, match="line 1"):
        load_dataset(broken)

    out = tmp_path / "seed.json"
    assert main(["--write-seed", str(out)]) == 0
    assert json.loads(out.read_text()) == json.loads(json.dumps(build_seed()))
    capsys.readouterr()

    bad = _tiny()
    bad["payment_applications"][0]["status"] = "paid"
    bad_file = tmp_path / "bad.json"
    bad_file.write_text(json.dumps(bad))
    run = subprocess.run([sys.executable, "-m", "embedded_app.sandbox", "--data", str(bad_file), "--port", "0"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode != 0
    assert "payment_applications[0]" in run.stderr and "status" in run.stderr
