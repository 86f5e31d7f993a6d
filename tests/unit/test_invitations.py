"""Invitation calendars (controlplane/invitations.py) and recurring meetings
(controlplane/meetings.py windows, admission, overlap), read back with `icalendar`."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import icalendar

from controlplane import meetings as mtg
from controlplane.invitations import CANCEL, REQUEST, Invitations, Person, Site, calendar

SHANGHAI = ZoneInfo("Asia/Shanghai")
SITE = Site(domain="vc.example.com", ivr_number="88000", base_url="https://vc.example.com/",
            sender="vcbox@example.com", zone=SHANGHAI)
MEETING = {"id": "123456", "kind": "scheduled", "subject": "Weekly 周会", "organizer": "1001",
           "password": "2468", "start": "2026-12-07T09:30", "duration_min": 45,
           "participants": ["1002", "1003"], "rooms": ["r1"], "uid": "abc@vcbox",
           "sequence": 3, "recurrence": {"freq": "weekly", "until": "2026-12-28"}}
PEOPLE = {"1001": Person("1001", "Alice", "alice@example.com"),
          "1002": Person("1002", "Bob", "bob@example.com"),
          "1003": Person("1003", "Carol", "")}


def test_a_zoned_recurring_request() -> None:
    ics = calendar(MEETING, REQUEST, PEOPLE["1001"], [PEOPLE["1002"], PEOPLE["1003"]], SITE,
                   "en", ["Board room"])
    cal = icalendar.Calendar.from_ical(ics)
    assert cal["method"] == "REQUEST" and cal["version"] == "2.0"
    [tz] = cal.walk("VTIMEZONE")
    assert str(tz["tzid"]) == "Asia/Shanghai"
    [event] = cal.walk("VEVENT")
    assert str(event["uid"]) == "abc@vcbox" and int(event["sequence"]) == 3
    start = event.decoded("dtstart")
    assert start == dt.datetime(2026, 12, 7, 9, 30, tzinfo=SHANGHAI)
    assert event["dtstart"].params["TZID"] == "Asia/Shanghai"
    assert event.decoded("dtend") - start == dt.timedelta(minutes=45)
    rule = event["rrule"]
    assert rule["FREQ"] == ["WEEKLY"]
    assert rule["UNTIL"][0] == dt.datetime(2026, 12, 28, 15, 59, 59, tzinfo=dt.UTC)
    assert str(event["summary"]) == "Weekly 周会"
    text = str(event["description"])
    for needle in ("123456@vc.example.com", "123456**2468@vc.example.com", "88000",
                   "https://vc.example.com/join/123456", "Board room"):
        assert needle in text
    # Only people with an address are attendees; the organizer is the organizer's address.
    assert str(event["attendee"]) == "mailto:bob@example.com"
    assert str(event["organizer"]) == "mailto:alice@example.com"
    assert event["organizer"].params["CN"] == "Alice"


def test_a_fixed_offset_zone_writes_utc_and_a_cancel_says_so() -> None:
    site = Site(**{**SITE.__dict__, "zone": dt.timezone(dt.timedelta(hours=8))})
    ics = calendar({**MEETING, "recurrence": None}, CANCEL, PEOPLE["1001"], [], site, "zh_CN",
                   [])
    cal = icalendar.Calendar.from_ical(ics)
    assert cal["method"] == "CANCEL" and not list(cal.walk("VTIMEZONE"))
    [event] = cal.walk("VEVENT")
    assert event.decoded("dtstart") == dt.datetime(2026, 12, 7, 1, 30, tzinfo=dt.UTC)
    assert str(event["status"]) == "CANCELLED" and "rrule" not in event
    assert "会议 ID" in str(event["description"])


def test_mails_go_to_everyone_with_an_address_and_a_dropped_participant_gets_a_cancel() -> None:
    sent: list[list[tuple]] = []
    def send(mails: list[tuple], lang: str) -> list[None]:
        sent.append(mails)
        return [None] * len(mails)

    inv = Invitations(PEOPLE.get, lambda: SITE, room_name=lambda r: "Board room",
                      language=lambda: "en", send=send)
    inv.booked(MEETING)
    assert [m[0] for m in sent[-1]] == ["alice@example.com", "bob@example.com"]
    assert sent[-1][0][1] == "Invitation: Weekly 周会"
    inv.changed(MEETING, {**MEETING, "participants": ["1003"], "sequence": 4})
    to = [(m[0], m[1]) for m in sent[-1]]
    assert to == [("alice@example.com", "Changed: Weekly 周会"),
                  ("bob@example.com", "Cancelled: Weekly 周会")]
    cancel = icalendar.Calendar.from_ical(sent[-1][1][3][0][2])
    assert cancel["method"] == "CANCEL"
    inv.cancelled(MEETING)
    last = icalendar.Calendar.from_ical(sent[-1][0][3][0][2])
    assert int(next(iter(last.walk("VEVENT")))["sequence"]) == 4
    assert sent[-1][0][3][0][1] == "text/calendar; method=CANCEL; charset=UTF-8"


def test_recurring_windows_admission_and_overlap() -> None:
    spans = mtg.windows(MEETING)
    assert [s.isoformat() for s, _ in spans] == [
        "2026-12-07T09:30:00", "2026-12-14T09:30:00", "2026-12-21T09:30:00",
        "2026-12-28T09:30:00"]
    at = dt.datetime.fromisoformat
    assert mtg.admission(MEETING, at("2026-12-14T09:25"), 10) == "open"
    assert mtg.admission(MEETING, at("2026-12-14T10:20"), 10) == "early"   # next week's
    assert mtg.admission(MEETING, at("2026-12-28T10:15"), 10) == "ended"
    daily = {**MEETING, "start": "2026-12-20T10:00", "duration_min": 30,
             "recurrence": {"freq": "daily", "until": "2026-12-31"}}
    assert mtg.overlap(spans, mtg.windows(daily)) == (at("2026-12-21T09:30"),
                                                      at("2026-12-21T10:15"))
    later = {**daily, "start": "2026-12-20T10:15"}
    assert mtg.overlap(spans, mtg.windows(later)) is None
