"""A5, A7: logout, idle expiry, remember me, change password and e-mail."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import ADMIN_PASSWORD, Client, Server, configured_server

BACKGROUND = {"X-VCBOX-Background": "1"}


def test_logout_ends_the_session(configured: Server, admin: Client) -> None:
    assert admin.get("/api/v1/session").status_code == 200
    token = admin.cookies["vcbox_session"]
    res = admin.delete("/api/v1/session")
    assert res.status_code == 200
    # The cookie is cleared, and the old token is dead on the server too.
    assert "vcbox_session" not in admin.cookies
    res = requests.get(configured.url + "/api/v1/session", cookies={"vcbox_session": token},
                       timeout=30)
    assert res.status_code == 401
    assert res.json()["error_id"] == "unauthorized"
    assert admin.get("/api/v1/admin").status_code == 401
    # Logging out does not end another browser's session.
    other = configured.client()
    assert other.login().status_code == 200
    assert admin.login().status_code == 200
    assert admin.delete("/api/v1/session").status_code == 200
    assert other.get("/api/v1/session").status_code == 200


@pytest.fixture
def short_idle(tmp_path: Path) -> Iterator[Server]:
    with configured_server(tmp_path, vcbox_session_idle_s="2") as srv:
        yield srv


def test_idle_sessions_expire_and_background_polls_do_not_extend(short_idle: Server) -> None:
    active, polled, remembered = (short_idle.client() for _ in range(3))
    for client in (active, polled):
        assert client.login().status_code == 200
    assert remembered.login(remember=True).status_code == 200
    assert active.get("/api/v1/session").json()["idle_timeout_s"] == 2
    # Every 0.8 s: `active` makes real requests, `polled` only background polls.
    for _ in range(3):
        time.sleep(0.8)
        assert active.get("/api/v1/status").status_code == 200
        assert polled.get("/api/v1/status", headers=BACKGROUND).status_code in (200, 401)
    # 2.4 s after its login, `polled` has been idle too long; `active` has not.
    res = polled.get("/api/v1/status", headers=BACKGROUND)
    assert res.status_code == 401
    assert polled.get("/api/v1/status").status_code == 401
    assert active.get("/api/v1/status").status_code == 200
    # remember=true is not subject to the idle limit.
    assert remembered.get("/api/v1/status").status_code == 200
    # Pages answer with the login page once the session has expired.
    time.sleep(2.2)
    res = active.get("/", allow_redirects=False)
    assert res.status_code == 401
    assert "form-login" in res.text
    assert active.get("/api/v1/session").status_code == 401
    assert remembered.get("/api/v1/session").status_code == 200


def test_remember_me_gives_a_lasting_cookie_that_survives_a_restart(configured: Server) -> None:
    client = configured.client()
    res = client.login(remember=True)
    assert res.status_code == 200
    assert res.json()["remember"] is True
    header = res.headers["Set-Cookie"]
    assert f"Max-Age={14 * 86400}" in header
    cookie = next(c for c in client.cookies if c.name == "vcbox_session")
    assert cookie.expires and cookie.expires > time.time() + 13 * 86400
    # A plain login gives a browser-session cookie.
    plain = configured.client()
    assert "Max-Age" not in plain.login().headers["Set-Cookie"]

    configured.restart()
    res = client.get("/api/v1/session")
    assert res.status_code == 200
    assert res.json()["username"] == "admin"
    assert res.json()["csrf_token"] == client.csrf
    # The CSRF token still works after the restart.
    assert client.put("/api/v1/admin/email", json={
        "current_email": "admin@example.com", "new_email": "ops@example.com"}).status_code == 200


def test_change_password(configured: Server, admin: Client) -> None:
    other = configured.client()
    assert other.login().status_code == 200
    new = "New#Pass42"
    res = admin.put("/api/v1/admin/password", json={
        "current_password": "Wrong#123", "new_password": new, "confirm_password": new})
    assert res.status_code == 400
    assert set(res.json()["details"]) == {"current_password"}
    res = admin.put("/api/v1/admin/password", json={
        "current_password": ADMIN_PASSWORD, "new_password": "short", "confirm_password": "short"})
    assert res.status_code == 400
    assert "new_password" in res.json()["details"]
    res = admin.put("/api/v1/admin/password", json={
        "current_password": ADMIN_PASSWORD, "new_password": new, "confirm_password": "Other#42"})
    assert res.status_code == 400
    assert set(res.json()["details"]) == {"confirm_password"}
    # None of the refused changes took effect.
    assert configured.client().login().status_code == 200

    res = admin.put("/api/v1/admin/password", json={
        "current_password": ADMIN_PASSWORD, "new_password": new, "confirm_password": new})
    assert res.status_code == 200, res.text
    # This session goes on; the other sessions of the user end.
    assert admin.get("/api/v1/session").status_code == 200
    assert other.get("/api/v1/session").status_code == 401
    assert configured.client().login().status_code == 401
    assert configured.client().login(password=new).status_code == 200
    configured.restart()
    assert configured.client().login(password=new).status_code == 200
    assert configured.client().login().status_code == 401


def test_change_email(admin: Client) -> None:
    res = admin.put("/api/v1/admin/email", json={
        "current_email": "someone@example.com", "new_email": "ops@example.com"})
    assert res.status_code == 400
    assert set(res.json()["details"]) == {"current_email"}
    res = admin.put("/api/v1/admin/email", json={
        "current_email": "admin@example.com", "new_email": "ops&co@example.com"})
    assert res.status_code == 400
    assert set(res.json()["details"]) == {"new_email"}
    res = admin.put("/api/v1/admin/email", json={
        "current_email": "admin@example.com", "new_email": "x@" + "a" * 130 + ".com"})
    assert res.status_code == 400
    assert set(res.json()["details"]) == {"new_email"}
    assert admin.get("/api/v1/admin").json()["email"] == "admin@example.com"

    res = admin.put("/api/v1/admin/email", json={
        "current_email": "admin@example.com", "new_email": "Ops.Team@Example.COM"})
    assert res.status_code == 200, res.text
    assert res.json()["email"] == "ops.team@example.com"
    assert admin.get("/api/v1/admin").json()["email"] == "ops.team@example.com"
    # The old address is no longer the current one.
    res = admin.put("/api/v1/admin/email", json={
        "current_email": "admin@example.com", "new_email": "x@example.com"})
    assert res.status_code == 400


def test_cookie_is_secure_behind_the_https_proxy(configured: Server) -> None:
    plain = requests.post(configured.url + "/api/v1/session",
                          json={"username": "admin", "password": ADMIN_PASSWORD}, timeout=30)
    assert "secure" not in plain.headers["Set-Cookie"].lower()
    # nginx on the appliance terminates HTTPS and says so from 127.0.0.1.
    https = requests.post(configured.url + "/api/v1/session",
                          json={"username": "admin", "password": ADMIN_PASSWORD},
                          headers={"X-Forwarded-Proto": "https"}, timeout=30)
    assert "; secure" in https.headers["Set-Cookie"].lower()
    for res in (plain, https):
        assert res.headers["X-Frame-Options"] == "DENY"
        assert res.headers["Cache-Control"] == "no-store"
