"""Backups (controlplane/backups.py, SPEC B1/B2): what an archive holds and leaves out, and
the hostile uploads it refuses with nothing written."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import json
import sqlite3
import tarfile
from pathlib import Path

import pytest

from controlplane import backups as bk
from controlplane import secrets
from controlplane.errors import Conflict, NotFound
from controlplane.release import ReleaseError
from controlplane.store import Documents, History

NOW = dt.datetime(2026, 12, 3, 9, 30, 15, tzinfo=dt.timezone(dt.timedelta(hours=8)))


@pytest.fixture
def box(tmp_path: Path) -> bk.Backups:
    data = tmp_path / "data"
    data.mkdir()
    docs = Documents(data / "documents.json")
    docs.put("license", {"serial": "VCBOX1-secret"})
    docs.put("settings.smtp", {"server": "smtp.example.com", "password": "smtp-pass"})
    docs.put("admin", {"username": "admin", "password_hash": "$argon2id$x"})
    secrets.ensure(docs)
    with docs.batch() as batch:
        batch.rows("accounts")["1001"] = {"account": "1001", "a1_hash": "ab" * 16}
    history = History(data / "history.sqlite3")
    history.execute("INSERT INTO sessions (token_hash, username, csrf, created, last_seen,"
                    " remember) VALUES ('t', 'admin', 'c', 0, 0, 0)")
    history.execute("INSERT INTO oplog (ts, username, ip, action, result) VALUES"
                    " (1, 'admin', '127.0.0.1', 'login', 'success')")
    calls = sqlite3.connect(data / "calls.sqlite3")
    calls.execute("CREATE TABLE cdrs (uuid TEXT)")
    calls.execute("INSERT INTO cdrs VALUES ('u1')")
    calls.commit()
    calls.close()
    return bk.Backups(data, docs, history, data / "calls.sqlite3", now=lambda: NOW)


def members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path, "r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar}


def test_a_backup_holds_the_data_but_no_license_secret_or_session(box: bk.Backups,
                                                                   tmp_path: Path) -> None:
    made = box.create()
    assert made["name"] == "Backup20261203093015"
    path = box.path_of(made["name"])
    manifest = bk.verify(path)
    assert set(manifest.files) == set(bk.MEMBERS)
    got = members(path)
    docs = json.loads(got["documents.json"])
    assert "license" not in docs and "secrets" not in docs
    assert docs["settings.smtp"]["1"]["password"] == ""
    assert docs["settings.smtp"]["1"]["server"] == "smtp.example.com"
    assert docs["accounts"]["1001"]["a1_hash"] == "ab" * 16
    assert b"VCBOX1-secret" not in b"".join(got.values())
    assert b"smtp-pass" not in b"".join(got.values())
    copy = tmp_path / "h.sqlite3"
    copy.write_bytes(got["history.sqlite3"])
    db = sqlite3.connect(copy)
    assert db.execute("SELECT COUNT(*) FROM sessions").fetchone() == (0,)
    assert db.execute("SELECT COUNT(*) FROM oplog").fetchone() == (1,)
    db.close()
    # The secrets travel sealed under this appliance's key, named in the manifest.
    key = bk.backup_key(box.docs)
    assert manifest.key_id == bk.key_id(key)
    sealed = json.loads(bk.unseal(key, got["secrets.enc"]))
    assert sealed["smtp_password"] == "smtp-pass"
    assert sealed["secrets"] == dict(box.docs.peek("secrets"))
    for value in sealed["secrets"].values():
        assert value.encode() not in b"".join(got.values())
    with pytest.raises(ValueError):
        bk.unseal(b"k" * 32, got["secrets.enc"])
    assert "backup_key" not in docs
    assert box.find_all()["total"] == 1
    with pytest.raises(Conflict):
        box.create(made["name"])
    named = box.create("before-upgrade")
    assert [i["name"] for i in box.find_all()["items"]][0] in (named["name"], made["name"])
    assert box.prune(0) == []  # made by hand: never pruned by the schedule
    assert box.delete_many(["nope", "../etc"]) == []
    with pytest.raises(NotFound):
        box.path_of("../../documents")


def archive(path: Path, entries: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in entries:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def good_entries(name: str = bk.NAME, fmt: int = bk.FORMAT, tamper: bool = False,
                 extra: list[tuple[tarfile.TarInfo, bytes | None]] = ()
                 ) -> list[tuple[tarfile.TarInfo, bytes | None]]:
    files = {m: f"content of {m}".encode() for m in bk.MEMBERS}
    digests = {m: hashlib.sha256(v).hexdigest() for m, v in files.items()}
    if tamper:
        files["documents.json"] = b"{}"
    manifest = json.dumps({"name": name, "format": fmt, "version": "0.1.0",
                           "created": "2026-12-03T09:30:15", "files": digests}).encode()
    return [(tarfile.TarInfo("manifest.json"), manifest),
            *[(tarfile.TarInfo(m), v) for m, v in files.items()], *extra]


def typed(name: str, kind: bytes, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


@pytest.mark.parametrize(("case", "entries", "why"), [
    ("traversal", good_entries(extra=[(tarfile.TarInfo("../evil"), b"x")]), "'..'"),
    ("absolute", good_entries(extra=[(tarfile.TarInfo("/etc/passwd"), b"x")]), "absolute"),
    ("symlink", good_entries(extra=[(typed("x", tarfile.SYMTYPE, "/etc/passwd"), None)]),
     "link"),
    ("hardlink", good_entries(extra=[(typed("y", tarfile.LNKTYPE, "documents.json"), None)]),
     "link"),
    ("device", good_entries(extra=[(typed("z", tarfile.CHRTYPE), None)]), "non-regular"),
    ("checksums", good_entries(tamper=True), "checksum"),
    ("other product", good_entries(name="vcbox"), "not a vcbox backup"),
    ("newer format", good_entries(fmt=bk.FORMAT + 1), "newer"),
    ("no manifest", good_entries()[1:], "manifest.json is missing"),
])
def test_hostile_uploads_are_refused_with_nothing_written(
        box: bk.Backups, tmp_path: Path, case: str, entries: list, why: str) -> None:
    path = archive(tmp_path / "upload.tar.gz", entries)
    before = sorted(p.name for p in box.folder.glob("*")) if box.folder.exists() else []
    with open(path, "rb") as fh, pytest.raises(bk.InvalidBackup) as refused:
        box.store_upload(fh, "Incoming.tar.gz")
    assert why in refused.value.reason, (case, refused.value.reason)
    assert "file" in refused.value.details
    after = sorted(p.name for p in box.folder.glob("*")) if box.folder.exists() else []
    assert after == before, case


def test_a_gzip_bomb_stops_at_the_cap(tmp_path: Path) -> None:
    # 32 MB of zeros packs into a few tens of KB: unpacking stops at the cap.
    plain = io.BytesIO()
    with tarfile.open(fileobj=plain, mode="w") as tar:
        info = tarfile.TarInfo("documents.json")
        info.size = 32 << 20
        tar.addfile(info, io.BytesIO(b"\0" * info.size))
    path = tmp_path / "bomb.tar.gz"
    path.write_bytes(gzip.compress(plain.getvalue()))
    assert path.stat().st_size < 200_000
    with pytest.raises(ReleaseError, match="too large"):
        bk.verify(path, max_unpacked_bytes=1 << 20)


def test_a_good_upload_is_kept_under_its_name(box: bk.Backups, tmp_path: Path) -> None:
    made = box.path_of(box.create()["name"])
    with open(made, "rb") as fh:
        kept = box.store_upload(fh, "C:\\Users\\it\\other-box.tar.gz")
    assert kept["name"] == "other-box" and kept["version"]
    with open(made, "rb") as fh, pytest.raises(Conflict):
        box.store_upload(fh, "other-box.tar.gz")


WEEKLY = {"enabled": True, "cycle": "weekly", "day": 7, "time": "02:00", "keep": 2}


def test_the_schedule_as_cron_and_when_it_is_due() -> None:
    assert bk.cron_of(WEEKLY) == "0 2 * * 0"
    assert bk.cron_of({**WEEKLY, "cycle": "monthly", "day": 28, "time": "23:45"}) \
        == "45 23 28 * *"
    assert bk.cron_of({**WEEKLY, "cycle": "daily"}) == "0 2 * * *"
    tz = NOW.tzinfo
    sunday_2am = dt.datetime(2026, 12, 6, 2, 0, tzinfo=tz)
    assert bk.last_due(WEEKLY, sunday_2am) == sunday_2am
    assert bk.last_due(WEEKLY, sunday_2am - dt.timedelta(minutes=1)) \
        == sunday_2am - dt.timedelta(days=7)
    started = dt.datetime(2026, 12, 3, 9, 0, tzinfo=tz)
    # Just installed: nothing until the first Sunday 02:00 after the start.
    assert not bk.is_due(WEEKLY, dt.datetime(2026, 12, 5, 23, 0, tzinfo=tz), None, started)
    assert bk.is_due(WEEKLY, sunday_2am, None, started)
    # Made at 02:00:05: not again that week; missed while off: at the next check.
    made = sunday_2am + dt.timedelta(seconds=5)
    assert not bk.is_due(WEEKLY, sunday_2am + dt.timedelta(days=3), made, started)
    assert bk.is_due(WEEKLY, sunday_2am + dt.timedelta(days=9), made, started)
    assert not bk.is_due({**WEEKLY, "enabled": False}, sunday_2am, None, started)


def test_the_job_keeps_the_newest_automatic_backups(box: bk.Backups) -> None:
    manual = box.create("by-hand")
    started = NOW - dt.timedelta(days=30)
    clock = [NOW]
    box.now = lambda: clock[0]
    made = []
    for week in range(4):
        clock[0] = dt.datetime(2026, 12, 6, 2, 0, 30, tzinfo=NOW.tzinfo) + \
            dt.timedelta(days=7 * week)
        name = box.run_schedule(WEEKLY, started)
        assert name == "AutoBackup" + clock[0].strftime("%Y%m%d%H%M%S")
        made.append(name)
        assert box.run_schedule(WEEKLY, started) is None  # once per due time
    names = {i["name"] for i in box.find_all()["items"]}
    assert names == {manual["name"], *made[-2:]}
