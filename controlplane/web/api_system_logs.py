"""System logs (O3): the Web, FreeSWITCH, MCU and TURN logs of a date range as one zip,
streamed (controlplane/system_logs.py), and the list of the files it would hold (what the
page asks first: a refusal is shown at its fields, and a download is not recorded twice).

Query of both: parts (a comma list of web, freeswitch, mcu, turn; absent: all four),
days (1, 3 or 7: today and the days before, in the appliance's time zone; all: no bound),
or since, until (dates of the appliance, whole days, or ISO date-times; either may be
left open)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

from bottle import Bottle, HTTPResponse, request

from controlplane import system_logs
from controlplane.app import Services
from controlplane.errors import ValidationError
from controlplane.i18n import N_
from controlplane.web.context import _
from controlplane.web.periods import REVERSED

DAYS = ("1", "3", "7", "all")  # the guide's 今日 / 近 3 日 / 近 7 日 / 全部
WRONG_DATE = N_("Use a date like 2026-01-31.")


class Request:
    """A query's parts and bounds, checked (ValidationError with field details)."""

    def __init__(self, services: Services, query: Any) -> None:
        self.tz = services.licenses.zone()
        self.today = services.licenses.now().date()
        self.parts = self._parts(query.get("parts"))
        errors: dict[str, str] = {}
        days = query.get("days", "") or ""
        self.since: float | None = None
        self.until: float | None = None
        if days:
            if days not in DAYS:
                errors["days"] = N_("Choose today, the last 3 days, the last 7 days or all.")
            elif days != "all":
                first = self.today - dt.timedelta(days=int(days) - 1)
                self.since = self._midnight(first)
        else:
            for name, end in (("since", False), ("until", True)):
                try:
                    setattr(self, name, self._moment(query.get(name, "") or "", end))
                except ValueError:
                    errors[name] = WRONG_DATE
            if not errors and self.since is not None and self.until is not None \
                    and self.since >= self.until:
                errors = {"since": REVERSED, "until": REVERSED}
        if isinstance(self.parts, str):
            errors["parts"] = self.parts
        if errors:
            raise ValidationError(details=errors)

    def _parts(self, value: str | None) -> list[str] | str:
        if value is None:
            return list(system_logs.PARTS)
        names = [p.strip().lower() for p in value.split(",") if p.strip()]
        if not names:
            return N_("Choose at least one log.")
        if any(p not in system_logs.PARTS for p in names):
            return N_("Choose among the Web, FreeSWITCH, MCU and TURN logs.")
        return [p for p in system_logs.PARTS if p in names]

    def _midnight(self, day: dt.date) -> float:
        return dt.datetime.combine(day, dt.time(), tzinfo=self.tz).timestamp()

    def _moment(self, value: str, end: bool) -> float | None:
        if not value:
            return None
        if len(value) == 10:
            return self._midnight(dt.date.fromisoformat(value) + dt.timedelta(days=int(end)))
        moment = dt.datetime.fromisoformat(value)
        return (moment if moment.tzinfo else moment.replace(tzinfo=self.tz)).timestamp()

    def day(self, value: float | None, end: bool = False) -> dt.date | None:
        if value is None:
            return None
        return dt.datetime.fromtimestamp(value - (1 if end else 0), self.tz).date()

    @property
    def first(self) -> dt.date | None:
        return self.day(self.since)

    @property
    def last(self) -> dt.date:
        """The last day the range holds (today when it is open)."""
        return self.day(self.until, end=True) or self.today

    def range_text(self) -> str:
        def moment(value: float | None) -> str:
            return dt.datetime.fromtimestamp(value, self.tz).isoformat(" ", "seconds") \
                if value is not None else "…"
        return f"{moment(self.since)} – {moment(self.until)}"

    def file_name(self) -> str:
        first = self.first.strftime("%Y%m%d") if self.first else "all"
        return f"vcbox-logs-{first}-{self.last.strftime('%Y%m%d')}.zip"

    def target(self) -> str:
        """The operation log's target: the parts and the days."""
        days = f"{self.first.isoformat() if self.first else '…'}..{self.last.isoformat()}"
        return f"{','.join(self.parts)} {days}"


def _cooperative(pieces: Iterator[bytes]) -> Iterator[bytes]:
    """The zip's pieces, each followed by a yield to the other requests (time.sleep is
    gevent's under the server's monkey patching): a big export never holds the loop."""
    try:
        for piece in pieces:
            yield piece
            time.sleep(0)
    finally:
        close = getattr(pieces, "close", None)
        if close is not None:
            close()


def routes(app: Bottle, services: Services) -> None:
    root = services.config.root

    def target() -> str:
        try:
            return Request(services, request.query).target()
        except ValidationError:
            return ""          # refused: not recorded (the plugin's rule for wrong fields)

    def chosen(req: Request) -> list[system_logs.LogFile]:
        return system_logs.select(root, req.parts, req.since, req.until, req.tz,
                                  services.config.data_dir)

    @app.get("/api/v1/logs/system/files",
             summary="The files a system-logs export would hold (parts: web, freeswitch,"
             " mcu, turn; days: 1, 3, 7 or all; or since, until) -> {items: [{part,"
             " name, size, modified}], total, size, since, until, file_name}")
    def system_log_files():
        req = Request(services, request.query)
        files = chosen(req)
        return {
            "items": [{"part": f.part, "name": f.member, "size": f.size,
                       "modified": dt.datetime.fromtimestamp(f.modified, req.tz)
                       .isoformat(" ", "seconds")} for f in files],
            "total": len(files), "size": sum(f.size for f in files),
            "since": req.first.isoformat() if req.first else "",
            "until": req.last.isoformat(), "file_name": req.file_name()}

    @app.get("/api/v1/logs/system", audit="export_system_logs",
             audit_target=lambda kw: target(),
             summary="Export the system logs (parts: web, freeswitch, mcu, turn; days: 1,"
             " 3, 7 or all; or since, until: dates of the appliance or ISO date-times) as"
             " one zip, streamed: a folder per part and manifest.txt")
    def export_system_logs():
        req = Request(services, request.query)
        files = chosen(req)
        text = system_logs.manifest(files, req.parts, req.range_text(), root, req.tz, _)
        return HTTPResponse(_cooperative(system_logs.stream(files, text, req.tz)), 200, {
            "Content-Type": "application/zip",
            "Content-Disposition": f'attachment; filename="{req.file_name()}"',
            "Cache-Control": "no-store"})
