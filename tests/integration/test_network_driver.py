"""The network driver against real kernels' netlink, inside throw-away network namespaces:

    client ns                          appliance ns
    vc-cli0   10.99.0.1/24  <--veth-->  vc-lan0  (LAN; starts as 10.99.0.5/24)
    vc-cliw0  10.97.0.1/24  <--veth-->  vc-wan0  (WAN; starts without address)

The client also plays the gateway (10.99.0.1 / 10.97.0.1). Every namespace is deleted
at the end, and the host's own interfaces and routes are compared before and after.
"""

from __future__ import annotations

import copy
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pyroute2 import IPRoute, NetNS

from controlplane.drivers.network import MANAGED_PROTO, NetworkDriver, Rollback
from tests.netns import Netns, unavailable

_reason = unavailable()
if _reason:
    pytestmark = pytest.mark.skip(reason=_reason)

PORT = 8765
LISTENER = r"""
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen(16)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    c.sendall(b"vcbox\n")
    c.close()
"""
CONNECT = r"""
import socket, sys
try:
    with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=0.7) as c:
        sys.exit(0 if c.recv(16) == b"vcbox\n" else 2)
except OSError:
    sys.exit(1)
"""

DOC: dict[str, Any] = {
    "domain": "vcbox.local",
    "lan": {"enabled": True, "dhcp": False, "address": "10.99.0.2",
            "netmask": "255.255.255.0", "gateway": "10.99.0.1", "dns1": "10.99.0.53",
            "dns2": ""},
    "wan": {"enabled": False, "dhcp": True, "address": "", "netmask": "", "gateway": "",
            "dns1": "", "dns2": ""},
    "nat": {"enabled": False, "public_ip": ""},
    "routes": [{"destination": "10.50.0.0", "netmask": "255.255.0.0",
                "gateway": "10.99.0.1", "nic": "lan"}],
}
OLD_RESOLV = "nameserver 192.0.2.53\n"
CREATED: list[str] = []        # every namespace this module made, checked at the end


def doc(**changes: Any) -> dict[str, Any]:
    d = copy.deepcopy(DOC)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(d.get(key), dict):
            d[key].update(value)
        else:
            d[key] = value
    return d


# -- the host's own network: must be the same after the module as before --------------

def host_network() -> dict[str, Any]:
    with IPRoute() as ipr:
        links = sorted((link["index"], link.get("ifname"), link["flags"] & 1)
                       for link in ipr.get_links())
        addrs = sorted((a["index"], a.get("address"), a["prefixlen"])
                       for a in ipr.get_addr())
        routes = sorted((r["family"], r.get("table"), r["type"], r["proto"],
                         str(r.get("dst")), r["dst_len"], str(r.get("gateway")),
                         r.get("oif") or 0, r.get("priority") or 0)
                        for r in ipr.get_routes(family=socket.AF_UNSPEC))
    return {"links": links, "addresses": addrs, "routes": routes}


@pytest.fixture(scope="module", autouse=True)
def host_before() -> dict[str, Any]:
    return host_network()


# -- the lab ---------------------------------------------------------------------------

@dataclass
class Lab:
    appliance: Netns
    client: Netns
    resolv: Path
    listener: Any = None

    def driver(self) -> NetworkDriver:
        return NetworkDriver({"lan": "vc-lan0", "wan": "vc-wan0"}, netns=self.appliance.name,
                             resolv_conf=self.resolv)

    def addresses(self, ifname: str = "vc-lan0") -> list[str]:
        with NetNS(self.appliance.name, flags=0) as ns:
            idx = ns.link_lookup(ifname=ifname)[0]
            return sorted(f"{a.get('address')}/{a['prefixlen']}"
                          for a in ns.get_addr(family=socket.AF_INET) if a["index"] == idx)

    def routes(self) -> list[tuple[str, str | None, str, int]]:
        """Main-table IPv4 routes other than the kernel's: (dst, gateway, dev, proto)."""
        with NetNS(self.appliance.name, flags=0) as ns:
            names = {link["index"]: link.get("ifname") for link in ns.get_links()}
            return sorted((f"{r.get('dst') or '0.0.0.0'}/{r['dst_len']}", r.get("gateway"),
                           names.get(r.get("oif"), "?"), r["proto"])
                          for r in ns.get_routes(family=socket.AF_INET)
                          if r.get("table") == 254 and r["proto"] != 2)

    def link_up(self, ifname: str) -> bool:
        with NetNS(self.appliance.name, flags=0) as ns:
            return bool(ns.get_links(ns.link_lookup(ifname=ifname)[0])[0]["flags"] & 1)

    def state(self) -> dict[str, Any]:
        return {"lan": self.addresses("vc-lan0"), "wan": self.addresses("vc-wan0"),
                "routes": self.routes(), "lan_up": self.link_up("vc-lan0"),
                "wan_up": self.link_up("vc-wan0"), "resolv": self.resolv.read_text()}

    def start_listener(self) -> None:
        self.listener = self.appliance.spawn([sys.executable, "-c", LISTENER, str(PORT)],
                                             stdout=subprocess.PIPE, text=True)
        assert self.listener.stdout.readline().strip() == "ready"

    def reaches(self, address: str) -> bool:
        return self.client.run([sys.executable, "-c", CONNECT, address, str(PORT)]).returncode \
            == 0

    def wait_reaches(self, address: str, expect: bool = True, within: float = 5) -> bool:
        deadline = time.monotonic() + within
        while True:
            if self.reaches(address) == expect:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    made: list[Netns] = []
    the_lab: Lab | None = None
    try:
        appliance = Netns("appliance")
        made.append(appliance)
        client = Netns("client")
        made.append(client)
        CREATED.extend(ns.name for ns in made)
        appliance.veth("vc-lan0", client, "vc-cli0")
        appliance.veth("vc-wan0", client, "vc-cliw0")
        client.ip("addr", "add", "10.99.0.1/24", "dev", "vc-cli0")
        client.ip("addr", "add", "10.97.0.1/24", "dev", "vc-cliw0")
        # the appliance as it booted: an address and a default route on LAN
        appliance.ip("addr", "add", "10.99.0.5/24", "dev", "vc-lan0")
        appliance.ip("route", "add", "default", "via", "10.99.0.1", "dev", "vc-lan0")
        resolv = tmp_path / "resolv.conf"
        resolv.write_text(OLD_RESOLV)
        the_lab = Lab(appliance, client, resolv)
        yield the_lab
    finally:
        if the_lab is not None and the_lab.listener is not None:
            the_lab.listener.kill()    # by its own PID (ip netns exec execs it)
            the_lab.listener.wait(5)
        for ns in reversed(made):
            ns.delete()


