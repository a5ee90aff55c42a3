"""Outbox: opt-in gate, settings at rest, drafts with edits, exactly-once delivery to a real SMTP server."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from embedded_app import outbox
from embedded_app.crypto import SecretBox
from embedded_app.drafting import draft, facts_from_customer
from embedded_app.store import open_db
from tests.fixtures.mail import ReceivedMail, SmtpServer
from tests.test_drafting import COMPANY, PROJECTS, customer

COMPANY_ID = 42
SECRET = "test-secret"
DAY = date(2026, 11, 15)
LATER = datetime.now(UTC) + timedelta(minutes=10)  # "now" for reconcile: every claim is older than 5 minutes


@pytest.fixture
def box() -> SecretBox:
    return SecretBox(SECRET)


@pytest.fixture
def db_path(tmp_path) -> str:
    return str(tmp_path / "app.sqlite")


@pytest.fixture
def db(db_path):
    database = open_db(db_path)
    yield database
    database.conn.close()


@pytest.fixture
def configured(db, box, smtp_server: SmtpServer):
    """A company with SMTP pointing at the test server and the opt-in recorded."""
    outbox.save_settings(
        db, COMPANY_ID, box=box, updated_by=1, smtp_host=smtp_server.host, smtp_port=smtp_server.port,
        smtp_security="none", smtp_username=None, smtp_password="", from_addr="ar@acme-builders.test",
        from_name="Acme Builders AR", reply_to="jane@acme-builders.test", signature="Jane Doe",
    )
    outbox.record_opt_in(db, COMPANY_ID, user_id=1, user_name="Alex Admin")
    return db


def saved_draft(db, **customer_overrides: Any) -> int:
    facts = facts_from_customer(customer(**customer_overrides), company=COMPANY, projects=PROJECTS,
                                as_of="2026-11-15")
    return outbox.save_draft(db, COMPANY_ID, facts, draft(facts), created_by=5)


def queued_row(db, **customer_overrides: Any) -> dict[str, Any]:
    row, created = outbox.queue_draft(db, COMPANY_ID, saved_draft(db, **customer_overrides), queued_by=5, day=DAY)
    assert created
    return row


# --- settings and the gate -------------------------------------------------------------------------------------

def test_smtp_password_is_encrypted_at_rest_and_never_shown(db, box) -> None:
    shown = outbox.save_settings(db, COMPANY_ID, box=box, updated_by=1, smtp_host="smtp.acme.test",
                                 smtp_port=465, smtp_security="ssl", smtp_username="ar",
                                 smtp_password="hunter2-secret", from_addr="ar@acme.test")
    raw = db.conn.execute("select * from company_settings").fetchall()
    assert "hunter2-secret" not in repr(raw)
    assert shown["has_smtp_password"] and "smtp_password_enc" not in shown
    smtp = outbox.smtp_settings_for(db, COMPANY_ID, box)
    assert smtp is not None and smtp.password == "hunter2-secret" and smtp.security == "ssl"
    assert "hunter2-secret" not in repr(smtp)
    outbox.save_settings(db, COMPANY_ID, box=box, updated_by=1, signature="Jane")  # None keeps the password
    assert outbox.smtp_settings_for(db, COMPANY_ID, box).password == "hunter2-secret"
    with pytest.raises(ValueError):
        outbox.smtp_settings_for(db, COMPANY_ID, SecretBox("another key"))
    with pytest.raises(ValueError):
        outbox.save_settings(db, COMPANY_ID, box=box, updated_by=1, reply_to="not-an-address")


def test_opt_in_records_who_and_when_and_can_be_revoked(db) -> None:
    shown = outbox.record_opt_in(db, COMPANY_ID, user_id=1, user_name="Alex Admin")
    assert shown["opted_in"] and shown["opt_in_by"] == 1 and shown["opt_in_by_name"] == "Alex Admin"
    assert shown["opt_in_at"].endswith("Z")
    shown = outbox.revoke_opt_in(db, COMPANY_ID, user_id=2, user_name="Sam")
    assert not shown["opted_in"]
    assert [(e["action"], e["user_name"]) for e in shown["opt_in_history"]] == [
        ("opt_in", "Alex Admin"), ("revoke", "Sam")]


def test_gate_refuses_without_opt_in_or_transport(db, box, smtp_server: SmtpServer) -> None:
    draft_id = saved_draft(db)
    with pytest.raises(outbox.SendRefused) as info:
        outbox.queue_draft(db, COMPANY_ID, draft_id, queued_by=5, day=DAY)
    assert len(info.value.reasons) == 2  # no opt-in, no transport
    outbox.record_opt_in(db, COMPANY_ID, user_id=1, user_name="Alex Admin")
    with pytest.raises(outbox.SendRefused, match="SMTP"):
        outbox.queue_draft(db, COMPANY_ID, draft_id, queued_by=5, day=DAY)
    outbox.save_settings(db, COMPANY_ID, box=box, updated_by=1, smtp_host=smtp_server.host,
                         smtp_port=smtp_server.port, smtp_security="none", from_addr="ar@acme-builders.test")
    row, _ = outbox.queue_draft(db, COMPANY_ID, draft_id, queued_by=5, day=DAY)
    # opt-in revoked between queue and send: delivery refuses too
    outbox.revoke_opt_in(db, COMPANY_ID, user_id=1, user_name="Alex Admin")
    with pytest.raises(outbox.SendRefused, match="opt-in"):
        outbox.deliver(db, COMPANY_ID, row["id"], box=box)
    assert smtp_server.messages == [] and outbox.outbox_rows(db, COMPANY_ID)[0]["status"] == "queued"


def test_customer_without_email_is_flagged_for_a_call(configured) -> None:
    draft_id = saved_draft(configured, email=None)
    assert outbox.get_draft(configured, COMPANY_ID, draft_id)["current"]["to"] == []
    with pytest.raises(outbox.SendRefused, match="call"):
        outbox.queue_draft(configured, COMPANY_ID, draft_id, queued_by=5, day=DAY)


# --- drafts, edits, send ---------------------------------------------------------------------------------------

def test_edit_is_kept_for_audit_and_the_edited_version_is_sent(configured, box, smtp_server: SmtpServer) -> None:
    db = configured
    draft_id = saved_draft(db)
    original = outbox.get_draft(db, COMPANY_ID, draft_id)
    assert original["source"] == "template" and original["current"]["version"] == 0
    result = outbox.edit_draft(db, COMPANY_ID, draft_id, subject="Invoices past due",
                               body=original["body"] + "\nPS: we also noticed $1.00 extra.\n",
                               to=["pat@harbor.test", "ap@harbor.test"], edited_by=6)
    assert result["version"] == 1 and any("$1.00" in w for w in result["warnings"])  # shown, not blocking
    result = outbox.edit_draft(db, COMPANY_ID, draft_id, subject="Invoices past due (2)",
                               body=original["body"], to=["pat@harbor.test"], edited_by=6)
    assert result == {"version": 2, "warnings": []}
    with pytest.raises(ValueError):
        outbox.edit_draft(db, COMPANY_ID, draft_id, subject="x", body="y", to=["x@evil.test\nBcc: y@z.test"],
                          edited_by=6)
    got = outbox.get_draft(db, COMPANY_ID, draft_id)
    assert got["subject"] == original["subject"]  # the original stays as generated
    assert [v["subject"] for v in got["versions"]] == ["Invoices past due", "Invoices past due (2)"]
    assert got["versions"][0]["to_addrs"] == ["pat@harbor.test", "ap@harbor.test"]
    assert got["versions"][0]["edited_by"] == 6 and got["current"]["version"] == 2

    row, created = outbox.queue_draft(db, COMPANY_ID, draft_id, queued_by=5, day=DAY)
    assert created and row["status"] == "queued" and row["draft_version"] == 2
    written_back: list[dict[str, Any]] = []

    def after_send(sent_row: dict[str, Any]) -> int:
        written_back.append(sent_row)
        return 9001  # e.g. the Collections Log item id

    sent = outbox.deliver(db, COMPANY_ID, row["id"], box=box, after_send=after_send)
    assert sent["status"] == "sent" and sent["sent_at"] and sent["attempts"] == 1
    assert sent["writeback_status"] == "done" and sent["writeback_ref"] == "9001"
    assert written_back[0]["status"] == "sent" and written_back[0]["invoice_ids"] == [11, 12]
    assert written_back[0]["project_ids"] == [101, 102]
    (mail,) = smtp_server.wait_for(1)
    assert mail.rcpt_tos == ["pat@harbor.test"]
    assert mail.message["Subject"] == "Invoices past due (2)"
    assert mail.message["Reply-To"] == "jane@acme-builders.test"
    key = outbox.idempotency_key(COMPANY_ID, 7, "first_notice", [12, 11], DAY)
    assert mail.message["Message-ID"] == f"<dunning.{key}@acme-builders.test>" == row["message_id"]
    assert "$12,500.00" in mail.message.get_content()
    assert [e["event"] for e in outbox.outbox_events(db, COMPANY_ID, row["id"])] == [
        "queued", "claimed", "sent", "writeback_done"]


def test_idempotency_key() -> None:
    k = outbox.idempotency_key(42, 7, "first_notice", [12, 11], DAY)
    assert k == outbox.idempotency_key(42, 7, "first_notice", [11, 12, 11], "2026-11-15")
    assert k != outbox.idempotency_key(42, 7, "first_notice", [11, 12], date(2026, 11, 16))
    assert k != outbox.idempotency_key(42, 7, "second_notice", [11, 12], DAY)
    assert k != outbox.idempotency_key(43, 7, "first_notice", [11, 12], DAY)
    assert k != outbox.idempotency_key(42, 7, "first_notice", [11], DAY)


# --- exactly once ----------------------------------------------------------------------------------------------

def test_double_click_queues_and_sends_once(configured, box, smtp_server: SmtpServer) -> None:
    db = configured
    draft_id = saved_draft(db)
    first, created1 = outbox.queue_draft(db, COMPANY_ID, draft_id, queued_by=5, day=DAY)
    second, created2 = outbox.queue_draft(db, COMPANY_ID, draft_id, queued_by=5, day=DAY)
    assert created1 and not created2 and first["id"] == second["id"]
    # a second draft for the same customer, stage and invoices on the same day is the same email
    _, created3 = outbox.queue_draft(db, COMPANY_ID, saved_draft(db), queued_by=5, day=DAY)
    assert not created3
    assert outbox.deliver(db, COMPANY_ID, first["id"], box=box)["status"] == "sent"
    assert outbox.deliver(db, COMPANY_ID, first["id"], box=box)["status"] == "sent"
    assert len(smtp_server.wait_for(1)) == 1
    time.sleep(0.2)
    assert len(smtp_server.messages) == 1
    assert len(outbox.outbox_rows(db, COMPANY_ID)) == 1


def test_concurrent_deliveries_send_once(configured, db_path, box, smtp_server: SmtpServer) -> None:
    row = queued_row(configured)
    barrier = threading.Barrier(4)
    results: list[str] = []

    def worker() -> None:
        conn = open_db(db_path)
        barrier.wait()
        results.append(outbox.deliver(conn, COMPANY_ID, row["id"], box=box)["status"])
        conn.conn.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(results) == 4 and "sent" in results
    time.sleep(0.2)
    assert len(smtp_server.messages) == 1
    assert outbox.outbox_rows(configured, COMPANY_ID)[0]["attempts"] == 1


def test_smtp_failure_keeps_the_email_with_the_error_and_retry_sends_once(configured, box,
                                                                          smtp_server: SmtpServer) -> None:
    db = configured
    row = queued_row(db)
    smtp_server.handler.on_data = lambda received: "451 4.7.1 greylisted, try again later"
    failed = outbox.deliver(db, COMPANY_ID, row["id"], box=box)
    assert failed["status"] == "failed" and "greylisted" in failed["last_error"]
    assert smtp_server.messages == []
    smtp_server.handler.on_data = None
    sent = outbox.deliver(db, COMPANY_ID, row["id"], box=box)
    assert sent["status"] == "sent" and sent["attempts"] == 2 and sent["last_error"] is None
    assert len(smtp_server.wait_for(1)) == 1


def test_connection_lost_during_data_is_uncertain_and_not_resent(configured, box, smtp_server: SmtpServer) -> None:
    db = configured
    row = queued_row(db)

    def drop(received: ReceivedMail) -> str:
        smtp_server.handler.messages.append(received)
        raise ConnectionResetError("gone")

    smtp_server.handler.on_data = drop
    got = outbox.deliver(db, COMPANY_ID, row["id"], box=box)
    assert got["status"] == "uncertain" and got["data_started_at"]
    smtp_server.handler.on_data = None
    assert outbox.deliver(db, COMPANY_ID, row["id"], box=box)["status"] == "uncertain"  # no blind resend
    assert len(smtp_server.messages) == 1
    hook: list[int] = []
    resolved = outbox.resolve_uncertain(db, COMPANY_ID, row["id"], delivered=True, by=6,
                                        after_send=lambda r: hook.append(r["id"]))
    assert resolved["status"] == "sent" and resolved["resolved_by"] == 6 and hook == [row["id"]]
    with pytest.raises(ValueError):
        outbox.resolve_uncertain(db, COMPANY_ID, row["id"], delivered=False, by=6)


DELIVER_SCRIPT = (
    "import sys\n"
    "from embedded_app import outbox\n"
    "from embedded_app.crypto import SecretBox\n"
    "from embedded_app.store import open_db\n"
    "outbox.deliver(open_db(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), box=SecretBox(sys.argv[4]))\n"
)


def start_deliver_process(db_path: str, row_id: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", DELIVER_SCRIPT, db_path, str(COMPANY_ID), str(row_id), SECRET],
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )


def test_crash_after_smtp_accept_is_reconciled_as_uncertain(configured, db_path, box,
                                                            smtp_server: SmtpServer) -> None:
    """The process dies after the server accepted the mail but before 'sent' was recorded: one email only."""
    db = configured
    row = queued_row(db)
    lock: dict[str, sqlite3.Connection] = {}

    def accept_then_block_the_record(received: ReceivedMail) -> None:
        # hold the database write lock so the sender cannot record 'sent' after our 250 reply
        conn = sqlite3.connect(db_path, check_same_thread=False, isolation_level=None)
        conn.execute("begin immediate")
        lock["conn"] = conn
        return None  # → 250 accepted

    smtp_server.handler.on_data = accept_then_block_the_record
    proc = start_deliver_process(db_path, row["id"])
    try:
        assert len(smtp_server.wait_for(1, timeout=20)) == 1
        time.sleep(0.3)  # the sender has its 250 and now waits for the lock
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
        if "conn" in lock:
            lock["conn"].execute("rollback")
            lock["conn"].close()
    smtp_server.handler.on_data = None

    stuck = outbox.outbox_rows(db, COMPANY_ID)[0]
    assert stuck["status"] == "sending" and stuck["data_started_at"]
    assert outbox.reconcile(db, now=datetime.now(UTC)) == {"failed": 0, "uncertain": 0}  # too fresh to judge
    assert outbox.reconcile(db, now=LATER) == {"failed": 0, "uncertain": 1}
    got = outbox.deliver(db, COMPANY_ID, row["id"], box=box)
    assert got["status"] == "uncertain" and "may have been delivered" in got["last_error"]
    time.sleep(0.2)
    assert len(smtp_server.messages) == 1
    assert outbox.resolve_uncertain(db, COMPANY_ID, row["id"], delivered=True, by=6)["status"] == "sent"


def test_crash_before_data_is_provably_unsent_and_retried_once(configured, db_path, box,
                                                               smtp_server: SmtpServer) -> None:
    db = configured
    row = queued_row(db)
    proc_holder: dict[str, subprocess.Popen] = {}

    def die_at_rcpt(address: str) -> str:
        deadline = time.monotonic() + 10
        while "proc" not in proc_holder and time.monotonic() < deadline:
            time.sleep(0.01)
        proc_holder["proc"].send_signal(signal.SIGKILL)
        proc_holder["proc"].wait(10)
        return "421 4.3.2 shutting down"

    smtp_server.handler.on_rcpt = die_at_rcpt
    proc = start_deliver_process(db_path, row["id"])
    proc_holder["proc"] = proc
    try:
        proc.wait(20)
    finally:
        if proc.poll() is None:
            proc.kill()
    smtp_server.handler.on_rcpt = None
    stuck = outbox.outbox_rows(db, COMPANY_ID)[0]
    assert stuck["status"] == "sending" and not stuck["data_started_at"]
    assert outbox.reconcile(db, now=LATER) == {"failed": 1, "uncertain": 0}
    assert "not delivered" in outbox.outbox_rows(db, COMPANY_ID)[0]["last_error"]
    assert outbox.deliver(db, COMPANY_ID, row["id"], box=box)["status"] == "sent"
    assert outbox.deliver(db, COMPANY_ID, row["id"], box=box)["status"] == "sent"
    time.sleep(0.2)
    assert len(smtp_server.messages) == 1


def test_failed_write_back_does_not_unsend_and_can_be_retried(configured, box, smtp_server: SmtpServer) -> None:
    db = configured
    row = queued_row(db)

    def broken(_row: dict[str, Any]) -> None:
        raise RuntimeError("Procore 503")

    sent = outbox.deliver(db, COMPANY_ID, row["id"], box=box, after_send=broken)
    assert sent["status"] == "sent" and sent["writeback_status"] == "failed"
    assert "Procore 503" in sent["writeback_error"]
    again = outbox.retry_writeback(db, COMPANY_ID, row["id"], lambda r: "item-77")
    assert again["writeback_status"] == "done" and again["writeback_ref"] == "item-77"
    assert outbox.retry_writeback(db, COMPANY_ID, row["id"], broken)["writeback_status"] == "done"  # no rerun
    assert len(smtp_server.wait_for(1)) == 1


def test_rows_are_scoped_by_company(configured, box) -> None:
    row = queued_row(configured)
    with pytest.raises(LookupError):
        outbox.deliver(configured, COMPANY_ID + 1, row["id"], box=box)
    assert outbox.outbox_rows(configured, COMPANY_ID + 1) == []
    assert outbox.get_draft(configured, COMPANY_ID + 1, row["draft_id"]) is None
    assert outbox.cancel(configured, COMPANY_ID, row["id"])
    assert outbox.deliver(configured, COMPANY_ID, row["id"], box=box)["status"] == "cancelled"


def test_send_test_records_the_outcome(configured, box, smtp_server: SmtpServer) -> None:
    assert outbox.send_test(configured, COMPANY_ID, box, "jane@acme-builders.test") == (True, None)
    assert len(smtp_server.wait_for(1)) == 1
    shown = outbox.public_settings(configured, COMPANY_ID)
    assert shown["test_email_ok"] == 1 and shown["test_email_at"]
    smtp_server.handler.on_rcpt = lambda address: "550 5.7.1 relaying denied"
    ok, error = outbox.send_test(configured, COMPANY_ID, box, "someone@else.test")
    assert not ok and "relaying denied" in error
    assert outbox.public_settings(configured, COMPANY_ID)["test_email_ok"] == 0
