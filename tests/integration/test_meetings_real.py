"""Meetings on the real FreeSWITCH (issue 11, SPEC §10): SIPp terminals dial meeting IDs,
the IVR access number and the Meet Now number; the live dialplan puts them into mux
conferences; what FreeSWITCH does is read back over ESL (`conference <id> list`,
PLAYBACK_START events, `show channels`).

DTMF: the IVR's digits are injected into the caller's channel with `uuid_recv_dtmf`, as
if the terminal had sent them (FreeSWITCH handles them exactly as RFC 2833 digits).

FreeSWITCH binds fixed ports on 127.0.0.1 (SIP 5060/5061, ESL 8021, directory 8089):
one module-scoped instance, the tests in order.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import requests

from controlplane.drivers.esl import Esl, EslEvent, EslReplyError
from controlplane.drivers.processes import freeswitch_esl
from controlplane.meeting_runner import CALL_OUT_CHECK_S
from controlplane.polling import parse_list, reservations
from tests import media
from tests.canvas import PALETTE, wait_canvas
from tests.components import require
from tests.conftest import Client, Server, configured_server
from tests.freeswitch_ports import assert_ports_free
from tests.license_keys import LicenseKeys, activate, make_keys
from tests.sipp import Terminal, answer_sdp, call_scenario, outcome, parse_sdp
from tests.waiting import wait_for

IVR, MEET_NOW = "90000", "90001"


@dataclass
class Box:
    server: Server
    keys: LicenseKeys
    admin: Client
    esl: Esl
    folder: Path
    playbacks: list[EslEvent] = field(default_factory=list)
    conference_events: list[EslEvent] = field(default_factory=list)

    @property
    def root(self) -> Path:
        return self.server.data / "root"



@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Box]:
    require("freeswitch", "sipp", "espeak-ng", "sox", "ffmpeg")
    assert_ports_free()
    folder = tmp_path_factory.mktemp("meetings")
    keys = make_keys(folder)
    with configured_server(folder, VCBOX_LOCAL_SERVICES="freeswitch",
                           VCBOX_DIRECTORY_PORT="8089", **keys.env) as srv:
        admin = srv.client()
        admin.cookies.set("vcbox_lang", "en")
        assert admin.login().status_code == 200
        activate(admin, keys)
        esl = freeswitch_esl(srv.data / "root", timeout=5.0)
        box = Box(srv, keys, admin, esl, folder)
        esl.on_event("PLAYBACK_START", box.playbacks.append)
        esl.on_event("conference::maintenance", box.conference_events.append)
        esl.subscribe("PLAYBACK_START conference::maintenance")
        try:
            for n in range(1, 8):
                create_account(box, f"30{n:02d}")
            yield box
        finally:
            esl.close()


@pytest.fixture(autouse=True)
def calls_released(box: Box) -> Iterator[None]:
    """After each test, once its channels are gone, FreeSWITCH counts no call (L4): every
    call counted is released at its hangup."""
    yield
    def channels() -> int:
        return len(json.loads(box.esl.api("show channels as json")).get("rows") or [])
    wait_for(lambda: channels() == 0 or None, timeout=30, what="every channel hung up")
    assert box.esl.api("limit_usage hash vcbox calls").strip() == "0"


def create_account(box: Box, account: str) -> None:
    res = box.admin.post("/api/v1/accounts", json={
        "name": f"User {account}", "account": account, "email": f"u{account}@example.com"})
    assert res.status_code == 201, res.text
    box.__dict__.setdefault("passwords", {})[account] = res.json()["password"]


def terminal(box: Box, account: str, name: str = "") -> Terminal:
    domain = box.admin.get("/api/v1/settings/network").json()["domain"]
    return Terminal(box.folder / f"t{account}{name}", account,
                    box.__dict__["passwords"][account], domain, timeout_s=60)


def meeting(box: Box, **doc: Any) -> dict[str, Any]:
    res = box.admin.post("/api/v1/meetings", json={
        "kind": "vmr", "subject": "Weekly", "organizer": "3001", **doc})
    assert res.status_code == 201, res.text
    return res.json()


@contextmanager
def calling(box: Box, account: str, number: str, talk_ms: int = 15000
            ) -> Iterator[subprocess.Popen]:
    """A SIPp call from account to number that talks talk_ms, then hangs up."""
    device = terminal(box, account, number.replace("*", "s"))
    proc = subprocess.Popen(device.argv(f"call-{number}", call_scenario(number, 200, talk_ms)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=device.folder)
    try:
        yield proc
    finally:
        # Hang up from FreeSWITCH's side (it sends the BYE), then end SIPp.
        hang_up(box, account)
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def listing(box: Box, conference: str) -> list[list[str]]:
    """FreeSWITCH's own member list (`conference <id> list`), one field list a member."""
    try:
        text = box.esl.api(f"conference {conference} list")
    except EslReplyError:  # -ERR Conference <id> not found
        return []
    return [line.split(";") for line in text.splitlines() if line.count(";") > 5]


