"""Disk space (SPEC D1-D3, §9 GET /api/v1/disk) through a real control-plane server: the
report, the disk settings with their field errors in zh-CN and English and the guide's
confirm, clean now (409 confirm_required, then the files go), the folder browser refusing
a way out of the allowed roots, and the quota job (VCBOX_DISK_CHECK_S small): a part over
its quota loses its oldest files first down to the quota, and the 80 % mail arrives once
per crossing at a real SMTP server (a small tmpfs as the data dir, when this process may
mount one)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from controlplane import disk
from controlplane.i18n import translate
from tests.conftest import Client, Server, configured_server
from tests.integration.conftest import Pki, SmtpServers
from tests.sparse import GB, aged, sparse

OLD = time.time() - 30 * 86400


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[tuple[Server, Client]]:
    with configured_server(tmp_path, vcbox_disk_check_s="0.3") as srv:
        client = srv.client()
        assert client.login().status_code == 200
        yield srv, client


def wait_for(check, timeout: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        time.sleep(0.1)


def test_the_report(lab: tuple[Server, Client]) -> None:
    srv, client = lab
    aged(srv.data / "records", 3, GB, OLD)
    sparse(srv.data / "logs" / "web" / "a.log", GB // 4, OLD)
    res = client.get("/api/v1/disk")
    assert res.status_code == 200, res.text
    report = res.json()
    assert report["path"] == os.path.realpath(srv.data)
    assert report["total"] >= report["used"] > 0 and report["free"] > 0
    assert 0 < report["percent"] < 100
    assert report["alert_mail"] is True and report["alert_percent"] == 80
    assert report["alert_over"] is False
    parts = {p["part"]: p for p in report["parts"]}
    assert list(parts) == list(disk.PARTS)
    assert parts["records"] == {"part": "records", "used": 3 * GB, "quota_gb": 10,
                                "default_gb": 10, "min_gb": 10}
    subs = {s["sub"]: s for s in parts["server_logs"]["subparts"]}
    # Web also holds the control plane's own log (controlplane.log, a few KB by now).
    own = subs["web"]["used"] - GB // 4
    assert 0 < own < 1 << 20, subs["web"]
    assert subs["web"] == {"sub": "web", "used": GB // 4 + own, "percent": 20, "quota": GB}
    assert 3 * GB + GB // 4 + own <= report["parts_used"] < 3 * GB + GB // 4 + (1 << 20)
    settings = client.get("/api/v1/settings/disk").json()
    assert settings == {"path": "", "alert_mail": True, "quotas": disk.DEFAULT_QUOTAS,
                        "server_logs_split": disk.DEFAULT_SPLIT}


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_settings_field_errors_and_the_confirm(lab: tuple[Server, Client], lang: str) -> None:
    srv, client = lab
    client.cookies.set("vcbox_lang", lang)
    # Below the default: refused by the section's own rules.
    res = client.put("/api/v1/settings/disk", json={"quotas": {"records": 9, "backups": 4},
                                                    "server_logs_split": {"web": 50}})
    assert res.status_code == 400, res.text
    details = res.json()["details"]
    assert details["quotas.records"] == translate(lang, disk.MIN_QUOTA, min=10)
    assert details["quotas.backups"] == translate(lang, disk.MIN_QUOTA, min=5)
    assert details["server_logs_split"] == translate(
        lang, "The four shares add up to %(sum)s: they must add up to 100.", sum=130)
    res = client.put("/api/v1/settings/disk", json={"quotas": {"records": 100_000}})
    assert res.status_code == 400
    assert set(res.json()["details"]) == {"quotas"}
    res = client.put("/api/v1/settings/disk", json={"path": "/etc"})
    assert res.status_code == 400
    assert res.json()["details"]["path"] == translate(lang, disk.OUTSIDE)
    # Nothing stored by a refused change.
    assert client.get("/api/v1/settings/disk").json()["quotas"] == disk.DEFAULT_QUOTAS

    # Below what the part uses now (13.5 GB once its quota is 15): at least 14.
    res = client.put("/api/v1/settings/disk", json={"quotas": {"records": 15}, "confirm": True})
    assert res.status_code == 200, res.text
    aged(srv.data / "records", 13, GB, OLD)
    sparse(srv.data / "records" / "half.bin", GB // 2, OLD)
    res = client.put("/api/v1/settings/disk", json={"quotas": {"records": 13}})
    assert res.status_code == 400, res.text
    assert res.json()["details"] == {
        "quotas.records": translate(lang, disk.MIN_QUOTA, min=14)}
    if lang == "zh_CN":
        assert res.json()["details"]["quotas.records"] == (
            "至少 14 GB：该部分默认磁盘空间和已使用磁盘空间中的较大值。")
    else:
        assert res.json()["details"]["quotas.records"] == (
            "At least 14 GB: the default, or what this part uses now if that is more.")

    change = {"quotas": {"records": 14}, "alert_mail": False,
              "server_logs_split": {"web": 10, "freeswitch": 50}}
    res = client.put("/api/v1/settings/disk", json=change)
    assert res.status_code == 409
    assert res.json()["error_id"] == "confirm_required"
    assert res.json()["message"] == translate(lang, "Change the disk settings?")
    if lang == "zh_CN":
        assert res.json()["message"] == "确定修改磁盘设置？"
    res = client.put("/api/v1/settings/disk", json={**change, "confirm": True})
    assert res.status_code == 200, res.text
    saved = client.get("/api/v1/settings/disk").json()
    assert saved["quotas"]["records"] == 14 and saved["alert_mail"] is False
    assert saved["server_logs_split"] == {"web": 10, "freeswitch": 50, "mcu": 20, "turn": 20}
    store = srv.data / "store"
    store.mkdir()
    res = client.put("/api/v1/settings/disk", json={"path": str(store), "confirm": True})
    assert res.status_code == 200, res.text
    assert client.get("/api/v1/disk").json()["path"] == str(store)
    log = client.get("/api/v1/operation-log", params={"limit": 5}).json()["items"]
    assert (log[0]["action"], log[0]["target"], log[0]["result"]) == (
        "update_settings", "disk", "success")


def test_clean_now_asks_then_deletes(lab: tuple[Server, Client]) -> None:
    srv, client = lab
    records = aged(srv.data / "records", 3, GB, OLD)
    web = sparse(srv.data / "logs" / "web" / "a.log", GB // 4, OLD)
    mcu = sparse(srv.data / "logs" / "mcu" / "b.log", GB // 4, OLD)
    res = client.post("/api/v1/disk/records/clean", json={})
    assert res.status_code == 409
    assert res.json()["error_id"] == "confirm_required"
    assert res.json()["message"] == "该操作将删除[会议记录]，确定操作？"
    assert all(p.exists() for p in records)
    res = client.post("/api/v1/disk/records/clean", json={"confirm": True})
    assert res.status_code == 200, res.text
    assert res.json() == {"part": "records", "sub": None, "deleted": 3, "freed": 3 * GB}
    assert not any(p.exists() for p in records)

    client.cookies.set("vcbox_lang", "en")
    res = client.post("/api/v1/disk/server_logs/web/clean", json={})
    assert res.status_code == 409
    assert res.json()["message"] == "This deletes [Server logs / Web]. Continue?"
    res = client.post("/api/v1/disk/server_logs/web/clean", json={"confirm": True})
    # This file, and what the web server (nginx) logged under ROOT.
    assert res.status_code == 200 and res.json()["deleted"] >= 1
    assert not web.exists() and mcu.exists()
    for url in ("/api/v1/disk/nope/clean", "/api/v1/disk/records/web/clean",
                "/api/v1/disk/server_logs/nope/clean"):
        res = client.post(url, json={"confirm": True})
        assert res.status_code == 404, url
    log = client.get("/api/v1/operation-log", params={"limit": 10}).json()["items"]
    cleaned = [(e["target"], e["result"], e["target_text"]) for e in log
               if e["action"] == "clean_disk" and e["result"] == "success"]
    assert cleaned == [("disk.server_logs.web", "success", "Server logs: Web"),
                       ("disk.records", "success", "Meeting records")]


def test_browse_never_leads_out_of_the_roots(lab: tuple[Server, Client], tmp_path: Path
                                             ) -> None:
    srv, client = lab
    (srv.data / "media" / "video").mkdir(parents=True)
    (tmp_path / "secret").mkdir()
    (srv.data / "media" / "out").symlink_to(tmp_path / "secret", target_is_directory=True)
    res = client.get("/api/v1/disk/browse")
    assert res.json()["items"] == [{"name": os.path.realpath(srv.data),
                                    "path": os.path.realpath(srv.data)}]
    res = client.get("/api/v1/disk/browse", params={"path": str(srv.data / "media")})
    assert res.status_code == 200, res.text
    assert [i["name"] for i in res.json()["items"]] == ["video"]
    for escape in ("/etc", str(srv.data / ".."), str(srv.data / "media" / "out"),
                   str(srv.data / "media" / "out" / ".." / ".."), "relative"):
        res = client.get("/api/v1/disk/browse", params={"path": escape})
        assert res.status_code == 400, escape
        assert res.json()["error_id"] == "invalid_input"
        assert res.json()["details"] == {"path": translate("zh_CN", disk.OUTSIDE)}, escape


def test_the_job_deletes_the_oldest_files_down_to_the_quota(lab: tuple[Server, Client]
                                                            ) -> None:
    srv, client = lab
    folder = srv.data / "records"
    files = aged(folder, 12, GB, OLD)  # 12 GB against the default 10 GB
    latest = sparse(srv.data / "firmware" / "vc400" / "VC400-1.0.0.1.rom", 6 * GB, OLD - 60)
    older = sparse(srv.data / "firmware" / "vc400" / "VC400-1.0.0.0.rom", GB, OLD)
    (srv.data / "firmware" / "latest.json").write_text('{"VC400": "VC400-1.0.0.1.rom"}')
    wait_for(lambda: not files[1].exists(), what="the two oldest records deleted")
    # Firmware, 7 GB against 5 GB: the other file goes, the model's latest (6 GB) stays
    # although the part is still over its quota.
    wait_for(lambda: not older.exists(), what="the non-latest firmware deleted")
    time.sleep(1.0)  # a few more runs: nothing more goes
    assert [p.exists() for p in files] == [False, False] + [True] * 10
    assert latest.exists() and (srv.data / "firmware" / "latest.json").exists()
    report = client.get("/api/v1/disk").json()
    parts = {p["part"]: p for p in report["parts"]}
    assert parts["records"]["used"] == 10 * GB


def _mount_tmpfs(folder: Path, size: str) -> str | None:
    """None when a tmpfs of `size` is mounted at folder, else why it cannot be."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        return "mounting a small tmpfs needs root"
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs",
                           str(folder)], capture_output=True, text=True, timeout=10)
    return None if done.returncode == 0 else f"mount -t tmpfs failed: {done.stderr.strip()}"