# -- apply -----------------------------------------------------------------------------

def test_static_address_dns_and_route_are_applied(lab: Lab) -> None:
    lab.driver().apply(DOC)

    assert lab.addresses() == ["10.99.0.2/24"]                  # 10.99.0.5 flushed
    assert lab.link_up("vc-lan0")
    assert not lab.link_up("vc-wan0")                           # WAN disabled
    assert lab.routes() == [("0.0.0.0/0", "10.99.0.1", "vc-lan0", MANAGED_PROTO),
                            ("10.50.0.0/16", "10.99.0.1", "vc-lan0", MANAGED_PROTO)]
    lines = [ln for ln in lab.resolv.read_text().splitlines() if not ln.startswith("#")]
    assert lines == ["nameserver 10.99.0.53"]


def test_apply_twice_is_idempotent(lab: Lab) -> None:
    driver = lab.driver()
    driver.apply(DOC)
    first = lab.state()
    mtime = lab.resolv.stat().st_mtime_ns
    driver.apply(DOC)
    assert lab.state() == first
    assert lab.resolv.stat().st_mtime_ns == mtime


def test_changed_route_replaces_old_and_unrelated_routes_survive(lab: Lab) -> None:
    driver = lab.driver()
    driver.apply(DOC)
    # routes somebody else made: by hand (proto boot) and as proto static
    lab.appliance.ip("route", "add", "10.60.0.0/16", "via", "10.99.0.1", "dev", "vc-lan0")
    lab.appliance.ip("route", "add", "10.61.0.0/16", "via", "10.99.0.1", "dev", "vc-lan0",
                     "proto", "static")

    driver.apply(doc(routes=[{"destination": "10.51.0.0", "netmask": "255.255.255.0",
                              "gateway": "10.99.0.1", "nic": "lan"}]))
    assert lab.routes() == [("0.0.0.0/0", "10.99.0.1", "vc-lan0", MANAGED_PROTO),
                            ("10.51.0.0/24", "10.99.0.1", "vc-lan0", MANAGED_PROTO),
                            ("10.60.0.0/16", "10.99.0.1", "vc-lan0", 3),
                            ("10.61.0.0/16", "10.99.0.1", "vc-lan0", 4)]

    driver.apply(doc(routes=[]))
    assert lab.routes() == [("0.0.0.0/0", "10.99.0.1", "vc-lan0", MANAGED_PROTO),
                            ("10.60.0.0/16", "10.99.0.1", "vc-lan0", 3),
                            ("10.61.0.0/16", "10.99.0.1", "vc-lan0", 4)]


def test_wan_gateway_is_the_default_when_lan_has_none(lab: Lab) -> None:
    lab.driver().apply(doc(
        lan={"gateway": "", "dns1": "10.99.0.53", "dns2": "10.99.0.54"},
        wan={"enabled": True, "dhcp": False, "address": "10.97.0.2",
             "netmask": "255.255.255.0", "gateway": "10.97.0.1", "dns1": "10.97.0.53"},
        routes=[{"destination": "10.70.0.0", "netmask": "255.255.0.0",
                 "gateway": "10.97.0.1", "nic": "wan"}]))

    assert lab.addresses("vc-wan0") == ["10.97.0.2/24"]
    assert lab.link_up("vc-wan0")
    # one default route only: the boot-time one via LAN is gone
    assert lab.routes() == [("0.0.0.0/0", "10.97.0.1", "vc-wan0", MANAGED_PROTO),
                            ("10.70.0.0/16", "10.97.0.1", "vc-wan0", MANAGED_PROTO)]
    lines = [ln for ln in lab.resolv.read_text().splitlines() if not ln.startswith("#")]
    assert lines == ["nameserver 10.99.0.53", "nameserver 10.99.0.54",
                     "nameserver 10.97.0.53"]


