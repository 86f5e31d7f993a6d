"""The automatic backups are checked in gevent's thread pool (controlplane.server's
run_backup_schedule), after the server monkey-patched the process. croniter, imported
there for the first time, ran `file` in a subprocess (platform.architecture()), which
gevent cannot start off its main loop: every check failed with "child watchers are only
available on the default loop" (found in the server log of the API fuzz run, whose
settings changes switched the schedule on). Run in a process of its own: the patching
must not touch the test process."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO

SCRIPT = """
import datetime as dt
from controlplane import backups, server  # what the server imports before patching
from gevent import monkey
monkey.patch_all()
import gevent
schedule = {"enabled": True, "cycle": "daily", "time": "02:00", "day": 1}
due = gevent.get_hub().threadpool.apply(backups.last_due, (schedule, dt.datetime(2026, 1, 5, 3)))
print(due.isoformat())
"""


def test_the_schedule_is_checked_in_the_thread_pool_of_a_patched_server() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "2026-01-05T02:00:00"
