"""Outgoing mail over SMTP: the only module that speaks SMTP. No Flask; callable from views, CLI and jobs.

``send_message`` sends step by step (EHLO, STARTTLS/SSL, AUTH, MAIL, RCPT, DATA) so a failure can be classified:
anything before DATA is proven not delivered (safe to retry); a connection lost during or after DATA is
*uncertain* (the server may have accepted the message) — the outbox then asks a human instead of resending.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid, parseaddr
from typing import Literal

EMAIL_RE = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+$")


def valid_address(address: str) -> bool:
    return bool(EMAIL_RE.match(address or ""))


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 587
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # never printed
    from_addr: str = ""
    from_name: str | None = None
    reply_to: str | None = None
    timeout: float = 30.0

    @property
    def domain(self) -> str:
        return (parseaddr(self.from_addr)[1].rpartition("@")[2] or "localhost").lower()


class MailError(Exception):
    """Sending failed. ``uncertain``: the server may have accepted it; ``permanent``: a 5xx refusal."""

    def __init__(self, message: str, *, uncertain: bool = False, permanent: bool = False) -> None:
        super().__init__(message)
        self.uncertain = uncertain
        self.permanent = permanent


def build_message(
    settings: SmtpSettings,
    to: Sequence[str],
    subject: str,
    body: str,
    *,
    reply_to: str | None = None,
    message_id: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> EmailMessage:
    if not to:
        raise MailError("no recipients", permanent=True)
    for name, value in [("Subject", subject), *(headers or {}).items()]:
        if "\n" in value or "\r" in value:
            raise MailError(f"the {name} header must be a single line", permanent=True)
    for address in [*to, settings.from_addr, *([reply_to] if reply_to else [])]:
        if not valid_address(address):
            raise MailError(f"invalid e-mail address: {address!r}", permanent=True)
    msg = EmailMessage()
    msg["From"] = formataddr((settings.from_name, settings.from_addr)) if settings.from_name else settings.from_addr
    msg["To"] = ", ".join(to)
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime.now().astimezone())
    msg["Message-ID"] = message_id or make_msgid(domain=settings.domain)
    effective_reply_to = reply_to or settings.reply_to
    if effective_reply_to:
        msg["Reply-To"] = effective_reply_to
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    return msg


def _connect(settings: SmtpSettings) -> smtplib.SMTP:
    context = ssl.create_default_context()
    if settings.security == "ssl":
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout,
                                              context=context)
    else:
        smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
    smtp.ehlo()
    if settings.security == "starttls":
        smtp.starttls(context=context)
        smtp.ehlo()
    if settings.username:
        smtp.login(settings.username, settings.password or "")
    return smtp


def _error_text(exc: BaseException, settings: SmtpSettings) -> str:
    text = f"{type(exc).__name__}: {exc}"
    if settings.password:
        text = text.replace(settings.password, "[password]")
    return text


def send_message(
    settings: SmtpSettings,
    to: Sequence[str],
    subject: str,
    body: str,
    reply_to: str | None = None,
    message_id: str | None = None,
    headers: Mapping[str, str] | None = None,
    *,
    before_data: Callable[[], None] | None = None,
) -> None:
    """Send one plain-text message. Raises ``MailError`` (see its flags) on failure.

    ``before_data`` is called after the envelope was accepted and just before DATA: the outbox records there
    that a delivery may be in flight (anything that fails before it is provably not delivered).
    """
    msg = build_message(settings, to, subject, body, reply_to=reply_to, message_id=message_id, headers=headers)
    smtp: smtplib.SMTP | None = None
    try:
        smtp = _connect(settings)
        code, resp = smtp.mail(settings.from_addr)
        if code != 250:
            raise MailError(f"MAIL FROM refused: {code} {resp!r}", permanent=500 <= code < 600)
        accepted = 0
        refusals = []
        for rcpt in to:
            code, resp = smtp.rcpt(rcpt)
            if code in (250, 251):
                accepted += 1
            else:
                refusals.append(f"{rcpt}: {code} {resp.decode(errors='replace')}")
        if refusals:  # all or nothing: a partly addressed dunning email is not what the user approved
            smtp.rset()
            raise MailError("recipient refused: " + "; ".join(refusals),
                            permanent=all(" 5" in r for r in refusals))
    except MailError:
        _quit(smtp)
        raise
    except (smtplib.SMTPException, OSError) as exc:
        _quit(smtp)
        permanent = isinstance(exc, smtplib.SMTPResponseException) and 500 <= exc.smtp_code < 600
        raise MailError(_error_text(exc, settings), permanent=permanent) from exc
    assert smtp is not None
    if before_data is not None:
        try:
            before_data()
        except BaseException:
            _quit(smtp)
            raise
    try:
        code, resp = smtp.data(msg.as_bytes(policy=msg.policy.clone(linesep="\r\n", max_line_length=998)))
    except smtplib.SMTPDataError as exc:  # the server answered DATA with an error: not accepted
        _quit(smtp)
        raise MailError(_error_text(exc, settings), permanent=500 <= exc.smtp_code < 600) from exc
    except (smtplib.SMTPException, OSError) as exc:  # lost while the message was in flight
        _quit(smtp)
        raise MailError(_error_text(exc, settings), uncertain=True) from exc
    _quit(smtp)
    if code != 250:  # smtplib returns (not raises) the reply to the end of the message: refused, not sent
        raise MailError(f"message refused: {code} {resp.decode(errors='replace')}", permanent=500 <= code < 600)


def _quit(smtp: smtplib.SMTP | None) -> None:
    if smtp is None:
        return
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        try:
            smtp.close()
        except OSError:
            pass


def send_test_email(settings: SmtpSettings, to: str, *, company_name: str | None = None) -> str:
    """Send a short test message; returns its Message-ID. Raises ``MailError`` with the server's answer."""
    message_id = make_msgid(domain=settings.domain)
    who = company_name or "your company"
    send_message(
        settings, [to], f"Test email from the collections app for {who}",
        f"This is a test message from the collections app for {who}.\n\n"
        f"If you received it, outgoing mail through {settings.host}:{settings.port} works.\n",
        reply_to=settings.reply_to, message_id=message_id,
        headers={"Auto-Submitted": "auto-generated"},
    )
    return message_id
