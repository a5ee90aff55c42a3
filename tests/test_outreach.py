"""Drafts and sending end to end with Flask's test client: real OAuth and sync against the stand-in over HTTP,
a real aiosmtpd server receiving the mail, the Collections Log item read back from the stand-in over HTTP."""

from __future__ import annotations

import re
import threading
from datetime import date
from html import unescape
from typing import Any

from embedded_app import collections, connection, outreach
from embedded_app.store import open_db
from embedded_app.writeback import find_collections_log

from .fixtures.mail import SmtpServer
from .fixtures.webapp import HARBORLINE, PRIYA, SUMMIT, connect, csrf_of, sync_and_wait

PASSWORD = "s3cret-smtp-pw-4711"


def _html(response: Any) -> str:
    assert response.status_code == 200, response.get_data(as_text=True)
    return unescape(response.get_data(as_text=True))


def _report(app: Any, company_id: int) -> dict[str, Any]:
    db = open_db(app.config["DATABASE"])
    try:
        return collections.build_report(db, company_id, as_of=date.today()).to_json()
    finally:
        db.conn.close()


def _due_customer(report: dict[str, Any], *, email: bool, skip: tuple[int, ...] = ()) -> dict[str, Any]:
    return next(c for c in report["customers"]
                if bool(c["email"]) == email and outreach.draft_stage(c) and c["id"] not in skip
                and any(i["open"] != "0.00" and not i["paused"] for i in c["invoices"]))


class Ui:
    """The bookkeeper's clicks as htmx requests (CSRF header from the page, HX-Request set)."""

    def __init__(self, client: Any, company_id: int) -> None:
        self.client = client
        self.company_id = company_id
        self.headers = {"X-CSRF-Token": csrf_of(client, company_id), "HX-Request": "true"}

    def get(self, path: str, **params: Any) -> str:
        return _html(self.client.get(path, query_string={"company_id": self.company_id, **params},
                                     headers=self.headers))

    def post(self, path: str, data: dict[str, Any] | None = None) -> Any:
        return self.client.post(f"{path}?company_id={self.company_id}", data=data or {}, headers=self.headers)

    def draft(self, customer_id: int) -> tuple[int, str]:
        html = _html(self.post("/outreach/drafts", {"customer_id": customer_id}))
        return int(re.search(r'data-draft-id="(\d+)"', html).group(1)), html

    def configure(self, smtp: SmtpServer, *, port: int | None = None) -> str:
        return _html(self.post("/outreach/settings", {
            "from_name": "Summit Ridge AR", "from_addr": "ar@summit-ridge.test", "reply_to": "dana@summit-ridge.test",
            "signature": "Dana\nSummit Ridge Builders", "smtp_host": smtp.host, "smtp_port": port or smtp.port,
            "smtp_security": "none", "smtp_username": "", "smtp_password": PASSWORD,
        }))


def _log_items(app: Any, user_id: int, company_id: int, project_id: int) -> list[dict[str, Any]]:
    """Read the Collections Log back from the stand-in over HTTP, as the user."""
    db = open_db(app.config["DATABASE"])
    try:
        with connection.user_client(db, app.config, user_id, company_id=company_id) as client:
            tool = find_collections_log(client, company_id)
            return client.generic_tool_items(project_id, int(tool["id"]))
    finally:
        db.conn.close()


