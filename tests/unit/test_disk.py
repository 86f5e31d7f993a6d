"""Disk space (SPEC D1-D3): the quota job deletes a part's oldest files first, down to its
quota, never the latest firmware of a model nor a file being written; the quotas' rules
(integer GB, at least max(default, used), their sum within the storage path); the folder
browser never leads out of the allowed roots; the 80 % mail once per crossing."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from controlplane import disk
from controlplane.disk import GB, Disk, QuotaJob, Space
from controlplane.errors import NotFound, ValidationError
from controlplane.sections import SECTIONS
from controlplane.settings import Settings
from controlplane.store import Documents
from tests.sparse import aged, sparse

DAY = 86400.0
OLD = time.time() - 30 * DAY


def doc(**quotas: int) -> dict[str, Any]:
    base = json.loads(json.dumps(SECTIONS["disk"].defaults))
    base["quotas"].update(quotas)
    return base


@pytest.fixture
def data(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    return folder


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_file())


# -- the quota job ---------------------------------------------------------------------------

def test_quota_job_a_part_over_quota_loses_its_oldest_files_first_down_to_the_quota(
        data: Path) -> None:
    files = aged(data / "records", 13, GB, OLD)  # 13 GB of meeting records, quota 10 GB
    sparse(data / "records" / "sub" / "newest.bin", GB // 2, OLD + DAY)
    removed = Disk(data).enforce_all(doc())
    # Oldest first, and no more than needed: 13.5 GB -> 10 GB takes the four oldest.
    assert [r.path for r in removed] == [f"records/{f.name}" for f in files[:4]]
    assert Disk(data).usage("records") == 9 * GB + GB // 2 <= 10 * GB
    assert names(data / "records") == [f.name for f in files[4:]]
    assert (data / "records" / "sub" / "newest.bin").exists()
    # At the quota: nothing more goes.
    assert Disk(data).enforce_all(doc()) == []


def test_quota_job_stops_exactly_at_the_quota(data: Path) -> None:
    aged(data / "backups", 7, GB, OLD, name="Backup{i:02d}.tar.gz")
    removed = Disk(data).enforce("backups", 5 * GB)
    assert [r.path for r in removed] == ["backups/Backup00.tar.gz", "backups/Backup01.tar.gz"]
    assert Disk(data).usage("backups") == 5 * GB


def test_the_latest_firmware_of_a_model_and_latest_json_are_never_deleted(data: Path) -> None:
    folder = data / "firmware"
    latest = sparse(folder / "vc400" / "VC400-1.0.0.1.rom", 3 * GB, OLD)  # the oldest
    older = sparse(folder / "vc400" / "VC400-1.0.0.2.rom", 2 * GB, OLD + 60)
    newer = sparse(folder / "vp-t49" / "T49G-2.0.0.1.rom", 2 * GB, OLD + 120)
    t49 = sparse(folder / "vp-t49" / "T49G-2.0.0.2.rom", GB, OLD + 180)
    (folder / "latest.json").write_text(json.dumps({"VC400": latest.name, "VP-T49": t49.name}))
    os.utime(folder / "latest.json", (OLD - DAY, OLD - DAY))  # older than every file
    removed = Disk(data).enforce("firmware", 0)
    assert {r.path for r in removed} == {f"firmware/vc400/{older.name}",
                                         f"firmware/vp-t49/{newer.name}"}
    assert latest.exists() and t49.exists() and (folder / "latest.json").exists()
    assert Disk(data).clean("firmware")["deleted"] == 0


def test_a_backup_being_written_and_hidden_files_are_never_deleted(data: Path) -> None:
    making = sparse(data / "backups" / ".make-x1" / "archive.tar.gz", 4 * GB, OLD - DAY)
    upload = sparse(data / "backups" / ".upload-y2", GB, OLD - DAY)
    done = aged(data / "backups", 3, GB, OLD, name="AutoBackup{i}.tar.gz")
    assert Disk(data).usage("backups") == 8 * GB  # they count ...
    removed = Disk(data).enforce("backups", 5 * GB)
    # ... but only finished archives go, oldest first, and only what is needed.
    assert [r.path for r in removed] == [f"backups/{p.name}" for p in done]
    assert making.exists() and upload.exists()
    assert Disk(data).clean("backups")["deleted"] == 0


def test_terminal_logs_lose_their_oldest_days_and_keep_what_a_terminal_was(data: Path) -> None:
    ip = data / "terminal-logs" / "10.0.0.7"
    days = [sparse(ip / f"2026-01-{d:02d}.log", GB, OLD + d * DAY) for d in range(1, 5)]
    (ip / "terminal.json").write_text('{"account": "1001"}')
    os.utime(ip / "terminal.json", (OLD, OLD))
    removed = Disk(data).enforce("terminal_logs", 2 * GB + 100)  # and terminal.json
    assert [r.path for r in removed] == [f"terminal-logs/10.0.0.7/{p.name}" for p in days[:2]]
    assert (ip / "terminal.json").exists()


def test_the_server_logs_keep_each_sub_part_to_its_share(data: Path) -> None:
    """server_logs 5 GB, Web 20 %: 1 GB for the web logs; the rotated logs go first and a
    log a service is writing is emptied, not deleted."""
    root = data / "root"
    nginx = root / "var/log/nginx"
    rotated = [sparse(nginx / f"access.log.{i}", GB // 2, OLD + (5 - i) * 60)
               for i in range(1, 5)]  # access.log.4 is the oldest
    live = sparse(nginx / "access.log", GB // 2, OLD + DAY)
    other = sparse(nginx / "something-else.txt", GB, OLD - DAY)  # no log of a part
    fs = sparse(root / "var/log/freeswitch/freeswitch.log", GB, OLD)
    spill = sparse(root / "var/log/freeswitch/json_cdr/a_cdr.json", GB, OLD - DAY)
    removed = Disk(data, root).enforce_all(doc())
    assert [r.path for r in removed] == [f"var/log/nginx/access.log.{i}" for i in (4, 3, 2)]
    assert Disk(data, root).usage("server_logs", "web") == GB
    assert other.exists() and fs.exists() and spill.exists() and rotated[0].exists()
    # Clean now: the web logs, the live one emptied (nginx appends on).
    assert Disk(data, root).clean("server_logs", "web")["deleted"] == 2
    assert live.exists() and live.stat().st_size == 0 and not rotated[0].exists()
    assert fs.exists() and spill.exists()  # FreeSWITCH's own, and its spilled call records


def test_clean_now_deletes_a_part_or_sub_part(data: Path) -> None:
    aged(data / "records", 3, GB, OLD)
    sparse(data / "logs" / "web" / "a.log", GB, OLD)
    sparse(data / "logs" / "mcu" / "b.log", GB, OLD)
    assert Disk(data).clean("records") == {"part": "records", "sub": None, "deleted": 3,
                                           "freed": 3 * GB}
    assert Disk(data).clean("server_logs", "web")["deleted"] == 1
    assert (data / "logs" / "mcu" / "b.log").exists()
    for part, sub in (("nope", None), ("records", "web"), ("server_logs", "nope")):
        with pytest.raises(NotFound):
            Disk(data).clean(part, sub)


def test_links_are_not_followed(data: Path, tmp_path: Path) -> None:
    outside = sparse(tmp_path / "elsewhere" / "big.bin", 5 * GB, OLD)
    (data / "records").mkdir()
    (data / "records" / "link.bin").symlink_to(outside)
    (data / "records" / "dir").symlink_to(outside.parent, target_is_directory=True)
    assert Disk(data).usage("records") == 0
    Disk(data).clean("records")
    Disk(data).enforce("records", 0)
    assert outside.exists()


# -- the rules of the quotas ------------------------------------------------------------------

@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(Documents(tmp_path / "documents.json"))


def fake_space(free: int) -> Any:
    return lambda _path: Space(total=free + 10 * GB, used=10 * GB, free=free)


def details(exc: pytest.ExceptionInfo[ValidationError]) -> dict[str, Any]:
    return exc.value.details


def test_quotas_are_whole_gb_at_least_their_default(settings: Settings) -> None:
    for bad in (5, 0, -1, 10.5, "12", True, 1.0):
        with pytest.raises(ValidationError) as exc:
            settings.prepare("disk", {"quotas": {"records": bad}})
        assert set(details(exc)) == {"quotas.records"}, bad
    with pytest.raises(ValidationError) as exc:
        settings.prepare("disk", {"quotas": {"records": 9}})
    assert details(exc)["quotas.records"] == (disk.MIN_QUOTA, {"min": 10})
    with pytest.raises(ValidationError) as exc:
        settings.prepare("disk", {"quotas": {"recordz": 12}})
    assert set(details(exc)) == {"quotas.recordz"}
    assert settings.prepare("disk", {"quotas": {"records": 12}}).new["quotas"]["records"] == 12


def test_a_changed_quota_is_at_least_what_its_part_uses(settings: Settings, data: Path) -> None:
    aged(data / "records", 12, GB, OLD)
    sparse(data / "records" / "more.bin", 1, OLD)  # 12 GB and a byte: at least 13 GB
    d = Disk(data, space=fake_space(100 * GB))
    change = settings.prepare("disk", {"quotas": {"records": 12}})
    with pytest.raises(ValidationError) as exc:
        d.check(change.new, change.old)
    assert details(exc) == {"quotas.records": (disk.MIN_QUOTA, {"min": 13})}
    change = settings.prepare("disk", {"quotas": {"records": 13}})
    d.check(change.new, change.old)
    # What is not changed is not refused (the job brings a part back under its quota).
    change = settings.prepare("disk", {"alert_mail": False})
    d.check(change.new, change.old)
    assert d.report(change.new)["parts"][0]["min_gb"] == 13


def test_the_quotas_fit_in_the_storage_path(settings: Settings, data: Path) -> None:
    aged(data / "backups", 3, GB, OLD, name="B{i}.tar.gz")  # 3 GB the parts already take
    d = Disk(data, space=fake_space(30 * GB))  # 30 GB free: 33 GB for the quotas
    change = settings.prepare("disk", {"quotas": {"records": 16}})  # 27 - 10 + 16 = 33
    d.check(change.new, change.old)
    change = settings.prepare("disk", {"quotas": {"records": 17}})
    with pytest.raises(ValidationError) as exc:
        d.check(change.new, change.old)
    assert details(exc)["quotas"][1] == {"total": 34, "capacity": 33}
    assert d.report(change.new)["capacity_gb"] == 33


def test_the_server_log_shares_add_up_to_100(settings: Settings) -> None:
    with pytest.raises(ValidationError) as exc:
        settings.prepare("disk", {"server_logs_split": {"web": 30}})
    assert details(exc)["server_logs_split"][1] == {"sum": 110}
    with pytest.raises(ValidationError) as exc:
        settings.prepare("disk", {"server_logs_split": {"web": 101, "turn": -1}})
    assert set(details(exc)) == {"server_logs_split.web", "server_logs_split.turn"}
    new = settings.prepare("disk", {"server_logs_split": {"web": 10, "freeswitch": 50}}).new
    assert new["server_logs_split"] == {"web": 10, "freeswitch": 50, "mcu": 20, "turn": 20}


# -- the storage path and the folder browser ---------------------------------------------------

def test_browse_lists_folders_only_and_never_leads_out(data: Path, tmp_path: Path) -> None:
    (data / "media" / "a").mkdir(parents=True)
    (data / "media" / "b").mkdir()
    (data / "media" / ".hidden").mkdir()
    (data / "media" / "file.txt").write_text("x")
    (tmp_path / "secret").mkdir()
    (data / "media" / "out").symlink_to(tmp_path / "secret", target_is_directory=True)
    (data / "media" / "in").symlink_to(data / "media" / "a", target_is_directory=True)
    d = Disk(data)
    assert d.browse("") == {"path": "", "parent": None, "roots": 1,
                            "items": [{"name": str(data), "path": str(data)}]}
    listing = d.browse(str(data / "media"))
    assert [i["name"] for i in listing["items"]] == ["a", "b", "in"]
    assert listing["parent"] == str(data)
    assert d.browse(str(data))["parent"] is None  # a root: no way up
    for escape in (str(data / ".."), str(data / "media" / ".." / ".."), "/etc", "/",
                   str(data / "media" / "out"), "media", str(tmp_path / "secret")):
        with pytest.raises(ValidationError) as exc:
            d.browse(escape)
        assert set(details(exc)) == {"path"}, escape
    with pytest.raises(ValidationError):
        d.browse(str(data / "media" / "file.txt"))


def test_a_storage_path_outside_the_roots_is_refused(settings: Settings, data: Path,
                                                    tmp_path: Path) -> None:
    other = tmp_path / "other"
    (other / "store").mkdir(parents=True)
    d = Disk(data, space=fake_space(100 * GB))
    for path in ("/etc", str(other / "store"), str(data / "nope")):
        change = settings.prepare("disk", {"path": path})
        with pytest.raises(ValidationError) as exc:
            d.check(change.new, change.old)
        assert set(details(exc)) == {"path"}, path
    for path in ("relative/dir", str(data) + "/../x"):
        with pytest.raises(ValidationError) as exc:
            settings.prepare("disk", {"path": path})
        assert set(details(exc)) == {"path"}
    # Another root (VCBOX_DISK_ROOTS) may hold it.
    d = Disk(data, roots=[str(other)], space=fake_space(100 * GB))
    change = settings.prepare("disk", {"path": str(other / "store")})
    d.check(change.new, change.old)
    assert d.report(change.new)["path"] == str(other / "store")


# -- the 80 % mail -------------------------------------------------------------------------------

class Mailer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []

    def send_many(self, mails: list[tuple], language: str) -> list[str | None]:
        self.sent += [m[:3] for m in mails]
        return [None for _ in mails]


def test_the_80_percent_mail_goes_once_per_crossing(tmp_path: Path, data: Path) -> None:
    docs = Documents(tmp_path / "documents.json")
    settings = Settings(docs)
    percent = {"now": 50}
    d = Disk(data, space=lambda _p: Space(100 * GB, percent["now"] * GB,
                                          (100 - percent["now"]) * GB))
    mailer, clock = Mailer(), {"t": 1000.0}
    job = QuotaJob(d, settings, docs, mailer,
                   admin=lambda: {"email": "admin@example.com", "language": "en"},
                   clock=lambda: clock["t"])
    assert not job.run()["mailed"]
    percent["now"] = 85
    assert job.run()["mailed"]
    for _ in range(5):  # every minute after: no new mail
        clock["t"] += 60
        assert not job.run()["mailed"]
    [(to, subject, body)] = mailer.sent
    assert to == "admin@example.com" and subject == "vcbox: the disk is 85% full"
    assert "85% used (85.0 GB of 100.0 GB), more than 80%" in body
    percent["now"] = 79
    job.run()
    assert docs.get(disk.ALERT_DOC)["over"] is False
    percent["now"] = 81
    assert job.run()["mailed"] and len(mailer.sent) == 2
    # Off: the crossing is remembered, no mail goes.
    percent["now"] = 10
    job.run()
    settings.put("disk", {"alert_mail": False})
    percent["now"] = 90
    assert not job.run()["mailed"] and len(mailer.sent) == 2
    assert docs.get(disk.ALERT_DOC)["over"] is True


def test_a_mail_that_could_not_go_is_tried_again_later(tmp_path: Path, data: Path) -> None:
    from controlplane.errors import Conflict

    class NoSmtp:
        calls = 0

        def send_many(self, mails: list[tuple], language: str) -> list[str | None]:
            NoSmtp.calls += 1
            raise Conflict("Set up the SMTP server first.")

    docs = Documents(tmp_path / "documents.json")
    clock = {"t": 0.0}
    job = QuotaJob(Disk(data, space=lambda _p: Space(10, 9, 1)), Settings(docs), docs,
                   NoSmtp(), admin=lambda: {"email": "a@example.com"},
                   clock=lambda: clock["t"])
    assert not job.run()["mailed"]
    clock["t"] += 60
    job.run()
    assert NoSmtp.calls == 1
    clock["t"] += disk.ALERT_RETRY_S
    job.run()
    assert NoSmtp.calls == 2
