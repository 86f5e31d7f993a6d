"""The real FreeSWITCH's video mixer (issue 11): video terminals (tests/sipp.py playing
tests/media.py captures), where members show on the mux canvas, and polling
(controlplane/polling.py, SPEC C3) against it.

What a member sees is read over the event socket with `conference <name>
vid-write-png <file>`: each member terminal sends a plain picture of its own colour, so
the colour at the centre of a slot tells who is in it. FreeSWITCH 1.10 lists no slots
(`json_list`, `xml_list` and `list` give members, their video and the floors); while
polling, `list` shows each member's reservation id among its flags ("res-id:p3"), which
in a -poll layout is its slot.

Members join by `originate sofia/internal/sip:<name>@127.0.0.1:<port>
&conference(<name>@default)` to SIPp terminals that answer with audio and video: a
meeting dialplan is not needed for what the mixer does with them.

FreeSWITCH binds fixed ports on 127.0.0.1 (SIP 5060/5061, ESL 8021, directory 8089):
one module-scoped instance, the tests in order.
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from controlplane.cdr import CdrInbox
from controlplane.drivers.esl import Esl, EslError
from controlplane.drivers.processes import freeswitch_esl
from controlplane.polling import (
    IDLE,
    Poller,
    Rotation,
    cell_count,
    parse_list,
    reservations,
)
from tests import media
from tests.canvas import PALETTE, wait_canvas
from tests.components import require
from tests.freeswitch_ports import assert_ports_free
from tests.license_keys import licensed_server
from tests.sipp import (
    Terminal,
    answer_sdp,
    offer_sdp,
    offered_payload_type,
    outcome,
    parse_sdp,
)


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    require("freeswitch", "sipp", "ffmpeg")
    assert_ports_free()
    folder = tmp_path_factory.mktemp("mixer")
    with licensed_server(folder, VCBOX_LOCAL_SERVICES="freeswitch",
                         VCBOX_DIRECTORY_PORT="8089") as srv:
        yield srv


@pytest.fixture(scope="module")
def esl(box) -> Iterator[Esl]:
    client = freeswitch_esl(box.data / "root", timeout=10.0)
    yield client
    client.close()


def domain(box) -> str:
    client = box.client()
    client.login()
    return client.get("/api/v1/settings/network").json()["domain"]


# -- members -------------------------------------------------------------------------------

@dataclass
class Member:
    """One SIPp video terminal in a conference."""

    index: int
    terminal: Terminal
    proc: subprocess.Popen
    uuid: str = ""
    id: int = 0

    @property
    def color(self) -> tuple[int, int, int]:
        return PALETTE[self.index]


@dataclass
class Conference:
    name: str
    esl: Esl
    folder: Path
    members: list[Member] = field(default_factory=list)

    def by_id(self) -> dict[int, Member]:
        return {m.id: m for m in self.members if m.id}

    def hang_up(self, member: Member) -> None:
        self.esl.api(f"uuid_kill {member.uuid}")
        member.proc.wait(timeout=20)
        member.id = 0

    def close(self) -> None:
        with contextlib.suppress(EslError):
            self.esl.api(f"conference {self.name} hup all")
        for member in self.members:
            try:
                member.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                member.proc.kill()
                member.proc.wait()


def probe_offer(esl: Esl, folder: Path, port: int = 5590) -> str:
    """The SDP of FreeSWITCH's own offers (an originate): a probe call to a terminal
    that answers without media."""
    probe = Terminal(folder / "probe", "probe", "x", "localhost", port, 19990)
    proc = probe.video_answer(talk_s=2, audio=False, video=False)
    try:
        time.sleep(0.3)
        uuid = esl.api(f"originate sofia/internal/sip:probe@127.0.0.1:{port} &park()"
                       ).split()[-1]
        esl.api(f"uuid_kill {uuid}")
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    offer = offer_sdp(probe.trace("video-answer"))
    assert offer, outcome(proc, probe, "video-answer")
    return offer


def join(esl: Esl, folder: Path, name: str, count: int, payload_type: int,
         talk_s: float = 120, base_port: int = 5600, first: int = 0,
         conf: Conference | None = None, speaking: bool = False) -> Conference:
    """count member terminals (colours PALETTE[first:first+count]) called into
    conference name (added to conf), one after the other; their member ids from
    `conference list`. They send no sound, unless speaking (bursts of a tone)."""
    conf = conf or Conference(name, esl, folder)
    colors = [f"0x{r:02x}{g:02x}{b:02x}" for r, g, b in PALETTE[first:first + count]]
    with ThreadPoolExecutor(4) as pool:  # the captures, made (or found) beforehand
        list(pool.map(lambda c: media.video_pcap(talk_s, payload_type=payload_type,
                                                 color=c, fps=5), colors))
    new = []
    for n, color in zip(range(first, first + count), colors, strict=True):
        term = Terminal(folder / f"m{n}", f"m{n}", "x", "localhost", base_port + n,
                        20000 + 10 * n, timeout_s=int(talk_s) + 30)
        proc = term.video_answer(talk_s=talk_s, payload_type=payload_type,
                                 audio=speaking, bursts=speaking, color=color, fps=5)
        new.append(Member(n, term, proc))
    conf.members += new
    time.sleep(0.5)
    for member in new:
        reply = esl.api(f"originate {{origination_caller_id_number=m{member.index}}}"
                        f"sofia/internal/sip:m{member.index}@127.0.0.1:"
                        f"{base_port + member.index} &conference({name}@default)")
        assert reply.startswith("+OK"), reply
        member.uuid = reply.split()[-1]
    deadline = time.monotonic() + 15
    while True:  # the originate answers when the call does; the join follows
        ids = member_ids(esl, name)
        missing = [m.index for m in new if m.uuid not in ids]
        if not missing:
            break
        assert time.monotonic() < deadline, f"members {missing} never joined {name}"
        time.sleep(0.1)
    for member in new:
        member.id = ids[member.uuid]
    return conf


def member_ids(esl: Esl, name: str) -> dict[str, int]:
    """uuid -> member id, from `conference <name> list`."""
    out: dict[str, int] = {}
    try:
        listing = esl.api(f"conference {name} list")
    except EslError:  # no such conference (yet)
        return out
    for line in listing.splitlines():
        parts = line.split(";")
        if len(parts) >= 9 and parts[0].isdigit():
            out[parts[2]] = int(parts[0])
    return out


# -- the tests -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def vp8_pt(esl: Esl, tmp_path_factory: pytest.TempPathFactory) -> int:
    """The payload type FreeSWITCH's offers give VP8 (it numbers dynamic payload types
    itself): the member terminals' captures carry it."""
    offer = probe_offer(esl, tmp_path_factory.mktemp("probe"))
    pt = offered_payload_type(offer, "VP8")
    assert pt is not None, offer
    return pt


