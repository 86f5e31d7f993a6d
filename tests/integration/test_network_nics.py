"""The NIC selector of the network settings (the guide's 网卡设置), through the API, inside
a network namespace the test creates (VCBOX_NETWORK_LIVE=netns:<name>): the interfaces
offered are the namespace's, as the network driver sees them; a chosen NIC is the one the
live change and the rendered interface file act on; one NIC cannot be both LAN and WAN."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Client, Server
from tests.netns import Netns, addresses, appliance_lab, unavailable

REASON = unavailable()
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")

STATIC = {"enabled": True, "dhcp": False, "address": "10.78.0.2", "netmask": "255.255.255.0",
          "gateway": "", "dns1": "", "dns2": ""}


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[tuple[Server, Client, Netns]]:
    with appliance_lab(tmp_path, confirm_s=30, spare=True) as lab:
        yield lab


def test_the_interfaces_offered_are_the_namespaces(lab) -> None:
    _, client, _ = lab
    res = client.get("/api/v1/settings/network/interfaces")
    assert res.status_code == 200, res.text
    answer = res.json()
    names = [item["name"] for item in answer["items"]]
    assert names == ["vc-lan0", "vc-spare0", "vc-wan0"]  # sorted, no loopback
    assert answer["total"] == answer["filtered"] == 3
    assert answer["defaults"] == {"lan": "vc-lan0", "wan": "vc-wan0"}
    lan = answer["items"][0]
    assert lan["addresses"] == ["10.66.0.2/24"]
    assert set(lan) == {"name", "mac", "up", "addresses"}


def test_a_chosen_nic_is_the_one_changed(lab) -> None:
    srv, client, ns = lab
    res = client.put("/api/v1/settings/network", json={
        "lan": {**STATIC, "ifname": "vc-spare0"}, "confirm": True})
    assert res.status_code == 200, res.text
    assert res.json()["lan"]["ifname"] == "vc-spare0"
    assert addresses(ns.name, "vc-spare0") == {"10.78.0.2/24"}
    assert addresses(ns.name, "vc-lan0") == {"10.66.0.2/24"}  # not the LAN any more
    lan_file = (srv.data / "root/etc/systemd/network/10-vcbox-lan.network").read_text()
    assert "Name=vc-spare0\n" in lan_file and "Address=10.78.0.2/24" in lan_file
    assert client.post("/api/v1/settings/network/confirm").status_code == 200


@pytest.mark.parametrize("lan_wan", [({"ifname": "vc-wan0"}, None),
                                     ({"ifname": "vc-spare0"}, {"ifname": "vc-spare0"})])
def test_one_nic_cannot_be_lan_and_wan(lab, lan_wan) -> None:
    _, client, _ = lab
    lan, wan = lan_wan
    body = {"lan": lan, "confirm": True, **({"wan": wan} if wan else {})}
    res = client.put("/api/v1/settings/network", json=body)
    assert res.status_code == 400, res.text
    assert set(res.json()["details"]) == {"lan.ifname", "wan.ifname"}
    assert client.get("/api/v1/settings/network").json()["lan"].get("ifname", "") == ""
