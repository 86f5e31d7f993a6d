"""Terminal logs (controlplane/terminal_logs.py): HEP v3 packets as sofia sends them,
only registration and subscription traffic kept, one log per terminal IP and day, the
export of a range. Real sofia capture: tests/integration/test_terminal_logs_real.py."""

from __future__ import annotations

import datetime as dt
import ipaddress
import struct
from pathlib import Path

from controlplane.terminal_logs import TerminalLogs, method_of, parse_hep3

ZONE = dt.timezone(dt.timedelta(hours=8))
REGISTER = ("REGISTER sip:vcbox.local SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.7:5062\r\n"
            "From: <sip:4101@vcbox.local>;tag=1\r\nCSeq: 1 REGISTER\r\n"
            "User-Agent: Yealink VC400 63.345.0.40\r\n\r\n")


def chunk(kind: int, value: bytes) -> bytes:
    return struct.pack("!HHH", 0, kind, 6 + len(value)) + value


def hep(payload: str, src: str = "192.0.2.7", sport: int = 5062, dst: str = "127.0.0.1",
        dport: int = 5060, at: float = 1_796_000_000.25) -> bytes:
    body = b"".join([
        chunk(1, b"\x02"), chunk(2, b"\x11"),
        chunk(3, ipaddress.IPv4Address(src).packed), chunk(4, ipaddress.IPv4Address(dst).packed),
        chunk(7, struct.pack("!H", sport)), chunk(8, struct.pack("!H", dport)),
        chunk(9, struct.pack("!I", int(at))), chunk(10, struct.pack("!I", int(at % 1 * 1e6))),
        chunk(11, b"\x01"), chunk(15, payload.encode())])
    return b"HEP3" + struct.pack("!H", 6 + len(body)) + body


def test_a_hep3_packet_and_what_is_not_one() -> None:
    packet = parse_hep3(hep(REGISTER))
    assert packet is not None
    assert (packet.src, packet.src_port, packet.dst, packet.dst_port) == (
        "192.0.2.7", 5062, "127.0.0.1", 5060)
    assert packet.time == 1_796_000_000.25 and packet.payload.startswith(b"REGISTER")
    for junk in (b"", b"HEP2....", hep(REGISTER)[:30], b"HEP3\xff\xff" + b"\x00" * 10):
        assert parse_hep3(junk) is None


def test_which_messages_are_registration_traffic() -> None:
    assert method_of(REGISTER) == "REGISTER"
    assert method_of("SIP/2.0 200 OK\r\nCSeq: 2 SUBSCRIBE\r\n\r\n") == "SUBSCRIBE"
    assert method_of("INVITE sip:4102@vcbox.local SIP/2.0\r\n\r\n") == "INVITE"


def test_one_log_per_terminal_and_day(tmp_path: Path) -> None:
    logs = TerminalLogs(tmp_path, zone=lambda: ZONE, sip_ports=lambda: {5060, 5061})
    assert logs.take(parse_hep3(hep(REGISTER)))
    answer = "SIP/2.0 200 OK\r\nCSeq: 1 REGISTER\r\n\r\n"
    assert logs.take(parse_hep3(hep(answer, "127.0.0.1", 5060, "192.0.2.7", 5062,
                                    at=1_796_100_000.0)))   # the next day
    assert not logs.take(parse_hep3(hep("INVITE sip:4102@x SIP/2.0\r\nCSeq: 1 INVITE\r\n\r\n")))
    [terminal] = logs.terminals()
    assert (terminal.ip, terminal.account, terminal.user_agent) == (
        "192.0.2.7", "4101", "Yealink VC400 63.345.0.40")
    everything = b"".join(logs.export("192.0.2.7", None, None)).decode()
    assert "received from 192.0.2.7:5062" in everything and "sent to 192.0.2.7:5062" in everything
    first_day = dt.datetime.fromtimestamp(1_796_000_000, ZONE).date()
    one = b"".join(logs.export("192.0.2.7", first_day, first_day)).decode()
    assert "REGISTER sip:" in one and "200 OK" not in one
    assert logs.export("../../etc", None, None) is None
    assert logs.export("10.0.0.1", None, None) is None
