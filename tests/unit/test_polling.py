"""Polling (SPEC C3), the pure part of controlplane/polling.py: which members are on
screen in which slot, window by window, and the ESL commands from one rotation to the
next. The real mixer's side: tests/integration/test_mixer_real.py."""

from __future__ import annotations

import threading
import time

import pytest

from controlplane import polling
from controlplane.drivers.esl import EslEvent, EslReplyError
from controlplane.polling import (
    IDLE,
    Member,
    Poller,
    Rotation,
    cell_count,
    commands,
    next_rotation,
    parse_floor,
    parse_json_list,
)


def video(*ids: int) -> list[Member]:
    return [Member(i) for i in ids]


@pytest.mark.parametrize(("layout", "cells"), [
    ("2x2", 4), ("4x4", 16), ("7x7", 49), ("4x4-poll", 16), ("1+5", 6), ("1+7", 8),
    ("1up_top_left+9", 10), ("1up_top_left+7-poll", 8)])
def test_cell_count(layout: str, cells: int) -> None:
    assert cell_count(layout) == cells


def test_unknown_layouts_are_refused() -> None:
    for layout in ("4x3", "big", "1up_top_left+x", ""):
        with pytest.raises(ValueError):
            cell_count(layout)


def test_layout_names() -> None:
    assert polling.poll_layout("4x4") == "4x4-poll"
    assert polling.poll_layout("1+7") == "1up_top_left+7-poll"
    assert polling.poll_layout("4x4-poll") == "4x4-poll"
    assert polling.floor_cell("1+7") == 1 and polling.floor_cell("3x3") is None


def test_members_that_fit_are_not_polled() -> None:
    members = video(*range(1, 17))
    assert next_rotation(members, None, 16, "all") == IDLE
    # audio-only members do not count
    members += [Member(17, video=False), Member(18, video=False)]
    assert next_rotation(members, None, 16, "all") == IDLE


def windows(members: list[Member], cells: int, rule: str, n: int, floor: int | None = None,
            floor_slot: int | None = None) -> list[Rotation]:
    out = [next_rotation(members, floor, cells, rule, IDLE, False, floor_slot)]
    for _ in range(n - 1):
        out.append(next_rotation(members, floor, cells, rule, out[-1], True, floor_slot))
    return out


def test_rule_all_rotates_everyone_through_the_slots() -> None:
    """20 members, 16 slots: the first 16 joiners first; each interval the 4 waiting
    come on in the slots of the 4 shown longest; everyone shows 4 windows of 5."""
    members = video(*range(1, 21))
    rots = windows(members, 16, "all", 6)
    assert rots[0].cells == {m: m for m in range(1, 17)}
    assert rots[1].shown() == set(range(17, 21)) | set(range(1, 13))
    # the ones staying keep their slots; the newcomers take the freed slots 13-16
    assert {m: rots[1].cells[m] for m in range(1, 13)} == {m: m for m in range(1, 13)}
    assert {rots[1].cells[m] for m in range(17, 21)} == {13, 14, 15, 16}
    assert rots[2].shown() == set(range(13, 21)) | set(range(1, 9))
    assert rots[5].shown() == rots[0].shown()  # a full turn after 5 windows
    shows = {m: sum(m in r.shown() for r in rots[:5]) for m in range(1, 21)}
    assert set(shows.values()) == {4}
    for rot in rots:
        assert sorted(rot.cells.values()) == list(range(1, 17))


def test_rule_all_with_many_waiting() -> None:
    """9 members in a 2x2: windows of 4 move on by 4, wrapping around."""
    rots = windows(video(*range(1, 10)), 4, "all", 4)
    assert [sorted(r.shown()) for r in rots] == [
        [1, 2, 3, 4], [5, 6, 7, 8], [1, 2, 3, 9], [4, 5, 6, 7]]


def test_keep_speaker_keeps_the_floor_holder_on_screen() -> None:
    members = video(*range(1, 21))
    rots = windows(members, 16, "keep_speaker", 6, floor=20)
    for rot in rots:
        assert 20 in rot.shown() and rot.pinned == 20
        assert len(rot.shown()) == 16
    # the speaker keeps one slot; the other 19 rotate through 15 slots
    assert len({rot.cells[20] for rot in rots}) == 1
    others = [r.shown() - {20} for r in rots]
    assert others[0] == set(range(1, 16))
    assert others[1] == set(range(16, 20)) | set(range(1, 12))


def test_keep_speaker_puts_the_speaker_in_the_floor_slot_of_1_plus_n() -> None:
    members = video(*range(1, 12))
    first = next_rotation(members, 5, 8, "keep_speaker", IDLE, False, floor_slot=1)
    assert first.cells[5] == 1
    assert sorted(first.cells.values()) == list(range(1, 9))
    # another speaker takes the floor slot; the former one goes to the back of the queue
    second = next_rotation(members, 9, 8, "keep_speaker", first, False, floor_slot=1)
    assert second.cells[9] == 1 and second.pinned == 9
    assert second.order[-1] == 5
    moved = [m for m in first.cells if m in second.cells and first.cells[m] != second.cells[m]]
    assert moved in ([], [9])  # nobody else changes slots


