"""Call records from CDRs (controlplane/call_records.py): which CDRs make records, meeting
legs grouped by their conference run, P2P calls with both sides, statistics and the peak
concurrency (kept per day, exact for any period). The records' variables are the ones
FreeSWITCH 1.10 posts (seen in tests/integration/test_meetings_real.py)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from controlplane import call_records as cr
from controlplane.cdr import CdrInbox

T0 = 20_787 * 86_400.0   # a UTC midnight (2026-11-30)


def meeting_cdr(uuid: str, conference: str, account: str, joined: float, left: float,
                kind: str = "vmr", meeting: str = "599196", **extra: str) -> dict[str, Any]:
    return {"variables": {
        "uuid": uuid, "vcbox_meeting": meeting, "conference_uuid": conference,
        "conference_name": meeting, "vcbox_meeting_kind": kind, "vcbox_subject": "周会",
        "vcbox_organizer": "3001", "user_name": account, "effective_caller_id_name":
        f"User {account}", "sip_user_agent": "Yealink VC400 63.345.0.10",
        "start_epoch": str(int(joined)), "answer_uepoch": str(int(joined * 1e6)),
        "end_uepoch": str(int(left * 1e6)), "last_app": "conference", **extra}}


def p2p_cdr(uuid: str, caller: str, callee: str, joined: float, left: float
            ) -> dict[str, Any]:
    return {"variables": {
        "uuid": uuid, "last_app": "bridge", "user_name": caller, "sip_from_user": caller,
        "dialed_user": callee, "effective_caller_id_name": "Caller",
        "vcbox_callee_name": "Callee", "bridge_uuid": f"b-{uuid}",
        "answer_epoch": str(int(joined)), "end_epoch": str(int(left))}}


@pytest.fixture
def db(tmp_path: Path) -> sqlite3.Connection:
    con = sqlite3.connect(tmp_path / "calls.sqlite3", isolation_level=None)
    cr.migrate(con)
    return con


def put(db: sqlite3.Connection, *records: dict[str, Any]) -> int:
    return cr.add(db, [leg for r in records for leg in cr.legs_of(r)])


def test_what_makes_a_record() -> None:
    assert cr.legs_of({"variables": {"uuid": "u1", "last_app": "play_and_get_digits",
                                     "answer_epoch": "10", "end_epoch": "20"}}) == []
    unanswered = meeting_cdr("u2", "c", "3001", 10, 20)
    unanswered["variables"]["answer_uepoch"] = "0"
    assert cr.legs_of(unanswered) == []
    not_an_account = p2p_cdr("u3", "3001", "90000", 10, 20)
    assert cr.legs_of(not_an_account) == []
    [leg] = cr.legs_of(meeting_cdr("U4", "C-1", "3001", 10.5, 70.25))
    assert (leg.uuid, leg.call_key, leg.kind, leg.subject, leg.organizer) == (
        "u4", "c-1", "vmr", "周会", "3001")
    assert (leg.number, leg.name, leg.joined, leg.left) == ("3001", "User 3001", 10.5, 70.25)
    caller, callee = cr.legs_of(p2p_cdr("u5", "3001", "3002", 10, 20))
    assert caller.subject == "Caller → Callee" and caller.counted and not callee.counted
    assert (callee.number, callee.how, callee.call_key) == ("3002", "callee", "u5")


def test_called_out_legs_are_the_account_dialled() -> None:
    [leg] = cr.legs_of(meeting_cdr("u1", "c", "", 10, 20, vcbox_call_out="room",
                                   dialed_user="3007", user_name=""))
    assert (leg.number, leg.how) == ("3007", "room")


def test_the_legs_of_one_conference_run_are_one_record(db: sqlite3.Connection) -> None:
    assert put(db, meeting_cdr("a", "conf1", "3001", T0 + 100, T0 + 700),
               meeting_cdr("b", "conf1", "3002", T0 + 50, T0 + 600),
               meeting_cdr("c", "conf2", "3001", T0 + 900, T0 + 960)) == 3
    page = cr.find(db, cr.Query())
    assert [i["key"] for i in page["items"]] == ["conf2", "conf1"]  # newest first
    assert page["total"] == page["filtered"] == 2
    first = cr.get(db, "conf1")
    assert (first["start"], first["end"], first["members"], first["duration_s"]) == (
        T0 + 50, T0 + 700, 2, 650)
    assert [p["number"] for p in first["participants"]] == ["3002", "3001"]


def test_a_cdr_again_adds_nothing(db: sqlite3.Connection) -> None:
    record = meeting_cdr("a", "conf1", "3001", T0, T0 + 60)
    assert put(db, record) == 1 and put(db, record) == 0
    assert cr.get(db, "conf1")["members"] == 1


def test_filters_by_type_period_and_search(db: sqlite3.Connection) -> None:
    put(db, meeting_cdr("a", "conf1", "3001", T0, T0 + 60, kind="scheduled",
                        meeting="712345"),
        meeting_cdr("b", "conf2", "3001", T0 + 86400, T0 + 86460, kind="instant"),
        p2p_cdr("c", "3001", "3002", T0 + 2 * 86400, T0 + 2 * 86400 + 30))
    assert cr.find(db, cr.Query(kind="p2p"))["items"][0]["subject"] == "Caller → Callee"
    assert cr.find(db, cr.Query(kind="p2p"))["total"] == 1
    in_day_two = cr.find(db, cr.Query(since=T0 + 86400, until=T0 + 2 * 86400))
    assert [i["key"] for i in in_day_two["items"]] == ["conf2"]
    assert in_day_two["total"] == 3 and in_day_two["filtered"] == 1
    assert [i["key"] for i in cr.find(db, cr.Query(search="1234"))["items"]] == ["conf1"]
    assert cr.find(db, cr.Query(search="%"))["filtered"] == 0   # a literal %
    assert [i["kind"] for i in cr.rows(db, cr.Query())] == ["p2p", "instant", "scheduled"]


def test_peak_concurrency_ever_and_in_a_period(db: sqlite3.Connection) -> None:
    assert T0 % cr.DAY == 0
    # Day 0: three calls overlap at T0+150 .. T0+200; day 1: two; one call over midnight.
    put(db, meeting_cdr("a", "c1", "3001", T0 + 100, T0 + 300),
        meeting_cdr("b", "c1", "3002", T0 + 150, T0 + 400),
        p2p_cdr("c", "3003", "3004", T0 + 120, T0 + 200),       # the callee does not count
        meeting_cdr("d", "c2", "3001", T0 + 86400 + 10, T0 + 86400 + 20),
        meeting_cdr("e", "c2", "3002", T0 + 86400 + 15, T0 + 86400 + 30),
        meeting_cdr("f", "c3", "3005", T0 + 86400 - 60, T0 + 86400 + 12))
    figures = cr.stats(db, None, None)
    assert figures["peak_ever"] == 3 and figures["peak"] == 3
    assert figures["counts"] == {"p2p": 1, "instant": 0, "scheduled": 0, "vmr": 3}
    assert cr.stats(db, T0 + 86400, None)["peak"] == 2          # f with d, then d with e
    assert cr.period_peak(db, T0 + 86400 + 13, T0 + 2 * 86400) == 2  # f has left
    assert cr.period_peak(db, T0 + 250, T0 + 86400) == 2        # a and b, then f alone
    assert cr.period_peak(db, T0 + 500, T0 + 86000) == 0
    # A call ending at the instant another starts: never both at once.
    put(db, meeting_cdr("g", "c4", "3001", T0 + 5 * 86400, T0 + 5 * 86400 + 10),
        meeting_cdr("h", "c5", "3002", T0 + 5 * 86400 + 10, T0 + 5 * 86400 + 20))
    assert cr.period_peak(db, T0 + 5 * 86400, T0 + 6 * 86400) == 1


def test_the_inbox_derives_records_and_an_upgrade_derives_the_earlier_ones(
        tmp_path: Path) -> None:
    inbox = CdrInbox(tmp_path)
    inbox.put(json.dumps(meeting_cdr("aaaaaaaa-1", "conf1", "3001", T0, T0 + 60)).encode())
    with inbox.reading() as db:
        assert cr.find(db, cr.Query())["total"] == 1
    inbox.close()
    # The database as the version before call records left it: CDRs only.
    con = sqlite3.connect(tmp_path / "calls.sqlite3", isolation_level=None)
    con.executescript("DROP TABLE call; DROP TABLE leg; DROP TABLE day_peak; "
                      "DROP TABLE call_meta; PRAGMA user_version = 0;")
    con.close()
    again = CdrInbox(tmp_path)
    again.put(json.dumps(p2p_cdr("bbbbbbbb-2", "3001", "3002", T0 + 100, T0 + 130)).encode())
    with again.reading() as db:
        assert [i["key"] for i in cr.find(db, cr.Query())["items"]] == ["bbbbbbbb-2", "conf1"]
    again.close()
    third = CdrInbox(tmp_path)   # derived once: nothing is counted twice
    with third.reading() as db:
        assert cr.get(db, "conf1")["members"] == 1
    third.close()
