"""Who may join a meeting from a browser, and the credentials a join hands out
(controlplane/web_join.py). End to end with Janus, FreeSWITCH and coturn:
tests/e2e/test_join_browser.py."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
from typing import Any

import pytest

from controlplane import web_join
from controlplane.errors import Locked, NotFound, ValidationError
from controlplane.web_join import Viewer, WebJoins

NOW = dt.datetime(2026, 3, 2, 10, 0)
VMR = {"id": "123456", "kind": "vmr", "subject": "Board", "organizer": "1001",
       "participants": [], "password": "4321", "allow_guests": True}


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def admit(meeting: Any, viewer: Viewer = Viewer(), joins: WebJoins | None = None,
          **data: Any) -> web_join.Grant:
    return web_join.admit(joins or WebJoins(), meeting, viewer, data, "10.0.0.9", now=NOW,
                          early_join_min=10, licensed_calls=4, attempts=3, lockout_s=600)


def test_a_token_is_redeemed_once_for_its_meeting_before_it_expires() -> None:
    clock = Clock()
    joins = WebJoins(clock)
    token = joins.mint("123456", "Alice", "web")
    assert joins.redeem(token, "654321") is None       # another meeting: and it is gone
    token = joins.mint("123456", "Alice", "web")
    grant = joins.redeem(token, "123456")
    assert grant is not None and (grant.name, grant.number) == ("Alice", "web")
    assert joins.redeem(token, "123456") is None       # once
    late = joins.mint("123456", "Bob", "web")
    clock.t += web_join.JOIN_TTL_S + 1
    assert joins.redeem(late, "123456") is None        # expired
    assert joins.redeem("", "123456") is None


def test_only_a_digest_of_the_token_is_kept() -> None:
    joins = WebJoins()
    token = joins.mint("123456", "Alice", "web")
    assert token not in repr(vars(joins))


def test_a_guest_needs_the_password_and_guests_allowed() -> None:
    grant = admit(VMR, name="  Alice   访客 ", password="4321")
    assert (grant.meeting_id, grant.name, grant.number) == ("123456", "Alice 访客", "web")
    with pytest.raises(ValidationError) as wrong:
        admit(VMR, name="Alice", password="1111")
    assert "password" in wrong.value.details
    with pytest.raises(ValidationError) as nameless:
        admit(VMR, name=" ", password="4321")
    assert "name" in nameless.value.details
    with pytest.raises(web_join.SignInRequired):
        admit({**VMR, "allow_guests": False}, name="Alice", password="4321")
    with pytest.raises(NotFound):
        admit(None, name="Alice", password="4321")


def test_the_invited_and_the_administrator_need_no_password() -> None:
    assert admit(VMR, Viewer(account="1001"), name="User 1001").number == "1001"
    assert admit({**VMR, "participants": ["1002"]}, Viewer(account="1002"),
                 name="User 1002").number == "1002"
    assert admit(VMR, Viewer(admin=True), name="admin").number == "web"
    # a signed-in account that is not invited gives the password like a guest
    with pytest.raises(ValidationError):
        admit({**VMR, "allow_guests": False}, Viewer(account="1003"), name="x")
    assert admit({**VMR, "allow_guests": False}, Viewer(account="1003"), name="x",
                 password="4321").number == "1003"


def test_wrong_passwords_lock_that_client_out_of_that_meeting() -> None:
    joins = WebJoins()
    for _ in range(2):
        with pytest.raises(ValidationError):
            admit(VMR, joins=joins, name="M", password="0000")
    with pytest.raises(Locked):
        admit(VMR, joins=joins, name="M", password="0000")
    with pytest.raises(Locked):                          # even the right one, for now
        admit(VMR, joins=joins, name="M", password="4321")
    assert admit({**VMR, "id": "222222"}, joins=joins, name="M", password="4321")


def test_no_license_and_a_meeting_not_open_are_refused() -> None:
    with pytest.raises(web_join.NotLicensed):
        web_join.admit(WebJoins(), VMR, Viewer(admin=True), {"name": "a"}, "ip", now=NOW,
                       early_join_min=10, licensed_calls=0, attempts=3, lockout_s=60)
    later = {**VMR, "kind": "scheduled", "start": "2026-03-02T11:00", "duration_min": 30}
    with pytest.raises(web_join.NotStarted) as early:
        admit(later, Viewer(admin=True), name="a")
    assert early.value.params["opens"] == "2026-03-02 10:50"
    over = {**later, "start": "2026-03-02T08:00"}
    with pytest.raises(web_join.Ended):
        admit(over, Viewer(admin=True), name="a")


def test_the_janus_token_is_the_signed_form_janus_checks() -> None:
    token = web_join.janus_token("s3cret", 60, now=1000)
    data, _, signature = token.rpartition(":")
    assert data == "1060,janus,janus.plugin.sip"
    expected = hmac.new(b"s3cret", data.encode(), hashlib.sha1).digest()
    assert base64.b64decode(signature) == expected
