"""Terminal firmware through the real server and a real FreeSWITCH (SPEC U1, issue 15 item
2): .rom uploads checked before they are kept (a check-only upload says the model and
version first), the latest per model, replace, delete (never a latest), and "update now":
SIPp terminals register with the guide's User-Agents, and exactly the registered devices of
the model whose software version differs from the latest receive FreeSWITCH's NOTIFY
check-sync (seen in the SIPp UA's own message trace) - per registration, so a second
device of the same account that is up to date is left alone; the model's provisioning
file, fetched over HTTP without a session like a terminal does, names the firmware URL,
which serves the file."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.components import require
from tests.conftest import Client, Server, configured_server
from tests.freeswitch_ports import assert_ports_free
from tests.license_keys import activate, make_keys
from tests.sipp import Terminal

EN = {"vcbox_lang": "en"}
ROM = b"\x00\x01YEALINK-ROM" + bytes(range(256)) * 64
OLD_VC400 = "Yealink VC400 63.345.0.10"
NEW_VC400 = "Yealink VC400 63.345.0.40"
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
    folder = tmp_path_factory.mktemp("firmware")
    keys = make_keys(folder)
    with configured_server(folder, VCBOX_LOCAL_SERVICES="freeswitch",
                           VCBOX_DIRECTORY_PORT="8089", **keys.env) as srv:
        admin = srv.client()
        admin.cookies.update(EN)
        assert admin.login().status_code == 200
        activate(admin, keys)
        passwords = {}
        for account in ("5001", "5002", "5003"):
            res = admin.post("/api/v1/accounts", json={"name": f"Room {account}",
                                                       "account": account})
            assert res.status_code == 201, res.text
            passwords[account] = res.json()["password"]
        domain = admin.get("/api/v1/settings/network").json()["domain"]
        yield Box(srv, admin, folder, passwords, domain)


def upload(box: Box, name: str, data: bytes = ROM, check: bool = False,
           **form: str) -> requests.Response:
    return box.admin.post("/api/v1/firmware" + ("?check=1" if check else ""),
                          files={"file": (name, data)}, data=form)


def listing(box: Box) -> dict[str, Any]:
    res = box.admin.get("/api/v1/firmware")
    assert res.status_code == 200, res.text
    return res.json()


def names(box: Box) -> dict[str, dict[str, Any]]:
    return {i["name"]: i for i in listing(box)["items"]}


def files_on_disk(box: Box) -> list[str]:
    root = box.server.data / "firmware"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) \
        if root.exists() else []


def test_hostile_and_wrong_uploads_are_refused_with_nothing_kept(box: Box) -> None:
    cases = {
        "not a .rom": ("VC400-63.345.0.40.zip", ROM, "file"),
        "empty": ("VC400-63.345.0.40.rom", b"", "file"),
        "a zip named .rom": ("VC400-63.345.0.41.rom", b"PK\x03\x04" + ROM, "file"),
        "a gzip named .rom": ("VC400-63.345.0.42.rom", b"\x1f\x8b\x08" + ROM, "file"),
        "a script named .rom": ("VC400-63.345.0.43.rom", b"#!/bin/sh\nrm -rf /\n", "file"),
        "an ELF named .rom": ("VC400-63.345.0.44.rom", b"\x7fELF" + ROM, "file"),
        "no version": ("VC400-latest.rom", ROM, "file"),
        "odd characters": ("VC400;rm -rf 63.1.rom", ROM, "file"),
        "no model named or chosen": ("63.345.0.40.rom", ROM, "model"),
    }
    for what, (name, data, field) in cases.items():
        res = upload(box, name, data)
        assert res.status_code == 400, (what, res.text)
        assert field in res.json()["details"], (what, res.json())
    # a path in the name is only a name: never a folder out of the firmware folder
    res = upload(box, "../../etc/VC400-63.345.0.45.zip", ROM)
    assert res.status_code == 400
    res = box.admin.post("/api/v1/firmware", data={"x": "1"})
    assert res.status_code == 400 and "file" in res.json()["details"]
    assert files_on_disk(box) == []


def test_a_check_only_upload_says_model_and_version_and_keeps_nothing(box: Box) -> None:
    res = upload(box, "VC400-63.345.0.40.rom", check=True)
    assert res.status_code == 200, res.text
    assert res.json() == {"name": "VC400-63.345.0.40.rom", "model": "VC400",
                          "version": "63.345.0.40", "replaces": None}
    res = upload(box, "51.80.0.100.rom", check=True, model="VP-T49")
    assert res.json()["model"] == "VP-T49" and res.json()["version"] == "51.80.0.100"
    assert files_on_disk(box) == []


def test_add_latest_replace_and_delete(box: Box) -> None:
    first = upload(box, "VC400-63.345.0.30.rom")
    assert first.status_code == 201, first.text
    assert first.json()["latest"] is True and first.json()["model"] == "VC400"
    second = upload(box, "VC400-63.345.0.40.rom")
    assert second.status_code == 201, second.text
    listed = names(box)
    # the newest upload is the model's latest (the guide: 自动设为最新版本)
    assert listed["VC400-63.345.0.40.rom"]["latest"] is True
    assert listed["VC400-63.345.0.30.rom"]["latest"] is False
    assert upload(box, "VC400-63.345.0.40.rom").status_code == 409       # taken name
    # the latest can be neither replaced nor deleted
    res = upload(box, "VC400-63.345.0.41.rom", replace="VC400-63.345.0.40.rom")
    assert res.status_code == 409, res.text
    res = box.admin.delete("/api/v1/firmware/VC400-63.345.0.40.rom")
    assert res.status_code == 409, res.text
    # a non-latest one is replaced by a file of the same model only
    res = upload(box, "T49-51.80.0.100.rom", replace="VC400-63.345.0.30.rom")
    assert res.status_code == 400 and "file" in res.json()["details"], res.text
    res = upload(box, "VC400-63.345.0.35.rom", replace="VC400-63.345.0.30.rom")
    assert res.status_code == 200, res.text
    listed = names(box)
    assert "VC400-63.345.0.30.rom" not in listed and "VC400-63.345.0.35.rom" in listed
    # batch delete: refused as a whole when it holds a latest
    res = box.admin.post("/api/v1/firmware/delete", json={
        "names": ["VC400-63.345.0.35.rom", "VC400-63.345.0.40.rom"]})
    assert res.status_code == 409 and "VC400-63.345.0.35.rom" in names(box)
    res = box.admin.post("/api/v1/firmware/delete", json={"names": ["VC400-63.345.0.35.rom"]})
    assert res.status_code == 200 and res.json()["deleted"] == ["VC400-63.345.0.35.rom"]
    # toggling latest off and on
    res = box.admin.post("/api/v1/firmware/VC400-63.345.0.40.rom/latest",
                         json={"latest": False})
    assert res.status_code == 200 and res.json()["latest"] is False
    res = box.admin.post("/api/v1/firmware/VC400/update", json={"confirm": True})
    assert res.status_code == 409, res.text                              # no latest
    res = box.admin.post("/api/v1/firmware/VC400-63.345.0.40.rom/latest",
                         json={"latest": True})
    assert res.status_code == 200 and res.json()["latest"] is True


def device(box: Box, account: str, port: int) -> Terminal:
    return Terminal(box.folder / f"t{account}-{port}", account, box.passwords[account],
                    box.domain, sip_port=port, media_port=port + 1000, timeout_s=30)


def online_agents(box: Box) -> set[str]:
    items = box.admin.get("/api/v1/online-users").json()["items"]
    return {d["user_agent"] for item in items for d in item["devices"]}


def test_update_now_notifies_exactly_the_outdated_devices_of_the_model(box: Box) -> None:
    if "VC400-63.345.0.40.rom" not in names(box):
        assert upload(box, "VC400-63.345.0.40.rom").status_code == 201
    terminals = {
        "old 5001": (device(box, "5001", 26010), OLD_VC400, True),
        # the same account's second device, already on the latest: not told
        "new 5001": (device(box, "5001", 26020), NEW_VC400, False),
        "old 5002": (device(box, "5002", 26030), OLD_VC400, True),
        # another model: not told, whatever its version
        "t49 5003": (device(box, "5003", 26040), T49, False),
    }
    runs = {what: t.wait_for_sync(agent, wait_ms=12_000)
            for what, (t, agent, _) in terminals.items()}
    try:
        deadline = time.monotonic() + 15
        while len(online_agents(box) & {OLD_VC400, NEW_VC400, T49}) < 3 or sum(
                len(i["devices"]) for i in box.admin.get("/api/v1/online-users").json()[
                    "items"]) < 4:
            assert time.monotonic() < deadline, "the four devices never registered"
            time.sleep(0.2)
        models = {m["model"]: m for m in listing(box)["models"]}
        assert models["VC400"] == {"model": "VC400", "registered": 3, "outdated": 2,
                                   "latest": "63.345.0.40"}
        res = box.admin.post("/api/v1/firmware/VC400/update", json={})
        assert res.status_code == 409 and res.json()["error_id"] == "confirm_required"
        assert "63.345.0.40" in res.json()["message"]
        res = box.admin.post("/api/v1/firmware/VC400/update", json={"confirm": True})
        assert res.status_code == 200, res.text
        answer = res.json()
        assert answer["version"] == "63.345.0.40" and answer["up_to_date"] == 1
        assert sorted(n["account"] for n in answer["notified"]) == ["5001", "5002"]
        for what, run in runs.items():
            out, err = run.communicate(timeout=40)
            assert run.returncode == 0, (what, out, err)
        told = {what: terminals[what][0].notified() for what in terminals}
        assert told == {what: expected for what, (_, _, expected) in terminals.items()}
    finally:
        for run in runs.values():
            if run.poll() is None:
                run.kill()
                run.communicate()

    # the model's provisioning file, fetched like a terminal does (no session)
    res = requests.get(f"{box.server.url}/provisioning/vc400.cfg", timeout=10)
    assert res.status_code == 200, res.text
    url = next(line.split("=", 1)[1].strip() for line in res.text.splitlines()
               if line.startswith("firmware.url"))
    assert url.endswith("/firmware/vc400/VC400-63.345.0.40.rom"), url
    rom = requests.get(f"{box.server.url}/firmware/vc400/VC400-63.345.0.40.rom", timeout=10)
    assert rom.status_code == 200 and rom.content == ROM
    for path in ("/firmware/vc400/..%2F..%2Fdocuments.json", "/firmware/x/VC400-63.345.0.40.rom",
                 "/provisioning/..%2Fdocuments.json", "/provisioning/..%2Ffirmware%2Flatest.json"):
        # never served: no such file (404), or no such route, which wants a session (401)
        assert requests.get(box.server.url + path, timeout=10).status_code in (401, 404), path
