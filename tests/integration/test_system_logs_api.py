"""System logs (O3) against a real `python -m controlplane serve`: GET /api/v1/logs/system
answers a zip of the chosen parts' files of the range (rotated and .gz ones too), with a
manifest, recorded in the operation log; GET /api/v1/logs/system/files lists them.

Streaming, proven on the server process itself: a 2 GiB log (sparse, os.truncate) is
exported whole while the server's resident memory (VmRSS, /proc/<pid>/status) grows by
less than 100 MB; and the first bytes of the answer arrive when the server has read only a
sliver of that file (rchar, /proc/<pid>/io); the client then hangs up and the server goes
on answering. Field errors come in the admin's language (zh-CN and English)."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import os
import zipfile
from pathlib import Path

import requests

from controlplane.i18n import translate
from tests.conftest import Client, Server

GIB = 1 << 30


def proc_value(pid: int, name: str, field: str) -> int:
    with open(f"/proc/{pid}/{name}") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key == field:
                return int(value.split()[0])
    raise KeyError(field)


def rss_kb(pid: int) -> int:
    return proc_value(pid, "status", "VmRSS")


def rchar(pid: int) -> int:
    return proc_value(pid, "io", "rchar")


def root_of(server: Server) -> Path:
    return server.data / "root"


def write(path: Path, text: str, mtime: float | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode()
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def today(admin: Client) -> dt.date:
    """The appliance's date (its zone), as the server sees it."""
    return dt.date.fromisoformat(admin.get("/api/v1/logs/system/files",
                                           params={"days": "1"}).json()["until"])


def stamp(day: dt.date) -> str:
    return f"{day.isoformat()} 09:00:00.000001 [INFO] switch_core.c:1 up\n"


def midday(day: dt.date) -> float:
    return dt.datetime.combine(day, dt.time(12)).timestamp()


def test_the_zip_holds_the_chosen_logs(admin: Client, configured: Server) -> None:
    root = root_of(configured)
    now = today(admin)
    week_ago, yesterday = now - dt.timedelta(days=7), now - dt.timedelta(days=1)
    fs = root / "var/log/freeswitch"
    write(fs / "freeswitch.log.2.gz", stamp(week_ago), midday(week_ago))
    write(fs / "freeswitch.log.1", stamp(yesterday), midday(yesterday))
    live = write(fs / "freeswitch.log", stamp(now) + "now\n")
    write(root / "var/log/vcbox/coturn.log", f"{now.isoformat()}T08:00:00 : relay\n")
    write(root / "var/log/vcbox/janus.log", "Janus up\n", midday(yesterday))
    write(root / "var/log/nginx/access.log",
          f'127.0.0.1 - - [{now.strftime("%d/%b/%Y")}:04:00:00 +0000] "GET /"\n')

    # Today, FreeSWITCH and TURN only.
    res = admin.get("/api/v1/logs/system",
                    params={"days": "1", "parts": "freeswitch,turn"}, stream=True)
    assert res.status_code == 200, res.text
    assert res.headers["Content-Type"] == "application/zip"
    day = now.strftime("%Y%m%d")
    assert res.headers["Content-Disposition"] == \
        f'attachment; filename="vcbox-logs-{day}-{day}.zip"'
    assert "Content-Length" not in res.headers        # streamed: no length up front
    z = zipfile.ZipFile(io.BytesIO(res.content))
    assert z.testzip() is None
    assert z.namelist() == ["manifest.txt", "freeswitch/freeswitch.log",
                            "turn/coturn/coturn.log"]
    assert z.read("freeswitch/freeswitch.log") == live.read_bytes()
    manifest = z.read("manifest.txt").decode()
    assert "FreeSWITCH, TURN" in manifest and "/var/log/freeswitch/freeswitch.log" in manifest
    assert str(root) not in manifest

    # The dates of yesterday and the day before: the rotated file and Janus's log.
    since = (yesterday - dt.timedelta(days=1)).isoformat()
    res = admin.get("/api/v1/logs/system",
                    params={"since": since, "until": yesterday.isoformat()})
    assert res.status_code == 200, res.text
    assert zipfile.ZipFile(io.BytesIO(res.content)).namelist() == [
        "manifest.txt", "freeswitch/freeswitch.log.1", "mcu/janus/janus.log"]

    # All: every file; the gzipped one as it is.
    res = admin.get("/api/v1/logs/system", params={"days": "all"})
    z = zipfile.ZipFile(io.BytesIO(res.content))
    # (web/logs/controlplane.log: the control plane's own log, in the data dir.)
    assert set(z.namelist()) == {
        "manifest.txt", "web/nginx/access.log", "web/logs/controlplane.log",
        "freeswitch/freeswitch.log.2.gz", "freeswitch/freeswitch.log.1",
        "freeswitch/freeswitch.log", "mcu/janus/janus.log", "turn/coturn/coturn.log"}
    assert gzip.decompress(z.read("freeswitch/freeswitch.log.2.gz")) == \
        stamp(week_ago).encode()

    # The list the page asks for first says the same.
    listed = admin.get("/api/v1/logs/system/files", params={"days": "all"}).json()
    assert listed["total"] == 7 and listed["since"] == ""
    assert {i["name"] for i in listed["items"]} == set(z.namelist()) - {"manifest.txt"}

    # Each export is in the operation log (the list is not).
    items = admin.get("/api/v1/operation-log", params={"limit": 20}).json()["items"]
    exports = [i for i in items if i["action"] == "export_system_logs"]
    assert len(exports) == 3
    assert {e["result"] for e in exports} == {"success"}
    assert exports[-1]["target"] == f"freeswitch,turn {now.isoformat()}..{now.isoformat()}"