def members(box: Box, conference: str) -> list[str]:
    """The caller ID numbers of the conference's members."""
    return sorted(fields[4] for fields in listing(box, conference))


def hang_up(box: Box, caller: str) -> None:
    """Hang up every channel of this caller (whatever it was transferred to since)."""
    rows = json.loads(box.esl.api("show channels as json")).get("rows") or []
    for row in rows:
        if row.get("cid_num") == caller:
            with contextlib.suppress(EslReplyError):  # it may be gone by now
                box.esl.api(f"uuid_kill {row['uuid']}")


def channel_of(box: Box, caller: str, destination: str) -> str:
    """The UUID of caller's channel that dialled destination ("" while there is none)."""
    rows = json.loads(box.esl.api("show channels as json")).get("rows") or []
    for row in rows:
        if row.get("cid_num") == caller and row.get("dest") == destination:
            return row["uuid"]
    return ""


def played(box: Box, uuid: str) -> list[str]:
    return [e.get("Playback-File-Path") or "" for e in box.playbacks
            if e.get("Unique-ID") == uuid]


def wait_playing(box: Box, uuid: str, name: str, timeout: float = 20.0) -> str:
    return wait_for(lambda: next((p for p in played(box, uuid) if p.endswith(name)), ""),
                    timeout, f"{name} played on {uuid}: {played(box, uuid)}")


def settings_put(box: Box, section: str, doc: dict[str, Any]) -> None:
    res = box.admin.put(f"/api/v1/settings/{section}", json={**doc, "confirm": True})
    assert res.status_code == 200, res.text


# -- direct dial -------------------------------------------------------------------------

def test_callers_dialling_a_vmr_id_meet_in_its_conference(box: Box) -> None:
    room = meeting(box, subject="Daily standup")
    with calling(box, "3001", room["id"]) as first, calling(box, "3002", room["id"]) as second:
        wait_for(lambda: members(box, room["id"]) == ["3001", "3002"], what="two members")
        assert first.poll() is None and second.poll() is None
    wait_for(lambda: not members(box, room["id"]), what="both left")


def test_a_meeting_held_is_a_call_record_with_who_joined_and_left(box: Box) -> None:
    """K1-K3: the records come from FreeSWITCH's CDRs (mod_json_cdr posts each leg at its
    hangup): one record per conference run, with the meeting's subject, type and ID as
    the dialplan put them on the channel, each participant's device and times; the
    statistics count it; the shown list exports as CSV and XLSX."""
    room = meeting(box, subject="预算评审 Q3")
    with calling(box, "3001", room["id"]), calling(box, "3002", room["id"]):
        wait_for(lambda: members(box, room["id"]) == ["3001", "3002"], what="two members")
        time.sleep(2)
    wait_for(lambda: not members(box, room["id"]), what="both left")

    def found() -> list[dict[str, Any]]:
        res = box.admin.get("/api/v1/call-records",
                            params={"type": "vmr", "months": "1", "search": room["id"]})
        assert res.status_code == 200, res.text
        items = res.json()["items"]
        return items if items and items[0]["members"] == 2 else []
    [record] = wait_for(found, what="the meeting's call record")
    assert (record["kind"], record["meeting_id"], record["subject"], record["organizer"]) == (
        "vmr", room["id"], "预算评审 Q3", "3001")
    assert record["duration_s"] >= 2
    detail = box.admin.get(f"/api/v1/call-records/{record['id']}").json()
    assert sorted(p["number"] for p in detail["participants"]) == ["3001", "3002"]
    for person in detail["participants"]:
        assert person["how"] == "in" and person["user_agent"].startswith("Yealink")
        assert person["joined"] <= person["left"] and person["duration_s"] >= 2
    stats = box.admin.get("/api/v1/call-records/stats", params={"months": "1"}).json()
    assert stats["counts"]["vmr"] >= 1 and stats["peak"] >= 2 and stats["peak_ever"] >= 2
    shown = {"type": "vmr", "months": "1", "search": room["id"]}
    text = box.admin.get("/api/v1/call-records", params=shown,
                         headers={"Accept": "text/csv"}).content.decode("utf-8-sig")
    assert text.splitlines()[1].startswith("预算评审 Q3,"), text
    sheet = openpyxl.load_workbook(io.BytesIO(box.admin.get(
        "/api/v1/call-records", params={**shown, "format": "xlsx"}).content)).active
    assert [cell.value for cell in sheet[2]][:3] == ["预算评审 Q3", "VMR", room["id"]]


def live_figures(box: Box) -> dict[str, Any]:
    res = box.admin.get("/api/v1/status")
    assert res.status_code == 200, res.text
    return res.json()["live"]


