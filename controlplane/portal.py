"""The enterprise users' portal (SPEC Q5, X1): an account signs in with its number and the
password its terminal uses, and sees and books its own meetings.

- The password is checked against the account's stored a1-hash (md5 of
  account:domain:password, what SIP digest authentication needs and all that is kept of
  it, see controlplane.accounts) in constant time. A slower hash beside it would not
  protect the password more (the a1-hash is the SIP credential itself); online guessing
  is stopped by the same lockout as the administrator's (A3), counted per account.
- Portal sessions are their own realm (controlplane.sessions): their cookie opens no
  admin route, and an admin cookie no portal route. A session ends when its account is
  deleted or its password changes.
- Everything an account may do goes through here, always as itself: its meetings are
  the ones it organizes (it may read the ones it is invited to).
"""

from __future__ import annotations

import hmac
import secrets
import threading
from collections.abc import Callable
from typing import Any

from controlplane import meetings as meeting_rules
from controlplane import rules
from controlplane.accounts import Accounts, a1_hash
from controlplane.config import Config
from controlplane.errors import Forbidden, NotFound, ValidationError
from controlplane.i18n import N_
from controlplane.meetings import SCHEDULED, Meetings
from controlplane.sessions import Lockout, Session, Sessions
from controlplane.settings import Settings
from controlplane.store import History

REALM = "portal"
# What an account may send about its meetings: never the organizer, never the kind.
BOOKING_FIELDS = ("subject", "start", "duration_min", "participants", "rooms", "password",
                  "layout", "recurrence", "allow_guests")
_DUMMY_A1 = secrets.token_hex(16)


def lockout_key(account: str) -> str:
    return f"{REALM}:{account}"


