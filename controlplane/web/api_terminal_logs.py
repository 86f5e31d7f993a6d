"""Terminal logs (O4): the terminals with a log (filter by model and online/offline,
search name or account) and one terminal's log of a date range as a download. On and
off: PUT /api/v1/settings/terminal-logs {"enabled": ...}."""

from __future__ import annotations

import datetime as dt
import ipaddress
from typing import Any

from bottle import Bottle, HTTPResponse, request

from controlplane.app import Services
from controlplane.errors import NotFound, ValidationError
from controlplane.i18n import N_
from controlplane.presence import device_of
from controlplane.timezones import local_time
from controlplane.web.context import query_int
from controlplane.web.periods import REVERSED

MAX_LIMIT = 1000
DAYS = ("1", "3", "7", "all")  # the guide's 今日 / 近 3 日 / 近 7 日 / 全部


def routes(app: Bottle, services: Services) -> None:
    logs = services.terminal_logs

    @app.get("/api/v1/terminal-logs",
             summary="Terminal logs (model; status: online|offline; search: name or account;"
             " limit, offset) -> {items, total, filtered, enabled}: one per terminal IP,"
             " with its account, model, software version, status and log size")
    def terminal_logs():
        q = request.query
        model = q.getunicode("model", "") or ""
        status = q.get("status", "") or ""
        if status not in ("", "online", "offline"):
            raise ValidationError(details={"status": N_("Choose online or offline.")})
        needle = (q.getunicode("search", "") or "").strip().casefold()
        zone = services.licenses.zone()
        online = {device.ip for device in services.presence.devices()}
        items: list[dict[str, Any]] = []
        for terminal in logs.terminals():
            account = services.accounts.find(terminal.account) if terminal.account else None
            found_model, software = device_of(terminal.user_agent)
            items.append({
                "ip": terminal.ip, "account": terminal.account,
                "name": account.name if account is not None else "",
                "model": found_model, "software": software,
                "status": "online" if terminal.ip in online else "offline",
                "last_seen": local_time(terminal.last_seen, zone), "size": terminal.size})
        total = len(items)
        items = [i for i in items
                 if (not model or i["model"] == model)
                 and (not status or i["status"] == status)
                 and (not needle or needle in i["account"].casefold()
                      or needle in i["name"].casefold())]
        limit = query_int("limit", q.get("limit", ""), 20, 1, MAX_LIMIT)
        offset = query_int("offset", q.get("offset", ""), 0, 0, 10**9)
        return {"items": items[offset:offset + limit], "total": total,
                "filtered": len(items), "models": sorted({i["model"] for i in items if i["model"]}),
                "enabled": bool(services.settings.value("terminal-logs", "enabled"))}

    @app.get("/api/v1/terminal-logs/<ip>/export",
             summary="One terminal's log (days: 1, 3, 7 or all; or since, until: dates of"
             " the appliance) as a text file")
    def export(ip: str):
        try:
            ip = str(ipaddress.ip_address(ip))
        except ValueError:
            raise NotFound(N_("There is no log of this terminal.")) from None
        q = request.query
        today = services.licenses.now().date()
        days = q.get("days", "") or ""
        first: dt.date | None
        last: dt.date | None
        if days:
            if days not in DAYS:
                raise ValidationError(details={"days": N_(
                    "Choose today, the last 3 days, the last 7 days or all.")})
            first = None if days == "all" else today - dt.timedelta(days=int(days) - 1)
            last = None
        else:
            first, last = _date("since", q.get("since", "")), _date("until", q.get("until", ""))
            if first and last and first > last:
                raise ValidationError(details={"since": REVERSED, "until": REVERSED})
        pieces = logs.export(ip, first, last)
        if pieces is None:
            raise NotFound(N_("There is no log of this terminal."))
        name = f"terminal-{ip.replace(':', '_')}-{today.strftime('%Y%m%d')}.log"
        return HTTPResponse(pieces, 200, {
            "Content-Type": "text/plain; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{name}"'})


def _date(name: str, value: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValidationError(details={name: N_("Use a date like 2026-01-31.")}) from None
