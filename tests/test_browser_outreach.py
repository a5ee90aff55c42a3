"""Ready to send in a real browser, framed by the Procore-like host page: connect → refresh → Settings (opt-in,
mail server) → draft reminders for everyone due → review and edit → Send (double-clicked) → exactly one email
arrives at a real SMTP server and a Collections Log item exists in the stand-in."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from embedded_app import connection
from embedded_app.store import open_db
from embedded_app.writeback import find_collections_log

from .fixtures.browser import ARTIFACTS, start_demo_stack
from .fixtures.mail import SmtpServer
from .fixtures.webapp import DANA, SUMMIT
from .test_browser_collections import connect_in_popup

pytestmark = pytest.mark.browser


def test_queue_edit_send_mail_arrives_and_collections_log_item_exists(
    seed_dataset, tmp_path, page, smtp_server: SmtpServer
) -> None:
    stack = start_demo_stack(seed_dataset, tmp_path, SMTP_HOST=smtp_server.host, SMTP_PORT=smtp_server.port,
                             SMTP_STARTTLS=False, SMTP_FROM="ar@summit-ridge.test")
    try:
        page.goto(stack.host_url + "/")
        frame = page.frame_locator("#fullscreen-app")
        connect_in_popup(page, frame)
        frame.get_by_role("button", name="Refresh from Procore").click(timeout=15000)
        frame.get_by_role("link", name="Refresh finished: show the new numbers").click(timeout=180000)
        frame.locator("#aging-table").wait_for()

        # Ready to send: nothing can go out yet, and the queue says why.
        frame.get_by_role("link", name="Ready to send").click()
        expect(frame.get_by_text("Nothing can be sent yet")).to_be_visible(timeout=15000)

        # Settings: record the opt-in, save the (prefilled) mail server with a reply-to.
        frame.get_by_role("link", name="Settings", exact=True).click()
        frame.get_by_label("On behalf of my company").check(timeout=15000)
        frame.get_by_role("button", name="Record the opt-in").click()
        expect(frame.get_by_text(re.compile(r"Recorded by .+ on \d{4}-"))).to_be_visible(timeout=15000)
        assert frame.get_by_label("SMTP server").input_value() == smtp_server.host
        frame.get_by_label("Reply-to").fill("dana@summit-ridge.test")
        frame.get_by_role("button", name="Save mail settings").click()
        expect(frame.get_by_text("Settings saved")).to_be_visible(timeout=15000)

        # Draft for everyone due, review the first card with an email address, edit, double-click Send.
        frame.get_by_role("link", name="Ready to send").click()
        frame.get_by_role("button", name=re.compile(r"Draft reminders for everyone due")).click(timeout=15000)
        card = frame.locator("article.draft-card:not(:has(.badge-warn))").first
        card.wait_for(timeout=60000)
        draft_id = card.get_attribute("data-draft-id")
        card.get_by_role("button", name="Review").click()
        editor = frame.locator(f"article.draft-editor#draft-{draft_id}")
        expect(editor.get_by_text("Facts", exact=True)).to_be_visible(timeout=15000)
        to = editor.get_by_label("To", exact=True).input_value()
        subject = "Past-due pay apps: a note from Dana"
        editor.get_by_label("Subject", exact=True).fill(subject)
        body = editor.locator("textarea[name=body]")
        body.fill("Hello,\n\nI edited this one by hand.\n\n" + body.input_value())
        editor.get_by_role("button", name="Send").dblclick()
        result = frame.locator(".send-result [data-status='sent']")
        expect(result).to_be_visible(timeout=30000)
        expect(result.get_by_text("Logged in Procore")).to_be_visible()
        message_id = result.locator(".message-id").inner_text()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "ready-to-send.png"), full_page=True)

        # Exactly one email, the edited one, to the owner's Procore address, with the bookkeeper's reply-to.
        mails = smtp_server.wait_for(1)
        smtp_server.wait_for(2, timeout=1.0)
        assert len(smtp_server.messages) == 1, [m.message["Subject"] for m in smtp_server.messages]
        message = mails[0].message
        assert message["Subject"] == subject and message["Message-ID"] == message_id
        assert mails[0].rcpt_tos == [to] and message["Reply-To"] == "dana@summit-ridge.test"
        assert "I edited this one by hand." in message.get_content()
        expect(frame.locator(".sent-list").get_by_text(message_id)).to_be_visible(timeout=15000)

        # The Collections Log item exists in the stand-in (read back over HTTP as the bookkeeper).
        db = open_db(stack.app.config["DATABASE"])
        row = next(db.query("select project_ids, writeback_ref from outbox where draft_id = ?", [int(draft_id)]))
        project_id = int(row["project_ids"].strip("[]").split(",")[0])
        with connection.user_client(db, stack.app.config, DANA, company_id=SUMMIT) as client:
            tool = find_collections_log(client, SUMMIT)
            items = client.generic_tool_items(project_id, int(tool["id"]))
        db.conn.close()
        logged = [i for i in items if str(i["id"]) in row["writeback_ref"].split(",")]
        assert len(logged) == 1 and logged[0]["title"] == f"Email sent: {subject}" and logged[0]["private"]
        assert message_id in logged[0]["description"]

        errors = page.console_errors  # type: ignore[attr-defined]
        assert not errors, "\n".join(errors)
    finally:
        stack.stop()
