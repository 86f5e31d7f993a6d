"""Mail from the appliance: the test mail (M2), the password reset mail (A4) and the
account mails (E5)."""

from __future__ import annotations

from typing import Any

from controlplane import rules
from controlplane.drivers import mail as smtp_driver
from controlplane.errors import Conflict, Unavailable
from controlplane.i18n import N_, translate
from controlplane.settings import Settings


class Mailer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def _send(self, smtp: dict[str, Any], to: str, subject: str, body: str) -> None:
        if not smtp.get("server") or not smtp.get("sender"):
            raise Conflict(N_("Set up the SMTP server first."))
        msg = smtp_driver.build(smtp["sender"], [to], subject, body)
        try:
            smtp_driver.send(smtp, msg)
        except smtp_driver.MailError as exc:
            raise Unavailable(N_("The mail could not be sent: %(reason)s"),
                              reason=str(exc)) from exc

    def send_many(self, mails: list[tuple[str, str, str]]) -> list[str | None]:
        """Send each (to, subject, body) with the stored settings, one mail per recipient.

        The result of each, in order: None when the server took it, else the server's (or
        the network's) own words. Raises Conflict, sending nothing, when SMTP is not set up.
        """
        smtp = self.settings.stored("smtp")
        if not smtp.get("server") or not smtp.get("sender"):
            raise Conflict(N_("Set up the SMTP server first."))
        results: list[str | None] = []
        for to, subject, body in mails:
            try:
                smtp_driver.send(smtp, smtp_driver.build(smtp["sender"], [to], subject, body))
                results.append(None)
            except smtp_driver.MailError as exc:
                results.append(str(exc))
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
        self._send(smtp, to, subject, body)
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
        self._send(smtp, to, subject, body)
