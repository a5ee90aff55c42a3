"""The Collections tab end to end with Flask's test client: real OAuth against the stand-in, a real sync over
HTTP, numbers on screen that match the engine's JSON to the cent."""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from decimal import Decimal

from embedded_app import collections
from embedded_app.store import open_db

from .fixtures.webapp import HARBORLINE, SUMMIT, connect, csrf_of, sync_and_wait

AS_OF = "2026-11-30"


def _values(html: str, attribute: str) -> dict[str, str]:
    return dict(re.findall(rf'{attribute}="([^"]+)" data-value="([^"]+)"', html))


def test_anonymous_visitor_sees_connect_screen_only(client):
    page = client.get(f"/collections?company_id={SUMMIT}")
    assert page.status_code == 200
    assert b"Connect to Procore" in page.data
    assert b"Aging" not in page.data


def test_sign_in_stores_tokens_encrypted_and_cookie_holds_only_a_session_id(standin_app):
    client = standin_app.test_client()
    connect(client, standin_app.standin.url, 7000001)
    db = open_db(standin_app.config["DATABASE"])
    row = next(db.query("select * from oauth_tokens where owner = 'user:7000001'"))
    raw = " ".join(str(v) for v in row.values())
    state = standin_app.standin.state
    issued = [*state.access_tokens, *state.refresh_tokens]
    assert issued, "the stand-in issued tokens"
    for token in issued:
        assert token not in raw
    assert row["access_token_enc"].startswith("gAAAA")  # Fernet
    with client.session_transaction() as cookie_session:
        assert set(cookie_session) <= {"sid", "connect_nonce", "_permanent"}
        assert "sid" in cookie_session


def test_first_run_then_sync_then_totals_match_engine_json(connected_client, standin_app):
    first = connected_client.get(f"/collections?company_id={SUMMIT}").get_data(as_text=True)
    assert "Welcome to Collections" in first and "No email can go out" in first
    done = sync_and_wait(connected_client)
    assert "Last refresh stopped" not in done["html"]

    page = connected_client.get(f"/collections?company_id={SUMMIT}&as_of={AS_OF}").get_data(as_text=True)
    db = open_db(standin_app.config["DATABASE"])
    expected = collections.build_report(db, SUMMIT, as_of=date.fromisoformat(AS_OF)).to_json()
    shown = _values(page, "data-total")
    assert shown["open"] == expected["totals"]["open"]
    assert shown["past_due"] == expected["totals"]["past_due"]
    assert shown["retainage"] == expected["totals"]["retainage"]
    for bucket in collections.BUCKETS:
        assert shown[bucket] == expected["totals"][bucket], bucket
    assert len(re.findall(r'<tr class="customer"', page)) == len(expected["customers"])
    assert "<svg" in page and "Aging by month" in page


def test_filters_needs_a_call_and_csv_match_screen(connected_client, standin_app):
    sync_and_wait(connected_client)
    url = f"/collections?company_id={SUMMIT}&as_of={AS_OF}&section=aging&needs_call=1"
    fragment = connected_client.get(url, headers={"HX-Request": "true", "HX-Target": "section"})
    html = fragment.get_data(as_text=True)
    assert fragment.headers["Vary"].lower().count("hx-request") == 1
    assert "<html" not in html  # a fragment for htmx
    db = open_db(standin_app.config["DATABASE"])
    report = collections.build_report(db, SUMMIT, as_of=date.fromisoformat(AS_OF)).to_json()
    flagged = [c for c in report["customers"] if c["flags"]]
    assert flagged, "the seed should have customers that need a call"
    assert len(re.findall(r'<tr class="customer"', html)) == len(flagged)

    exported = connected_client.get(f"/collections/aging.csv?company_id={SUMMIT}&as_of={AS_OF}&needs_call=1")
    assert exported.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(exported.get_data(as_text=True))))
    assert len(rows) == len(flagged) + 2
    totals = rows[-1]
    assert totals[0] == "Totals"
    assert totals[7] == collections.sum_customers(flagged)["past_due"]


def test_calls_section_lists_reasons(connected_client):
    sync_and_wait(connected_client)
    html = connected_client.get(f"/collections?company_id={SUMMIT}&as_of={AS_OF}&section=calls").get_data(
        as_text=True)
    assert 'class="call"' in html
    assert re.search(r'<li data-flag="[a-z_0-9]+">[^<]{10,}', html)


def test_a_company_the_user_cannot_see_is_refused(connected_client):
    page = connected_client.get(f"/collections?company_id={HARBORLINE}")
    assert page.status_code == 403
    assert b"does not have access" in page.data
    assert b"Harborline" not in page.data


def test_state_changing_request_without_csrf_is_refused(connected_client):
    refused = connected_client.post("/sync", data={"company_id": SUMMIT})
    assert refused.status_code == 400
    ok = connected_client.post("/sync", data={"company_id": SUMMIT},
                               headers={"X-CSRF-Token": csrf_of(connected_client)})
    assert ok.status_code == 200


