"""System logs (O3), controlplane/system_logs.py: which files of which parts belong to a
range (by mtime and first time stamp, rotated and .gz files included), the syslog's lines
of a part's programs, and the zip streamed member by member; the route's validation
(controlplane/web/api_system_logs.py) without a server."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import os
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from controlplane import system_logs as sl
from controlplane.errors import ValidationError

TZ = dt.timezone(dt.timedelta(hours=8))


def at(day: int, hour: int = 12) -> float:
    return dt.datetime(2026, 1, day, hour, tzinfo=TZ).timestamp()


def day_bounds(first: int, last: int) -> tuple[float, float]:
    return at(first, 0), at(last + 1, 0)


def write(root: Path, rel: str, text: str | bytes, mtime: float) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode() if isinstance(text, str) else text
    if rel.endswith(".gz"):
        data = gzip.compress(data)
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))
    return path


def fs_line(day: int, hour: int = 9, text: str = "line") -> str:
    return f"2026-01-{day:02d} {hour:02d}:00:00.000001 [INFO] mod_sofia.c:1 {text}\n"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """FreeSWITCH's log rotated twice (one gzipped), coturn's and Janus's output files,
    nginx's logs, two meeting records and a syslog of every program."""
    r = tmp_path / "root"
    fs = "var/log/freeswitch"
    write(r, f"{fs}/freeswitch.log.2.gz", fs_line(1) + fs_line(2), at(2, 23))
    write(r, f"{fs}/freeswitch.log.1", fs_line(3) + fs_line(5), at(5, 23))
    write(r, f"{fs}/freeswitch.log", fs_line(6) + fs_line(8), at(8, 12))
    write(r, f"{fs}/json_cdr/a.cdr.json", "{}", at(6))           # not a log: never sent
    write(r, f"{fs}/conference_cdr/m1.cdr.xml", "<cdr/>", at(3))
    write(r, f"{fs}/conference_cdr/m2.cdr.xml", "<cdr/>", at(7))
    # coturn with new-log-timestamp; Janus with debug_timestamps; nginx's two formats.
    write(r, "var/log/vcbox/coturn.log", "2026-01-04T10:00:00+0800 : relay\n", at(7))
    write(r, "var/log/vcbox/janus.log",
          "[Sun Jan  4 10:00:00 2026] Janus up\n", at(7))
    write(r, "var/log/nginx/access.log",
          '127.0.0.1 - - [07/Jan/2026:10:00:00 +0800] "GET / HTTP/1.1" 200 1\n', at(7))
    write(r, "var/log/nginx/error.log", "2026/01/07 10:00:00 [error] 1#1: x\n", at(7))
    write(r, "var/log/syslog",
          "2026-01-07T10:00:00.1+08:00 box turnserver[9]: turn line\n"
          "2026-01-07T10:00:01.1+08:00 box janus[8]: janus line\n"
          "2026-01-07T10:00:02.1+08:00 box python[7]: web line\n"
          "2026-01-07T10:00:03.1+08:00 box kernel: other line\n", at(7))
    write(r, "var/log/syslog.2.gz",
          "Jan  1 10:00:00 box turnserver[9]: old turn line\n"
          "Jan  1 10:00:01 box sshd[1]: not ours\n", at(1, 23))
    return r


def members(files: list[sl.LogFile]) -> list[str]:
    return [f.member for f in files]


def unzip(files: list[sl.LogFile], chunk: int = sl.CHUNK) -> zipfile.ZipFile:
    data = b"".join(sl.stream(files, "manifest\n", TZ, chunk=chunk))
    z = zipfile.ZipFile(io.BytesIO(data))
    assert z.testzip() is None
    return z


# -- time stamps ------------------------------------------------------------------------

@pytest.mark.parametrize("line, expected", [
    ("2026-01-04 10:00:00.123456 [INFO] x", dt.datetime(2026, 1, 4, 10, tzinfo=TZ)),
    ("b1c2 2026-01-04 10:00:00.1 [INFO] uuid first", dt.datetime(2026, 1, 4, 10, tzinfo=TZ)),
    ("2026-01-04T10:00:00+0000 : coturn", dt.datetime(2026, 1, 4, 10, tzinfo=dt.UTC)),
    ("2026-01-04T10:00:00.5Z box x: y", dt.datetime(2026, 1, 4, 10, tzinfo=dt.UTC)),
    ("2026-01-04 10:00:00,123 INFO controlplane", dt.datetime(2026, 1, 4, 10, tzinfo=TZ)),
    ("2026/01/04 10:00:00 [error] 1#1", dt.datetime(2026, 1, 4, 10, tzinfo=TZ)),
    ('1.2.3.4 - - [04/Jan/2026:10:00:00 -0100] "GET /"',
     dt.datetime(2026, 1, 4, 10, tzinfo=dt.timezone(-dt.timedelta(hours=1)))),
    ("[Sun Jan  4 10:00:00 2026] Janus", dt.datetime(2026, 1, 4, 10, tzinfo=TZ)),
])
def test_line_times(line: str, expected: dt.datetime) -> None:
    assert sl.line_time(line, TZ) == expected.timestamp()


