"""mail.py against a real SMTP server (aiosmtpd on 127.0.0.1)."""

from __future__ import annotations

from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword

from embedded_app.mail import MailError, SmtpSettings, send_message, send_test_email
from tests.fixtures.mail import ReceivedMail, SmtpServer, free_port


def test_message_arrives_with_headers_recipients_and_body(smtp_server: SmtpServer, smtp_settings) -> None:
    calls: list[str] = []
    send_message(
        smtp_settings, ["pat@harbor.test", "ap@harbor.test"], "Past due: $15,500.00",
        "Dear Pat,\n\n.leading dot line\nTotal: $15,500.00\n\nJane\n",
        reply_to="jane@acme-builders.test", message_id="<dunning.abc123@acme-builders.test>",
        headers={"X-Collections-Key": "abc123"}, before_data=lambda: calls.append("before_data"),
    )
    (got,) = smtp_server.wait_for(1)
    assert calls == ["before_data"]
    assert got.mail_from == "ar@acme-builders.test"
    assert got.rcpt_tos == ["pat@harbor.test", "ap@harbor.test"]
    m = got.message
    assert m["From"] == "Acme Builders AR <ar@acme-builders.test>"
    assert m["To"] == "pat@harbor.test, ap@harbor.test"
    assert m["Subject"] == "Past due: $15,500.00"
    assert m["Reply-To"] == "jane@acme-builders.test"
    assert m["Message-ID"] == "<dunning.abc123@acme-builders.test>"
    assert m["X-Collections-Key"] == "abc123" and m["Date"]
    assert m.get_content().replace("\r\n", "\n") == "Dear Pat,\n\n.leading dot line\nTotal: $15,500.00\n\nJane\n"


def test_reply_to_defaults_to_the_settings(smtp_server: SmtpServer, smtp_settings) -> None:
    send_message(smtp_settings, ["pat@harbor.test"], "S", "B\n")
    (got,) = smtp_server.wait_for(1)
    assert got.message["Reply-To"] == "jane@acme-builders.test"
    assert got.message["Message-ID"].endswith("@acme-builders.test>")


def test_refused_recipient_is_a_permanent_failure_before_data(smtp_server: SmtpServer, smtp_settings) -> None:
    smtp_server.handler.on_rcpt = lambda address: "550 5.1.1 no such user" if "nobody" in address else None
    calls: list[str] = []
    with pytest.raises(MailError) as info:
        send_message(smtp_settings, ["pat@harbor.test", "nobody@harbor.test"], "S", "B",
                     before_data=lambda: calls.append("x"))
    assert info.value.permanent and not info.value.uncertain
    assert "nobody@harbor.test" in str(info.value)
    assert calls == [] and smtp_server.messages == []  # all or nothing


def test_temporary_data_refusal_is_not_uncertain(smtp_server: SmtpServer, smtp_settings) -> None:
    smtp_server.handler.on_data = lambda received: "451 4.3.0 try again later"
    with pytest.raises(MailError) as info:
        send_message(smtp_settings, ["pat@harbor.test"], "S", "B")
    assert not info.value.permanent and not info.value.uncertain


def test_connection_lost_during_data_is_uncertain(smtp_server: SmtpServer, smtp_settings) -> None:
    def drop(received: ReceivedMail) -> str:
        smtp_server.handler.messages.append(received)  # the server got it...
        raise ConnectionResetError("...but the connection dies before the reply")

    smtp_server.handler.on_data = drop
    with pytest.raises(MailError) as info:
        send_message(smtp_settings, ["pat@harbor.test"], "S", "B")
    assert info.value.uncertain


def test_unreachable_server_is_a_retryable_failure() -> None:
    settings = SmtpSettings(host="127.0.0.1", port=free_port(), security="none", from_addr="ar@acme.test",
                            timeout=2)
    with pytest.raises(MailError) as info:
        send_message(settings, ["pat@harbor.test"], "S", "B")
    assert not info.value.uncertain and not info.value.permanent


def test_starttls_required_but_not_offered(smtp_server: SmtpServer) -> None:
    with pytest.raises(MailError) as info:
        send_message(smtp_server.settings(security="starttls"), ["pat@harbor.test"], "S", "B")
    assert not info.value.uncertain and smtp_server.messages == []


def test_header_injection_and_bad_addresses_are_refused(smtp_server: SmtpServer, smtp_settings) -> None:
    for to, subject in ((["pat@harbor.test"], "Hi\nBcc: x@evil.test"), (["not an address"], "Hi"),
                        (["a@b.test, x@evil.test"], "Hi")):
        with pytest.raises(MailError):
            send_message(smtp_settings, to, subject, "B")
    assert smtp_server.messages == []


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_login_and_password_never_shown(smtp_server_factory) -> None:
    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and auth_data.password == b"s3cret-pw"
        return AuthResult(success=ok, handled=False)

    server = smtp_server_factory(authenticator=authenticator, auth_require_tls=False, auth_required=True)
    send_message(server.settings(username="ar", password="s3cret-pw"), ["pat@harbor.test"], "S", "B")
    assert len(server.wait_for(1)) == 1
    bad = server.settings(username="ar", password="wrong-pw-xyz")
    assert "wrong-pw-xyz" not in repr(bad)
    with pytest.raises(MailError) as info:
        send_message(bad, ["pat@harbor.test"], "S", "B")
    assert info.value.permanent and "wrong-pw-xyz" not in str(info.value)
    assert len(server.messages) == 1


def test_send_test_email(smtp_server: SmtpServer, smtp_settings) -> None:
    message_id = send_test_email(smtp_settings, "jane@acme-builders.test", company_name="Acme Builders")
    (got,) = smtp_server.wait_for(1)
    assert got.rcpt_tos == ["jane@acme-builders.test"] and got.message["Message-ID"] == message_id
    assert "Acme Builders" in got.message["Subject"] and "works" in got.message.get_content()
