"""Backups (controlplane/backups.py, SPEC B1/B2): what an archive holds and leaves out, the
hostile uploads it refuses with nothing written, and restores: backup -> factory reset
(everything) -> upload -> restore gives the same store and the same rendered configs
(hashed); another appliance's backup keeps this one's secrets; a backup whose databases or
documents cannot be used is refused with nothing changed; an apply that fails (a render
target folder that cannot be written) puts everything from before back."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from controlplane import backups as bk
from controlplane import secrets
from controlplane.app import Services
from controlplane.config import Config
from controlplane.drivers.services import Absent
from controlplane.errors import Conflict, NotFound
from controlplane.maintenance import factory_reset
from controlplane.release import ReleaseError
from controlplane.sessions import digest as sessions_digest
from controlplane.store import Documents, History
from tests.license_keys import LicenseKeys, make_keys

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
    ("a member the manifest does not name",
     good_entries(extra=[(tarfile.TarInfo("run.sh"), b"#!/bin/sh\n")]),
     "too many members"),
    ("a name longer than the cap", good_entries(extra=[(tarfile.TarInfo("a" * 2000), b"x")]),
     "bad member name"),
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


# -- restore (B2): through the real modules (Services on a data dir, the real templates and
# drivers: janus and coturn have their files checked, nothing is started, FreeSWITCH is
# absent) ---------------------------------------------------------------------------------

RESTORE_KEPT = ("license",)  # what a restore must not bring back: this box's own


@pytest.fixture
def keys(tmp_path: Path) -> LicenseKeys:
    return make_keys(tmp_path)


def box_config(tmp_path: Path, keys: LicenseKeys, name: str = "box") -> Config:
    return Config(data_dir=tmp_path / name / "data", root=tmp_path / name / "root",
                  local_services=(), license_pubkey=str(keys.public))


@contextmanager
def running(config: Config) -> Iterator[Services]:
    services = Services.open(config)
    # As on a box without FreeSWITCH: its actions are skipped, whatever FreeSWITCH may
    # listen on this host's ESL port (tests/integration/test_backup_restore_real.py
    # restores with the real one).
    services.applier.drivers["freeswitch"] = Absent("freeswitch", "not run by this test")
    try:
        result = services.applier.startup()
        assert result.ok, result.failed
        yield services
    finally:
        services.close()


def furnish(services: Services, keys: LicenseKeys, domain: str = "vc.example.com") -> None:
    """An appliance in use: licensed, its administrator, accounts, a room, settings that
    render (SMTP with a password, syslog, the domain), history and a call record."""
    services.licenses.activate(keys.serial())
    services.auth.create_admin({"password": "Admin#123", "email": "a@example.com"})
    for section, data in (("network", {"domain": domain}),
                          ("syslog", {"server": "10.0.0.9", "port": 1514}),
                          ("smtp", {"server": "smtp.example.com", "sender": "vc@example.com",
                                    "username": "vc", "password": "Smtp#pass1"})):
        plan, result = services.applier.change(services.settings.prepare(section, data))
        assert result.ok, result.failed
    services.accounts.create({"name": "Ann", "account": "1001", "email": "a@example.com"})
    services.accounts.create({"name": "Bob", "account": "1002", "email": "b@example.com"})
    services.rooms.create({"name": "Lobby", "kind": "video", "bound_account": "1002"})
    services.oplog.record("admin", "10.0.0.1", "login")
    services.cdrs.put(b'{"variables": {"uuid": "11111111-2222-4333-8444-555555555555"}}')


def document_hashes(services: Services) -> dict[str, str]:
    return {name: hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()
            for name, rows in services.docs.storage.read().items()}


def tree_hashes(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def upload(services: Services, archive: Path, name: str) -> str:
    with open(archive, "rb") as fh:
        return services.backups.store_upload(fh, name + ".tar.gz")["name"]


def test_backup_factory_reset_upload_restore_gives_the_same_store_and_configs(
        tmp_path: Path, keys: LicenseKeys) -> None:
    config = box_config(tmp_path, keys)
    with running(config) as services:
        furnish(services, keys)
        made = services.backups.create()
        store, configs = document_hashes(services), tree_hashes(config.root)
        saved = tmp_path / "saved.tar.gz"  # the administrator's download
        shutil.copy(services.backups.path_of(made["name"]), saved)
        token, _ = services.auth.open_session("admin", remember=False)

    factory_reset(config, "all")
    shutil.rmtree(config.data_dir / bk.FOLDER)
    with running(config) as services:
        # Everything anew: other secrets, so other rendered configs.
        assert tree_hashes(config.root) != configs
        services.licenses.activate(keys.serial())
        services.auth.create_admin({"password": "Other#123", "email": "new@example.com"})
        license_now = services.docs.get("license")
        restoring, _ = services.auth.open_session("admin", remember=False)

        done = services.backups.restore(upload(services, saved, "from-my-pc"), "admin",
                                        "127.0.0.1")

        assert done["secrets_restored"] is True
        after = document_hashes(services)
        assert {n: h for n, h in after.items() if n not in RESTORE_KEPT} == \
            {n: h for n, h in store.items() if n not in RESTORE_KEPT}
        assert services.docs.get("license") == license_now  # this box's, not the archive's
        assert tree_hashes(config.root) == configs
        # The restored data is what the services show: accounts, the old password, the
        # SMTP password (sealed in the archive), the history and the call records.
        assert [a["account"] for a in services.accounts.find_all(limit=None)["items"]] \
            == ["1001", "1002"]
        assert services.auth.authenticate("admin", "Admin#123") == "admin"
        assert services.settings.stored("smtp")["password"] == "Smtp#pass1"
        assert services.cdrs.uuids() == ["11111111-2222-4333-8444-555555555555"]
        actions = [r["action"] for r in services.history.query("SELECT action FROM oplog")]
        assert "login" in actions
        # Everyone is signed out: the archive holds no sessions.
        assert services.auth.find_session(restoring) is None
        assert services.auth.find_session(token) is None
        assert services.history.scalar("SELECT count(*) FROM sessions") == 0
        assert not list(config.data_dir.glob(bk.STAGING + "*"))

    # A restart reads the same store and renders the same files.
    with running(config) as services:
        assert {n: h for n, h in document_hashes(services).items()
                if n not in RESTORE_KEPT} == {n: h for n, h in store.items()
                                              if n not in RESTORE_KEPT}
        assert tree_hashes(config.root) == configs


def test_a_backup_of_another_appliance_keeps_this_ones_secrets(tmp_path: Path,
                                                               keys: LicenseKeys) -> None:
    other = box_config(tmp_path, keys, "other")
    with running(other) as services:
        furnish(services, keys, domain="other.example.com")
        archive = services.backups.path_of(services.backups.create()["name"])
        theirs = dict(services.docs.peek(secrets.DOC))

    config = box_config(tmp_path, keys)
    with running(config) as services:
        services.licenses.activate(keys.serial())
        plan, result = services.applier.change(services.settings.prepare("smtp", {
            "server": "mail.here.example", "sender": "vc@here.example",
            "password": "Mine#pass2"}))
        assert result.ok
        mine = dict(services.docs.peek(secrets.DOC))
        key = bk.backup_key(services.docs)

        done = services.backups.restore(upload(services, archive, "other-box"))

        assert done["secrets_restored"] is False
        assert dict(services.docs.peek(secrets.DOC)) == mine != theirs
        assert bk.backup_key(services.docs) == key
        assert services.settings.stored("network")["domain"] == "other.example.com"
        assert services.settings.stored("smtp")["server"] == "smtp.example.com"
        assert services.settings.stored("smtp")["password"] == "Mine#pass2"
        rendered = b"".join((config.root / p).read_bytes() for p in tree_hashes(config.root))
        assert mine["janus_api_secret"].encode() in rendered
        assert not any(v.encode() in rendered for v in theirs.values())
        assert b"other.example.com" in rendered


def rebuilt(source: Path, target: Path, **replaced: bytes) -> Path:
    """The archive at source with some members replaced, its manifest's checksums made to
    match (what a tampered or damaged backup that still passes the checksums looks like)."""
    got = members(source)
    got.update({name.replace("_", "."): data for name, data in replaced.items()})
    manifest = json.loads(got.pop("manifest.json"))
    manifest["files"] = {m: hashlib.sha256(d).hexdigest() for m, d in got.items()}
    return archive(target, [(tarfile.TarInfo("manifest.json"),
                             json.dumps(manifest).encode()),
                            *[(tarfile.TarInfo(m), d) for m, d in got.items()]])


def damaged(data: bytes) -> bytes:
    """A SQLite file whose pages after the first are overwritten (the header reads)."""
    page = int.from_bytes(data[16:18], "big") or 65536
    assert len(data) > page, "one page only"
    return data[:page] + bytes(range(256)) * ((len(data) - page) // 256 + 1)


def edited_sqlite(data: bytes, tmp: Path, *steps: Callable[[sqlite3.Connection], None]
                  ) -> bytes:
    """The SQLite file data with each step run on a connection of its own (committed)."""
    path = tmp / "edit.sqlite3"
    path.write_bytes(data)
    for step in steps:
        db = sqlite3.connect(path)
        step(db)
        db.commit()
        db.execute("PRAGMA journal_mode=DELETE")
        db.close()
    out = path.read_bytes()
    path.unlink()
    return out


def sqlite_with(data: bytes, tmp: Path, *sql: str) -> bytes:
    def run(db: sqlite3.Connection) -> None:
        for statement in sql:
            db.execute(statement)

    return edited_sqlite(data, tmp, run)


def index_out_of_step(data: bytes, tmp: Path) -> bytes:
    """The history with a row its index does not have (integrity_check names it): the
    index hidden from the schema while the row goes in."""
    entry: list[tuple] = []

    def hide(db: sqlite3.Connection) -> None:
        entry.append(db.execute("SELECT type, name, tbl_name, rootpage, sql FROM"
                                " sqlite_master WHERE name = 'oplog_ts'").fetchone())
        db.execute("PRAGMA writable_schema = ON")
        db.execute("DELETE FROM sqlite_master WHERE name = 'oplog_ts'")

    def add_and_show(db: sqlite3.Connection) -> None:
        db.execute("INSERT INTO oplog (ts, username, ip, action, result) VALUES"
                   " (2, 'x', '1', 'login', 'success')")
        db.execute("PRAGMA writable_schema = ON")
        db.execute("INSERT INTO sqlite_master VALUES (?, ?, ?, ?, ?)", entry[0])

    return edited_sqlite(data, tmp, hide, add_and_show)


@pytest.mark.parametrize(("case", "why"), [
    ("history not sqlite", "not a SQLite database"),
    ("history index out of step", "missing from index oplog_ts"),
    ("calls damaged", "damaged"),
    ("history newer schema", "newer version"),
    ("documents newer schema", "newer than this software"),
    ("documents not a store", "not a document store"),
    ("invalid settings", "services settings are not valid"),
    ("secrets do not open", "does not open"),
])
def test_a_backup_that_cannot_be_used_is_refused_with_nothing_changed(
        tmp_path: Path, keys: LicenseKeys, case: str, why: str) -> None:
    config = box_config(tmp_path, keys)
    with running(config) as services:
        furnish(services, keys)
        source = services.backups.path_of(services.backups.create("good")["name"])
        got = members(source)
        docs = json.loads(got["documents.json"])
        bad = {
            "history not sqlite": {"history_sqlite3": b"SQLite format 3\0" + b"x" * 5000},
            "history index out of step": {"history_sqlite3": index_out_of_step(
                got["history.sqlite3"], tmp_path)},
            "calls damaged": {"calls_sqlite3": damaged(got["calls.sqlite3"])},
            "history newer schema": {"history_sqlite3": sqlite_with(
                got["history.sqlite3"], tmp_path, "PRAGMA user_version = 99")},
            "documents newer schema": {"documents_json": json.dumps(
                {**docs, "_meta": {"1": {"schema_version": 99}}}).encode()},
            "documents not a store": {"documents_json": b'{"accounts": [1, 2]}'},
            "invalid settings": {"documents_json": json.dumps(
                {**docs, "settings.services": {"1": {"sip_port": "not a port"}}}).encode()},
            "secrets do not open": {"secrets_enc": b"\0" * 64},
        }[case]
        name = upload(services, rebuilt(source, tmp_path / "bad.tar.gz", **bad), "bad")
        token, _ = services.auth.open_session("admin", remember=False)
        before = (config.documents_path.read_bytes(), tree_hashes(config.root),
                  services.history.scalar("SELECT count(*) FROM oplog"),
                  services.cdrs.uuids(), sorted(p.name for p in config.data_dir.iterdir()))

        with pytest.raises(bk.UnusableBackup) as refused:
            services.backups.restore(name)

        assert why in refused.value.reason, (case, refused.value.reason)
        assert (config.documents_path.read_bytes(), tree_hashes(config.root),
                services.history.scalar("SELECT count(*) FROM oplog"),
                services.cdrs.uuids(),
                sorted(p.name for p in config.data_dir.iterdir())) == before
        assert services.auth.find_session(token) is not None


def test_an_archive_brings_no_sessions_in(tmp_path: Path, keys: LicenseKeys) -> None:
    """A crafted archive with a session (a token its maker knows) signs nobody in."""
    config = box_config(tmp_path, keys)
    with running(config) as services:
        furnish(services, keys)
        source = services.backups.path_of(services.backups.create("good")["name"])
        planted = sqlite_with(
            members(source)["history.sqlite3"], tmp_path,
            "INSERT INTO sessions (token_hash, username, csrf, created, last_seen, remember)"
            f" VALUES ('{sessions_digest('known')}', 'admin', 'c', 0, 9e12, 1)")
        name = upload(services, rebuilt(source, tmp_path / "crafted.tar.gz",
                                        history_sqlite3=planted), "crafted")
        services.backups.restore(name)
        assert services.auth.find_session("known") is None
        assert services.history.scalar("SELECT count(*) FROM sessions") == 0


@contextmanager
def unwritable(folder: Path) -> Iterator[None]:
    """A folder nothing can be created in, also by root (immutable): a render target the
    apply's file step cannot write, as on a read-only or broken file system."""
    if os.geteuid() == 0:
        if shutil.which("chattr") is None or subprocess.run(
                ["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
            pytest.skip("chattr +i does not work here")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
    else:
        mode = folder.stat().st_mode
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(mode)


def test_an_apply_that_fails_puts_the_previous_data_back(tmp_path: Path,
                                                         keys: LicenseKeys) -> None:
    config = box_config(tmp_path, keys)
    with running(config) as services:
        furnish(services, keys)
        archive_path = tmp_path / "saved.tar.gz"
        shutil.copy(services.backups.path_of(services.backups.create()["name"]),
                    archive_path)
    factory_reset(config, "all")
    with running(config) as services:
        services.licenses.activate(keys.serial())
        services.auth.create_admin({"password": "Other#123", "email": "new@example.com"})
        services.oplog.record("admin", "10.0.0.2", "login")
        name = upload(services, archive_path, "saved-copy")
        token, _ = services.auth.open_session("admin", remember=False)
        store, configs = document_hashes(services), tree_hashes(config.root)
        oplog_before = [tuple(r) for r in services.history.query(
            "SELECT id, action, target, result FROM oplog ORDER BY id")]

        # The restored secrets change etc/janus/janus.jcfg: that write fails.
        with unwritable(config.root / "etc" / "janus"), \
                pytest.raises(bk.RestoreFailed) as failed:
            services.backups.restore(name, "admin", "127.0.0.1")

        assert failed.value.params["step"] == "files"
        assert "janus" in failed.value.params["output"]
        assert document_hashes(services) == store
        assert tree_hashes(config.root) == configs
        assert services.accounts.count() == 0
        assert services.auth.authenticate("admin", "Other#123") == "admin"
        assert services.cdrs.uuids() == []
        # The history from before (the restoring administrator still signed in), and the
        # failed apply in the operation log.
        assert services.auth.find_session(token) is not None
        rows = [tuple(r) for r in services.history.query(
            "SELECT id, action, target, result FROM oplog ORDER BY id")]
        assert rows[:len(oplog_before)] == oplog_before
        assert rows[len(oplog_before):][-1][1:] == ("apply", bk.RESTORE_TARGET, "failure")
        assert not list(config.data_dir.glob(bk.STAGING + "*"))

        # The file system fixed, the same restore goes through.
        assert services.backups.restore(name)["secrets_restored"] is True
        assert services.accounts.count() == 2


def _restore_and_die(config: Config, keys: LicenseKeys, out: Path) -> None:
    """In a child process: a furnished box, a backup, one more account, then a restore
    whose apply never returns: the process dies (os._exit) with the data half-swapped."""
    with running(config) as services:
        furnish(services, keys)
        name = services.backups.create()["name"]
        services.accounts.create({"name": "Cy", "account": "1003", "email": "c@example.com"})
        services.oplog.record("admin", "10.0.0.3", "login")
        rows = [list(r) for r in services.history.query("SELECT id, action FROM oplog")]
        out.write_text(json.dumps({"store": document_hashes(services), "oplog": rows}))

        def die(*_args: object, **_kwargs: object) -> None:
            os._exit(9)

        services.applier.apply = die
        services.backups.restore(name, "admin", "127.0.0.1")
    os._exit(0)  # not reached


def test_a_restore_cut_short_by_a_crash_is_undone_at_the_next_start(
        tmp_path: Path, keys: LicenseKeys) -> None:
    import multiprocessing

    config = box_config(tmp_path, keys)
    saved = tmp_path / "before.json"
    child = multiprocessing.get_context("fork").Process(
        target=_restore_and_die, args=(config, keys, saved))
    child.start()
    child.join(60)
    assert child.exitcode == 9, child.exitcode
    before = json.loads(saved.read_text())
    # Died mid-swap: the backup's store (two accounts) is in place, the journal beside it.
    assert len(json.loads(config.documents_path.read_text())["accounts"]) == 2
    assert list(config.data_dir.glob(bk.STAGING + "*/" + bk.SWAPPING))

    with running(config) as services:
        assert document_hashes(services) == before["store"]
        assert services.accounts.count() == 3
        rows = [list(r) for r in services.history.query("SELECT id, action FROM oplog")]
        assert rows[:len(before["oplog"])] == before["oplog"]
        assert not list(config.data_dir.glob(bk.STAGING + "*"))


def test_recovery_leaves_a_database_the_swap_had_not_reached(tmp_path: Path) -> None:
    data = tmp_path / "data"
    work = data / (bk.STAGING + "x")
    (work / "previous").mkdir(parents=True)
    (work / "previous" / bk.DOCUMENTS).write_text('{"old": {}}')
    (work / bk.SWAPPING).write_text(json.dumps([bk.HISTORY, bk.CALLS]))
    (data / bk.DOCUMENTS).write_text('{"new": {}}')
    (data / bk.HISTORY).write_text("old history, not yet swapped")
    (work / "previous" / bk.CALLS).write_text("old calls")
    (data / bk.CALLS).write_text("new calls")
    put = bk.recover_interrupted(data, data / bk.DOCUMENTS,
                                 {bk.HISTORY: data / bk.HISTORY, bk.CALLS: data / bk.CALLS})
    assert put == [bk.CALLS, bk.DOCUMENTS]
    assert (data / bk.DOCUMENTS).read_text() == '{"old": {}}'
    assert (data / bk.HISTORY).read_text() == "old history, not yet swapped"
    assert (data / bk.CALLS).read_text() == "old calls"
    assert not work.exists()
    # A work folder without the journal (staging only) changes nothing.
    (data / (bk.STAGING + "y")).mkdir()
    assert bk.recover_interrupted(data, data / bk.DOCUMENTS, {}) == []
