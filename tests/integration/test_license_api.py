"""L1-L3 through a real server that trusts a test key (VCBOX_LICENSE_PUBKEY): view,
activate, refusals with a reason on the serial field, the trial once, the update, the
page and the wizard step; and the issuer's CLI (keygen, issue, show) as a subprocess."""

from __future__ import annotations

import base64
import datetime as dt
import os
import stat
import subprocess
import sys
from pathlib import Path

import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from controlplane import license as lic
from tests.conftest import REPO, Client, Server, configured_server, create_admin, make_server
from tests.license_keys import make_keys

EN = {"vcbox_lang": "en"}
SIGNATURE_MISMATCH = "The serial is not valid (signature mismatch)."


def english_admin(server: Server) -> Client:
    client = server.client()
    client.cookies.update(EN)
    assert client.login().status_code == 200
    return client


def last_entry(client: Client, action: str) -> dict:
    items = client.get("/api/v1/operation-log", params={"since": 0}).json()["items"]
    return next(i for i in items if i["action"] == action)


def refused(client: Client, serial: object) -> str:
    res = client.post("/api/v1/license", json={"serial": serial})
    assert res.status_code == 400, res.text
    body = res.json()
    assert body["error_id"] == "invalid_input" and set(body["details"]) == {"serial"}
    return body["details"]["serial"]


def test_activate_refuse_trial_and_update(tmp_path: Path) -> None:
    keys = make_keys(tmp_path)
    today = dt.date.today()
    srv = make_server(tmp_path, **keys.env).start()
    try:
        # Before the administrator exists, the license is not public.
        assert requests.get(srv.url + "/api/v1/license", timeout=30).status_code == 401
        create_admin(srv.url)
        admin = english_admin(srv)

        state = admin.get("/api/v1/license").json()
        assert (state["status"], state["activation_type"], state["serial"]) == (
            "not_activated", "", "")
        assert state["trial_available"] is True and state["trial_used"] is False

        # Refusals, each with its reason on the serial field; nothing is stored.
        good = keys.serial("ACME-0001", 25)
        body, signature = good[len(lic.PREFIX):].split(".")
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        edited = lic.PREFIX + lic.b64encode(raw.replace(b":25", b":2500")) + "." + signature
        assert refused(admin, edited) == SIGNATURE_MISMATCH
        other = lic.issue(Ed25519PrivateKey.generate(), "ACME-0001", 25, str(today),
                          str(today + dt.timedelta(days=30)))
        assert refused(admin, other) == SIGNATURE_MISMATCH
        old = today - dt.timedelta(days=10)
        expired = keys.serial(valid_from=old - dt.timedelta(days=30), expires=old)
        assert refused(admin, expired) == f"This serial expired on {old}."
        soon = today + dt.timedelta(days=10)
        assert soon.isoformat() in refused(admin, keys.serial(valid_from=soon,
                                                              expires=soon))
        assert "serial" in refused(admin, "VCBOX1-garbage")  # names the problem
        assert refused(admin, "") == "Required."
        res = admin.post("/api/v1/license", json={"serial": good, "sn": 1})
        assert res.status_code == 400 and res.json()["details"] == {"sn": "Unknown field."}
        assert admin.get("/api/v1/license").json()["status"] == "not_activated"
        entry = last_entry(admin, "activate_license")
        assert entry["result"] == "failure" and entry["username"] == "admin"
        res = admin.post("/api/v1/license", json={"serial": expired})
        assert res.json()["message"] == f"This serial expired on {old}."
        assert last_entry(admin, "activate_license")["detail"] == res.json()["message"]

        # The trial: once.
        res = admin.post("/api/v1/license/trial")
        assert res.status_code == 200, res.text
        trial = res.json()
        assert (trial["activation_type"], trial["status"], trial["days_left"]) == (
            "trial", "active", 14)
        assert trial["trial_used"] is True and trial["trial_available"] is False
        assert last_entry(admin, "start_trial")["result"] == "success"
        res = admin.post("/api/v1/license/trial")
        assert res.status_code == 409
        assert res.json()["message"] == "The trial has already been used."
        assert last_entry(admin, "start_trial")["result"] == "failure"

        # A serial (pasted with line breaks) replaces the trial.
        pasted = "\n".join(good[i:i + 60] for i in range(0, len(good), 60)) + "\n"
        res = admin.post("/api/v1/license", json={"serial": pasted})
        assert res.status_code == 200, res.text
        state = res.json()
        assert state["serial"] == good  # in full, whitespace gone
        assert (state["activation_type"], state["status"], state["concurrency"]) == (
            "offline", "active", 25)
        assert admin.get("/api/v1/license").json() == state
        assert last_entry(admin, "activate_license")["result"] == "success"

        # Update (L3): the new serial replaces the current one.
        second = keys.serial("ACME-0002", 80, days=730)
        state = admin.post("/api/v1/license", json={"serial": second}).json()
        assert (state["serial"], state["concurrency"]) == (second, 80)

        # All of it survives a restart; the trial stays used.
        srv.restart()
        admin = english_admin(srv)
        assert admin.get("/api/v1/license").json() == state
        res = admin.post("/api/v1/license/trial")
        assert res.status_code == 409
        assert res.json()["message"] == "The trial has already been used."

        # The page shows the guide's fields and forms.
        page = admin.get("/settings/license")
        assert page.status_code == 200
        for text in ("License serial", "Activation type", "License status",
                     "Concurrent licenses", "License valid from", "License expires",
                     "Update license", 'id="form-license"', 'id="dlg-license-update"'):
            assert text in page.text, text
    finally:
        srv.stop()