def test_gate_settings_test_email_edit_send_exactly_once_and_collections_log(
    connected_client, standin_app, smtp_server: SmtpServer
) -> None:
    sync_and_wait(connected_client)
    ui = Ui(connected_client, SUMMIT)
    report = _report(standin_app, SUMMIT)

    # The tab has the two new sections; the queue says why nothing can be sent and links to Settings.
    tab = _html(connected_client.get(f"/collections?company_id={SUMMIT}&section=queue"))
    assert "Ready to send" in tab and "Settings" in tab and 'id="queue-body"' in tab
    due = [c for c in report["customers"] if outreach.draft_stage(c)]
    assert f"Draft reminders for everyone due ({len(due)})" in tab
    queue = ui.get("/outreach/queue")
    assert "Nothing can be sent yet" in queue
    assert "not recorded the opt-in" in queue and "No SMTP transport" in queue and "section=settings" in queue

    # Draft for a customer with an email: the editor shows the facts, but no Send button before opt-in + SMTP.
    customer = _due_customer(report, email=True)
    draft_id, editor = ui.draft(customer["id"])
    assert customer["email"] in editor and "data-send" not in editor and "Facts" in editor
    refused = _html(ui.post(f"/outreach/drafts/{draft_id}/send"))
    assert "Not sent" in refused and "opt-in" in refused and "SMTP" in refused
    assert smtp_server.messages == []

    # Settings: the password is encrypted at rest and never rendered back.
    page = ui.configure(smtp_server, port=1)  # nothing listens there: the test email's error in plain words
    assert "Settings saved" in page and PASSWORD not in page and "stored (leave empty to keep it)" in page
    db = open_db(standin_app.config["DATABASE"])
    raw = repr(db.conn.execute("select * from company_settings").fetchall())
    assert PASSWORD not in raw and "gAAAA" in raw
    failed_test = _html(ui.post("/outreach/settings/test", {"test_to": "dana@summit-ridge.test"}))
    assert "could not be sent" in failed_test and "Connection" in failed_test
    page = ui.configure(smtp_server)
    assert PASSWORD not in ui.get("/outreach/settings")
    ok_test = _html(ui.post("/outreach/settings/test", {"test_to": "dana@summit-ridge.test"}))
    assert "Test email sent to dana@summit-ridge.test" in ok_test
    assert [m.rcpt_tos for m in smtp_server.wait_for(1)] == [["dana@summit-ridge.test"]]

    # Opt-in: refused without the confirmation box, then recorded with who and when.
    assert "Tick the box" in _html(ui.post("/outreach/opt-in", {"action": "record"}))
    page = _html(ui.post("/outreach/opt-in", {"action": "record", "confirm": "yes"}))
    assert re.search(r"Recorded</strong> by \S.* on \d{4}-\d\d-\d\d", page)
    assert "Nothing can be sent yet" not in ui.get("/outreach/queue")

    # Review → edit (kept for audit) → Send: exactly one email with the edited text.
    editor = ui.get(f"/outreach/drafts/{draft_id}")
    assert "data-send" in editor
    original_body = re.search(r'<textarea name="body"[^>]*>(.*?)</textarea>', editor, re.S).group(1)
    subject = f"Past-due invoices for {customer['name']} (edited)"
    body = "Hello,\n\nA personal note from Dana.\n\n" + original_body
    saved = _html(ui.post(f"/outreach/drafts/{draft_id}", {"to": customer["email"], "subject": subject,
                                                          "body": body}))
    assert "Saved as version 1" in saved
    versions = list(db.query("select * from draft_versions where draft_id = ?", [draft_id]))
    assert len(versions) == 1 and versions[0]["subject"] == subject
    original = next(db.query("select subject, body from drafts where id = ?", [draft_id]))
    assert original["subject"] != subject  # the generated draft is kept as it was

    sent = ui.post(f"/outreach/drafts/{draft_id}/send", {"to": customer["email"], "subject": subject, "body": body})
    assert sent.headers.get("HX-Trigger") == "outbox-changed"
    sent_html = _html(sent)
    assert 'data-status="sent"' in sent_html and "Logged in Procore" in sent_html
    again = _html(ui.post(f"/outreach/drafts/{draft_id}/send", {"to": customer["email"], "subject": subject,
                                                               "body": body}))
    assert "a second click never sends a second email" in again
    mails = smtp_server.wait_for(2)
    dunning = [m for m in mails if m.message["Subject"] == subject]
    assert len(mails) == 2 and len(dunning) == 1
    message = dunning[0].message
    assert dunning[0].rcpt_tos == [customer["email"]] and message["To"] == customer["email"]
    assert message["Reply-To"] == "dana@summit-ridge.test" and "ar@summit-ridge.test" in message["From"]
    assert "A personal note from Dana." in message.get_content()
    row = next(db.query("select * from outbox where draft_id = ?", [draft_id]))
    assert row["status"] == "sent" and message["Message-ID"] == row["message_id"]
    assert row["message_id"] in sent_html and row["writeback_status"] == "done"

    # The Collections Log item exists in the stand-in, private, with title, recipients, pay apps and body.
    project_id = int(row["project_ids"].strip("[]").split(",")[0])
    items = _log_items(standin_app, 7000001, SUMMIT, project_id)
    logged = [i for i in items if str(i["id"]) in row["writeback_ref"].split(",")]
    assert len(logged) == 1 and logged[0]["private"] is True
    assert logged[0]["title"] == f"Email sent: {subject}"
    assert customer["email"] in logged[0]["description"] and row["message_id"] in logged[0]["description"]
    assert "Pay app #" in logged[0]["description"] and "A personal note from Dana." in logged[0]["description"]

    # Sent ones move to history: the queue's Sent list and the customer's side-panel history.
    queue = ui.get("/outreach/queue")
    assert f'id="draft-{draft_id}"' not in queue and row["message_id"] in queue
    history = ui.get("/outreach/history", customer_id=customer["id"])
    assert subject in history and row["message_id"] in history and "logged in Procore" in history
    contract_id = next(i["contract_id"] for i in customer["invoices"] if i["open"] != "0.00")
    panel = ui.get("/panel", view="prime_contracts.detail", id=contract_id)
    assert "Draft reminder" in panel and f"/outreach/history?company_id={SUMMIT}&customer_id={customer['id']}" in panel
    again_drafted = _html(ui.post("/outreach/drafts", {"customer_id": customer["id"]}))
    assert "emailed" in next(db.query("select facts from drafts order by id desc limit 1"))["facts"]
    redraft_id = int(re.search(r'data-draft-id="(\d+)"', again_drafted).group(1))
    resend = _html(ui.post(f"/outreach/drafts/{redraft_id}/send"))  # same customer, stage, invoices and day
    assert "was already queued today from another draft" in resend and len(smtp_server.wait_for(3, timeout=0.5)) == 2

    # Two Send requests racing for another customer: one email.
    other = _due_customer(report, email=True, skip=(customer["id"],))
    other_id, _ = ui.draft(other["id"])
    results: list[Any] = []
    clients = [connected_client, standin_app.test_client()]
    clients[1].set_cookie("collections_session", connected_client.get_cookie("collections_session").value,
                          domain="localhost")
    threads = [threading.Thread(target=lambda c=c: results.append(
        c.post(f"/outreach/drafts/{other_id}/send?company_id={SUMMIT}", headers=ui.headers))) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status_code for r in results] == [200, 200]
    assert len([m for m in smtp_server.wait_for(3) if other["email"] in m.rcpt_tos]) == 1
    assert len(smtp_server.wait_for(4, timeout=0.5)) == 3

    # A customer without an email address: flagged for a call, no Send button, and a send is refused.
    no_email = _due_customer(report, email=False)
    call_id, call_editor = ui.draft(no_email["id"])
    assert "call instead" in call_editor and "data-send" not in call_editor
    assert "no e-mail contact" in _html(ui.post(f"/outreach/drafts/{call_id}/send"))
    db.conn.close()


