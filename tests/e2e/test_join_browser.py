"""Joining a meeting from a browser (issue 14 item 4, SPEC Q3 /join/<id>), end to end on the
real components the control plane runs: FreeSWITCH (the mux conference), Janus (its SIP
plugin calls the meeting through the loopback profile vcbox_web with the join token) and
coturn (TURN REST credentials minted by the join API), with Debian's Chromium on fake
camera and microphone devices and a SIPp video terminal.

- Two Chromium participants (a guest with the meeting password, the signed-in
  administrator) and one SIP terminal are members of the same FreeSWITCH conference (its
  `conference <id> json_list` over ESL), and each browser's RTCPeerConnection.getStats()
  shows inbound video bytes growing (the mixed picture arrives).
- With ICE forced through the relay (iceTransportPolicy "relay", the page's ?ice=relay)
  the join works through coturn with the minted credentials (the selected pair's local
  candidate is a relay one, coturn lists the allocation), and fails with wrong ones (the
  join API's answer altered in flight: no media, the page says ICE failed).

Network: ICE needs an address that is not a loopback one (neither Janus nor Chromium
gathers loopback candidates). The module moves itself into a network namespace of its own
(unshare(CLONE_NEWNET) of the test process, back at the end) with a veth pair, the media
address MEDIA_IP on one end: FreeSWITCH, Janus and coturn bind it; the control plane and
the services, started from this process, run in that namespace, and Chromium is started
into it through nsenter (Playwright's driver stays where it was). Nothing changes on the
host's own network, and the fixed ports (SIP 5060/5061/5066, ESL 8021, directory 8089,
Janus 8088/7088, TURN 3478/5349/5766) are this namespace's own.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Playwright, Route

from controlplane.drivers.coturn import parse_users
from controlplane.drivers.esl import Esl, EslReplyError
from controlplane.drivers.processes import coturn_cli, freeswitch_esl
from tests.components import locate, require
from tests.conftest import Client, Server, configured_server
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.freeswitch_ports import assert_ports_free
from tests.license_keys import activate, make_keys
from tests.sipp import Terminal
from tests.waiting import wait_for

MEDIA_IP = "10.77.0.1"
CLONE_NEWNET = 0x40000000
PASSWORD = "2468"
# Media that flows shows within seconds; ICE through a refusing relay fails within the
# page's own ICE timeout (join.js ICE_TIMEOUT_MS, 20 s).
MEDIA_S = 30
SHOTS = Path(os.environ.get("VCBOX_SHOTS", "/tmp/vcbox-shots"))

STATS = """async () => {
  const pc = window.vcboxJoin && window.vcboxJoin.pc();
  if (!pc) return null;
  const stats = await pc.getStats();
  const out = {video: 0, audio: 0, frames: 0, sent: 0, local: null, remote: null,
               ice: pc.iceConnectionState};
  stats.forEach((r) => {
    if (r.type === "inbound-rtp" && r.kind === "video") {
      out.video += r.bytesReceived || 0; out.frames += r.framesDecoded || 0; }
    if (r.type === "inbound-rtp" && r.kind === "audio") out.audio += r.bytesReceived || 0;
    if (r.type === "outbound-rtp" && r.kind === "video") out.sent += r.bytesSent || 0;
    if (r.type === "transport" && r.selectedCandidatePairId) {
      const pair = stats.get(r.selectedCandidatePairId);
      if (pair) {
        out.local = (stats.get(pair.localCandidateId) || {}).candidateType || null;
        out.remote = (stats.get(pair.remoteCandidateId) || {}).candidateType || null;
      }
    }
  });
  return out;
}"""


# -- a network of the test's own -----------------------------------------------------------

@contextlib.contextmanager
def own_network() -> Iterator[None]:
    """This thread (the main one, which starts every process of the test) in a fresh
    network namespace with loopback up and MEDIA_IP on a veth; back where it was after."""
    libc = ctypes.CDLL(None, use_errno=True)
    original = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    if libc.unshare(CLONE_NEWNET) != 0:
        os.close(original)
        pytest.fail(f"unshare(CLONE_NEWNET): {os.strerror(ctypes.get_errno())} (the browser "
                    "join test needs CAP_SYS_ADMIN for a network namespace of its own)")
    try:
        for argv in (["link", "set", "lo", "up"],
                     ["link", "add", "vcmedia0", "type", "veth", "peer", "name", "vcmedia1"],
                     ["addr", "add", f"{MEDIA_IP}/24", "dev", "vcmedia0"],
                     ["link", "set", "vcmedia0", "up"], ["link", "set", "vcmedia1", "up"]):
            subprocess.run([locate("ip"), *argv], check=True, capture_output=True, timeout=10)
        yield
    finally:
        libc.setns(original, CLONE_NEWNET)
        os.close(original)


def chromium_here(folder: Path) -> Path:
    """A Chromium that starts in this process's network namespace, whoever starts it."""
    wrapper = folder / "chromium-in-netns"
    wrapper.write_text("#!/bin/sh\n"
                       f"exec {locate('nsenter')} --net=/proc/{os.getpid()}/ns/net -- "
                       f'{CHROMIUM} "$@"\n')
    wrapper.chmod(0o755)
    return wrapper