class Portal:
    def __init__(self, accounts: Accounts, meetings: Meetings, settings: Settings,
                 history: History, config: Config, clock: Callable[[], float]) -> None:
        self.accounts, self.meetings, self.settings = accounts, meetings, settings
        self.config = config
        self.sessions = Sessions(history, REALM, lambda _s: config.session_idle_s, clock)
        self.lockout = Lockout(history, config.lockout_attempts, config.lockout_s, clock)
        # The a1-hash each signed-in account had: a change ends its sessions.
        self._a1: dict[str, str] = {}
        self._lock = threading.Lock()
        for account in {s.username for s in self.sessions._by_hash.values()}:
            found = accounts.find(account)
            self._a1[account] = found.a1_hash if found else ""
        accounts.on_change.append(self._account_changed)

    # -- signing in ----------------------------------------------------------------------

    def authenticate(self, account: Any, password: Any) -> str:
        """The account number on success; Locked (423), Unauthorized (401) or a field error."""
        details = {}
        if not isinstance(account, str) or not account.strip():
            details["account"] = N_("Required.")
        if not isinstance(password, str) or not password:
            details["password"] = N_("Required.")
        if details:
            raise ValidationError(details=details)
        account = account.strip()
        key = lockout_key(account)
        self.lockout.check(key)
        found = self.accounts.find(account)
        domain = self.accounts.domain()
        stored = found.a1_hash if found is not None and found.domain == domain else _DUMMY_A1
        given = a1_hash(account, domain, password)
        if hmac.compare_digest(stored, given) and found is not None:
            self.lockout.succeeded(key)
            return account
        raise self.lockout.failed(key)

    def open_session(self, account: str) -> tuple[str, Session]:
        found = self.accounts.find(account)
        with self._lock:
            self._a1[account] = found.a1_hash if found else ""
        return self.sessions.open(account)

    def find_session(self, token: str | None, touch: bool = True) -> Session | None:
        session = self.sessions.find(token, touch)
        if session is not None and self.accounts.find(session.username) is None:
            self.sessions.close_others(session.username, keep=None)
            return None
        return session

    def close_session(self, token: str) -> Session | None:
        return self.sessions.close(token)

    def _account_changed(self, account: str) -> None:
        with self._lock:
            if account not in self._a1:
                return
            found = self.accounts.find(account)
            if found is not None and found.a1_hash == self._a1[account]:
                return
            del self._a1[account]
        self.sessions.close_others(account, keep=None)

    # -- what the account sees -----------------------------------------------------------

    def profile(self, account: str) -> dict[str, Any]:
        """The account, its VMRs with their dial strings, the access numbers."""
        found = self.accounts.find(account)
        if found is None:
            raise NotFound(N_("No such account: %(account)s."), account=account)
        info = self.accounts.server_info()
        call = self.settings.stored("call")
        vmrs = [self._dial(m, info["domain"]) for m in self._all()
                if m["kind"] == meeting_rules.VMR and m["organizer"] == account]
        return {"account": found.account, "name": found.name, "email": found.email,
                "domain": info["domain"], "address": info["address"],
                "ivr_number": call["ivr_number"], "meet_now_number": call["meet_now_number"],
                "vmrs": vmrs}

    @staticmethod
    def _dial(meeting: dict[str, Any], domain: str) -> dict[str, Any]:
        out = {**meeting, "dial": f"{meeting['id']}@{domain}", "join_url": f"/join/{meeting['id']}"}
        if meeting.get("password"):
            out["dial_with_password"] = f"{meeting['id']}**{meeting['password']}@{domain}"
        return out

    def _all(self) -> list[dict[str, Any]]:
        return self.meetings.find_all(limit=None, order="start", direction="asc")["items"]

    def find_all(self, account: str, search: str = "") -> dict[str, Any]:
        """{items, total, filtered}: the scheduled meetings the account organizes or is
        invited to (role "organizer" or "participant"), by start."""
        domain = self.accounts.domain()
        mine = []
        for meeting in self._all():
            if meeting["kind"] != SCHEDULED:
                continue
            if meeting["organizer"] == account:
                role = "organizer"
            elif account in meeting["participants"]:
                role = "participant"
            else:
                continue
            people = [{"account": a, "name": getattr(self.accounts.find(a), "name", "")}
                      for a in meeting["participants"]]
            mine.append({**self._dial(meeting, domain), "role": role, "people": people})
        needle = search.strip().casefold()
        shown = [m for m in mine if not needle or needle in m["subject"].casefold()
                 or needle in m["id"]]
        return {"items": shown, "total": len(mine), "filtered": len(shown)}

    def get(self, account: str, meeting_id: str) -> dict[str, Any]:
        for meeting in self.find_all(account)["items"]:
            if meeting["id"] == meeting_id:
                return meeting
        raise NotFound(N_("No such meeting."))

    def _own(self, account: str, meeting_id: str) -> dict[str, Any]:
        meeting = self.get(account, meeting_id)
        if meeting["role"] != "organizer":
            raise Forbidden(N_("Only the organizer can change or cancel this meeting."))
        return meeting

    @staticmethod
    def _booking(data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise ValidationError(N_("The request body must be a JSON object."))
        unknown = sorted(set(data) - set(BOOKING_FIELDS))
        if unknown:
            raise ValidationError(details={name: N_("This field cannot be set here.")
                                           for name in unknown})
        return data

    def book(self, account: str, data: Any) -> dict[str, Any]:
        clean = self._booking(data)
        created = self.meetings.create({**clean, "kind": SCHEDULED, "organizer": account})
        return self.get(account, created["id"])

    def change(self, account: str, meeting_id: str, data: Any) -> dict[str, Any]:
        self._own(account, meeting_id)
        clean = self._booking(data)
        changed = self.meetings.update(meeting_id, clean)
        return self.get(account, changed["id"])

    def cancel(self, account: str, meeting_id: str) -> dict[str, Any]:
        meeting = self._own(account, meeting_id)
        self.meetings.delete_many([meeting_id])
        return meeting

    def people(self, search: str, limit: int = 20) -> dict[str, Any]:
        """Accounts to invite: number and name only (never e-mail addresses)."""
        found = self.accounts.find_all(search=search, limit=limit)
        return {"items": [{"account": a["account"], "name": a["name"]}
                          for a in found["items"]],
                "total": found["total"], "filtered": found["filtered"]}

    def rooms(self, start: str = "", duration_min: str = "", skip: str = "") -> dict[str, Any]:
        """The rooms, each with what it is booked for in a window (start, duration) if one
        is given: {"busy": {"id", "subject", "start"}} or null. skip: a meeting being edited."""
        return self.meetings.room_availability(start, duration_min, skip)

    @staticmethod
    def check_search(value: str) -> str:
        return rules.text(value)[:100]
