"""Per-component status and the dashboard's overview (GET /api/v1/status).

The answer is machine-readable: states and reasons are codes (the page words them in the
admin's language); "reason" keeps the driver's own English words for logs and scripts.
"""

from __future__ import annotations

import shutil
import time

from bottle import Bottle

from controlplane import __version__, live, mcu, turn
from controlplane.app import Services
from controlplane.cached import Cached
from controlplane.drivers import processes
from controlplane.drivers.freeswitch import skipped_at_build
from controlplane.drivers.services import Absent

PROBE_TTL_S = 2.0
# The coturn CLI's answer may take this long (the Admin API's: processes.janus_endpoints).
TURN_CLI_TIMEOUT_S = 1.5
# The last Janus events GET /api/v1/status/mcu shows.
MCU_LAST_EVENTS = 20
# The services on the dashboard (SPEC: FreeSWITCH, MCU, TURN, web, NTP, SSH, firewall).
SERVICES = ("freeswitch", "janus", "coturn", "nginx", "chrony", "ssh", "firewall")
# What the dashboard shows of the license.
LICENSE_FIELDS = ("status", "activation_type", "concurrency", "expires", "days_left")


def routes(app: Bottle, services: Services) -> None:
    def history_ok() -> bool:
        try:
            return services.history.scalar("SELECT 1") == 1
        except Exception:
            return False

    def service_states() -> dict[str, dict[str, str]]:
        out = {}
        for name in SERVICES:
            driver = services.applier.drivers.get(name)
            if driver is None:
                continue
            try:
                state = {"status": driver.status()}
            except Exception:
                state = {"status": "fail"}
            reason = getattr(driver, "reason", "")
            if state["status"] == "absent" and reason:
                state["reason"] = reason
            reason_id = reason_code(name, state["status"])
            if reason_id:
                state["reason_id"] = reason_id
            out[name] = state
        return out

    def reason_code(name: str, status: str) -> str:
        """Why a service is not running here, as a code the page words."""
        if status == "absent":
            if name == "freeswitch" and skipped_at_build(services.config):
                return "skipped_at_build"
            return "not_installed"
        if status == "checked":
            return "not_run_here"
        return ""

    def live_figures() -> dict[str, object]:
        figures = live.figures(services.esl, online=services.presence.online_count)
        return figures.as_dict() if figures else {"reachable": False}

    def runs_here(name: str) -> bool:
        """Whether the service is run by this control plane (locally or by systemd): a
        service that is not installed, or not run here, is not asked."""
        driver = services.applier.drivers.get(name)
        return driver is not None and not isinstance(driver, (Absent, processes.NotRunHere))

    def janus_admin() -> mcu.Admin | None:
        if not runs_here("janus"):
            return None
        try:
            return processes.janus_endpoints(services.config.root)[0]
        except (OSError, KeyError):  # not rendered (yet)
            return None

    def mcu_figures() -> dict[str, object]:
        admin = janus_admin()
        found = mcu.status(admin) if admin is not None else None
        return found.as_dict() if found else {"reachable": False}

    def mcu_sessions() -> dict[str, object]:
        admin = janus_admin()
        found = (mcu.session_list(admin, services.mcu_events.plugin_of)
                 if admin is not None else None)
        return {"reachable": True, **found} if found else {"reachable": False}

    def turn_figures() -> dict[str, object]:
        found = None
        if runs_here("coturn"):
            try:
                cli = processes.coturn_cli(services.config.root, TURN_CLI_TIMEOUT_S)
            except (OSError, KeyError, IndexError, ValueError):  # not rendered (yet)
                cli = None
            found = turn.status(cli) if cli is not None else None
        return found.as_dict() if found else {"reachable": False}

    history = Cached(PROBE_TTL_S, history_ok)
    service_status = Cached(PROBE_TTL_S, service_states)
    disk = Cached(PROBE_TTL_S, lambda: shutil.disk_usage(services.config.data_dir))
    figures = Cached(PROBE_TTL_S, live_figures)
    mcu_status = Cached(PROBE_TTL_S, mcu_figures)
    mcu_list = Cached(PROBE_TTL_S, mcu_sessions)
    turn_status = Cached(PROBE_TTL_S, turn_figures)

    @app.get("/api/v1/status", summary="Status of every component")
    def status():
        now = time.time()
        usage = disk()
        license_state = services.licenses.current()
        mail = ({"status": "ok"} if services.settings.value("smtp", "server")
                else {"status": "not_configured", "reason_id": "smtp_not_set"})
        return {
            "version": __version__,
            "time": now,
            # The appliance's wall clock, in its configured time zone.
            "clock": services.licenses.now().strftime("%Y-%m-%d %H:%M:%S"),
            "uptime_s": round(now - services.started, 1),
            "disk": {"total": usage.total, "used": usage.used, "free": usage.free},
            "license": {key: license_state[key] for key in LICENSE_FIELDS},
            # Online users, live meetings, licensed calls in use: {"reachable": false}
            # when FreeSWITCH cannot be asked (never made-up zeros).
            "live": figures(),
            # The MCU's sessions and handles (Janus Admin API) and the TURN relay's
            # sessions (coturn CLI): {"reachable": false} when the service cannot be asked.
            "mcu": mcu_status(),
            "turn": turn_status(),
            "components": {
                "controlplane": {"status": "ok"},
                "documents": {"status": "ok", "schema_version": services.docs.schema_version},
                "history": {"status": "ok" if history() else "fail"},
                "mail": mail,
                **service_status(),
            },
        }

    @app.get("/api/v1/status/mcu",
             summary="The MCU's sessions now (Janus Admin API) -> {reachable, items: [{id,"
             " handles: [{id, plugin}]}], total, truncated}, and what its event handler posted"
             " -> events: {received, last_at, sessions, handles, last: [newest first]}")
    def status_mcu():
        return {**mcu_list(),
                "events": services.mcu_events.snapshot(last=MCU_LAST_EVENTS)}
