"""The administrator: first-run creation, login with lockout (A3), sessions with idle expiry
(A7), password and e-mail changes (A5) and password reset tokens (A4)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from controlplane import rules
from controlplane.config import Config
from controlplane.errors import Conflict, Locked, Unauthorized, ValidationError
from controlplane.i18n import N_
from controlplane.rules import Field
from controlplane.store import Documents, History

ADMIN = "admin"
ADMIN_USERNAME = "admin"
TOUCH_PERSIST_S = 60

_hasher = PasswordHasher()  # argon2id
# Verified against when the user does not exist, so that timing does not tell.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(12))


def _digest(token: str) -> str:
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


class Auth:
    def __init__(self, docs: Documents, history: History, config: Config, clock=time.time):
        self.docs = docs
        self.history = history
        self.config = config
        self.clock = clock
        self._sessions: dict[str, Session] = {}
        # Called with a session that has just idled out (the web layer logs it).
        self.on_expire: Callable[[Session], None] | None = None
        self._lock = threading.RLock()
        self._load_sessions()

    # -- the administrator -------------------------------------------------------------
    def admin(self) -> dict[str, Any] | None:
        return self.docs.get(ADMIN)

    def configured(self) -> bool:
        return self.admin() is not None

    def create_admin(self, data: Any) -> dict[str, Any]:
        clean = rules.validate(data, {
            "password": rules.login_password,
            "confirm_password": Field(rules.login_password, required=False),
            "email": Field(rules.optional_email, required=False),
            "ux_programme": Field(rules.boolean, required=False),
            "language": Field(rules.one_of("zh_CN", "en"), required=False),
        })
        if "confirm_password" in clean and clean["confirm_password"] != clean["password"]:
            raise ValidationError(details={"confirm_password": N_("The passwords do not match.")})
        doc = {
            "username": ADMIN_USERNAME,
            "password_hash": _hasher.hash(clean["password"]),
            "email": clean.get("email", ""),
            "ux_programme": clean.get("ux_programme", True),
            "language": clean.get("language", "zh_CN"),
            "created": self.clock(),
        }
        with self.docs.batch() as batch:
            if batch.get(ADMIN) is not None:
                raise Conflict(N_("The administrator already exists."))
            batch.put(ADMIN, doc)
        return doc

    def update_admin(self, session: Session, data: Any) -> dict[str, Any]:
        """Quick settings (A6) run the wizard's administrator step again: a new password
        (left empty: kept), the e-mail and the user-experience choice, all behind the
        current password (as A5). A new password ends the other sessions."""
        if isinstance(data, Mapping) and not data.get("password") \
                and not data.get("confirm_password"):
            data = {k: v for k, v in data.items() if k not in ("password", "confirm_password")}
        clean = rules.validate(data, {
            "current_password": rules.text,
            "password": Field(rules.login_password, required=False),
            "confirm_password": Field(rules.text, required=False),
            "email": Field(rules.optional_email, required=False),
            "ux_programme": Field(rules.boolean, required=False),
        })
        details: dict[str, Any] = {}
        if "password" in clean and clean.get("confirm_password") != clean["password"]:
            details["confirm_password"] = N_("The passwords do not match.")
        with self.docs.batch() as batch:
            admin = batch.get(ADMIN)
            if admin is None:
                raise Conflict(N_("The administrator does not exist yet."))
            if not clean["current_password"]:
                details["current_password"] = N_("Required.")
            elif not self._verify(admin, clean["current_password"]):
                details["current_password"] = N_("The current password is wrong.")
            if details:
                raise ValidationError(details=details)
            doc = {**admin, **{k: clean[k] for k in ("email", "ux_programme") if k in clean}}
            if "password" in clean:
                doc["password_hash"] = _hasher.hash(clean["password"])
            batch.put(ADMIN, doc)
        if "password" in clean:
            self.close_other_sessions(admin["username"], keep=session)
        return self.public_admin()

    def public_admin(self) -> dict[str, Any]:
        admin = self.admin() or {}
        return {k: admin.get(k) for k in ("username", "email", "ux_programme", "language")}

    # -- login and lockout --------------------------------------------------------------
    def lock_remaining(self, username: str) -> float:
        until = self.history.scalar(
            "SELECT locked_until FROM login_failures WHERE username = ?", (username,))
        return max(0.0, (until or 0) - self.clock())

    def authenticate(self, username: Any, password: Any) -> str:
        """Return the username on success. Raises Locked (423) or Unauthorized (401)."""
        if not isinstance(username, str) or not isinstance(password, str) or not username:
            raise ValidationError(details={"username": N_("Required.")} if not username else
                                  {"password": N_("Required.")})
        username = username.strip()
        remaining = self.lock_remaining(username)
        if remaining > 0:
            raise Locked(minutes=max(1, round(remaining / 60)), retry_after=int(remaining) + 1)
        admin = self.admin()
        ok = False
        stored = admin["password_hash"] if admin and admin["username"] == username else None
        try:
            ok = _hasher.verify(stored or _DUMMY_HASH, password) and stored is not None
        except (VerificationError, InvalidHashError):
            ok = False
        if ok:
            self.history.execute("DELETE FROM login_failures WHERE username = ?", (username,))
            return username
        failures = (self.history.scalar(
            "SELECT failures FROM login_failures WHERE username = ?", (username,)) or 0) + 1
        locked_until = 0.0
        if failures >= self.config.lockout_attempts:
            locked_until = self.clock() + self.config.lockout_s
            failures = 0
        self.history.execute(
            "INSERT INTO login_failures (username, failures, locked_until) VALUES (?, ?, ?)"
            " ON CONFLICT(username) DO UPDATE SET failures = excluded.failures,"
            " locked_until = excluded.locked_until",
            (username, failures, locked_until),
        )
        if locked_until:
            raise Locked(minutes=max(1, round(self.config.lockout_s / 60)),
                         retry_after=self.config.lockout_s, just_locked=True)
        raise Unauthorized(N_("Wrong user name or password. %(left)s attempts left."),
                           left=self.config.lockout_attempts - failures)

    # -- sessions -------------------------------------------------------------------------
    def _load_sessions(self) -> None:
        for row in self.history.query("SELECT * FROM sessions"):
            session = Session(**{k: row[k] for k in row.keys()})  # noqa: SIM118
            session.remember = bool(session.remember)
            session.persisted_seen = session.last_seen
            self._sessions[session.token_hash] = session

    def idle_limit(self, session: Session) -> float:
        if session.remember:
            return self.config.remember_days * 86400
        return self.config.session_idle_s

    def open_session(self, username: str, remember: bool) -> tuple[str, Session]:
        token = secrets.token_urlsafe(32)
        now = self.clock()
        session = Session(_digest(token), username, secrets.token_urlsafe(32), now, now,
                          bool(remember), now)
        self.history.execute(
            "INSERT INTO sessions (token_hash, username, csrf, created, last_seen, remember)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (session.token_hash, username, session.csrf, now, now, int(session.remember)),
        )
        with self._lock:
            self._sessions[session.token_hash] = session
        return token, session

    def find_session(self, token: str | None, touch: bool = True) -> Session | None:
        """The live session for a cookie token, touched; None when absent or idle too long."""
        if not token:
            return None
        key = _digest(token)
        session = self._sessions.get(key)
        if session is None:
            return None
        now = self.clock()
        if now - session.last_seen > self.idle_limit(session):
            if self.close_session(token) is not None and self.on_expire is not None:
                self.on_expire(session)
            return None
        if not touch:
            return session
        session.last_seen = now
        if now - session.persisted_seen > TOUCH_PERSIST_S:
            session.persisted_seen = now
            self.history.execute("UPDATE sessions SET last_seen = ? WHERE token_hash = ?",
                                 (now, key))
        return session

    def close_session(self, token: str) -> Session | None:
        key = _digest(token)
        with self._lock:
            session = self._sessions.pop(key, None)
        self.history.execute("DELETE FROM sessions WHERE token_hash = ?", (key,))
        return session

    def close_other_sessions(self, username: str, keep: Session | None) -> None:
        with self._lock:
            for key, session in list(self._sessions.items()):
                if session.username == username and session is not keep:
                    del self._sessions[key]
                    self.history.execute("DELETE FROM sessions WHERE token_hash = ?", (key,))

    @staticmethod
    def csrf_ok(session: Session, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(session.csrf, token or "")

    # -- password and e-mail ----------------------------------------------------------
    def change_password(self, session: Session, data: Any) -> None:
        clean = rules.validate(data, {
            "current_password": rules.text,
            "new_password": rules.login_password,
            "confirm_password": rules.text,
        })
        admin = self.admin()
        if admin is None or not self._verify(admin, clean["current_password"]):
            raise ValidationError(
                details={"current_password": N_("The current password is wrong.")})
        if clean["confirm_password"] != clean["new_password"]:
            raise ValidationError(details={"confirm_password": N_("The passwords do not match.")})
        self._set_password(clean["new_password"])
        self.close_other_sessions(admin["username"], keep=session)

    def change_email(self, data: Any) -> None:
        clean = rules.validate(data, {
            "current_email": Field(rules.optional_email, required=False),
            "new_email": rules.email,
        })
        with self.docs.batch() as batch:
            admin = batch.get(ADMIN)
            if admin is None:
                raise Conflict(N_("The administrator does not exist yet."))
            if (admin.get("email") or "") != clean.get("current_email", ""):
                raise ValidationError(details={"current_email": N_("The current e-mail is wrong.")})
            batch.put(ADMIN, {**admin, "email": clean["new_email"]})

    def set_language(self, language: str) -> None:
        with self.docs.batch() as batch:
            admin = batch.get(ADMIN)
            if admin is not None and admin.get("language") != language:
                batch.put(ADMIN, {**admin, "language": language})

    def _verify(self, admin: dict[str, Any], password: str) -> bool:
        try:
            return _hasher.verify(admin["password_hash"], password)
        except (VerificationError, InvalidHashError):
            return False

    def _set_password(self, password: str) -> None:
        with self.docs.batch() as batch:
            admin = batch.get(ADMIN)
            batch.put(ADMIN, {**admin, "password_hash": _hasher.hash(password)})

    # -- password reset (A4) ------------------------------------------------------------
    def reset_token_for(self, username: str, email: str) -> str | None:
        """A single-use token when username and registered e-mail match, else None."""
        admin = self.admin()
        if (admin is None or admin["username"] != username.strip()
                or not admin.get("email")
                or admin["email"].lower() != email.strip().lower()):
            return None
        token = secrets.token_urlsafe(32)
        now = self.clock()
        self.history.execute("DELETE FROM reset_tokens WHERE expires < ?", (now,))
        self.history.execute(
            "INSERT INTO reset_tokens (token_hash, username, expires) VALUES (?, ?, ?)",
            (_digest(token), admin["username"], now + self.config.reset_link_s))
        return token

    def reset_token_valid(self, token: str) -> bool:
        expires = self.history.scalar(
            "SELECT expires FROM reset_tokens WHERE token_hash = ?", (_digest(token),))
        return expires is not None and expires > self.clock()

    def reset_password(self, token: str, data: Any) -> str:
        clean = rules.validate(data, {
            "new_password": rules.login_password,
            "confirm_password": rules.text,
        })
        if clean["confirm_password"] != clean["new_password"]:
            raise ValidationError(details={"confirm_password": N_("The passwords do not match.")})
        key = _digest(token)
        with self.history.lock:
            row = self.history.query(
                "SELECT username, expires FROM reset_tokens WHERE token_hash = ?", (key,))
            # Single use: the token goes whatever happens next.
            self.history.execute("DELETE FROM reset_tokens WHERE token_hash = ?", (key,))
        if not row or row[0]["expires"] <= self.clock():
            raise ValidationError(N_("This reset link is invalid or has expired."))
        self._set_password(clean["new_password"])
        username = row[0]["username"]
        self.history.execute("DELETE FROM login_failures WHERE username = ?", (username,))
        self.close_other_sessions(username, keep=None)
        return username