def test_the_80_percent_mail_once_per_crossing(tmp_path: Path, pki: Pki,
                                               smtp: SmtpServers) -> None:
    data = tmp_path / "data"
    why = _mount_tmpfs(data, "64m")
    if why:
        pytest.skip(why)
    try:
        with configured_server(tmp_path, vcbox_disk_check_s="0.3",
                               ssl_cert_file=str(pki.ca)) as srv:
            client = srv.client()
            client.cookies.set("vcbox_lang", "en")
            assert client.login().status_code == 200
            sink = smtp.starttls
            assert client.put("/api/v1/settings/smtp",
                              json=sink.settings("tls")).status_code == 200

            def fill() -> Path:
                st = os.statvfs(data)
                whole = (st.f_blocks - st.f_bfree + st.f_bavail) * st.f_frsize
                used = (st.f_blocks - st.f_bfree) * st.f_frsize
                need = int(whole * 0.85) - used
                path = data / "records" / f"fill-{time.monotonic_ns()}.bin"
                path.parent.mkdir(exist_ok=True)
                with open(path, "wb") as out:
                    out.write(os.urandom(1024) * (need // 1024))
                return path

            first = fill()
            wait_for(lambda: len(sink.received) >= 1, what="the 80 % mail")
            time.sleep(1.5)  # five more runs of the job, still above 80 %: no new mail
            assert len(sink.received) == 1
            [mail] = sink.received
            assert mail.rcpt_tos == ["admin@example.com"]
            # In the administrator's language (zh-CN unless changed).
            percent = re.fullmatch(r"vcbox：磁盘空间已使用 (8\d|9\d)%",
                                   mail.message["Subject"])
            assert percent, mail.message["Subject"]
            assert f"已使用 {percent[1]}%" in mail.message.get_content()
            assert "超过了 80%" in mail.message.get_content()
            assert client.get("/api/v1/disk").json()["alert_over"] is True

            first.unlink()
            wait_for(lambda: client.get("/api/v1/disk").json()["alert_over"] is False,
                     what="the use below 80 % noticed")
            assert len(sink.received) == 1
            fill()
            wait_for(lambda: len(sink.received) >= 2, what="the mail of the second crossing")
            time.sleep(1.0)
            assert len(sink.received) == 2
    finally:
        subprocess.run(["umount", "-l", str(data)], capture_output=True, timeout=10)
