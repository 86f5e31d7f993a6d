"""Mail from the appliance: the test mail (M2), the password reset mail (A4) and the
account mails (E5)."""

from __future__ import annotations

import smtplib
import socket
import ssl
from typing import Any

from controlplane import rules
from controlplane.drivers import mail as smtp_driver
from controlplane.errors import Conflict, Message, Unavailable
from controlplane.i18n import N_, translate
from controlplane.settings import Settings

# X509_V_ERR_* of OpenSSL that get their own sentence.
CERT_EXPIRED = 10
CERT_HOSTNAME_MISMATCH = 62


def _server(smtp: dict[str, Any]) -> str:
    host = str(smtp.get("server", ""))
    return f"[{host}]:{smtp.get('port')}" if ":" in host else f"{host}:{smtp.get('port')}"


def _reply(exc: BaseException) -> str:
    """The SMTP server's own reply ("535 5.7.8 ..."), or "" when it said nothing."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "; ".join(f"{code} {msg.decode('utf-8', 'replace')}"
                         for code, msg in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode("utf-8", "replace") if isinstance(
            exc.smtp_error, bytes) else str(exc.smtp_error)
        return f"{exc.smtp_code} {text}".strip()
    return ""


def _why(exc: BaseException, smtp: dict[str, Any]) -> Message:
    """Why a mail did not go, as a sentence for the administrator."""
    server = _server(smtp)
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return N_("The SMTP server refused the user name or password.")
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return (N_("The SMTP server refused the sender address %(sender)s."),
                {"sender": smtp.get("sender", "")})
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return (N_("The SMTP server refused the recipient %(to)s."),
                {"to": ", ".join(exc.recipients)})
    if isinstance(exc, smtplib.SMTPResponseException):
        if exc.smtp_code == 530 and "STARTTLS" in _reply(exc).upper():
            return N_("The SMTP server requires a secure connection: tick \"This server "
                      "requires a secure connection\" and choose TLS.")
        return N_("The SMTP server refused the mail.")
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        if "STARTTLS" in str(exc).upper():
            return N_("The SMTP server offers no secure connection (STARTTLS): choose "
                      "SSL, or no secure connection.")
        return N_("The SMTP server does not accept a login: leave the user name empty.")
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return (N_("The SMTP server %(server)s closed the connection: check the port and "
                   "the secure connection type."), {"server": server})
    if isinstance(exc, smtplib.SMTPException):
        return N_("The SMTP server did not take the mail.")
    if isinstance(exc, ssl.SSLCertVerificationError):
        if exc.verify_code == CERT_HOSTNAME_MISMATCH:
            return (N_("The SMTP server's certificate is not for %(host)s."),
                    {"host": smtp.get("server", "")})
        if exc.verify_code == CERT_EXPIRED:
            return N_("The SMTP server's certificate has expired.")
        return N_("The SMTP server's certificate is not trusted (no known certificate "
                  "authority signed it). Untick \"Verify the server certificate\" only if "
                  "you trust this server.")
    if isinstance(exc, ssl.SSLError):
        return (N_("No secure connection with the SMTP server %(server)s: check the port "
                   "and the secure connection type (SSL or TLS)."), {"server": server})
    cannot = N_("Cannot connect to the SMTP server %(server)s: %(why)s")
    if isinstance(exc, socket.gaierror):
        why = N_("no such host name.")
    elif isinstance(exc, ConnectionRefusedError):
        why = N_("the connection was refused.")
    elif isinstance(exc, TimeoutError):
        why = N_("it does not answer.")
    else:
        why = N_("the network cannot reach it.")
    return cannot, {"server": server, "why": why}


def failure(exc: smtp_driver.MailError, smtp: dict[str, Any], language: str) -> str:
    """A mail that did not go, in the administrator's language: a sentence, then on a line
    of its own the SMTP server's reply when it gave one."""
    cause = exc.__cause__ or exc
    message = _why(cause, smtp)
    if isinstance(message, tuple):
        msgid, params = message
        params = {k: translate(language, v) if k == "why" else v for k, v in params.items()}
        text = translate(language, msgid, **params)
    else:
        text = translate(language, message)
    reply = _reply(cause)
    if reply:
        text += "\n" + translate(language, N_("Server reply: %(reply)s"), reply=reply)
    return text


class Mailer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def _send(self, smtp: dict[str, Any], to: str, subject: str, body: str,
              language: str) -> None:
        if not smtp.get("server") or not smtp.get("sender"):
            raise Conflict(N_("Set up the SMTP server first."))
        msg = smtp_driver.build(smtp["sender"], [to], subject, body)
        try:
            smtp_driver.send(smtp, msg)
        except smtp_driver.MailError as exc:
            raise Unavailable(reason=failure(exc, smtp, language)) from exc

    def send_many(self, mails: list[tuple], language: str) -> list[str | None]:
        """Send each (to, subject, body[, attachments]) with the stored settings, one mail
        per recipient; attachments: [(filename, mime type, bytes)].

        The result of each, in order: None when the server took it, else why not, in the
        administrator's language (with the server's own reply beside it, see failure()).
        Raises Conflict, sending nothing, when SMTP is not set up.
        """
        smtp = self.settings.stored("smtp")
        if not smtp.get("server") or not smtp.get("sender"):
            raise Conflict(N_("Set up the SMTP server first."))
        results: list[str | None] = []
        for to, subject, body, *more in mails:
            try:
                smtp_driver.send(smtp, smtp_driver.build(smtp["sender"], [to], subject, body,
                                                         more[0] if more else ()))
                results.append(None)
            except smtp_driver.MailError as exc:
                results.append(failure(exc, smtp, language))
        return results

    def send_test(self, data: Any, language: str) -> str:
        """Send a test mail with the stored settings overlaid by unsaved ones in data."""
        if not isinstance(data, dict):
            data = {}
        to = rules.validate({"to": data.get("to")}, {"to": rules.email})["to"]
        changes = {k: v for k, v in data.items() if k not in ("to", "confirm")}
        smtp = self.settings.merged("smtp", changes)
        subject = translate(language, N_("vcbox test mail"))
        body = translate(language, N_(
            "This is a test mail from your vcbox video conferencing server.\n"
            "If you can read it, the SMTP settings work."))
        self._send(smtp, to, subject, body, language)
        return to

    def send_reset(self, to: str, link: str, minutes: int, language: str) -> None:
        smtp = self.settings.stored("smtp")
        subject = translate(language, N_("vcbox: reset your administrator password"))
        body = translate(language, N_(
            "Someone asked to reset the administrator password of your vcbox server.\n\n"
            "To choose a new password, open this link within %(minutes)s minutes:\n"
            "%(link)s\n\n"
            "The link works once. If you did not ask for this, ignore this mail."),
            minutes=minutes, link=link)
        self._send(smtp, to, subject, body, language)
