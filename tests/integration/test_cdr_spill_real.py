"""Call records are never lost nor doubled (issue 13, must-show 3; SPEC K1): with the
control plane stopped, a real FreeSWITCH ends 1,000 calls (2,000 channels, a record each)
and mod_json_cdr, unable to post the records, spills them to its err-log-dir; once the
control plane starts again the call-record store holds every one of them, each once, and
the spill folder is empty. A record posted twice, or a spilled file put back, is kept once.

The calls are FreeSWITCH's own (tests/loopback_calls.py). FreeSWITCH runs beside the
control plane, as on the appliance (tests/live_scene.py)."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import requests

from controlplane import secrets
from controlplane.cdr import DATABASE, SPILL_DIR
from controlplane.drivers.processes import LocalProcess, freeswitch_esl
from controlplane.store import Documents
from tests.conftest import Server
from tests.live_scene import appliance
from tests.loopback_calls import FAST_RATE, LoopbackCalls, lift_session_rate
from tests.waiting import wait_for

CALLS = 1000
__all__ = ["appliance"]


def stored(srv: Server) -> list[str]:
    db = sqlite3.connect(f"file:{srv.data / DATABASE}?mode=ro", uri=True)
    try:
        return [row[0] for row in db.execute("SELECT uuid FROM cdr")]
    finally:
        db.close()


def test_a_thousand_spilled_records_are_kept_exactly_once(
        appliance: tuple[Server, LocalProcess], tmp_path: Path) -> None:
    srv, _ = appliance
    spill = srv.data / "root" / SPILL_DIR
    before = set(stored(srv))
    srv.stop()
    esl = freeswitch_esl(srv.data / "root", timeout=10.0)
    try:
        lift_session_rate(esl)
        calls, made = LoopbackCalls(esl, FAST_RATE), 0
        while made < CALLS:
            made += calls.make()
        wait_for(lambda: len(list(spill.glob("*.cdr.json"))) >= 2 * CALLS, 120,
                 "every record spilled")
        wait_for(lambda: esl.api("show channels count").strip().startswith("0 total"), 60,
                 "every call over")
    finally:
        esl.close()
    spilled = sorted(spill.glob("*.cdr.json"))
    assert len(spilled) == 2 * CALLS
    copy = tmp_path / spilled[0].name
    shutil.copy(spilled[0], copy)

    srv.start()
    # At start the control plane takes the folder in (files two seconds old and more).
    wait_for(lambda: not list(spill.glob("*.cdr.json")), 60, "the spill folder taken in")
    kept = stored(srv)
    assert len(kept) == len(set(kept)), "a record kept twice"
    new = set(kept) - before
    assert len(new) == len(spilled), (len(new), len(spilled))

    # The same file again (a replay cut short before its delete): still once.
    shutil.copy(copy, spill / copy.name)
    wait_for(lambda: not (spill / copy.name).exists(), 60, "the copy taken in")
    assert len(stored(srv)) == len(kept)
    # Posted twice by FreeSWITCH's retry: once.
    docs = Documents(srv.data / "documents.json")
    try:
        password = secrets.ensure(docs)["xml_curl_password"]
    finally:
        docs.close()
    for _ in range(2):
        res = requests.post(srv.url + "/freeswitch/cdr", data=copy.read_bytes(),
                            auth=("freeswitch", password), timeout=10,
                            headers={"Content-Type": "application/json"})
        assert res.status_code in (200, 201), res.text
    assert len(stored(srv)) == len(kept)
