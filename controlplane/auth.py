"""The administrator: first-run creation, login with lockout (A3), sessions with idle expiry
(A7), password and e-mail changes (A5) and password reset tokens (A4)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from controlplane import rules
from controlplane.config import Config
from controlplane.errors import Conflict, ValidationError
from controlplane.i18n import N_
from controlplane.rules import Field
from controlplane.sessions import Lockout, Session, Sessions, csrf_ok, digest
from controlplane.store import Documents, History

ADMIN = "admin"
ADMIN_USERNAME = "admin"
__all__ = ["Auth", "Session"]

_hasher = PasswordHasher()  # argon2id
# Verified against when the user does not exist, so that timing does not tell.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(12))


class Auth:
    def __init__(self, docs: Documents, history: History, config: Config, clock=time.time):
        self.docs = docs
        self.history = history
        self.config = config
        self.clock = clock
        self.sessions = Sessions(history, "admin", self.idle_limit, clock)
        self.lockout = Lockout(history, config.lockout_attempts, config.lockout_s, clock)

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
        return self.lockout.remaining(username)

    def authenticate(self, username: Any, password: Any) -> str:
        """Return the username on success. Raises Locked (423) or Unauthorized (401)."""
        if not isinstance(username, str) or not isinstance(password, str) or not username:
            raise ValidationError(details={"username": N_("Required.")} if not username else
                                  {"password": N_("Required.")})
        username = username.strip()
        self.lockout.check(username)
        admin = self.admin()
        ok = False
        stored = admin["password_hash"] if admin and admin["username"] == username else None
        try:
            ok = _hasher.verify(stored or _DUMMY_HASH, password) and stored is not None
        except (VerificationError, InvalidHashError):
            ok = False
        if ok:
            self.lockout.succeeded(username)
            return username
        raise self.lockout.failed(username)

    # -- sessions -------------------------------------------------------------------------
    @property
    def on_expire(self):
        return self.sessions.on_expire

    @on_expire.setter
    def on_expire(self, callback) -> None:
        self.sessions.on_expire = callback

    def idle_limit(self, session: Session) -> float:
        if session.remember:
            return self.config.remember_days * 86400
        return self.config.session_idle_s

    def open_session(self, username: str, remember: bool) -> tuple[str, Session]:
        return self.sessions.open(username, remember)

    def find_session(self, token: str | None, touch: bool = True) -> Session | None:
        return self.sessions.find(token, touch)

    def close_session(self, token: str) -> Session | None:
        return self.sessions.close(token)

    def close_other_sessions(self, username: str, keep: Session | None) -> None:
        self.sessions.close_others(username, keep)

    @staticmethod
    def csrf_ok(session: Session, token: str | None) -> bool:
        return csrf_ok(session, token)

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
            (digest(token), admin["username"], now + self.config.reset_link_s))
        return token

    def reset_token_valid(self, token: str) -> bool:
        expires = self.history.scalar(
            "SELECT expires FROM reset_tokens WHERE token_hash = ?", (digest(token),))
        return expires is not None and expires > self.clock()

    def reset_password(self, token: str, data: Any) -> str:
        clean = rules.validate(data, {
            "new_password": rules.login_password,
            "confirm_password": rules.text,
        })
        if clean["confirm_password"] != clean["new_password"]:
            raise ValidationError(details={"confirm_password": N_("The passwords do not match.")})
        key = digest(token)
        with self.history.lock:
            row = self.history.query(
                "SELECT username, expires FROM reset_tokens WHERE token_hash = ?", (key,))
            # Single use: the token goes whatever happens next.
            self.history.execute("DELETE FROM reset_tokens WHERE token_hash = ?", (key,))
        if not row or row[0]["expires"] <= self.clock():
            raise ValidationError(N_("This reset link is invalid or has expired."))
        self._set_password(clean["new_password"])
        username = row[0]["username"]
        self.lockout.succeeded(username)
        self.close_other_sessions(username, keep=None)
        return username
