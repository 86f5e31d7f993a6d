"""The meeting model (controlplane/meetings.py) and what runs meetings
(controlplane/meeting_runner.py): IDs, admission windows, room bookings, call-out."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from controlplane.drivers.esl import EslError
from controlplane.errors import Conflict, ValidationError
from controlplane.meeting_runner import MeetingRunner, originate_command
from controlplane.meetings import Meetings, admission
from controlplane.store import Documents

ZONE = dt.timezone(dt.timedelta(hours=8))
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=ZONE).timestamp()


class Directory:
    def __init__(self, *names: str) -> None:
        self.names = set(names)

    def exists(self, account: str) -> bool:
        return account in self.names


class RoomList:
    def find(self, room_id: str) -> dict[str, Any] | None:
        return {"id": room_id, "name": f"Room {room_id}"} if room_id.startswith("r") else None


@pytest.fixture
def meetings(tmp_path: Path) -> Meetings:
    docs = Documents(tmp_path / "documents.json")
    return Meetings(docs, Directory("1001", "1002"), RoomList(), zone=lambda: ZONE,
                    clock=lambda: T0, reserved=lambda: ("90000", "90001"))


def scheduled(**doc: Any) -> dict[str, Any]:
    return {"kind": "scheduled", "subject": "Plan", "organizer": "1001",
            "start": "2026-03-02T10:00", "duration_min": 60, **doc}


def test_chosen_ids_have_six_digits_and_never_repeat(meetings: Meetings) -> None:
    ids = {meetings.create({"kind": "vmr", "subject": f"m{n}", "organizer": "1001"})["id"]
           for n in range(200)}
    assert len(ids) == 200
    assert all(len(i) == 6 and i.isdigit() and i[0] in "12345678" for i in ids)


def test_a_start_with_an_offset_is_stored_in_local_time(meetings: Meetings) -> None:
    made = meetings.create(scheduled(start="2026-03-02T02:00:30+00:00"))
    assert made["start"] == "2026-03-02T10:00"
    assert meetings.now() == dt.datetime(2026, 3, 2, 9, 0)


def test_admission_window() -> None:
    doc = {"kind": "scheduled", "start": "2026-03-02T10:00", "duration_min": 60}
    at = dt.datetime(2026, 3, 2, 9, 49)
    assert admission(doc, at, 10) == "early"
    assert admission(doc, at + dt.timedelta(minutes=1), 10) == "open"
    assert admission(doc, dt.datetime(2026, 3, 2, 11, 0), 10) == "ended"
    assert admission({"kind": "vmr"}, at, 10) == "open"


def test_rooms_and_ids_conflict(meetings: Meetings) -> None:
    meetings.create(scheduled(id="700001", rooms=["r1"]))
    with pytest.raises(Conflict) as taken:
        meetings.create({"kind": "vmr", "subject": "x", "organizer": "1001", "id": "700001"})
    assert "id" in taken.value.details
    with pytest.raises(Conflict) as booked:
        meetings.create(scheduled(start="2026-03-02T10:59", rooms=["r1", "r2"]))
    assert "rooms" in booked.value.details
    meetings.create(scheduled(start="2026-03-02T11:00", rooms=["r1"]))  # back to back
    with pytest.raises(ValidationError) as unknown:
        meetings.create(scheduled(start="2026-03-03T10:00", rooms=["x9"]))
    assert "rooms" in unknown.value.details


def test_an_edit_is_checked_like_a_create_and_keeps_the_kind(meetings: Meetings) -> None:
    vmr = meetings.create({"kind": "vmr", "subject": "x", "organizer": "1001"})
    with pytest.raises(ValidationError) as kind:
        meetings.update(vmr["id"], {"kind": "scheduled"})
    assert "kind" in kind.value.details
    with pytest.raises(ValidationError):
        meetings.update(vmr["id"], {"organizer": "1009"})
    assert meetings.get(vmr["id"])["organizer"] == "1001"  # nothing half-applied
    moved = meetings.update(vmr["id"], {"id": "1234567", "password": "0042"})
    assert moved["id"] == "1234567" and meetings.find(vmr["id"]) is None


def test_instant_meetings_come_and_go(meetings: Meetings) -> None:
    instant = meetings.start_instant("1002")
    assert instant["kind"] == "instant" and instant["organizer"] == "1002"
    with pytest.raises(ValidationError):
        meetings.update(instant["id"], {"subject": "x"})
    vmr = meetings.create({"kind": "vmr", "subject": "x", "organizer": "1001"})
    assert not meetings.end_instant(vmr["id"])  # only instant meetings end with their call
    assert meetings.end_instant(instant["id"])
    assert meetings.find(instant["id"]) is None and meetings.find(vmr["id"]) is not None


def test_deleted_accounts_and_rooms_leave_the_meetings(meetings: Meetings) -> None:
    made = meetings.create(scheduled(participants=["1001", "1002"], rooms=["r1", "r2"]))
    meetings.drop_accounts({"1002"})
    meetings.drop_rooms({"r1"})
    again = meetings.get(made["id"])
    assert again["participants"] == ["1001"] and again["rooms"] == ["r2"]


class FakeEsl:
    """Records bgapi commands (the real event socket: test_meetings_real.py)."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def bgapi(self, command: str) -> str:
        self.sent.append(command)
        return "job"


def test_rooms_are_called_once_when_their_meeting_is_under_way(meetings: Meetings) -> None:
    made = meetings.create(scheduled(subject="Q1, review {x}", rooms=["r1", "r2"],
                                     password="5555"))
    esl = FakeEsl()
    runner = MeetingRunner(meetings, esl, bound_account={"r1": "1001", "r2": ""}.get,  # type: ignore[arg-type]
                           domain=lambda: "vcbox.local")
    assert runner.tick(dt.datetime(2026, 3, 2, 9, 59)) == []
    [command] = runner.tick(dt.datetime(2026, 3, 2, 10, 0))
    assert command == originate_command(meetings.get(made["id"]), "1001", "vcbox.local")
    assert command.endswith(f"user/1001@vcbox.local &conference({made['id']}@default+5555)")
    assert "origination_caller_id_name='Q1 review x'" in command  # no , { } in variables
    assert runner.tick(dt.datetime(2026, 3, 2, 10, 5)) == []  # once
    assert runner.tick(dt.datetime(2026, 3, 2, 11, 0)) == []  # ended


class DownEsl(FakeEsl):
    """The event socket down for the first `failures` commands (a fault a running
    FreeSWITCH cannot be made to show between two ticks on demand)."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    def bgapi(self, command: str) -> str:
        if self.failures:
            self.failures -= 1
            raise EslError("not connected")
        return super().bgapi(command)


def test_a_room_whose_call_could_not_be_sent_is_called_at_the_next_check(
        meetings: Meetings) -> None:
    meetings.create(scheduled(rooms=["r1", "r2"]))
    esl = DownEsl(failures=1)
    runner = MeetingRunner(meetings, esl, bound_account={"r1": "1001", "r2": "1002"}.get,  # type: ignore[arg-type]
                           domain=lambda: "vcbox.local")
    first = runner.tick(dt.datetime(2026, 3, 2, 10, 0))
    assert len(first) == 1 and "user/1002@" in first[0]   # r1's call failed
    [again] = runner.tick(dt.datetime(2026, 3, 2, 10, 0, 5))
    assert "user/1001@" in again
    assert runner.tick(dt.datetime(2026, 3, 2, 10, 0, 10)) == []
    assert len(esl.sent) == 2