@pytest.mark.parametrize("line", ["no time here", "2026-13-45 99:00:00 bad", ""])
def test_lines_without_a_time(line: str) -> None:
    assert sl.line_time(line, TZ) is None


def test_program_of_syslog_lines() -> None:
    assert sl.program_of(b"Jan  1 10:00:00 box turnserver[9]: x\n") == "turnserver"
    assert sl.program_of(b"2026-01-07T10:00:00.1+08:00 box janus: x\n") == "janus"
    assert sl.program_of(b"garbage\n") == ""


# -- which files ------------------------------------------------------------------------

def test_all_parts_all_time(root: Path) -> None:
    files = sl.select(root, sl.PARTS, None, None, TZ)
    assert members(files) == [
        "web/nginx/access.log", "web/nginx/error.log", "web/syslog/syslog.2",
        "web/syslog/syslog",
        "freeswitch/freeswitch.log.2.gz", "freeswitch/freeswitch.log.1",
        "freeswitch/freeswitch.log",
        "mcu/janus/janus.log", "mcu/syslog/syslog.2", "mcu/syslog/syslog",
        "mcu/conference_cdr/m1.cdr.xml", "mcu/conference_cdr/m2.cdr.xml",
        "turn/coturn/coturn.log", "turn/syslog/syslog.2", "turn/syslog/syslog"]
    # The syslog's files come filtered by the part's programs; .gz of them unpacked.
    by_name = {f.member: f for f in files}
    assert by_name["turn/syslog/syslog.2"].programs == ("turnserver",)
    assert by_name["freeswitch/freeswitch.log"].programs == ()


def test_parts_choose_their_logs_only(root: Path) -> None:
    files = sl.select(root, ["turn", "freeswitch"], None, None, TZ)
    assert {f.part for f in files} == {"freeswitch", "turn"}
    assert [f.part for f in files] == sorted((f.part for f in files),
                                             key=sl.PARTS.index)   # in PARTS order
    assert sl.select(root, [], None, None, TZ) == []


@pytest.mark.parametrize("first, last, expected", [
    # The day of the gzipped file only (Jan 1-2; its first line says Jan 1).
    (1, 1, ["freeswitch.log.2.gz"]),
    (2, 2, ["freeswitch.log.2.gz"]),
    # Jan 3-5 is freeswitch.log.1 (started on Jan 3, last written Jan 5).
    (4, 4, ["freeswitch.log.1"]),
    (2, 3, ["freeswitch.log.2.gz", "freeswitch.log.1"]),
    # The live log began on Jan 6, is written to still (Jan 8).
    (7, 7, ["freeswitch.log"]),
    (5, 6, ["freeswitch.log.1", "freeswitch.log"]),
    (9, 30, []),
])
def test_rotated_files_by_range(root: Path, first: int, last: int,
                                expected: list[str]) -> None:
    files = sl.select(root, ["freeswitch"], *day_bounds(first, last), TZ)
    assert [f.path.name for f in files] == expected


def test_open_ends(root: Path) -> None:
    since, until = day_bounds(6, 6)
    assert [f.path.name for f in sl.select(root, ["freeswitch"], since, None, TZ)] == [
        "freeswitch.log"]
    assert [f.path.name for f in sl.select(root, ["freeswitch"], None, until, TZ)] == [
        "freeswitch.log.2.gz", "freeswitch.log.1", "freeswitch.log"]


def test_a_file_without_times_starts_when_the_older_one_ended(tmp_path: Path) -> None:
    r = tmp_path / "root"
    write(r, "var/log/vcbox/janus.log.1", "Janus banner, no time\n", at(3, 23))
    write(r, "var/log/vcbox/janus.log", "no time either\n", at(9))
    # janus.log began when janus.log.1 ended (Jan 3): it is not of Jan 1-2...
    assert [f.path.name for f in sl.select(r, ["mcu"], *day_bounds(1, 2), TZ)] == [
        "janus.log.1"]   # (the oldest one's start is unknown: it is in)
    # ... but is of Jan 4.
    assert [f.path.name for f in sl.select(r, ["mcu"], *day_bounds(4, 4), TZ)] == [
        "janus.log"]


