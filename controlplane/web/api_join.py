"""Browser joins (SPEC §9 page `/join/<id>`, Q3; controlplane/web_join.py has the design):
the page and `POST /api/v1/join/<meeting-id> {"name", "password"}` ->
`{"token", "janus_url", "janus_token", "sip": {"uri", "proxy", "username", "display_name",
"headers"}, "ice_servers", "meeting": {"id", "subject"}}`.

Public routes: a guest has no session. CSRF: the route takes no CSRF token (csrf=False:
a guest has none to send) and instead refuses a browser request from another origin (its
Origin header, or Sec-Fetch-Site cross-site), so that a foreign page cannot use a signed-in
administrator's or portal user's cookies to join in their name; what it answers is
unreadable cross-origin anyway (no CORS). Wrong meeting passwords are counted per client
address and meeting, locked out like the login (A3).
"""

from __future__ import annotations

import secrets as _random
from typing import Any

from bottle import Bottle, HTTPResponse, request

from controlplane import secrets, web_join
from controlplane.app import Services
from controlplane.drivers import processes
from controlplane.drivers.coturn import rest_credentials
from controlplane.errors import Forbidden
from controlplane.i18n import N_
from controlplane.web import context, pages
from controlplane.web.api_turn import TURN_PORT

# Janus's HTTP API as rendered (templates/etc/janus/janus.transport.http.jcfg).
LOCAL_JANUS_URL = "http://127.0.0.1:8088/janus"
APPLIANCE_JANUS_URL = "/janus"   # nginx proxies it (templates/etc/nginx/sites-enabled)


def ice_servers(host: str, username: str, password: str) -> list[dict[str, Any]]:
    """coturn on the media address, UDP and TCP (RTCIceServer objects)."""
    return [{"urls": [f"turn:{host}:{TURN_PORT}?transport=udp",
                      f"turn:{host}:{TURN_PORT}?transport=tcp"],
             "username": username, "credential": password}]


def viewer() -> web_join.Viewer:
    portal = request.environ.get("vcbox.portal") or {}
    return web_join.Viewer(admin=context.session() is not None,
                           account=str(portal.get("account") or ""))


def same_origin() -> None:
    """Refuse a browser's request sent from another site's page."""
    if request.environ.get("HTTP_SEC_FETCH_SITE") == "cross-site":
        raise Forbidden(N_("A join must come from this appliance's own page."))
    origin = request.environ.get("HTTP_ORIGIN")
    if origin is None:
        return  # not a browser's cross-site request (browsers send Origin with a POST)
    scheme = "https" if context.is_https() else "http"
    host = request.environ.get("HTTP_HOST", "")
    if origin != f"{scheme}://{host}":
        raise Forbidden(N_("A join must come from this appliance's own page."))


def routes(app: Bottle, services: Services) -> None:
    meetings, joins, config = services.meetings, services.web_joins, services.config

    def janus_url() -> str:
        if config.service_mode == "systemd":
            return APPLIANCE_JANUS_URL
        try:
            return processes.janus_endpoints(config.root)[1]
        except (OSError, KeyError):
            return LOCAL_JANUS_URL

    def prefill(who: web_join.Viewer) -> str:
        if who.account:
            found = services.accounts.find(who.account)
            return getattr(found, "name", "") or who.account
        return context.session().username if who.admin else ""

    @app.get("/join/<meeting_id>", page=True, auth="public", name="page_join")
    def join_page(meeting_id: str):
        meeting = meetings.find(meeting_id) if meeting_id.isdigit() else None
        who = viewer()
        values: dict[str, Any] = {
            "meeting": None, "prefill": prefill(who), "signed_in": who.signed_in,
            "portal_account": who.account}
        if meeting is not None:
            values["meeting"] = {
                "id": meeting["id"], "subject": meeting["subject"],
                "needs_password": web_join.needs_password(meeting, who),
                "may_try": web_join.may_try(meeting, who)}
        body = pages.render("join.html", **values)
        return HTTPResponse(body, 200 if meeting else 404,
                            {"Content-Type": "text/html; charset=utf-8"})

    def label(kwargs: dict[str, Any]) -> str:
        meeting = meetings.find(kwargs["meeting_id"])
        return f"{meeting['id']} {meeting['subject']}" if meeting else kwargs["meeting_id"]

    @app.post("/api/v1/join/<meeting_id>", auth="public", csrf=False, audit="join_meeting",
              audit_target=label,
              summary="Join a meeting from a browser {name, password} -> a one-time join token"
              " and what the page's janus.js needs: janus_url, janus_token, sip {uri, proxy,"
              " username, display_name, headers}, ice_servers, meeting {id, subject}."
              " 404 no meeting; 400 details.password wrong password; 423 too many;"
              " 401 sign_in_required (no guests); 409 meeting_not_started, meeting_ended,"
              " not_licensed")
    def join(meeting_id: str):
        same_origin()
        meeting = meetings.find(meeting_id) if meeting_id.isdigit() else None
        call = services.settings.stored("call")
        grant = web_join.admit(
            joins, meeting, viewer(), context.body(), context.client_ip(),
            now=meetings.now(), early_join_min=int(call.get("early_join_min", 10)),
            licensed_calls=services.licenses.concurrency(),
            attempts=config.lockout_attempts, lockout_s=config.lockout_s)
        # The operation log names who joined: the signed-in user, else the guest's name.
        request.environ.setdefault("vcbox.actor", grant.name)
        token = joins.mint(grant.meeting_id, grant.name, grant.number)
        keys = secrets.ensure(services.docs)
        user_part = f"web-{_random.token_hex(6)}"
        domain = services.settings.value("network", "domain")
        host = services.applier.media_ip or config.media_ip
        user, password = rest_credentials(keys["turn_secret"], f"join-{grant.number}",
                                          web_join.JANUS_TTL_S)
        return {
            "token": token,
            "janus_url": janus_url(),
            "janus_token": web_join.janus_token(keys["janus_token_secret"],
                                                web_join.JANUS_TTL_S),
            "sip": {
                "uri": f"sip:{grant.meeting_id}@{domain}",
                "proxy": web_join.WEB_SIP_PROXY,
                "username": f"sip:{user_part}@{domain}",
                "display_name": grant.name,
                "headers": {web_join.JOIN_HEADER: token},
            },
            "ice_servers": ice_servers(host, user, password),
            "meeting": {"id": meeting["id"], "subject": meeting["subject"]},
        }
