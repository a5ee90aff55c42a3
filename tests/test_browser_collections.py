"""The bookkeeper's morning, in a real browser: Procore-like host page (another site) → framed Collections tab →
Connect (popup, stand-in consent) → refresh with visible progress → totals equal the CLI's JSON → filter to
"needs a call" → side panel on a prime contract shows that contract's numbers and follows navigation."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from playwright.sync_api import expect

from embedded_app.store import open_db

from .fixtures.browser import ARTIFACTS
from .fixtures.webapp import DANA, SUMMIT

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[1]


def cli_aging(stack, tmp_path, as_of: str) -> dict:
    env = {
        **os.environ, "PROCORE_API_URL": stack.standin.url, "PROCORE_LOGIN_URL": stack.standin.url,
        "PROCORE_CLIENT_ID": "demo-service-account", "PROCORE_CLIENT_SECRET": "demo-service-secret",
        "DATABASE": str(tmp_path / "cli.sqlite"), "SECRET_KEY": "cli-secret",
    }
    out = subprocess.run(
        [sys.executable, "-m", "embedded_app", "aging", "--company-id", str(SUMMIT), "--as-of", as_of, "--json"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=True,
    )
    return json.loads(out.stdout)


def connect_in_popup(page, frame):
    with page.context.expect_page() as popup_info:
        frame.get_by_role("button", name="Connect to Procore").click()
    popup = popup_info.value
    popup.wait_for_load_state()
    popup.locator(f'input[name="user_id"][value="{DANA}"]').check()
    popup.get_by_role("button", name="Allow").click()
    popup.wait_for_event("close", timeout=15000)


def test_tab_connect_sync_totals_filter_and_panel(demo_stack, page, tmp_path):
    page.goto(demo_stack.host_url + "/")
    frame = page.frame_locator("#fullscreen-app")
    connect_in_popup(page, frame)

    # Back in the iframe: connected, first run, nothing loaded yet.
    frame.get_by_text("Welcome to Collections").wait_for(timeout=15000)
    db = open_db(demo_stack.app.config["DATABASE"])
    token_row = next(db.query("select access_token_enc from oauth_tokens where owner = ?", [f"user:{DANA}"]))
    assert token_row["access_token_enc"].startswith("gAAAA")

    # Refresh from Procore: progress shows while the page stays usable, then the numbers arrive.
    frame.get_by_role("button", name="Refresh from Procore").click()
    frame.get_by_text("Refreshing from Procore: project").wait_for(timeout=15000)
    frame.get_by_role("link", name="Refresh finished: show the new numbers").click(timeout=180000)
    frame.locator("#aging-table").wait_for()

    as_of = date.today().isoformat()
    expected = cli_aging(demo_stack, tmp_path, as_of)
    for key in ("open", "past_due", "retainage"):
        shown = frame.locator(f'.metrics [data-total="{key}"]').get_attribute("data-value")
        assert shown == expected["totals"][key], key
    for bucket in ("current", "1_30", "31_60", "61_90", "91_plus"):
        shown = frame.locator(f'tfoot [data-total="{bucket}"]').get_attribute("data-value")
        assert shown == expected["totals"][bucket], bucket
    assert frame.locator("tr.customer").count() == len(expected["customers"])

    # Expand a customer to its invoices.
    first = frame.locator("tr.customer").first
    first.get_by_role("button").click()
    assert first.get_by_role("button").get_attribute("aria-expanded") == "true"

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "collections-tab.png"), full_page=True)

    # Filter to "needs a call" (htmx swaps the section in place).
    frame.get_by_label("Needs a call").check()
    flagged = [c for c in expected["customers"] if c["flags"]]
    expect(frame.locator("tr.customer")).to_have_count(len(flagged), timeout=15000)
    for row in frame.locator("tr.customer td.flags").all():
        assert row.locator(".flag").count() >= 1

    # Side panel on a prime contract with open invoices.
    customer = next(c for c in expected["customers"] if any(i["open"] != "0.00" for i in c["invoices"]))
    invoice = next(i for i in customer["invoices"] if i["open"] != "0.00")
    contract_open = sum(float(i["open"]) for i in customer["invoices"] if i["contract_id"] == invoice["contract_id"])
    page.goto(f"{demo_stack.host_url}/?company_id={SUMMIT}&view=contract&contract_id={invoice['contract_id']}")
    panel = page.frame_locator("#side-panel")
    panel.locator(f'[data-contract-id="{invoice["contract_id"]}"]').wait_for(timeout=15000)
    assert panel.locator(f'[data-value="{contract_open:.2f}"]').count() >= 1
    assert panel.get_by_text(customer["name"], exact=False).count() >= 1
    page.screenshot(path=str(ARTIFACTS / "side-panel.png"))

    # Hiding and showing the panel (Procore sends hidden/visible) never wipes a half-filled form.
    panel.get_by_role("button", name="Log call").click()
    note = panel.get_by_label("Note")
    note.fill("Spoke to AP, cheque run on Friday")
    page.get_by_role("button", name="Hide panel").click()
    page.get_by_role("button", name="Show panel").click()
    page.wait_for_timeout(500)
    assert note.input_value() == "Spoke to AP, cheque run on Friday"

    # Navigating to another contract sends a new setup context: the panel follows without a reload.
    picker = page.locator("#contract-picker")
    other = picker.locator("option").nth(1 if picker.input_value() != picker.locator("option").nth(1)
                                         .get_attribute("value") else 0).get_attribute("value")
    picker.select_option(other)
    panel.locator(f'[data-contract-id="{other}"], .panel-empty').first.wait_for(timeout=15000)

    errors = page.console_errors  # type: ignore[attr-defined]
    assert not errors, "\n".join(errors)


def test_sign_in_works_when_procore_returns_the_code_in_the_fragment(demo_stack, page):
    """Procore's docs say the code arrives as a URL fragment; the callback page must cope with both."""
    rewritten: list[str] = []

    def to_fragment(route, request):
        if request.method != "POST":
            route.continue_()
            return
        # The consent form's answer is a redirect to ?code=…&state=…: hand the browser #code=…&state=… instead.
        answer = route.fetch(max_redirects=0)
        location = answer.headers["location"]
        rewritten.append(location)
        path, query = location.split("?", 1)
        route.fulfill(status=302, headers={"Location": f"{path}#{query}"})

    page.context.route(re.compile(r"/oauth/authorize$"), to_fragment)
    page.goto(demo_stack.host_url + "/")
    frame = page.frame_locator("#fullscreen-app")
    connect_in_popup(page, frame)
    frame.get_by_text("Welcome to Collections").wait_for(timeout=15000)
    assert len(rewritten) == 1 and "code=" in rewritten[0]
    errors = page.console_errors  # type: ignore[attr-defined]
    assert not errors, "\n".join(errors)