def test_keep_speaker_without_a_video_speaker_rotates_all() -> None:
    members = [*video(*range(1, 18)), Member(30, video=False)]
    assert next_rotation(members, 30, 16, "keep_speaker").pinned is None
    assert next_rotation(members, None, 16, "keep_speaker").pinned is None


def test_a_member_leaving_is_replaced_at_once_and_a_newcomer_waits() -> None:
    members = video(*range(1, 21))
    first = next_rotation(members, None, 16, "all")
    left = [m for m in members if m.id != 3]
    after = next_rotation(left, None, 16, "all", first, advance=False)
    assert after.cells[17] == 3  # the first one waiting takes the freed slot
    assert {m: c for m, c in after.cells.items() if m != 17} == {
        m: c for m, c in first.cells.items() if m != 3}
    joined = next_rotation([*left, Member(21)], None, 16, "all", after, advance=False)
    assert joined.cells == after.cells and joined.order[-1] == 21


def test_dropping_to_the_slot_count_ends_polling() -> None:
    members = video(*range(1, 21))
    rot = next_rotation(members, None, 16, "all")
    assert next_rotation(members[:16], None, 16, "all", rot, advance=True) == IDLE


def test_unknown_rule() -> None:
    with pytest.raises(ValueError):
        next_rotation(video(1, 2, 3), None, 1, "random")


def test_commands_start_rotate_and_stop() -> None:
    members = video(*range(1, 21))
    first = next_rotation(members, None, 16, "all")
    present = range(1, 21)
    start = commands("m1", "4x4", IDLE, first, present)
    assert start[0] == "conference m1 vid-layout 4x4-poll"
    assert start[1:] == [f"conference m1 vid-res-id {m} p{m}" for m in range(1, 17)]
    second = next_rotation(members, None, 16, "all", first, advance=True)
    step = commands("m1", "4x4", first, second, present)
    # those leaving the screen first, then only the members whose slot changed
    assert step == [f"conference m1 vid-res-id {m} clear" for m in (13, 14, 15, 16)] + [
        f"conference m1 vid-res-id {m} p{c}" for m, c in zip(range(17, 21), range(13, 17))]
    # no command repeats a reservation a member already has (FreeSWITCH would clear it)
    assert commands("m1", "4x4", second, second, present) == []
    # members gone: no clear for them
    stop = commands("m1", "4x4", second, IDLE, [1, 2, 17])
    assert stop == ["conference m1 vid-layout 4x4", "conference m1 vid-res-id 1 clear",
                    "conference m1 vid-res-id 2 clear", "conference m1 vid-res-id 17 clear"]
    assert commands("m1", "4x4", IDLE, IDLE, present) == []


def test_commands_for_1_plus_n_and_a_layout_change() -> None:
    members = video(*range(1, 12))
    rot = next_rotation(members, 4, 8, "keep_speaker", IDLE, False, floor_slot=1)
    cmds = commands("m2", "1+7", IDLE, rot, range(1, 12))
    assert cmds[0] == "conference m2 vid-layout 1up_top_left+7-poll"
    assert "conference m2 vid-res-id 4 p1" in cmds
    # the meeting changes to 3x3: the new poll layout, members keep their ids where
    # the new layout has the slot
    rot9 = next_rotation(members, 4, 9, "keep_speaker", rot, False, None)
    cmds = commands("m2", "3x3", rot, rot9, range(1, 12), prev_layout="1+7")
    assert cmds[0] == "conference m2 vid-layout 3x3-poll"
    assert all("vid-res-id" in c for c in cmds[1:])
    assert len(cmds) == 2  # one more slot: one member more


JSON_LIST = """[{"conference_name": "m7", "conference_uuid": "u-1", "members": [
  {"type": "caller", "id": 6, "flags": {"has_video": true}},
  {"type": "caller", "id": 5, "flags": {"has_video": false}},
  {"type": "recording_node", "flags": {}}]}]"""

LIST = """7;sofia/internal/a@127.0.0.1;uuid-7;A;a;hear|speak|video|vid-floor;0;0;300
6;sofia/internal/b@127.0.0.1;uuid-6;Name; with semicolon;b;hear|speak|video|floor;0;0;300
"""


def test_parsing_freeswitchs_listings() -> None:
    [conf] = parse_json_list(JSON_LIST)
    assert (conf.name, conf.uuid) == ("m7", "u-1")
    assert conf.members == [Member(5, False), Member(6, True)]
    assert parse_json_list("-ERR No active conferences.") == []
    assert parse_floor(LIST) == 6
    assert parse_floor(LIST, "vid-floor") == 7
    assert parse_floor("7;x;u;A;a;hear|speak|video;0;0;300\n") is None


# -- the controller over a stand-in event socket ----------------------------------------------

