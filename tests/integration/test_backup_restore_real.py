"""Issue 15's must-show for restores (SPEC B2) on the real FreeSWITCH, run by the control
plane as its child (local mode), SIPp as the terminals: backup -> factory reset
(everything, the CLI of playbooks/factory_reset.yml) -> the wizard and the license again ->
upload that backup -> restore gives the same store (every document but the license, which
is this box's) and the same rendered configs (hashes compared), and the SIP accounts
register again with their old passwords (refused between the reset and the restore).

FreeSWITCH binds fixed ports on 127.0.0.1: run it in its own network namespace, as the
other FreeSWITCH tests:
  unshare --net bash -c 'ip link set lo up; .venv/bin/python -m pytest \
      tests/integration/test_backup_restore_real.py'
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from controlplane.apply.render import template_names
from tests.components import require
from tests.conftest import REPO, Server, configured_server, create_admin
from tests.freeswitch_ports import assert_ports_free
from tests.license_keys import LicenseKeys, activate, make_keys
from tests.sipp import Terminal, outcome

MINE = ("license",)  # the one document a restore keeps from this box


@pytest.fixture
def box(tmp_path: Path) -> Iterator[tuple[Server, LicenseKeys]]:
    require("freeswitch", "sipp")
    assert_ports_free()
    keys = make_keys(tmp_path)
    with configured_server(tmp_path, VCBOX_LOCAL_SERVICES="freeswitch",
                           VCBOX_DIRECTORY_PORT="8089", **keys.env) as srv:
        yield srv, keys


def signed_in(srv: Server) -> Any:
    client = srv.client()
    assert client.login().status_code == 200
    return client


def store_hashes(srv: Server) -> dict[str, str]:
    raw = json.loads((srv.data / "documents.json").read_text())
    return {name: hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()
            for name, rows in raw.items() if name not in MINE}


def config_hashes(srv: Server) -> dict[str, str | None]:
    """Every rendered config under ROOT (what FreeSWITCH writes there itself is not)."""
    root = srv.data / "root"
    return {name: hashlib.sha256((root / name).read_bytes()).hexdigest()
            if (root / name).exists() else None for name in template_names()}


def register(srv: Server, tmp_path: Path, account: str, password: str, expect: int,
             step: str) -> None:
    domain = signed_in(srv).get("/api/v1/settings/network").json()["domain"]
    device = Terminal(tmp_path / f"{step}-{account}", account, password, domain)
    done = device.register(expect)
    assert done.returncode == 0, outcome(done, device, f"register-{expect}")


def test_backup_factory_reset_upload_restore_on_the_real_freeswitch(
        box: tuple[Server, LicenseKeys], tmp_path: Path) -> None:
    srv, keys = box
    admin = signed_in(srv)
    activate(admin, keys)
    passwords = {}
    for account, name in (("3101", "Ann"), ("3102", "Bob")):
        res = admin.post("/api/v1/accounts", json={"name": name, "account": account,
                                                   "email": f"u{account}@example.com"})
        assert res.status_code == 201, res.text
        passwords[account] = res.json()["password"]
    res = admin.put("/api/v1/settings/smtp", json={
        "server": "smtp.example.com", "sender": "vc@example.com", "username": "vc",
        "password": "Smtp#pass1"})
    assert res.status_code == 200, res.text
    for account, password in passwords.items():
        register(srv, tmp_path, account, password, 200, "before")
    res = admin.post("/api/v1/backups", json={"name": "before-reset"})
    assert res.status_code == 201, res.text
    saved = tmp_path / "before-reset.tar.gz"  # the administrator's download
    saved.write_bytes(admin.get("/api/v1/backups/before-reset").content)
    store, configs = store_hashes(srv), config_hashes(srv)

    # Factory reset, everything (playbooks/factory_reset.yml: stop, reset, start).
    srv.stop()
    reset = subprocess.run([sys.executable, "-m", "controlplane", "factory-reset",
                            "--mode", "all", "--yes"], cwd=REPO, env=srv.environment(),
                           capture_output=True, text=True, timeout=60)
    assert reset.returncode == 0, reset.stderr
    for kept in (srv.data / "backups").glob("*"):
        kept.unlink()  # a box that lost them too: the download is what there is
    srv.start()
    create_admin(srv.url)
    admin = signed_in(srv)
    activate(admin, keys)
    assert config_hashes(srv) != configs  # new secrets, new configs
    assert admin.get("/api/v1/backups").json()["total"] == 0
    register(srv, tmp_path, "3101", passwords["3101"], 403, "reset")

    res = admin.post("/api/v1/backups/upload",
                     files={"file": (saved.name, saved.read_bytes(), "application/gzip")})
    assert res.status_code == 201, res.text
    res = admin.post("/api/v1/backups/before-reset/restore", json={})
    assert res.status_code == 409 and res.json()["error_id"] == "confirm_required"
    res = admin.post("/api/v1/backups/before-reset/restore", json={"confirm": True},
                     timeout=180)
    assert res.status_code == 200, res.text
    assert res.json()["secrets_restored"] is True
    assert any(a["action"].startswith("freeswitch") for a in res.json()["actions"]), \
        res.json()

    assert store_hashes(srv) == store
    assert config_hashes(srv) == configs
    for account, password in passwords.items():
        register(srv, tmp_path, account, password, 200, "restored")
    admin = signed_in(srv)  # the restore signed everyone out; the old password works
    assert admin.get("/api/v1/status").json()["components"]["freeswitch"] == {"status": "ok"}
    assert admin.get("/api/v1/settings/smtp").json()["password_set"] is True
