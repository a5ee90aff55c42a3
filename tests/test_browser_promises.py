"""A promise-to-pay in a real browser: side panel on a prime contract → Log promise → the Collections Log item
exists in the stand-in with the promised date as due date → a later refresh with no payment after the date marks
it broken (the same Procore item is updated) and the customer is on "Needs a call" with that reason."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from playwright.sync_api import expect

from embedded_app import sync, worklog
from embedded_app.procore import auth
from embedded_app.procore.client import ProcoreClient
from embedded_app.store import open_db
from embedded_app.store import worklog as store

from .fixtures.browser import ARTIFACTS
from .fixtures.procore import SERVICE_CLIENT_ID, SERVICE_CLIENT_SECRET
from .fixtures.webapp import SUMMIT
from .test_browser_collections import connect_in_popup

pytestmark = pytest.mark.browser


def _log_items(stack, project_id: int) -> list[dict]:
    oauth = auth.ProcoreOAuth(stack.standin.url, SERVICE_CLIENT_ID, SERVICE_CLIENT_SECRET)
    with ProcoreClient(stack.standin.url, auth.ServiceAccountProvider(oauth), company_id=SUMMIT) as client:
        tool = next(t for t in client.generic_tools(SUMMIT) if t["title"] == "Collections Log")
        return client.generic_tool_items(project_id, tool["id"])


def _refresh(frame) -> None:
    frame.get_by_role("button", name="Refresh from Procore").click()
    frame.get_by_role("link", name="Refresh finished: show the new numbers").click(timeout=180000)
    sync.wait_for_background_sync(SUMMIT, 120)  # the promise watcher runs right after the sync, same thread


def test_panel_promise_is_written_to_procore_then_broken_after_a_later_sync(demo_stack, page, monkeypatch):
    page.goto(demo_stack.host_url + "/")
    tab = page.frame_locator("#fullscreen-app")
    connect_in_popup(page, tab)
    tab.get_by_text("Welcome to Collections").wait_for(timeout=15000)
    _refresh(tab)
    tab.locator("#aging-table").wait_for()

    today = date.today()
    db = open_db(demo_stack.app.config["DATABASE"])
    report = worklog.build_report(db, SUMMIT, as_of=today).to_json()
    customer = next(c for c in sorted(report["customers"], key=lambda c: c["id"])
                    if worklog.open_invoices(c) and not c["flags"])
    invoice = worklog.open_invoices(customer)[0]

    # Side panel on that customer's prime contract: Log promise-to-pay, inline.
    page.goto(f"{demo_stack.host_url}/?company_id={SUMMIT}&view=contract&contract_id={invoice['contract_id']}")
    panel = page.frame_locator("#side-panel")
    panel.locator(f'[data-contract-id="{invoice["contract_id"]}"]').wait_for(timeout=15000)
    page.wait_for_load_state("networkidle")  # the host sends setup + visible: let both panel loads land
    panel.get_by_role("button", name="Log promise-to-pay").click()
    panel.locator('form[data-worklog-form="promise"]').wait_for(timeout=15000)
    promised = today + timedelta(days=2)
    panel.get_by_label("Amount promised ($)").fill("250.00")
    panel.get_by_label("Promised date").fill(promised.isoformat())
    panel.get_by_label("Who promised").fill("Pat from accounts payable")
    panel.get_by_role("button", name="Save promise").click()
    expect(panel.locator(".worklog-result")).to_contain_text("written to Procore as Collections Log item",
                                                              timeout=15000)
    expect(panel.locator(f"#worklog-history-{customer['id']}")).to_contain_text("promise $250.00")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "panel-promise.png"))

    [entry] = store.list_entries(db, SUMMIT, kind="promise")
    [item] = [i for i in _log_items(demo_stack, entry["project_id"]) if i["id"] == entry["procore_item_id"]]
    assert item["due_date"] == promised.isoformat() and item["private"] is True
    assert item["title"].startswith("Promise to pay $250.00")

    # Days later, nothing paid: the next refresh finds the promise broken.
    later = promised + timedelta(days=4)  # past the promised date + 3 grace days
    monkeypatch.setattr(worklog, "today", lambda: later)
    page.goto(f"{demo_stack.host_url}/?company_id={SUMMIT}&view=tab")
    tab = page.frame_locator("#fullscreen-app")
    _refresh(tab)
    assert store.get(db, SUMMIT, entry["id"])["evaluated_status"] == "broken"
    [item] = [i for i in _log_items(demo_stack, entry["project_id"]) if i["id"] == entry["procore_item_id"]]
    assert item["title"].startswith("Broken promise") and "broken" in item["description"]

    # "Needs a call" as of that day: the customer is there, with the reason.
    frame = page.frame(url=re.compile(r"/collections"))
    assert frame is not None
    frame.goto(f"{demo_stack.app_url}/collections?company_id={SUMMIT}&section=calls&as_of={later.isoformat()}")
    row = tab.locator(f'li.call[data-customer-id="{customer["id"]}"]')
    expect(row.locator('[data-flag="broken_promise"]')).to_have_text(
        f"Promised $250.00 by {promised.isoformat()}; $0.00 received")
    expect(row.get_by_role("button", name="Log call")).to_be_visible()
    frame.goto(f"{demo_stack.app_url}/collections?company_id={SUMMIT}&section=promises&as_of={later.isoformat()}")
    expect(tab.locator(f'tr.promise[data-entry-id="{entry["id"]}"]')).to_have_attribute("data-status", "broken")
    page.screenshot(path=str(ARTIFACTS / "promises-broken.png"), full_page=True)

    errors = page.console_errors  # type: ignore[attr-defined]
    assert not errors, "\n".join(errors)
