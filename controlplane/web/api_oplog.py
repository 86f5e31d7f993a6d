"""Operation log (O2): filtered list, and the same list as CSV for Excel."""

from __future__ import annotations

import datetime as dt

from bottle import Bottle, HTTPResponse, request

from controlplane.app import Services
from controlplane.errors import ValidationError
from controlplane.i18n import N_
from controlplane.oplog import ACTIONS, Query, to_csv
from controlplane.web.context import _, query_int, wants_csv

MAX_LIMIT = 1000
RESULTS = {"success": N_("Success"), "failure": N_("Failure")}


def _time(name: str, value: str, end: bool = False) -> float | None:
    """An epoch number, an ISO date (a whole local day) or an ISO date-time."""
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        if len(value) == 10:
            day = dt.date.fromisoformat(value) + dt.timedelta(days=1 if end else 0)
            return dt.datetime.combine(day, dt.time()).timestamp()
        return dt.datetime.fromisoformat(value).timestamp()
    except ValueError as exc:
        raise ValidationError(details={name: N_("Use a date like 2026-01-31.")}) from exc


def routes(app: Bottle, services: Services) -> None:
    @app.get("/api/v1/operation-log",
             summary="Operation log (since, until, search, limit, offset); CSV with Accept:"
             " text/csv")
    def operation_log():
        q = request.query
        csv = wants_csv()
        query = Query(
            since=_time("since", q.get("since", "")),
            until=_time("until", q.get("until", ""), end=True),
            search=q.getunicode("search", "") or "",
            limit=None if csv else query_int("limit", q.get("limit", ""), 50, 1, MAX_LIMIT),
            offset=query_int("offset", q.get("offset", ""), 0, 0, 10**9),
        )
        page = services.oplog.find_all(query)
        for item in page["items"]:
            item["time"] = dt.datetime.fromtimestamp(item["ts"]).isoformat(timespec="seconds")
            item["action_text"] = _(ACTIONS.get(item["action"], item["action"]))
            item["result_text"] = _(RESULTS.get(item["result"], item["result"]))
        if not csv:
            return page
        headers = [_("Time"), _("User name"), _("Source IP"), _("Action"), _("Target"),
                   _("Result"), _("Details")]
        data = to_csv(page["items"], headers,
                      ["time", "username", "ip", "action_text", "target", "result_text",
                       "detail"])
        stamp = dt.datetime.now().strftime("%Y%m%d%H%M%S")
        return HTTPResponse(data, 200, {
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="operation-log-{stamp}.csv"',
        })
