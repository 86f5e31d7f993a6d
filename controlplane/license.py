"""Licenses (SPEC L1-L5): offline serials signed with Ed25519, and a 14-day trial.

A serial is "VCBOX1-" + base64url(payload) + "." + base64url(signature), unpadded, where
payload is the canonical JSON (sorted keys, compact) of
{serial, type: "offline", concurrency, valid_from, expires} and the signature is the
issuer's Ed25519 signature over exactly those payload bytes. Whoever issues licenses
keeps the private key (`python -m controlplane license keygen|issue`); the appliance
holds only the public key: VCBOX_LICENSE_PUBKEY (a PEM file), else the one shipped in
controlplane/data/license_pubkey.pem.

Dates are calendar days of the appliance's time zone (the time settings): a license is
valid from the start of `valid_from` to the end of `expires`.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import datetime as dt
import json
import math
import os
import re
import sys
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from controlplane import timezones
from controlplane.config import Config
from controlplane.errors import Conflict, ValidationError, VcboxError
from controlplane.i18n import N_
from controlplane.rules import FieldError
from controlplane.store import Documents

PREFIX = "VCBOX1-"
DEFAULT_PUBKEY = Path(__file__).parent / "data" / "license_pubkey.pem"
# Store documents: the current license, and the trial marker (kept for good: L1).
DOC = "license"
TRIAL_DOC = "license_trial"
TRIAL_DAYS = 14
# Simultaneous connections a trial allows (the guide does not say; a small meeting's worth).
TRIAL_CONCURRENCY = 10
TYPES = ("offline",)
MAX_SERIAL_CHARS = 4096

ACTIVE, EXPIRED, NOT_ACTIVATED, NOT_YET_VALID = "active", "expired", "not_activated", \
    "not_yet_valid"

MALFORMED = N_("This is not a complete license serial: copy it again from the license "
               "file.")
SIGNATURE_MISMATCH = N_("The serial is not valid (signature mismatch).")
EXPIRED_ON = N_("This serial expired on %(date)s.")
NOT_YET_VALID_UNTIL = N_("This serial is valid only from %(date)s.")
TRIAL_USED = N_("The trial has already been used.")
TRIAL_REFUSED = N_("A license is active: a trial is not needed.")

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_B64 = re.compile(r"^[A-Za-z0-9_-]+$")


class LicenseKeyUnavailable(VcboxError):
    """The appliance cannot read its license public key (a broken installation)."""

    status = 500
    error_id = "license_key_unavailable"
    message = N_("The license public key cannot be read: %(reason)s")


# -- the serial format -------------------------------------------------------------------

def b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64decode(text: str) -> bytes:
    if not _B64.match(text) or len(text) % 4 == 1:
        raise ValueError("not unpadded base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    # Unused low bits of the last character must be zero: one text per byte string, so
    # that no character of a serial can change without the signature noticing.
    if b64encode(data) != text:
        raise ValueError("not canonical base64url")
    return data


def canonical(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=True).encode("ascii")


def _date(value: Any) -> dt.date:
    if not isinstance(value, str) or not _DATE.match(value):
        raise ValueError(f"not a YYYY-MM-DD date: {value!r}")
    return dt.date.fromisoformat(value)


def check_payload(payload: Any) -> dict[str, Any]:
    """The payload's fields, checked; ValueError names the first problem."""
    if not isinstance(payload, dict):
        raise ValueError("the payload is not an object")
    keys = {"serial", "type", "concurrency", "valid_from", "expires"}
    if set(payload) != keys:
        raise ValueError(f"the payload has keys {sorted(payload)}, not {sorted(keys)}")
    if not isinstance(payload["serial"], str) or not _ID.match(payload["serial"]):
        raise ValueError("serial: 1-64 of A-Z a-z 0-9 . _ -, starting with a letter or digit")
    if payload["type"] not in TYPES:
        raise ValueError(f"type: one of {', '.join(TYPES)}")
    concurrency = payload["concurrency"]
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValueError("concurrency: a whole number of at least 1")
    if _date(payload["valid_from"]) > _date(payload["expires"]):
        raise ValueError("valid_from is after expires")
    return dict(payload)


def issue(private_key: Ed25519PrivateKey, serial: str, concurrency: int, valid_from: str,
          expires: str, type: str = "offline") -> str:
    """The serial text for these terms, signed with the issuer's private key."""
    payload = check_payload({"serial": serial, "type": type, "concurrency": concurrency,
                             "valid_from": valid_from, "expires": expires})
    body = canonical(payload)
    return PREFIX + b64encode(body) + "." + b64encode(private_key.sign(body))


def normalize(text: str) -> str:
    """A pasted serial without its whitespace (line breaks of mail and PDF included)."""
    return "".join(text.split())


