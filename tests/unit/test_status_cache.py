"""The status probes' cache: a slow probe never holds up the requests (the status bench
went from p99 8 ms to 1.5 s when every stale request probed the services itself)."""

from __future__ import annotations

import threading

from controlplane.web.api_status import cached


def test_a_stale_value_is_answered_while_one_refresh_runs() -> None:
    calls: list[int] = []
    release = threading.Event()

    def probe() -> str:
        calls.append(1)
        if len(calls) == 1:
            return "first"
        release.wait(10)  # the refreshes are slow
        return "fresh"

    get = cached(0.0, probe)  # always stale after the first probe
    assert get() == "first"  # the first call waits for its probe
    # Stale now: each call answers the last value; only one refresh is started.
    assert [get() for _ in range(20)] == ["first"] * 20
    assert len(calls) == 2
    release.set()
    for thread in threading.enumerate():
        if thread.name == "status-probe":
            thread.join(10)
    assert get() == "fresh"
