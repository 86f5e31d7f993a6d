"""POST /janus/events: the target of Janus's HTTP event handler (janus.eventhandler.sampleevh,
templates/etc/janus/janus.eventhandler.sampleevh.jcfg), DESIGN D5.

Not a browser route: no session and no CSRF token, but only this host's Janus may post
(loopback, not through the local nginx) and only with the HTTP basic credentials rendered
into the handler's config (user "janus", the appliance secret janus_events_password):
the guard of the FreeSWITCH gateway routes, with these credentials. The events (one JSON
object, or a list of them) go to the MCU's bookkeeping (controlplane.mcu.McuEvents).
Janus does not look at the answer's status (only a failed connection makes it try
again), so a refused post is only logged here.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from bottle import Bottle, HTTPResponse, request

from controlplane.app import Services
from controlplane.mcu import BadEvents
from controlplane.web.api_freeswitch import Answer, _text, content_length, gateway_guard

log = logging.getLogger(__name__)

USER = "janus"  # backend_user in the rendered config
CREDENTIAL = "janus_events_password"  # the appliance secret rendered as backend_pwd
# sampleevh groups up to 100 events in one post; no SDPs (jsep events are not asked for).
MAX_POST_BYTES = 1024 * 1024


def events_handler(services: Services) -> Callable[[dict, Callable[[int], bytes]], Answer]:
    refusal = gateway_guard(services, user=USER, credential=CREDENTIAL,
                            realm="vcbox janus events")
    events = services.mcu_events

    def handle(environ: dict, read_body: Callable[[int], bytes]) -> Answer:
        refused = refusal(environ)
        if refused is not None:
            log.warning("a post to /janus/events was refused (%s)", refused[0])
            return refused
        length = content_length(environ)
        if length > MAX_POST_BYTES:
            return _text(413, "too large\n")
        try:
            taken = events.take(json.loads(read_body(length) if length > 0 else b""))
        except (ValueError, BadEvents) as exc:  # JSONDecodeError is a ValueError
            return _text(400, f"not Janus events: {exc}\n")
        return _text(200, f"{taken} taken\n")

    return handle


def routes(app: Bottle, services: Services) -> None:
    handle = events_handler(services)

    @app.post("/janus/events", auth="public", csrf=False,
              summary="Janus's event handler (Janus only: loopback and HTTP basic auth): its"
              " session, handle, plugin, WebRTC and core events, one JSON object or a list,"
              " for the MCU status")
    def janus_events():
        status, headers, body = handle(request.environ, lambda n: request.body.read(n))
        return HTTPResponse(body, status, headers)
