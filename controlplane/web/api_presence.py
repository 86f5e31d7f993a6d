"""Online users (SPEC S2): the accounts with a registered device, from FreeSWITCH
(controlplane.presence), with each device's model, software version, address and whether
it is in a call."""

from __future__ import annotations

import json
from typing import Any

from bottle import Bottle, request

from controlplane.app import Services
from controlplane.cached import Cached
from controlplane.drivers.esl import EslError
from controlplane.timezones import local_time
from controlplane.web.context import query_int

MAX_LIMIT = 1000
IN_CALLS_TTL_S = 1.0
ONLINE, IN_CALL = "online", "in_call"


def busy_addresses(channels_json: str) -> set[tuple[str, str]]:
    """(account, IP) of every channel FreeSWITCH has (`show channels as json`): the caller
    ID number or presence user, and the address the channel's signalling came from."""
    data = json.loads(channels_json) if channels_json.strip() else {}
    busy = set()
    for row in (data.get("rows") or []) if isinstance(data, dict) else []:
        if not isinstance(row, dict):
            continue
        users = {row.get("cid_num") or "", (row.get("presence_id") or "").partition("@")[0]}
        for user in users - {""}:
            busy.add((user, row.get("ip_addr") or ""))
    return busy


def routes(app: Bottle, services: Services) -> None:
    presence, accounts = services.presence, services.accounts

    def read_calls() -> set[tuple[str, str]]:
        try:
            return busy_addresses(services.esl.api("show channels as json", 2.0))
        except (EslError, ValueError):
            return set()

    # One ESL round trip a second for every admin's page, not one per request (the
    # soak's online-users p99 was 430 ms with the requests queued on the ESL link).
    in_calls = Cached(IN_CALLS_TTL_S / 2, read_calls, name="online-in-calls",
                      max_age=IN_CALLS_TTL_S)

    @app.get("/api/v1/online-users",
             summary="Online users (search: name or account; limit, offset) -> {items,"
             " total, filtered, reachable}: each account with its devices (model, version,"
             " ip, port, transport, status online|in_call)")
    def online_users():
        q = request.query
        needle = (q.getunicode("search", "") or "").strip().casefold()
        limit = query_int("limit", q.get("limit", ""), 50, 1, MAX_LIMIT)
        offset = query_int("offset", q.get("offset", ""), 0, 0, 10**9)
        online = presence.accounts()
        found = online
        if needle:
            found = [a for a in online if needle in a.casefold()
                     or needle in accounts.name_of(a).casefold()]
        # Only the page's accounts are looked at further (10,000 may be online).
        busy = in_calls()
        zone = services.licenses.zone()
        items: list[dict[str, Any]] = []
        for account in found[offset:offset + limit]:
            shown = [{**device.public(),
                      "status": IN_CALL if (account, device.ip) in busy else ONLINE,
                      "registered_time": local_time(device.registered_at, zone)}
                     for device in presence.of_account(account)]
            items.append({"account": account, "name": accounts.name_of(account),
                          "status": IN_CALL if any(d["status"] == IN_CALL for d in shown)
                          else ONLINE, "devices": shown})
        return {"items": items, "total": len(online), "filtered": len(found),
                "reachable": services.esl.connected}
