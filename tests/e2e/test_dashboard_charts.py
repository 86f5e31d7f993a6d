"""首页's usage charts (SPEC A8) and 系统状态 -> 系统信息 (S1) in a real Chromium at 1440x900.

The server samples the host every second (VCBOX_SAMPLE_INTERVAL_S=1) on top of a week of
history put in its history database before it starts (a week cannot be sampled in a
test); its network is a namespace the test makes (LAN and WAN NICs). The dashboard draws
CPU, memory, network and disk charts and follows new samples at its 10-second refresh
without a reload; 系统信息 shows this host's name and the NICs, one at a time through
the NIC selector. Screenshots: /tmp/vcbox-shots/dashboard-charts-*.png, system-info-*.png.
"""

from __future__ import annotations

import math
import random
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from controlplane.samples import Sample, SampleStore
from controlplane.store import History
from tests.conftest import Client, Server
from tests.e2e.conftest import shown, signed_in_page
from tests.license_keys import activate, make_keys
from tests.netns import appliance_lab

LANG = "zh_CN"
CHARTS = ("cpu", "memory", "network", "disk")
STATIC = {"enabled": True, "dhcp": False, "address": "10.77.0.2", "netmask": "255.255.255.0",
          "gateway": "10.77.0.1", "dns1": "10.77.0.53", "dns2": "10.77.0.54"}


def t(msgid: str, **values: Any) -> str:
    return shown(LANG, msgid, **values)


def week_of_samples(now: float) -> list[Sample]:
    """A working week's rhythm: busier in office hours; every minute until yesterday, then
    every 10 seconds (as the sampler keeps them), up to a few seconds ago."""
    rng = random.Random(7)
    out, at = [], now - 7 * 86400
    while at < now - 3:
        day = math.sin((at % 86400) / 86400 * 2 * math.pi - math.pi / 2) + 1  # 0..2
        rx = (200_000 + 450_000 * day) * rng.uniform(0.7, 1.3)
        tx = (120_000 + 300_000 * day) * rng.uniform(0.7, 1.3)
        out.append(Sample(t=at, cpu=round(8 + 14 * day + rng.uniform(-3, 3), 1),
                          memory=round(38 + 6 * day + rng.uniform(-1, 1), 1),
                          rx_bps=round(rx, 1), tx_bps=round(tx, 1),
                          disk=round(23.0 + (at - now + 7 * 86400) / 86400 * 0.2, 1),
                          nics={"vc-lan0": (round(rx, 1), round(tx, 1))}))
        at += 10 if at > now - 86400 else 60
    return out


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Client]]:
    folder = tmp_path_factory.mktemp("dashboard-charts")
    history = History(folder / "data" / "history.sqlite3")
    store = SampleStore(history)
    store.add(*week_of_samples(time.time()))
    store.roll(time.time())
    history.close()
    keys = make_keys(folder)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VCBOX_SAMPLE_INTERVAL_S", "1")
        mp.setenv("VCBOX_LICENSE_PUBKEY", str(keys.public))
        with appliance_lab(folder, confirm_s=30) as (srv, client, _ns):
            activate(client, keys)
            res = client.put("/api/v1/settings/network", json={"lan": STATIC,
                                                               "confirm": True})
            assert res.status_code == 200, res.text
            assert client.post("/api/v1/settings/network/confirm").status_code == 200
            yield srv, client


@pytest.fixture
def page(lab: tuple[Server, Client], context: BrowserContext) -> Iterator[Page]:
    with signed_in_page(lab[0], context) as page:
        yield page


def points(page: Page, chart: str, dataset: int = 0) -> list[dict[str, float]]:
    return page.evaluate(
        "([id, i]) => Chart.getChart(id).data.datasets[i].data", [f"chart-{chart}", dataset])


