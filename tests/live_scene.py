"""A meeting running on a real FreeSWITCH beside the control plane, for the tests that
restart or kill one of them (test_live_restart_real, the reliability suite): the appliance
fixture, three registered devices and two callers (SIPp), and what the API lists of them.

FreeSWITCH runs here as it does on the appliance, beside the control plane and not as its
child (there systemd runs it; here the control plane's own process driver does), so that
it outlives the control plane's restart and can be killed on its own."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from controlplane.drivers.processes import SPECS, LocalProcess, freeswitch_esl
from tests.components import require
from tests.conftest import Client, Server, create_admin, make_server
from tests.freeswitch_ports import assert_ports_free
from tests.license_keys import activate, make_keys
from tests.sipp import Terminal, call_scenario, register_scenario

DEVICES = (("4201", "Yealink VC400 63.345.0.40", 5321),
           ("4202", "Yealink SIP-VP-T49G 51.80.0.100", 5322),
           ("4203", "Yealink VC Desktop 1.28.0.22", 5323))
CALLERS = (("4201", 5331), ("4204", 5332))
# snapshot() of the scene once everyone is in: each device's model, the meeting's members.
EXPECTED = ({"4201": ["VC400"], "4202": ["VP-T49"], "4203": ["VC Desktop"]},
            ["4201", "4204"])
Snapshot = tuple[dict[str, list[str]], list[str]]


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


def snapshot(admin: Client, meeting: str) -> Snapshot | None:
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


@dataclass
class Scene:
    """Four accounts and a VMR on srv; DEVICES register, CALLERS dial into the VMR."""

    srv: Server
    admin: Client
    meeting: str
    domain: str
    passwords: dict[str, str]
    calls: list[subprocess.Popen] = field(default_factory=list)

    @classmethod
    def create(cls, srv: Server, subject: str) -> Scene:
        admin = srv.client()
        admin.cookies.set("vcbox_lang", "en")
        assert admin.login().status_code == 200
        domain = admin.get("/api/v1/settings/network").json()["domain"]
        passwords = {}
        for account in ("4201", "4202", "4203", "4204"):
            res = admin.post("/api/v1/accounts", json={"name": f"User {account}",
                                                       "account": account})
            assert res.status_code == 201, res.text
            passwords[account] = res.json()["password"]
        res = admin.post("/api/v1/meetings", json={"kind": "vmr", "subject": subject,
                                                   "organizer": "4201"})
        assert res.status_code == 201, res.text
        return cls(srv, admin, res.json()["id"], domain, passwords)

    def terminal(self, account: str, port: int) -> Terminal:
        return Terminal(self.srv.data.parent / f"t{port}", account, self.passwords[account],
                        self.domain, sip_port=port, media_port=port + 1000, timeout_s=120)

    def register(self) -> None:
        for account, agent, port in DEVICES:
            done = self.terminal(account, port).run(
                "register", register_scenario(200, agent, 600))
            assert done.returncode == 0, done.stdout + done.stderr

    def dial(self) -> None:
        """Every caller into the meeting (SIPp in the background, 90 s calls)."""
        self.calls = [subprocess.Popen(
            self.terminal(account, port).argv("call", call_scenario(self.meeting, 200,
                                                                    90000)),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.srv.data.parent)
            for account, port in CALLERS]

    def hang_up(self) -> None:
        """The callers' SIPp ended (a terminal giving up, or the test's end)."""
        for proc in self.calls:
            if proc.poll() is None:
                proc.kill()
            proc.wait()

    def snapshot(self) -> Snapshot | None:
        return snapshot(self.admin, self.meeting)

    def freeswitch_api(self, command: str) -> str:
        """A FreeSWITCH API command over its event socket, beside the control plane."""
        esl = freeswitch_esl(self.srv.data / "root", timeout=5.0)
        try:
            return esl.api(command)
        finally:
            esl.close()
