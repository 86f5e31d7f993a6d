"""TURN REST credentials (SPEC D6, §9 `GET /api/v1/turn-credentials`): what a signed-in
browser gives its ICE agent to relay through the appliance's coturn. Minted from coturn's
static-auth-secret (the TURN REST scheme coturn checks itself: username
"<expiry>:<user>", password HMAC-SHA1 of it), valid for a day."""

from __future__ import annotations

from bottle import Bottle

from controlplane import secrets
from controlplane.app import Services
from controlplane.drivers.coturn import rest_credentials
from controlplane.web import context

TTL_S = 24 * 3600
TURN_PORT = 3478   # templates/etc/turnserver.conf: listening-port
TURNS_PORT = 5349  # tls-listening-port


def routes(app: Bottle, services: Services) -> None:
    @app.get("/api/v1/turn-credentials",
             summary="TURN REST credentials for this session's user -> {username, password,"
             " ttl, uris} (RTCIceServer)")
    def turn_credentials():
        secret = secrets.ensure(services.docs)["turn_secret"]
        username, password = rest_credentials(secret, context.username() or "web", TTL_S)
        host = services.applier.media_ip or services.config.media_ip
        return {"username": username, "password": password, "ttl": TTL_S,
                "uris": [f"turn:{host}:{TURN_PORT}?transport=udp",
                         f"turn:{host}:{TURN_PORT}?transport=tcp",
                         f"turns:{host}:{TURNS_PORT}?transport=tcp"]}
