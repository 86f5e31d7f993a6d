"""Licenses (SPEC L1-L5): the signed serial format, activation, the trial, and status over
time (an injected clock; dates are days of the appliance's time zone, UTC+8 by default)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from controlplane import license as lic
from controlplane.config import Config
from controlplane.errors import Conflict, ValidationError
from controlplane.license import Licenses
from controlplane.rules import FieldError
from controlplane.store import Documents
from tests.license_keys import LicenseKeys, make_keys

BEIJING = dt.timezone(dt.timedelta(hours=8))  # the default time zone, DST off


def at(text: str, tz: dt.tzinfo = BEIJING) -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=tz).timestamp()


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Env:
    """Documents + Licenses on tmp_path with a key pair of the test's own."""

    def __init__(self, tmp_path: Path) -> None:
        self.keys = make_keys(tmp_path)
        self.config = Config(data_dir=tmp_path / "data", root=tmp_path / "root",
                             license_pubkey=str(self.keys.public))
        self.clock = Clock(at("2025-03-15T12:00:00"))
        self.docs = Documents(self.config.documents_path)
        self.licenses = Licenses(self.docs, self.config, clock=self.clock)

    def reopen(self) -> Licenses:
        self.docs.close()
        self.docs = Documents(self.config.documents_path)
        self.licenses = Licenses(self.docs, self.config, clock=self.clock)
        return self.licenses

    def serial(self, **terms) -> str:
        terms = {"serial": "ACME-0001", "concurrency": 50, "valid_from": "2025-03-01",
                 "expires": "2025-03-31", **terms}
        return self.keys.serial(**terms)


@pytest.fixture
def env(tmp_path: Path):
    e = Env(tmp_path)
    yield e
    e.docs.close()


@pytest.fixture
def keys(tmp_path: Path) -> LicenseKeys:
    return make_keys(tmp_path)


def reason(exc: pytest.ExceptionInfo) -> object:
    return exc.value.details["serial"]


def split(serial: str) -> tuple[str, str]:
    body, _, signature = serial[len(lic.PREFIX):].partition(".")
    return body, signature


# -- the serial format ------------------------------------------------------------------

def test_issue_and_verify_round_trip(keys: LicenseKeys) -> None:
    serial = keys.serial("ACME-0001", 50, "2025-03-01", "2025-03-31")
    assert serial.startswith("VCBOX1-") and "=" not in serial and serial.count(".") == 1
    body, signature = split(serial)
    payload = {"concurrency": 50, "expires": "2025-03-31", "serial": "ACME-0001",
               "type": "offline", "valid_from": "2025-03-01"}
    # The payload is canonical JSON (sorted keys, compact), base64url without padding.
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    assert raw == b'{"concurrency":50,"expires":"2025-03-31","serial":"ACME-0001",' \
                  b'"type":"offline","valid_from":"2025-03-01"}'
    assert len(base64.urlsafe_b64decode(signature + "==")) == 64
    assert lic.verify(serial, lic.load_public_key(keys.public)) == payload


def test_edited_payload_is_a_signature_mismatch(keys: LicenseKeys) -> None:
    public = lic.load_public_key(keys.public)
    serial = keys.serial("ACME-0001", 50, "2025-03-01", "2025-03-31")
    body, signature = split(serial)
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    more = raw.replace(b'"concurrency":50', b'"concurrency":500')
    later = raw.replace(b"2025-03-31", b"2035-03-31")
    for edited in (more, later):
        forged = lic.PREFIX + lic.b64encode(edited) + "." + signature
        with pytest.raises(FieldError) as exc:
            lic.verify(forged, public)
        assert exc.value.message == lic.SIGNATURE_MISMATCH


def test_no_single_character_edit_is_accepted(keys: LicenseKeys) -> None:
    """Every character of payload and signature, swapped for another base64url character
    (the last one's unused bits included), makes the serial fail."""
    public = lic.load_public_key(keys.public)
    serial = keys.serial("ACME-0001", 50, "2025-03-01", "2025-03-31")
    start = len(lic.PREFIX)
    mismatches = 0
    for i in range(start, len(serial)):
        if serial[i] == ".":
            continue
        for other in ("A", "B", "z", "_"):
            if other == serial[i]:
                continue
            edited = serial[:i] + other + serial[i + 1:]
            with pytest.raises(FieldError) as exc:
                lic.verify(edited, public)
            assert exc.value.message in (lic.SIGNATURE_MISMATCH, lic.MALFORMED)
            mismatches += exc.value.message == lic.SIGNATURE_MISMATCH
    assert mismatches > 0.95 * 3 * (len(serial) - start - 1)