def create_account(box, account: str, name: str) -> str:
    client = box.client()
    client.login()
    res = client.post("/api/v1/accounts", json={"name": name, "account": account,
                                                "email": f"u{account}@example.com"})
    assert res.status_code == 201, res.text
    return res.json()["password"]


def cdr_of(box, caller: str, callee: str, timeout: float = 15.0) -> dict[str, Any]:
    inbox = CdrInbox(box.data)
    deadline = time.monotonic() + timeout
    while True:
        for uuid in inbox.uuids():
            variables = (inbox.get(uuid) or {}).get("variables", {})
            if variables.get("sip_from_user") == caller and \
                    variables.get("sip_req_user") == callee:
                return variables
        assert time.monotonic() < deadline, f"no CDR of {caller} → {callee}"
        time.sleep(0.2)


def test_freeswitch_offers_audio_and_video_to_a_video_terminal(esl: Esl, vp8_pt: int,
                                                                tmp_path: Path) -> None:
    """An originate's offer (what a dial-out sends): PCMA among the audio codecs, and
    video in H264 and VP8 with payload types FreeSWITCH numbers itself."""
    kinds = {m.kind: m for m in parse_sdp(probe_offer(esl, tmp_path, port=5591))}
    assert "PCMA" in kinds["audio"].codecs()
    assert {"VP8", "H264"} <= set(kinds["video"].codecs()) and kinds["video"].port > 0
    assert kinds["video"].formats[kinds["video"].codecs().index("VP8")] == str(vp8_pt)


