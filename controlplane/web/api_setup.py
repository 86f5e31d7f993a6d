"""First run (A1): is the appliance configured, and creating the administrator."""

from __future__ import annotations

from bottle import Bottle

from controlplane.app import Services
from controlplane.web import context
from controlplane.web.api_session import start_session
from controlplane.web.context import body

# Wizard steps in order. Steps whose settings do not exist yet are left out (network,
# time and license arrive with the issues that build those settings).
WIZARD_STEPS = ("admin", "smtp")
QUICK_STEPS = ("smtp",)


def routes(app: Bottle, services: Services) -> None:
    auth = services.auth

    @app.get("/api/v1/setup", auth="public", summary="Whether the appliance is configured")
    def setup_state():
        configured = auth.configured()
        return {
            "configured": configured,
            "steps": list(QUICK_STEPS if configured else WIZARD_STEPS),
            "language": context.lang(),
        }

    @app.post("/api/v1/setup/admin", auth="setup", csrf="setup", audit="setup_admin",
              audit_target=lambda kw: "admin",
              summary="First run only: create the administrator (user admin) and log in")
    def setup_admin():
        data = body()
        data.setdefault("language", context.lang())
        admin = auth.create_admin(data)
        return start_session(services, admin["username"], False)
