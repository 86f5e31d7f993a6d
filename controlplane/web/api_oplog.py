"""Operation log (O2): filtered list, and the same list as CSV for Excel.

Entries are put into words here, in the reader's language (controlplane.oplog.in_words):
the page and the export say the same, in the UI language."""

from __future__ import annotations

import datetime as dt

from bottle import Bottle, HTTPResponse, request

from controlplane.app import Services
from controlplane.oplog import Query, in_words, to_csv
from controlplane.timezones import local_time
from controlplane.web.context import _, lang, query_int, wants_csv
from controlplane.web.periods import bounds, day_of

MAX_LIMIT = 1000


def routes(app: Bottle, services: Services) -> None:
    @app.get("/api/v1/operation-log",
             summary="Operation log (days: today and the days before, in the appliance's"
             " time zone;"
             " or since, until; search, limit, offset) -> {items, total, filtered, since,"
             " until} (the dates shown); CSV with Accept: text/csv. Entries in words of the"
             " UI language: action_text, target_text, result_text, detail (sentences) and"
             " detail_technical (a program's own words)")
    def operation_log():
        q = request.query
        csv = wants_csv()
        tz = services.licenses.zone()
        today = services.licenses.now().date()
        if q.get("days", ""):
            days = query_int("days", q.get("days", ""), 1, 1, 36500)
            first = today - dt.timedelta(days=days - 1)
            since: float | None = dt.datetime.combine(first, dt.time(), tzinfo=tz).timestamp()
            until = None
        else:
            since, until = bounds(q, tz)
        query = Query(
            since=since,
            until=until,
            search=q.getunicode("search", "") or "",
            limit=None if csv else query_int("limit", q.get("limit", ""), 50, 1, MAX_LIMIT),
            offset=query_int("offset", q.get("offset", ""), 0, 0, 10**9),
        )
        page = services.oplog.find_all(query)
        language = lang()
        page["items"] = [
            {**in_words(item, language),
             "time": local_time(item["ts"], tz)}
            for item in page["items"]]
        if not csv:
            return {**page, "since": day_of(since, tz),
                    "until": day_of(until, tz, end=True) if until is not None
                    else (today.isoformat() if since is not None else "")}
        headers = [_("Time"), _("User name"), _("Source IP"), _("Action"), _("Target"),
                   _("Result"), _("Details"), _("Technical details")]
        data = to_csv(page["items"], headers,
                      ["time", "username", "ip", "action_text", "target_text", "result_text",
                       "detail", "detail_technical"])
        stamp = services.licenses.now().strftime("%Y%m%d%H%M%S")
        return HTTPResponse(data, 200, {
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="operation-log-{stamp}.csv"',
        })