@pytest.mark.parametrize(("codec", "first"), [("VP8", 2610), ("H264", 2620)])
def test_a_video_call_between_two_terminals(box, tmp_path: Path, codec: str, first: int
                                            ) -> None:
    """A video terminal calls an account (the dialplan's bridge): its offer of PCMA and
    video (codec first, the other second) is answered with video in that codec (a port);
    its audio and video reach the callee, whose terminal echoes them, and come back."""
    dom = domain(box)
    a, b = str(first), str(first + 1)
    caller = Terminal(tmp_path / "caller", a, create_account(box, a, "Cam A"), dom,
                      first + 3000, 21000 + 10 * (first - 2610))
    callee = Terminal(tmp_path / "callee", b, create_account(box, b, "Cam B"), dom,
                      first + 3001, 21100 + 10 * (first - 2610))
    done = callee.register()
    assert done.returncode == 0, outcome(done, callee, "register-200")
    # The callee takes the call in the codec too: FreeSWITCH answers the caller late,
    # in the callee's codec where it can (no transcoding).
    answering = callee.video_answer(talk_s=10, codec=codec, audio=False, video=False,
                                    echo=True)
    codecs = (codec, *(c for c in ("VP8", "H264") if c != codec))
    try:
        time.sleep(0.5)
        call = caller.video_call(b, talk_ms=4000, codecs=codecs)
        assert call.returncode == 0, outcome(call, caller, f"video-call-{b}")
        answering.wait(timeout=30)
        assert answering.returncode == 0, outcome(answering, callee, "video-answer")
    finally:
        if answering.poll() is None:
            answering.kill()
            answering.wait()
    answer = {m.kind: m for m in parse_sdp(answer_sdp(caller.trace(f"video-call-{b}")) or "")}
    assert answer["audio"].codecs()[0] == "PCMA"
    assert answer["video"].port != 0 and answer["video"].codecs()[0] == codec
    variables = cdr_of(box, a, b)
    assert variables["rtp_use_video_codec_name"] == codec
    assert int(variables["rtp_video_in_packet_count"]) > 20, variables
    assert int(variables["rtp_video_out_packet_count"]) > 20, variables
    assert int(variables["rtp_audio_in_packet_count"]) > 100, variables
    assert int(variables["rtp_audio_out_packet_count"]) > 100, variables


def test_the_sdp_helpers_read_sipps_message_trace(tmp_path: Path) -> None:
    """answer_sdp / parse_sdp on a trace as SIPp -trace_msg writes it: an answer whose
    video is refused (port 0), as an audio-only answer would give it."""
    trace = tmp_path / "t.msg"
    body = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            "m=audio 30000 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n"
            "m=video 0 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n")
    trace.write_text(
        "----------------------------------------------- 2026-01-01 10:00:00.000000\n"
        "UDP message sent (10 bytes):\n\nINVITE sip:9@x SIP/2.0\nCSeq: 1 INVITE\n\n"
        "v=0\n\n"
        "----------------------------------------------- 2026-01-01 10:00:00.100000\n"
        "UDP message received [99] bytes :\n\nSIP/2.0 200 OK\nCSeq: 2 INVITE\n"
        "Content-Type: application/sdp\n\n" + body + "\n"
        "----------------------------------------------- 2026-01-01 10:00:01.000000\n"
        "UDP message received [20] bytes :\n\nSIP/2.0 200 OK\nCSeq: 3 BYE\n\n\n")
    media = {m.kind: m for m in parse_sdp(answer_sdp(trace) or "")}
    assert media["audio"].port == 30000 and media["audio"].codecs() == ["PCMA"]
    assert media["video"].port == 0 and media["video"].codecs() == ["VP8"]
    assert answer_sdp(tmp_path / "none.msg") is None