def test_failed_and_uncertain_sends_then_company_without_collections_log(
    standin_app, smtp_server: SmtpServer
) -> None:
    client = standin_app.test_client()
    connect(client, standin_app.standin.url, PRIYA, HARBORLINE)
    sync_and_wait(client, HARBORLINE)
    ui = Ui(client, HARBORLINE)
    report = _report(standin_app, HARBORLINE)
    ui.configure(smtp_server)
    ui.post("/outreach/opt-in", {"action": "record", "confirm": "yes"})

    # Draft for everyone due: one card per customer whose next action is an email.
    due = [c for c in report["customers"] if outreach.draft_stage(c)]
    queue = _html(ui.post("/outreach/drafts/due"))
    cards = re.findall(r'class="draft-card" id="draft-(\d+)"', queue)
    assert 0 < len(cards) <= len(due) and "Drafted" in queue
    assert re.findall(r'class="draft-card" id="draft-(\d+)"', _html(ui.post("/outreach/drafts/due"))) == cards

    # The SMTP server refuses the recipient: not sent, error shown, Retry; then it accepts.
    smtp_server.handler.on_rcpt = lambda address: "550 5.1.1 mailbox unavailable"
    db = open_db(standin_app.config["DATABASE"])
    with_email = [int(i) for i in cards
                  if next(db.query("select to_addrs from drafts where id = ?", [int(i)]))["to_addrs"] != "[]"]
    first = with_email[0]
    failed = _html(ui.post(f"/outreach/drafts/{first}/send"))
    assert 'data-status="failed"' in failed and "mailbox unavailable" in failed and "Retry" in failed
    assert smtp_server.messages == []
    row_id = int(re.search(r'data-outbox-id="(\d+)"', failed).group(1))
    smtp_server.handler.on_rcpt = None
    retried = _html(ui.post(f"/outreach/outbox/{row_id}/retry"))
    assert 'data-status="sent"' in retried and len(smtp_server.wait_for(1)) == 1

    # Company 10002 has no Collections Log type: the email is sent, the UI says it could not be logged and why.
    assert "could not be logged in Procore" in retried
    assert 'has no "Collections Log" correspondence type' in retried and "Company Admin" in retried
    row = next(db.query("select * from outbox where id = ?", [row_id]))
    assert row["status"] == "sent" and row["writeback_status"] == "failed"

    # An uncertain send (connection lost during DATA, or a crash) asks a human and never resends by itself.
    second = with_email[1]
    queued = _html(ui.post(f"/outreach/drafts/{second}/send"))
    second_row = int(re.search(r'data-outbox-id="(\d+)"', queued).group(1))
    with db.conn:
        db.conn.execute("update outbox set status = 'uncertain', last_error = 'connection lost during DATA' "
                        "where id = ?", [second_row])
    queue = ui.get("/outreach/queue")
    assert "Not sure it was delivered" in queue and "It was delivered" in queue and "It was not delivered" in queue
    not_delivered = _html(ui.post(f"/outreach/outbox/{second_row}/resolve", {"delivered": "no"}))
    assert 'data-status="failed"' in not_delivered and "Retry" in not_delivered
    before = len(smtp_server.messages)
    assert 'data-status="sent"' in _html(ui.post(f"/outreach/outbox/{second_row}/retry"))
    assert len(smtp_server.wait_for(before + 1)) == before + 1

    # Drafts are scoped by company: this draft does not exist under Summit Ridge (which Priya also sees).
    assert client.get(f"/outreach/drafts/{first}?company_id={SUMMIT}", headers=ui.headers).status_code == 404
    db.conn.close()


