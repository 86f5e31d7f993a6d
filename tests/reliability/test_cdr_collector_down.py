"""The CDR collector down (issue 16 item 3; SPEC K1): while a real FreeSWITCH ends calls,
the control plane that collects their records goes away in the middle of them: killed
with SIGKILL (a record may then be kept by the control plane and spilled by FreeSWITCH
too, its answer lost) or stopped. FreeSWITCH's mod_json_cdr spills what it cannot post to
its err-log-dir; the control plane takes the folder in when it is back (a killed round
kills it once more during that replay). Every record must then be kept exactly once:
as many new records as the calls' channels, the spill folder empty, nothing set aside.

The calls are FreeSWITCH's own (tests/loopback_calls.py: two channels and two records a
call), as in tests/integration/test_cdr_spill_real.py; FreeSWITCH runs beside
the control plane as on the appliance (tests/live_scene.py)."""

from __future__ import annotations

import contextlib
import random
import sqlite3
import time
from pathlib import Path

from controlplane.cdr import DATABASE, SPILL_DIR, SPILL_SETTLE_S, parse_record, record_uuid
from controlplane.drivers.processes import LocalProcess, freeswitch_esl
from tests.conftest import Server
from tests.live_scene import appliance
from tests.loopback_calls import LoopbackCalls
from tests.reliability.conftest import Tally, rounds
from tests.reliability.stores import sqlite_ok
from tests.waiting import wait_for

__all__ = ["appliance"]
SHORT_ROUNDS = 2
CALLS = 20  # a round's calls (40 records)
KINDS = ("killed", "stopped")


def kept(srv: Server) -> set[str]:
    path = srv.data / DATABASE
    if not path.exists():
        return set()
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        return {row[0] for row in db.execute("SELECT uuid FROM cdr")}
    finally:
        db.close()


def spilled(folder: Path) -> set[str]:
    """The call UUIDs of the whole records in the spill folder."""
    found = set()
    for path in folder.glob("*.cdr.json"):
        with contextlib.suppress(OSError, ValueError):  # being written, or gone meanwhile
            found.add(record_uuid(parse_record(path.read_bytes())))
    return found


def kill(srv: Server) -> None:
    assert srv.proc is not None
    srv.proc.kill()
    srv.proc.wait()
    srv.proc = None


def test_cdr_collector_down_spill_and_replay_exactly_once(
        tally: Tally, appliance: tuple[Server, LocalProcess]) -> None:
    srv, _ = appliance
    spill = srv.data / "root" / SPILL_DIR
    rng = random.Random()
    esl = freeswitch_esl(srv.data / "root", timeout=10.0)
    try:
        for n in range(rounds(SHORT_ROUNDS)):
            kind = KINDS[n % len(KINDS)]
            before = kept(srv)
            down_at = rng.randrange(2, CALLS - 2)
            calls, made = LoopbackCalls(esl), 0
            while made < CALLS:
                if made == down_at:  # the collector goes away in the middle of the calls
                    if kind == "killed":
                        kill(srv)
                    else:
                        srv.stop()
                    tally.faults += 1
                made += calls.make()
            wait_for(lambda: esl.api("show channels count").strip().startswith("0 total"),
                     60, "every call over")
            # mod_json_cdr tries a post three times, 5 s apart, then spills the record.
            wait_for(lambda: len((kept(srv) - before) | spilled(spill)) >= 2 * made, 90,
                     "every record kept or spilled")
            on_disk = spilled(spill)
            tally.note("records spilled", len(on_disk))
            tally.note("kept and spilled too", len(on_disk & (kept(srv) - before)))
            time.sleep(SPILL_SETTLE_S + 0.5)  # old enough for the replay at start
            srv.start()
            if kind == "killed":  # and once more while it takes the folder in
                time.sleep(rng.uniform(0, 0.3))
                kill(srv)
                tally.faults += 1
                srv.start()
            wait_for(lambda: not list(spill.glob("*.cdr.json")), 60,
                     "the spill folder taken in")
            new = kept(srv) - before
            tally.checked += len(new)
            tally.lost += abs(len(new) - 2 * made)
            assert len(new) == 2 * made, (len(new), 2 * made)
            assert on_disk <= new
            set_aside = list((spill / "bad").glob("*"))
            assert not set_aside, set_aside
            why = sqlite_ok(srv.data / DATABASE)
            tally.corrupt += bool(why)
            assert not why, why
            tally.rounds += 1
    finally:
        esl.close()
