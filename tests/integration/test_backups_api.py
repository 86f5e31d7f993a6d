"""Backups through the real server (SPEC B2, §9 Maintenance): create now (default name and
a chosen one), list, download (the archive verifies and leaves the license and secrets
out), upload (a good archive kept; a hostile one refused with a field error, nothing
kept), delete one and many; restore (409 confirm_required without the confirm, 404 for
an unknown name, the CSRF token needed; with the confirm the data comes back and everyone
is signed out; a backup whose history cannot be used is refused with nothing changed; an
apply that fails answers 502 naming the step, everything from before in effect).
Hostile archive shapes and restores in depth: tests/unit/test_backups.py.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from controlplane import backups as bk
from tests.conftest import Client, Server
from tests.license_keys import licensed_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with licensed_server(tmp_path_factory.mktemp("backups")) as srv:
        yield srv


@pytest.fixture
def admin(server: Server) -> Client:
    return server.signed_in("en")


def test_create_list_download_upload_delete(admin: Client, server: Server,
                                           tmp_path: Path) -> None:
    res = admin.post("/api/v1/backups", json={})
    assert res.status_code == 201, res.text
    made = res.json()
    assert re.fullmatch(r"Backup\d{14}", made["name"])
    assert admin.post("/api/v1/backups", json={"name": made["name"]}).status_code == 409
    bad = admin.post("/api/v1/backups", json={"name": "../x"})
    assert bad.status_code == 400 and "name" in bad.json()["details"]
    assert admin.post("/api/v1/backups", json={"name": "before-change"}).status_code == 201
    listed = admin.get("/api/v1/backups").json()
    assert {i["name"] for i in listed["items"]} == {made["name"], "before-change"}

    res = admin.get(f"/api/v1/backups/{made['name']}")
    assert res.status_code == 200
    assert f'filename="{made["name"]}.tar.gz"' in res.headers["Content-Disposition"]
    path = tmp_path / "download.tar.gz"
    path.write_bytes(res.content)
    assert set(bk.verify(path).files) == set(bk.MEMBERS)
    secret = (server.data / "documents.json").read_text()
    with tarfile.open(path, "r:gz") as tar:
        docs = tar.extractfile("documents.json").read().decode()
    assert '"license"' in secret and '"license"' not in docs
    assert '"secrets"' not in docs

    res = admin.post("/api/v1/backups/upload",
                     files={"file": ("from-other-box.tar.gz", res.content, "application/gzip")})
    assert res.status_code == 201, res.text
    assert res.json()["name"] == "from-other-box"

    evil = io.BytesIO()
    with tarfile.open(fileobj=evil, mode="w:gz") as tar:
        info = tarfile.TarInfo("../../escape")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    before = sorted(p.name for p in (server.data / "backups").iterdir())
    res = admin.post("/api/v1/backups/upload",
                     files={"file": ("evil.tar.gz", evil.getvalue(), "application/gzip")})
    assert res.status_code == 400 and "file" in res.json()["details"], res.text
    assert sorted(p.name for p in (server.data / "backups").iterdir()) == before
    assert not (server.data.parent / "escape").exists()

    assert admin.delete(f"/api/v1/backups/{made['name']}").json()["deleted"] == [made["name"]]
    assert admin.delete(f"/api/v1/backups/{made['name']}").status_code == 404
    res = admin.post("/api/v1/backups/delete", json={"names": ["before-change",
                                                              "from-other-box", "gone"]})
    assert res.json()["deleted"] == ["before-change", "from-other-box"]
    assert admin.get("/api/v1/backups").json()["total"] == 0


def test_restore_asks_first_then_brings_the_data_back_and_signs_everyone_out(
        admin: Client, server: Server) -> None:
    made = admin.post("/api/v1/backups", json={"name": "before-accounts"})
    assert made.status_code == 201, made.text
    res = admin.post("/api/v1/accounts", json={"name": "Late", "account": "3901",
                                               "email": "late@example.com"})
    assert res.status_code == 201, res.text

    # A restore is destructive: the guide's question first (409), nothing done meanwhile.
    for body in ({}, {"confirm": False}, {"confirm": "yes"}):
        res = admin.post("/api/v1/backups/before-accounts/restore", json=body)
        assert res.status_code == 409, res.text
        assert res.json()["error_id"] == "confirm_required"
        assert res.json()["message"] == "Restore this backup?"
    assert admin.get("/api/v1/accounts/3901").status_code == 200
    # Unknown names are 404 (also before the question); no CSRF token, no restore.
    for name in ("no-such-backup", "..%2F..%2Fetc"):
        res = admin.post(f"/api/v1/backups/{name}/restore", json={"confirm": True})
        assert res.status_code == 404, res.text
    res = server.client().post("/api/v1/backups/before-accounts/restore",
                               json={"confirm": True}, cookies=admin.cookies)
    assert res.status_code == 403 and res.json()["error_id"] == "csrf_failed"
    assert admin.get("/api/v1/accounts/3901").status_code == 200

    res = admin.post("/api/v1/backups/before-accounts/restore", json={"confirm": True})
    assert res.status_code == 200, res.text
    assert res.json()["name"] == "before-accounts"
    assert res.json()["secrets_restored"] is True
    # Signed out (the backup holds no sessions); the administrator signs in again.
    assert admin.get("/api/v1/accounts").status_code == 401
    assert admin.login().status_code == 200
    assert admin.get("/api/v1/accounts/3901").status_code == 404
    # The restored history goes on with the restore itself (the refusals were no action).
    log = admin.get("/api/v1/operation-log", params={"limit": 1000}).json()["items"]
    assert [(e["target"], e["result"]) for e in log if e["action"] == "restore_backup"] \
        == [("before-accounts", "success")]
    assert admin.delete("/api/v1/backups/before-accounts").status_code == 200


def test_a_backup_that_cannot_be_used_is_refused_and_nothing_changes(
        admin: Client, server: Server, tmp_path: Path) -> None:
    made = admin.post("/api/v1/backups", json={"name": "to-damage"}).json()
    res = admin.get(f"/api/v1/backups/{made['name']}")
    with tarfile.open(fileobj=io.BytesIO(res.content), mode="r:gz") as tar:
        got = {m.name: tar.extractfile(m).read() for m in tar}
    got["history.sqlite3"] = b"SQLite format 3\0" + b"\xff" * 4000
    manifest = json.loads(got.pop("manifest.json"))
    manifest["files"] = {m: hashlib.sha256(d).hexdigest() for m, d in got.items()}
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in [("manifest.json", json.dumps(manifest).encode()), *got.items()]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    res = admin.post("/api/v1/backups/upload",
                     files={"file": ("damaged.tar.gz", out.getvalue(), "application/gzip")})
    assert res.status_code == 201, res.text  # the archive itself is whole
    before = (server.data / "documents.json").read_bytes()

    res = admin.post("/api/v1/backups/damaged/restore", json={"confirm": True})
    assert res.status_code == 400, res.text
    assert res.json()["error_id"] == "invalid_backup"
    assert "history.sqlite3" in res.json()["message"]
    assert (server.data / "documents.json").read_bytes() == before
    assert admin.get("/api/v1/session").status_code == 200  # nobody signed out
    assert not list(server.data.glob(bk.STAGING + "*"))
    log = admin.get("/api/v1/operation-log", params={"limit": 1000}).json()["items"]
    assert [(e["target"], e["result"]) for e in log if e["action"] == "restore_backup"][0] \
        == ("damaged", "failure")
    assert admin.post("/api/v1/backups/delete", json={
        "names": ["to-damage", "damaged"]}).status_code == 200


def test_a_restore_whose_apply_fails_answers_the_step_and_changes_nothing(
        admin: Client, server: Server) -> None:
    """The restored MCU ports go into etc/janus/janus.jcfg, and that folder cannot be
    written (immutable, as a broken file system would have it): 502 naming the step, the
    settings from before in effect, the administrator still signed in."""
    assert admin.post("/api/v1/backups", json={"name": "old-ports"}).status_code == 201
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
        res = admin.post("/api/v1/backups/old-ports/restore", json={"confirm": True})
    finally:
        subprocess.run(["chattr", "-i", str(janus)], check=True)
    assert res.status_code == 502, res.text
    assert res.json()["error_id"] == "restore_failed"
    assert "writing the configuration files failed" in res.json()["message"], res.text
    assert ((server.data / "documents.json").read_bytes(),
            (janus / "janus.jcfg").read_bytes()) == before
    assert admin.get("/api/v1/settings/ports").json()["mcu"] == {"min": 51000, "max": 59000}
    assert admin.get("/api/v1/session").status_code == 200
    log = admin.get("/api/v1/operation-log", params={"limit": 1000}).json()["items"]
    assert [(e["target"], e["result"]) for e in log if e["action"] == "restore_backup"][0] \
        == ("old-ports", "failure")
    assert admin.delete("/api/v1/backups/old-ports").status_code == 200
