"""Settings sections (SPEC §9): GET and PUT /api/v1/settings/<section>, and the test mail.

A PUT that changes a restart-class section answers 409 confirm_required unless the body
has "confirm": true; a change reaches the services (apply) before it is stored.
"""

from __future__ import annotations

import time
from typing import Any

from bottle import Bottle

from controlplane.app import Services
from controlplane.apply.context import NOT_RENDERED
from controlplane.errors import ConfirmRequired, Conflict
from controlplane.i18n import N_
from controlplane.web import context
from controlplane.web.context import _, body


def routes(app: Bottle, services: Services) -> None:
    settings = services.settings

    def answer(section: str, **extra: Any) -> dict[str, Any]:
        doc = settings.public(section)
        if section == "time":
            doc["server_time"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        if section == "network":
            doc["pending_confirm"] = services.applier.network_pending()
        return {**doc, **extra}

    @app.get("/api/v1/settings/<section>", summary="One settings section")
    def get_section(section: str):
        return answer(section)

    @app.put("/api/v1/settings/<section>", audit="update_settings",
             summary='Change some keys of a section; restart-class changes need "confirm": true')
    def put_section(section: str):
        data = body()
        change = settings.prepare(section, data)
        applied: dict[str, Any] = {"files": [], "actions": []}
        if change.changed:
            confirm = settings.section(section).confirm
            if confirm and data.get("confirm") is not True:
                raise ConfirmRequired(confirm)
            if section in NOT_RENDERED:
                settings.save(change)
            else:
                plan, result = services.applier.change(change, context.username(),
                                                        context.client_ip())
                applied = {"files": [f.path for f in plan.files],
                           "actions": [{"action": str(o.action), "result": o.text}
                                       for o in result.outcomes]}
        warnings = {key: _(msg) for key, msg in change.warnings.items()}
        return answer(section, warnings=warnings, applied=applied)

    @app.post("/api/v1/settings/network/confirm", audit="confirm_network",
              audit_target=lambda kw: "network",
              summary="Keep the last network change (else it is undone after the timeout)")
    def confirm_network():
        if not services.applier.confirm_network():
            raise Conflict(N_("No network change is waiting for confirmation."))
        return {"ok": True}

    @app.post("/api/v1/settings/smtp/test", audit="test_mail",
              audit_target=lambda kw: "smtp",
              summary="Send a test mail with the stored SMTP settings, overlaid by any given")
    def test_mail():
        to = services.mailer.send_test(body(), context.lang())
        return {"ok": True, "to": to, "message": _("Test mail settings succeeded.")}
