"""Who is online, on which devices (SPEC S2): the registrations of FreeSWITCH's internal
profile.

Followed from its `sofia::register`, `sofia::unregister` and `sofia::expire` events, and
read whole (`sofia status profile internal reg`) at start and on every new ESL link, so
that nothing is missed while the control plane or the link was down. A registration whose
time is up counts as gone at once (FreeSWITCH itself sweeps expired registrations only
every half minute or so, and then sends the expire event).

A device is a registration (FreeSWITCH's call-id of the REGISTER): one account may have
several. The model and software version come from the User-Agent of the terminal models
of the admin guide; anything else is shown as sent.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from controlplane.drivers.esl import CONNECTED, Esl, EslError, EslEvent

logger = logging.getLogger(__name__)

PROFILE = "internal"
EVENTS = ("sofia::register", "sofia::unregister", "sofia::expire")

# The guide's terminal models, as their User-Agents name them ("Yealink VC400 63.345.0.40",
# "Yealink SIP-VP-T49G 51.80.0.100", "Yealink VC Desktop 1.28.0.22") and as firmware file
# names do ("VC400-63.345.0.40.rom", "T49G-51.80.0.100.rom"; controlplane.firmware).
MODEL_PATTERNS = (
    ("VC400", re.compile(r"\bVC[\s_-]?400(?!\d)", re.I)),
    ("VC120", re.compile(r"\bVC[\s_-]?120(?!\d)", re.I)),
    ("VC110", re.compile(r"\bVC[\s_-]?110(?!\d)", re.I)),
    ("VC Desktop", re.compile(r"\bVC[\s_-]*Desktop\b", re.I)),
    ("VP-T49", re.compile(r"\b(?:VP-?)?T49G?(?![0-9A-Za-z])", re.I)),
)
_VERSION = re.compile(r"\b(\d+(?:\.\d+){1,4})\b")
_EXPSECS = re.compile(r"EXPSECS\((-?\d+)\)")
_TRANSPORT = re.compile(r"\((UDP|TCP|TLS|WSS?)\)", re.I)


@functools.lru_cache(maxsize=4096)
def device_of(user_agent: str) -> tuple[str, str]:
    """(model, software version) from a User-Agent: a model of the guide with the version
    that follows it; otherwise the User-Agent as sent and no version."""
    ua = (user_agent or "").strip()
    for model, pattern in MODEL_PATTERNS:
        found = pattern.search(ua)
        if found:
            version = _VERSION.search(ua, found.end())
            return model, version.group(1) if version else ""
    return ua, ""


@dataclass(frozen=True)
class Device:
    call_id: str
    account: str
    realm: str
    user_agent: str
    ip: str
    port: str
    transport: str
    expires_at: float
    registered_at: float

    @property
    def model(self) -> str:
        return device_of(self.user_agent)[0]

    @property
    def version(self) -> str:
        return device_of(self.user_agent)[1]

    def public(self) -> dict[str, Any]:
        return {"model": self.model, "version": self.version, "user_agent": self.user_agent,
                "ip": self.ip, "port": self.port, "transport": self.transport,
                "registered": self.registered_at, "expires": self.expires_at}


def _contact(device: Device) -> tuple[str, str, str]:
    return (device.account, device.ip, device.port)


def _transport(contact: str, status: str = "") -> str:
    found = _TRANSPORT.search(status)
    if found:
        return found.group(1).upper()
    found = re.search(r"transport=(\w+)", contact or "", re.I)
    return found.group(1).upper() if found else "UDP"


def from_event(event: EslEvent, now: float) -> Device | None:
    """The device a sofia::register event says registered (None when it names none)."""
    call_id = event.get("call-id") or ""
    account = event.get("from-user") or event.get("username") or ""
    if not call_id or not account:
        return None
    try:
        expires = float(event.get("expires") or 0)
    except ValueError:
        expires = 0.0
    return Device(call_id=call_id, account=account, realm=event.get("from-host") or "",
                  user_agent=event.get("user-agent") or "",
                  ip=event.get("network-ip") or "", port=event.get("network-port") or "",
                  transport=_transport(event.get("contact") or ""),
                  expires_at=now + expires, registered_at=now)


def parse_registrations(text: str, now: float) -> list[Device]:
    """The devices of `sofia status profile <p> reg` (FreeSWITCH's own table): a block of
    "Key: value" lines a registration. The plain listing, not xmlstatus: FreeSWITCH puts
    the User-Agent into that XML unescaped, so one terminal's "&" would spoil it all."""
    devices = []
    for block in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            key, sep, value = line.partition(":")
            if sep and key.strip() and key.strip() not in fields:
                fields[key.strip()] = value.strip()
        user, _, realm = fields.get("User", "").partition("@")
        call_id = fields.get("Call-ID", "")
        if not call_id or not user:
            continue
        status = fields.get("Status", "")
        secs = _EXPSECS.search(status)
        devices.append(Device(
            call_id=call_id, account=user, realm=realm, user_agent=fields.get("Agent", ""),
            ip=fields.get("IP", ""), port=fields.get("Port", ""),
            transport=_transport(fields.get("Contact", ""), status),
            expires_at=now + (int(secs.group(1)) if secs else 0), registered_at=now))
    return devices


class Presence:
    """The devices registered now, kept from FreeSWITCH's events.

        presence = Presence(esl); presence.start()
        presence.devices()          # [Device], the expired ones left out
        presence.by_account()       # {account: [Device]}
    on_change(account) is called after a device of the account came or went.
    """

    def __init__(self, esl: Esl, profile: str = PROFILE,
                 clock: Callable[[], float] = time.time) -> None:
        self.esl, self.profile, self.clock = esl, profile, clock
        self._lock = threading.Lock()
        self._devices: dict[str, Device] = {}
        # (account, ip, port) -> the call-ids registered from that contact: a REGISTER or
        # un-REGISTER finds the contact's other registrations without a scan of all.
        self._contacts: dict[tuple[str, str, str], set[str]] = {}
        # account -> {call-id: Device}: one account's devices without a scan of all.
        self._accounts: dict[str, dict[str, Device]] = {}
        # accounts() until an account comes or goes (re-registrations change nothing).
        self._sorted: tuple[str, ...] | None = None
        # No device expires before this (expired ones are dropped when it passes).
        self._first_end = float("inf")
        self._synced = False
        self._started = False
        self.on_change: list[Callable[[str], None]] = []

    def start(self) -> None:
        if not self._started:
            self._started = True
            for name in EVENTS:
                self.esl.on_event(name, self._on_event)
            self.esl.on_event(CONNECTED, lambda _event: self._refresh_quietly())
        self.esl.subscribe(EVENTS)
        self._refresh_quietly()

    def _refresh_quietly(self) -> None:
        with contextlib.suppress(EslError):
            self.refresh()

    def refresh(self) -> None:
        """Read every registration from FreeSWITCH (start, a new ESL link)."""
        text = self.esl.api(f"sofia status profile {self.profile} reg")
        devices = parse_registrations(text, self.clock())
        with self._lock:
            before = self._devices
            # A device seen before keeps the time it registered.
            self._devices, self._contacts, self._accounts = {}, {}, {}
            self._sorted = None
            self._first_end = float("inf")
            for d in devices:
                self._put(replace(d, registered_at=before[d.call_id].registered_at)
                          if d.call_id in before else d)
            self._synced = True
            changed = {d.account for d in before.values()} ^ {
                d.account for d in self._devices.values()}
        self._notify(changed)

    def _on_event(self, event: EslEvent) -> None:
        if (event.get("profile-name") or self.profile) != self.profile:
            return
        name = event.name
        now = self.clock()
        with self._lock:
            if name == "sofia::register":
                device = from_event(event, now)
                if device is None:
                    return
                old = self._devices.get(device.call_id)
                if old is not None:
                    device = replace(device, registered_at=old.registered_at)
                # FreeSWITCH keeps one registration a contact (multiple-registrations=
                # contact): one from the same address in a new dialog (a terminal that
                # restarted, or registers again after FreeSWITCH restarted) replaced the
                # old one, and no event says so.
                if device.ip and device.port:
                    for key in list(self._contacts.get(_contact(device), ())):
                        if key != device.call_id:
                            self._drop(key)
                self._put(device)
                account = device.account
            else:
                call_id = event.get("call-id") or ""
                gone = self._drop(call_id) if call_id else None
                if gone is None:
                    # An un-REGISTER in a dialog of its own (another call-id): FreeSWITCH
                    # removed the account's registration from that address.
                    account = event.get("from-user") or event.get("user") or ""
                    where = (account, event.get("network-ip") or "",
                             event.get("network-port") or "")
                    for key in list(self._contacts.get(where, ())):
                        self._drop(key)
                else:
                    account = gone.account
        self._notify({account})

    def _notify(self, accounts: set[str]) -> None:
        for account in accounts:
            for callback in self.on_change:
                try:
                    callback(account)
                except Exception:  # a listener's failure is not the event's
                    logger.exception("presence listener failed")

    @property
    def synced(self) -> bool:
        """Whether the registrations have been read from FreeSWITCH at least once."""
        return self._synced

    def _put(self, device: Device) -> None:
        old = self._devices.get(device.call_id)
        if old is not None:
            self._unindex(old)
        self._devices[device.call_id] = device
        self._contacts.setdefault(_contact(device), set()).add(device.call_id)
        if device.account not in self._accounts:
            self._sorted = None
        self._accounts.setdefault(device.account, {})[device.call_id] = device
        self._first_end = min(self._first_end, device.expires_at)

    def _drop(self, call_id: str) -> Device | None:
        gone = self._devices.pop(call_id, None)
        if gone is not None:
            self._unindex(gone)
        return gone

    def _unindex(self, device: Device) -> None:
        key = _contact(device)
        ids = self._contacts.get(key)
        if ids is not None:
            ids.discard(device.call_id)
            if not ids:
                del self._contacts[key]
        own = self._accounts.get(device.account)
        if own is not None:
            own.pop(device.call_id, None)
            if not own:
                del self._accounts[device.account]
                self._sorted = None

    def _expire(self) -> None:
        """Drop the devices whose registration ran out (under the lock)."""
        now = self.clock()
        if now < self._first_end:
            return
        for device in [d for d in self._devices.values() if d.expires_at <= now]:
            self._drop(device.call_id)
        self._first_end = min((d.expires_at for d in self._devices.values()),
                              default=float("inf"))

    def devices(self) -> list[Device]:
        with self._lock:
            self._expire()
            return sorted(self._devices.values(), key=lambda d: (d.account, d.registered_at))

    def accounts(self) -> tuple[str, ...]:
        """The accounts with a registered device, sorted."""
        with self._lock:
            self._expire()
            if self._sorted is None:
                self._sorted = tuple(sorted(self._accounts))
            return self._sorted

    def online_count(self) -> int | None:
        """How many accounts have a registered device; None before the first read."""
        return len(self.accounts()) if self._synced else None

    def of_account(self, account: str) -> list[Device]:
        """The account's devices, first registered first."""
        with self._lock:
            self._expire()
            return sorted(self._accounts.get(account, {}).values(),
                          key=lambda d: d.registered_at)

    def by_account(self) -> dict[str, list[Device]]:
        with self._lock:
            self._expire()
            return {account: sorted(own.values(), key=lambda d: d.registered_at)
                    for account, own in sorted(self._accounts.items())}

    def model_of(self, account: str) -> str:
        """The model of the account's first device (the rooms page's device model)."""
        devices = self.of_account(account)
        return devices[0].model if devices else ""
