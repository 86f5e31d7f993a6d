"""A1: the first-run wizard against a real server on an empty data dir."""

from __future__ import annotations

import requests

from tests.conftest import ADMIN_PASSWORD, Server

PAGES = ("/", "/login", "/settings/smtp", "/logs/operation", "/forgot")


def get(server: Server, path: str, **kwargs) -> requests.Response:
    return requests.get(server.url + path, allow_redirects=False, timeout=30, **kwargs)


def setup_state(server: Server) -> dict:
    res = get(server, "/api/v1/setup")
    assert res.status_code == 200
    return res.json()


def test_first_run_wizard(server: Server) -> None:
    # An empty data dir: not configured, and every page leads to the wizard.
    assert setup_state(server)["configured"] is False
    for path in PAGES:
        res = get(server, path)
        assert res.status_code == 303, path
        assert res.headers["Location"].endswith("/setup"), path
    assert get(server, "/setup").status_code == 200

    # Bad input: 400 with a message per field, and still unconfigured.
    bad = [
        ({"password": "12345", "email": "not-an-address"}, {"password", "email"}),
        ({"password": "x" * 17, "email": "a<b@example.com"}, {"password", "email"}),
        ({"password": ADMIN_PASSWORD, "confirm_password": "Other#123"}, {"confirm_password"}),
        ({"email": "admin@example.com"}, {"password"}),
        ({"password": ADMIN_PASSWORD, "surprise": 1}, {"surprise"}),
    ]
    for body, fields in bad:
        res = requests.post(server.url + "/api/v1/setup/admin", json=body, timeout=30)
        assert res.status_code == 400, (body, res.text)
        assert res.json()["error_id"] == "invalid_input"
        assert set(res.json()["details"]) == fields, body
    res = requests.post(server.url + "/api/v1/setup/admin", data="{not json",
                        headers={"Content-Type": "application/json"}, timeout=30)
    assert res.status_code == 400
    assert setup_state(server)["configured"] is False
    assert get(server, "/").status_code == 303

    # Valid: the administrator exists and this browser is logged in.
    wizard = server.client()
    res = wizard.post("/api/v1/setup/admin",
                      json={"password": ADMIN_PASSWORD, "confirm_password": ADMIN_PASSWORD,
                            "email": "Admin@Example.com", "ux_programme": False})
    assert res.status_code == 200, res.text
    assert res.json()["csrf_token"]
    assert res.json()["username"] == "admin"
    assert "vcbox_session" in res.cookies
    wizard.csrf = res.json()["csrf_token"]
    assert wizard.get("/api/v1/session").json()["username"] == "admin"
    assert wizard.get("/api/v1/admin").json() == {
        "username": "admin", "email": "admin@example.com", "ux_programme": False,
        "language": "zh_CN"}
    assert setup_state(server)["configured"] is True

    # A second administrator is refused: without a session, and with one.
    again = {"password": "Other#456", "email": "evil@example.com"}
    res = requests.post(server.url + "/api/v1/setup/admin", json=again, timeout=30)
    assert res.status_code == 401
    assert res.json()["error_id"] == "unauthorized"
    res = wizard.post("/api/v1/setup/admin", json=again)
    assert res.status_code == 409
    assert res.json()["error_id"] == "conflict"
    assert wizard.get("/api/v1/admin").json()["email"] == "admin@example.com"

    # Login works with the new password (and not with the refused one).
    client = server.client()
    assert client.login(password="Other#456").status_code == 401
    assert client.login().status_code == 200

    # Pages no longer redirect to the wizard.
    for path in PAGES:
        assert get(server, path).status_code != 303, path
    assert get(server, "/").status_code == 401
    assert get(server, "/login").status_code == 200
    assert get(server, "/forgot").status_code == 200
    assert get(server, "/setup").status_code == 401
    res = client.get("/", allow_redirects=False)
    assert res.status_code == 200
    assert "text/html" in res.headers["Content-Type"]
    for path in ("/settings/smtp", "/logs/operation", "/setup"):
        assert client.get(path, allow_redirects=False).status_code == 200, path
    # A logged-in user who opens the login page goes home.
    # (Client.get follows redirects unless told not to: requests.Session.get sets it.)
    res = client.get("/login", allow_redirects=False)
    assert res.status_code in (302, 303)
    assert res.headers["Location"].endswith("/")


def test_configured_state_survives_restart(configured: Server) -> None:
    configured.restart()
    assert setup_state(configured)["configured"] is True
    assert get(configured, "/").status_code == 401
    assert configured.client().login().status_code == 200
