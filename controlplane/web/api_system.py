"""Restart / factory reset (SPEC G2, G3; §9 Maintenance): the guide's 重启/恢复出厂设置.

POST /api/v1/system/factory-reset {"mode": "settings"|"all", "confirm": true} and
POST /api/v1/system/reboot {"confirm": true}: each answers 409 confirm_required without
the confirm, with the guide's question ("确定恢复出厂设置？", "确定重启系统？"). A reset
signs everyone out and leaves no administrator: its answer sends the page to the setup
wizard. A reboot answers 202 before it happens; where the services are the control
plane's child processes (`make run`) it restarts those instead of the machine, and says
so (mode "services"); GET /api/v1/system/reboot tells how far it got."""

from __future__ import annotations

from bottle import Bottle, response

from controlplane import maintenance
from controlplane.app import Services
from controlplane.apply import words
from controlplane.errors import ConfirmRequired
from controlplane.i18n import N_, translate
from controlplane.web import context
from controlplane.web.api_backups import FILES_STEP
from controlplane.web.context import body

RESET_CONFIRM = N_("Restore the factory settings?")  # the guide: 确定恢复出厂设置？
REBOOT_CONFIRM = N_("Restart the system?")  # the guide: 确定重启系统？


def _mode_target(_kw: dict) -> str:
    return maintenance.RESET_OBJECTS.get(str(body().get("mode")), "")


def routes(app: Bottle, services: Services) -> None:
    reset = maintenance.FactoryReset(services.config.data_dir, services.backups)
    reboot = maintenance.Reboot(services.config, services.applier, services.oplog)
    app.config["vcbox.reboot"] = reboot  # for tests and the page's values

    def named(items: list[dict[str, str]]) -> list[dict[str, str]]:
        lang = context.lang()
        return [{**i, "name": words.service_name(i["service"], lang)} for i in items]

    @app.post("/api/v1/system/factory-reset", audit="factory_reset", audit_target=_mode_target,
              summary='Factory reset {"mode": "settings"|"all", "confirm": true}: settings'
              " clears the settings, the administrator, history, call records and logs"
              " (keeps accounts, rooms, meetings, the license); all clears everything but"
              " the trial marker and the backup key. Every config is applied (the data"
              " from before put back when that fails); everyone is signed out and the"
              " setup wizard runs again")
    def factory_reset():
        data = body()
        mode = maintenance.check_mode(data.get("mode"))
        if data.get("confirm") is not True:
            raise ConfirmRequired(RESET_CONFIRM)
        try:
            return reset.run(mode, context.username(), context.client_ip())
        except maintenance.ResetFailed as exc:
            step = exc.params.get("step", "")
            words_of_step = (translate(context.lang(), FILES_STEP) if step == "files"
                             else words.service_name(step, context.lang()))
            raise maintenance.ResetFailed(step=words_of_step,
                                          output=exc.params.get("output", "")) from exc

    @app.post("/api/v1/system/reboot", audit="reboot", audit_target=lambda kw: "",
              summary='Reboot {"confirm": true}: answers 202 {mode, services, delay_s}, then'
              ' the machine reboots (mode "system", the appliance) or, where the services'
              ' are the control plane\'s child processes, those restart (mode "services")')
    def reboot_now():
        if body().get("confirm") is not True:
            raise ConfirmRequired(REBOOT_CONFIRM)
        answer = reboot.schedule(context.username(), context.client_ip())
        response.status = 202
        return {**answer, "services": named([{"service": s} for s in answer["services"]])}

    @app.get("/api/v1/system/reboot",
             summary="How far the last reboot got: {mode, state: idle|pending|running|done|"
             "failed, services: [{service, name, status}] (mode services), error}")
    def reboot_status():
        found = reboot.status()
        return {**found, "services": named(found["services"])}
