"""Meetings (SPEC §10 Q1-Q3): virtual meeting rooms (VMRs), scheduled meetings and the
instant meetings callers start with the Meet Now number.

Stored in the documents table "meetings", one document per meeting:
  {"id", "kind", "subject", "organizer", "password", "layout", "created",
   and for scheduled ones "start", "duration_min", "participants", "rooms"}

Choices the guide leaves open:
- IDs (Q2) are 6 to 10 digits; vcbox chooses 6-digit ones (first digit 1-8) when a
  meeting is created without one. Account numbers have 4 digits (E2) and the access
  numbers (IVR, Meet Now: call settings) 5, so a meeting ID can never be dialled as
  either; IDs are unique across VMRs, scheduled and instant meetings.
- A password is 4 to 12 digits (it is keyed in on a terminal's keypad and dialled as
  ID**password); "" means none.
- `layout` is "equal" (the call settings' N x N) or "1+n" (their 1+N layout).
- `start` is local time of the appliance's time zone (ISO 8601, minutes; an offset given
  by the client is converted); a scheduled meeting admits callers from start - early
  join (C4) until start + duration; a VMR is always open.
- A room cannot be in two scheduled meetings whose times overlap (Q5), any occurrence of
  a recurring one included.
- A scheduled meeting may recur (X1): `recurrence` {"freq": "daily" | "weekly", "until":
  "YYYY-MM-DD"} repeats it at the same local time every day or week up to and including
  that date (at most MAX_OCCURRENCES times); null or absent: once.
- `allow_guests` (all kinds, default false): whether anyone with the password may join
  from a browser (/join/ID) without an account.
- For the invitations (iCalendar, RFC 5545) a scheduled meeting keeps a `uid` made at its
  creation (stable while its ID or time changes) and a `sequence` that every change
  counts up.
- Instant meetings are not created through the API: the Meet Now number creates one for
  the caller; it is removed when its conference ends.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from controlplane import rules
from controlplane.errors import Conflict, NotFound, ValidationError
from controlplane.i18n import N_
from controlplane.rules import Field, FieldError

log = logging.getLogger(__name__)

TABLE = "meetings"
VMR, SCHEDULED, INSTANT = "vmr", "scheduled", "instant"
KINDS = (VMR, SCHEDULED, INSTANT)
ORDERS = ("start", "id", "subject", "kind", "organizer")
LIST_FIELDS = {"kind": rules.one_of("all", *KINDS), "order": rules.one_of(*ORDERS),
               "direction": rules.one_of("asc", "desc")}
LAYOUTS = ("equal", "1+n")
ID_DIGITS = (6, 10)
PASSWORD_DIGITS = (4, 12)
DURATION_MIN = (5, 24 * 60)
MAX_PARTICIPANTS = 1000
FREQUENCIES = {"daily": 1, "weekly": 7}   # days between occurrences
MAX_OCCURRENCES = 366
_ID = re.compile(r"^[0-9]+$")


class AccountDirectory(Protocol):
    def exists(self, account: str) -> bool: ...


class RoomDirectory(Protocol):
    def find(self, room_id: str) -> dict[str, Any] | None: ...

    def find_all(self, limit: int | None = ..., order: str = ...,
                 direction: str = ...) -> dict[str, Any]: ...


def meeting_id(value: Any) -> str:
    value = rules.text(value).strip()
    low, high = ID_DIGITS
    if not _ID.match(value) or not low <= len(value) <= high:
        raise FieldError(N_("A meeting ID is %(low)s to %(high)s digits."), low=low,
                         high=high)
    return value


def password(value: Any) -> str:
    value = rules.text(value).strip()
    if value == "":
        return ""
    low, high = PASSWORD_DIGITS
    if not _ID.match(value) or not low <= len(value) <= high:
        raise FieldError(N_("The password is %(low)s to %(high)s digits (or empty)."),
                         low=low, high=high)
    return value


def subject(value: Any) -> str:
    value = rules.text(value).strip()
    if not 1 <= len(value) <= 255:
        raise FieldError(N_("1 to 255 characters."))
    return value


def duration(value: Any) -> int:
    low, high = DURATION_MIN
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise FieldError(N_("A whole number of minutes from %(low)s to %(high)s."),
                         low=low, high=high)
    return value


def start_time(zone: dt.tzinfo) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        value = rules.text(value).strip()
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            raise FieldError(N_("A date and time such as 2026-03-02T14:30.")) from None
        if moment.tzinfo is not None:
            moment = moment.astimezone(zone).replace(tzinfo=None)
        return moment.replace(second=0, microsecond=0).isoformat(timespec="minutes")
    return check


def _list_of(check: Callable[[Any], str], what: str) -> Callable[[Any], list[str]]:
    def many(value: Any) -> list[str]:
        if not isinstance(value, list):
            raise FieldError(N_("A list of %(what)s."), what=what)
        if len(value) > MAX_PARTICIPANTS:
            raise FieldError(N_("At most %(max)s items."), max=MAX_PARTICIPANTS)
        out: list[str] = []
        for item in value:
            clean = check(item)
            if clean not in out:
                out.append(clean)
        return out
    return many


def _room_id(value: Any) -> str:
    value = rules.text(value).strip()
    if not value:
        raise FieldError(N_("A room id."))
    return value


def recurrence(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise FieldError(N_("Either none, or a frequency and an end date."))
    freq = value.get("freq")
    if freq not in FREQUENCIES:
        raise FieldError(N_("Choose one of: %(choices)s."), choices=", ".join(FREQUENCIES))
    until = rules.text(value.get("until", "")).strip()
    try:
        dt.date.fromisoformat(until)
    except ValueError:
        raise FieldError(N_("An end date such as 2026-03-31.")) from None
    return {"freq": freq, "until": until}


def windows(meeting: Mapping[str, Any]) -> list[tuple[dt.datetime, dt.datetime]]:
    """Each occurrence's start and end (naive local time), in order; [] for a VMR or an
    instant meeting."""
    if meeting["kind"] != SCHEDULED:
        return []
    start = dt.datetime.fromisoformat(meeting["start"])
    length = dt.timedelta(minutes=meeting["duration_min"])
    repeat = meeting.get("recurrence")
    if not repeat:
        return [(start, start + length)]
    step = dt.timedelta(days=FREQUENCIES[repeat["freq"]])
    until = dt.date.fromisoformat(repeat["until"])
    out = []
    at = start
    while at.date() <= until and len(out) < MAX_OCCURRENCES:
        out.append((at, at + length))
        at += step
    return out


def window(meeting: Mapping[str, Any]) -> tuple[dt.datetime, dt.datetime] | None:
    """A scheduled meeting's (first) start and (last) end; None for the others."""
    spans = windows(meeting)
    return (spans[0][0], spans[-1][1]) if spans else None


