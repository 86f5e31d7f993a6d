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


ADMIN_REQUIRED = "The administrator password cannot be skipped: without it nobody can log in."


def test_admin_step_skippable_only_with_an_admin(server: Server) -> None:
    """A1/A6: the wizard's administrator step may be skipped only once an administrator
    exists (quick settings); before, the server refuses with a message on the password."""
    url = server.url + "/api/v1/setup/admin/skip"
    res = requests.post(url, timeout=30, cookies={"vcbox_lang": "en"})
    assert res.status_code == 400
    assert res.json()["details"] == {"password": ADMIN_REQUIRED}
    res = requests.post(url, timeout=30, cookies={"vcbox_lang": "zh_CN"})
    assert res.json()["details"]["password"] == "管理员密码不能跳过：未设置密码将无法登录。"
    assert setup_state(server)["configured"] is False

    res = requests.post(server.url + "/api/v1/setup/admin", timeout=30,
                        json={"password": ADMIN_PASSWORD, "email": "admin@example.com"})
    assert res.status_code == 200
    assert setup_state(server)["steps"] == ["network", "time", "admin", "license", "smtp"]
    assert requests.post(url, timeout=30).status_code == 401  # quick settings need a session
    client = server.client()
    assert client.login().status_code == 200
    res = client.post("/api/v1/setup/admin/skip")
    assert res.status_code == 200, res.text


def test_quick_settings_admin_step(server: Server) -> None:
    """A6: the administrator step again, behind the current password: an empty new password
    keeps the old one; a new one works at once and ends the other sessions."""
    requests.post(server.url + "/api/v1/setup/admin", timeout=30,
                  json={"password": ADMIN_PASSWORD, "email": "admin@example.com"})
    client, other = server.client(), server.client()
    client.cookies.update({"vcbox_lang": "en"})
    assert client.login().status_code == 200 and other.login().status_code == 200
    bad = [
        ({"password": "", "confirm_password": "", "email": "ops@example.com"},
         {"current_password": "Required."}),
        ({"current_password": "Wrong#123", "email": "ops@example.com"},
         {"current_password": "The current password is wrong."}),
        ({"current_password": ADMIN_PASSWORD, "password": "New#Pass1",
          "confirm_password": "Other#1"}, {"confirm_password": "The passwords do not match."}),
        ({"current_password": ADMIN_PASSWORD, "password": "short", "confirm_password": "short"},
         {"password": "The password must be 6 to 16 characters long."}),
        ({"current_password": ADMIN_PASSWORD, "email": "a<b@example.com"}, None),
    ]
    for data, details in bad:
        res = client.put("/api/v1/setup/admin", json=data)
        assert res.status_code == 400, (data, res.text)
        if details is not None:
            assert res.json()["details"] == details, data
        else:
            assert set(res.json()["details"]) == {"email"}
    assert client.get("/api/v1/admin").json()["email"] == "admin@example.com"

    # Empty password fields: only the e-mail and the choice change; both sessions live on.
    res = client.put("/api/v1/setup/admin", json={
        "current_password": ADMIN_PASSWORD, "password": "", "confirm_password": "",
        "email": "Ops@Example.com", "ux_programme": False})
    assert res.status_code == 200, res.text
    assert res.json() == {"username": "admin", "email": "ops@example.com",
                          "ux_programme": False, "language": "zh_CN"}
    assert other.get("/api/v1/session").status_code == 200
    assert server.client().login().status_code == 200

    res = client.put("/api/v1/setup/admin", json={
        "current_password": ADMIN_PASSWORD, "password": "New#Pass1",
        "confirm_password": "New#Pass1"})
    assert res.status_code == 200, res.text
    assert client.get("/api/v1/session").status_code == 200   # this session stays
    assert other.get("/api/v1/session").status_code == 401    # the others end
    assert server.client().login().status_code == 401
    assert server.client().login(password="New#Pass1").status_code == 200
    log = client.get("/api/v1/operation-log", params={"search": "admin"}).json()["items"]
    assert any(item["action"] == "update_setup" for item in log)