def test_edited_signature_and_other_key_are_signature_mismatches(keys: LicenseKeys,
                                                                 tmp_path: Path) -> None:
    public = lic.load_public_key(keys.public)
    serial = keys.serial()
    body, signature = split(serial)
    flipped = ("B" if signature[10] == "A" else "A")
    edited = lic.PREFIX + body + "." + signature[:10] + flipped + signature[11:]
    other = lic.issue(Ed25519PrivateKey.generate(), "ACME-0001", 50, "2025-03-01",
                      "2025-03-31")
    for text in (edited, other):
        with pytest.raises(FieldError) as exc:
            lic.verify(text, public)
        assert exc.value.message == lic.SIGNATURE_MISMATCH


@pytest.mark.parametrize("text", [
    "", "hello", "VCBOX1-", "VCBOX1-.", "VCBOX1-abc", "VCBOX1-abc.def.ghi", "VCBOX2-abc.def",
    "VCBOX1-ab!c.def", "VCBOX1-abc.d=ef", "X" * 5000,
])
def test_malformed_serials(keys: LicenseKeys, text: str) -> None:
    with pytest.raises(FieldError) as exc:
        lic.verify(text, lic.load_public_key(keys.public))
    assert exc.value.message == lic.MALFORMED


def test_truncated_serial_is_refused(keys: LicenseKeys) -> None:
    public = lic.load_public_key(keys.public)
    serial = keys.serial()
    for cut in (1, 2, 10, len(serial) // 2):
        with pytest.raises(FieldError):
            lic.verify(serial[:-cut], public)


def test_signed_terms_this_software_does_not_know_are_malformed(keys: LicenseKeys) -> None:
    """Well signed, but not a payload of the format: unknown key, type, concurrency 0."""
    for payload in ({"serial": "A", "type": "offline", "concurrency": 1,
                     "valid_from": "2025-01-01", "expires": "2025-12-31", "extra": 1},
                    {"serial": "A", "type": "trial", "concurrency": 1,
                     "valid_from": "2025-01-01", "expires": "2025-12-31"},
                    {"serial": "A", "type": "offline", "concurrency": 0,
                     "valid_from": "2025-01-01", "expires": "2025-12-31"},
                    {"serial": "A", "type": "offline", "concurrency": 5,
                     "valid_from": "2025-12-31", "expires": "2025-01-01"}):
        body = lic.canonical(payload)
        text = lic.PREFIX + lic.b64encode(body) + "." + lic.b64encode(keys.key.sign(body))
        with pytest.raises(FieldError) as exc:
            lic.verify(text, lic.load_public_key(keys.public))
        assert exc.value.message == lic.MALFORMED


def test_issue_refuses_bad_terms(keys: LicenseKeys) -> None:
    for terms in (("", 5, "2025-01-01", "2025-02-01"), ("A", 0, "2025-01-01", "2025-02-01"),
                  ("A", True, "2025-01-01", "2025-02-01"), ("A", 5, "2025-1-1", "2025-02-01"),
                  ("A B", 5, "2025-01-01", "2025-02-01"), ("A", 5, "2025-02-02", "2025-02-01")):
        with pytest.raises(ValueError):
            lic.issue(keys.key, *terms)


def test_whitespace_in_a_pasted_serial_is_ignored(env: Env) -> None:
    serial = env.serial()
    pasted = "  " + "\n".join(serial[i:i + 40] for i in range(0, len(serial), 40)) + " \t\r\n"
    state = env.licenses.activate(pasted)
    assert state["status"] == "active"
    assert state["serial"] == serial  # stored and shown without the whitespace, case kept
    # A serial is case-sensitive: changing the case of its letters is an edit.
    with pytest.raises(ValidationError):
        env.licenses.activate(lic.PREFIX + split(serial)[0].swapcase() + "."
                              + split(serial)[1])


def test_keygen_writes_a_private_key_only_its_owner_reads(tmp_path: Path) -> None:
    private, public = lic.keygen(tmp_path / "k")
    assert stat.S_IMODE(os.stat(private).st_mode) == 0o600
    key = lic.load_private_key(private)
    serial = lic.issue(key, "X-1", 1, "2025-01-01", "2025-01-01")
    assert lic.verify(serial, lic.load_public_key(public))["serial"] == "X-1"
    with pytest.raises(FileExistsError):
        lic.keygen(tmp_path / "k")


def test_the_shipped_public_key_is_the_default(tmp_path: Path, monkeypatch) -> None:
    assert lic.DEFAULT_PUBKEY.is_file()
    lic.load_public_key(lic.DEFAULT_PUBKEY)  # an Ed25519 public key, and no private one
    assert "PRIVATE" not in lic.DEFAULT_PUBKEY.read_text()
    assert not list(lic.DEFAULT_PUBKEY.parent.glob("*private*"))
    config = Config.from_env({"VCBOX_DATA": str(tmp_path)})
    assert lic.public_key_path(config) == lic.DEFAULT_PUBKEY
    config = Config.from_env({"VCBOX_DATA": str(tmp_path), "VCBOX_LICENSE_PUBKEY": "/k.pem"})
    assert lic.public_key_path(config) == Path("/k.pem")


def test_an_unreadable_public_key_is_an_error_not_a_bad_serial(env: Env, tmp_path) -> None:
    config = Config(data_dir=env.config.data_dir, root=env.config.root,
                    license_pubkey=str(tmp_path / "missing.pem"))
    licenses = Licenses(env.docs, config, clock=env.clock)
    with pytest.raises(lic.LicenseKeyUnavailable) as exc:
        licenses.activate(env.serial())
    assert exc.value.status == 500


# -- activation -------------------------------------------------------------------------

def test_not_activated_at_first(env: Env) -> None:
    state = env.licenses.current()
    assert state == {"serial": "", "activation_type": "", "status": "not_activated",
                     "concurrency": 0, "valid_from": "", "expires": "", "days_left": 0,
                     "trial_used": False, "trial_days": 14, "trial_available": True}
    assert env.licenses.valid() is False and env.licenses.concurrency() == 0


def test_activate_a_valid_serial(env: Env) -> None:
    serial = env.serial()
    state = env.licenses.activate(serial)
    assert state == {"serial": serial, "activation_type": "offline", "status": "active",
                     "concurrency": 50, "valid_from": "2025-03-01", "expires": "2025-03-31",
                     "days_left": 17, "trial_used": False, "trial_days": 14,
                     "trial_available": False}
    assert env.licenses.valid() and env.licenses.concurrency() == 50
    assert env.reopen().current() == state  # stored


def test_activation_refusals_name_the_serial_field(env: Env) -> None:
    body, signature = split(env.serial())
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    edited = lic.PREFIX + lic.b64encode(raw.replace(b":50", b":99")) + "." + signature
    other = lic.issue(Ed25519PrivateKey.generate(), "ACME-0001", 50, "2025-03-01",
                      "2025-03-31")
    cases = [
        (edited, lic.SIGNATURE_MISMATCH),
        (other, lic.SIGNATURE_MISMATCH),
        (env.serial(valid_from="2025-01-01", expires="2025-03-14"),
         (lic.EXPIRED_ON, {"date": "2025-03-14"})),
        (env.serial(valid_from="2025-03-16", expires="2025-12-31"),
         (lic.NOT_YET_VALID_UNTIL, {"date": "2025-03-16"})),
        ("VCBOX1-nonsense", lic.MALFORMED),
        ("", "Required."),
        (" \n ", "Required."),
        (42, "Must be text."),
    ]
    for text, expected in cases:
        with pytest.raises(ValidationError) as exc:
            env.licenses.activate(text)
        assert set(exc.value.details) == {"serial"}
        assert reason(exc) == expected, text
        # ... and the error's message too (the operation log records the message).
        assert exc.value.message == (expected[0] if isinstance(expected, tuple) else expected)
    assert env.licenses.current()["status"] == "not_activated"  # nothing stored


def test_the_last_day_counts_in_the_appliance_time_zone(env: Env) -> None:
    serial = env.serial(valid_from="2025-03-01", expires="2025-03-15")
    env.clock.now = at("2025-03-15T23:59:59")  # Beijing: still the expiry day
    assert env.licenses.activate(serial)["days_left"] == 1
    env.clock.now = at("2025-03-16T00:00:00")  # Beijing midnight = 16:00 UTC on the 15th
    assert env.licenses.current()["status"] == "expired"
    with pytest.raises(ValidationError) as exc:
        env.licenses.activate(serial)
    assert reason(exc) == (lic.EXPIRED_ON, {"date": "2025-03-15"})
    # In London (time settings; DST off: UTC+0) the same instant is still the 15th.
    env.docs.put("settings.time", {"timezone": "Europe/London", "dst": "off"})
    assert env.licenses.current()["status"] == "active"
    env.docs.put("settings.time", {"timezone": "Europe/London", "dst": "auto"})
    env.clock.now = at("2025-03-15T23:30:00", dt.UTC)
    assert env.licenses.current()["status"] == "active"  # GMT in March, before BST
    env.clock.now = at("2025-03-16T00:00:00", dt.UTC)
    assert env.licenses.current()["status"] == "expired"


def test_status_follows_the_clock(env: Env) -> None:
    env.licenses.activate(env.serial())
    steps = [
        ("2025-02-28T23:59:59", "not_yet_valid", 31, False),  # the clock was set back
        ("2025-03-01T00:00:00", "active", 31, True),
        ("2025-03-31T00:00:00", "active", 1, True),
        ("2025-03-31T23:59:59", "active", 1, True),
        ("2025-04-01T00:00:00", "expired", 0, False),
        ("2026-01-01T00:00:00", "expired", 0, False),
    ]
    for when, status, days_left, valid in steps:
        env.clock.now = at(when)
        state = env.licenses.current()
        assert (state["status"], state["days_left"]) == (status, days_left), when
        assert env.licenses.valid() is valid
        assert env.licenses.concurrency() == (50 if valid else 0)
        assert state["trial_available"] is (not valid)


def test_update_replaces_the_current_license(env: Env) -> None:
    env.licenses.activate(env.serial())
    second = env.serial(serial="ACME-0002", concurrency=200, expires="2026-03-31")
    state = env.licenses.activate(second)
    assert (state["serial"], state["concurrency"], state["expires"]) == (second, 200,
                                                                         "2026-03-31")
    env.clock.now = at("2025-06-01T12:00:00")  # past the first one's expiry
    assert env.licenses.valid()


def test_a_stored_serial_edited_in_the_store_does_not_count(env: Env) -> None:
    env.licenses.activate(env.serial())
    body, signature = split(env.serial())
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    forged = lic.PREFIX + lic.b64encode(raw.replace(b":50", b":5000")) + "." + signature
    doc = env.docs.get(lic.DOC)
    env.docs.put(lic.DOC, {**doc, "serial": forged})
    licenses = env.reopen()
    assert licenses.current()["status"] == "not_activated"
    assert licenses.concurrency() == 0


# -- the trial (L1) ---------------------------------------------------------------------

def test_trial_runs_fourteen_days_once(env: Env) -> None:
    state = env.licenses.start_trial()
    assert state == {"serial": "", "activation_type": "trial", "status": "active",
                     "concurrency": lic.TRIAL_CONCURRENCY, "valid_from": "2025-03-15",
                     "expires": "2025-03-29", "days_left": 14, "trial_used": True,
                     "trial_days": 14, "trial_available": False}
    assert env.licenses.valid() and env.licenses.concurrency() == lic.TRIAL_CONCURRENCY
    start = env.clock.now
    env.clock.now = start + 14 * 86400 - 1
    assert env.licenses.current()["days_left"] == 1 and env.licenses.valid()
    env.clock.now = start + 14 * 86400
    state = env.licenses.current()
    assert (state["status"], state["days_left"], state["trial_available"]) == ("expired", 0,
                                                                               False)
    assert not env.licenses.valid()
    with pytest.raises(Conflict) as exc:
        env.licenses.start_trial()
    assert exc.value.message == lic.TRIAL_USED


def test_the_trial_marker_survives_reopening_and_a_license(env: Env) -> None:
    env.licenses.start_trial()
    licenses = env.reopen()
    assert licenses.current()["trial_used"] is True
    with pytest.raises(Conflict) as exc:
        licenses.start_trial()
    assert exc.value.message == lic.TRIAL_USED
    # A serial replaces the trial; the marker stays.
    serial = env.serial()
    assert licenses.activate(serial)["activation_type"] == "offline"
    env.clock.now = at("2025-05-01T00:00:00")  # the license has expired
    licenses = env.reopen()
    assert licenses.current()["trial_used"] is True
    with pytest.raises(Conflict) as exc:
        licenses.start_trial()
    assert exc.value.message == lic.TRIAL_USED


def test_no_trial_while_a_license_is_active(env: Env) -> None:
    env.licenses.activate(env.serial())
    with pytest.raises(Conflict) as exc:
        env.licenses.start_trial()
    assert exc.value.message == lic.TRIAL_REFUSED
    assert env.licenses.current()["trial_used"] is False  # nothing spent
    # Once that license has expired, the unused trial may start, and replaces it.
    env.clock.now = at("2025-04-02T09:00:00")
    state = env.licenses.start_trial()
    assert (state["activation_type"], state["status"]) == ("trial", "active")
    assert json.loads(json.dumps(state)) == state  # JSON-ready
