"""Meeting invitations (SPEC Q5, X1): on booking, change and cancel, every participant
(and the organizer) with an e-mail gets a mail with an iCalendar file (RFC 5545, iTIP
RFC 5546: METHOD REQUEST or CANCEL) that Outlook, Thunderbird and Apple Calendar take.

- Built with the maintained `icalendar` library: it folds and escapes lines, writes the
  appliance's time zone as a VTIMEZONE (add_missing_timezones) and validates what it
  parses back (the tests read every mail with it).
- One event per meeting: its UID is made when the meeting is created and never changes
  (an ID or time change updates the same calendar entry); SEQUENCE counts the changes,
  and a cancel sends SEQUENCE + 1 with STATUS:CANCELLED. A recurring meeting is one
  event with an RRULE.
- The description holds what a participant needs to join: the dial strings
  (ID@domain, ID**password@domain), the IVR access number, the browser link.
- Mails go in the appliance default language (the administrator's choice of language in
  the setup wizard): accounts have no language of their own.
- Sending never blocks or fails a booking: mails go in the background; each failure is
  logged (the operation log shows the booking itself).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import icalendar

from controlplane import meetings as mtg
from controlplane.i18n import N_, translate

log = logging.getLogger(__name__)

REQUEST, CANCEL = "REQUEST", "CANCEL"
PRODID = "-//vcbox//vcbox meetings 1.0//EN"
FREQ = {"daily": "DAILY", "weekly": "WEEKLY"}


@dataclass(frozen=True)
class Person:
    account: str
    name: str
    email: str


@dataclass(frozen=True)
class Site:
    domain: str
    ivr_number: str
    base_url: str            # "http://10.0.0.2/" (the portal's address, with a slash)
    sender: str              # the SMTP sender, the ORGANIZER when the organizer has no mail
    zone: dt.tzinfo


def zone_name(zone: dt.tzinfo) -> str:
    return zone.key if isinstance(zone, ZoneInfo) else ""


def _aware(local: dt.datetime, zone: dt.tzinfo) -> dt.datetime:
    """A naive local time (as meetings store `start`) in the appliance's zone; a zone
    without a name (DST off: a fixed offset) as UTC, which every calendar takes."""
    moment = local.replace(tzinfo=zone)
    return moment if zone_name(zone) else moment.astimezone(dt.UTC)


def description(meeting: dict[str, Any], site: Site, language: str,
                rooms: Iterable[str]) -> str:
    def t(msgid: str, **values: Any) -> str:
        return translate(language, msgid, **values)

    lines = [t(N_("Meeting ID: %(id)s"), id=meeting["id"])]
    if meeting.get("password"):
        lines.append(t(N_("Password: %(password)s"), password=meeting["password"]))
    lines += ["", t(N_("Join from a SIP terminal: dial %(dial)s"),
                    dial=f"{meeting['id']}@{site.domain}")]
    if meeting.get("password"):
        lines.append(t(N_("or with the password: %(dial)s"),
                       dial=f"{meeting['id']}**{meeting['password']}@{site.domain}"))
    if site.ivr_number:
        lines.append(t(N_("Or call the access number %(number)s and key in the meeting ID."),
                       number=site.ivr_number))
    lines.append(t(N_("Join from a browser: %(url)s"),
                   url=f"{site.base_url.rstrip('/')}/join/{meeting['id']}"))
    names = list(rooms)
    if names:
        lines += ["", t(N_("Rooms: %(rooms)s"), rooms=", ".join(names))]
    return "\n".join(lines)


def calendar(meeting: dict[str, Any], method: str, organizer: Person,
             participants: list[Person], site: Site, language: str,
             rooms: list[str], sequence: int | None = None,
             stamp: dt.datetime | None = None) -> bytes:
    """The .ics of one scheduled meeting for an invitation (REQUEST) or a cancel."""
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("method", method)
    event = icalendar.Event()
    event.add("uid", meeting["uid"])
    event.add("sequence", meeting.get("sequence", 0) if sequence is None else sequence)
    event.add("dtstamp", stamp or dt.datetime.now(dt.UTC))
    start = dt.datetime.fromisoformat(meeting["start"])
    event.add("dtstart", _aware(start, site.zone))
    event.add("dtend", _aware(start + dt.timedelta(minutes=meeting["duration_min"]),
                              site.zone))
    repeat = meeting.get("recurrence")
    if repeat:
        # UNTIL in UTC (RFC 5545 3.3.10 with a zoned DTSTART): the end of the last day.
        last = dt.datetime.combine(dt.date.fromisoformat(repeat["until"]),
                                   dt.time(23, 59, 59)).replace(tzinfo=site.zone)
        event.add("rrule", {"freq": FREQ[repeat["freq"]], "until": last.astimezone(dt.UTC)})
    event.add("summary", meeting["subject"])
    event.add("location", ", ".join(rooms) or f"{meeting['id']}@{site.domain}")
    event.add("description", description(meeting, site, language, rooms))
    event.add("url", f"{site.base_url.rstrip('/')}/join/{meeting['id']}")
    event.add("status", "CANCELLED" if method == CANCEL else "CONFIRMED")
    event.add("transp", "OPAQUE")
    org = icalendar.vCalAddress(f"mailto:{organizer.email or site.sender}")
    org.params["cn"] = icalendar.vText(organizer.name or organizer.account)
    event.add("organizer", org)
    for person in participants:
        if not person.email:
            continue
        who = icalendar.vCalAddress(f"mailto:{person.email}")
        who.params["cn"] = icalendar.vText(person.name or person.account)
        who.params["role"] = icalendar.vText("REQ-PARTICIPANT")
        who.params["partstat"] = icalendar.vText("NEEDS-ACTION")
        who.params["rsvp"] = icalendar.vText("FALSE")
        event.add("attendee", who)
    cal.add_component(event)
    if zone_name(site.zone):
        cal.add_missing_timezones()
    return cal.to_ical()


def subject_line(meeting: dict[str, Any], method: str, changed: bool, language: str) -> str:
    if method == CANCEL:
        msgid = N_("Cancelled: %(subject)s")
    elif changed:
        msgid = N_("Changed: %(subject)s")
    else:
        msgid = N_("Invitation: %(subject)s")
    return translate(language, msgid, subject=meeting["subject"])


def body_text(meeting: dict[str, Any], method: str, organizer: Person, site: Site,
              language: str, rooms: list[str]) -> str:
    start = dt.datetime.fromisoformat(meeting["start"])
    head = translate(
        language,
        N_("%(organizer)s cancelled the meeting \"%(subject)s\" of %(start)s.")
        if method == CANCEL else
        N_("%(organizer)s invites you to the meeting \"%(subject)s\" on %(start)s"
           " (%(minutes)s minutes)."),
        organizer=organizer.name or organizer.account, subject=meeting["subject"],
        start=start.strftime("%Y-%m-%d %H:%M"), minutes=meeting["duration_min"])
    if method == CANCEL:
        return head + "\n"
    return head + "\n\n" + description(meeting, site, language, rooms) + "\n"


class Invitations:
    """Sends the invitation mails of a booking, a change or a cancel."""

    def __init__(self, people: Callable[[str], Person | None], site: Callable[[], Site],
                 room_name: Callable[[str], str], language: Callable[[], str],
                 send: Callable[[list[tuple[str, str, str, list[tuple[str, str, bytes]]]],
                                 str], list[str | None]],
                 spawn: Callable[[Callable[[], None]], Any] = lambda job: job()) -> None:
        self.people, self.site, self.room_name = people, site, room_name
        self.language, self.send, self.spawn = language, send, spawn

    def mails(self, meeting: dict[str, Any], method: str, changed: bool = False,
              was: dict[str, Any] | None = None) -> list[tuple[str, str, str,
                                                              list[tuple[str, str, bytes]]]]:
        """(to, subject, body, attachments) for everyone with an e-mail: the organizer and
        the participants; on a change, the ones no longer invited get a cancel."""
        site, language = self.site(), self.language()
        organizer = self.people(meeting["organizer"]) or Person(meeting["organizer"], "", "")
        invited = [p for p in (self.people(a) for a in meeting["participants"]) if p]
        rooms = [self.room_name(r) for r in meeting["rooms"]]
        out = []
        everyone = {p.account: p for p in [organizer, *invited] if p.email}
        ics = calendar(meeting, method, organizer, invited, site, language, rooms)
        subject = subject_line(meeting, method, changed, language)
        text = body_text(meeting, method, organizer, site, language, rooms)
        for person in everyone.values():
            out.append((person.email, subject, text,
                        [("invite.ics", f"text/calendar; method={method}; charset=UTF-8", ics)]))
        if was is not None and method == REQUEST:
            dropped = [p for p in (self.people(a) for a in was["participants"]
                                   if a not in meeting["participants"]) if p and p.email]
            if dropped:
                gone = calendar(meeting, CANCEL, organizer, dropped, site, language, rooms)
                subject = subject_line(meeting, CANCEL, False, language)
                text = body_text(meeting, CANCEL, organizer, site, language, rooms)
                out += [(p.email, subject, text,
                         [("invite.ics", f"text/calendar; method={CANCEL}; charset=UTF-8", gone)])
                        for p in dropped]
        return out

    def _send(self, mails: list[tuple[str, str, str, list[tuple[str, str, bytes]]]],
              meeting_id: str) -> None:
        if not mails:
            return

        def job() -> None:
            try:
                results = self.send(mails, self.language())
            except Exception as exc:  # SMTP not set up, or the server away
                log.warning("meeting %s: invitations not sent: %s", meeting_id, exc)
                return
            for (to, *_rest), why in zip(mails, results, strict=True):
                if why:
                    log.warning("meeting %s: the invitation to %s failed: %s",
                                meeting_id, to, why)

        self.spawn(job)

    def booked(self, meeting: dict[str, Any]) -> None:
        if meeting["kind"] == mtg.SCHEDULED:
            self._send(self.mails(meeting, REQUEST), meeting["id"])

    def changed(self, was: dict[str, Any], meeting: dict[str, Any]) -> None:
        if meeting["kind"] == mtg.SCHEDULED:
            self._send(self.mails(meeting, REQUEST, changed=True, was=was), meeting["id"])

    def cancelled(self, meeting: dict[str, Any]) -> None:
        if meeting["kind"] == mtg.SCHEDULED:
            cancel = {**meeting, "sequence": meeting.get("sequence", 0) + 1}
            self._send(self.mails(cancel, CANCEL), meeting["id"])
