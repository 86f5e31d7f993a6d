"""Settings sections (SPEC §9): GET and PUT /api/v1/settings/<section>, a dry-run check,
the network page's interfaces, and the test mail.

A PUT that changes a restart-class section answers 409 confirm_required unless the body
has "confirm": true; a change reaches the services (apply) before it is stored. The answer
says what happened in words ("message", for the page's toast); which files changed and
what each service said go to the operation log's apply entry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bottle import Bottle

from controlplane import timezones
from controlplane.app import Services
from controlplane.apply import ApplyFailed, words
from controlplane.apply.context import NOT_RENDERED, nic_names
from controlplane.drivers.network import NetworkError
from controlplane.errors import ConfirmRequired, Conflict, Message, ValidationError
from controlplane.i18n import N_
from controlplane.sections.base import Term
from controlplane.sections.network import check_nics
from controlplane.settings import Change
from controlplane.web import context
from controlplane.web.context import _, body


def in_words(message: Message) -> Message:
    """A message whose parameters name other fields (Term): those names translated, so
    that the message reads "Already used by the SIP UDP/TCP port." in the UI language."""
    if not isinstance(message, tuple):
        return message
    msgid, params = message
    return msgid, {k: _(v) if isinstance(v, Term) else v for k, v in params.items()}


def routes(app: Bottle, services: Services) -> None:
    settings = services.settings

    def nic_defaults() -> dict[str, str]:
        return nic_names(services.config, {"lan": {}, "wan": {}})

    def answer(section: str, **extra: Any) -> dict[str, Any]:
        doc = settings.public(section)
        if section == "time":
            # The server's clock in the configured zone (not the process's nor the
            # browser's); the page ticks it on.
            doc["server_time"] = timezones.now_in(doc["timezone"], doc["dst"]).strftime(
                "%Y-%m-%dT%H:%M:%S")
        if section == "network":
            doc["pending_confirm"] = services.applier.network_pending()
        return {**doc, **extra}

    def prepare(section: str, data: Any) -> Change:
        """Validate a change; the messages name other fields in words."""
        try:
            change = settings.prepare(section, data)
            if section == "network":
                check_nics(change.new, nic_defaults())
            if section == "disk":
                services.disk.check(change.new, change.old)  # D2: against the disk itself
        except ValidationError as exc:
            exc.details = {key: in_words(message) for key, message in exc.details.items()}
            raise
        return change

    @app.get("/api/v1/settings/<section>", summary="One settings section")
    def get_section(section: str):
        return answer(section)

    @app.put("/api/v1/settings/<section>", audit="update_settings",
             summary='Change some keys of a section; restart-class changes need "confirm": true')
    def put_section(section: str):
        data = body()
        change = prepare(section, data)
        applied: dict[str, Any] = {"files": [], "actions": []}
        result = None
        if change.changed:
            confirm = settings.section(section).confirm
            if confirm and data.get("confirm") is not True:
                raise ConfirmRequired(confirm)
            if section in NOT_RENDERED:
                settings.save(change)
            else:
                try:
                    plan, result = services.applier.change(
                        change, context.username(), context.client_ip())
                except ApplyFailed as exc:
                    # The service's own output is in the operation log's apply entry.
                    raise ApplyFailed(N_(
                        "The change was not applied: the %(service)s refused it. The "
                        "previous settings are still in effect; the operation log has the "
                        "details."),
                        service=words.service_name(exc.params.get("service", ""),
                                                   context.lang())) from exc
                applied = {"files": [f.path for f in plan.files],
                           "actions": [{"action": str(o.action), "result": o.text}
                                       for o in result.outcomes]}
        warnings = {key: _(msg) for key, msg in change.warnings.items()}
        return answer(section, warnings=warnings, applied=applied,
                      message=words.saved(change.changed, result, context.lang()))

    @app.post("/api/v1/settings/<section>/check",
              summary="Validate a change without storing or applying it (the page's live "
                      "check of fields marked wrong)")
    def check_section(section: str):
        change = prepare(section, body())
        return {"ok": True, "changed": change.changed,
                "warnings": {key: _(msg) for key, msg in change.warnings.items()}}

    interfaces_of: Callable[[], list[dict[str, Any]]] | None = getattr(
        services.applier.drivers.get("network"), "interfaces", None)

    @app.get("/api/v1/settings/network/interfaces", auth="setup",
             summary="The interfaces the NIC selector offers (as the network driver sees "
                     "them), and the NIC each of LAN and WAN uses when the settings name "
                     "none")
    def network_interfaces():
        try:
            items = interfaces_of() if interfaces_of is not None else []
        except NetworkError:
            items = []  # no namespace to look into: the page offers the current NICs only
        return {"items": items, "total": len(items), "filtered": len(items),
                "defaults": nic_defaults()}

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
