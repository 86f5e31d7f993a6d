"""First run (A1): is the appliance configured, and creating the administrator."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bottle import Bottle

from controlplane.app import Services
from controlplane.errors import NotFound, ValidationError
from controlplane.i18n import N_
from controlplane.web import context
from controlplane.web.api_session import start_session
from controlplane.web.context import body

# Wizard steps in order (A1): network, time, admin, license, SMTP. Quick settings (A6)
# re-run the same steps (the guide's steps 3-11): there the administrator step may be
# skipped, since an administrator exists; on the first run it may not.
WIZARD_STEPS = ("network", "time", "admin", "license", "smtp")
ADMIN_REQUIRED = N_("The administrator password cannot be skipped: without it nobody can "
                    "log in.")
# Settings sections the wizard changes before an administrator exists.
SETUP_SECTIONS = ("network", "time")


def _setup_section(section: str) -> str:
    if section not in SETUP_SECTIONS:
        raise NotFound(N_("No such settings section: %(name)s."), name=section)
    return section


def _settings_route(app: Bottle, method: str, rule: str) -> Callable[..., Any]:
    """The plain handler of a settings route (without its session/CSRF/audit wrappers)."""
    for route in app.routes:
        if route.method == method and route.rule == rule:
            return route.callback
    raise LookupError(f"{method} {rule} is not routed")


def routes(app: Bottle, services: Services) -> None:
    auth = services.auth

    @app.get("/api/v1/setup", auth="public", summary="Whether the appliance is configured")
    def setup_state():
        configured = auth.configured()
        return {
            "configured": configured,
            "steps": list(WIZARD_STEPS),
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

    @app.post("/api/v1/setup/admin/skip", auth="setup", csrf="setup", audit="update_setup",
              audit_target=lambda kw: "admin",
              summary="Skip the wizard's administrator step: only when an administrator "
                      "exists (quick settings); on the first run a message for the password")
    def skip_admin():
        if not auth.configured():
            raise ValidationError(details={"password": ADMIN_REQUIRED})
        return {"ok": True}

    @app.put("/api/v1/setup/admin", audit="update_setup", audit_target=lambda kw: "admin",
             summary="Quick settings: the administrator step again {current_password, "
                     "password?, confirm_password?, email?, ux_programme?}")
    def update_admin():
        return auth.update_admin(context.session(), body())

    # The wizard's network and time steps come before the administrator (A1): the same
    # settings API, public until an administrator exists, then session + CSRF as usual.
    @app.get("/api/v1/setup/settings/<section>", auth="setup",
             summary="Setup wizard: the network or time settings (GET /api/v1/settings/...)")
    def setup_get_section(section: str):
        handler = _settings_route(app, "GET", "/api/v1/settings/<section>")
        return handler(_setup_section(section))

    @app.put("/api/v1/setup/settings/<section>", auth="setup", csrf="setup",
             audit="update_settings",
             summary="Setup wizard: change the network or time settings (as PUT "
                     "/api/v1/settings/...)")
    def setup_put_section(section: str):
        handler = _settings_route(app, "PUT", "/api/v1/settings/<section>")
        return handler(_setup_section(section))

    @app.post("/api/v1/setup/settings/network/confirm", auth="setup", csrf="setup",
              audit="confirm_network", audit_target=lambda kw: "network",
              summary="Setup wizard: keep the last network change")
    def setup_confirm_network():
        return _settings_route(app, "POST", "/api/v1/settings/network/confirm")()
