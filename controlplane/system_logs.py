"""System logs (SPEC O3, guide 系统日志): the Web, FreeSWITCH, MCU and TURN logs of a date
range, as one zip written member by member while it is sent.

Where each part's logs are, under ROOT (what templates/ and drivers/processes.py make):
- web: nginx's access and error logs (templates/etc/nginx/nginx.conf) and, away from the
  appliance, its console output (drivers/system_services.py); the control plane logs to
  its standard output, which on the appliance systemd hands to rsyslog: its lines of
  /var/log/syslog (program vcbox-controlplane, or python/python3, the name systemd gives
  a unit's output by default).
- freeswitch: freeswitch.log, rotated by FreeSWITCH itself at 10 MB into freeswitch.log.N
  (templates/.../logfile.conf.xml); the mixer (mod_conference) logs there too.
- mcu: Janus, the MCU's WebRTC edge (it logs to its standard output: in local mode
  var/log/vcbox/janus.log, on the appliance its lines of /var/log/syslog), and the
  mixer's per-meeting records (conference.conf.xml cdr-log-dir).
- turn: coturn (log-file=stdout in turnserver.conf: in local mode var/log/vcbox/coturn.log,
  on the appliance its lines of /var/log/syslog).

A log and its rotated files (name.N, name.N.gz, name-YYYYMMDD[.gz]) belong to a range by
file, never cut by line: a file is in when it was last written at or after the start
(its mtime) and began before the end (the time of its first lines that carry one, else
the mtime of the next older file of its family, else unknown: in). A meeting record is
written once: its mtime is both. Rotated .gz files go into the zip as they are (stored);
from /var/log/syslog only the lines of the part's programs are taken, .gz ones unpacked.

The zip is written with the standard library's zipfile on a sink that is not seekable
(sizes and CRCs in data descriptors after each member, ZIP64 where a member may pass
2 GiB): at most one chunk of each file is in memory at a time, so a log of any size
streams.
"""

from __future__ import annotations

import datetime as dt
import gzip
import re
import time
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from controlplane.i18n import N_

PARTS = ("web", "freeswitch", "mcu", "turn")
CHUNK = 1024 * 1024
# Members that may pass 2 GiB (ZIP64_LIMIT) once written get ZIP64 sizes up front: a
# stream cannot go back to widen its header.
ZIP64_FROM = 1 << 30
# How much of a file's start is read for its first time stamp.
HEAD_BYTES = 8192
HEAD_LINES = 20
LINE_MAX = 64 * 1024


@dataclass(frozen=True)
class Source:
    """One log (and its rotated files) of a part, or a folder of records."""

    part: str
    folder: str                         # under ROOT
    name: str = ""                      # the live log's file name; "": every file (records)
    programs: tuple[str, ...] = ()      # syslog: only the lines of these programs
    member: str = ""                    # its folder in the zip under <part>/ ("": none)


SYSLOG_DIR = "var/log"
DATA_LOGS = "logs"    # <data>/logs/<part>: maintenance.LOGS
SOURCES: tuple[Source, ...] = (
    Source("web", "var/log/nginx", "access.log", member="nginx"),
    Source("web", "var/log/nginx", "error.log", member="nginx"),
    Source("web", "var/log/nginx", "console.log", member="nginx"),
    Source("web", SYSLOG_DIR, "syslog", ("vcbox-controlplane", "python", "python3"),
           member="syslog"),
    Source("freeswitch", "var/log/freeswitch", "freeswitch.log"),
    Source("mcu", "var/log/vcbox", "janus.log", member="janus"),
    Source("mcu", SYSLOG_DIR, "syslog", ("janus",), member="syslog"),
    Source("mcu", "var/log/freeswitch/conference_cdr", member="conference_cdr"),
    Source("turn", "var/log/vcbox", "coturn.log", member="coturn"),
    Source("turn", SYSLOG_DIR, "syslog", ("turnserver",), member="syslog"),
)