@pytest.fixture(scope="module")
def twenty(esl: Esl, vp8_pt: int, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[Conference]:
    """20 video members (PALETTE[0..19]) in the 4x4 meeting "poll20", for the module."""
    conf = join(esl, tmp_path_factory.mktemp("twenty"), "poll20", 20, vp8_pt, talk_s=120)
    yield conf
    conf.close()


def test_a_4x4_with_20_video_members_shows_16_and_4_have_no_slot(esl: Esl,
                                                                 twenty: Conference) -> None:
    """The mixer gives slots as members' video comes up (in join order, unless a
    member's video is late); once all 16 are taken the others have none, and nothing
    says who: the listings name no slots, only the canvas shows them."""
    def full(seen: dict[int, int | None]) -> bool:
        return None not in seen.values() and len(set(seen.values())) == 16
    seen = wait_canvas(esl, twenty.name, "4x4", twenty.folder, full)
    assert full(seen), seen
    hidden = set(range(20)) - set(seen.values())  # type: ignore[arg-type]
    assert len(hidden) == 4
    listing = esl.api(f"conference {twenty.name} json_list")
    assert listing.count('"has_video":\ttrue') == 20
    assert "layer" not in listing.lower() and "res-id" not in esl.api(
        f"conference {twenty.name} list")


class Watch:
    """A Poller whose changes the test sees, with settings it can change."""

    def __init__(self, box, **settings: Any) -> None:
        self.settings = {"polling_interval_s": 3.0, "polling_rule": "all",
                         "equal_layout": "4x4", "one_plus_n_layout": "1+7", **settings}
        self.changes: list[tuple[float, str, Rotation]] = []
        self.event = threading.Condition()
        self.esl = freeswitch_esl(box.data / "root", timeout=10.0)
        self.poller = Poller(self.esl, lambda: self.settings, on_change=self._changed)

    def _changed(self, name: str, rotation: Rotation) -> None:
        with self.event:
            self.changes.append((time.monotonic(), name, rotation))
            self.event.notify_all()

    def next(self, after: int, timeout: float = 15) -> Rotation:
        """The change after the first `after` ones."""
        with self.event:
            assert self.event.wait_for(lambda: len(self.changes) > after, timeout), \
                f"no change after {after}: {self.changes}"
            return self.changes[after][2]

    def close(self) -> None:
        self.poller.stop()
        self.esl.close()


def expected(conf: Conference, rotation: Rotation) -> dict[int, int | None]:
    members = conf.by_id()
    return {slot: members[m].index for m, slot in rotation.cells.items()}


def test_polling_rotates_all_members_each_interval(box, esl: Esl, twenty: Conference
                                                   ) -> None:
    """Rule "all", a 3 s interval: the meeting switches to 4x4-poll and each window's
    members show in the slots computed for them; the window moves on each interval,
    the 4 waiting longest coming on; stopping the poller restores the 4x4."""
    watch = Watch(box)
    try:
        watch.poller.start()
        windows = []
        for n in range(3):
            rotation = watch.next(n)
            want = expected(twenty, rotation)
            seen = wait_canvas(esl, twenty.name, "4x4", twenty.folder,
                               lambda s, want=want: s == want)
            assert seen == want, (n, seen, want)
            # over ESL: `list` shows each member's reservation id, i.e. its slot
            listed = parse_list(esl.api(f"conference {twenty.name} list"))
            assert reservations(listed) == dict(rotation.cells)
            windows.append(rotation)
        assert windows[0].cells == {m.id: m.index + 1 for m in twenty.members[:16]}
        shown = [{twenty.by_id()[m].index for m in w.shown()} for w in windows]
        assert shown[1] == set(range(16, 20)) | set(range(12))
        assert shown[2] == set(range(12, 20)) | set(range(8))
        times = [t for t, _, _ in watch.changes[:3]]
        assert all(2.5 < b - a < 5 for a, b in zip(times, times[1:], strict=False)), times
    finally:
        watch.close()
    assert watch.poller.rotation(twenty.name) == IDLE
    seen = wait_canvas(esl, twenty.name, "4x4", twenty.folder,
                       lambda s: None not in s.values())
    assert None not in seen.values()  # the plain 4x4: FreeSWITCH fills every slot again


def test_keep_speaker_and_polling_ends_when_members_fit(box, esl: Esl, vp8_pt: int,
                                                        twenty: Conference) -> None:
    """Rule "keep_speaker": a 21st member that talks (bursts of a tone; the mixer sends
    start-talking) is the speaker: it stays on screen, in one slot, in every window while
    the others rotate; when members drop to 16 the meeting goes back to the plain 4x4
    with everyone on it."""
    join(esl, twenty.folder, twenty.name, 1, vp8_pt, talk_s=100, first=20, conf=twenty,
         speaking=True)
    speaker = twenty.members[20]
    watch = Watch(box, polling_rule="keep_speaker")
    try:
        watch.poller.start()
        first = 0
        deadline = time.monotonic() + 15
        while watch.next(first).pinned != speaker.id:  # heard within a burst or two
            assert time.monotonic() < deadline, watch.changes
            first += 1
        slots = set()
        for n in range(first, first + 3):
            rotation = watch.next(n)
            assert rotation.pinned == speaker.id
            want = expected(twenty, rotation)
            seen = wait_canvas(esl, twenty.name, "4x4", twenty.folder,
                               lambda s, want=want: s == want)
            assert seen == want and speaker.index in seen.values(), (n, seen, want)
            slots.add(rotation.cells[speaker.id])
        assert len(slots) == 1  # the speaker keeps its slot
        before = len(watch.changes)
        for member in twenty.members[:5]:
            twenty.hang_up(member)
        with watch.event:
            assert watch.event.wait_for(
                lambda: watch.poller.rotation(twenty.name) == IDLE, 15), watch.changes
        assert len(watch.changes) > before
        left = {m.index for m in twenty.members[5:]}
        assert len(left) == cell_count("4x4")
        seen = wait_canvas(esl, twenty.name, "4x4", twenty.folder,
                           lambda s: set(s.values()) == left)
        assert set(seen.values()) == left, seen
        assert reservations(parse_list(esl.api(f"conference {twenty.name} list"))) == {}
    finally:
        watch.close()
