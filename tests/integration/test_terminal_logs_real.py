"""Terminal logs from a real FreeSWITCH (issue 13, SPEC O4): off by default and then
nothing is captured; switched on from the settings API, FreeSWITCH's own SIP capture
(sofia, HEP v3) reaches the control plane and each terminal's REGISTER and SUBSCRIBE
traffic lands in the log of its IP (a call's INVITE does not); the list shows the
terminal's account, model and status; the export gives the log of a date range; switched
off, nothing more is written. A FreeSWITCH that starts anew captures again."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from controlplane.app import CAPTURE_CHECK_S
from controlplane.drivers.processes import freeswitch_esl
from tests.components import require
from tests.conftest import Client, Server, configured_server
from tests.freeswitch_ports import assert_ports_free
from tests.license_keys import activate, make_keys
from tests.sipp import Terminal, call_scenario, register_scenario
from tests.waiting import wait_for

VC400 = "Yealink VC400 63.345.0.40"


@dataclass
class Box:
    server: Server
    admin: Client
    folder: Path
    passwords: dict[str, str]
    domain: str


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Box]:
    require("freeswitch", "sipp")
    assert_ports_free()
    folder = tmp_path_factory.mktemp("terminal-logs")
    keys = make_keys(folder)
    with configured_server(folder, VCBOX_LOCAL_SERVICES="freeswitch",
                           VCBOX_DIRECTORY_PORT="8089", **keys.env) as srv:
        admin = srv.client()
        admin.cookies.set("vcbox_lang", "en")
        assert admin.login().status_code == 200
        activate(admin, keys)
        passwords = {}
        for account, name in (("4101", "李雷"), ("4102", "韩梅梅")):
            res = admin.post("/api/v1/accounts", json={"name": name, "account": account})
            assert res.status_code == 201, res.text
            passwords[account] = res.json()["password"]
        domain = admin.get("/api/v1/settings/network").json()["domain"]
        yield Box(srv, admin, folder, passwords, domain)


def terminal(box: Box, account: str = "4101") -> Terminal:
    return Terminal(box.folder / f"t{account}", account, box.passwords[account],
                    box.domain, timeout_s=20)


def register(box: Box, expires: int = 120, account: str = "4101") -> None:
    """A REGISTER of the terminal. Each SIPp run is a dialog of its own, a registration
    of its own (an account has at most 5 at once): the repeated ones expire at once."""
    done = terminal(box, account).run(f"register-{expires}",
                                      register_scenario(200, VC400, expires))
    assert done.returncode == 0, done.stdout + done.stderr


def switch(box: Box, enabled: bool) -> None:
    res = box.admin.put("/api/v1/settings/terminal-logs", json={"enabled": enabled})
    assert res.status_code == 200, res.text


def listed(box: Box, **params: str) -> dict[str, Any]:
    res = box.admin.get("/api/v1/terminal-logs", params=params)
    assert res.status_code == 200, res.text
    return res.json()


def exported(box: Box, ip: str, **params: str) -> str:
    res = box.admin.get(f"/api/v1/terminal-logs/{ip}/export", params=params)
    assert res.status_code == 200, res.text
    return res.text


def test_off_by_default_nothing_is_captured(box: Box) -> None:
    assert box.admin.get("/api/v1/settings/terminal-logs").json()["enabled"] is False
    register(box)
    time.sleep(1)
    page = listed(box)
    assert page["enabled"] is False and page["total"] == 0


def test_switched_on_each_terminals_registrations_are_logged(box: Box) -> None:
    switch(box, True)
    register(box)
    [item] = wait_for(lambda: [i for i in listed(box)["items"] if i["status"] == "online"],
                      what="the terminal's log, the terminal online")
    assert (item["ip"], item["account"], item["name"], item["model"], item["software"]) == (
        "127.0.0.1", "4101", "李雷", "VC400", "63.345.0.40")
    assert item["status"] == "online" and item["size"] > 0
    text = wait_for(lambda: (t := exported(box, "127.0.0.1", days="1")).count("\n-----") >= 2
                    and t, what="the REGISTER exchange")
    assert "received from 127.0.0.1:" in text and "sent to 127.0.0.1:" in text
    assert "\nREGISTER sip:" in text and "SIP/2.0 200 OK" in text
    assert "SIP/2.0 401 Unauthorized" in text or "SIP/2.0 407" in text  # the challenge
    assert f"User-Agent: {VC400}" in text
    # A call is not registration traffic: its INVITE is not kept.
    terminal(box).run("call", call_scenario("4999", 480, 500, media=False))
    time.sleep(1)
    assert "INVITE sip:" not in exported(box, "127.0.0.1", days="all")
    # Filters and search (S-style lists): by model, status, name or account.
    assert listed(box, model="VC400")["filtered"] == 1
    assert listed(box, model="VC120")["filtered"] == 0
    assert listed(box, status="offline")["filtered"] == 0
    assert listed(box, search="李")["filtered"] == 1 and listed(box, search="42")["filtered"] == 0
    # A range of dates: today's log, and nothing before today.
    today = box.admin.get("/api/v1/status").json()["clock"][:10]
    assert exported(box, "127.0.0.1", since=today, until=today) == exported(
        box, "127.0.0.1", days="all")
    assert exported(box, "127.0.0.1", since="2020-01-01", until="2020-01-02") == ""
    res = box.admin.get("/api/v1/terminal-logs/127.0.0.1/export",
                        params={"since": today, "until": "2020-01-01"})
    assert res.status_code == 400 and set(res.json()["details"]) == {"since", "until"}
    assert box.admin.get("/api/v1/terminal-logs/..%2F..%2Fetc/export").status_code == 404
    assert box.admin.get("/api/v1/terminal-logs/10.9.9.9/export").status_code == 404


def test_a_freeswitch_started_anew_captures_again(box: Box) -> None:
    """A restart-class change (the IVR RTP range, P4) restarts the FreeSWITCH process:
    the new one captures nothing until told, and the control plane tells it when its
    event-socket link comes back."""
    before = len(exported(box, "127.0.0.1", days="all"))
    ports = box.admin.get("/api/v1/settings/ports").json()
    esl = freeswitch_esl(box.server.data / "root", timeout=5.0)
    try:
        uuid = esl.api("global_getvar core_uuid").strip()
        res = box.admin.put("/api/v1/settings/ports", json={
            "ivr": {"min": 30000, "max": 36999}, "confirm": True})
        assert res.status_code == 200, res.text
        assert esl.api("global_getvar core_uuid").strip() != uuid  # a new process
        # The new process captures nothing until the control plane tells it (within its
        # check interval): the terminal registers again until its REGISTER is logged.
        def logged_again() -> bool:
            register(box, expires=2)
            time.sleep(0.5)
            return len(exported(box, "127.0.0.1", days="all")) > before
        wait_for(logged_again, timeout=CAPTURE_CHECK_S + 20, what="captured again")
    finally:
        esl.close()
        res = box.admin.put("/api/v1/settings/ports", json={"ivr": ports["ivr"],
                                                             "confirm": True})
        assert res.status_code == 200, res.text


def test_switched_off_nothing_more_is_written(box: Box) -> None:
    switch(box, False)
    entries = box.admin.get("/api/v1/operation-log", params={"days": "1"}).json()["items"]
    assert any(e["target"] == "terminal-logs" for e in entries), json.dumps(entries)[:500]
    size = listed(box)["items"][0]["size"]
    register(box, expires=2, account="4102")  # from the same IP: the same log
    time.sleep(1.5)
    assert listed(box)["items"][0]["size"] == size
