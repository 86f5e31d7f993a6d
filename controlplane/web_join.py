"""Joining a meeting from a browser (SPEC Q3 `/join/<id>`, issue 14 item 4): who may join,
and the short-lived credentials a join hands the browser. No Bottle here (web/api_join.py
is the route).

The flow, and why each piece is what it is:
- The browser asks `POST /api/v1/join/<id> {"name", "password"}`. Who may join: a signed-in
  administrator; a signed-in portal user (the meeting's organizer and participants without
  the password, anyone else with it); anyone else only when the meeting allows guests
  (`allow_guests`) and with the meeting password. A scheduled meeting outside its admission
  window (meetings.admission, early join C4) and an appliance without a valid license are
  refused before any media is set up, with their own error ids.
- The answer holds a **one-time join token** (random, 32 bytes; only its SHA-256 is kept, in
  memory, for JOIN_TTL_S): the browser's Janus SIP plugin handle registers as a `guest` (no
  REGISTER, no SIP credentials at all: the browser never sees a SIP password or an HA1) and
  calls `sip:<id>@<domain>` through FreeSWITCH's loopback-only profile "vcbox_web"
  (templates/etc/freeswitch/sip_profiles/vcbox_web.xml, 127.0.0.1:5066, no authentication)
  with the token in the `X-Vcbox-Join` header. FreeSWITCH asks the control plane for that
  call's dialplan (mod_xml_curl, context "vcbox_web"): the token is redeemed there (once; for
  that meeting only) and the call joins the meeting's conference exactly like a SIP
  terminal's (controlplane.dialplan: the same license count and audio-only fallback L4, the
  same call-record variables), without the password prompt, under the display name the
  token was minted with. Any other call on that profile is refused (403).
- Janus: the browser speaks Janus's HTTP API with a **signed Janus token** (Janus's
  `token_auth_secret` scheme: "<expiry>,janus,janus.plugin.sip:<base64 HMAC-SHA1>"), which
  only lets it attach to the SIP plugin; the API secret stays with the control plane. Its
  URL: on the appliance "/janus" on the page's own origin (nginx proxies it to Janus on
  127.0.0.1:8088); where the services run as local children (development, tests) Janus's
  own loopback URL, which its HTTP transport serves with CORS allowed.
- ICE: the TURN REST credentials of GET /api/v1/turn-credentials (coturn, `use-auth-secret`),
  minted for this join; both they and the Janus token last JANUS_TTL_S, as long as a
  meeting may go on (TURN refreshes and Janus keepalives re-check them).
- Wrong passwords are counted per client address and meeting: after the login lockout's
  number of attempts (A3) that client is refused for the lockout time (423).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from controlplane import meetings as mtg
from controlplane.errors import Conflict, Locked, NotFound, Unauthorized, ValidationError
from controlplane.i18n import N_

# How long a join token may wait for its call (the page calls at once).
JOIN_TTL_S = 120
# Janus and TURN credentials of a join: the longest meeting (24 h).
JANUS_TTL_S = 24 * 3600
JANUS_PLUGIN = "janus.plugin.sip"
JOIN_HEADER = "X-Vcbox-Join"
# FreeSWITCH's name of the header's channel variable (sofia: sip_h_<header>).
JOIN_VARIABLE = f"variable_sip_h_{JOIN_HEADER}"
WEB_SIP_PROXY = "sip:127.0.0.1:5066"   # sip_profiles/vcbox_web.xml
NAME_MAX = 64


class NotStarted(Conflict):
    error_id = "meeting_not_started"
    message = N_("The meeting has not started yet: it opens at %(opens)s.")


class Ended(Conflict):
    error_id = "meeting_ended"
    message = N_("The meeting has ended.")


class NotLicensed(Conflict):
    error_id = "not_licensed"
    message = N_("The appliance has no valid license: meetings cannot be joined.")


class SignInRequired(Unauthorized):
    error_id = "sign_in_required"
    message = N_("This meeting admits signed-in users only. Sign in to the user portal first.")


@dataclass(frozen=True)
class Grant:
    """What a join token lets its call do."""

    meeting_id: str
    name: str          # the display name in the meeting
    number: str        # the caller number: the portal account, else "web"
    expires: float


def display_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(details={"name": N_("Required.")})
    value = " ".join(value.split())
    if len(value) > NAME_MAX or not value.isprintable():
        raise ValidationError(details={"name": (N_("At most %(max)s characters."),
                                                {"max": NAME_MAX})})
    return value


def janus_token(secret: str, ttl_s: int, now: float | None = None,
                plugins: tuple[str, ...] = (JANUS_PLUGIN,)) -> str:
    """A Janus signed token (auth.c janus_auth_check_signature[_contains])."""
    expiry = int(now if now is not None else time.time()) + int(ttl_s)
    data = ",".join([str(expiry), "janus", *plugins])
    digest = hmac.new(secret.encode(), data.encode(), hashlib.sha1).digest()
    return f"{data}:{base64.b64encode(digest).decode('ascii')}"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class WebJoins:
    """The join tokens waiting for their call, and the wrong-password counts (in memory:
    both are short-lived, and a restart only makes a browser ask again)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._grants: dict[str, Grant] = {}
        self._failures: dict[tuple[str, str], tuple[int, float]] = {}
        self._lock = threading.Lock()

    # -- tokens ------------------------------------------------------------------------

    def mint(self, meeting_id: str, name: str, number: str) -> str:
        token = secrets.token_urlsafe(32)
        now = self.clock()
        with self._lock:
            self._grants = {k: g for k, g in self._grants.items() if g.expires > now}
            self._grants[_digest(token)] = Grant(meeting_id, name, number, now + JOIN_TTL_S)
        return token

    def redeem(self, token: str, meeting_id: str) -> Grant | None:
        """The token's grant, once, when it is for this meeting and has not expired."""
        if not token:
            return None
        with self._lock:
            grant = self._grants.pop(_digest(token), None)
        if grant is None or grant.expires <= self.clock() or grant.meeting_id != meeting_id:
            return None
        return grant

    # -- wrong passwords -----------------------------------------------------------------

    def check_locked(self, client: str, meeting_id: str) -> None:
        with self._lock:
            _, until = self._failures.get((client, meeting_id), (0, 0.0))
        left = until - self.clock()
        if left > 0:
            raise Locked(N_("Too many wrong passwords: try again in %(minutes)s minutes."),
                         minutes=max(1, round(left / 60)), retry_after=int(left) + 1)

    def wrong_password(self, client: str, meeting_id: str, attempts: int,
                       lockout_s: int) -> None:
        with self._lock:
            count, _ = self._failures.get((client, meeting_id), (0, 0.0))
            count += 1
            until = 0.0
            if count >= attempts:
                count, until = 0, self.clock() + lockout_s
            self._failures[(client, meeting_id)] = (count, until)
        if until:
            raise Locked(N_("Too many wrong passwords: try again in %(minutes)s minutes."),
                         minutes=max(1, round(lockout_s / 60)), retry_after=lockout_s)
        raise ValidationError(details={"password": (
            N_("Wrong meeting password. %(left)s attempts left."), {"left": attempts - count})})

    def right_password(self, client: str, meeting_id: str) -> None:
        with self._lock:
            self._failures.pop((client, meeting_id), None)