# Words of the manifest (translated by the web layer).
MANIFEST_TITLE = N_("vcbox system logs")
MANIFEST_RANGE = N_("Time range")
MANIFEST_PARTS = N_("Logs")
MANIFEST_FILES = N_("Files")
MANIFEST_NONE = N_("No log files in this time range")
MANIFEST_FILTERED = N_("only the lines of %(programs)s")
MANIFEST_NAME = "manifest.txt"


@dataclass(frozen=True)
class LogFile:
    part: str
    path: Path
    member: str                 # its name in the zip
    size: int                   # bytes when chosen (what is sent of it, at most)
    modified: float             # mtime
    programs: tuple[str, ...] = ()

    @property
    def packed(self) -> bool:
        return self.path.name.endswith(".gz")


# -- time stamps ----------------------------------------------------------------------

MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}
# 2026-01-31 12:34:56[.123|,123][+01:00|Z] (FreeSWITCH, coturn, Python's logging, RFC 3339
# syslog) and 2026/01/31 12:34:56 (nginx's error log).
ISO = re.compile(r"(\d{4})[-/](\d{2})[-/](\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,]\d+)?"
                 r"(Z|[+-]\d{2}:?\d{2})?")
# [31/Jan/2026:12:34:56 +0100] (nginx's access log).
CLF = re.compile(r"\[(\d{2})/([A-Za-z]{3})/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-]\d{4})\]")
# [Sat Jan 31 12:34:56 2026] (Janus's debug_timestamps).
CTIME = re.compile(r"\[[A-Za-z]{3} ([A-Za-z]{3}) +(\d{1,2}) (\d{2}):(\d{2}):(\d{2}) (\d{4})\]")


def _offset(text: str | None, tz: dt.tzinfo) -> dt.tzinfo:
    if not text:
        return tz
    if text == "Z":
        return dt.UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return dt.timezone(sign * dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))


def line_time(line: str, tz: dt.tzinfo) -> float | None:
    """The epoch time a log line starts with (near its start), naive times in tz."""
    head = line[:120]
    try:
        if m := ISO.search(head):
            y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
            return dt.datetime(y, mo, d, h, mi, s, tzinfo=_offset(m[7], tz)).timestamp()
        if m := CLF.search(head):
            month = MONTHS.get(m[2].lower())
            if month:
                return dt.datetime(int(m[3]), month, int(m[1]), int(m[4]), int(m[5]),
                                   int(m[6]), tzinfo=_offset(m[7], tz)).timestamp()
        if m := CTIME.search(head):
            month = MONTHS.get(m[1].lower())
            if month:
                return dt.datetime(int(m[6]), month, int(m[2]), int(m[3]), int(m[4]),
                                   int(m[5]), tzinfo=tz).timestamp()
    except (ValueError, OverflowError):
        return None
    return None


def _open(path: Path) -> BinaryIO:
    return gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb")  # type: ignore[return-value]


def _source(f: LogFile) -> BinaryIO:
    """What is sent of f: a syslog unpacked (its lines are picked), any other as it is."""
    return _open(f.path) if f.programs else open(f.path, "rb")  # noqa: SIM115


def first_time(path: Path, tz: dt.tzinfo) -> float | None:
    """The time of the first of the file's first lines that has one (None: none there)."""
    try:
        with _open(path) as f:
            head = f.read(HEAD_BYTES)
    except (OSError, EOFError, zlib.error):
        return None
    for line in head.decode("utf-8", "replace").splitlines()[:HEAD_LINES]:
        found = line_time(line, tz)
        if found is not None:
            return found
    return None


# -- which files ----------------------------------------------------------------------

def _rotated(name: str) -> re.Pattern[str]:
    return re.compile(re.escape(name) + r"(?:[.-]\d+)?(?:\.gz)?")


def _family(folder: Path, name: str) -> list[Path]:
    if not folder.is_dir():
        return []
    pattern = _rotated(name) if name else None
    found = []
    for path in folder.iterdir():
        if (pattern is None or pattern.fullmatch(path.name)) and path.is_file() \
                and not path.is_symlink():
            found.append(path)
    return found


