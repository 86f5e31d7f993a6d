"""The dashboard's MCU and TURN figures (SPEC A8, DESIGN D5, D6) from the real services the
control plane runs: GET /api/v1/status counts coturn's relay sessions (its CLI) while
credentials minted by GET /api/v1/turn-credentials hold allocations (turnutils_uclient),
and Janus's sessions and handles (its Admin API) while a Janus API client holds them;
Janus's event handler posts its events to POST /janus/events (loopback, the rendered
basic credentials), which GET /api/v1/status/mcu shows. A service that is not run gives
{"reachable": false}, never zeros."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from controlplane.drivers import processes
from controlplane.drivers.coturn import parse_users
from controlplane.drivers.janus import JanusSession
from tests.components import require
from tests.conftest import Client, Server, configured_server, stop_group
from tests.integration.services_fixtures import FIXED_PORTS, port_free
from tests.waiting import wait_for

# The status probes are cached for api_status.PROBE_TTL_S (2 s) and refreshed behind the
# requests: a change shows within a few seconds.
SHOWS_WITHIN_S = 10


def start(tmp_path: Path, service: str, words: str) -> Iterator[tuple[Server, Client]]:
    busy = [f"{port} ({name})" for port, name in FIXED_PORTS.items()
            if words in name and not port_free(port)]
    assert not busy, f"ports in use by something else: {busy}"
    with configured_server(tmp_path, VCBOX_LOCAL_SERVICES=service) as server:
        client = server.client()
        assert client.login().status_code == 200
        yield server, client


@pytest.fixture
def turn_box(tmp_path: Path) -> Iterator[tuple[Server, Client]]:
    require("turnserver", "turnutils_uclient")
    yield from start(tmp_path, "coturn", "TURN")


@pytest.fixture
def janus_box(tmp_path: Path) -> Iterator[tuple[Server, Client]]:
    require("janus")
    yield from start(tmp_path, "janus", "Janus")


def status(client: Client) -> dict[str, Any]:
    res = client.get("/api/v1/status")
    assert res.status_code == 200, res.text
    return res.json()


def shown(client: Client, key: str, until: Callable[[dict[str, Any]], bool],
          what: str) -> dict[str, Any]:
    """The first status[key] ("mcu", "turn") that `until` accepts."""
    def figures() -> dict[str, Any] | None:
        value = status(client)[key]
        return value if value.get("reachable") and until(value) else None

    return wait_for(figures, SHOWS_WITHIN_S, what)


def mcu_page(client: Client) -> dict[str, Any]:
    res = client.get("/api/v1/status/mcu")
    assert res.status_code == 200, res.text
    return res.json()


def test_relay_sessions_of_minted_credentials_show_in_the_status(
        turn_box: tuple[Server, Client]) -> None:
    srv, client = turn_box
    before = shown(client, "turn", lambda _: True, "coturn's CLI answers")
    assert before == {"reachable": True, "sessions": 0}
    assert status(client)["mcu"] == {"reachable": False}  # Janus is not run here

    minted = client.get("/api/v1/turn-credentials").json()
    # Client to client through two relayed allocations (-y), for about 8 s (400 messages,
    # one every 20 ms), no RTCP allocations (-c).
    uclient = subprocess.Popen(
        ["turnutils_uclient", "-v", "-c", "-y", "-n", "400", "-z", "20", "-l", "64",
         "-u", minted["username"], "-w", minted["password"], "127.0.0.1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        during = shown(client, "turn", lambda t: t["sessions"] >= 2,
                       "the allocations show in the status")
        # They are the minted user's, as coturn itself lists them.
        users = parse_users(processes.coturn_cli(srv.data / "root").command("pu"))
        assert users.get(minted["username"], 0) >= 2, users
        output, _ = uclient.communicate(timeout=60)
    finally:
        stop_group(uclient, grace=5)
    assert uclient.returncode == 0, output[-2000:]
    assert re.search(r"Received relay addr: 127\.0\.0\.1:\d+", output)
    sent, received = map(int, re.search(r"tot_send_msgs=(\d+), tot_recv_msgs=(\d+)\s*$",
                                        output, re.M).groups())
    assert sent > 0 and received == sent, output[-1000:]
    # The client closed its allocations: the count drops back (uclient leaves behind the
    # probe allocation it opens first, until its lifetime ends).
    after = shown(client, "turn", lambda t: t["sessions"] < during["sessions"],
                  "the count drops back")
    assert after["sessions"] <= 1


def janus_event_credentials(root: Path) -> tuple[str, str]:
    conf = processes.jcfg_values(root / "etc/janus/janus.eventhandler.sampleevh.jcfg")
    return conf["backend_user"], conf["backend_pwd"]


def post_events(srv: Server, body: bytes, auth: tuple[str, str] | None,
                **headers: str) -> requests.Response:
    return requests.post(srv.url + "/janus/events", data=body, auth=auth, timeout=10,
                         headers={"Content-Type": "application/json", **headers})


def test_janus_sessions_and_handles_show_in_the_mcu_status(
        janus_box: tuple[Server, Client]) -> None:
    srv, client = janus_box
    root = srv.data / "root"
    conf = processes.jcfg_values(root / "etc/janus/janus.eventhandler.sampleevh.jcfg")
    assert conf["backend"] == f"{srv.url}/janus/events"
    assert shown(client, "mcu", lambda _: True, "Janus's Admin API answers") == {
        "reachable": True, "sessions": 0, "handles": 0}
    assert status(client)["turn"] == {"reachable": False}  # coturn is not run here
    # Janus said it started, through its event handler.
    started = wait_for(lambda: [e for e in mcu_page(client)["events"]["last"]
                                if e["type"] == "core"], SHOWS_WITHIN_S, "Janus's core event")
    assert started[-1]["status"] == "started"

    _, api = processes.janus_endpoints(root)
    api_secret = processes.jcfg_values(root / "etc/janus/janus.jcfg")["api_secret"]
    session = JanusSession(api, api_secret).create()
    try:
        handle = session.attach("janus.plugin.videoroom")
        figures = shown(client, "mcu", lambda m: m["handles"] >= 1,
                        "the session and its handle show in the status")
        assert figures == {"reachable": True, "sessions": 1, "handles": 1}
        listed = wait_for(lambda: (page := mcu_page(client))["items"] and page,
                          SHOWS_WITHIN_S, "the session list")
        assert listed["reachable"] is True and listed["total"] == 1
        assert listed["items"] == [{"id": session.id, "handles": [
            {"id": handle, "plugin": "janus.plugin.videoroom"}]}]
        # The event handler's posts arrived: the session's creation and the attach.
        events = listed["events"]
        assert events["sessions"] == 1 and events["handles"] == 1, events
        mine = [(e["type"], e.get("name"), e.get("plugin")) for e in events["last"]
                if e.get("session_id") == session.id]
        assert ("handle", "attached", "janus.plugin.videoroom") in mine, events["last"]
        assert ("session", "created", None) in mine, events["last"]
    finally:
        session.destroy()
    assert shown(client, "mcu", lambda m: m["sessions"] == 0, "the session is gone") == {
        "reachable": True, "sessions": 0, "handles": 0}
    gone = wait_for(lambda: (e := mcu_page(client)["events"])["sessions"] == 0 and e,
                    SHOWS_WITHIN_S, "the destroyed event")
    assert gone["handles"] == 0
    assert any(e.get("name") == "destroyed" for e in gone["last"])

    # The event route takes Janus's posts only: loopback, the rendered credentials.
    auth = janus_event_credentials(root)
    assert auth[0] == "janus" and len(auth[1]) >= 32
    event = b'{"type": 1, "session_id": 42, "event": {"name": "created"}}'
    assert post_events(srv, event, None).status_code == 401
    assert post_events(srv, event, (auth[0], "wrong")).status_code == 401
    assert post_events(srv, event, ("freeswitch", auth[1])).status_code == 401
    assert post_events(srv, event, auth, **{"X-Real-IP": "192.0.2.7"}).status_code == 403
    assert post_events(srv, b"not json", auth).status_code == 400
    assert post_events(srv, b'[{"no": "type"}]', auth).status_code == 400
    received = mcu_page(client)["events"]["received"]
    assert post_events(srv, event, auth).status_code == 200
    after = mcu_page(client)["events"]
    assert after["received"] == received + 1 and after["last"][0]["session_id"] == 42
    # Anonymous browsers see none of it.
    assert requests.get(srv.url + "/api/v1/status/mcu", timeout=10).status_code == 401