def test_the_dashboard_charts_follow_new_samples_without_a_reload(
        page: Page, lab: tuple[Server, Client], shots: Path) -> None:
    srv, client = lab
    page.goto(srv.url + "/")
    expect(page.locator("main h1")).to_have_text(t("Home"))
    card = page.locator("#host-charts")
    expect(card).to_contain_text(t("Resource usage"))
    for name, label in (("cpu", "CPU usage"), ("memory", "Memory usage"),
                        ("network", "Network traffic"), ("disk", "Data disk usage")):
        expect(page.locator(f"#host-{name}")).to_contain_text(t(label))
    page.wait_for_function(
        "names => names.every(n => { const c = Chart.getChart('chart-' + n);"
        " return c && c.data.datasets[0].data.length > 0; })", arg=list(CHARTS))
    # the last hour: the seeded samples and the ones the server took since it started
    api = client.get("/api/v1/status/samples?range=1h").json()["items"]
    cpu = points(page, "cpu")
    assert len(cpu) >= 300, len(cpu)
    assert abs(len(cpu) - len(api)) <= 15
    by_time = {item["t"] * 1000: item["memory"] for item in api}
    common = [p for p in points(page, "memory") if p["x"] in by_time]
    assert len(common) >= 300 and all(p["y"] == by_time[p["x"]] for p in common)
    assert len(points(page, "network", 1)) == len(points(page, "network", 0))  # rx and tx
    for name in ("cpu", "memory", "rx", "tx", "disk"):  # the latest figures, above
        expect(page.locator(f'[data-now="{name}"]')).not_to_have_text("—")
    expect(page.locator('[data-now="cpu"]')).to_have_text(
        re.compile(r"^\d+(\.\d)?%$"))
    expect(page.locator('[data-now="rx"]')).to_contain_text("bps")
    expect(card.locator("[data-role=empty]").first).to_be_hidden()
    # MCU and TURN figures: as the status API has them (or "—" while it does not)
    status = client.get("/api/v1/status").json()
    for key, el, text in (("mcu", "#sys-mcu", "{sessions} sessions · {handles} handles"),
                          ("turn", "#sys-turn", "{sessions} relay sessions")):
        figures = status.get(key)
        expected = ("—" if figures is None else
                    t(text, **figures) if figures.get("reachable") else t("Unavailable"))
        expect(page.locator(el)).to_have_text(expected)
    page.wait_for_timeout(300)
    page.screenshot(path=shots / "dashboard-charts-zh.png", animations="disabled")
    page.screenshot(path=shots / "dashboard-charts-zh-full.png", full_page=True,
                    animations="disabled")

    # a new sample appears at the next refresh (10 s), the page not reloaded
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))
    last = cpu[-1]["x"]
    page.wait_for_function(
        "last => { const d = Chart.getChart('chart-cpu').data.datasets[0].data;"
        " return d.length && d[d.length - 1].x > last; }", arg=last, timeout=15_000)
    assert points(page, "disk")[-1]["x"] > last
    assert navigations == [], f"the page was reloaded: {navigations}"

    # a week: 30-minute averages across the whole range
    page.locator('#host-charts [data-range="7d"]').click()
    expect(page.locator('#host-charts [data-range="7d"]')).to_have_attribute(
        "aria-pressed", "true")
    page.wait_for_function(
        "() => { const d = Chart.getChart('chart-cpu').data.datasets[0].data;"
        " return d.length > 300 && d[d.length - 1].x - d[0].x > 6.9 * 86400 * 1000; }")
    week = points(page, "cpu")
    assert week[-1]["x"] - week[0]["x"] >= 6.9 * 86400 * 1000
    assert {b["x"] - a["x"] for a, b in zip(week, week[1:], strict=False)} == {1800_000}
    page.wait_for_timeout(300)
    page.screenshot(path=shots / "dashboard-charts-zh-7d.png", animations="disabled")


def test_system_info_shows_the_host_and_its_nics(page: Page, lab: tuple[Server, Client],
                                                 shots: Path) -> None:
    srv, _client = lab
    page.goto(srv.url + "/")
    page.locator("aside button", has_text=t("System status")).click()
    page.locator("aside a", has_text=t("System info")).click()
    page.wait_for_url(srv.url + "/status/system")
    expect(page.locator("main h1")).to_have_text(t("System info"))
    field = lambda name: page.locator(f'[data-field="{name}"]')  # noqa: E731
    expect(field("hostname")).to_have_text(socket.gethostname())
    expect(field("version")).not_to_have_text("—")
    expect(field("build_time")).to_have_text(t("Development tree (not a release build)"))
    expect(field("cpu_model")).not_to_have_text("—")
    expect(field("memory_total")).to_contain_text("GB")
    expect(field("license_status")).to_contain_text(t("Active"))
    expect(field("concurrency")).to_have_text("100")
    # two NICs: the guide's drop-down chooses the one shown
    select = page.locator("#nic-select")
    expect(select).to_be_visible()
    expect(select.locator("option")).to_have_text(["vc-lan0", "vc-wan0"])
    expect(field("nic_name")).to_have_text("vc-lan0")
    expect(field("nic_ip")).to_have_text("10.77.0.2")
    expect(field("nic_netmask")).to_have_text("255.255.255.0")
    expect(field("nic_gateway")).to_have_text("10.77.0.1")
    expect(field("nic_dns1")).to_have_text("10.77.0.53")
    expect(field("nic_dns2")).to_have_text("10.77.0.54")
    expect(field("nic_mac")).to_have_text(re.compile(r"^([0-9A-F]{2}:){5}[0-9A-F]{2}$"))
    expect(field("nic_state")).to_have_text(t("Connected"))
    page.screenshot(path=shots / "system-info-zh.png", animations="disabled")
    select.select_option(label="vc-wan0")
    expect(field("nic_name")).to_have_text("vc-wan0")
    expect(field("nic_ip")).to_have_text("—")
    expect(field("nic_gateway")).to_have_text("—")
    expect(field("nic_dns1")).to_have_text("—")
    page.screenshot(path=shots / "system-info-zh-wan.png", animations="disabled")