# -- the box ---------------------------------------------------------------------------------

@dataclass
class Box:
    server: Server
    admin: Client
    esl: Esl
    browser: Browser
    folder: Path
    meeting: dict[str, Any]
    passwords: dict[str, str]

    @property
    def root(self) -> Path:
        return self.server.data / "root"


@pytest.fixture(scope="module")
def box(playwright: Playwright, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Box]:
    require("freeswitch", "janus", "janus-sofia", "turnserver", "sipp", "ip", "nsenter", "ffmpeg")
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/setup.sh (installs Debian chromium)")
    folder = tmp_path_factory.mktemp("join")
    keys = make_keys(folder)
    with own_network():
        assert_ports_free()
        with configured_server(folder, VCBOX_LOCAL_SERVICES="freeswitch,janus,coturn",
                               VCBOX_DIRECTORY_PORT="8089", VCBOX_MEDIA_IP=MEDIA_IP,
                               **keys.env) as srv:
            admin = srv.client()
            admin.cookies.set("vcbox_lang", "en")
            assert admin.login().status_code == 200
            activate(admin, keys)
            root = srv.data / "root"
            esl = freeswitch_esl(root, timeout=5.0)
            wait_for(lambda: _profile_up(esl), 60, "FreeSWITCH's vcbox_web profile runs")
            browser = playwright.chromium.launch(
                executable_path=str(chromium_here(folder)), headless=True,
                args=[*CHROMIUM_ARGS, "--use-fake-device-for-media-stream",
                      "--use-fake-ui-for-media-stream", "--autoplay-policy="
                      "no-user-gesture-required"])
            try:
                passwords = {}
                for account in ("3001", "3002"):
                    res = admin.post("/api/v1/accounts", json={
                        "name": f"User {account}", "account": account,
                        "email": f"u{account}@example.com"})
                    assert res.status_code == 201, res.text
                    passwords[account] = res.json()["password"]
                res = admin.post("/api/v1/meetings", json={
                    "kind": "vmr", "subject": "Design review 设计评审", "organizer": "3001",
                    "password": PASSWORD, "allow_guests": True})
                assert res.status_code == 201, res.text
                yield Box(srv, admin, esl, browser, folder, res.json(), passwords)
            finally:
                browser.close()
                esl.close()


def _profile_up(esl: Esl) -> bool:
    try:
        status = esl.api("sofia status")
    except Exception:  # noqa: BLE001 -- not up yet
        return False
    return "vcbox_web" in status and "RUNNING" in status.split("vcbox_web", 1)[1][:200]


@pytest.fixture(autouse=True)
def nobody_left(box: Box) -> Iterator[None]:
    yield
    wait_for(lambda: not members(box), 30, "everyone left the meeting")


def members(box: Box) -> list[dict[str, Any]]:
    try:
        listing = json.loads(box.esl.api(f"conference {box.meeting['id']} json_list"))
    except (EslReplyError, ValueError):
        return []
    return [m for conf in listing for m in conf.get("members", [])
            if m.get("type") == "caller"]


# -- the browser side ------------------------------------------------------------------------