def test_a_2_gib_log_streams(admin: Client, configured: Server) -> None:
    pid = configured.proc.pid
    log = write(root_of(configured) / "var/log/freeswitch/freeswitch.log", stamp(today(admin)))
    os.truncate(log, 2 * GIB + 123)

    # The first bytes come while the server has read a sliver of the file; hang up.
    read_before = rchar(pid)
    res = admin.get("/api/v1/logs/system", params={"parts": "freeswitch"}, stream=True)
    assert res.status_code == 200
    assert res.raw.read(4) == b"PK\x03\x04"
    assert rchar(pid) - read_before < 256 * 1024 * 1024
    res.close()
    assert admin.get("/api/v1/logs/system/files").status_code == 200

    # The whole export, while the server's memory stays put.
    before = peak = rss_kb(pid)
    res = admin.get("/api/v1/logs/system", params={"parts": "freeswitch"}, stream=True,
                    timeout=300)
    assert res.status_code == 200
    body = io.BytesIO()
    for n, piece in enumerate(res.iter_content(256 * 1024)):
        body.write(piece)
        if n % 4 == 0:
            peak = max(peak, rss_kb(pid))
    peak = max(peak, rss_kb(pid))
    assert (peak - before) < 100 * 1024, f"server RSS {before} kB -> {peak} kB"
    z = zipfile.ZipFile(body)
    info = z.getinfo("freeswitch/freeswitch.log")
    assert info.file_size == 2 * GIB + 123                     # ZIP64 sizes
    assert body.tell() < 64 * 1024 * 1024                      # zeros deflate well
    with z.open(info) as member:                                 # and read back
        assert member.read(len(stamp(today(admin)))) == stamp(today(admin)).encode()


def refusal(client: Client, lang: str, **params: str) -> dict:
    client.cookies.set("vcbox_lang", lang)
    try:
        res = client.get("/api/v1/logs/system", params=params)
    finally:
        client.cookies.set("vcbox_lang", "zh_CN")
    assert res.status_code == 400, res.text
    body = res.json()
    assert body["error_id"] == "invalid_input"
    return body["details"]


def test_field_errors_in_the_admins_language(admin: Client) -> None:
    for lang in ("zh_CN", "en"):
        def t(msgid: str, lang: str = lang) -> str:
            return translate(lang, msgid)
        assert refusal(admin, lang, since="2026-13-01") == {
            "since": t("Use a date like 2026-01-31.")}
        assert refusal(admin, lang, since="2026-02-02", until="2026-02-01") == {
            "since": t("The start date is after the end date."),
            "until": t("The start date is after the end date.")}
        assert refusal(admin, lang, parts="web,kernel") == {
            "parts": t("Choose among the Web, FreeSWITCH, MCU and TURN logs.")}
        assert refusal(admin, lang, parts="") == {"parts": t("Choose at least one log.")}
        assert refusal(admin, lang, days="30") == {
            "days": t("Choose today, the last 3 days, the last 7 days or all.")}
    assert translate("zh_CN", "Choose at least one log.") != "Choose at least one log."
    # Refusals are no exports: nothing in the operation log.
    items = admin.get("/api/v1/operation-log", params={"limit": 50}).json()["items"]
    assert not [i for i in items if i["action"] == "export_system_logs"]


def test_a_session_is_needed(configured: Server) -> None:
    for path in ("/api/v1/logs/system", "/api/v1/logs/system/files"):
        res = requests.get(configured.url + path, timeout=30)
        assert res.status_code == 401, path
        assert res.json()["error_id"] == "unauthorized"
    res = requests.get(configured.url + "/logs/system", timeout=30, allow_redirects=False)
    assert res.status_code == 401
