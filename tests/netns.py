"""Throw-away network namespaces for tests (`ip netns`), so that no test ever changes the
host's own network. Interfaces are created inside the namespaces, never in the host's."""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from tests.components import locate

if TYPE_CHECKING:
    from tests.conftest import Client, Server

PREFIX = "vcbox-test-"


def unavailable() -> str | None:
    """None when this process may create network namespaces, else the reason it cannot
    (not root, say). A missing `ip` fails the caller: setup installs iproute2."""
    locate("ip")
    name = f"{PREFIX}probe-{secrets.token_hex(3)}"
    try:
        made = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True,
                              timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"`ip netns add` cannot run: {exc}"
    if made.returncode != 0:
        return f"`ip netns add` is not permitted here: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)
    return None


class Netns:
    """One named namespace; `delete()` it when done (also when the test failed)."""

    def __init__(self, role: str) -> None:
        self.name = f"{PREFIX}{role}-{secrets.token_hex(4)}"
        subprocess.run(["ip", "netns", "add", self.name], check=True, timeout=10)
        self.ip("link", "set", "lo", "up")

    def ip(self, *args: str) -> str:
        """`ip -n <ns> ARGS`; raises with ip's own message on failure."""
        done = subprocess.run(["ip", "-n", self.name, *args], capture_output=True, text=True,
                              timeout=10)
        if done.returncode != 0:
            raise RuntimeError(f"ip -n {self.name} {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def run(self, argv: Sequence[str], timeout: float = 10) -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "netns", "exec", self.name, *argv], capture_output=True,
                              text=True, timeout=timeout)

    def spawn(self, argv: Sequence[str], **kwargs) -> subprocess.Popen:
        """Start a process inside the namespace (`ip netns exec` execs it: same PID)."""
        return subprocess.Popen(["ip", "netns", "exec", self.name, *argv], **kwargs)

    def veth(self, ifname: str, peer: Netns, peer_ifname: str) -> None:
        """A veth pair made inside this namespace, its other end moved straight to peer's."""
        self.ip("link", "add", ifname, "type", "veth", "peer", "name", peer_ifname,
                "netns", peer.name)
        self.ip("link", "set", ifname, "up")
        peer.ip("link", "set", peer_ifname, "up")

    def delete(self) -> None:
        # deleting the namespace destroys its interfaces (and both ends of its veths)
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True, timeout=10)


def addresses(ns: str, ifname: str) -> set[str]:
    """The IPv4 addresses (address/prefix) of ifname inside namespace ns."""
    from pyroute2 import NetNS

    with NetNS(ns, flags=0) as ipr:
        index = ipr.link_lookup(ifname=ifname)[0]
        return {f"{a.get('IFA_ADDRESS')}/{a['prefixlen']}"
                for a in ipr.get_addr(family=2, index=index)}


@contextmanager
def appliance_lab(folder: Path, confirm_s: int, spare: bool = False
                  ) -> Iterator[tuple[Server, Client, Netns]]:
    """A configured server whose network is the namespace "appliance" (LAN vc-lan0 at
    10.66.0.2/24, WAN vc-wan0, and vc-spare0 when spare), each a veth to a "peer"
    namespace; the administrator logged in. N5's confirm window is confirm_s."""
    from tests.conftest import configured_server

    appliance, peer = Netns("appliance"), Netns("peer")
    try:
        appliance.veth("vc-lan0", peer, "vc-peer0")
        appliance.veth("vc-wan0", peer, "vc-peer1")
        if spare:
            appliance.veth("vc-spare0", peer, "vc-peer2")
        appliance.ip("addr", "add", "10.66.0.2/24", "dev", "vc-lan0")
        with configured_server(folder, vcbox_network_live=f"netns:{appliance.name}",
                               vcbox_lan_if="vc-lan0", vcbox_wan_if="vc-wan0",
                               vcbox_network_confirm_s=str(confirm_s)) as srv:
            client = srv.client()
            assert client.login().status_code == 200
            yield srv, client, appliance
    finally:
        appliance.delete()
        peer.delete()
