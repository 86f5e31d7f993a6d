"""The real FreeSWITCH (issue 10) on the files the control plane renders, run by the control
plane as a child process (local mode, VCBOX_LOCAL_SERVICES=freeswitch), SIPp as the
terminals (tests/sipp.py):

- every module of modules.conf loads; the internal profile runs on the configured SIP
  ports and follows a port change without a FreeSWITCH restart; the event socket takes
  the rendered password only; the dashboard says FreeSWITCH runs;
- the directory comes live from the control plane over mod_xml_curl: digest REGISTER
  (realm = the local domain), 5 devices of one account and the sixth refused (E1), a
  wrong password refused, a reset password in force at once, a deleted account's
  devices dropped and refused a second later (E7), the guide's terminal models;
- the dialplan comes live too: a call to an account rings its registered device, RTP
  flows both ways and the call's CDR reaches the control plane's inbox; unknown
  accounts get 404, unregistered ones 480.

FreeSWITCH binds fixed ports on 127.0.0.1 (SIP 5060/5061, ESL 8021, directory 8089):
one module-scoped instance, the tests in order.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from controlplane.cdr import CdrInbox
from controlplane.config import Config
from controlplane.drivers.esl import (
    Esl,
    EslAuthError,
    EslError,
    EslEvent,
    EslReplyError,
    EslUnreachable,
)
from controlplane.drivers.freeswitch import FreeSwitch
from controlplane.drivers.processes import FREESWITCH_DIR, freeswitch_esl
from controlplane.drivers.services import ActionFailed
from tests.components import locate, require
from tests.conftest import REPO
from tests.freeswitch_ports import assert_ports_free, port_taken
from tests.license_keys import licensed_server
from tests.sipp import Terminal, outcome, point_to_point

DOMAIN_KEY = ("network", "domain")

@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    require("freeswitch", "sipp")
    assert_ports_free()
    folder = tmp_path_factory.mktemp("freeswitch")
    with licensed_server(folder, VCBOX_LOCAL_SERVICES="freeswitch",
                         VCBOX_DIRECTORY_PORT="8089") as srv:
        yield srv


@pytest.fixture(scope="module")
def root(box) -> Path:
    return box.data / "root"


@pytest.fixture
def esl(root: Path) -> Iterator[Esl]:
    client = freeswitch_esl(root, timeout=5.0)
    yield client
    client.close()


def settings(box, section: str) -> dict[str, Any]:
    client = box.client()
    client.login()
    return client.get(f"/api/v1/settings/{section}").json()


def test_the_dashboard_says_freeswitch_runs(box) -> None:
    client = box.client()
    assert client.login().status_code == 200
    components = client.get("/api/v1/status").json()["components"]
    assert components["freeswitch"] == {"status": "ok"}


def test_every_module_of_the_rendered_modules_conf_loads(root: Path, esl: Esl) -> None:
    conf = root / FREESWITCH_DIR / "autoload_configs" / "modules.conf.xml"
    modules = [m.get("module") for m in ET.parse(conf).iter("load")]
    assert len(modules) >= 15
    loaded = {m: esl.api(f"module_exists {m}").strip() for m in modules}
    assert {m: v for m, v in loaded.items() if v != "true"} == {}


def test_the_event_socket_takes_the_rendered_password_only(root: Path) -> None:
    wrong = freeswitch_esl(root)
    wrong.password = "not-the-rendered-one"
    with pytest.raises(EslAuthError):
        wrong.api("status")
    wrong.close()


def test_the_internal_profile_runs_on_the_configured_ports(box, esl: Esl) -> None:
    ports = settings(box, "services")
    status = esl.api("sofia status")
    assert re.search(rf"internal\s+profile\s+sip:mod_sofia@127\.0\.0\.1:{ports['sip_port']}"
                     r"\s+RUNNING", status), status
    assert re.search(rf"sip:mod_sofia@127\.0\.0\.1:{ports['sip_tls_port']}\s+RUNNING"
                     r".*\(TLS\)", status), status
    assert esl.api("global_getvar domain").strip() == settings(box, "network")["domain"]


def create_account(box, account: str, name: str) -> str:
    """A new account through the API; its generated SIP password."""
    client = box.client()
    client.login()
    res = client.post("/api/v1/accounts", json={"name": name, "account": account,
                                                "email": f"u{account}@example.com"})
    assert res.status_code == 201, res.text
    return res.json()["password"]


def test_the_directory_comes_live_from_the_control_plane(box, esl: Esl) -> None:
    domain = settings(box, "network")["domain"]
    create_account(box, "2001", "Live")
    assert esl.api(f"user_exists id 2001 {domain}").strip() == "true"
    assert esl.api(f"user_exists id 2999 {domain}").strip() == "false"


def terminal(box, tmp_path: Path, account: str, password: str, sip_port: int = 0,
             media_port: int = 0) -> Terminal:
    return Terminal(tmp_path / f"t{account}-{sip_port}", account, password,
                    settings(box, "network")["domain"], sip_port, media_port)


def sipp_register(box, tmp_path: Path, account: str, password: str, expect: int,
                  local_port: int = 0) -> None:
    device = terminal(box, tmp_path, account, password, local_port)
    done = device.register(expect)
    assert done.returncode == 0, outcome(done, device, f"register-{expect}")


def test_a_terminal_registers_with_digest_auth(box, esl: Esl, tmp_path: Path) -> None:
    password = create_account(box, "2002", "Terminal")
    sipp_register(box, tmp_path, "2002", password, 200)
    regs = esl.api("sofia status profile internal reg")
    assert "2002@" in regs and "Yealink VC400" in regs, regs
    sipp_register(box, tmp_path, "2002", password + "x", 403)


def test_a_sip_port_change_reaches_the_running_freeswitch(box, esl: Esl) -> None:
    """P3: saved in the admin, the internal profile moves without a FreeSWITCH restart."""
    client = box.client()
    client.login()
    pid = esl.api("global_getvar core_uuid").strip()
    before = settings(box, "services")["sip_port"]
    try:
        res = client.put("/api/v1/settings/services", json={"sip_port": 5070, "confirm": True})
        assert res.status_code == 200, res.text
        status = esl.api("sofia status")
        assert re.search(r"sip:mod_sofia@127\.0\.0\.1:5070\s+RUNNING", status), status
        assert not re.search(rf"sip:mod_sofia@127\.0\.0\.1:{before}\s", status), status
        assert esl.api("global_getvar core_uuid").strip() == pid  # the same process
    finally:
        res = client.put("/api/v1/settings/services", json={"sip_port": before,
                                                             "confirm": True})
        assert res.status_code == 200, res.text


def test_five_devices_of_one_account_register_and_the_sixth_is_refused(
        box, esl: Esl, tmp_path: Path) -> None:
    """E1: up to 5 devices per account (multiple-registrations plus the directory's
    max-registrations-per-extension); each device its own contact (port)."""
    password = create_account(box, "2003", "Five")
    for device in range(5):
        sipp_register(box, tmp_path, "2003", password, 200, local_port=5091 + device)
    regs = esl.api("sofia status profile internal reg")
    assert len(re.findall(r"Auth-User:\s+2003\n", regs)) == 5, regs
    # The sixth device: FreeSWITCH answers the authenticated REGISTER 403 Forbidden.
    sipp_register(box, tmp_path, "2003", password, 403, local_port=5096)
    regs = esl.api("sofia status profile internal reg")
    assert len(re.findall(r"Auth-User:\s+2003\n", regs)) == 5, regs


def test_a_reset_password_takes_effect_without_a_restart(box, esl: Esl, tmp_path: Path
                                                         ) -> None:
    old = create_account(box, "2004", "Reset")
    sipp_register(box, tmp_path, "2004", old, 200)
    uuid = esl.api("global_getvar core_uuid").strip()
    client = box.client()
    client.login()
    res = client.post("/api/v1/accounts/2004/password", json={})
    assert res.status_code == 200, res.text
    new = res.json()["password"]
    sipp_register(box, tmp_path, "2004", old, 403)
    sipp_register(box, tmp_path, "2004", new, 200)
    assert esl.api("global_getvar core_uuid").strip() == uuid  # no restart


def cached(esl: Esl, account: str, domain: str) -> bool:
    """Whether FreeSWITCH's user cache held the account's entry (the look flushes it)."""
    answer = esl.api(f"xml_flush_cache id {account} {domain}").strip()
    assert answer in ("+OK cleared 1 entry", "+OK cleared 0 entries"), answer
    return answer == "+OK cleared 1 entry"


def test_an_edit_and_a_delete_flush_that_accounts_cached_entry(box, esl: Esl,
                                                                 tmp_path: Path) -> None:
    """DESIGN D4: each account change flushes that account's entry from FreeSWITCH's user
    cache at once (a registered device's next REGISTER sees the change); the others stay
    cached."""
    domain = settings(box, "network")["domain"]
    for account in ("2070", "2071", "2072", "2073"):
        sipp_register(box, tmp_path, account, create_account(box, account, "Cached"), 200)
    client = box.client()
    client.login()
    assert client.put("/api/v1/accounts/2070", json={"name": "Renamed"}).status_code == 200
    assert not cached(esl, "2070", domain)
    assert client.delete("/api/v1/accounts/2071").status_code == 200
    assert not cached(esl, "2071", domain)
    res = client.post("/api/v1/accounts/delete", json={"accounts": ["2072"]})
    assert res.json() == {"deleted": ["2072"]}
    assert not cached(esl, "2072", domain)
    assert cached(esl, "2073", domain)  # untouched: still cached


def test_freeswitch_caches_entries_and_a_new_link_flushes_them_all(
        box, esl: Esl, tmp_path: Path) -> None:
    """A registered account's entry stays in FreeSWITCH's user cache (cacheable,
    USER_CACHE_MS): `xml_flush_cache` says how many entries it cleared. Reloading
    mod_event_socket drops every event-socket link while FreeSWITCH runs on, its cache
    kept; the control plane's new link flushes the whole cache (a change made while the
    link was down had its flush skipped)."""
    domain = settings(box, "network")["domain"]
    accounts = [f"{n}" for n in range(2080, 2088)]
    for account in accounts:
        sipp_register(box, tmp_path, account, create_account(box, account, "Cached"), 200)
    # Cached: flushing one entry clears it (and only it).
    assert cached(esl, accounts.pop(), domain)
    with contextlib.suppress(EslError):  # our own link goes too
        esl.api("reload mod_event_socket")
    # Each look costs one cached entry: once the control plane is back, the rest are gone.
    answers: list[bool] = []
    for account in accounts:
        time.sleep(1)
        with contextlib.suppress(EslError):
            answers.append(cached(esl, account, domain))
        if answers[-1:] == [False]:
            break
    assert answers[-1:] == [False], f"still cached after each second: {answers}"


def test_a_deleted_account_cannot_register_a_second_later(box, esl: Esl, tmp_path: Path
                                                          ) -> None:
    password = create_account(box, "2005", "Gone")
    sipp_register(box, tmp_path, "2005", password, 200)
    assert re.search(r"Auth-User:\s+2005\n", esl.api("sofia status profile internal reg"))
    client = box.client()
    client.login()
    assert client.delete("/api/v1/accounts/2005").status_code == 200
    time.sleep(1)
    # Its registered device is dropped at once; a new REGISTER is refused.
    assert not re.search(r"Auth-User:\s+2005\n", esl.api("sofia status profile internal reg"))
    sipp_register(box, tmp_path, "2005", password, 403)


def cdr_of(box, caller: str, callee: str, timeout: float = 15.0) -> dict[str, Any]:
    """The call record FreeSWITCH posted for caller → callee (the A leg)."""
    inbox = CdrInbox(box.data)
    deadline = time.monotonic() + timeout
    while True:
        for uuid in inbox.uuids():
            record = inbox.get(uuid) or {}
            variables = record.get("variables", {})
            if (variables.get("sip_from_user") == caller
                    and variables.get("sip_req_user") == callee):
                return record
        assert time.monotonic() < deadline, f"no CDR of {caller} → {callee}: {inbox.uuids()}"
        time.sleep(0.2)


def test_a_point_to_point_call_with_rtp_both_ways_and_its_cdr(box, tmp_path: Path) -> None:
    """Dialling a 4-digit account rings its registered device (the dialplan comes from
    the control plane); RTP flows both ways (the callee echoes the caller's G.711 pcap);
    FreeSWITCH posts the call's record to the control plane's CDR inbox."""
    caller = terminal(box, tmp_path, "2010", create_account(box, "2010", "Caller"),
                      5110, 16000)
    callee = terminal(box, tmp_path, "2011", create_account(box, "2011", "Callee"),
                      5111, 16100)
    point_to_point(caller, callee, talk_ms=3000)
    variables = cdr_of(box, "2010", "2011")["variables"]
    assert variables["last_app"] == "bridge"
    # The values as plain text (encode-values=false), the JSON exactly as posted.
    assert variables["switch_r_sdp"].startswith("v=0\r\n"), variables["switch_r_sdp"][:40]
    assert variables["sip_full_from"].startswith(("<sip:2010@", '"')), variables
    assert "%3C" not in variables["sip_full_from"]
    assert int(variables["billsec"]) >= 2
    # A leg: in from the caller's pcap, out = what the callee echoed back through the bridge.
    assert int(variables["rtp_audio_in_packet_count"]) > 50, variables
    assert int(variables["rtp_audio_out_packet_count"]) > 50, variables
    # K2: the call is a point-to-point record with both sides (the caller's CDR).
    client = box.client()
    client.login()
    [item] = [i for i in client.get("/api/v1/call-records", params={"type": "p2p"}
                                    ).json()["items"] if i["id"] == variables["uuid"]]
    assert (item["subject"], item["organizer"], item["members"]) == (
        "Caller → Callee", "2010", 2)
    people = client.get(f"/api/v1/call-records/{item['id']}").json()["participants"]
    assert [(p["number"], p["how"]) for p in people] == [("2010", "in"), ("2011", "callee")]


def test_calls_to_unknown_and_unregistered_accounts_get_clear_answers(box, tmp_path: Path
                                                                     ) -> None:
    caller = terminal(box, tmp_path, "2012", create_account(box, "2012", "Asker"), 5112)
    create_account(box, "2013", "Away")  # never registered
    unknown = caller.call("2999", 404)
    assert unknown.returncode == 0, outcome(unknown, caller, "call-2999-404")
    away = caller.call("2013", 480)
    assert away.returncode == 0, outcome(away, caller, "call-2013-480")


TERMINAL_MODELS = ["Yealink VC400 63.345.0.10", "Yealink VC120 63.345.0.10",
                   "Yealink VC110 40.345.0.10", "Yealink VC Desktop 1.28.0.20",
                   "Yealink SIP-VP-T49G 51.80.0.130"]


def test_the_terminal_models_of_the_guide_register(box, esl: Esl, tmp_path: Path) -> None:
    password = create_account(box, "2020", "Models")
    for index, agent in enumerate(TERMINAL_MODELS):
        device = terminal(box, tmp_path, "2020", password, 5120 + index)
        done = device.register(user_agent=agent)
        assert done.returncode == 0, outcome(done, device, "register-200")
    regs = esl.api("sofia status profile internal reg")
    for agent in TERMINAL_MODELS:
        assert f"Agent:      \t{agent}\n" in regs or agent in regs, (agent, regs)


# -- the ESL client and the driver's verbs against the real event socket ------------------

def wait_for(predicate, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_events_and_background_jobs_come_from_the_real_event_socket(
        box, root: Path, tmp_path: Path) -> None:
    """What tests/esl_server.py imitates, from FreeSWITCH itself: a bgapi job's result as
    BACKGROUND_JOB, and sofia::register when a terminal registers (its user agent and
    contact as sent)."""
    client = freeswitch_esl(root, timeout=5.0)
    try:
        seen: list[EslEvent] = []
        client.on_event("BACKGROUND_JOB", seen.append)
        client.on_event("sofia::register", seen.append)
        client.subscribe("BACKGROUND_JOB sofia::register")
        job = client.bgapi("version")
        wait_for(lambda: any(e.name == "BACKGROUND_JOB" for e in seen))
        done = next(e for e in seen if e.name == "BACKGROUND_JOB")
        assert done["Job-UUID"] == job
        assert done.body.startswith("FreeSWITCH Version 1.10.12")
        sipp_register(box, tmp_path, "2030", create_account(box, "2030", "Events"), 200)
        wait_for(lambda: any(e.name == "sofia::register" for e in seen))
        register = next(e for e in seen if e.name == "sofia::register")
        assert register["from-user"] == "2030"
        assert register["user-agent"] == "Yealink VC400 63.345.0.10"
        assert register["profile-name"] == "internal"
    finally:
        client.close()


def test_the_drivers_verbs_against_the_real_freeswitch(box, root: Path, esl: Esl) -> None:
    config = Config(data_dir=box.data, root=root)
    driver = FreeSwitch(config, freeswitch_esl(root), locate("freeswitch"))
    assert driver.run("reloadxml") == "reloadxml: +OK [Success]"
    assert driver.run("reload", "mod_json_cdr").startswith("reload mod_json_cdr: +OK")
    assert esl.api("module_exists mod_json_cdr").strip() == "true"
    with pytest.raises(ActionFailed, match="not a module name"):
        driver.run("reload", "mod_x; fsctl shutdown")
    assert driver.status() == "ok"
    driver.esl.close()


def test_a_broken_rendered_file_is_refused_before_freeswitch_reads_it(
        box, root: Path, esl: Esl) -> None:
    config = Config(data_dir=box.data, root=root)
    driver = FreeSwitch(config, freeswitch_esl(root), locate("freeswitch"))
    vars_xml = root / FREESWITCH_DIR / "vars.xml"
    good = vars_xml.read_bytes()
    try:
        vars_xml.write_text("<include><X-PRE-PROCESS cmd=\"set\" data=\"a=b\"/>")
        with pytest.raises(ActionFailed, match=r"config check: vars\.xml"):
            driver.run("reloadxml")
    finally:
        vars_xml.write_bytes(good)
    assert driver.run("reloadxml") == "reloadxml: +OK [Success]"
    driver.esl.close()


def test_a_restart_class_change_restarts_freeswitch_and_the_link_comes_back(
        box, esl: Esl) -> None:
    """P4: the IVR RTP range is read at start only: saving it restarts the FreeSWITCH
    process the control plane runs, and the control plane's event socket link
    reconnects."""
    client = box.client()
    client.login()
    before = client.get("/api/v1/settings/ports").json()
    uuid = esl.api("global_getvar core_uuid").strip()
    try:
        res = client.put("/api/v1/settings/ports", json={
            "ivr": {"min": 30000, "max": 36999}, "confirm": True})
        assert res.status_code == 200, res.text
        assert esl.api("global_getvar core_uuid").strip() != uuid  # a new process
        status = client.get("/api/v1/status").json()["components"]["freeswitch"]
        assert status == {"status": "ok"}
        # The control plane's own link is back: an account change reaches FreeSWITCH.
        password = create_account(box, "2040", "After restart")
        assert esl.api("user_exists id 2040 " + settings(box, "network")["domain"]
                       ).strip() == "true", password
    finally:
        res = client.put("/api/v1/settings/ports", json={
            "ivr": before["ivr"], "confirm": True})
        assert res.status_code == 200, res.text


def test_a_port_freeswitch_cannot_take_is_refused_and_nothing_changes(box, root: Path,
                                                                      esl: Esl) -> None:
    """A SIP port another program holds: the internal profile does not come up on it, the
    change fails with that reason, the files go back and FreeSWITCH runs as before."""
    client = box.client()
    client.login()
    profile = root / FREESWITCH_DIR / "sip_profiles" / "internal.xml"
    before_file = profile.read_bytes()
    before = settings(box, "services")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind(("127.0.0.1", 5090))
        res = client.put("/api/v1/settings/services", json={"sip_port": 5090, "confirm": True})
    assert res.status_code == 502, res.text
    assert res.json()["error_id"] == "apply_failed"
    # The page names the service in words; FreeSWITCH's own reason (its internal profile
    # did not come up) is in the operation log's technical details.
    assert "SIP/IVR" in res.json()["message"], res.json()
    assert "internal" not in res.json()["message"], res.json()
    log = client.get("/api/v1/operation-log", params={"limit": 5}).json()["items"]
    applied = next(e for e in log if e["action"] == "apply")
    assert applied["result"] == "failure" and "internal" in applied["detail_technical"], applied
    assert settings(box, "services") == before
    assert profile.read_bytes() == before_file
    wait_for(lambda: re.search(rf"sip:mod_sofia@127\.0\.0\.1:{before['sip_port']}\s+RUNNING",
                               esl.api("sofia status")) is not None, timeout=30)


def test_a_call_rings_every_registered_device_of_the_account(box, tmp_path: Path) -> None:
    """Two devices of the callee ring; one answers, the other is cancelled."""
    callee_password = create_account(box, "2051", "Two desks")
    caller = terminal(box, tmp_path, "2050", create_account(box, "2050", "Ringer"), 5150)
    desk = terminal(box, tmp_path, "2051", callee_password, 5151, 16200)
    room = terminal(box, tmp_path, "2051", callee_password, 5152, 16300)
    done = room.register()
    assert done.returncode == 0, outcome(done, room, "register-200")
    ringing = room.ring()
    try:
        point_to_point(caller, desk, talk_ms=1000, media=False)
        ringing.wait(timeout=30)
        assert ringing.returncode == 0, outcome(ringing, room, "ring")
    finally:
        if ringing.poll() is None:
            ringing.kill()
            ringing.wait()


def test_the_clients_wire_handling_against_the_real_event_socket(root: Path) -> None:
    """The protocol points tests/esl_server.py also checks, from FreeSWITCH itself: bodies
    read by byte length (UTF-8), -ERR answers with FreeSWITCH's own words, a command that
    would smuggle a second one refused before sending, many threads on one link each
    getting their own answer, and close ending the link."""
    client = freeswitch_esl(root, timeout=5.0)
    try:
        text = "会议室 ✓ ünïcode"
        assert client.api(f"eval {text}").strip() == text
        assert client.api("eval ascii").strip() == "ascii"  # the stream stays in step
        with pytest.raises(EslReplyError) as info:
            client.api("no_such_thing now")
        assert info.value.reason.startswith("-ERR no_such_thing Command not found")
        with pytest.raises(EslError, match="single line"):
            client.api("eval x\n\napi fsctl shutdown")
        assert client.api("eval still-up").strip() == "still-up"
        wrong: list[str] = []

        def worker(n: int) -> None:
            for i in range(20):
                got = client.api(f"eval {n}-{i}-✓").strip()
                if got != f"{n}-{i}-✓":
                    wrong.append(f"{n}-{i}: {got}")

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert wrong == []
    finally:
        client.close()
    with pytest.raises(EslError):
        client.api("status")


def esl_like_the_control_planes(root: Path, **kw: float) -> Esl:
    probe = freeswitch_esl(root)
    return Esl(probe.host, probe.port, probe.password, **{"timeout": 5.0, **kw})


def ports_put(box, ivr: dict[str, int]) -> None:
    client = box.client()
    client.login()
    res = client.put("/api/v1/settings/ports", json={"ivr": ivr, "confirm": True})
    assert res.status_code == 200, res.text


def test_a_link_made_while_freeswitch_is_down_comes_up_with_it(box, root: Path,
                                                               esl: Esl) -> None:
    """DESIGN D3 with the real FreeSWITCH stopped and started again: while it is down the
    client fails fast (no hang) and keeps its subscription; once FreeSWITCH is up it
    connects by itself and the subscribed events arrive; after another restart it
    reconnects and subscribes again."""
    before = settings(box, "ports")["ivr"]
    with contextlib.suppress(EslError):  # the link may drop before the answer
        esl.api("fsctl shutdown")
    wait_for(lambda: not port_taken(8021))
    client = esl_like_the_control_planes(root, backoff_min=0.05, backoff_max=0.4)
    links: list[str] = []
    jobs: list[EslEvent] = []
    client.on_event("esl::connected", lambda e: links.append("up"))
    client.on_event("esl::disconnected", lambda e: links.append("down"))
    client.on_event("BACKGROUND_JOB", jobs.append)
    try:
        started = time.monotonic()
        for _ in range(2):
            with pytest.raises(EslUnreachable):
                client.api("status")
        assert time.monotonic() - started < 1.0
        client.subscribe("BACKGROUND_JOB")  # no error while down: kept for later
        # A restart-class change (P4) brings FreeSWITCH back up: the apply restarts it.
        ports_put(box, {"min": before["min"], "max": before["max"] - 1})
        wait_for(lambda: client.connected, timeout=3)
        job = client.bgapi("version")
        wait_for(lambda: any(e["Job-UUID"] == job for e in jobs), timeout=5)
        # And back to the old range: FreeSWITCH restarts once more, the link follows.
        ports_put(box, before)
        wait_for(lambda: links[-1:] == ["up"] and links.count("up") == 2, timeout=10)
        job = client.bgapi("version")
        wait_for(lambda: any(e["Job-UUID"] == job for e in jobs), timeout=5)
        assert links == ["up", "down", "up"]
    finally:
        client.close()
        if settings(box, "ports")["ivr"] != before:
            ports_put(box, before)


GEVENT_CLIENT = """
from gevent import monkey
monkey.patch_all()
import json, sys, time
import gevent
from controlplane.drivers.esl import Esl

host, port, password = sys.argv[1], int(sys.argv[2]), sys.argv[3]
esl = Esl(host, port, password, timeout=5.0)
out, jobs = {}, []
esl.on_event("BACKGROUND_JOB", lambda e: 1 / 0)
esl.on_event("BACKGROUND_JOB", lambda e: jobs.append(e["Job-UUID"]))
esl.subscribe("BACKGROUND_JOB")
out["body"] = esl.api("eval 会议室 ✓").strip()
ticks = []
ticker = gevent.spawn(lambda: [ticks.append(gevent.sleep(0.05)) for _ in range(10)])
started = time.monotonic()
esl.api("msleep 1000")
out["waited"] = round(time.monotonic() - started, 2)
out["ticks_while_waiting"] = len(ticks)
job = esl.bgapi("version")
deadline = time.monotonic() + 5
while job not in jobs and time.monotonic() < deadline:
    gevent.sleep(0.02)
out["job_event"] = job in jobs
esl.close()
print(json.dumps(out), flush=True)
"""


def test_the_client_under_gevent_against_the_real_event_socket(root: Path) -> None:
    """The web server runs with gevent.monkey.patch_all(): there, the client gets the real
    FreeSWITCH's answers and events, other greenlets run while a command waits
    (msleep 1000 on FreeSWITCH's side), and a failing event handler stops nothing."""
    probe = freeswitch_esl(root)
    proc = subprocess.run(
        [sys.executable, "-c", GEVENT_CLIENT, probe.host, str(probe.port), probe.password],
        cwd=REPO, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["body"] == "会议室 ✓"
    assert 1.0 <= out["waited"] < 2.0 and out["ticks_while_waiting"] == 10
    assert out["job_event"] is True
    assert "ZeroDivisionError" in proc.stderr  # logged; the next handler still ran