def test_the_dashboard_counts_what_the_running_freeswitch_has(box: Box) -> None:
    """A8: the overview's online users, live meetings and licensed calls in use come from
    FreeSWITCH itself (its registrations, its conferences, the license counter)."""
    assert "3007" not in box.esl.api("show registrations"), "3007 is registered already"
    before = live_figures(box)
    assert before["reachable"] is True
    done = terminal(box, "3007", "dashboard").register()
    assert done.returncode == 0, done.stderr
    wait_for(lambda: live_figures(box)["online_users"] == before["online_users"] + 1,
             what="one more online user")
    room = meeting(box, subject="Dashboard")
    with calling(box, "3003", room["id"]), calling(box, "3004", room["id"]):
        wait_for(lambda: members(box, room["id"]) == ["3003", "3004"], what="two members")
        now = wait_for(lambda: (lambda f: f if (f["meetings"], f["calls"]) == (1, 2) else None
                                )(live_figures(box)), what="one meeting, two calls")
        assert now["online_users"] >= before["online_users"] + 1
    wait_for(lambda: (lambda f: (f["meetings"], f["calls"]) == (0, 0))(live_figures(box)),
             what="no meeting, no call")


def live(box: Box, **params: str) -> dict[str, dict[str, Any]]:
    res = box.admin.get("/api/v1/meetings/live", params=params)
    assert res.status_code == 200, res.text
    return {item["id"]: item for item in res.json()["items"]}


def member_ids(box: Box, conference: str) -> dict[str, str]:
    """account -> FreeSWITCH's member id, from `conference <id> list`."""
    return {fields[4]: fields[0] for fields in listing(box, conference)}


def speaking(box: Box, conference: str) -> dict[str, bool]:
    """account -> whether FreeSWITCH lets the member speak (the "speak" flag)."""
    flags = parse_list(box.esl.api(f"conference {conference} list"))
    return {account: "speak" in flags[int(member)]
            for account, member in member_ids(box, conference).items()}


def locked(box: Box, conference: str) -> bool:
    """FreeSWITCH's own word (`conference json_list`) on whether the conference is locked."""
    confs = json.loads(box.esl.api("conference json_list"))
    return any(c["conference_name"] == conference and c["locked"] for c in confs)


def moderate(box: Box, path: str, **doc: Any) -> None:
    res = box.admin.post(f"/api/v1/meetings/live/{path}", json=doc)
    assert res.status_code == 200, res.text


def test_live_meetings_follow_freeswitch_and_moderation_takes_effect(box: Box) -> None:
    """S3: a meeting with joins and leaves appears, changes and ends on the live meetings
    API; mute, unmute, lock, unlock, invite, remove and end are done by FreeSWITCH (seen
    over ESL) and each is in the operation log."""
    room = meeting(box, subject="Moderated 周会", organizer="3001")
    invitee = terminal(box, "3005", "invitee")
    done = invitee.register()
    assert done.returncode == 0, outcome(done, invitee, "register-200")
    answering = invitee.answer()
    try:
        with calling(box, "3001", room["id"], talk_ms=60000), \
                calling(box, "3002", room["id"], talk_ms=60000):
            wait_for(lambda: room["id"] in live(box) and len(
                live(box)[room["id"]]["members"]) == 2, what="the meeting with two members")
            item = live(box)[room["id"]]
            assert (item["kind"], item["subject"], item["organizer"], item["locked"]) == (
                "vmr", "Moderated 周会", "3001", False)
            assert item["organizer_name"] == "User 3001"
            assert sorted(m["account"] for m in item["members"]) == ["3001", "3002"]
            assert all(not m["muted"] for m in item["members"])
            # The same figures for Prometheus (X3), read from FreeSWITCH at the scrape.
            scraped = requests.get(box.server.url + "/metrics", timeout=10).text
            assert 'vcbox_live_meetings{kind="vmr"} 1.0' in scraped, scraped
            assert "vcbox_meeting_members 2.0" in scraped
            assert "vcbox_esl_connected 1.0" in scraped
            # Search by subject, organizer, type and ID.
            for needle in ("周会", "3001", "vmr", room["id"][-4:]):
                assert room["id"] in live(box, search=needle), needle
            assert room["id"] not in live(box, search="nothing like it")

            ids = member_ids(box, room["id"])
            moderate(box, f"{room['id']}/members/{ids['3002']}/mute")
            wait_for(lambda: speaking(box, room["id"]) == {"3001": True, "3002": False},
                     what="3002 muted in FreeSWITCH")
            assert {m["account"]: m["muted"] for m in live(box)[room["id"]]["members"]} == {
                "3001": False, "3002": True}
            moderate(box, f"{room['id']}/members/all/unmute")
            wait_for(lambda: all(speaking(box, room["id"]).values()), what="all unmuted")
            moderate(box, f"{room['id']}/lock")
            wait_for(lambda: locked(box, room["id"]), what="locked in FreeSWITCH")
            assert live(box)[room["id"]]["locked"] is True
            moderate(box, f"{room['id']}/unlock")
            assert not locked(box, room["id"]) and live(box)[room["id"]]["locked"] is False

            moderate(box, f"{room['id']}/invite", account="3005")
            wait_for(lambda: "3005" in [m["account"] for m in live(box).get(
                room["id"], {"members": []})["members"]] or None,
                timeout=20, what="the invited account joined")
            moderate(box, f"{room['id']}/members/{member_ids(box, room['id'])['3002']}/kick")
            wait_for(lambda: members(box, room["id"]) == ["3001", "3005"], what="3002 removed")
            missing = box.admin.post(f"/api/v1/meetings/live/{room['id']}/members/9999/mute")
            assert missing.status_code == 404, missing.text
            moderate(box, f"{room['id']}/end")
            wait_for(lambda: room["id"] not in live(box), what="the meeting ended")
            assert not members(box, room["id"])
    finally:
        if answering.poll() is None:
            answering.kill()
        answering.communicate()
    log = box.admin.get("/api/v1/operation-log", params={"limit": 12}).json()["items"]
    done_actions = [(e["action"], e["result"]) for e in log
                    if e["target"].startswith(room["id"])]
    assert done_actions[:8] == [
        ("end_meeting", "success"), ("mute_member", "failure"),  # no member 9999
        ("kick_member", "success"), ("invite_to_meeting", "success"),
        ("unlock_meeting", "success"), ("lock_meeting", "success"),
        ("unmute_member", "success"), ("mute_member", "success")], done_actions
    gone = box.admin.post(f"/api/v1/meetings/live/{room['id']}/lock")
    assert gone.status_code == 404, gone.text


