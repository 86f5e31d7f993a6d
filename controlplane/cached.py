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

    A value older than ttl is still answered while one refresh runs in the background: a
    slow probe (a service that answers late) never holds up the requests, and one refresh
    runs at a time. Only a call with no value (the first, the first after
    invalidate()) or, with max_age, one whose value is older than max_age waits for a
    probe, and its errors are the caller's; callers that come meanwhile wait for that
    same probe. With a ttl under max_age the refresh runs ahead: while the value is
    polled it is renewed before it is max_age old, and no caller waits at all.

    A refresh that fails keeps the last value (and is logged), or with
    keep_on_error=False drops it: the next call probes again and gets the error itself."""

    def __init__(self, ttl: float, probe: Callable[[], T], name: str = "status-probe",
                 keep_on_error: bool = True, max_age: float | None = None) -> None:
        self.ttl, self.probe, self.name = ttl, probe, name
        self.keep_on_error = keep_on_error
        self.max_age = max_age
        self._lock = threading.Lock()  # held only to read or set the fields below
        # Held over a probe that callers wait for: one at a time. The refresh behind the
        # answers does not take it (an invalidate() must not wait for a refresh begun
        # before the change); _refreshing keeps those one at a time.
        self._probing = threading.Lock()
        self._value: T | None = None
        self._at: float | None = None
        self._refreshing = False
        self._generation = 0

    def _usable(self, at: float | None) -> bool:
        return at is not None and (self.max_age is None
                                   or time.monotonic() - at < self.max_age)

    def __call__(self) -> T:
        with self._lock:
            at, value = self._at, self._value
            if not self._usable(at):
                usable = False
            else:
                usable = True
                start = time.monotonic() - at >= self.ttl and not self._refreshing
                if start:
                    self._refreshing = True
                    generation = self._generation
        if not usable:
            return self._probe_now()
        if start:
            threading.Thread(target=self._refresh, args=(generation,), name=self.name,
                             daemon=True).start()
        return value  # type: ignore[return-value]

    def _probe_now(self) -> T:
        with self._probing:
            with self._lock:  # a probe that ran while this call waited may have answered
                if self._usable(self._at):
                    return self._value  # type: ignore[return-value]
                generation = self._generation
            value = self.probe()
            with self._lock:
                if generation == self._generation:
                    self._value, self._at = value, time.monotonic()
            return value

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