def test_dhcp_interface_keeps_its_addresses(lab: Lab) -> None:
    lab.driver().apply(doc(lan={"dhcp": True, "address": "", "netmask": "", "gateway": "",
                                "dns1": ""}, routes=[]))
    assert lab.addresses() == ["10.99.0.5/24"]
    assert lab.routes() == [("0.0.0.0/0", "10.99.0.1", "vc-lan0", 3)]
    assert lab.resolv.read_text() == OLD_RESOLV                  # DNS comes from DHCP


def test_client_reaches_the_new_address(lab: Lab) -> None:
    lab.start_listener()
    assert lab.wait_reaches("10.99.0.5")
    lab.driver().apply(DOC)
    assert lab.wait_reaches("10.99.0.2")
    assert not lab.reaches("10.99.0.5")


def test_snapshot_restore_round_trip(lab: Lab) -> None:
    driver = lab.driver()
    before = lab.state()
    snap = driver.snapshot()
    assert snap["interfaces"]["lan"] == {"ifname": "vc-lan0", "up": True,
                                         "addresses": ["10.99.0.5/24"], "gateway": "10.99.0.1"}
    assert snap["resolv_conf"] == OLD_RESOLV

    driver.apply(doc(wan={"enabled": True, "dhcp": False, "address": "10.97.0.2",
                          "netmask": "255.255.255.0", "gateway": "10.97.0.1"}))
    assert lab.state() != before
    driver.restore(json.loads(json.dumps(snap)))                  # snapshots can be stored
    assert lab.state() == before
    driver.restore(snap)                                          # twice is fine
    assert lab.state() == before


# -- N5: automatic rollback --------------------------------------------------------------

def test_unconfirmed_change_that_cuts_the_client_off_is_rolled_back(lab: Lab) -> None:
    lab.start_listener()
    assert lab.wait_reaches("10.99.0.5")
    driver = lab.driver()
    rolled_back = threading.Event()
    snap = driver.snapshot()

    driver.apply(doc(lan={"address": "10.98.0.2", "gateway": "10.98.0.1"}, routes=[]))
    rollback = Rollback(driver)
    rollback.arm(snap, 2, rolled_back.set)
    assert rollback.pending
    assert lab.addresses() == ["10.98.0.2/24"]
    assert not lab.reaches("10.99.0.5")                           # cut off
    assert not lab.reaches("10.98.0.2")                           # other subnet

    assert rolled_back.wait(6), "no rollback within the timeout"
    rollback.join(5)
    assert rollback.error is None
    assert lab.addresses() == ["10.99.0.5/24"]
    assert lab.routes() == [("0.0.0.0/0", "10.99.0.1", "vc-lan0", 3)]
    assert lab.resolv.read_text() == OLD_RESOLV
    assert lab.wait_reaches("10.99.0.5")
    assert not rollback.pending
    assert rollback.confirm() is False                            # too late


def test_confirmed_change_stays(lab: Lab) -> None:
    lab.start_listener()
    driver = lab.driver()
    rolled_back = threading.Event()
    snap = driver.snapshot()

    driver.apply(doc(lan={"address": "10.99.0.7"}))
    rollback = Rollback(driver)
    rollback.arm(snap, 2, rolled_back.set)
    assert lab.wait_reaches("10.99.0.7")                          # the admin, from the new address
    assert rollback.confirm() is True
    assert rollback.confirm() is False

    assert not rolled_back.wait(2.5)
    rollback.join(1)
    assert lab.addresses() == ["10.99.0.7/24"]
    assert lab.reaches("10.99.0.7")


class _RecordingDriver:
    def __init__(self) -> None:
        self.restored: list[dict[str, Any]] = []

    def restore(self, snap: dict[str, Any]) -> None:
        self.restored.append(snap)


def test_rollback_rearm_keeps_the_last_confirmed_snapshot() -> None:
    driver = _RecordingDriver()
    rollback = Rollback(driver)  # type: ignore[arg-type]
    assert rollback.confirm() is False                            # never armed
    calls: list[str] = []
    rollback.arm({"n": 0}, 0.3, lambda: calls.append("first"))
    rollback.arm({"n": 1}, 0.3, lambda: calls.append("second"))   # a second change
    rollback.join(2)
    time.sleep(0.1)
    assert driver.restored == [{"n": 0}]
    assert calls == ["second"]
    assert rollback.confirm() is False


# -- last: the host's own network was never touched -------------------------------------

def test_host_network_is_unchanged(host_before: dict[str, Any]) -> None:
    assert host_network() == host_before
    with IPRoute() as ipr:
        names = {link.get("ifname") for link in ipr.get_links()}
    assert not {n for n in names if n.startswith("vc-")}
    assert CREATED
    assert [n for n in CREATED if Path("/run/netns", n).exists()] == []
