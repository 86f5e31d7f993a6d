"""Network settings through the API, applied live inside a network namespace the test
creates (VCBOX_NETWORK_LIVE=netns:<name>), with the N5 rollback on a short timeout."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyroute2 import NetNS

from tests.conftest import Client, Server, configured_server
from tests.netns import Netns, unavailable

REASON = unavailable()
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")

STATIC = {"enabled": True, "dhcp": False, "address": "10.77.0.2", "netmask": "255.255.255.0",
          "gateway": "10.77.0.1", "dns1": "10.77.0.53", "dns2": ""}


def addresses(ns: str, ifname: str) -> set[str]:
    with NetNS(ns, flags=0) as ipr:
        index = ipr.link_lookup(ifname=ifname)[0]
        return {f"{a.get('IFA_ADDRESS')}/{a['prefixlen']}"
                for a in ipr.get_addr(family=2, index=index)}


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[tuple[Server, Client, Netns]]:
    appliance, peer = Netns("appliance"), Netns("peer")
    try:
        appliance.veth("vc-lan0", peer, "vc-peer0")
        appliance.veth("vc-wan0", peer, "vc-peer1")
        appliance.ip("addr", "add", "10.66.0.2/24", "dev", "vc-lan0")
        with configured_server(tmp_path, vcbox_network_live=f"netns:{appliance.name}",
                               vcbox_lan_if="vc-lan0", vcbox_wan_if="vc-wan0",
                               vcbox_network_confirm_s="2") as srv:
            client = srv.client()
            assert client.login().status_code == 200
            yield srv, client, appliance
    finally:
        appliance.delete()
        peer.delete()


def wait_for(predicate, within: float = 8.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def test_static_lan_is_applied_live_and_rolled_back_without_confirmation(lab) -> None:
    srv, client, ns = lab
    before = client.get("/api/v1/settings/network").json()
    res = client.put("/api/v1/settings/network", json={"lan": STATIC, "confirm": True})
    assert res.status_code == 200, res.text
    assert res.json()["pending_confirm"] is True
    assert "etc/systemd/network/10-vcbox-lan.network" in res.json()["applied"]["files"]
    assert addresses(ns.name, "vc-lan0") == {"10.77.0.2/24"}
    network_file = srv.data / "root/etc/systemd/network/10-vcbox-lan.network"
    assert "Address=10.77.0.2/24" in network_file.read_text()
    # nobody confirms: after the (shortened) timeout the old address, settings and files
    assert wait_for(lambda: addresses(ns.name, "vc-lan0") == {"10.66.0.2/24"})
    assert wait_for(lambda: client.get("/api/v1/settings/network").json()["lan"]
                    == before["lan"])
    assert wait_for(lambda: "DHCP=ipv4" in network_file.read_text())
    assert client.get("/api/v1/settings/network").json()["pending_confirm"] is False

    def rollback_logged() -> bool:
        items = client.get("/api/v1/operation-log").json()["items"]
        return any(e["action"] == "apply" and e["target"] == "network rollback"
                   for e in items)

    # the log entry follows the files (it records the outcome of the actions)
    assert wait_for(rollback_logged)


def test_a_confirmed_change_stays(lab) -> None:
    srv, client, ns = lab
    res = client.put("/api/v1/settings/network", json={"lan": STATIC, "confirm": True})
    assert res.status_code == 200, res.text
    confirm = client.post("/api/v1/settings/network/confirm")
    assert confirm.status_code == 200, confirm.text
    time.sleep(3)  # past the 2 s confirmation window
    assert addresses(ns.name, "vc-lan0") == {"10.77.0.2/24"}
    assert client.get("/api/v1/settings/network").json()["lan"]["address"] == "10.77.0.2"
    # nothing is waiting any more
    assert client.post("/api/v1/settings/network/confirm").status_code == 409


def test_network_change_needs_the_restart_confirm(lab) -> None:
    srv, client, ns = lab
    res = client.put("/api/v1/settings/network", json={"lan": STATIC})
    assert res.status_code == 409
    assert res.json()["error_id"] == "confirm_required"
    assert addresses(ns.name, "vc-lan0") == {"10.66.0.2/24"}
