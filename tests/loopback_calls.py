"""FreeSWITCH's own calls for the call-record tests: originate over a loopback channel with
the inline dialplan (two channels, two records a call). They need neither the directory nor
the dialplan that the control plane serves, so they go on while it is down."""

from __future__ import annotations

import time

from controlplane.drivers.esl import Esl, EslReplyError

# Calls a second: 20 sessions, well under FreeSWITCH's sessions-per-second (30). Its
# second is counted in timer ticks and runs long on a loaded machine (at 12.5 calls a
# second CI saw "Over Session Rate of 30!"), and a call over the rate loses its far leg:
# the originate then waits for an answer that never comes.
RATE = 10.0
# Where a test lifts the rate on its own FreeSWITCH (lift_session_rate): the calls a second
# then, which the originates' own round trips bound anyway on a loaded machine.
FAST_RATE = 40.0
ORIGINATE = ("originate {loopback_bowout=false,originate_timeout=5}"
             "loopback/answer/default/inline &hangup")


def lift_session_rate(esl: Esl, per_second: int = 1000) -> None:
    """The test's own FreeSWITCH takes up to per_second new sessions a second (fsctl sps;
    the appliance keeps switch.conf's 30), for a test that needs many calls and is not
    about the throttle. FreeSWITCH's soft timer applies it within its next second."""
    answer = esl.api(f"fsctl sps {per_second}")
    assert answer.strip().endswith(str(per_second)), answer
    time.sleep(1.1)


class LoopbackCalls:
    """calls = LoopbackCalls(esl); calls.make() -> True for a call made, paced at RATE."""

    def __init__(self, esl: Esl, rate: float = RATE) -> None:
        self.esl, self.gap = esl, 1 / rate
        self._next = time.monotonic()

    def make(self) -> bool:
        time.sleep(max(self._next - time.monotonic(), 0))
        self._next = max(self._next + self.gap, time.monotonic())  # no burst to catch up
        try:
            self.esl.api(ORIGINATE, 10)
            return True
        except EslReplyError as exc:
            if "NORMAL_CLEARING" in exc.reason:  # the far leg was over first: a call
                return True
            time.sleep(0.5)  # refused: tried again a little later
            return False
