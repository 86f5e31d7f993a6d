"""The status probes' cache: a slow probe never holds up the requests (the status bench
went from p99 8 ms to 1.5 s when every stale request probed the services itself)."""

from __future__ import annotations

import threading
import time

from controlplane.cached import Cached


def test_a_stale_value_is_answered_while_one_refresh_runs() -> None:
    calls: list[int] = []
    release = threading.Event()

    def probe() -> str:
        calls.append(1)
        if len(calls) == 1:
            return "first"
        release.wait(10)  # the refreshes are slow
        return "fresh"

    get = Cached(0.0, probe)  # always stale after the first probe
    assert get() == "first"  # the first call waits for its probe
    # Stale now: each call answers the last value; only one refresh is started.
    assert [get() for _ in range(20)] == ["first"] * 20
    assert len(calls) == 2
    release.set()
    for thread in threading.enumerate():
        if thread.name == "status-probe":
            thread.join(10)
    assert get() == "fresh"


def test_after_invalidate_the_next_call_probes_and_a_late_refresh_is_dropped() -> None:
    answers = iter(["first", "stale refresh", "after the change"])
    release = threading.Event()

    def probe() -> str:
        value = next(answers)
        if value == "stale refresh":
            release.wait(10)
        return value

    get = Cached(0.0, probe, name="invalidate-probe")
    assert get() == "first"
    assert get() == "first"  # starts the slow refresh
    get.invalidate()
    assert get() == "after the change"  # read back at once, not the stale value
    release.set()
    for thread in threading.enumerate():
        if thread.name == "invalidate-probe":
            thread.join(10)
    get.ttl = 60.0
    assert get() == "after the change"  # the refresh begun before invalidate() is dropped


def test_a_failed_refresh_keeps_the_last_value() -> None:
    answers: list[object] = ["first", OSError("gone")]

    def probe() -> object:
        value = answers.pop(0) if answers else "later"
        if isinstance(value, Exception):
            raise value
        return value

    get = Cached(0.0, probe, name="failing-probe")
    assert get() == "first"
    get()
    for thread in threading.enumerate():
        if thread.name == "failing-probe":
            thread.join(10)
    assert get() == "first"


def test_without_keep_on_error_a_failed_refresh_makes_the_next_call_raise() -> None:
    answers: list[object] = ["first", OSError("gone"), OSError("still gone")]

    def probe() -> object:
        value = answers.pop(0)
        if isinstance(value, Exception):
            raise value
        return value

    get = Cached(0.0, probe, name="dropping-probe", keep_on_error=False)
    assert get() == "first"
    assert get() == "first"  # the refresh that fails runs behind this answer
    for thread in threading.enumerate():
        if thread.name == "dropping-probe":
            thread.join(10)
    try:
        get()
    except OSError as exc:
        assert str(exc) == "still gone"  # never the old list as if it were now
    else:
        raise AssertionError("the stale value was answered after the probe failed")


def test_past_max_age_one_probe_answers_every_waiting_caller() -> None:
    calls: list[int] = []
    started = threading.Event()
    release = threading.Event()

    def probe() -> int:
        calls.append(1)
        if len(calls) == 2:
            started.set()
            release.wait(10)
        return len(calls)

    get = Cached(10.0, probe, name="waiting-probe", max_age=0.05)
    assert get() == 1
    assert get() == 1  # fresh still
    time.sleep(0.06)
    answers: list[int] = []
    callers = [threading.Thread(target=lambda: answers.append(get())) for _ in range(5)]
    for caller in callers:
        caller.start()
    assert started.wait(10)
    release.set()
    for caller in callers:
        caller.join(10)
    assert answers == [2] * 5  # none got the stale 1, and one probe served them all
    assert len(calls) == 2


def test_a_polled_value_is_refreshed_ahead_and_no_caller_waits() -> None:
    """The regression this guards: a caller that found the value stale held the lock
    over the probe, and every other caller of the page waited for FreeSWITCH."""
    calls: list[float] = []
    release = threading.Event()

    def probe() -> int:
        calls.append(time.monotonic())
        if len(calls) > 1:
            release.wait(10)  # the refresh ahead is slow
        return len(calls)

    get = Cached(0.02, probe, name="ahead-probe", max_age=10.0)
    assert get() == 1
    time.sleep(0.03)
    began = time.monotonic()
    # Past ttl, within max_age: answered at once while the one refresh runs.
    assert [get() for _ in range(50)] == [1] * 50
    assert time.monotonic() - began < 1.0
    assert len(calls) == 2
    release.set()
    for thread in threading.enumerate():
        if thread.name == "ahead-probe":
            thread.join(10)
    assert get() == 2