@contextlib.contextmanager
def participant(box: Box, admin: bool = False, lang: str = "zh-CN") -> Iterator[Page]:
    context = box.browser.new_context(viewport={"width": 1280, "height": 800}, locale=lang)
    context.set_default_timeout(15_000)
    # the page's language is the appliance's (zh-CN) unless the person chose one
    context.add_cookies([{"name": "vcbox_lang", "value": lang, "url": box.server.url}])
    if admin:
        context.add_cookies([{"name": c.name, "value": c.value or "", "url": box.server.url}
                             for c in box.admin.cookies if c.name != "vcbox_lang"])
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield page
    finally:
        with contextlib.suppress(Exception):
            if page.evaluate("window.vcboxJoin && window.vcboxJoin.state") == "connected":
                page.click("#btn-leave")
                page.wait_for_function("window.vcboxJoin.state === 'ended'")
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def open_join(box: Box, page: Page, query: str = "") -> None:
    page.goto(f"{box.server.url}/join/{box.meeting['id']}{query}")
    # the camera preview runs (fake device)
    page.wait_for_function("document.getElementById('preview').videoWidth > 0")


def join(page: Page, name: str | None = None, password: str | None = None) -> None:
    if name is not None:
        page.fill("#join-name", name)
    if password is not None:
        page.fill("#join-password", password)
    page.click("#join-submit")


def connected(page: Page) -> None:
    page.wait_for_function("window.vcboxJoin.state === 'connected' || window.vcboxJoin.error",
                           timeout=MEDIA_S * 1000)
    assert page.evaluate("window.vcboxJoin.state") == "connected", \
        page.evaluate("window.vcboxJoin.error")


def stats(page: Page) -> dict[str, Any]:
    return page.evaluate(STATS) or {}


def video_grows(page: Page) -> dict[str, Any]:
    """Inbound video bytes of the page's peer connection grow (and frames are decoded)."""
    first = wait_for(lambda: (s := stats(page)).get("video", 0) > 0 and s, MEDIA_S,
                     "inbound video bytes")
    time.sleep(2)
    later = wait_for(lambda: (s := stats(page))["video"] > first["video"] and s, MEDIA_S,
                     "inbound video bytes grow")
    wait_for(lambda: stats(page)["frames"] > 0, MEDIA_S, "video frames decoded")
    return later


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"join-{name}.png"))


def sip_terminal(box: Box, account: str) -> Terminal:
    domain = box.admin.get("/api/v1/settings/network").json()["domain"]
    return Terminal(box.folder / f"t{account}", account, box.passwords[account], domain,
                    server=f"{MEDIA_IP}:5060", timeout_s=90)


# -- the tests -------------------------------------------------------------------------------

def test_two_browsers_and_a_sip_terminal_meet_in_one_conference(box: Box) -> None:
    meeting_id = box.meeting["id"]
    terminal = sip_terminal(box, "3001")
    sip = terminal.video_call(f"{meeting_id}**{PASSWORD}", talk_ms=75_000, wait=False)
    try:
        wait_for(lambda: len(members(box)) == 1, 30, "the SIP terminal joined")
        with participant(box) as guest, participant(box, admin=True) as chair:
            open_join(box, guest)
            shot(guest, "lobby")
            join(guest, "Alice 访客", PASSWORD)
            open_join(box, chair)
            # the signed-in administrator needs no password; the name is theirs
            assert chair.locator("#join-password").count() == 0
            assert chair.input_value("#join-name") == "admin"
            join(chair)
            connected(guest)
            connected(chair)

            people = wait_for(lambda: len(m := members(box)) == 3 and m, 30,
                              "three members in the conference")
            names = sorted(m["caller_id_name"] for m in people)
            numbers = sorted(m["caller_id_number"] for m in people)
            assert "Alice 访客" in names and "admin" in names, names
            assert numbers == ["3001", "web", "web"], numbers
            assert all(m["flags"]["has_video"] for m in people), people

            for page in (guest, chair):
                grown = video_grows(page)
                assert grown["audio"] > 0 and grown["sent"] > 0, grown
            chair.wait_for_selector("#remote-wait", state="hidden")
            time.sleep(1)
            shot(guest, "call-guest")
            shot(chair, "call-admin")

            # the controls: mute and camera off are what the buttons say
            guest.click("#btn-mic")
            assert guest.get_attribute("#btn-mic", "aria-pressed") == "true"
            guest.click("#btn-cam")
            assert guest.get_attribute("#btn-cam", "aria-pressed") == "true"
            shot(guest, "call-muted")
            guest.click("#btn-leave")
            guest.wait_for_function("window.vcboxJoin.state === 'ended'")
            wait_for(lambda: len(members(box)) == 2, 30, "the guest left the conference")
            shot(guest, "left")
    finally:
        with contextlib.suppress(EslReplyError):
            box.esl.api(f"conference {meeting_id} hup all")
        if sip.poll() is None:
            sip.kill()
        sip.communicate()