def test_panel_shows_the_contract_in_view(connected_client, standin_app):
    sync_and_wait(connected_client)
    db = open_db(standin_app.config["DATABASE"])
    report = collections.build_report(db, SUMMIT, as_of=date.fromisoformat(AS_OF)).to_json()
    customer = next(c for c in report["customers"] if any(i["open"] != "0.00" for i in c["invoices"]))
    invoice = next(i for i in customer["invoices"] if i["open"] != "0.00")
    contract = next(k for k in customer["contracts"] if k["id"] == invoice["contract_id"])
    html = connected_client.get(
        f"/panel?company_id={SUMMIT}&project_id={invoice['project_id']}&view=prime_contracts.detail"
        f"&id={invoice['contract_id']}&as_of={AS_OF}", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert customer["name"].replace("&", "&amp;") in html
    assert f'data-value="{contract["retainage"]}"' in html
    open_here = sum(float(i["open"]) for i in customer["invoices"] if i["contract_id"] == contract["id"])
    assert f'data-value="{open_here:.2f}"' in html
    by_pay_app = connected_client.get(
        f"/panel?company_id={SUMMIT}&view=prime_contracts.payment_applications.detail&id={invoice['pay_app_id']}"
        f"&as_of={AS_OF}", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert f'data-contract-id="{contract["id"]}"' in by_pay_app


def test_project_without_prime_contracts_permission_is_skipped_and_explained(make_sandbox, seed_dataset, tmp_path):
    import copy

    from embedded_app import create_app

    from .fixtures.webapp import DANA

    dataset = copy.deepcopy(seed_dataset)
    summit_projects = sorted(p["id"] for p in dataset["projects"] if p["company_id"] == SUMMIT)
    denied = summit_projects[0]
    denied_name = next(p.get("display_name") or p["name"] for p in dataset["projects"] if p["id"] == denied)
    for user in dataset["users"]:
        if user["id"] == DANA:
            user["denied_tools"] = {"prime_contracts": [denied]}
    standin = make_sandbox(dataset, spike_limit=5000, hourly_limit=100000)
    app = create_app({"TESTING": True, "SECRET_KEY": "t", "DATABASE": str(tmp_path / "a.sqlite"),
                      "PROCORE_API_URL": standin.url, "PROCORE_LOGIN_URL": standin.url})
    client = app.test_client()
    connect(client, standin.url, DANA)
    done = sync_and_wait(client)
    assert "Last refresh stopped" not in done["html"]
    page = client.get(f"/collections?company_id={SUMMIT}&as_of={AS_OF}").get_data(as_text=True)
    assert "Procore refused 1 project" in page
    assert denied_name.replace("&", "&amp;") in page
    assert "permission to access Prime Contracts" in page
    db = open_db(app.config["DATABASE"])
    assert not list(db.query("select id from payment_applications where project_id = ?", [denied]))
    assert list(db.query("select id from payment_applications where project_id = ?", [summit_projects[1]]))


def test_revoked_connection_asks_to_reconnect_instead_of_failing(connected_client, standin_app):
    db = open_db(standin_app.config["DATABASE"])
    db.execute("delete from oauth_tokens")
    db.conn.commit()
    done = sync_and_wait(connected_client)
    assert "Reconnect to Procore" in done["html"]
    again = connected_client.get(f"/collections?company_id={SUMMIT}&reconnect=1").get_data(as_text=True)
    assert "Connect to Procore" in again and "expired or was revoked" in again
    back_to = re.search(r'name="next" value="([^"]+)"', again).group(1).replace("&amp;", "&")
    assert back_to == f"/collections?company_id={SUMMIT}"  # after reconnecting, not the connect screen again
    assert "Traceback" not in done["html"]


def test_cei_header_uses_the_last_complete_month(connected_client, standin_app):
    sync_and_wait(connected_client)
    db = open_db(standin_app.config["DATABASE"])
    for as_of, month_index in (("2026-12-04", -2), ("2026-11-30", -1)):
        report = collections.build_report(db, SUMMIT, as_of=date.fromisoformat(as_of)).to_json()
        point = report["metrics"]["history"][month_index]
        assert point["month"] == "2026-11"
        html = connected_client.get(f"/collections?company_id={SUMMIT}&as_of={as_of}").get_data(as_text=True)
        shown = re.search(r'<span class="label">CEI \(Nov 2026\)</span><span class="value">([^<]+)</span>', html)
        assert shown, as_of
        assert shown.group(1) == f"{Decimal(point['cei']):.0f} %"


def test_section_tabs_show_counts(connected_client, standin_app):
    sync_and_wait(connected_client)
    db = open_db(standin_app.config["DATABASE"])
    report = collections.build_report(db, SUMMIT, as_of=date.fromisoformat(AS_OF)).to_json()
    html = connected_client.get(f"/collections?company_id={SUMMIT}&as_of={AS_OF}").get_data(as_text=True)
    assert f'>Needs a call ({len(report["needs_a_call"])})</a>' in html
    assert ">Ready to send</a>" in html  # nothing drafted yet: no count