def test_a_point_to_point_call_is_a_live_meeting_while_it_is_up(box: Box) -> None:
    """S3: account A calling account B directly (both SIPp terminals registered through
    FreeSWITCH, the call bridged by it) is listed by the live meetings API as a "p2p"
    meeting with its two members while the call is up, filtered by kind, and is gone
    once it hangs up; it is no conference, so it cannot be moderated."""
    for account in ("3010", "3011"):
        if account not in box.__dict__["passwords"]:
            create_account(box, account)
    caller, callee = terminal(box, "3010", "p2p"), terminal(box, "3011", "p2p")
    done = callee.register()
    assert done.returncode == 0, outcome(done, callee, "register-200")
    answering = callee.answer(echo=False)
    time.sleep(0.5)
    call = subprocess.Popen(caller.argv("call-3011", call_scenario("3011", 200, 60000,
                                                                   media=False)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=caller.folder)
    try:
        def p2p() -> list[dict[str, Any]]:
            return [m for m in live(box).values() if m["kind"] == "p2p"]
        [item] = wait_for(p2p, what="the point-to-point call on the live meetings API")
        assert answering.poll() is None and call.poll() is None, "a side hung up early"
        assert [(m["account"], m["name"]) for m in item["members"]] == [
            ("3010", "User 3010"), ("3011", "User 3011")], item
        assert (item["organizer"], item["organizer_name"], item["locked"]) == (
            "3010", "User 3010", False)
        assert item["id"] == channel_of(box, "3010", "3011")  # the caller's leg
        assert item["duration_s"] >= 0 and item["start_time"]
        assert set(live(box, kind="p2p")) == {item["id"]}
        assert item["id"] not in live(box, kind="vmr")
        assert item["id"] in live(box, search="3010")
        res = box.admin.post(f"/api/v1/meetings/live/{item['id']}/lock")
        assert res.status_code == 404, res.text
        hang_up(box, "3010")
        wait_for(lambda: not p2p(), what="the call gone from the live meetings API")
        answering.wait(timeout=30)
        assert answering.returncode == 0, outcome(answering, callee, "answer")
    finally:
        hang_up(box, "3010")  # FreeSWITCH's legs too, when an assert left the call up
        for proc in (call, answering):
            if proc.poll() is None:
                proc.kill()
            proc.communicate()


def test_a_password_is_prompted_unless_dialled_with_the_id(box: Box) -> None:
    room = meeting(box, subject="Locked", password="4321")
    with calling(box, "3001", f"{room['id']}**4321"):
        wait_for(lambda: members(box, room["id"]) == ["3001"], what="right pin joins")
    with calling(box, "3002", room["id"]):
        uuid = wait_for(lambda: channel_of(box, "3002", room["id"]), what="3002 calling")
        wait_playing(box, uuid, "ivr/enter-password.wav")
        box.esl.api(f"uuid_recv_dtmf {uuid} 4321#")
        wait_for(lambda: members(box, room["id"]) == ["3002"], what="pin typed joins")
    with calling(box, "3003", f"{room['id']}**1111") as caller:
        uuid = wait_for(lambda: channel_of(box, "3003", f"{room['id']}**1111"),
                        what="3003 calling")
        for n in range(1, 4):  # each prompt gets a wrong password
            wait_for(lambda n=n: len([p for p in played(box, uuid)
                                      if p.endswith("ivr/enter-password.wav")]) == n)
            time.sleep(0.3)
            box.esl.api(f"uuid_recv_dtmf {uuid} 9999#")
        wait_playing(box, uuid, "ivr/goodbye.wav")
        assert members(box, room["id"]) == []
        caller.wait(timeout=30)  # FreeSWITCH hung up: SIPp's BYE got no answer
    assert len([p for p in played(box, uuid) if p.endswith("ivr/wrong-password.wav")]) >= 3


# -- the IVR access number and Meet Now ---------------------------------------------------

def test_the_ivr_asks_for_the_id_then_the_password_and_joins(box: Box) -> None:
    room = meeting(box, subject="Through the IVR", password="2468")
    with calling(box, "3004", IVR):
        uuid = wait_for(lambda: channel_of(box, "3004", IVR), what="3004 calling")
        wait_playing(box, uuid, "ivr/welcome.wav")
        wait_playing(box, uuid, "ivr/enter-meeting-id.wav")
        box.esl.api(f"uuid_recv_dtmf {uuid} 12#")  # not a meeting: asked again
        wait_playing(box, uuid, "ivr/invalid-meeting-id.wav")
        wait_for(lambda: len([p for p in played(box, uuid)
                              if p.endswith("ivr/enter-meeting-id.wav")]) == 2)
        box.esl.api(f"uuid_recv_dtmf {uuid} {room['id']}#")
        wait_playing(box, uuid, "ivr/enter-password.wav")
        box.esl.api(f"uuid_recv_dtmf {uuid} 2468#")
        wait_for(lambda: members(box, room["id"]) == ["3004"], what="joined by the IVR")


def test_the_ivr_gives_up_after_three_wrong_ids(box: Box) -> None:
    with calling(box, "3005", IVR) as caller:
        uuid = wait_for(lambda: channel_of(box, "3005", IVR), what="3005 calling")
        for n in range(1, 4):
            wait_for(lambda n=n: len([p for p in played(box, uuid)
                                      if p.endswith("ivr/enter-meeting-id.wav")]) == n)
            time.sleep(0.3)
            box.esl.api(f"uuid_recv_dtmf {uuid} 99#")
        wait_playing(box, uuid, "ivr/goodbye.wav")
        caller.wait(timeout=30)
    assert len([p for p in played(box, uuid) if p.endswith("ivr/invalid-meeting-id.wav")]) == 3


def test_meet_now_starts_an_instant_meeting_and_speaks_its_id(box: Box) -> None:
    with calling(box, "3006", MEET_NOW):
        uuid = wait_for(lambda: channel_of(box, "3006", MEET_NOW), what="3006 calling")
        wait_playing(box, uuid, "ivr/your-meeting-id.wav")
        instant = wait_for(lambda: box.admin.get(
            "/api/v1/meetings", params={"kind": "instant"}).json()["items"])
        [item] = instant
        assert item["organizer"] == "3006" and item["kind"] == "instant"
        wait_for(lambda: members(box, item["id"]) == ["3006"], what="in its own meeting")
        # Its ID was spoken digit by digit (mod_say with vcbox's digit prompts).
        digits = [Path(p).stem for p in played(box, uuid) if "/digits/" in p]
        assert "".join(digits) == item["id"], played(box, uuid)
        # Another caller joins it by its ID.
        with calling(box, "3007", item["id"]):
            wait_for(lambda: members(box, item["id"]) == ["3006", "3007"])
    # The conference ends with its last member: the instant meeting is gone.
    wait_for(lambda: not box.admin.get("/api/v1/meetings", params={"kind": "instant"}
                                       ).json()["items"], what="instant meeting removed")


# -- scheduled meetings ------------------------------------------------------------------

def test_a_scheduled_meeting_admits_callers_from_early_join_on(box: Box) -> None:
    early = box.admin.get("/api/v1/settings/call").json()["early_join_min"]
    # Start times with an offset: vcbox stores them in the appliance's local time.
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    later = meeting(box, kind="scheduled", subject="Later", start=(
        now + dt.timedelta(minutes=early + 30)).isoformat(), duration_min=30)
    soon = meeting(box, kind="scheduled", subject="Soon", start=(
        now + dt.timedelta(minutes=early - 2)).isoformat(), duration_min=30)
    with calling(box, "3001", later["id"]) as caller:
        uuid = wait_for(lambda: channel_of(box, "3001", later["id"]))
        wait_playing(box, uuid, "ivr/not-started.wav")
        wait_playing(box, uuid, "ivr/goodbye.wav")
        caller.wait(timeout=30)
    assert members(box, later["id"]) == []
    with calling(box, "3002", soon["id"]):
        wait_for(lambda: members(box, soon["id"]) == ["3002"], what="early join")


# -- the mixer follows the call settings -------------------------------------------------

def canvas_size(box: Box, conference: str) -> tuple[int, int]:
    """The mixed picture's size, from a PNG FreeSWITCH writes of its canvas."""
    path = box.folder / f"canvas-{conference}-{time.monotonic_ns()}.png"
    assert box.esl.api(f"conference {conference} vid-write-png {path}").startswith("+OK")
    data = wait_for(lambda: path.exists() and path.stat().st_size > 24 and path.read_bytes(),
                    what="canvas PNG written")
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_the_video_resolution_sets_the_next_meetings_canvas(box: Box) -> None:
    """C1: the canvas of a meeting is made at its start from the call settings; a change
    applies to meetings that start after it (a running one keeps its canvas)."""
    before = box.admin.get("/api/v1/settings/call").json()
    first, second = meeting(box, subject="Canvas A"), meeting(box, subject="Canvas B")
    try:
        with calling(box, "3001", first["id"]):
            wait_for(lambda: members(box, first["id"]) == ["3001"])
            assert canvas_size(box, first["id"]) == (1280, 720)  # 720P/30FPS, the default
            settings_put(box, "call", {"max_video_resolution": "360p30"})
            with calling(box, "3002", second["id"]):
                wait_for(lambda: members(box, second["id"]) == ["3002"])
                assert canvas_size(box, second["id"]) == (640, 360)
                assert canvas_size(box, first["id"]) == (1280, 720)  # still running
    finally:
        settings_put(box, "call", {"max_video_resolution": before["max_video_resolution"]})


def test_the_prompts_are_in_the_ivr_language_of_the_next_call(box: Box) -> None:
    """C5: zh by default; after the change to en the next caller hears the English files
    (the file paths FreeSWITCH reports in PLAYBACK_START)."""
    heard: dict[str, list[str]] = {}
    try:
        for language, account in (("zh", "3001"), ("en", "3002")):
            settings_put(box, "call", {"ivr_language": language})
            with calling(box, account, IVR):
                uuid = wait_for(lambda account=account: channel_of(box, account, IVR))
                wait_playing(box, uuid, "ivr/enter-meeting-id.wav")
                heard[language] = played(box, uuid)
    finally:
        settings_put(box, "call", {"ivr_language": "zh"})
    for language, paths in heard.items():
        assert paths and all(f"/vcbox/{language}/ivr/" in p for p in paths), paths


def test_the_video_rooms_of_a_scheduled_meeting_are_called_at_its_start(box: Box) -> None:
    """A meeting under way with a video room: the control plane calls the room's bound
    account within its check interval; the room's terminal answers and is a member."""
    res = box.admin.post("/api/v1/rooms", json={"name": "Room 3007", "kind": "video",
                                                "bound_account": "3007"})
    assert res.status_code == 200, res.text
    room = res.json()
    device = terminal(box, "3007", "room")
    done = device.register()
    assert done.returncode == 0, outcome(done, device, "register-200")
    answering = device.answer()
    try:
        now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
        booked = meeting(box, kind="scheduled", subject="Room call", start=now.isoformat(),
                         duration_min=30, rooms=[room["id"]])
        text = wait_for(lambda: "/3007@" in member_channels(box, booked["id"]),
                        timeout=CALL_OUT_CHECK_S + 15, what="the room was called")
        assert text
        box.esl.api(f"conference {booked['id']} hup all")
        answering.wait(timeout=20)
        assert answering.returncode == 0, outcome(answering, device, "answer")
    finally:
        if answering.poll() is None:
            answering.kill()
        answering.communicate()


def member_channels(box: Box, conference: str) -> str:
    return " ".join(fields[1] for fields in listing(box, conference))


def test_over_the_licensed_concurrency_a_caller_joins_audio_only(box: Box) -> None:
    """L4 with a 2-call license: FreeSWITCH counts the calls; the third participant hears
    that it joins with audio only and its answer offers no video."""
    activate(box.admin, box.keys, serial="TEST-TWO", concurrency=2)
    room = meeting(box, subject="Two calls")
    try:
        with calling(box, "3001", room["id"]), calling(box, "3002", room["id"]):
            wait_for(lambda: members(box, room["id"]) == ["3001", "3002"])
            with calling(box, "3003", room["id"]):
                wait_for(lambda: members(box, room["id"]) == ["3001", "3002", "3003"])
                # FreeSWITCH's limit sent it to the audio-only join ("a<dialled>")
                third = channel_of(box, "3003", "a" + room["id"])
                wait_playing(box, third, "ivr/audio-only.wav")
                assert box.esl.api(f"uuid_getvar {third} vcbox_audio_only").strip() == "true"
            firsts = [channel_of(box, a, room["id"]) for a in ("3001", "3002")]
            assert not any(p.endswith("ivr/audio-only.wav") for u in firsts
                           for p in played(box, u))
    finally:
        activate(box.admin, box.keys)


def test_without_a_valid_license_a_caller_hears_it_is_not_licensed(box: Box) -> None:
    """L4: once the license has expired, a caller dialling a meeting hears that the
    service is not licensed (then goodbye) and is hung up; no conference starts.

    The license expires by the appliance's own clock: valid until today in UTC-11, then
    the time zone moves to UTC+13 (always the next day there; the host clock untouched)."""
    room = meeting(box, subject="Unlicensed")
    before = box.admin.get("/api/v1/settings/time").json()
    today_west = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=11)).date()
    try:
        settings_put(box, "time", {**before, "timezone": "Etc/GMT+11", "dst": "off"})
        activate(box.admin, box.keys, serial="TEST-ENDS-TODAY", valid_from=today_west
                 - dt.timedelta(days=30), expires=today_west)
        settings_put(box, "time", {**before, "timezone": "Pacific/Tongatapu", "dst": "off"})
        assert box.admin.get("/api/v1/license").json()["status"] == "expired"
        # The caller would talk for a minute: FreeSWITCH hangs up long before.
        with calling(box, "3001", room["id"], talk_ms=60000):
            uuid = wait_for(lambda: channel_of(box, "3001", room["id"]), what="the call")
            wait_playing(box, uuid, "ivr/not-licensed.wav")
            wait_playing(box, uuid, "ivr/goodbye.wav")
            wait_for(lambda: not channel_of(box, "3001", room["id"]), timeout=20,
                     what="FreeSWITCH hung up after goodbye")
            assert not listing(box, room["id"])
        assert not [e for e in box.conference_events
                    if e.get("Conference-Name") == room["id"]]
    finally:
        settings_put(box, "time", before)
        activate(box.admin, box.keys)


