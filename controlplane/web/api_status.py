"""Per-component status (GET /api/v1/status)."""

from __future__ import annotations

import shutil
import time

from bottle import Bottle

from controlplane import __version__
from controlplane.app import Services


def routes(app: Bottle, services: Services) -> None:
    def history_ok() -> bool:
        try:
            return services.history.scalar("SELECT 1") == 1
        except Exception:
            return False

    @app.get("/api/v1/status", summary="Status of every component")
    def status():
        smtp = services.settings.stored("smtp")
        now = time.time()
        disk = shutil.disk_usage(services.config.data_dir)
        return {
            "version": __version__,
            "disk": {"total": disk.total, "used": disk.used, "free": disk.free},
            "time": now,
            "uptime_s": round(now - services.started, 1),
            "components": {
                "controlplane": {"status": "ok"},
                "documents": {"status": "ok", "schema_version": services.docs.schema_version},
                "history": {"status": "ok" if history_ok() else "fail"},
                "mail": {"status": "ok" if smtp["server"] else "not_configured"},
            },
        }
