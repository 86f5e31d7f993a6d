"""Per-component status (GET /api/v1/status)."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from typing import Any

from bottle import Bottle

from controlplane import __version__
from controlplane.app import Services

PROBE_TTL_S = 2.0
# The services on the dashboard (SPEC: FreeSWITCH, MCU, TURN, web, NTP, SSH, firewall).
SERVICES = ("freeswitch", "janus", "coturn", "nginx", "chrony", "ssh", "firewall")


def cached(ttl: float, probe: Callable[[], Any]) -> Callable[[], Any]:
    """probe() at most once per ttl seconds: status is polled far more often than it changes.

    Only the first call waits for a probe. Later, a stale value is answered while one
    refresh runs in the background: a slow probe (a service that answers late) never
    holds up the requests, and concurrent requests never probe in parallel."""
    state: dict[str, Any] = {"at": None, "value": None, "refreshing": False}
    lock = threading.Lock()

    def refresh() -> None:
        try:
            value = probe()
            state["value"], state["at"] = value, time.monotonic()
        finally:
            state["refreshing"] = False

    def get() -> Any:
        if state["at"] is None:
            with lock:
                if state["at"] is None:
                    state["value"], state["at"] = probe(), time.monotonic()
            return state["value"]
        with lock:
            start = (time.monotonic() - state["at"] >= ttl and not state["refreshing"])
            if start:
                state["refreshing"] = True
        if start:
            threading.Thread(target=refresh, name="status-probe", daemon=True).start()
        return state["value"]

    return get


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
            out[name] = state
        return out

    history = cached(PROBE_TTL_S, history_ok)
    service_status = cached(PROBE_TTL_S, service_states)
    disk = cached(PROBE_TTL_S, lambda: shutil.disk_usage(services.config.data_dir))

    @app.get("/api/v1/status", summary="Status of every component")
    def status():
        now = time.time()
        usage = disk()
        return {
            "version": __version__,
            "time": now,
            "uptime_s": round(now - services.started, 1),
            "disk": {"total": usage.total, "used": usage.used, "free": usage.free},
            "components": {
                "controlplane": {"status": "ok"},
                "documents": {"status": "ok", "schema_version": services.docs.schema_version},
                "history": {"status": "ok" if history() else "fail"},
                "mail": {"status": "ok" if services.settings.value("smtp", "server")
                         else "not_configured"},
                **service_status(),
            },
        }