# -- video members: layouts, polling, audio-only answers -----------------------------------

def hex_color(index: int) -> str:
    r, g, b = PALETTE[index]
    return f"0x{r:02x}{g:02x}{b:02x}"


@contextmanager
def video_callers(box: Box, number: str, count: int, first: int = 0, talk_ms: int = 90000
                  ) -> Iterator[list[Terminal]]:
    """count video terminals (accounts 31xx, colours PALETTE[first:first+count]) dialling
    number through the live dialplan; hung up from FreeSWITCH's side at the end."""
    with ThreadPoolExecutor(4) as pool:  # the captures, made (or found) beforehand
        list(pool.map(lambda n: media.video_pcap(talk_ms / 1000 + 1, color=hex_color(n),
                                                 fps=5), range(first, first + count)))
    devices, procs = [], []
    try:
        for n in range(first, first + count):
            account = f"31{n:02d}"
            if account not in box.__dict__["passwords"]:
                create_account(box, account)
            device = Terminal(box.folder / f"v{account}", account,
                              box.__dict__["passwords"][account],
                              box.admin.get("/api/v1/settings/network").json()["domain"],
                              sip_port=5700 + n, media_port=22000 + 10 * n, timeout_s=60)
            procs.append(device.video_call(number, talk_ms=talk_ms, wait=False,
                                           color=hex_color(n), fps=5))
            devices.append(device)
            time.sleep(0.15)  # in order: slots go by join order
        yield devices
    finally:
        for device in devices:
            hang_up(box, device.account)
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()


