"""Every state-changing route leaves a trace in the operation log (O2)."""

from __future__ import annotations

from controlplane.app import create_app
from controlplane.config import Config
from controlplane.oplog import ACTIONS

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
# Routes that write their own, finer entries (success, failure and lockout differ).
SELF_LOGGING = {
    ("POST", "/api/v1/session"),
    ("DELETE", "/api/v1/session"),
    # the portal's sign-in and sign-out record themselves (portal_login, portal_logout)
    ("POST", "/api/v1/portal/session"),
    ("DELETE", "/api/v1/portal/session"),
    ("POST", "/api/v1/password-reset"),
}


# Requests of services, not of administrators (FreeSWITCH's lookups and call records,
# Janus's events).
MACHINE = {("POST", "/freeswitch/xml"), ("POST", "/freeswitch/cdr"), ("POST", "/janus/events")}

# POSTs that change nothing: a dry-run validation of a settings form (its own test shows
# that nothing changes).
NO_CHANGE = {("POST", "/api/v1/settings/<section>/check")}


def test_every_state_changing_route_is_audited(tmp_path):
    app = create_app(Config(data_dir=tmp_path, root=tmp_path / "root"))
    unaudited = []
    for route in app.routes:
        exempt = SELF_LOGGING | MACHINE | NO_CHANGE
        if route.method not in UNSAFE or (route.method, route.rule) in exempt:
            continue
        action = route.config.get("audit")
        if action not in ACTIONS:
            unaudited.append(f"{route.method} {route.rule} (audit={action!r})")
    assert not unaudited, "routes without a known audit action: " + ", ".join(unaudited)
    app.config["vcbox.services"].close()


def test_self_logging_routes_exist(tmp_path):
    app = create_app(Config(data_dir=tmp_path, root=tmp_path / "root"))
    rules = {(r.method, r.rule) for r in app.routes}
    assert rules >= SELF_LOGGING
    app.config["vcbox.services"].close()