def verify(text: str, public_key: Ed25519PublicKey) -> dict[str, Any]:
    """The payload of a serial signed with the key's private half.

    Raises FieldError with MALFORMED or SIGNATURE_MISMATCH; dates are not checked here.
    """
    text = normalize(text)
    if len(text) > MAX_SERIAL_CHARS or not text[: len(PREFIX)].upper() == PREFIX:
        raise FieldError(MALFORMED)
    parts = text[len(PREFIX):].split(".")
    if len(parts) != 2:
        raise FieldError(MALFORMED)
    try:
        body, signature = b64decode(parts[0]), b64decode(parts[1])
    except (ValueError, binascii.Error):
        # Canonical base64url over the right alphabet, whatever the length: an edit.
        if all(_B64.match(p) for p in parts) and len(parts[1]) == 86:
            raise FieldError(SIGNATURE_MISMATCH) from None
        raise FieldError(MALFORMED) from None
    if len(signature) != 64 or not body:
        raise FieldError(MALFORMED)
    try:
        public_key.verify(signature, body)
    except InvalidSignature:
        raise FieldError(SIGNATURE_MISMATCH) from None
    try:
        return check_payload(json.loads(body))
    except ValueError:
        # Signed by the issuer, yet not terms this software understands.
        raise FieldError(MALFORMED) from None


def load_public_key(path: str | Path) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(Path(path).read_bytes())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"{path} is not an Ed25519 public key")
    return key


def load_private_key(path: str | Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return key


def public_key_path(config: Config) -> Path:
    return Path(config.license_pubkey) if config.license_pubkey else DEFAULT_PUBKEY


def keygen(out: str | Path) -> tuple[Path, Path]:
    """A new key pair in `out`: private.pem (mode 0600) and public.pem."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    private, public = folder / "private.pem", folder / "public.pem"
    data = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    public.write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


# -- the appliance's license -------------------------------------------------------------

class Licenses:
    def __init__(self, docs: Documents, config: Config, clock=time.time) -> None:
        self.docs, self.config, self.clock = docs, config, clock
        self._key: Ed25519PublicKey | None = None
        self._verified: dict[str, dict[str, Any] | None] = {}

    # -- keys and time ---------------------------------------------------------------

    def public_key(self) -> Ed25519PublicKey:
        if self._key is None:
            path = public_key_path(self.config)
            try:
                self._key = load_public_key(path)
            except (OSError, ValueError) as exc:
                raise LicenseKeyUnavailable(reason=str(exc)) from exc
        return self._key

    def zone(self) -> dt.tzinfo:
        """The appliance's time zone (time settings: a fixed offset while DST is off)."""
        doc = self.docs.peek("settings.time")
        zone = timezones.by_iana(doc.get("timezone") or timezones.DEFAULT)
        if zone is None:
            zone = timezones.by_iana(timezones.DEFAULT)
            assert zone is not None
        if doc.get("dst", "off") == "off":
            return dt.timezone(dt.timedelta(minutes=zone.offset_min))
        return ZoneInfo(zone.iana)

    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.clock(), self.zone())

    def today(self) -> dt.date:
        return self.now().date()

    # -- reading ---------------------------------------------------------------------

    def _payload(self, serial: str) -> dict[str, Any] | None:
        """The stored serial's terms, checked against the key once per process."""
        if serial not in self._verified:
            try:
                self._verified[serial] = verify(serial, self.public_key())
            except FieldError:
                self._verified[serial] = None
        return self._verified[serial]

    def _state(self) -> dict[str, Any]:
        now = self.now()
        today = now.date()
        trial = self.docs.peek(TRIAL_DOC)
        doc = self.docs.peek(DOC)
        state: dict[str, Any] = {
            "serial": "", "activation_type": "", "status": NOT_ACTIVATED, "concurrency": 0,
            "valid_from": "", "expires": "", "days_left": 0,
            "trial_used": bool(trial.get("used")), "trial_days": TRIAL_DAYS,
        }
        if doc.get("type") == "trial":
            started, ends = float(doc["started_at"]), float(doc["ends_at"])
            left = ends - now.timestamp()
            state.update(
                activation_type="trial", concurrency=TRIAL_CONCURRENCY,
                valid_from=dt.datetime.fromtimestamp(started, now.tzinfo).date().isoformat(),
                expires=dt.datetime.fromtimestamp(ends, now.tzinfo).date().isoformat(),
                status=ACTIVE if left > 0 else EXPIRED,
                days_left=max(0, math.ceil(left / 86400)))
        elif doc.get("type") == "offline":
            payload = self._payload(doc.get("serial", ""))
            if payload is not None:
                start, end = _date(payload["valid_from"]), _date(payload["expires"])
                if today < start:
                    status, left = NOT_YET_VALID, (end - start).days + 1
                elif today > end:
                    status, left = EXPIRED, 0
                else:
                    status, left = ACTIVE, (end - today).days + 1
                state.update(serial=doc["serial"], activation_type=payload["type"],
                             status=status, concurrency=payload["concurrency"],
                             valid_from=payload["valid_from"], expires=payload["expires"],
                             serial_id=payload["serial"], days_left=left)
        state["trial_available"] = not state["trial_used"] and state["status"] != ACTIVE
        return state

    def current(self) -> dict[str, Any]:
        """What the license page shows (L2), the serial in full: admins need it."""
        state = self._state()
        state.pop("serial_id", None)
        return state

    def valid(self) -> bool:
        """An active license or a running trial (L4)."""
        return self._state()["status"] == ACTIVE

    def concurrency(self) -> int:
        """Simultaneous connections licensed now: 0 without a valid license."""
        state = self._state()
        return state["concurrency"] if state["status"] == ACTIVE else 0

    # -- changes ---------------------------------------------------------------------

    def check(self, serial: Any) -> tuple[str, dict[str, Any]]:
        """The normalised serial and its terms, or ValidationError {"serial": reason}."""
        try:
            if not isinstance(serial, str):
                raise FieldError(N_("Must be text."))
            text = normalize(serial)
            if not text:
                raise FieldError(N_("Required."))
            payload = verify(text, self.public_key())
            today = self.today()
            if today > _date(payload["expires"]):
                raise FieldError(EXPIRED_ON, date=payload["expires"])
            if today < _date(payload["valid_from"]):
                raise FieldError(NOT_YET_VALID_UNTIL, date=payload["valid_from"])
        except FieldError as exc:
            # The reason is the message as well, so that the operation log records it.
            msgid, params = exc.message if isinstance(exc.message, tuple) else (exc.message, {})
            raise ValidationError(msgid, details={"serial": exc.message}, **params) from None
        return text, payload

    def activate(self, serial: Any) -> dict[str, Any]:
        """Activate (L2) or update (L3: replaces the current license, trial included)."""
        text, payload = self.check(serial)
        self._verified[text] = payload
        self.docs.put(DOC, {"type": "offline", "serial": text, "activated_at": self.clock()})
        return self.current()

    def start_trial(self) -> dict[str, Any]:
        """The 14-day trial (L1): once per appliance, and only without an active license."""
        # One batch: the check and the marker are one step under the store's writer lock.
        with self.docs.batch() as batch:
            if (batch.get(TRIAL_DOC) or {}).get("used"):
                raise Conflict(TRIAL_USED)
            if self._state()["status"] == ACTIVE:
                raise Conflict(TRIAL_REFUSED)
            now = self.clock()
            batch.put(TRIAL_DOC, {"used": True, "started_at": now})
            batch.put(DOC, {"type": "trial", "started_at": now,
                            "ends_at": now + TRIAL_DAYS * 86400})
        return self.current()


