"""The firewall (nftables) the control plane renders lets through exactly the configured
service and media ports: the rendered ruleset is loaded into a throw-away network
namespace ("the box") and probed for real from a second one over a veth."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.settings_cases import put_ok
from tests.netns import Netns, unavailable

BOX, CLIENT = "10.89.0.1", "10.89.0.2"

# A child in the box: listens on every TCP and UDP port asked for and answers each UDP
# datagram; prints "ready" once bound.
LISTENER = """
import socket, sys, threading
socks = []
for spec in sys.argv[1:]:
    proto, port = spec.split(":")
    if proto == "tcp":
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", int(port))); s.listen(8)
        threading.Thread(target=lambda s=s: [s.accept()[0].close() for _ in iter(int, 1)],
                         daemon=True).start()
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", int(port)))
        def echo(s=s):
            while True:
                data, peer = s.recvfrom(100); s.sendto(data, peer)
        threading.Thread(target=echo, daemon=True).start()
    socks.append(s)
print("ready", flush=True)
sys.stdin.read()
"""

PROBE = """
import socket, sys
proto, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
try:
    if proto == "tcp":
        socket.create_connection((host, port), timeout=1).close()
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1)
        s.sendto(b"hi", (host, port)); s.recvfrom(100)
    print("open")
except OSError:
    print("closed")
"""


@pytest.fixture(scope="module")
def hosts() -> Iterator[tuple[Netns, Netns]]:
    reason = unavailable()
    if reason:
        pytest.skip(reason)
    box, client = Netns("fw-box"), Netns("fw-client")
    try:
        box.veth("box0", client, "client0")
        box.ip("addr", "add", f"{BOX}/24", "dev", "box0")
        client.ip("addr", "add", f"{CLIENT}/24", "dev", "client0")
        yield box, client
    finally:
        box.delete()
        client.delete()


def reachable(box: Netns, client: Netns, ruleset: Path, probes: list[str]) -> dict[str, bool]:
    """Load the ruleset in the box, listen on every probed port there, probe from outside."""
    loaded = box.run(["nft", "-f", str(ruleset)])
    assert loaded.returncode == 0, loaded.stderr
    listener = box.spawn([sys.executable, "-c", LISTENER, *probes], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    try:
        assert listener.stdout is not None and listener.stdout.readline().strip() == "ready"
        out = {}
        for spec in probes:
            proto, port = spec.split(":")
            done = client.run([sys.executable, "-c", PROBE, proto, BOX, port], timeout=10)
            out[spec] = done.stdout.strip() == "open"
        return out
    finally:
        listener.kill()
        listener.wait(timeout=10)


def test_defaults_open_the_service_and_media_ports_only(hosts, root: Path):
    box, client = hosts
    seen = reachable(box, client, root / "etc/nftables.conf", [
        "tcp:80", "tcp:22", "tcp:5060", "tcp:5061", "udp:5060", "tcp:3478", "udp:3478",
        "udp:30000", "udp:45000", "udp:59999",
        # closed: HTTPS is off; loopback-only services; outside every range
        "tcp:443", "tcp:8080", "tcp:8088", "tcp:8021", "udp:29999", "udp:60000"])
    assert {p for p, ok in seen.items() if ok} == {
        "tcp:80", "tcp:22", "tcp:5060", "tcp:5061", "udp:5060", "tcp:3478", "udp:3478",
        "udp:30000", "udp:45000", "udp:59999"}


def test_changed_settings_move_the_open_ports(hosts, api, root: Path):
    put_ok(api, "services", {"http_port": 8081, "ssh_enabled": False,
                             "https_enabled": True, "https_port": 8443})
    put_ok(api, "ports", {"mcu": {"min": 51000, "max": 52999}})
    box, client = hosts
    seen = reachable(box, client, root / "etc/nftables.conf",
                     ["tcp:8081", "tcp:8443", "tcp:80", "tcp:22", "udp:51000", "udp:50000",
                      "udp:53000"])
    assert {p for p, ok in seen.items() if ok} == {"tcp:8081", "tcp:8443", "udp:51000"}
