"""The fixed ports a FreeSWITCH test instance binds on 127.0.0.1 (SIP 5060/5061, the
browser joins' SIP profile 5066, ESL 8021, the directory listener 8089): one instance at
a time, checked free before it starts."""

from __future__ import annotations

import socket

FIXED_PORTS = (5060, 5061, 5066, 8021, 8089)


def port_taken(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def assert_ports_free() -> None:
    taken = [p for p in FIXED_PORTS if port_taken(p)]
    assert not taken, f"ports in use by something else: {taken}"