def on_screen(box: Box, conference: str) -> dict[int, int]:
    """While polling: member id -> its slot (the reservation ids in `conference list`)."""
    return reservations(parse_list(box.esl.api(f"conference {conference} list")))


def video_members(box: Box, conference: str) -> int:
    try:
        listing = box.esl.api(f"conference {conference} json_list")
    except EslReplyError:
        return 0
    return listing.count('"has_video":\ttrue')


def test_three_video_members_show_in_the_configured_layout(box: Box) -> None:
    """C3: a meeting starts with the call settings' equal layout: three members fill three
    slots of a 2x2; after changing the setting to 3x3 the next meeting has a 3x3."""
    before = box.admin.get("/api/v1/settings/call").json()["equal_layout"]
    try:
        for layout in ("2x2", "3x3"):
            settings_put(box, "call", {"equal_layout": layout})
            room = meeting(box, subject=f"Layout {layout}")
            with video_callers(box, room["id"], 3, talk_ms=30000):
                wait_for(lambda room=room: video_members(box, room["id"]) == 3)
                cells = 4 if layout == "2x2" else 9
                seen = wait_canvas(box.esl, room["id"], layout, box.folder,
                                   lambda s: sorted(v for v in s.values() if v is not None)
                                   == [0, 1, 2])
                assert len(seen) == cells and sorted(
                    v for v in seen.values() if v is not None) == [0, 1, 2], seen
                assert list(seen.values()).count(None) == cells - 3
    finally:
        settings_put(box, "call", {"equal_layout": before})