def test_cli_outbox_reconciles_and_delivers_queued_emails(sandbox, smtp_server: SmtpServer, tmp_path) -> None:
    import io

    from embedded_app import cli, outbox
    from embedded_app.crypto import SecretBox
    from embedded_app.drafting import draft, facts_from_customer

    from .test_drafting import COMPANY, PROJECTS, customer

    env = {"DATABASE": str(tmp_path / "cli.sqlite"), "SECRET_KEY": "cli-secret",
           "PROCORE_API_URL": sandbox.url, "PROCORE_LOGIN_URL": sandbox.url,
           "PROCORE_CLIENT_ID": "demo-service-account", "PROCORE_CLIENT_SECRET": "demo-service-secret"}
    db = open_db(env["DATABASE"])
    outbox.save_settings(db, SUMMIT, box=SecretBox("cli-secret"), updated_by=1, smtp_host=smtp_server.host,
                         smtp_port=smtp_server.port, smtp_security="none", from_addr="ar@summit-ridge.test")
    outbox.record_opt_in(db, SUMMIT, user_id=1, user_name="Alex Admin")
    facts = facts_from_customer(customer(), company=COMPANY, projects=PROJECTS, as_of="2026-11-15")
    row, _ = outbox.queue_draft(db, SUMMIT, outbox.save_draft(db, SUMMIT, facts, draft(facts), created_by=1),
                                queued_by=1)
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["outbox", "--company-id", str(SUMMIT), "--reconcile", "--deliver"], env, stdout=out, stderr=err)
    assert code == cli.EXIT_OK, err.getvalue()
    assert "reconciled: 0 failed" in out.getvalue() and "delivered 1 of 1" in out.getvalue()
    assert f"outbox {row['id']}: sent {row['message_id']}" in out.getvalue()
    # the seed has no project 101: the email is sent, the log failure is reported and kept for a retry
    assert "not logged in Procore" in out.getvalue()
    assert len(smtp_server.wait_for(1)) == 1
    code = cli.main(["outbox", "--company-id", str(SUMMIT), "--deliver"], env, stdout=out, stderr=err)
    assert code == cli.EXIT_OK and len(smtp_server.wait_for(2, timeout=0.5)) == 1
    db.conn.close()
