"""A control-plane restart loses nothing of the live state (issue 13, must-show 2): with
three devices registered and a meeting running on a real FreeSWITCH, the control plane is
stopped and started again; the online users and live meetings lists are right again at
once, with no new SIP traffic (registrations and conferences are read from FreeSWITCH,
never rebuilt from events the control plane missed).

FreeSWITCH runs here as it does on the appliance, beside the control plane and not as its
child (there systemd runs it; here this test does, with the control plane's own process
driver), so that it outlives the control plane's restart."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from controlplane.drivers.processes import SPECS, LocalProcess, freeswitch_esl
from controlplane.presence import parse_registrations
from tests.components import require
from tests.conftest import Client, Server, create_admin, make_server
from tests.freeswitch_ports import assert_ports_free
from tests.license_keys import activate, make_keys
from tests.sipp import Terminal, call_scenario, register_scenario
from tests.waiting import wait_for

DEVICES = (("4201", "Yealink VC400 63.345.0.40", 5321),
           ("4202", "Yealink SIP-VP-T49G 51.80.0.100", 5322),
           ("4203", "Yealink VC Desktop 1.28.0.22", 5323))
CALLERS = (("4201", 5331), ("4204", 5332))


@pytest.fixture
def appliance(tmp_path: Path) -> Iterator[tuple[Server, LocalProcess]]:
    require("freeswitch", "sipp")
    assert_ports_free()
    keys = make_keys(tmp_path)
    # The spill folder looked at every 2 s, not 30 (test_cdr_spill_real puts a file back).
    srv = make_server(tmp_path, VCBOX_DIRECTORY_PORT="8089", VCBOX_CDR_REPLAY_S="2",
                      **keys.env).start()
    freeswitch = None
    try:
        create_admin(srv.url)
        admin = srv.client()
        assert admin.login().status_code == 200
        activate(admin, keys)
        binary = shutil.which("freeswitch") or "/usr/bin/freeswitch"
        freeswitch = LocalProcess(SPECS["freeswitch"], srv.data / "root", binary)
        freeswitch.run("start")
        yield srv, freeswitch
    finally:
        srv.stop()
        if freeswitch is not None:
            freeswitch.stop()


def call_ids(esl: Any) -> set[str]:
    """The REGISTER dialogs FreeSWITCH holds (a new REGISTER would be a new one)."""
    return {d.call_id for d in parse_registrations(
        esl.api("sofia status profile internal reg"), 0)}


def snapshot(admin: Client, meeting: str) -> tuple[dict[str, list[str]], list[str]] | None:
    """(account -> its devices' models, the meeting's member accounts) from the API; None
    while the control plane has no link to FreeSWITCH yet (502)."""
    online = admin.get("/api/v1/online-users")
    assert online.status_code == 200, online.text
    live = admin.get("/api/v1/meetings/live")
    if live.status_code == 502:
        return None
    assert live.status_code == 200, live.text
    models = {i["account"]: sorted(d["model"] for d in i["devices"])
              for i in online.json()["items"]}
    running = {m["id"]: m for m in live.json()["items"]}
    members = sorted(m["account"] for m in running[meeting]["members"]) \
        if meeting in running else []
    return models, members


def test_after_a_restart_both_lists_are_right_without_new_sip_traffic(
        appliance: tuple[Server, LocalProcess]) -> None:
    srv, _ = appliance
    admin = srv.client()
    assert admin.login().status_code == 200
    domain = admin.get("/api/v1/settings/network").json()["domain"]
    passwords = {}
    for account in ("4201", "4202", "4203", "4204"):
        res = admin.post("/api/v1/accounts", json={"name": f"User {account}",
                                                   "account": account})
        assert res.status_code == 201, res.text
        passwords[account] = res.json()["password"]
    res = admin.post("/api/v1/meetings", json={"kind": "vmr", "subject": "Restart",
                                               "organizer": "4201"})
    assert res.status_code == 201, res.text
    meeting = res.json()["id"]

    def terminal(account: str, port: int) -> Terminal:
        return Terminal(srv.data.parent / f"t{port}", account, passwords[account], domain,
                        sip_port=port, media_port=port + 1000, timeout_s=120)

    for account, agent, port in DEVICES:
        done = terminal(account, port).run("register", register_scenario(200, agent, 600))
        assert done.returncode == 0, done.stdout + done.stderr
    calls = [subprocess.Popen(
        terminal(account, port).argv("call", call_scenario(meeting, 200, 90000)),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=srv.data.parent)
        for account, port in CALLERS]
    esl = freeswitch_esl(srv.data / "root", timeout=5.0)
    try:
        expected = ({"4201": ["VC400"], "4202": ["VP-T49"], "4203": ["VC Desktop"]},
                    ["4201", "4204"])
        wait_for(lambda: snapshot(admin, meeting) == expected, 20, "both lists before")
        registrations = call_ids(esl)

        srv.restart()
        admin = srv.client()
        assert admin.login().status_code == 200
        # Right at once after the restart (the first read comes from FreeSWITCH), and
        # nothing was sent meanwhile: FreeSWITCH's registrations are the same ones.
        took = time.monotonic()
        wait_for(lambda: snapshot(admin, meeting) == expected, 5, "both lists after")
        assert time.monotonic() - took < 5
        assert call_ids(esl) == registrations
        assert all(call.poll() is None for call in calls), "a call ended with the restart"
    finally:
        esl.api("hupall")
        esl.close()
        for call in calls:
            if call.poll() is None:
                call.kill()
            call.wait()
