"""A probe's last answer, kept for a while: what is polled far more often than it changes
(the dashboard's status, 系统信息's NICs) is probed at most once per ttl seconds."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class Cached(Generic[T]):
    """get = Cached(ttl, probe); get() -> probe()'s last answer.

    Only a call with no value (the first, or the first after invalidate()) waits for a
    probe, and its errors are the caller's. Later, a stale value is answered while one
    refresh runs in the background: a slow probe (a service that answers late) never
    holds up the requests, and concurrent requests never probe in parallel. A refresh
    that fails keeps the last value (and is logged), or with keep_on_error=False drops
    it: the next call probes again and gets the error itself."""

    def __init__(self, ttl: float, probe: Callable[[], T], name: str = "status-probe",
                 keep_on_error: bool = True, wait_when_stale: bool = False) -> None:
        self.ttl, self.probe, self.name = ttl, probe, name
        self.keep_on_error = keep_on_error
        # True: a stale value is never answered; the first caller probes, the others wait
        # for its answer (what a page shows is at most ttl old, and still one probe).
        self.wait_when_stale = wait_when_stale
        self._lock = threading.Lock()
        self._value: T | None = None
        self._at: float | None = None
        self._refreshing = False
        self._generation = 0

    def __call__(self) -> T:
        with self._lock:
            at, value = self._at, self._value
        if at is None or (self.wait_when_stale and time.monotonic() - at >= self.ttl):
            with self._lock:  # one probe for every caller that finds no (fresh) value
                if self._at is None or (self.wait_when_stale
                                        and time.monotonic() - self._at >= self.ttl):
                    self._value, self._at = None, None
                    self._value, self._at = self.probe(), time.monotonic()
                return self._value  # type: ignore[return-value]
        with self._lock:
            start = time.monotonic() - at >= self.ttl and not self._refreshing
            if start:
                self._refreshing = True
                generation = self._generation
        if start:
            threading.Thread(target=self._refresh, args=(generation,), name=self.name,
                             daemon=True).start()
        return value  # type: ignore[return-value]

    def _refresh(self, generation: int) -> None:
        try:
            value = self.probe()
        except Exception as exc:
            with self._lock:
                self._refreshing = False
                if not self.keep_on_error and generation == self._generation:
                    self._value, self._at = None, None
            if self.keep_on_error:
                log.exception("%s: the refresh failed; the last value stays", self.name)
            else:
                log.info("%s: the refresh failed (%s); the next call asks again",
                         self.name, exc)
            return
        with self._lock:
            self._refreshing = False
            if generation == self._generation:  # no invalidate() while it ran
                self._value, self._at = value, time.monotonic()

    def invalidate(self) -> None:
        """Forget the value: the next call probes (what changed it is read back at once)."""
        with self._lock:
            self._generation += 1
            self._value, self._at = None, None