def test_license_routes_need_the_session_and_csrf(tmp_path: Path) -> None:
    keys = make_keys(tmp_path)
    with configured_server(tmp_path, **keys.env) as srv:
        serial = keys.serial()
        anonymous = requests.Session()
        for method, path in (("GET", "/api/v1/license"), ("POST", "/api/v1/license"),
                             ("POST", "/api/v1/license/trial")):
            res = anonymous.request(method, srv.url + path, json={"serial": serial},
                                    timeout=30)
            assert res.status_code == 401, path
        admin = srv.client()
        assert admin.login().status_code == 200
        token, admin.csrf = admin.csrf, ""
        for path in ("/api/v1/license", "/api/v1/license/trial"):
            res = admin.post(path, json={"serial": serial})
            assert res.status_code == 403 and res.json()["error_id"] == "csrf_failed"
        admin.csrf = token
        assert admin.get("/api/v1/license").json()["status"] == "not_activated"
        assert admin.get("/api/v1/license").json()["trial_used"] is False
        # The wizard's steps: license between the administrator and SMTP, in quick
        # settings too (A6: the same steps, the administrator's skippable there).
        assert admin.get("/api/v1/setup").json()["steps"] == ["network", "time", "admin",
                                                              "license", "smtp"]
        page = admin.get("/setup")
        assert page.status_code == 200 and 'data-step="license"' in page.text


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "controlplane", "license", *args], cwd=REPO,
                          env={**os.environ, **(env or {})}, capture_output=True, text=True,
                          timeout=60)


def test_cli_keygen_issue_show_and_a_server_that_trusts_the_key(tmp_path: Path) -> None:
    issuer = tmp_path / "issuer"
    res = cli("keygen", "--out", str(issuer))
    assert res.returncode == 0, res.stderr
    private, public = issuer / "private.pem", issuer / "public.pem"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert "PRIVATE KEY" in private.read_text() and "PUBLIC KEY" in public.read_text()
    assert cli("keygen", "--out", str(issuer)).returncode == 1  # never overwrites a key

    today = dt.date.today()
    expires = today + dt.timedelta(days=100)
    res = cli("issue", "--key", str(private), "--serial", "CLI-0001", "--concurrency", "12",
              "--valid-from", str(today - dt.timedelta(days=1)), "--expires", str(expires),
              "--type", "offline")
    assert res.returncode == 0, res.stderr
    serial = res.stdout.strip()
    assert serial.startswith("VCBOX1-") and "\n" not in serial
    bad = cli("issue", "--key", str(private), "--serial", "CLI-0002", "--concurrency", "0",
              "--valid-from", str(today), "--expires", str(expires))
    assert bad.returncode == 1 and "concurrency" in bad.stderr

    res = cli("show", serial, env={"VCBOX_LICENSE_PUBKEY": str(public)})
    assert res.returncode == 0, res.stderr
    assert '"serial": "CLI-0001"' in res.stdout and '"concurrency": 12' in res.stdout
    assert f'"expires": "{expires}"' in res.stdout and "valid today" in res.stdout
    # Another key (here the shipped default) does not accept it, and says why.
    res = cli("show", serial, env={"VCBOX_LICENSE_PUBKEY": ""})
    assert res.returncode == 1 and SIGNATURE_MISMATCH in res.stderr
    other = tmp_path / "other"
    assert cli("keygen", "--out", str(other)).returncode == 0
    res = cli("show", serial, env={"VCBOX_LICENSE_PUBKEY": str(other / "public.pem")})
    assert res.returncode == 1 and SIGNATURE_MISMATCH in res.stderr

    # A server pointed at the issuer's public key activates the CLI's serial; an active
    # license leaves the (unused) trial refused.
    with configured_server(tmp_path, vcbox_license_pubkey=str(public)) as srv:
        admin = english_admin(srv)
        res = admin.post("/api/v1/license", json={"serial": serial})
        assert res.status_code == 200, res.text
        assert (res.json()["serial"], res.json()["concurrency"]) == (serial, 12)
        res = admin.post("/api/v1/license/trial")
        assert res.status_code == 409
        assert res.json()["message"] == "A license is active: a trial is not needed."
        assert admin.get("/api/v1/license").json()["trial_used"] is False