def test_twenty_members_of_a_4x4_meeting_rotate_on_the_polling_interval(box: Box) -> None:
    """C3 through the control plane's own poller: 20 video callers dial a meeting with
    the 4x4 layout; every polling_interval_s (5 s, the shortest the settings allow) the
    members on screen change, as `conference <id> list` shows (each shown member's
    reservation id is its slot); when members drop to 16, polling ends."""
    settings_put(box, "call", {"equal_layout": "4x4", "polling_interval_s": 5,
                               "polling_rule": "all"})
    room = meeting(box, subject="Polling")
    try:
        with video_callers(box, room["id"], 20, talk_ms=90000) as devices:
            wait_for(lambda: video_members(box, room["id"]) == 20, timeout=40,
                     what="20 video members")

            def shown() -> dict[int, int]:
                return on_screen(box, room["id"])

            windows: list[dict[int, int]] = []
            times: list[float] = []
            first = wait_for(lambda: len(shown()) == 16 and shown(), timeout=20,
                             what="polling started")
            windows.append(first)
            times.append(time.monotonic())
            for _ in range(2):
                nxt = wait_for(lambda: (s := shown()) and len(s) == 16 and
                               set(s) != set(windows[-1]) and s, timeout=12,
                               what="the next window")
                windows.append(nxt)
                times.append(time.monotonic())
            for a, b in zip(windows, windows[1:], strict=False):
                assert len(set(b) - set(a)) == 4  # the 4 waiting come on screen
                assert sorted(b.values()) == list(range(1, 17))  # one member a slot
            assert all(3.5 < b - a < 8 for a, b in zip(times, times[1:], strict=False)), times
            # Four leave: the 16 left fit, polling ends, no reservations are left.
            for device in devices[:4]:
                box.esl.api(f"uuid_kill {channel_of(box, device.account, room['id'])}")
            wait_for(lambda: video_members(box, room["id"]) == 16)
            wait_for(lambda: not shown(), timeout=12, what="polling ended")
    finally:
        settings_put(box, "call", {"polling_interval_s": 10})