def _in_range(mtime: float, start: float | None, since: float | None,
              until: float | None) -> bool:
    if since is not None and mtime < since:
        return False
    return until is None or start is None or start < until


def select(root: Path, parts: Iterable[str], since: float | None, until: float | None,
           tz: dt.tzinfo, data_dir: Path | None = None,
           sources: Sequence[Source] = SOURCES) -> list[LogFile]:
    """The files of these parts that overlap [since, until) (either open), by part in
    PARTS order, each log's files oldest first; then those of <data_dir>/logs/<part>
    (the server's own logs in the data dir: maintenance.LOGS, disk.py's server logs),
    each file by its own first time stamp and mtime."""
    wanted = set(parts)
    chosen: list[LogFile] = []
    for part in PARTS:
        if part not in wanted:
            continue
        chosen += _sources(root, part, since, until, tz, sources)
        if data_dir is not None:
            chosen += _data_logs(data_dir / DATA_LOGS / part, part, since, until, tz)
    return _unique(chosen)


def _data_logs(folder: Path, part: str, since: float | None, until: float | None,
               tz: dt.tzinfo) -> list[LogFile]:
    if not folder.is_dir() or folder.is_symlink():
        return []
    found = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if any(p.startswith(".") for p in rel.parts) or path.is_symlink() \
                or not path.is_file():
            continue
        try:
            st = path.stat()
        except OSError:
            continue
        if st.st_size and _in_range(st.st_mtime, first_time(path, tz), since, until):
            found.append((st.st_mtime, path, st.st_size, rel))
    return [LogFile(part, path, f"{part}/{DATA_LOGS}/{rel.as_posix()}", size, mtime)
            for mtime, path, size, rel in sorted(found, key=lambda x: (x[0], str(x[1])))]


def _sources(root: Path, part: str, since: float | None, until: float | None,
             tz: dt.tzinfo, sources: Sequence[Source]) -> list[LogFile]:
    chosen: list[LogFile] = []
    for source in sources:
        if source.part != part:
            continue
        stats = []
        for path in _family(root / source.folder, source.name):
            try:
                st = path.stat()
            except OSError:
                continue
            if st.st_size:   # an empty file (a service's config check made it) says nothing
                stats.append((st.st_mtime, path.name, path, st.st_size))
        stats.sort()
        older_end: float | None = None
        for mtime, _, path, size in stats:
            if not source.name:          # a record: written once
                start: float | None = mtime
            else:
                start = first_time(path, tz)
                if start is None:
                    start = older_end
            older_end = mtime
            if not _in_range(mtime, start, since, until):
                continue
            name = path.name.removesuffix(".gz") if source.programs else path.name
            member = "/".join(p for p in (part, source.member, name) if p)
            chosen.append(LogFile(part, path, member, size, mtime, source.programs))
    return chosen


def _unique(files: list[LogFile]) -> list[LogFile]:
    """Member names made unique (two sources' files of one name in one folder)."""
    seen: set[str] = {MANIFEST_NAME}
    out = []
    for f in files:
        name, n = f.member, 1
        while name in seen:
            n += 1
            name = f"{f.member}~{n}"
        seen.add(name)
        out.append(f if name == f.member else LogFile(f.part, f.path, name, f.size,
                                                       f.modified, f.programs))
    return out


# -- the zip --------------------------------------------------------------------------

class _Sink:
    """What zipfile writes, kept until the generator hands it on (no tell/seek: zipfile
    then writes a streamable zip)."""

    def __init__(self) -> None:
        self.pieces: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.pieces.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self.pieces)
        self.pieces.clear()
        return data


_TAG = re.compile(rb"(?:[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d|\S+) \S+ ([^\s\[:]+)")


def program_of(line: bytes) -> str:
    """The program (syslog tag) of a /var/log/syslog line, traditional or RFC 3339."""
    m = _TAG.match(line)
    return m[1].decode("ascii", "replace") if m else ""