@dataclass(frozen=True)
class Viewer:
    """Who asks to join: the administrator, a portal account, or nobody signed in."""

    admin: bool = False
    account: str = ""

    @property
    def signed_in(self) -> bool:
        return self.admin or bool(self.account)


def needs_password(meeting: Mapping[str, Any], viewer: Viewer) -> bool:
    if not meeting.get("password") or viewer.admin:
        return False
    invited = (meeting.get("organizer"), *meeting.get("participants", ()))
    return not (viewer.account and viewer.account in invited)


def may_try(meeting: Mapping[str, Any], viewer: Viewer) -> bool:
    """Whether this viewer may join at all (with the password where one is needed)."""
    return viewer.signed_in or bool(meeting.get("allow_guests", False))


def admit(joins: WebJoins, meeting: Mapping[str, Any] | None, viewer: Viewer, data: Any,
          client: str, *, now: Any, early_join_min: int, licensed_calls: int,
          attempts: int, lockout_s: int) -> Grant:
    """Check a join request; the grant a token is then minted for (raises the refusal)."""
    if meeting is None:
        raise NotFound(N_("No such meeting."))
    data = data if isinstance(data, Mapping) else {}
    if not may_try(meeting, viewer):
        raise SignInRequired()
    name = display_name(data.get("name"))
    if needs_password(meeting, viewer):
        joins.check_locked(client, meeting["id"])
        given = data.get("password")
        if not isinstance(given, str) or not given:
            raise ValidationError(details={"password": N_("Required.")})
        if not hmac.compare_digest(given.strip().encode(), meeting["password"].encode()):
            joins.wrong_password(client, meeting["id"], attempts, lockout_s)
        joins.right_password(client, meeting["id"])
    if licensed_calls <= 0:
        raise NotLicensed()
    state = mtg.admission(meeting, now, early_join_min)
    if state == "early":
        raise NotStarted(opens=_opens(meeting, early_join_min))
    if state == "ended":
        raise Ended()
    return Grant(meeting["id"], name, viewer.account or "web", 0.0)


def _opens(meeting: Mapping[str, Any], early_join_min: int) -> str:
    start = dt.datetime.fromisoformat(meeting["start"])
    return (start - dt.timedelta(minutes=early_join_min)).strftime("%Y-%m-%d %H:%M")
