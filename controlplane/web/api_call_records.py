"""Call records and meeting statistics (K1-K3): the list by type and period, one record's
participants, the statistics, and the shown list exported as CSV or XLSX."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from typing import Any

from bottle import Bottle, HTTPResponse, request

from controlplane import call_records
from controlplane.app import Services
from controlplane.call_records import KINDS, Query
from controlplane.errors import NotFound, ValidationError
from controlplane.i18n import N_
from controlplane.oplog import csv_safe
from controlplane.presence import device_of
from controlplane.timezones import local_time
from controlplane.web.context import _, query_int
from controlplane.web.periods import bounds, day_of, months_ago

MAX_LIMIT = 1000
PERIODS = (1, 3, 6, 12)  # the guide's 近一个月 / 近三个月 / 近半年 / 近一年
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
XLSX_MAX_ROWS = 1_048_575  # Excel's sheet, less the heading
KIND_WORDS = {"p2p": N_("Point-to-point call"), "instant": N_("Instant meeting"),
              "scheduled": N_("Scheduled meeting"), "vmr": N_("VMR")}


def routes(app: Bottle, services: Services) -> None:
    def period() -> tuple[float | None, float | None]:
        """months=1|3|6|12 (from that day's midnight, appliance zone), or since/until."""
        q = request.query
        tz = services.licenses.zone()
        months = q.get("months", "")
        if months:
            if months not in {str(m) for m in PERIODS}:
                raise ValidationError(details={"months": N_(
                    "Choose the last 1, 3, 6 or 12 months.")})
            return months_ago(services.licenses.now(), int(months)).timestamp(), None
        return bounds(q, tz)

    def query(export: bool = False) -> Query:
        q = request.query
        kind = q.get("type", "") or q.get("kind", "") or ""  # kind: the list page's tabs
        if kind not in ("", "all", *KINDS):
            raise ValidationError(details={"type": N_(
                "Choose all, p2p, instant, scheduled or vmr.")})
        since, until = period()
        return Query(kind="" if kind == "all" else kind, since=since, until=until,
                     search=(q.getunicode("search", "") or "").strip(),
                     limit=None if export else query_int("limit", q.get("limit", ""), 50,
                                                         0, MAX_LIMIT),
                     offset=query_int("offset", q.get("offset", ""), 0, 0, 10**9))

    def shown(item: dict[str, Any], tz: dt.tzinfo) -> dict[str, Any]:
        return {"id": item["key"], "kind": item["kind"], "meeting_id": item["meeting_id"],
                "subject": item["subject"], "organizer": item["organizer"],
                "start": local_time(item["start"], tz), "end": local_time(item["end"], tz),
                "duration_s": item["duration_s"], "members": item["members"]}

    def export_format() -> str:
        accept = request.headers.get("Accept", "")
        wanted = request.query.get("format", "")
        if wanted == "xlsx" or XLSX in accept:
            return "xlsx"
        if wanted == "csv" or "text/csv" in accept:
            return "csv"
        return ""

    @app.get("/api/v1/call-records",
             summary="Call records (type: all, p2p, instant, scheduled, vmr; months: 1, 3,"
             " 6, 12, or since, until; search: subject or meeting ID; limit, offset) ->"
             " {items, total, filtered}, newest first; the whole filtered list as CSV"
             " (Accept: text/csv) or XLSX (format=xlsx)")
    def list_records():
        fmt = export_format()
        found = query(export=bool(fmt))
        tz = services.licenses.zone()
        if fmt:
            return export(found, fmt, tz)
        with services.cdrs.reading() as db:
            page = call_records.find(db, found)
        return {**page, "items": [shown(item, tz) for item in page["items"]]}

    @app.get("/api/v1/call-records/stats",
             summary="Meeting statistics (months or since, until): records of each type in"
             " the period and ever, the most simultaneous calls ever and in the period")
    def stats():
        since, until = period()
        tz = services.licenses.zone()
        with services.cdrs.reading() as db:
            figures = call_records.stats(db, since, until)
        return {**figures, "since": day_of(since, tz), "until": day_of(until, tz, end=True)}

    @app.get("/api/v1/call-records/<key>",
             summary="One call record with its participants (joined, left, device)")
    def one_record(key: str):
        tz = services.licenses.zone()
        with services.cdrs.reading() as db:
            item = call_records.get(db, key.lower())
        if item is None:
            raise NotFound(N_("No such call record."))
        return {**shown(item, tz), "participants": [
            {**p, "joined": local_time(p["joined"], tz), "left": local_time(p["left"], tz),
             **dict(zip(("device_model", "software"), device_of(p["user_agent"]),
                        strict=True))}
            for p in item["participants"]]}

    def export(found: Query, fmt: str, tz: dt.tzinfo) -> HTTPResponse:
        headers = [_("Subject"), _("Type"), _("Meeting ID"), _("Organizer"), _("Time"),
                   _("Duration (s)"), _("Participants")]
        kinds = {kind: _(word) for kind, word in KIND_WORDS.items()}

        def cells() -> Iterator[list[Any]]:
            with services.cdrs.reading() as db:
                for item in call_records.rows(db, found):
                    yield [item["subject"], kinds[item["kind"]], item["meeting_id"],
                           item["organizer"], local_time(item["start"], tz),
                           item["duration_s"], item["members"]]

        stamp = services.licenses.now().strftime("%Y%m%d%H%M%S")
        if fmt == "xlsx":
            body, kind = to_xlsx(headers, cells()), XLSX
        else:
            body, kind = to_csv(headers, cells()), "text/csv; charset=utf-8"
        return HTTPResponse(body, 200, {
            "Content-Type": kind,
            "Content-Disposition": f'attachment; filename="call-records-{stamp}.{fmt}"'})


def to_csv(headers: list[str], cells: Iterator[list[Any]]) -> Iterator[bytes]:
    """CSV in UTF-8 with a BOM (Excel shows the Chinese text), streamed in pieces."""
    out = io.StringIO()
    writer = csv.writer(out)
    out.write("\ufeff")
    writer.writerow(headers)
    for number, row in enumerate(cells, 1):
        writer.writerow([csv_safe(value) for value in row])
        if number % 2000 == 0:
            yield out.getvalue().encode("utf-8")
            out.seek(0)
            out.truncate()
    yield out.getvalue().encode("utf-8")


def to_xlsx(headers: list[str], cells: Iterator[list[Any]]) -> bytes:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet()
    sheet.append(headers)
    for number, row in enumerate(cells, 1):
        if number > XLSX_MAX_ROWS:
            break
        sheet.append([csv_safe(value) for value in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
