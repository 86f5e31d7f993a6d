"""Factory reset and reboot through the real server (SPEC G2, G3, §9 Maintenance).

Each action asks the guide's question first (409 confirm_required, nothing changed), a
mode that is neither "settings" nor "all" is a field error (zh-CN and English). The
settings reset keeps accounts, rooms, meetings and the license, puts every setting back
to its default (the rendered configs too), deletes the administrator (the setup wizard
answers), ends every session and empties the history and the logs; the all reset leaves
only the trial marker, the backup key and fresh secrets (backup files stay). An apply that
fails puts the previous store back (502 naming the step). A reboot answers 202 before it
happens: the servers here run no service as a child process (VCBOX_LOCAL_SERVICES=""),
so it re-renders, checks and reports an empty list through their drivers; a child process
the in-process server is given is really restarted (its pid changes).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from controlplane.drivers.processes import LocalProcess, Spec
from tests.conftest import ADMIN_PASSWORD, Client, Server, create_admin
from tests.license_keys import licensed_server, make_keys

EN = {"vcbox_lang": "en"}
ZH = {"vcbox_lang": "zh_CN"}
RESET = "/api/v1/system/factory-reset"
REBOOT = "/api/v1/system/reboot"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with licensed_server(tmp_path) as srv:
        yield srv


@pytest.fixture
def admin(server: Server) -> Client:
    return server.signed_in("en")


def documents(server: Server) -> dict[str, Any]:
    return json.loads((server.data / "documents.json").read_text())


def oplog(client: Client) -> list[dict[str, Any]]:
    return client.get("/api/v1/operation-log", params={"limit": 1000}).json()["items"]


def furnish(admin: Client, server: Server) -> None:
    """Accounts, a room, a meeting, changed settings, history, logs."""
    for number, name in (("1001", "Ann"), ("1002", "Bob")):
        res = admin.post("/api/v1/accounts", json={"name": name, "account": number,
                                                   "email": f"{name.lower()}@example.com"})
        assert res.status_code == 201, res.text
    res = admin.post("/api/v1/rooms", json={"name": "Board", "kind": "normal"})
    assert res.status_code in (200, 201), res.text
    res = admin.post("/api/v1/meetings", json={"kind": "vmr", "subject": "All hands",
                                               "organizer": "1001"})
    assert res.status_code == 201, res.text
    res = admin.put("/api/v1/settings/syslog", json={"server": "10.0.0.9", "port": 1514,
                                                     "confirm": True})
    assert res.status_code == 200, res.text
    logs = server.data / "logs" / "web"
    logs.mkdir(parents=True, exist_ok=True)
    (logs / "2025-03-15.log").write_text("GET /\n")
    terminal = server.data / "terminal-logs" / "10.0.0.5"
    terminal.mkdir(parents=True, exist_ok=True)
    (terminal / "2025-03-15.log").write_text("REGISTER\n")


def test_each_action_asks_first_and_a_bad_mode_is_a_field_error(
        admin: Client, server: Server) -> None:
    before = (server.data / "documents.json").read_bytes()
    for body in ({"mode": "settings"}, {"mode": "all", "confirm": False},
                 {"mode": "settings", "confirm": "yes"}):
        res = admin.post(RESET, json=body)
        assert res.status_code == 409, res.text
        assert res.json()["error_id"] == "confirm_required"
        assert res.json()["message"] == "Restore the factory settings?"
    for body in ({}, {"confirm": 1}):
        res = admin.post(REBOOT, json=body)
        assert res.status_code == 409, res.text
        assert res.json()["message"] == "Restart the system?"
    zh = server.signed_in("zh_CN")
    assert zh.post(RESET, json={"mode": "all"}).json()["message"] == "确定恢复出厂设置？"
    assert zh.post(REBOOT, json={}).json()["message"] == "确定重启系统？"

    # Neither mode: the field says so, also with the confirm; nothing is reset.
    for body in ({"confirm": True}, {"mode": "everything", "confirm": True},
                 {"mode": ["all"], "confirm": True}):
        res = admin.post(RESET, json=body)
        assert res.status_code == 400, res.text
        assert res.json()["error_id"] == "invalid_input"
        assert res.json()["details"]["mode"] == (
            "Choose what to clear: only the system settings, or all user data.")
    res = zh.post(RESET, json={"mode": "x", "confirm": True})
    assert res.status_code == 400
    assert res.json()["details"]["mode"] == "请选择清空的内容：仅清空系统设置，或清空所有用户数据。"
    # No CSRF token, no reset and no reboot.
    for url, body in ((RESET, {"mode": "all", "confirm": True}), (REBOOT, {"confirm": True})):
        res = server.client().post(url, json=body, cookies=admin.cookies)
        assert res.status_code == 403 and res.json()["error_id"] == "csrf_failed"
    res = requests.post(server.url + RESET, json={"mode": "all", "confirm": True}, timeout=30)
    assert res.status_code in (401, 403)

    assert (server.data / "documents.json").read_bytes() == before
    assert admin.get("/api/v1/session").status_code == 200
    assert admin.get(REBOOT).json()["state"] == "idle"
    # Questions and wrong fields are no operations: nothing in the operation log.
    assert not [e for e in oplog(admin) if e["action"] in ("factory_reset", "reboot")]


def test_settings_mode_keeps_the_users_and_ends_every_session(
        admin: Client, server: Server) -> None:
    defaults = {s: admin.get(f"/api/v1/settings/{s}").json() for s in ("syslog", "call", "ports")}
    furnish(admin, server)
    other = server.signed_in("en")
    before = documents(server)
    root = server.data / "root"
    forward = (root / "etc/rsyslog.d/60-vcbox-forward.conf").read_text()
    assert "10.0.0.9" in forward

    res = admin.post(RESET, json={"mode": "settings", "confirm": True})
    assert res.status_code == 200, res.text
    done = res.json()
    assert done["mode"] == "settings" and done["next"] == "/setup" and done["signed_out"]
    assert {"document: admin", "document: settings.syslog"} <= set(done["removed"])
    assert any(line.endswith("2025-03-15.log") for line in done["removed"])
    assert "etc/rsyslog.d/60-vcbox-forward.conf" in done["files"]

    # No administrator: the wizard answers; every session ended.
    assert requests.get(server.url + "/api/v1/setup", timeout=30).json()["configured"] is False
    for client in (admin, other):
        assert client.get("/api/v1/accounts").status_code == 401
    page = requests.get(server.url + "/maintenance/restart", allow_redirects=False, timeout=30)
    assert page.status_code in (302, 303) and page.headers["Location"].endswith("/setup")
    # Kept: accounts, rooms, meetings, license, secrets; the settings are back to defaults.
    after = documents(server)
    for name in ("accounts", "rooms", "meetings", "license", "secrets"):
        assert after[name] == before[name], name
    assert "admin" not in after and not [n for n in after if n.startswith("settings.")]
    # No remote syslog by default: the forwarding file is gone from the rendered configs.
    assert not (root / "etc/rsyslog.d/60-vcbox-forward.conf").exists()
    assert not [p for p in (server.data / "logs").rglob("*") if p.is_file()]
    assert not [p for p in (server.data / "terminal-logs").rglob("*") if p.is_file()]

    create_admin(server.url)
    admin.cookies.clear()
    admin.cookies.update(EN)
    assert admin.login().status_code == 200
    assert [a["account"] for a in admin.get("/api/v1/accounts").json()["items"]] \
        == ["1001", "1002"]
    assert [r["name"] for r in admin.get("/api/v1/rooms").json()["items"]] == ["Board"]
    assert admin.get("/api/v1/license").json()["status"] == "active"
    for section, values in defaults.items():
        assert admin.get(f"/api/v1/settings/{section}").json() == values, section
    # The history went (the logins, the changes); it goes on with the reset itself.
    log = oplog(admin)
    assert [(e["action"], e["target"], e["result"]) for e in log
            if e["action"] == "factory_reset"] == [("factory_reset", "reset-settings",
                                                    "success")]
    assert [e for e in log if e["action"] == "factory_reset"][0]["target_text"] \
        == "Clear only the configuration of the system settings"
    assert not [e for e in log if e["action"] in ("create_account", "update_settings")]


def test_all_mode_leaves_the_trial_marker_and_the_backup_key(
        admin: Client, server: Server) -> None:
    furnish(admin, server)
    assert admin.post("/api/v1/backups", json={"name": "before-reset"}).status_code == 201
    before = documents(server)
    assert "backup_key" in before

    res = admin.post(RESET, json={"mode": "all", "confirm": True})
    assert res.status_code == 200, res.text
    assert res.json()["next"] == "/setup"
    assert {"document: accounts", "document: license", "document: secrets"} \
        <= set(res.json()["removed"])

    after = documents(server)
    # The service secrets are made afresh at once (the services were given them).
    assert set(after) <= {"_meta", "license_trial", "backup_key", "secrets"}
    assert after["backup_key"] == before["backup_key"]
    assert after["secrets"] != before["secrets"]
    assert admin.get("/api/v1/accounts").status_code == 401
    create_admin(server.url)
    admin.cookies.clear()
    assert admin.login().status_code == 200
    assert admin.get("/api/v1/accounts").json()["total"] == 0
    assert admin.get("/api/v1/rooms").json()["total"] == 0
    assert admin.get("/api/v1/license").json()["status"] == "not_activated"
    # Backup files stay: the one taken before the reset can be restored.
    assert [b["name"] for b in admin.get("/api/v1/backups").json()["items"]] == ["before-reset"]


def test_a_reset_whose_apply_fails_puts_the_previous_store_back(
        admin: Client, server: Server) -> None:
    """The reset puts the MCU ports back to their defaults, in etc/janus/janus.jcfg, and
    that folder cannot be written (immutable): 502 naming the step, the store and the
    files from before in effect, the administrator still signed in."""
    res = admin.put("/api/v1/settings/ports", json={"mcu": {"min": 51000, "max": 59000},
                                                    "confirm": True})
    assert res.status_code == 200, res.text
    janus = server.data / "root" / "etc" / "janus"
    before = ((server.data / "documents.json").read_bytes(),
              (janus / "janus.jcfg").read_bytes())
    if os.geteuid() != 0 or subprocess.run(["chattr", "+i", str(janus)],
                                           capture_output=True).returncode != 0:
        pytest.skip("needs root and chattr +i to make a render target unwritable")
    try:
        res = admin.post(RESET, json={"mode": "settings", "confirm": True})
    finally:
        subprocess.run(["chattr", "-i", str(janus)], check=True)
    assert res.status_code == 502, res.text
    assert res.json()["error_id"] == "factory_reset_failed"
    assert "writing the configuration files failed" in res.json()["message"], res.text
    assert ((server.data / "documents.json").read_bytes(),
            (janus / "janus.jcfg").read_bytes()) == before
    assert admin.get("/api/v1/session").status_code == 200
    assert requests.get(server.url + "/api/v1/setup", timeout=30).json()["configured"] is True
    assert admin.get("/api/v1/settings/ports").json()["mcu"] == {"min": 51000, "max": 59000}
    log = oplog(admin)
    assert [(e["target"], e["result"]) for e in log if e["action"] == "factory_reset"] \
        == [("reset-settings", "failure")]
    assert [e["result"] for e in log if e["action"] == "apply"
            and e["target"] == "factory reset"][0] == "failure"


def wait_reboot(client: Client, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = client.get(REBOOT).json()
        if state["state"] in ("done", "failed"):
            return state
        time.sleep(0.1)
    raise AssertionError("the reboot did not end")


def test_reboot_answers_first_then_restarts_what_runs_here(admin: Client,
                                                           server: Server) -> None:
    res = admin.post(REBOOT, json={"confirm": True})
    assert res.status_code == 202, res.text
    # This server (local mode, VCBOX_LOCAL_SERVICES="") runs no service as a child: the
    # reboot renders and checks every config again and has nothing to restart.
    assert res.json() == {"mode": "services", "services": [], "delay_s": 1.0}
    busy = admin.post(REBOOT, json={"confirm": True})  # one at a time
    assert busy.status_code == 409 and busy.json()["error_id"] == "conflict", busy.text
    state = wait_reboot(admin)
    assert state == {"mode": "services", "state": "done", "services": [], "error": ""}
    assert admin.get("/api/v1/session").status_code == 200  # the control plane stayed
    log = oplog(admin)
    # Newest first: the refused second one, then the reboot.
    assert [e["result"] for e in log if e["action"] == "reboot"] == ["failure", "success"]
    assert {e["action_text"] for e in log if e["action"] == "reboot"} == {"Restart the system"}


def test_reboot_restarts_the_child_services(inproc: Callable[..., Any],
                                            tmp_path: Path) -> None:
    """A child service of the in-process server (a real process under the real
    LocalProcess driver) is stopped and started again: its pid changes."""
    keys = make_keys(tmp_path)
    box = inproc(local_services=(), **keys.config)
    spec = Spec("helper", "python3", "helper.service",
                argv=lambda root, binary: [binary, "-c", "import time; time.sleep(600)"],
                check=lambda root: None, probe=lambda root: "")
    helper = LocalProcess(spec, box.services.config.root, sys.executable)
    box.services.applier.drivers["helper"] = helper
    assert helper.ensure_running().startswith("started")
    first = helper.pid
    create_admin(box.url)
    client = box.client()
    client.cookies.update(ZH)
    assert client.login().status_code == 200

    res = client.post(REBOOT, json={"confirm": True})
    assert res.status_code == 202, res.text
    assert res.json()["mode"] == "services"
    assert [s["service"] for s in res.json()["services"]] == ["helper"]
    state = wait_reboot(client)
    assert state["state"] == "done"
    assert state["services"] == [{"service": "helper", "name": "系统服务", "status": "ok"}]
    assert helper.pid is not None and helper.pid != first
    helper.stop()


def test_a_reset_signs_in_nobody_with_the_old_password(admin: Client, server: Server) -> None:
    assert admin.post(RESET, json={"mode": "settings", "confirm": True}).status_code == 200
    res = server.client().post("/api/v1/session", json={"username": "admin",
                                                        "password": ADMIN_PASSWORD})
    assert res.status_code in (400, 401, 409), res.text
