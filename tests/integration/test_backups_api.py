"""Backups through the real server (SPEC B2, §9 Maintenance): create now (default name and
a chosen one), list, download (the archive verifies and leaves the license and secrets
out), upload (a good archive kept; a hostile one refused with a field error, nothing
kept), delete one and many. Hostile archive shapes one by one: tests/unit/test_backups.py.
"""

from __future__ import annotations

import io
import re
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from controlplane import backups as bk
from tests.conftest import Client, Server
from tests.license_keys import licensed_server

EN = {"vcbox_lang": "en"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with licensed_server(tmp_path_factory.mktemp("backups")) as srv:
        yield srv


@pytest.fixture
def admin(server: Server) -> Client:
    client = server.client()
    client.cookies.update(EN)
    assert client.login().status_code == 200
    return client


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
