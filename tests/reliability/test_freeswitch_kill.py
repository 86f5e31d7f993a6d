"""FreeSWITCH killed (-9) and restarted during a meeting (issue 16 item 3): three
devices registered and two callers in a meeting on a real FreeSWITCH; FreeSWITCH is
SIGKILLed and started again (systemd's Restart= on the appliance; here the control plane's
own process driver, beside it: tests/live_scene.py). The control plane must
say FreeSWITCH is away meanwhile (502), then reconnect its event socket by itself and read
the state again: once the devices registered again and the callers dialled back in, the
online users and live meetings lists are right again, nobody twice. The calls that ended
normally afterwards have one call record each, with each member counted once (the calls
killed with FreeSWITCH leave none: nothing posts them)."""

from __future__ import annotations

import os
import signal
import sqlite3
import time

from controlplane.cdr import DATABASE
from controlplane.drivers.processes import LocalProcess
from tests.conftest import Server
from tests.live_scene import CALLERS, EXPECTED, Scene, appliance
from tests.reliability.conftest import Tally, rounds
from tests.reliability.stores import sqlite_ok
from tests.waiting import wait_for

__all__ = ["appliance"]
SHORT_ROUNDS = 2


def legs(srv: Server) -> list[tuple[str, str]]:
    """(call key, number) of every call-record leg."""
    path = srv.data / DATABASE
    if not path.exists():
        return []
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        return list(db.execute("SELECT call_key, number FROM leg"))
    finally:
        db.close()


def miscounted(srv: Server) -> list[str]:
    """Calls whose member count is not their number of legs (a leg counted twice)."""
    db = sqlite3.connect(f"file:{srv.data / DATABASE}?mode=ro", uri=True, timeout=10)
    try:
        return [key for (key,) in db.execute(
            "SELECT key FROM call c WHERE members != (SELECT count(*) FROM leg l"
            " WHERE l.call_key = c.key)")]
    finally:
        db.close()


def lists(scene: Scene) -> object:
    """The scene's snapshot(), or None while an answer is not the lists yet."""
    try:
        return scene.snapshot()
    except AssertionError:
        return None


def test_freeswitch_killed_and_restarted_during_a_meeting(
        tally: Tally, appliance: tuple[Server, LocalProcess]) -> None:
    srv, freeswitch = appliance
    scene = Scene.create(srv, "Kill -9")
    admin = scene.admin
    try:
        scene.register()
        for _ in range(rounds(SHORT_ROUNDS)):
            scene.dial()
            wait_for(lambda: scene.snapshot() == EXPECTED, 30, "the meeting running")
            pid = freeswitch.pid
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            assert freeswitch.proc is not None
            freeswitch.proc.wait(10)
            tally.faults += 1
            scene.hang_up()  # the terminals give up on a peer gone silent
            # The control plane notices: the live list says FreeSWITCH is away (502).
            wait_for(lambda: admin.get("/api/v1/meetings/live").status_code == 502,
                     15, "FreeSWITCH reported away")
            freeswitch.run("start")
            took = time.monotonic()
            scene.register()
            scene.dial()
            # Reconnected and re-read: right again, nobody listed twice.
            seen: list[object] = []
            try:
                wait_for(lambda: seen.append(lists(scene)) or seen[-1] == EXPECTED,
                         30, "both lists right after the restart")
            except AssertionError as exc:  # what FreeSWITCH itself has, beside
                regs = scene.freeswitch_api("sofia status profile internal reg")
                raise AssertionError(f"{exc}; the API's lists {seen[-1:]}; FreeSWITCH's "
                                     f"registrations:\n{regs}") from None
            tally.note("seconds back (sum)", round(time.monotonic() - took))
            tally.checked += len(EXPECTED[0]) + len(EXPECTED[1])
            # The calls end normally: one record each, each member counted once.
            before = legs(srv)
            scene.freeswitch_api("hupall")
            scene.hang_up()
            wait_for(lambda: len(legs(srv)) >= len(before) + len(CALLERS), 30,
                     "the calls' records")
            time.sleep(1)  # a record posted twice would come now
            new = [leg for leg in legs(srv) if leg not in before]
            numbers = sorted(number for _, number in new)
            tally.checked += len(new)
            doubled = len(new) - len(set(new)) + len(miscounted(srv))
            tally.lost += doubled + abs(len(new) - len(CALLERS))
            assert numbers == sorted(a for a, _ in CALLERS), new
            assert not doubled, miscounted(srv)
            why = sqlite_ok(srv.data / DATABASE)
            tally.corrupt += bool(why)
            assert not why, why
            tally.rounds += 1
    finally:
        scene.hang_up()
