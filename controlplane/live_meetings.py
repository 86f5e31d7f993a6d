"""The meetings running now (SPEC S3) and their moderation.

Read from FreeSWITCH itself on each request (`conference json_list` for the conferences,
`show calls as json` for the point-to-point calls), a second's cache between: FreeSWITCH's
own state, so there is no copy to go stale, and after a control-plane restart or an ESL
reconnect the list is right at once, with no new SIP traffic needed. The meeting store
adds what FreeSWITCH does not know (subject, organizer, type); presence adds each member's
device model.

Moderation goes to the conference over ESL: mute / unmute one member or all, remove a
member, lock / unlock, end the meeting, and invite an account (dial-out, as the video
rooms of a scheduled meeting are called).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any, Protocol

from controlplane import rules
from controlplane.cached import Cached
from controlplane.drivers.esl import EslReplyError
from controlplane.errors import Conflict, NotFound, ValidationError
from controlplane.i18n import N_
from controlplane.meeting_runner import originate_command

P2P = "p2p"
KINDS = ("vmr", "scheduled", "instant", P2P)
MEMBER_ACTIONS = ("mute", "unmute", "kick")
MEETING_ACTIONS = ("lock", "unlock", "end")
CACHE_S = 1.0
_ID = re.compile(r"^[0-9]{1,32}$")
_MEMBER = re.compile(r"^(all|[0-9]{1,10})$")


class Api(Protocol):
    def api(self, command: str, timeout: float | None = None) -> str: ...
    def bgapi(self, command: str, timeout: float | None = None) -> str: ...


def _conferences(text: str) -> list[dict[str, Any]]:
    text = text.strip()
    if not text.startswith("["):
        return []  # "-ERR No active conferences."
    data = json.loads(text)
    return [c for c in data if isinstance(c, dict) and c.get("conference_name")]


def _p2p_calls(text: str) -> list[dict[str, Any]]:
    """The bridged two-party calls of `show calls as json` (a conference member's call has
    no B leg)."""
    data = json.loads(text) if text.strip() else {}
    rows = (data.get("rows") or []) if isinstance(data, dict) else []
    return [r for r in rows if isinstance(r, dict) and r.get("b_uuid")]


class LiveMeetings:
    """live = LiveMeetings(esl, meetings, accounts, model_of, domain); live.list()"""

    def __init__(self, esl: Api, meetings: Any, name_of: Callable[[str], str],
                 model_of: Callable[[str], str], domain: Callable[[], str],
                 clock: Callable[[], float] = time.time) -> None:
        self.esl, self.meetings = esl, meetings
        self.name_of, self.model_of, self.domain = name_of, model_of, domain
        self.clock = clock
        # Many admins' pages poll the list: FreeSWITCH is asked at most twice per CACHE_S,
        # ahead of time while it is polled, and no answer is older than CACHE_S.
        self._list = Cached(CACHE_S / 2, self._read, name="live-meetings",
                            keep_on_error=False, max_age=CACHE_S)

    # -- reading -------------------------------------------------------------------------

    def _member(self, m: dict[str, Any]) -> dict[str, Any]:
        flags = m.get("flags") or {}
        account = str(m.get("caller_id_number") or "")
        return {"id": str(m.get("id", "")), "account": account,
                "name": self.name_of(account) or str(m.get("caller_id_name") or ""),
                "device_model": self.model_of(account),
                "muted": not flags.get("can_speak", True),
                "video": bool(flags.get("has_video")),
                "talking": bool(flags.get("talking")),
                "moderator": bool(flags.get("is_moderator")),
                "joined_s": int(m.get("join_time") or 0)}

    def _conference(self, conf: dict[str, Any], now: float) -> dict[str, Any]:
        name = str(conf["conference_name"])
        stored = self.meetings.find(name) or {}
        run_s = int(conf.get("run_time") or 0)
        members = [self._member(m) for m in conf.get("members") or []
                   if m.get("type") == "caller"]
        # A conference the store does not know (begun elsewhere) counts as instant.
        return {"id": name, "kind": stored.get("kind", "instant"),
                "subject": stored.get("subject", ""), "organizer": stored.get("organizer", ""),
                "organizer_name": self.name_of(stored.get("organizer", "")),
                "start": now - run_s, "duration_s": run_s,
                "locked": bool(conf.get("locked")), "members": members}

    def _call(self, row: dict[str, Any], now: float) -> dict[str, Any]:
        try:
            start = float(row.get("created_epoch") or now)
        except ValueError:
            start = now
        # The B leg's caller ID is the caller's (FreeSWITCH passes it on to the callee):
        # the account called is the B leg's presence ID (the dial string sets it to the
        # dialled user), else who the A leg reached, else what was dialled.
        callee = ((row.get("b_presence_id") or "").partition("@")[0]
                  or row.get("callee_num") or row.get("b_dest") or row.get("dest") or "")
        parties = [(row.get("cid_num") or "", row.get("cid_name") or ""), (callee, "")]
        members = [{"id": "", "account": a, "name": self.name_of(a) or n,
                    "device_model": self.model_of(a), "muted": False, "video": False,
                    "talking": False, "moderator": False, "joined_s": int(now - start)}
                   for a, n in parties]
        return {"id": str(row.get("uuid", "")), "kind": P2P, "subject": "",
                "organizer": parties[0][0], "organizer_name": self.name_of(parties[0][0]),
                "start": start, "duration_s": int(now - start), "locked": False,
                "members": members}

    def list(self) -> list[dict[str, Any]]:
        """Every meeting running now, newest first (EslError when FreeSWITCH cannot be
        asked); never more than CACHE_S old."""
        return self._list()

    def _read(self) -> list[dict[str, Any]]:
        now = self.clock()
        conferences = _conferences(self._api("conference json_list"))
        calls = _p2p_calls(self.esl.api("show calls as json"))
        items = ([self._conference(c, now) for c in conferences]
                 + [self._call(r, now) for r in calls])
        items.sort(key=lambda m: (-m["start"], m["id"]))
        return items

    def _api(self, command: str) -> str:
        try:
            return self.esl.api(command)
        except EslReplyError:  # -ERR No active conferences.
            return ""

    def find_all(self, search: str = "", kind: str = "all") -> dict[str, Any]:
        """{items, total, filtered}: search matches the subject, the organizer (account or
        name), the type or the ID."""
        rules.validate({"kind": kind}, {"kind": rules.one_of("all", *KINDS)})
        items = self.list()
        total = len(items)
        if kind != "all":
            items = [m for m in items if m["kind"] == kind]
        needle = search.strip().casefold()
        if needle:
            items = [m for m in items if any(needle in str(m[k]).casefold() for k in (
                "subject", "organizer", "organizer_name", "kind", "id"))]
        return {"items": items, "total": total, "filtered": len(items)}

    def get(self, meeting_id: str) -> dict[str, Any]:
        for item in self.list():
            if item["id"] == meeting_id and item["kind"] != P2P:
                return item
        raise NotFound(N_("This meeting is not running."))

    # -- moderation ------------------------------------------------------------------------

    def _running(self, meeting_id: str) -> dict[str, Any]:
        if not _ID.match(meeting_id or ""):
            raise NotFound(N_("This meeting is not running."))
        self.forget()
        return self.get(meeting_id)

    def forget(self) -> None:
        self._list.invalidate()

    def member(self, meeting_id: str, member: str, action: str) -> None:
        meeting = self._running(meeting_id)
        if action not in MEMBER_ACTIONS or not _MEMBER.match(member or ""):
            raise NotFound(N_("No such member in this meeting."))
        if member != "all" and not any(m["id"] == member for m in meeting["members"]):
            raise NotFound(N_("No such member in this meeting."))
        if action == "kick" and member == "all":
            raise ValidationError(details={"member": N_(
                "Remove members one by one, or end the meeting.")})
        self.esl.api(f"conference {meeting_id} {action} {member}")
        self.forget()

    def meeting(self, meeting_id: str, action: str) -> None:
        self._running(meeting_id)
        if action not in MEETING_ACTIONS:
            raise NotFound(N_("This meeting is not running."))
        # end: every member hung up (no exit sound each); the conference then ends.
        command = "hup all" if action == "end" else action
        self.esl.api(f"conference {meeting_id} {command}")
        self.forget()

    def invite(self, meeting_id: str, account: str, exists: Callable[[str], bool]) -> str:
        """Call the account's registered devices into the meeting (bgapi: the answer
        comes later); the job's id."""
        self._running(meeting_id)
        if not isinstance(account, str) or not exists(account):
            raise ValidationError(details={"account": N_("No such account.")})
        stored = self.meetings.find(meeting_id)
        if stored is None:
            raise Conflict(N_("Only meetings of this appliance can invite."))
        job = self.esl.bgapi(originate_command(stored, account, self.domain(),
                                               why="invite"))
        self.forget()
        return job
