"""Online users from a real FreeSWITCH (issue 13, SPEC S2): SIPp terminals register with the
User-Agents of the guide's models; each device appears on `GET /api/v1/online-users` within
2 s of its REGISTER, goes within 2 s of its un-REGISTER or of the end of its registration
time, and shows its model, software version and address; the rooms page's device model
follows it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.components import require
from tests.conftest import Client, Server, configured_server
from tests.freeswitch_ports import assert_ports_free
from tests.license_keys import activate, make_keys
from tests.sipp import Terminal, register_scenario

WITHIN_S = 2.0
VC400 = "Yealink VC400 63.345.0.40"
DESKTOP = "Yealink VC Desktop 1.28.0.22"
T49 = "Yealink SIP-VP-T49G 51.80.0.100"


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
    folder = tmp_path_factory.mktemp("presence")
    keys = make_keys(folder)
    with configured_server(folder, VCBOX_LOCAL_SERVICES="freeswitch",
                           VCBOX_DIRECTORY_PORT="8089", **keys.env) as srv:
        admin = srv.client()
        assert admin.login().status_code == 200
        activate(admin, keys)
        passwords = {}
        for account, name in (("4001", "王小明"), ("4002", "前台"), ("4003", "会议室一")):
            res = admin.post("/api/v1/accounts", json={"name": name, "account": account})
            assert res.status_code == 201, res.text
            passwords[account] = res.json()["password"]
        domain = admin.get("/api/v1/settings/network").json()["domain"]
        yield Box(srv, admin, folder, passwords, domain)


def device(box: Box, account: str, port: int) -> Terminal:
    return Terminal(box.folder / f"t{account}-{port}", account, box.passwords[account],
                    box.domain, sip_port=port, media_port=port + 1000, timeout_s=20)


def register(terminal: Terminal, user_agent: str, expires: int = 120) -> float:
    """REGISTER (or with expires 0, un-REGISTER); the time FreeSWITCH's 200 came."""
    done = terminal.run(f"register-{expires}", register_scenario(200, user_agent, expires))
    assert done.returncode == 0, done.stdout + done.stderr
    return time.monotonic()


def online(box: Box, **params: str) -> dict[str, dict[str, Any]]:
    res = box.admin.get("/api/v1/online-users", params=params)
    assert res.status_code == 200, res.text
    return {item["account"]: item for item in res.json()["items"]}


def ports(box: Box, account: str) -> list[str]:
    entry = online(box).get(account)
    return sorted(d["port"] for d in entry["devices"]) if entry else []


def within(since: float, limit: float, predicate: Callable[[], bool], what: str) -> float:
    """Waits until predicate holds; how long after `since` it first did (≤ limit)."""
    while not predicate():
        assert time.monotonic() - since < limit + 5, f"never: {what}"
        time.sleep(0.05)
    took = time.monotonic() - since
    assert took <= limit, f"{what}: {took:.2f} s, more than {limit} s"
    return took


def test_devices_come_and_go_with_their_registrations(box: Box) -> None:
    desk, laptop = device(box, "4001", 5301), device(box, "4001", 5302)
    registered = register(desk, VC400)
    within(registered, WITHIN_S, lambda: ports(box, "4001") == ["5301"], "the VC400 online")
    entry = online(box)["4001"]
    assert (entry["name"], entry["status"]) == ("王小明", "online")
    [shown] = entry["devices"]
    assert (shown["model"], shown["version"], shown["ip"], shown["user_agent"]) == (
        "VC400", "63.345.0.40", "127.0.0.1", VC400)

    # A second device of the same account: one user, two devices.
    registered = register(laptop, DESKTOP)
    within(registered, WITHIN_S, lambda: ports(box, "4001") == ["5301", "5302"],
           "the VC Desktop online beside the VC400")
    assert [d["model"] for d in sorted(online(box)["4001"]["devices"],
                                       key=lambda d: d["port"])] == ["VC400", "VC Desktop"]
    # Search by name or by account.
    assert list(online(box, search="小明")) == ["4001"]
    assert list(online(box, search="400")) == ["4001"]
    assert online(box, search="nobody") == {}

    # Un-REGISTER: that device goes, the other stays.
    gone = register(desk, VC400, expires=0)
    within(gone, WITHIN_S, lambda: ports(box, "4001") == ["5302"], "the VC400 gone")
    gone = register(laptop, DESKTOP, expires=0)
    within(gone, WITHIN_S, lambda: "4001" not in online(box), "4001 offline")


def test_a_registration_that_runs_out_goes_within_two_seconds(box: Box) -> None:
    phone = device(box, "4002", 5303)
    registered = register(phone, T49, expires=4)
    within(registered, WITHIN_S, lambda: ports(box, "4002") == ["5303"], "the T49 online")
    assert online(box)["4002"]["devices"][0]["model"] == "VP-T49"
    # Nothing more is sent: four seconds after the 200 the registration is over.
    within(registered + 4, WITHIN_S, lambda: "4002" not in online(box),
           "the T49 gone after its 4 s")


def test_the_rooms_page_shows_the_bound_accounts_device_model(box: Box) -> None:
    res = box.admin.post("/api/v1/rooms", json={"name": "一号会议室", "kind": "video",
                                                "bound_account": "4003"})
    assert res.status_code == 200, res.text
    room = res.json()
    assert room["device_model"] == ""
    terminal = device(box, "4003", 5304)
    registered = register(terminal, VC400)

    def model() -> str:
        return box.admin.get(f"/api/v1/rooms/{room['id']}").json()["device_model"]

    within(registered, WITHIN_S, lambda: model() == "VC400", "the room's device model")
    register(terminal, VC400, expires=0)