def turn_users(box: Box) -> dict[str, int]:
    return parse_users(coturn_cli(box.root).command("pu"))


def test_a_join_through_the_turn_relay_with_minted_credentials(box: Box) -> None:
    with participant(box, lang="en") as page:
        open_join(box, page, "?ice=relay")
        join(page, "Relayed Rita", PASSWORD)
        connected(page)
        grown = video_grows(page)
        assert grown["local"] == "relay", grown
        users = wait_for(lambda: {u: n for u, n in turn_users(box).items()
                                  if u.endswith(":join-web")}, 10, "coturn's allocation")
        assert users, turn_users(box)
        [member] = wait_for(lambda: members(box), 10, "the relayed browser in the conference")
        assert member["caller_id_name"] == "Relayed Rita"
        shot(page, "call-relay")


def test_a_relayed_join_with_wrong_turn_credentials_fails(box: Box) -> None:
    def wrong_credentials(route: Route) -> None:
        # The join API asked from this process (Playwright's driver, which route.fetch()
        # would use, runs outside the test's network namespace), its answer altered.
        guest = box.server.client()
        res = guest.post(route.request.url, data=route.request.post_data,
                         headers={"Content-Type": "application/json",
                                  "Origin": box.server.url})
        assert res.status_code == 200, res.text
        body = res.json()
        for server in body.get("ice_servers", []):
            server["credential"] = "not-the-minted-password"
        route.fulfill(status=200, json=body)

    with participant(box, lang="en") as page:
        page.route("**/api/v1/join/*", wrong_credentials)
        open_join(box, page, "?ice=relay")
        join(page, "Wrong Credentials", PASSWORD)
        page.wait_for_function("window.vcboxJoin.state === 'ended'", timeout=40_000)
        message = page.evaluate("window.vcboxJoin.error")
        assert "ICE" in message, message
        assert page.inner_text("#ended-title") == message
        shot(page, "ice-failed")
    assert not members(box)


def test_the_page_says_what_is_wrong(box: Box) -> None:
    with participant(box, lang="en") as page:
        open_join(box, page)
        join(page, "Mallory", "0000")
        feedback = page.locator("#join-password + .invalid-feedback")
        feedback.wait_for()
        assert "Wrong meeting password" in feedback.inner_text()
        shot(page, "wrong-password")
    # a meeting that does not exist
    with participant(box, lang="en") as page:
        res = page.goto(f"{box.server.url}/join/99999999")
        assert res is not None and res.status == 404
        assert "no such meeting" in page.inner_text("#join-missing").lower()
        shot(page, "missing")
    # a scheduled meeting tomorrow has not started: the join says when it opens
    import datetime as dt

    start = (dt.datetime.now() + dt.timedelta(days=1)).replace(second=0, microsecond=0)
    res = box.admin.post("/api/v1/meetings", json={
        "kind": "scheduled", "subject": "Tomorrow", "organizer": "3001",
        "start": start.isoformat(timespec="minutes"), "duration_min": 30,
        "allow_guests": True})
    assert res.status_code == 201, res.text
    with participant(box) as page:
        page.goto(f"{box.server.url}/join/{res.json()['id']}")
        page.wait_for_function("document.getElementById('preview').videoWidth > 0")
        join(page, "早到的人")
        alert = page.locator("#join-error")
        alert.wait_for()
        assert "会议尚未开始" in alert.inner_text(), alert.inner_text()
        shot(page, "not-started")
    # the camera refused by the person (the browser's NotAllowedError)
    with participant(box, lang="en") as page:
        page.add_init_script("navigator.mediaDevices.getUserMedia = () => Promise.reject("
                             "new DOMException('Permission denied', 'NotAllowedError'));")
        page.goto(f"{box.server.url}/join/{box.meeting['id']}")
        alert = page.locator("#join-error")
        alert.wait_for()
        assert "access was denied" in alert.inner_text()
        assert page.is_disabled("#join-submit")
        shot(page, "camera-denied")
