"""The host's use over time (SPEC A8) and 系统信息 (S1) through the API of a real server: the
sampler job stores samples while the server runs (VCBOX_SAMPLE_INTERVAL_S makes it sample
every half second here), they outlive a restart, each chart range answers its series;
系统信息 names this host and, in a network namespace the test makes, the namespace's NICs
with their addresses, gateway, MAC and the DNS the network settings set."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import psutil

from controlplane import __version__
from tests.conftest import Client, configured_server
from tests.netns import appliance_lab
from tests.waiting import wait_for

FIELDS = {"t", "cpu", "memory", "rx_bps", "tx_bps", "disk"}
STATIC = {"enabled": True, "dhcp": False, "address": "10.77.0.2", "netmask": "255.255.255.0",
          "gateway": "10.77.0.1", "dns1": "10.77.0.53", "dns2": "10.77.0.54"}


def series(client: Client, range_name: str = "1h") -> dict:
    res = client.get(f"/api/v1/status/samples?range={range_name}")
    assert res.status_code == 200, res.text
    return res.json()


def test_the_sampler_job_keeps_samples_and_every_range_answers(tmp_path: Path) -> None:
    with configured_server(tmp_path, vcbox_sample_interval_s="0.5") as srv:
        anonymous = srv.client().get("/api/v1/status/samples?range=1h")
        assert anonymous.status_code == 401, anonymous.text
        client = srv.client()
        assert client.login().status_code == 200
        items = wait_for(lambda: (lambda i: i if len(i) >= 3 else None)(
            series(client)["items"]), timeout=15, what="three samples")
        answer = series(client)
        assert answer["interval_s"] == 0.5
        now = time.time()
        for item in items:
            assert set(item) == FIELDS
            for name in ("cpu", "memory", "disk"):
                assert 0 <= item[name] <= 100, item
            assert item["rx_bps"] >= 0 and item["tx_bps"] >= 0
            assert now - 60 < item["t"] <= now
        times = [item["t"] for item in items]
        assert times == sorted(times) and len(set(times)) == len(times)
        assert 0.4 <= times[1] - times[0] <= 3  # every half second (a busy CI box: later)
        # the data disk's use is this machine's
        disk = psutil.disk_usage(str(srv.data)).percent
        assert abs(items[-1]["disk"] - disk) < 5, (items[-1], disk)
        for name, step in (("24h", 300), ("7d", 1800)):
            longer = series(client, name)
            assert longer["interval_s"] == step
            assert longer["items"] and set(longer["items"][-1]) == FIELDS
            assert longer["items"][-1]["t"] % step == 0
        bad = client.get("/api/v1/status/samples?range=1y")
        assert bad.status_code == 400
        assert bad.json()["error_id"] == "invalid_input" and set(bad.json()["details"]) == {
            "range"}
        paths = client.get("/api/v1/openapi.json").json()["paths"]
        assert "get" in paths["/api/v1/status/samples"]
        assert "get" in paths["/api/v1/status/system"]

        # the samples are in the history database: a restart keeps them
        before = series(client)["items"]
        srv.restart()
        client = srv.client()
        assert client.login().status_code == 200
        after = series(client)["items"]
        assert [i["t"] for i in after[:len(before)]] == [i["t"] for i in before]


def test_system_info_names_the_host_and_the_namespaces_nics(tmp_path: Path) -> None:
    with appliance_lab(tmp_path, confirm_s=30) as (_srv, client, ns):
        assert client.get("/api/v1/license").status_code == 200
        res = client.put("/api/v1/settings/network", json={"lan": STATIC, "confirm": True})
        assert res.status_code == 200, res.text
        assert client.post("/api/v1/settings/network/confirm").status_code == 200
        res = client.get("/api/v1/status/system")
        assert res.status_code == 200, res.text
        info = res.json()
        assert info["software"] == {"version": __version__, "build_time": None,
                                    "build_time_local": None}  # a development tree
        host = info["server"]
        assert host["hostname"] == socket.gethostname()
        assert host["cpu_cores"] == psutil.cpu_count() and host["cpu_model"]
        assert host["memory_total"] == psutil.virtual_memory().total
        assert host["disk_total"] > host["disk_free"] > 0
        assert info["license"]["status"] == "not_activated"
        nics = {nic["name"]: nic for nic in info["nics"]}
        assert list(nics) == ["vc-lan0", "vc-wan0"]  # the namespace's, no loopback
        lan = nics["vc-lan0"]
        assert lan["addresses"] == [{"address": "10.77.0.2", "prefixlen": 24,
                                     "netmask": "255.255.255.0"}]
        assert lan["gateway"] == "10.77.0.1"
        assert lan["dns"] == ["10.77.0.53", "10.77.0.54"]
        mac = ns.ip("-br", "link", "show", "vc-lan0").split()[2]
        assert lan["mac"] == mac and lan["up"] is True
        wan = nics["vc-wan0"]  # no address: no gateway, no DNS
        assert (wan["addresses"], wan["gateway"], wan["dns"]) == ([], "", [])
        assert client.__class__(client.base).get("/api/v1/status/system").status_code == 401
