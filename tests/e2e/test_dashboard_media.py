"""首页's MCU and TURN lines (SPEC A8, DESIGN D5, D6) in a real Chromium, from the real Janus
and coturn the control plane runs: while a Janus API client holds a session with a handle
and turnutils_uclient holds allocations with credentials minted by
GET /api/v1/turn-credentials, the dashboard shows their counts at its 10-second refresh,
without a reload, and shows them drop back when they end. Screenshot:
/tmp/vcbox-shots/dashboard-media-zh.png."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from controlplane.drivers import processes
from controlplane.drivers.janus import JanusSession
from tests.components import require
from tests.conftest import Client, Server, configured_server, stop_group
from tests.e2e.conftest import shown, signed_in_page
from tests.integration.services_fixtures import FIXED_PORTS, port_free

LANG = "zh_CN"
# The dashboard polls every 10 s; the status probes are cached for 2 s behind it.
REFRESH_MS = 25_000


@pytest.fixture
def box(tmp_path: Path) -> Iterator[tuple[Server, Client]]:
    require("janus", "turnserver", "turnutils_uclient")
    busy = [f"{port} ({name})" for port, name in FIXED_PORTS.items() if not port_free(port)]
    assert not busy, f"ports in use by something else: {busy}"
    with configured_server(tmp_path, VCBOX_LOCAL_SERVICES="janus,coturn") as server:
        client = server.client()
        assert client.login().status_code == 200
        yield server, client


@pytest.fixture
def page(box: tuple[Server, Client], context: BrowserContext) -> Iterator[Page]:
    with signed_in_page(box[0], context) as page:
        yield page


def mcu_text(sessions: int, handles: int) -> str:
    return shown(LANG, "{sessions} sessions · {handles} handles", sessions=sessions,
                 handles=handles)


def turn_text(sessions: int) -> str:
    return shown(LANG, "{sessions} relay sessions", sessions=sessions)


def test_the_dashboard_shows_the_mcu_sessions_and_turn_relays_as_they_come_and_go(
        page: Page, box: tuple[Server, Client], shots: Path) -> None:
    srv, client = box
    root = srv.data / "root"
    page.goto(srv.url + "/")
    expect(page.locator("#sys-mcu")).to_have_text(mcu_text(0, 0), timeout=REFRESH_MS)
    expect(page.locator("#sys-turn")).to_have_text(turn_text(0), timeout=REFRESH_MS)

    _, api = processes.janus_endpoints(root)
    api_secret = processes.jcfg_values(root / "etc/janus/janus.jcfg")["api_secret"]
    session = JanusSession(api, api_secret).create()
    minted = client.get("/api/v1/turn-credentials").json()
    # Two relayed allocations (-y) for about 20 s (1000 messages, one every 20 ms).
    uclient = subprocess.Popen(
        ["turnutils_uclient", "-c", "-y", "-n", "1000", "-z", "20", "-l", "64",
         "-u", minted["username"], "-w", minted["password"], "127.0.0.1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        session.attach("janus.plugin.sip")
        expect(page.locator("#sys-mcu")).to_have_text(mcu_text(1, 1), timeout=REFRESH_MS)
        # The probe allocation uclient opens first may still be counted: 2 or 3.
        expect(page.locator("#sys-turn")).to_have_text(
            re.compile(f"^({re.escape(turn_text(2))}|{re.escape(turn_text(3))})$"),
            timeout=REFRESH_MS)
        page.screenshot(path=shots / "dashboard-media-zh.png", animations="disabled")
    finally:
        session.destroy()
        stop_group(uclient, grace=5)
    expect(page.locator("#sys-mcu")).to_have_text(mcu_text(0, 0), timeout=REFRESH_MS)
