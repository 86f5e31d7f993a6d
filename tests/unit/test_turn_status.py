"""The TURN relay's session count from coturn's CLI (DESIGN D6, controlplane.turn): the
`ps`/`pu` outputs as coturn 4.6.1 prints them (turn_admin_server.c print_sessions), and no
count at all when the CLI cannot be asked or answers something else."""

from __future__ import annotations

import pytest

from controlplane import turn
from controlplane.drivers.coturn import CoturnError, parse_total_sessions, parse_users

# Captured from coturn 4.6.1 (Debian) while turnutils_uclient -y held its allocations.
PU = "    user: <1796317352:alice>, 3 sessions\r\n\r\n  Total sessions: 3"
PS = ("    1) id=000000000000000001, user <1796317352:alice>:\r\n"
      "      realm: vcbox.local\r\n      started 3 secs ago\r\n      expiring in 774 secs\r\n"
      "      client protocol UDP, relay protocol UDP\r\n"
      "      client addr 127.0.0.1:45151, server addr 127.0.0.1:3478\r\n"
      "      relay addr 127.0.0.1:38644\r\n      fingerprints enforced: ON\r\n"
      "      mobile: OFF\r\n      usage: rp=3, rb=292, sp=2, sb=168\r\n"
      "       rate: r=0, s=0, total=0 (bytes per sec)\r\n\r\n  Total sessions: 1")
EMPTY = "\r\n  Total sessions: 0"


class FakeCli:
    def __init__(self, answer: str | Exception) -> None:
        self.answer, self.asked = answer, []

    def command(self, cmd: str) -> str:
        self.asked.append(cmd)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def test_the_total_of_ps_and_pu() -> None:
    assert parse_total_sessions(PU) == 3
    assert parse_total_sessions(PS) == 1
    assert parse_total_sessions(EMPTY) == 0
    # After `sr <realm>` / `so <origin>` coturn names them in the line.
    assert parse_total_sessions("  Total sessions for realm vcbox.local: 7\n") == 7
    assert parse_total_sessions(
        "  Total sessions for realm r and for origin o: 2\n") == 2


@pytest.mark.parametrize("text", ["", "Bye !", "  Unknown command\r\n",
                                  "  Total sessions: many", EMPTY + "\n" + EMPTY])
def test_no_total_is_an_error_not_a_zero(text: str) -> None:
    with pytest.raises(ValueError):
        parse_total_sessions(text)


def test_the_users_of_pu() -> None:
    assert parse_users(PU) == {"1796317352:alice": 3}
    two = "    user: <1:a>, 1 sessions\r\n    user: <2:b<x>>, 2 sessions\r\n\r\n" + EMPTY
    assert parse_users(two) == {"1:a": 1, "2:b<x>": 2}
    assert parse_users(EMPTY) == {}


def test_status_asks_pu_and_has_no_count_when_coturn_cannot_be_asked() -> None:
    cli = FakeCli(PU)
    assert turn.status(cli) == turn.TurnStatus(sessions=3)
    assert turn.status(cli).as_dict() == {"reachable": True, "sessions": 3}
    assert cli.asked == ["pu", "pu"]
    assert turn.status(FakeCli(CoturnError("CLI 127.0.0.1:5766: refused"))) is None
    assert turn.status(FakeCli("password refused?")) is None