class StubEsl:
    """What Poller uses of controlplane.drivers.esl.Esl: api() answers and records,
    events go to the handlers at once."""

    def __init__(self) -> None:
        self.handlers: dict[str, list] = {}
        self.subscribed: list[str] = []
        self.sent: list[str] = []
        self.lock = threading.Lock()

    def on_event(self, name: str, callback) -> None:
        self.handlers.setdefault(name, []).append(callback)

    def subscribe(self, events: str) -> None:
        self.subscribed.append(events)

    def api(self, command: str) -> str:
        if command == "conference json_list":
            raise EslReplyError("-ERR No active conferences.")
        with self.lock:
            self.sent.append(command)
        return "+OK"

    def emit(self, **headers: str) -> None:
        event = EslEvent({"Event-Name": "CUSTOM", "Event-Subclass": polling.EVENT,
                          "Conference-Unique-ID": "u1", **headers})
        for handler in self.handlers.get(event.name, []):
            handler(event)

    def commands(self) -> list[str]:
        with self.lock:
            out, self.sent = self.sent, []
        return out


def wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_the_poller_starts_rotates_and_stops_over_the_event_socket() -> None:
    esl = StubEsl()
    settings = {"polling_interval_s": 0.3, "polling_rule": "all", "equal_layout": "2x2"}
    changes: list[Rotation] = []
    poller = Poller(esl, lambda: settings,  # type: ignore[arg-type]
                    on_change=lambda name, rot: changes.append(rot))
    poller.start()
    assert esl.subscribed == [polling.EVENT]
    for member in range(1, 5):
        esl.emit(Action="add-member", **{"Conference-Name": "m9", "Member-ID": str(member),
                                         "Video": "true"})
    esl.emit(Action="add-member", **{"Conference-Name": "m9", "Member-ID": "9",
                                     "Video": "false"})  # audio only: not counted
    time.sleep(0.1)
    assert esl.commands() == [] and poller.rotation("m9") == IDLE
    esl.emit(Action="add-member", **{"Conference-Name": "m9", "Member-ID": "5",
                                     "Video": "true"})
    wait_for(lambda: len(changes) >= 1)
    assert esl.commands()[:2] == ["conference m9 vid-layout 2x2-poll",
                                  "conference m9 vid-res-id 1 p1"]
    assert poller.rotation("m9").shown() == {1, 2, 3, 4}
    started = time.monotonic()
    wait_for(lambda: len(changes) >= 2)  # the interval
    assert 0.2 < time.monotonic() - started < 1.0
    # the one waiting comes on in the slot of the one leaving; the others stay
    assert poller.rotation("m9").cells == {1: 1, 2: 2, 3: 3, 5: 4}
    assert esl.commands() == ["conference m9 vid-res-id 4 clear",
                              "conference m9 vid-res-id 5 p4"]
    esl.emit(Action="del-member", **{"Conference-Name": "m9", "Member-ID": "2"})
    wait_for(lambda: poller.rotation("m9") == IDLE)
    assert esl.commands() == ["conference m9 vid-layout 2x2",
                              *[f"conference m9 vid-res-id {m} clear" for m in (1, 3, 5)]]
    # polling again, then the poller stops: the meeting is put back
    esl.emit(Action="add-member", **{"Conference-Name": "m9", "Member-ID": "6",
                                     "Video": "true"})
    wait_for(lambda: poller.rotation("m9").polling)
    esl.commands()
    poller.stop()
    sent = esl.commands()
    assert sent[0] == "conference m9 vid-layout 2x2" and len(sent) == 5, sent
    # after stop, events do nothing
    esl.emit(Action="add-member", **{"Conference-Name": "m9", "Member-ID": "7",
                                     "Video": "true"})
    time.sleep(0.1)
    assert esl.commands() == []


def test_the_poller_keeps_the_speaker_and_ends_with_the_conference() -> None:
    esl = StubEsl()
    settings = {"polling_interval_s": 5, "polling_rule": "keep_speaker",
                "equal_layout": "4x4", "one_plus_n_layout": "1+5"}
    poller = Poller(esl, lambda: settings,  # type: ignore[arg-type]
                    layout_of=lambda name: "1+5")
    poller.start()
    for member in range(1, 9):
        esl.emit(Action="add-member", **{"Conference-Name": "m8", "Member-ID": str(member),
                                         "Video": "true"})
    wait_for(lambda: poller.rotation("m8").polling)
    assert poller.rotation("m8").pinned is None
    assert esl.commands()[0] == "conference m8 vid-layout 1up_top_left+5-poll"
    esl.emit(Action="start-talking", **{"Conference-Name": "m8", "Member-ID": "8"})
    wait_for(lambda: poller.rotation("m8").pinned == 8)
    assert poller.rotation("m8").cells[8] == 1  # the large slot
    # floor changes while polling are FreeSWITCH moving floors off reserved members
    esl.emit(Action="floor-change", **{"Conference-Name": "m8", "New-ID": "3"})
    time.sleep(0.1)
    assert poller.rotation("m8").pinned == 8
    esl.emit(Action="conference-destroy", **{"Conference-Name": "m8"})
    wait_for(lambda: poller.rotation("m8") == IDLE)
    esl.commands()
    poller.stop()
    assert esl.commands() == []