# -- python -m controlplane license ... --------------------------------------------------

def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("license", help="license serials: make keys, issue, show")
    cmds = parser.add_subparsers(dest="license_command", required=True, metavar="<action>")
    keys = cmds.add_parser("keygen", help="make an Ed25519 key pair: DIR/private.pem (0600, "
                           "keep it off the appliance) and DIR/public.pem")
    keys.add_argument("--out", required=True, metavar="DIR")
    new = cmds.add_parser("issue", help="print a serial signed with the private key")
    new.add_argument("--key", required=True, metavar="PRIVATE.PEM")
    new.add_argument("--serial", required=True, metavar="ID",
                     help="the license's id: 1-64 of A-Z a-z 0-9 . _ -")
    new.add_argument("--concurrency", required=True, type=int, metavar="N",
                     help="simultaneous connections")
    new.add_argument("--valid-from", required=True, metavar="YYYY-MM-DD")
    new.add_argument("--expires", required=True, metavar="YYYY-MM-DD",
                     help="the last valid day")
    new.add_argument("--type", default="offline", choices=TYPES)
    show = cmds.add_parser("show", help="verify a serial with the configured public key "
                           "(VCBOX_LICENSE_PUBKEY, else the shipped one) and print its terms")
    show.add_argument("serial", nargs="+", help="the serial (whitespace is ignored)")
    parser.set_defaults(run=command)


def command(args: argparse.Namespace, config: Config) -> int:
    if args.license_command == "keygen":
        try:
            private, public = keygen(args.out)
        except FileExistsError as exc:
            print(f"not overwriting {exc.filename}", file=sys.stderr)
            return 1
        print(f"private key: {private} (keep it secret, off the appliance)")
        print(f"public key:  {public} (VCBOX_LICENSE_PUBKEY on the appliance)")
        return 0
    if args.license_command == "issue":
        try:
            key = load_private_key(args.key)
            print(issue(key, args.serial, args.concurrency, args.valid_from, args.expires,
                        args.type))
        except (OSError, ValueError) as exc:
            print(f"cannot issue: {exc}", file=sys.stderr)
            return 1
        return 0
    path = public_key_path(config)
    try:
        payload = verify(" ".join(args.serial), load_public_key(path))
    except (OSError, ValueError) as exc:
        print(f"cannot read the public key {path}: {exc}", file=sys.stderr)
        return 1
    except FieldError as exc:
        print(f"invalid: {exc.args[0]}", file=sys.stderr)
        return 1
    today = dt.date.today()
    if today > _date(payload["expires"]):
        status = f"expired on {payload['expires']}"
    elif today < _date(payload["valid_from"]):
        status = f"not valid before {payload['valid_from']}"
    else:
        status = "valid today"
    print(json.dumps({**payload, "status": status, "public_key": str(path)}, indent=2))
    return 0