def current(meeting: Mapping[str, Any], now: dt.datetime,
            early_join_min: int = 0) -> tuple[dt.datetime, dt.datetime] | None:
    """The occurrence a call at `now` belongs to (from start - early join to its end)."""
    early = dt.timedelta(minutes=early_join_min)
    for start, end in windows(meeting):
        if start - early <= now < end:
            return start, end
    return None


def admission(meeting: Mapping[str, Any], now: dt.datetime, early_join_min: int) -> str:
    """"open", "early" (before start - early join of the next occurrence) or "ended" (after
    the last one) for a call at `now` (naive local time)."""
    if meeting["kind"] != SCHEDULED:
        return "open"
    if current(meeting, now, early_join_min) is not None:
        return "open"
    if any(now < start for start, _ in windows(meeting)):
        return "early"
    return "ended"


def overlap(a: list[tuple[dt.datetime, dt.datetime]],
            b: list[tuple[dt.datetime, dt.datetime]]) -> tuple[dt.datetime, dt.datetime] | None:
    """The first occurrence of a that overlaps one of b (both sorted by start)."""
    i = j = 0
    while i < len(a) and j < len(b):
        if a[i][0] < b[j][1] and b[j][0] < a[i][1]:
            return a[i]
        if a[i][1] <= b[j][1]:
            i += 1
        else:
            j += 1
    return None