def test_meeting_records_by_their_day(root: Path) -> None:
    files = sl.select(root, ["mcu"], *day_bounds(3, 3), TZ)
    assert "mcu/conference_cdr/m1.cdr.xml" in members(files)
    assert "mcu/conference_cdr/m2.cdr.xml" not in members(files)


def test_other_files_of_the_folders_are_not_logs(root: Path) -> None:
    write(root, "var/log/vcbox/coturn.log.lock", "x", at(7))
    write(root, "var/log/vcbox/coturnish.log", "x", at(7))
    (root / "var/log/vcbox/coturn.log.9").symlink_to("/etc/passwd")
    assert [f.path.name for f in sl.select(root, ["turn"], None, None, TZ)
            if not f.programs] == ["coturn.log"]


def test_the_data_dirs_logs_of_a_part(tmp_path: Path) -> None:
    data = tmp_path / "data"
    write(data, "logs/web/controlplane.log", "2026-01-05 10:00:00,1 INFO x\n", at(6))
    write(data, "logs/web/old/controlplane.log.1", "2026-01-01 10:00:00,1 INFO x\n", at(2))
    write(data, "logs/web/.partial", "x", at(6))
    write(data, "logs/turn/coturn.log", "x", at(6))
    files = sl.select(tmp_path / "root", ["web"], *day_bounds(5, 6), TZ, data)
    assert members(files) == ["web/logs/controlplane.log"]
    files = sl.select(tmp_path / "root", ["web"], None, None, TZ, data)
    assert members(files) == ["web/logs/old/controlplane.log.1", "web/logs/controlplane.log"]


# -- the zip ----------------------------------------------------------------------------

def test_the_zip_holds_the_files(root: Path) -> None:
    files = sl.select(root, sl.PARTS, None, None, TZ)
    z = unzip(files, chunk=7)             # tiny chunks: many pieces per member
    assert z.namelist() == ["manifest.txt", *members(files)]
    assert z.read("manifest.txt") == b"manifest\n"
    fs = root / "var/log/freeswitch"
    assert z.read("freeswitch/freeswitch.log") == (fs / "freeswitch.log").read_bytes()
    # A rotated .gz goes in as it is, stored (not compressed again).
    gz = z.getinfo("freeswitch/freeswitch.log.2.gz")
    assert gz.compress_type == zipfile.ZIP_STORED
    assert z.read(gz) == (fs / "freeswitch.log.2.gz").read_bytes()
    assert z.getinfo("freeswitch/freeswitch.log").compress_type == zipfile.ZIP_DEFLATED
    # The syslog: each part's programs' lines only; the .gz unpacked.
    assert z.read("turn/syslog/syslog") == \
        b"2026-01-07T10:00:00.1+08:00 box turnserver[9]: turn line\n"
    assert z.read("turn/syslog/syslog.2") == b"Jan  1 10:00:00 box turnserver[9]: old turn line\n"
    assert z.read("mcu/syslog/syslog") == b"2026-01-07T10:00:01.1+08:00 box janus[8]: janus line\n"
    assert z.read("web/syslog/syslog") == b"2026-01-07T10:00:02.1+08:00 box python[7]: web line\n"
    assert z.getinfo("freeswitch/freeswitch.log").date_time == (2026, 1, 8, 12, 0, 0)


def test_the_zip_streams_member_by_member(root: Path) -> None:
    """Pieces come while the files are read, each about a chunk; a generator closed
    early reads no further."""
    big = root / "var/log/freeswitch/freeswitch.log"
    with open(big, "ab") as f:
        f.write(os.urandom(300_000))         # incompressible: the output follows the input
    files = sl.select(root, ["freeswitch"], None, None, TZ)
    pieces = sl.stream(files, "m", TZ, chunk=64 * 1024)
    sizes = [len(next(pieces)) for _ in range(3)]
    assert max(sizes) < 200_000
    pieces.close()


def test_a_log_that_grows_meanwhile_is_sent_as_chosen(root: Path) -> None:
    files = sl.select(root, ["freeswitch"], None, None, TZ)
    live = root / "var/log/freeswitch/freeswitch.log"
    before = live.read_bytes()
    pieces = sl.stream(files, "m", TZ)
    first = next(pieces)
    with open(live, "ab") as f:
        f.write(b"written after the choice\n")
    z = zipfile.ZipFile(io.BytesIO(first + b"".join(pieces)))
    assert z.read("freeswitch/freeswitch.log") == before


def test_a_file_gone_meanwhile_is_left_out(root: Path) -> None:
    files = sl.select(root, ["freeswitch"], None, None, TZ)
    (root / "var/log/freeswitch/freeswitch.log.1").unlink()
    assert "freeswitch/freeswitch.log.1" not in unzip(files).namelist()