def test_a_one_plus_n_meeting_polls_over_the_settings_1_plus_5(box: Box) -> None:
    """C3 for a meeting whose layout is 1+N: it takes the call settings' 1+N layout (1+5:
    six slots, the first large); with 8 video members the poller shows six at a time,
    one a slot (reservation ids p1..p6 of the 1+5's -poll variant), and every interval
    the two waiting come on screen."""
    settings_put(box, "call", {"one_plus_n_layout": "1+5", "polling_interval_s": 5,
                               "polling_rule": "all"})
    room = meeting(box, subject="One plus five", layout="1+n")
    try:
        with video_callers(box, room["id"], 8, talk_ms=60000):
            wait_for(lambda: video_members(box, room["id"]) == 8, timeout=40,
                     what="8 video members")

            def shown() -> dict[int, int]:
                return on_screen(box, room["id"])

            first = wait_for(lambda: len(shown()) == 6 and shown(), timeout=20,
                             what="polling started")
            nxt = wait_for(lambda: (s := shown()) and len(s) == 6 and set(s) != set(first)
                           and s, timeout=12, what="the next window")
            assert sorted(first.values()) == sorted(nxt.values()) == list(range(1, 7))
            assert len(set(nxt) - set(first)) == 2, (first, nxt)
    finally:
        settings_put(box, "call", {"polling_interval_s": 10})


def test_with_a_two_call_license_the_third_answer_carries_no_video(box: Box) -> None:
    """L4: the first two video callers' answers offer video; the third's answer has
    its video stream refused (port 0) or left out."""
    activate(box.admin, box.keys, serial="TEST-TWO-VIDEO", concurrency=2)
    room = meeting(box, subject="Two video calls")
    try:
        with video_callers(box, room["id"], 2, first=20, talk_ms=20000) as two:
            wait_for(lambda: video_members(box, room["id"]) == 2, what="two video members")
            with video_callers(box, room["id"], 1, first=22, talk_ms=20000) as [third]:
                wait_for(lambda: len(members(box, room["id"])) == 3, what="three members")
                answers = [answer_sdp(d.trace(f"video-call-{room['id']}"))
                           for d in (*two, third)]
                assert all(answers), answers
                video = [[m for m in parse_sdp(a or "") if m.kind == "video"] for a in answers]
                assert video[0] and video[1], answers
                assert video[0][0].port > 0 and video[1][0].port > 0
                assert not video[2] or video[2][0].port == 0, answers[2]
                assert video_members(box, room["id"]) == 2
    finally:
        activate(box.admin, box.keys)
