"""Terminal logs (SPEC O4, guide 系统日志 -> 终端日志): each terminal's registration and
subscription traffic (REGISTER, SUBSCRIBE, NOTIFY and their answers), one log per
terminal IP, as FreeSWITCH itself reports it.

How it is captured: sofia's own capture (HEP v3 over UDP, `capture-server` in
sofia.conf.xml) to a listener of the control plane on the loopback, switched on and off
at run time (`sofia global capture on|off` over ESL): no profile restart, no
registration dropped, and nothing sent at all while terminal logs are off. Every SIP
message of the box costs one datagram on the loopback while they are on (the bandwidth
the guide warns about); the control plane keeps only the REGISTER/SUBSCRIBE/NOTIFY
ones.

Layout: <data>/terminal-logs/<ip>/<YYYY-MM-DD>.log (the appliance's days), one block a
message; <ip>/terminal.json: the account, name and User-Agent last seen from it. Whole
days of files make the export of a date range and the cleaning of the oldest logs under
the terminal-log quota (D1-D3) cheap.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import re
import struct
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FOLDER = "terminal-logs"   # in the data dir
KEPT_METHODS = frozenset({"REGISTER", "SUBSCRIBE", "NOTIFY"})
MAX_MESSAGE = 65535
_CSEQ = re.compile(r"^(?:CSeq|CSEQ|cseq)\s*:\s*\d+\s+([A-Za-z]+)", re.M)
_FROM_USER = re.compile(r"^(?:From|f)\s*:[^\r\n]*?sips?:([^@;>\s]+)@", re.M | re.I)
_AGENT = re.compile(r"^(?:User-Agent)\s*:\s*([^\r\n]+)", re.M | re.I)


@dataclass(frozen=True)
class Packet:
    """One SIP message as a HEP v3 packet carries it."""

    src: str
    src_port: int
    dst: str
    dst_port: int
    time: float
    payload: bytes


def parse_hep3(data: bytes) -> Packet | None:
    """A HEP v3 packet (HEP3, length, then chunks: vendor, type, length, value); None
    for anything else."""
    if len(data) < 6 or data[:4] != b"HEP3":
        return None
    total = struct.unpack("!H", data[4:6])[0]
    if total > len(data):
        return None
    chunks: dict[int, bytes] = {}
    at = 6
    while at + 6 <= total:
        _vendor, kind, length = struct.unpack("!HHH", data[at:at + 6])
        if length < 6 or at + length > total:
            return None
        chunks[kind] = data[at + 6:at + length]
        at += length
    try:
        if 3 in chunks and 4 in chunks:
            src, dst = (str(ipaddress.IPv4Address(chunks[3])),
                        str(ipaddress.IPv4Address(chunks[4])))
        elif 5 in chunks and 6 in chunks:
            src, dst = (str(ipaddress.IPv6Address(chunks[5])),
                        str(ipaddress.IPv6Address(chunks[6])))
        else:
            return None
        sport, dport = (struct.unpack("!H", chunks[7])[0], struct.unpack("!H", chunks[8])[0])
        seconds = struct.unpack("!I", chunks[9])[0] + struct.unpack("!I", chunks[10])[0] / 1e6
    except (KeyError, struct.error, ValueError):
        return None
    payload = chunks.get(15)
    if payload is None or len(payload) > MAX_MESSAGE:
        return None
    return Packet(src, sport, dst, dport, seconds, payload)


def method_of(message: str) -> str:
    """The method a SIP message is about (a request's, or the CSeq's of an answer)."""
    first = message.split("\n", 1)[0]
    if not first.startswith("SIP/2.0"):
        return first.split(" ", 1)[0].upper()
    found = _CSEQ.search(message)
    return found.group(1).upper() if found else ""


@dataclass(frozen=True)
class Terminal:
    ip: str
    account: str
    user_agent: str
    last_seen: float
    size: int


def _safe_ip(ip: str) -> str:
    """An IP as a folder name (never a path): the address itself, normalised."""
    return str(ipaddress.ip_address(ip)).replace(":", "_")


class TerminalLogs:
    def __init__(self, data_dir: Path, zone: Callable[[], dt.tzinfo],
                 sip_ports: Callable[[], set[int]]) -> None:
        self.folder = data_dir / FOLDER
        self.zone, self.sip_ports = zone, sip_ports
        self._lock = threading.Lock()
        self._meta: dict[str, dict[str, Any]] = {}

    def take(self, packet: Packet) -> bool:
        """Keep a captured message in its terminal's log when it is about registration
        or subscription; whether it was kept. The terminal is the side that is not
        FreeSWITCH's SIP port."""
        ours = self.sip_ports()
        if packet.src_port in ours and packet.dst_port not in ours:
            ip, way, port = packet.dst, "sent to", packet.dst_port
        else:
            ip, way, port = packet.src, "received from", packet.src_port
        message = packet.payload.decode("utf-8", "replace")
        if method_of(message) not in KEPT_METHODS:
            return False
        moment = dt.datetime.fromtimestamp(packet.time, self.zone())
        folder = self.folder / _safe_ip(ip)
        head = (f"----- {moment.isoformat(timespec='milliseconds')} {way} "
                f"{ip}:{port}\n")
        with self._lock:
            folder.mkdir(parents=True, exist_ok=True)
            with open(folder / f"{moment.date().isoformat()}.log", "a",
                      encoding="utf-8") as log:
                log.write(head + message.replace("\r\n", "\n").rstrip("\n") + "\n\n")
            self._remember(folder, ip, message, packet.time, way == "received from")
        return True

    def _remember(self, folder: Path, ip: str, message: str, at: float,
                  from_terminal: bool) -> None:
        meta = self._meta.get(ip)
        if meta is None:
            meta = self._meta[ip] = self._read_meta(folder)
        changed = False
        if from_terminal:
            user, agent = _FROM_USER.search(message), _AGENT.search(message)
            for key, found in (("account", user), ("user_agent", agent)):
                if found and meta.get(key) != found.group(1).strip():
                    meta[key] = found.group(1).strip()
                    changed = True
        meta["last_seen"] = at
        if changed or at - meta.get("saved", 0) > 60:
            meta["saved"] = at
            tmp = folder / ".terminal.json.tmp"
            tmp.write_text(json.dumps(meta))
            os.replace(tmp, folder / "terminal.json")

    @staticmethod
    def _read_meta(folder: Path) -> dict[str, Any]:
        try:
            meta = json.loads((folder / "terminal.json").read_text())
            return meta if isinstance(meta, dict) else {}
        except (OSError, ValueError):
            return {}

    def terminals(self) -> list[Terminal]:
        """Every terminal with a log, most recently heard first."""
        if not self.folder.is_dir():
            return []
        out = []
        for folder in self.folder.iterdir():
            if not folder.is_dir():
                continue
            ip = folder.name.replace("_", ":")
            with self._lock:
                meta = dict(self._meta.get(ip) or self._read_meta(folder))
            logs = list(folder.glob("*.log"))
            if not logs:
                continue
            out.append(Terminal(ip, str(meta.get("account", "")),
                                str(meta.get("user_agent", "")),
                                float(meta.get("last_seen") or max(
                                    p.stat().st_mtime for p in logs)),
                                sum(p.stat().st_size for p in logs)))
        return sorted(out, key=lambda t: -t.last_seen)

    def export(self, ip: str, first: dt.date | None, last: dt.date | None
               ) -> Iterator[bytes] | None:
        """The terminal's log of the days first..last (either open), oldest first, in
        pieces; None when there is no log for that IP."""
        try:
            folder = self.folder / _safe_ip(ip)
        except ValueError:
            return None
        if not folder.is_dir():
            return None
        days = []
        for path in folder.glob("*.log"):
            try:
                day = dt.date.fromisoformat(path.stem)
            except ValueError:
                continue
            if (first is None or day >= first) and (last is None or day <= last):
                days.append((day, path))

        def pieces() -> Iterator[bytes]:
            for _, path in sorted(days):
                with open(path, "rb") as log:
                    while chunk := log.read(256 * 1024):
                        yield chunk
        return pieces()
