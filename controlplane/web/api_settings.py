"""Settings sections (SPEC §9): GET and PUT /api/v1/settings/<section>, and the test mail."""

from __future__ import annotations

from bottle import Bottle

from controlplane.app import Services
from controlplane.web import context
from controlplane.web.context import _, body


def routes(app: Bottle, services: Services) -> None:
    settings = services.settings

    @app.get("/api/v1/settings/<section>", summary="One settings section")
    def get_section(section: str):
        return settings.public(section)

    @app.put("/api/v1/settings/<section>", audit="update_settings",
             summary="Change some keys of a settings section")
    def put_section(section: str):
        settings.put(section, body())
        return settings.public(section)

    @app.post("/api/v1/settings/smtp/test", audit="test_mail",
              audit_target=lambda kw: "smtp",
              summary="Send a test mail with the stored SMTP settings, overlaid by any given")
    def test_mail():
        to = services.mailer.send_test(body(), context.lang())
        return {"ok": True, "to": to, "message": _("Test mail settings succeeded.")}
