"""Sign-in sessions and the lockout of wrong passwords (A3, A7), shared by the
administrator (controlplane.auth) and the enterprise users' portal (controlplane.portal).

Each kind of session is a realm ("admin", "portal"): a session of one realm is never
found by the other (its own cookie, its own table rows), so a portal user's cookie can
never open an admin route. Sessions live in memory and in the history database (they
survive a restart of the control plane); last_seen is written at most once a minute.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass

from controlplane.errors import Locked, Unauthorized
from controlplane.i18n import N_
from controlplane.store import History, storage_full

log = logging.getLogger(__name__)
TOUCH_PERSIST_S = 60


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class Session:
    token_hash: str
    username: str
    csrf: str
    created: float
    last_seen: float
    remember: bool
    persisted_seen: float = 0.0
    realm: str = "admin"


def csrf_ok(session: Session, token: str | None) -> bool:
    return bool(token) and hmac.compare_digest(session.csrf, token or "")


class Sessions:
    """The live sessions of one realm."""

    def __init__(self, history: History, realm: str, idle_limit: Callable[[Session], float],
                 clock: Callable[[], float]) -> None:
        self.history, self.realm, self.idle_limit, self.clock = history, realm, idle_limit, clock
        # Called with a session that has just idled out (the web layer logs it).
        self.on_expire: Callable[[Session], None] | None = None
        self._by_hash: dict[str, Session] = {}
        self._lock = threading.RLock()
        self.reload()

    def reload(self) -> None:
        """The sessions the history database holds, and no others (also after a restore
        put another database in place: a backup holds none, so everyone is signed out)."""
        found = {}
        for row in self.history.query("SELECT * FROM sessions WHERE realm = ?",
                                      (self.realm,)):
            session = Session(**{k: row[k] for k in row.keys()})  # noqa: SIM118
            session.remember = bool(session.remember)
            session.persisted_seen = session.last_seen
            found[session.token_hash] = session
        with self._lock:
            self._by_hash = found

    def open(self, username: str, remember: bool = False) -> tuple[str, Session]:
        token = secrets.token_urlsafe(32)
        now = self.clock()
        session = Session(digest(token), username, secrets.token_urlsafe(32), now, now,
                          bool(remember), now, self.realm)
        try:
            self.history.execute(
                "INSERT INTO sessions (token_hash, username, csrf, created, last_seen,"
                " remember, realm) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (session.token_hash, username, session.csrf, now, now,
                 int(session.remember), self.realm))
        except Exception as exc:
            # A full disk: the session lives in memory only (until a restart), so that the
            # administrator can still sign in and free space.
            if not storage_full(exc):
                raise
            log.warning("disk full: %s's session is kept in memory only", username)
        with self._lock:
            self._by_hash[session.token_hash] = session
        return token, session

    def find(self, token: str | None, touch: bool = True) -> Session | None:
        """The live session for a cookie token, touched; None when absent or idle too long."""
        if not token:
            return None
        key = digest(token)
        session = self._by_hash.get(key)
        if session is None:
            return None
        now = self.clock()
        if now - session.last_seen > self.idle_limit(session):
            if self.close(token) is not None and self.on_expire is not None:
                self.on_expire(session)
            return None
        if not touch:
            return session
        session.last_seen = now
        if now - session.persisted_seen > TOUCH_PERSIST_S:
            try:
                self.history.execute("UPDATE sessions SET last_seen = ? WHERE token_hash = ?",
                                     (now, key))
                session.persisted_seen = now
            except Exception as exc:  # a full disk: written at a later request
                if not storage_full(exc):
                    raise
        return session

    def close(self, token: str) -> Session | None:
        key = digest(token)
        with self._lock:
            session = self._by_hash.pop(key, None)
        self.history.execute("DELETE FROM sessions WHERE token_hash = ? AND realm = ?",
                             (key, self.realm))
        return session

    def close_others(self, username: str, keep: Session | None) -> None:
        """End every session of username but keep (all of them when keep is None)."""
        with self._lock:
            for key, session in list(self._by_hash.items()):
                if session.username == username and session is not keep:
                    del self._by_hash[key]
                    self.history.execute("DELETE FROM sessions WHERE token_hash = ?", (key,))


class Lockout:
    """A3: after `attempts` wrong passwords in a row a name is locked for `lock_s`.
    Keys are what is signed in as ("admin", "portal:1001"), one count each."""

    def __init__(self, history: History, attempts: int, lock_s: int,
                 clock: Callable[[], float]) -> None:
        self.history, self.attempts, self.lock_s, self.clock = history, attempts, lock_s, clock

    def remaining(self, key: str) -> float:
        until = self.history.scalar(
            "SELECT locked_until FROM login_failures WHERE username = ?", (key,))
        return max(0.0, (until or 0) - self.clock())

    def check(self, key: str) -> None:
        """Locked (423) while the key is locked."""
        remaining = self.remaining(key)
        if remaining > 0:
            raise Locked(minutes=max(1, round(remaining / 60)), retry_after=int(remaining) + 1)

    def succeeded(self, key: str) -> None:
        self.history.execute("DELETE FROM login_failures WHERE username = ?", (key,))

    def failed(self, key: str) -> Locked | Unauthorized:
        """Count a wrong password; the error to raise (Locked once the count is full)."""
        failures = (self.history.scalar(
            "SELECT failures FROM login_failures WHERE username = ?", (key,)) or 0) + 1
        locked_until = 0.0
        if failures >= self.attempts:
            locked_until = self.clock() + self.lock_s
            failures = 0
        self.history.execute(
            "INSERT INTO login_failures (username, failures, locked_until) VALUES (?, ?, ?)"
            " ON CONFLICT(username) DO UPDATE SET failures = excluded.failures,"
            " locked_until = excluded.locked_until",
            (key, failures, locked_until))
        if locked_until:
            return Locked(minutes=max(1, round(self.lock_s / 60)), retry_after=self.lock_s,
                          just_locked=True)
        return Unauthorized(N_("Wrong user name or password. %(left)s attempts left."),
                            left=self.attempts - failures)