class Meetings:
    def __init__(self, docs, accounts: AccountDirectory, rooms: RoomDirectory,
                 zone: Callable[[], dt.tzinfo], clock: Callable[[], float] = time.time,
                 reserved: Callable[[], Iterable[str]] = tuple) -> None:
        self.docs, self.accounts, self.rooms = docs, accounts, rooms
        self.zone, self.clock = zone, clock
        # Numbers no meeting may take (the access numbers of the call settings).
        self.reserved = reserved
        # Told after each write (the invitations follow them): created(meeting),
        # changed(before, after), deleted(meeting); a failing listener is logged.
        self.on_created: list[Callable[[dict[str, Any]], None]] = []
        self.on_changed: list[Callable[[dict[str, Any], dict[str, Any]], None]] = []
        self.on_deleted: list[Callable[[dict[str, Any]], None]] = []

    @staticmethod
    def _tell(listeners: Iterable[Callable[..., None]], *args: Any) -> None:
        for listener in listeners:
            try:
                listener(*args)
            except Exception:
                log.exception("a meetings listener failed")

    # -- reading -------------------------------------------------------------------------

    def _rows(self) -> Mapping[str, dict[str, Any]]:
        """The stored meetings by tinydb id, without a copy: never mutate."""
        return self.docs.storage.read().get(TABLE, {})

    def now(self) -> dt.datetime:
        """The appliance's local time, naive (as `start` is stored)."""
        return dt.datetime.fromtimestamp(self.clock(), self.zone()).replace(tzinfo=None)

    @staticmethod
    def _public(meeting: Mapping[str, Any]) -> dict[str, Any]:
        out = {k: meeting[k] for k in ("id", "kind", "subject", "organizer", "password",
                                        "layout", "created")}
        out["allow_guests"] = bool(meeting.get("allow_guests", False))
        if meeting["kind"] == SCHEDULED:
            out.update(start=meeting["start"], duration_min=meeting["duration_min"],
                       participants=list(meeting["participants"]),
                       rooms=list(meeting["rooms"]),
                       recurrence=meeting.get("recurrence"),
                       uid=meeting.get("uid", ""), sequence=meeting.get("sequence", 0))
        return out

    def find(self, meeting_id: str) -> dict[str, Any] | None:
        for meeting in self._rows().values():
            if meeting["id"] == meeting_id:
                return self._public(meeting)
        return None

    def get(self, meeting_id: str) -> dict[str, Any]:
        meeting = self.find(meeting_id)
        if meeting is None:
            raise NotFound(N_("No such meeting."))
        return meeting

    def find_all(self, kind: str = "all", search: str = "", limit: int | None = 50,
                 offset: int = 0, order: str = "start",
                 direction: str = "desc") -> dict[str, Any]:
        """{items, total, filtered, counts}: newest first unless ordered otherwise; search
        matches the ID, the subject or the organizer (substring, case-insensitive)."""
        rules.validate({"kind": kind, "order": order, "direction": direction},
                       LIST_FIELDS)
        meetings = [self._public(m) for m in self._rows().values()]
        counts = {"all": len(meetings), **{k: 0 for k in KINDS}}
        for meeting in meetings:
            counts[meeting["kind"]] += 1
        if kind != "all":
            meetings = [m for m in meetings if m["kind"] == kind]
        total = len(meetings)
        needle = search.strip().casefold()
        if needle:
            meetings = [m for m in meetings if any(
                needle in m[key].casefold() for key in ("id", "subject", "organizer"))]
        def sort_key(m: dict[str, Any]) -> tuple:
            first = () if order == "start" else (m[order].casefold(),)
            return (*first, m.get("start", ""), m["created"], m["id"])

        meetings.sort(key=sort_key, reverse=direction == "desc")
        end = None if limit is None else offset + limit
        return {"items": meetings[offset:end], "total": total, "filtered": len(meetings),
                "counts": counts}

    # -- checks --------------------------------------------------------------------------

    def _fields(self, kind: str) -> dict[str, Field | Callable[[Any], Any]]:
        fields: dict[str, Field | Callable[[Any], Any]] = {
            "id": Field(meeting_id, required=False),
            "kind": rules.one_of(VMR, SCHEDULED),
            "subject": subject,
            "organizer": rules.account,
            "password": Field(password, required=False),
            "layout": Field(rules.one_of(*LAYOUTS), required=False),
            "allow_guests": Field(rules.boolean, required=False),
        }
        if kind == SCHEDULED:
            fields.update({
                "start": start_time(self.zone()),
                "duration_min": duration,
                "participants": Field(_list_of(rules.account, N_("accounts")),
                                      required=False),
                "rooms": Field(_list_of(_room_id, N_("room ids")), required=False),
                "recurrence": Field(recurrence, required=False),
            })
        return fields

    def _check_refs(self, meeting: Mapping[str, Any]) -> None:
        details: dict[str, Any] = {}
        if not self.accounts.exists(meeting["organizer"]):
            details["organizer"] = (N_("There is no account %(account)s."),
                                    {"account": meeting["organizer"]})
        missing = [a for a in meeting.get("participants", []) if not self.accounts.exists(a)]
        if missing:
            details["participants"] = (N_("There is no account %(account)s."),
                                       {"account": ", ".join(missing[:5])})
        unknown = [r for r in meeting.get("rooms", []) if self.rooms.find(r) is None]
        if unknown:
            details["rooms"] = (N_("There is no room %(room)s."),
                                {"room": ", ".join(unknown[:5])})
        repeat = meeting.get("recurrence")
        if meeting["kind"] == SCHEDULED and repeat:
            first = dt.datetime.fromisoformat(meeting["start"]).date()
            until = dt.date.fromisoformat(repeat["until"])
            days = FREQUENCIES[repeat["freq"]]
            if until < first:
                details["recurrence"] = N_("The end date is before the first meeting.")
            elif (until - first).days // days + 1 > MAX_OCCURRENCES:
                details["recurrence"] = (N_("At most %(max)s occurrences."),
                                         {"max": MAX_OCCURRENCES})
        if details:
            raise ValidationError(details=details)

    def _check_unique(self, rows: Mapping[str, dict[str, Any]], meeting: Mapping[str, Any],
                      key: str | None) -> None:
        if meeting["id"] in set(self.reserved()):
            raise Conflict(details={"id": (
                N_("%(id)s is an access number of the call settings."), {"id": meeting["id"]})})
        spans = windows(meeting)
        for other_key, other in rows.items():
            if other_key == key:
                continue
            if other["id"] == meeting["id"]:
                raise Conflict(details={"id": (
                    N_("The meeting ID %(id)s is taken."), {"id": meeting["id"]})})
            if not spans or other["kind"] != SCHEDULED:
                continue
            shared = set(meeting["rooms"]) & set(other["rooms"])
            clash = overlap(spans, windows(other)) if shared else None
            if clash is not None:
                room = self.rooms.find(sorted(shared)[0])
                raise Conflict(details={"rooms": (
                    N_("The room %(room)s is booked for %(subject)s at that time"
                       " (%(when)s)."),
                    {"room": room["name"] if room else sorted(shared)[0],
                     "subject": other["subject"],
                     "when": clash[0].strftime("%Y-%m-%d %H:%M")})})

    def _new_id(self, rows: Mapping[str, dict[str, Any]]) -> str:
        taken = {m["id"] for m in rows.values()} | set(self.reserved())
        while True:
            candidate = str(secrets.randbelow(800000) + 100000)
            if candidate not in taken:
                return candidate

    # -- writing -------------------------------------------------------------------------

    def create(self, data: Any) -> dict[str, Any]:
        kind = data.get("kind") if isinstance(data, Mapping) else None
        clean = rules.validate(data, self._fields(kind if kind in KINDS else VMR))
        meeting = {"password": "", "layout": "equal", **clean}
        if meeting["kind"] == SCHEDULED:
            meeting.setdefault("participants", [])
            meeting.setdefault("rooms", [])
            meeting.setdefault("recurrence", None)
            meeting["uid"] = f"{secrets.token_hex(12)}@vcbox"
            meeting["sequence"] = 0
        self._check_refs(meeting)
        with self.docs.batch() as batch:
            rows = batch.rows(TABLE)
            meeting.setdefault("id", self._new_id(rows))
            meeting["created"] = self.clock()
            self._check_unique(rows, meeting, None)
            key = str(max((int(k) for k in rows), default=0) + 1)
            rows[key] = meeting
        created = self._public(meeting)
        self._tell(self.on_created, created)
        return created

    def update(self, meeting_id: str, data: Any) -> dict[str, Any]:
        """Change any field but the kind; the ID may change too (it is checked again)."""
        with self.docs.batch() as batch:
            rows = batch.rows(TABLE)
            key = next((k for k, m in rows.items() if m["id"] == meeting_id), None)
            if key is None:
                raise NotFound(N_("No such meeting."))
            current = rows[key]
            if current["kind"] == INSTANT:
                raise ValidationError(N_("An instant meeting cannot be edited."))
            clean = rules.validate(data, self._fields(current["kind"]), partial=True)
            if clean.get("kind", current["kind"]) != current["kind"]:
                raise ValidationError(details={
                    "kind": N_("The kind of a meeting cannot be changed.")})
            meeting = {**current, **clean}
            if meeting["kind"] == SCHEDULED:
                meeting["sequence"] = current.get("sequence", 0) + 1
            self._check_refs(meeting)
            self._check_unique(rows, meeting, key)
            rows[key] = meeting
        before, after = self._public(current), self._public(meeting)
        self._tell(self.on_changed, before, after)
        return after

    def delete_many(self, ids: Iterable[str]) -> list[str]:
        wanted = set(ids)
        deleted: list[dict[str, Any]] = []
        if not wanted:
            return []
        with self.docs.batch() as batch:
            rows = batch.rows(TABLE)
            for key in [k for k, m in rows.items() if m["id"] in wanted]:
                deleted.append(self._public(rows.pop(key)))
        for meeting in deleted:
            self._tell(self.on_deleted, meeting)
        return [m["id"] for m in deleted]

    def start_instant(self, organizer: str) -> dict[str, Any]:
        """A new instant meeting of this caller (the Meet Now number)."""
        with self.docs.batch() as batch:
            rows = batch.rows(TABLE)
            meeting = {"id": self._new_id(rows), "kind": INSTANT, "subject": organizer,
                       "organizer": organizer, "password": "", "layout": "equal",
                       "created": self.clock()}
            key = str(max((int(k) for k in rows), default=0) + 1)
            rows[key] = meeting
        return self._public(meeting)

    def end_instant(self, meeting_id: str) -> bool:
        """Forget an instant meeting whose conference ended; other kinds stay."""
        with self.docs.batch() as batch:
            rows = batch.rows(TABLE)
            key = next((k for k, m in rows.items()
                        if m["id"] == meeting_id and m["kind"] == INSTANT), None)
            if key is None:
                return False
            rows.pop(key)
        return True

    def drop_accounts(self, accounts: set[str]) -> None:
        """Deleted accounts leave the participant lists (their meetings stay)."""
        if not accounts:
            return
        with self.docs.batch() as batch:
            for meeting in batch.rows(TABLE).values():
                if meeting["kind"] == SCHEDULED and set(meeting["participants"]) & accounts:
                    meeting["participants"] = [a for a in meeting["participants"]
                                               if a not in accounts]

    def drop_rooms(self, room_ids: set[str]) -> None:
        """Deleted rooms leave the meetings they were booked for."""
        if not room_ids:
            return
        with self.docs.batch() as batch:
            for meeting in batch.rows(TABLE).values():
                if meeting["kind"] == SCHEDULED and set(meeting["rooms"]) & room_ids:
                    meeting["rooms"] = [r for r in meeting["rooms"] if r not in room_ids]

    def running_with_rooms(self, now: dt.datetime) -> list[dict[str, Any]]:
        """Scheduled meetings with rooms that are under way at `now` (start <= now < end),
        each with `start` the start of the occurrence under way."""
        due = []
        for meeting in self._rows().values():
            if meeting["kind"] != SCHEDULED or not meeting["rooms"]:
                continue
            span = current(meeting, now)
            if span is not None:
                due.append({**self._public(meeting),
                            "start": span[0].isoformat(timespec="minutes")})
        return due

    def room_availability(self, start: str = "", duration_min: Any = "",
                          skip: str = "") -> dict[str, Any]:
        """{items: [{id, name, type, busy}]}: every room, and when a window is given (start,
        duration in minutes) the scheduled meeting (not `skip`) that holds it then."""
        wanted: list[tuple[dt.datetime, dt.datetime]] = []
        if start or duration_min:
            clean = rules.validate(
                {"start": start, "duration_min": _minutes(duration_min)},
                {"start": start_time(self.zone()), "duration_min": duration})
            begin = dt.datetime.fromisoformat(clean["start"])
            wanted = [(begin, begin + dt.timedelta(minutes=clean["duration_min"]))]
        busy: dict[str, dict[str, Any]] = {}
        if wanted:
            for meeting in self._rows().values():
                if meeting["kind"] != SCHEDULED or meeting["id"] == skip:
                    continue
                clash = overlap(wanted, windows(meeting))
                if clash is None:
                    continue
                for room in meeting["rooms"]:
                    busy.setdefault(room, {"id": meeting["id"], "subject": meeting["subject"],
                                           "start": clash[0].isoformat(timespec="minutes")})
        rooms = self.rooms.find_all(limit=None, order="name", direction="asc")["items"]
        items = [{"id": r["id"], "name": r["name"], "kind": r["kind"],
                  "busy": busy.get(r["id"])} for r in rooms]
        return {"items": items, "total": len(items), "filtered": len(items)}


def _minutes(value: Any) -> Any:
    """A duration from a query string ("60") as a number; anything else as it came."""
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return value


def parse_ids(data: Any) -> list[str]:
    """The {"ids": [...]} body of a batch delete."""
    def ids(value: Any) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise FieldError(N_("A list of meeting IDs."))
        if len(value) > 10000:
            raise FieldError(N_("At most %(max)s items."), max=10000)
        return value

    return rules.validate(data, {"ids": ids})["ids"]
