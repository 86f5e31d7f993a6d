"""License (L1-L3): view, activate or update with a serial, start the 14-day trial."""

from __future__ import annotations

from bottle import Bottle

from controlplane import rules
from controlplane.app import Services
from controlplane.web.context import body


def routes(app: Bottle, services: Services) -> None:
    licenses = services.licenses

    @app.get("/api/v1/license",
             summary="The license: serial, activation type, status, concurrency, dates")
    def license_info():
        return licenses.current()

    @app.post("/api/v1/license", audit="activate_license", audit_target=lambda kw: "license",
              summary="Activate a serial {serial}; it replaces the current license (update)")
    def activate_license():
        data = rules.validate(body(), {"serial": rules.text})
        return licenses.activate(data["serial"])

    @app.post("/api/v1/license/trial", audit="start_trial", audit_target=lambda kw: "trial",
              summary="Start the 14-day trial (once per appliance, without a license)")
    def start_trial():
        return licenses.start_trial()
