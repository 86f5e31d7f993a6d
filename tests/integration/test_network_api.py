"""Network settings through the API, applied live inside a network namespace the test
creates (VCBOX_NETWORK_LIVE=netns:<name>), with the N5 rollback on a short timeout."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Client, Server
from tests.netns import Netns, addresses, appliance_lab, unavailable

REASON = unavailable()
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")

STATIC = {"enabled": True, "dhcp": False, "address": "10.77.0.2", "netmask": "255.255.255.0",
          "gateway": "10.77.0.1", "dns1": "10.77.0.53", "dns2": ""}


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[tuple[Server, Client, Netns]]:
    with appliance_lab(tmp_path, confirm_s=2) as lab:
        yield lab


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
