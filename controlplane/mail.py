"""Mail from the appliance: the test mail (M2) and the password reset mail (A4)."""

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
