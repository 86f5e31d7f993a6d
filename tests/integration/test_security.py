"""Every route needs a session unless it is on an explicit public list, every state change
needs the CSRF token, and secrets never leave the server."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
import requests

from controlplane.app import create_app
from controlplane.config import Config
from tests.conftest import ADMIN_PASSWORD, Client, Server

# Written out by hand on purpose: a new route is NOT public until someone adds it here.
PUBLIC = frozenset({
    ("POST", "/api/v1/session"),                     # login
    ("POST", "/api/v1/portal/session"),              # the user portal's sign-in
    ("GET", "/api/v1/setup"),                        # is the appliance configured?
    ("GET", "/api/v1/captcha"),
    ("POST", "/api/v1/password-reset"),
    ("GET", "/api/v1/password-reset/<token>"),
    ("POST", "/api/v1/password-reset/<token>"),
    ("GET", "/login"),
    ("GET", "/portal"),                              # the user portal (its own sign-in)
    ("GET", "/firmware/<folder>/<name>"),             # what terminals fetch: a provisioning
    ("GET", "/provisioning/<name>"),                 # server's files (test_firmware_api.py)
    ("GET", "/join/<meeting_id>"),                   # a browser join: guests have no session
    ("POST", "/api/v1/join/<meeting_id>"),           # (tests/e2e/test_join_browser.py)
    ("GET", "/forgot"),
    ("GET", "/reset/<token>"),
    ("GET", "/favicon.ico"),                         # browsers ask before any login
    ("GET", "/metrics"),                             # its own check: this host or a token
})
PUBLIC_PREFIXES = ("/static/",)
# Public only before the administrator exists (the wizard): refused afterwards.
SETUP_ONLY = frozenset({("POST", "/api/v1/setup/admin"), ("GET", "/setup")})
# State-changing routes that work without the CSRF token (there is no session yet).
CSRF_EXEMPT = frozenset({
    ("POST", "/api/v1/session"),
    ("POST", "/api/v1/portal/session"),
    ("POST", "/api/v1/password-reset"),
    ("POST", "/api/v1/password-reset/<token>"),
    # FreeSWITCH's mod_xml_curl: no browser, so no session and no CSRF token; it is
    # loopback-only with HTTP basic credentials instead (tests/integration/
    # test_freeswitch_directory.py).
    ("POST", "/freeswitch/xml"),
    # mod_json_cdr's call records: the same guard (tests/integration/test_freeswitch_cdr.py).
    ("POST", "/freeswitch/cdr"),
    # Janus's event handler: the same guard, its own credentials
    # (tests/integration/test_media_status_real.py).
    ("POST", "/janus/events"),
    # A browser join: a guest has no session, hence no token; a request from another
    # site's page is refused by its Origin instead (tests/integration/test_join_api.py).
    ("POST", "/api/v1/join/<meeting_id>"),
})
UNSAFE = ("POST", "PUT", "PATCH", "DELETE")
PORTAL_PREFIX = "/api/v1/portal/"

# Bodies that would change something if the request were let through.
BODIES = {
    ("POST", "/api/v1/setup/admin"): {"password": "Evil#123", "email": "evil@example.com"},
    ("PUT", "/api/v1/admin/password"): {"current_password": ADMIN_PASSWORD,
                                        "new_password": "Evil#123",
                                        "confirm_password": "Evil#123"},
    ("PUT", "/api/v1/admin/email"): {"current_email": "admin@example.com",
                                     "new_email": "evil@example.com"},
    ("PUT", "/api/v1/settings/<section>"): {"server": "evil.example.com",
                                            "sender": "evil@example.com", "port": 2525},
    ("POST", "/api/v1/settings/smtp/test"): {"to": "evil@example.com"},
}
# Meaningful path parameters, so that a let-through request would really act.
PARAMS = {"section": "smtp"}
_PARAM = re.compile(r"<([a-zA-Z_][a-zA-Z_0-9]*)(?::[^>]*)?>")

SMTP_PASSWORD = "Sm7p-only-here!"


def fill(rule: str, params: dict[str, str] | None = None) -> str:
    """A concrete path for a route rule: every <param> becomes a dummy value."""
    return _PARAM.sub(lambda m: (params or {}).get(m.group(1), "dummy"), rule)


def is_public(method: str, rule: str) -> bool:
    return (method, rule) in PUBLIC or rule.startswith(PUBLIC_PREFIXES)


@pytest.fixture(scope="module")
def routes(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, str]]:
    """Every (method, rule) the app registers, from an app built in-process."""
    data = tmp_path_factory.mktemp("routes")
    app = create_app(Config(data_dir=data, root=data / "root"))
    try:
        found = sorted({("GET" if r.method == "ANY" else r.method, r.rule) for r in app.routes})
    finally:
        app.config["vcbox.services"].close()
    assert len(found) > 10
    return found


@pytest.fixture
def logged_in(admin: Client, configured: Server) -> Client:
    res = admin.put("/api/v1/settings/smtp", json={
        "server": "127.0.0.1", "port": 2525, "sender": "vcbox@example.com",
        "username": "mailer", "password": SMTP_PASSWORD, "security": "tls"})
    assert res.status_code == 200, res.text
    return admin


def test_allowlists_name_real_routes(routes: list[tuple[str, str]]) -> None:
    # A stale entry would hide nothing, but it would mean the list is not maintained.
    for entry in PUBLIC | SETUP_ONLY | CSRF_EXEMPT:
        assert entry in routes, entry
    assert any(rule.startswith(PUBLIC_PREFIXES) for _, rule in routes)


def test_every_private_route_needs_a_session(routes: list[tuple[str, str]],
                                            configured: Server) -> None:
    anonymous = requests.Session()
    forged = requests.Session()
    forged.cookies.set("vcbox_session", "forged-token-of-no-session")
    checked = 0
    for method, rule in routes:
        url = configured.url + fill(rule)
        if is_public(method, rule):
            # Public routes answer something other than "log in" (they are reachable).
            res = anonymous.request(method, url, json={}, allow_redirects=False, timeout=30)
            assert res.status_code != 401, (method, rule, res.status_code)
            continue
        for client in (anonymous, forged):
            res = client.request(method, url, json={}, allow_redirects=False, timeout=30)
            assert res.status_code == 401, (method, rule, res.status_code, res.text[:200])
            if rule.startswith("/api/"):
                assert res.json()["error_id"] == "unauthorized", (method, rule)
        checked += 1
    # The wizard's routes are among those now closed.
    for method, rule in SETUP_ONLY:
        assert not is_public(method, rule)
    assert checked >= 10


def _snapshot(server: Server, client: Client) -> tuple:
    return (
        (server.data / "documents.json").read_bytes(),
        client.get("/api/v1/admin").json(),
        client.get("/api/v1/settings/smtp").json(),
        client.get("/api/v1/operation-log", params={"limit": 1000}).json()["total"],
    )


def test_every_state_change_needs_the_csrf_token(routes: list[tuple[str, str]],
                                                configured: Server, logged_in: Client) -> None:
    before = _snapshot(configured, logged_in)
    unsafe = [(m, r) for m, r in routes if m in UNSAFE]
    assert ("DELETE", "/api/v1/session") in unsafe
    for method, rule in unsafe:
        url = fill(rule, PARAMS)
        body = BODIES.get((method, rule), {})
        if (method, rule) in CSRF_EXEMPT:
            continue
        if rule.startswith(PORTAL_PREFIX):
            # An admin session opens no portal route (401 before any CSRF check); their
            # token is checked with a portal session in test_portal_api.py.
            continue
        for headers in ({}, {"X-CSRF-Token": "wrong"}, {"X-CSRF-Token": ""},
                        {"X-CSRF-Token": logged_in.csrf[:-1]}):
            # A session cookie but no (or a wrong) token: a cross-site request.
            res = requests.request(method, configured.url + url, json=body, headers=headers,
                                   cookies=logged_in.cookies, allow_redirects=False,
                                   timeout=30)
            assert res.status_code == 403, (method, rule, headers, res.status_code, res.text)
            assert res.json()["error_id"] == "csrf_failed", (method, rule)
    # Nothing changed, nobody was logged out, and nothing was done (so nothing was logged).
    assert _snapshot(configured, logged_in) == before
    assert logged_in.get("/api/v1/session").status_code == 200
    # The same requests with the token do act (the refusals above were the token's doing).
    res = logged_in.put("/api/v1/settings/smtp", json=BODIES[("PUT",
                                                              "/api/v1/settings/<section>")])
    assert res.status_code == 200
    assert res.json()["server"] == "evil.example.com"
    # Exempt routes: whatever they answer, it is not a CSRF refusal.
    for method, rule in sorted(CSRF_EXEMPT):
        res = requests.request(method, configured.url + fill(rule, PARAMS), json={},
                               cookies=logged_in.cookies, timeout=30)
        assert not (res.status_code == 403 and res.json().get("error_id") == "csrf_failed")


def test_session_cookie_flags(configured: Server) -> None:
    for remember in (False, True):
        res = requests.post(configured.url + "/api/v1/session", timeout=30, json={
            "username": "admin", "password": ADMIN_PASSWORD, "remember": remember})
        assert res.status_code == 200
        cookies = [c for c in res.raw.headers.getlist("Set-Cookie")
                   if c.startswith("vcbox_session=")]
        assert len(cookies) == 1
        attrs = {a.strip().split("=")[0].lower(): a.strip() for a in cookies[0].split(";")[1:]}
        assert "httponly" in attrs
        assert attrs["samesite"].lower() == "samesite=strict"
        assert attrs["path"] == "Path=/"
        assert ("max-age" in attrs) is remember
        # The token is not in the JSON body (only the CSRF token is).
        token = cookies[0].split(";")[0].split("=", 1)[1]
        assert token not in res.text


def _get_routes(routes: list[tuple[str, str]]) -> Iterator[str]:
    for method, rule in routes:
        if method == "GET" and not rule.startswith(PUBLIC_PREFIXES):
            yield fill(rule, PARAMS)


def test_secrets_never_leave_the_server(routes: list[tuple[str, str]], configured: Server,
                                        logged_in: Client) -> None:
    # A failed login with a password that must not be logged anywhere either.
    wrong = "Leak#Me-9"
    assert configured.client().login(password=wrong).status_code == 401
    docs = json.loads((configured.data / "documents.json").read_text())
    hashes = [v["password_hash"] for table in docs.values() for v in table.values()
              if isinstance(v, dict) and "password_hash" in v]
    assert len(hashes) == 1 and hashes[0].startswith("$argon2")
    digest = hashes[0].rsplit("$", 1)[1]
    secrets = (hashes[0], digest, SMTP_PASSWORD, wrong)
    seen = 0
    for path in _get_routes(routes):
        for headers in ({}, {"Accept": "text/csv"}):
            res = logged_in.get(path, headers=headers, allow_redirects=False)
            text = res.content.decode("utf-8", "replace")
            for secret in secrets:
                assert secret not in text, (path, headers)
            seen += 1
    assert seen >= 10
    smtp = logged_in.get("/api/v1/settings/smtp").json()
    assert "password" not in smtp
    assert smtp["password_set"] is True
    assert "password_hash" not in logged_in.get("/api/v1/admin").json()
    # The data dir keeps the secrets (so the test above did look for the right strings).
    assert SMTP_PASSWORD in (configured.data / "documents.json").read_text()


def test_static_assets_are_public_and_stay_in_their_folders(configured: Server) -> None:
    for path in ("/static/../../controlplane/auth.py", "/static/%2e%2e/%2e%2e/pyproject.toml",
                 "/static/vendor/bootstrap/../../../pyproject.toml",
                 "/static/vendor/evil/x.js"):
        res = requests.get(configured.url + path, timeout=30)
        # A path that the client resolves out of /static/ is an unknown page: the login page.
        assert res.status_code in (401, 403, 404), path
        assert "argon2" not in res.text and "[tool.ruff]" not in res.text