def test_a_broken_gz_keeps_what_could_be_read(root: Path) -> None:
    write(root, "var/log/syslog.3.gz", b"", at(1))
    lines = b"".join(b"Jan  1 09:00:00 box turnserver: kept %d\n" % i for i in range(5000))
    (root / "var/log/syslog.3.gz").write_bytes(gzip.compress(lines)[:-200])
    os.utime(root / "var/log/syslog.3.gz", (at(1), at(1)))
    files = sl.select(root, ["turn"], None, None, TZ)
    z = unzip(files)
    kept = z.read("turn/syslog/syslog.3")
    assert kept.startswith(b"Jan  1 09:00:00 box turnserver: kept 0\n")
    assert lines.startswith(kept) and len(kept) < len(lines)


def test_a_member_past_2_gib_gets_zip64(tmp_path: Path) -> None:
    """zipfile decides ZIP64 when the member opens (a stream cannot go back): a sparse
    file just over 2 GiB, zipped; its header says ZIP64 and the sizes read back. Only the
    first pieces are made (the CRC of 2 GiB would take long): the header is in them."""
    r = tmp_path / "root"
    path = r / "var/log/vcbox/coturn.log"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"2026-01-07T10:00:00+0800 : start\n")
    os.truncate(path, 2**31 + 10)
    files = sl.select(r, ["turn"], None, None, TZ)
    pieces = sl.stream(files, "m", TZ)
    head = next(pieces) + next(pieces)
    pieces.close()
    local = head.index(b"PK\x03\x04", 10)                    # the log's local header
    extra_len = int.from_bytes(head[local + 28:local + 30], "little")
    name_len = int.from_bytes(head[local + 26:local + 28], "little")
    extra = head[local + 30 + name_len:local + 30 + name_len + extra_len]
    assert extra[:2] == b"\x01\x00"                          # the ZIP64 extra field


def test_manifest(root: Path) -> None:
    files = sl.select(root, ["turn"], None, None, TZ)
    text = sl.manifest(files, ["turn"], "2026-01-01 – 2026-01-08", root, TZ,
                       lambda m, **p: m % p if p else m)
    assert "Logs: TURN" in text
    assert "turn/coturn/coturn.log\t" in text and "/var/log/vcbox/coturn.log" in text
    assert "only the lines of turnserver" in text
    assert str(root) not in text
    assert sl.MANIFEST_NONE in sl.manifest([], ["mcu"], "x", root, TZ,
                                           lambda m, **p: m)


# -- the route's checks -------------------------------------------------------------------

class Query(dict):
    def get(self, key, default=None):  # bottle's FormsDict.get
        return super().get(key, default)


def checked(**query: str):
    from controlplane.web.api_system_logs import Request

    now = dt.datetime(2026, 1, 10, 15, tzinfo=TZ)
    services = SimpleNamespace(licenses=SimpleNamespace(zone=lambda: TZ, now=lambda: now))
    return Request(services, Query(query))  # type: ignore[arg-type]


def refused(**query: str) -> dict:
    with pytest.raises(ValidationError) as caught:
        checked(**query)
    return caught.value.details


def test_request_defaults_and_days() -> None:
    req = checked()
    assert req.parts == list(sl.PARTS) and req.since is None and req.until is None
    assert req.file_name() == "vcbox-logs-all-20260110.zip"
    req = checked(days="3", parts="turn,WEB")
    assert req.parts == ["web", "turn"]
    assert req.since == at(8, 0) and req.until is None
    assert req.file_name() == "vcbox-logs-20260108-20260110.zip"
    assert req.target() == "web,turn 2026-01-08..2026-01-10"


def test_request_dates_are_whole_days_of_the_appliance() -> None:
    req = checked(since="2026-01-02", until="2026-01-02")
    assert (req.since, req.until) == day_bounds(2, 2)
    assert req.file_name() == "vcbox-logs-20260102-20260102.zip"
    req = checked(since="2026-01-02T10:00:00", until="2026-01-02T11:30:00+08:00")
    assert req.since == at(2, 10) and req.until == at(2, 11) + 1800


@pytest.mark.parametrize("query, fields", [
    ({"since": "2026-1-2"}, {"since"}),
    ({"until": "yesterday"}, {"until"}),
    ({"since": "nan"}, {"since"}),
    ({"since": "2026-01-05", "until": "2026-01-04"}, {"since", "until"}),
    ({"since": "2026-01-05T10:00", "until": "2026-01-05T10:00"}, {"since", "until"}),
    ({"days": "5"}, {"days"}),
    ({"parts": ""}, {"parts"}),
    ({"parts": "web,syslog"}, {"parts"}),
    ({"parts": "", "since": "x"}, {"parts", "since"}),
])
def test_request_refusals(query: dict, fields: set[str]) -> None:
    assert set(refused(**query)) == fields
