"""SMTP sender over smtplib: plain, SSL (SMTPS) or STARTTLS."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any


class MailError(Exception):
    """The server's (or the network's) own words about why the mail did not go."""


def _reason(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode("utf-8", "replace") if isinstance(
            exc.smtp_error, bytes) else str(exc.smtp_error)
        return f"{exc.smtp_code} {text}".strip()
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "; ".join(f"{rcpt}: {code} {msg.decode('utf-8', 'replace')}"
                         for rcpt, (code, msg) in exc.recipients.items())
    return str(exc) or exc.__class__.__name__


def build(sender: str, to: list[str], subject: str, body: str,
          attachments: list[tuple[str, str, bytes]] = ()) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    msg.set_content(body)
    for filename, mime, data in attachments:
        # "text/calendar; method=REQUEST": the type and its parameters
        kind, *extra = (part.strip() for part in mime.split(";"))
        maintype, _, subtype = kind.partition("/")
        params = dict(p.partition("=")[::2] for p in extra if "=" in p)
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename,
                           params=params)
    return msg


def send(smtp: dict[str, Any], msg: EmailMessage, timeout: float = 20) -> None:
    """Deliver msg with the SMTP settings document `smtp`; raise MailError on failure."""
    context = ssl.create_default_context()
    if not smtp.get("verify_certificate", True):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    host, port = smtp["server"], int(smtp["port"])
    try:
        if smtp["security"] == "ssl":
            client: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
        else:
            client = smtplib.SMTP(host, port, timeout=timeout)
        with client:
            client.ehlo()
            if smtp["security"] == "tls":
                client.starttls(context=context)
                client.ehlo()
            if smtp.get("username"):
                client.login(smtp["username"], smtp.get("password", ""))
            client.send_message(msg)
    except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
        raise MailError(_reason(exc)) from exc
