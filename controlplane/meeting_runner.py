"""What meetings do while they run, driven over ESL (DESIGN D4):

- the video rooms of a scheduled meeting are called at its start (Q1, issue 11): each
  room's bound account is originated into the meeting's conference (all of its registered
  terminals ring; the first to answer joins);
- an instant meeting is forgotten when its conference ends (conference-destroy).

Rooms are called once per meeting start: when the start passes, or at once for a meeting
booked (or moved) while it is under way. Meetings already under way when the control
plane starts are not called again (they were called before the restart).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
from collections.abc import Callable, Mapping
from typing import Any

from controlplane.dialplan import LIMIT, PROFILES
from controlplane.drivers.esl import Esl, EslError, EslEvent
from controlplane.meetings import Meetings

log = logging.getLogger(__name__)

CALL_OUT_CHECK_S = 5.0
# What may not appear inside an originate's {variables} (ESL: one line, comma lists).
_UNSAFE = re.compile(r"[^\w .@-]", re.UNICODE)


def originate_command(meeting: Mapping[str, Any], account: str, domain: str,
                      why: str = "room") -> str:
    """bgapi originate of an account (a room's, or one invited from the live meetings
    page: why) into the meeting's conference."""
    name = _UNSAFE.sub("", meeting["subject"])[:64] or meeting["id"]
    profile = PROFILES.get(meeting.get("layout", "equal"), "default")
    variables = ",".join([
        f"origination_caller_id_number={meeting['id']}",
        f"origination_caller_id_name='{name}'",
        f"vcbox_meeting={meeting['id']}",
        f"vcbox_call_out={why}",
        f"vcbox_meeting_kind={meeting.get('kind', 'instant')}",
        f"vcbox_organizer={_UNSAFE.sub('', str(meeting.get('organizer', '')))}",
        f"vcbox_subject='{name}'",
        "originate_timeout=60",
        # the call counts (L4), as every participant who dials in
        f"execute_on_answer='limit {LIMIT} -1'",
    ])
    target = f"{meeting['id']}@{profile}"
    if meeting.get("password"):
        target += f"+{meeting['password']}"
    return f"originate {{{variables}}}user/{account}@{domain} &conference({target})"


class MeetingRunner:
    def __init__(self, meetings: Meetings, esl: Esl,
                 bound_account: Callable[[str], str], domain: Callable[[], str],
                 interval_s: float = CALL_OUT_CHECK_S) -> None:
        self.meetings, self.esl = meetings, esl
        self.bound_account, self.domain = bound_account, domain
        self.interval_s = interval_s
        self._called: set[tuple[str, str, str]] = set()   # (meeting id, start, room)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.esl.on_event("conference::maintenance", self.on_conference_event)
        self.esl.subscribe("conference::maintenance")
        self._called = {(m["id"], m["start"], room)
                        for m in self.meetings.running_with_rooms(self.meetings.now())
                        for room in m["rooms"]}
        self._thread = threading.Thread(target=self._loop, name="meeting-runner",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def on_conference_event(self, event: EslEvent) -> None:
        if event.get("Action") == "conference-destroy":
            name = event.get("Conference-Name") or ""
            if self.meetings.end_instant(name):
                log.info("instant meeting %s ended", name)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.tick()
            except Exception:
                log.exception("meeting call-out check failed")

    def tick(self, now: dt.datetime | None = None) -> list[str]:
        """Call the rooms of meetings under way that were not called yet; the commands.
        A room whose call could not be sent (the ESL link down) is tried again next time."""
        now = now or self.meetings.now()
        sent: list[str] = []
        for meeting in self.meetings.running_with_rooms(now):
            for room_id in meeting["rooms"]:
                key = (meeting["id"], meeting["start"], room_id)
                if key in self._called:
                    continue
                self._called.add(key)
                account = self.bound_account(room_id)
                if not account:
                    log.warning("meeting %s: room %s has no bound account", meeting["id"],
                                room_id)
                    continue
                command = originate_command(meeting, account, self.domain())
                try:
                    self.esl.bgapi(command)
                    sent.append(command)
                except EslError as exc:
                    self._called.discard(key)
                    log.warning("meeting %s: calling room %s failed: %s", meeting["id"],
                                room_id, exc)
        return sent
