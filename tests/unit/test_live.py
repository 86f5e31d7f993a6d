"""The dashboard's live figures (controlplane.live): read from FreeSWITCH over ESL, and
absent (None), never zeros, when FreeSWITCH cannot be asked. FakeEsl answers with
FreeSWITCH's words for the unreachable, timed-out and nonsense cases a real one cannot be
made to give on demand; what a running FreeSWITCH answers is checked in
tests/integration/test_meetings_real.py::test_the_dashboard_counts_what_the_running_freeswitch_has."""

from __future__ import annotations

from controlplane import live
from controlplane.drivers.esl import EslReplyError, EslTimeout, EslUnreachable

REGISTRATIONS = """{"row_count":3,"rows":[
 {"reg_user":"3001","realm":"vc.example.com","token":"a","url":"sofia/internal/sip:3001@10.0.0.5:5060",
  "expires":"1764000000","network_ip":"10.0.0.5","network_port":"5060","network_proto":"udp"},
 {"reg_user":"3001","realm":"vc.example.com","token":"b","url":"sofia/internal/sip:3001@10.0.0.6:5060",
  "expires":"1764000000","network_ip":"10.0.0.6","network_port":"5060","network_proto":"udp"},
 {"reg_user":"3002","realm":"vc.example.com","token":"c","url":"sofia/internal/sip:3002@10.0.0.7:5060",
  "expires":"1764000000","network_ip":"10.0.0.7","network_port":"5060","network_proto":"tcp"}]}
"""
CONFERENCES = """[{"conference_name": "100200", "conference_uuid": "u-1", "members": []},
 {"conference_name": "100300", "conference_uuid": "u-2", "members": []}]"""


class FakeEsl:
    def __init__(self, answers: dict[str, str | Exception]) -> None:
        self.answers, self.asked = answers, []

    def api(self, command: str, timeout: float | None = None) -> str:
        self.asked.append(command)
        answer = self.answers[command]
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_the_figures_are_what_freeswitch_counts() -> None:
    esl = FakeEsl({"show registrations as json": REGISTRATIONS,
                   "conference json_list": CONFERENCES,
                   "limit_usage hash vcbox calls": "3\n"})
    figures = live.figures(esl)
    # Two devices of 3001 are one online user.
    assert figures == live.Figures(online_users=2, meetings=2, calls=3)
    assert figures.as_dict() == {"reachable": True, "online_users": 2, "meetings": 2,
                                 "calls": 3}


def test_nobody_online_and_no_meeting_are_real_zeros() -> None:
    esl = FakeEsl({"show registrations as json": '{"row_count":0}\n',
                   "conference json_list": EslReplyError("-ERR No active conferences."),
                   "limit_usage hash vcbox calls": "0"})
    assert live.figures(esl) == live.Figures(online_users=0, meetings=0, calls=0)


def test_without_freeswitch_there_are_no_figures() -> None:
    for failure in (EslUnreachable("refused"), EslTimeout("no answer"),
                    EslReplyError("-ERR show Command not found!")):
        assert live.figures(FakeEsl({"show registrations as json": failure})) is None
    garbled = FakeEsl({"show registrations as json": "{}", "conference json_list": "[]",
                       "limit_usage hash vcbox calls": "-USAGE"})
    assert live.figures(garbled) is None


def test_the_presence_counts_the_online_users_once_it_has_read_freeswitch() -> None:
    # Synced: the count is the presence's, and the 3 MB answer of 10,000 registrations is
    # not asked for on every poll.
    esl = FakeEsl({"conference json_list": CONFERENCES, "limit_usage hash vcbox calls": "1"})
    assert live.figures(esl, online=lambda: 7) == live.Figures(7, 2, 1)
    assert "show registrations as json" not in esl.asked
    # Not read yet (None): FreeSWITCH's own table.
    esl = FakeEsl({"show registrations as json": REGISTRATIONS,
                   "conference json_list": CONFERENCES, "limit_usage hash vcbox calls": "1"})
    assert live.figures(esl, online=lambda: None) == live.Figures(2, 2, 1)
    # FreeSWITCH away: no figures, whatever the presence remembers.
    esl = FakeEsl({"conference json_list": EslUnreachable("refused")})
    assert live.figures(esl, online=lambda: 7) is None