def _copy(f: LogFile, src: BinaryIO, dst: BinaryIO, sink: _Sink,
          chunk: int) -> Iterator[bytes]:
    if f.programs:
        keep = set(f.programs)
        limit = None if f.packed else f.size
        read = 0
        batch = bytearray()
        try:
            while limit is None or read < limit:
                line = src.readline(LINE_MAX if limit is None
                                    else min(LINE_MAX, limit - read))
                if not line:
                    break
                read += len(line)
                if program_of(line) in keep:
                    batch += line
                if len(batch) >= chunk:
                    dst.write(batch)
                    batch.clear()
                    if out := sink.take():
                        yield out
        finally:
            if batch:               # what was read before an end (a broken .gz too)
                dst.write(batch)
        return
    remaining = f.size
    while remaining > 0:
        data = src.read(min(chunk, remaining))
        if not data:
            break
        remaining -= len(data)
        dst.write(data)
        if out := sink.take():
            yield out


def _date_time(moment: float, tz: dt.tzinfo | None) -> tuple[int, int, int, int, int, int]:
    local = dt.datetime.fromtimestamp(max(moment, 315532800), tz)   # zip times start in 1980
    return (local.year, local.month, local.day, local.hour, local.minute, local.second)


def stream(files: Sequence[LogFile], manifest: str, tz: dt.tzinfo | None = None,
           chunk: int = CHUNK, compresslevel: int = 1) -> Iterator[bytes]:
    """The zip of these files (and manifest.txt first), in pieces of about chunk bytes
    (deflate level 1: logs shrink well at it, and a big export keeps the CPU short)."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED,  # type: ignore[arg-type]
                         compresslevel=compresslevel) as zf:
        info = zipfile.ZipInfo(MANIFEST_NAME, _date_time(time.time(), tz))
        info.compress_type = zipfile.ZIP_DEFLATED
        zf.writestr(info, manifest.encode("utf-8"))
        yield sink.take()
        for f in files:
            try:
                src = _source(f)
            except OSError:
                continue        # rotated away or removed since it was chosen
            with src:
                info = zipfile.ZipInfo(f.member, _date_time(f.modified, tz))
                info.compress_type = zipfile.ZIP_STORED if f.packed and not f.programs \
                    else zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                info.file_size = f.size
                big = f.size >= ZIP64_FROM or (f.programs and f.packed)
                try:
                    with zf.open(info, "w", force_zip64=bool(big)) as dst:
                        yield from _copy(f, src, dst, sink, chunk)  # type: ignore[arg-type]
                except (OSError, EOFError, zlib.error):
                    pass        # a broken .gz: what was read of it stays
            if out := sink.take():
                yield out
    if out := sink.take():
        yield out


def manifest(files: Sequence[LogFile], parts: Sequence[str], range_text: str,
             root: Path, tz: dt.tzinfo, words: Callable[..., str]) -> str:
    """manifest.txt: what the zip holds (words: the reader's translation of a msgid)."""
    lines = [words(MANIFEST_TITLE), f"{words(MANIFEST_RANGE)}: {range_text}",
             f"{words(MANIFEST_PARTS)}: {', '.join(NAMES[p] for p in parts)}", ""]
    if not files:
        lines.append(words(MANIFEST_NONE))
    else:
        lines.append(f"{words(MANIFEST_FILES)}:")
    for f in files:
        stamp = dt.datetime.fromtimestamp(f.modified, tz).strftime("%Y-%m-%d %H:%M:%S")
        where = "/" + str(f.path.relative_to(root)) if f.path.is_relative_to(root) \
            else str(f.path)
        line = f"{f.member}\t{f.size}\t{stamp}\t{where}"
        if f.programs:
            line += "\t" + words(MANIFEST_FILTERED, programs=", ".join(f.programs))
        lines.append(line)
    return "\n".join(lines) + "\n"


# The parts' names as the guide writes them (product names: the same in every language).
NAMES = {"web": "Web", "freeswitch": "FreeSWITCH", "mcu": "MCU", "turn": "TURN"}
