"""The administrator (SPEC A1-A5, A7): creation, lockout, sessions, changes, reset."""

from __future__ import annotations

from pathlib import Path

import pytest
from argon2 import PasswordHasher, Type

from controlplane import auth as auth_module
from controlplane.auth import Auth
from controlplane.config import Config
from controlplane.errors import Conflict, Locked, Unauthorized, ValidationError
from controlplane.store import Documents, History

PASSWORD = "Admin#123"
EMAIL = "admin@example.com"
REAL_HASHER = auth_module._hasher


@pytest.fixture(autouse=True)
def fast_hasher(monkeypatch) -> None:
    """argon2id with the cheapest cost: the production cost (~0.2 s a hash) is not under test."""
    hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, type=Type.ID)
    monkeypatch.setattr(auth_module, "_hasher", hasher)
    monkeypatch.setattr(auth_module, "_DUMMY_HASH", hasher.hash("dummy-password"))


def test_production_hasher_is_argon2id() -> None:
    assert REAL_HASHER.type is Type.ID
    hashed = REAL_HASHER.hash(PASSWORD)
    assert hashed.startswith("$argon2id$")
    assert REAL_HASHER.verify(hashed, PASSWORD)


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Env:
    """Documents, History and Config on tmp_path; `restart()` gives a new Auth on the files."""

    def __init__(self, tmp_path: Path) -> None:
        self.config = Config(data_dir=tmp_path / "data", root=tmp_path / "root")
        self.clock = Clock()
        self.docs = Documents(self.config.documents_path)
        self.history = History(self.config.history_path)
        self.auth = Auth(self.docs, self.history, self.config, clock=self.clock)

    def restart(self) -> Auth:
        self.docs.close()
        self.history.close()
        self.docs = Documents(self.config.documents_path)
        self.history = History(self.config.history_path)
        self.auth = Auth(self.docs, self.history, self.config, clock=self.clock)
        return self.auth


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return Env(tmp_path)


@pytest.fixture
def admin(env: Env) -> Env:
    env.auth.create_admin({"password": PASSWORD, "confirm_password": PASSWORD, "email": EMAIL})
    return env


def _fail(auth: Auth, times: int, username: str = "admin") -> list[Exception]:
    errors: list[Exception] = []
    for _ in range(times):
        with pytest.raises((Unauthorized, Locked)) as info:
            auth.authenticate(username, "wrong-password")
        errors.append(info.value)
    return errors


# -- creation -------------------------------------------------------------------------------
def test_create_admin_validates(env: Env) -> None:
    with pytest.raises(ValidationError) as info:
        env.auth.create_admin({"password": "short", "email": "not-an-email"})
    assert set(info.value.details) == {"password", "email"}
    with pytest.raises(ValidationError) as info:
        env.auth.create_admin({"password": PASSWORD, "confirm_password": "Admin#124"})
    assert set(info.value.details) == {"confirm_password"}
    assert not env.auth.configured()
    assert env.docs.get("admin") is None


def test_second_admin_is_a_conflict(admin: Env) -> None:
    before = admin.config.documents_path.read_bytes()
    with pytest.raises(Conflict):
        admin.auth.create_admin({"password": "Other#123"})
    assert admin.config.documents_path.read_bytes() == before
    assert admin.auth.authenticate("admin", PASSWORD) == "admin"


def test_password_is_stored_as_argon2id_only(admin: Env) -> None:
    stored = admin.auth.admin()
    assert stored["password_hash"].startswith("$argon2id$")
    assert stored["email"] == EMAIL
    raw = admin.config.documents_path.read_bytes()
    assert PASSWORD.encode() not in raw
    assert "password_hash" not in admin.auth.public_admin()
    assert admin.auth.public_admin()["username"] == "admin"


def test_admin_email_is_stored_lowercase(env: Env) -> None:
    env.auth.create_admin({"password": PASSWORD, "email": "Admin@Example.COM"})
    assert env.auth.admin()["email"] == "admin@example.com"


def test_set_language_writes_only_a_change(admin: Env) -> None:
    path = admin.config.documents_path
    inode = path.stat().st_ino  # every write renames a new file over the old one
    admin.auth.set_language("zh_CN")  # the default: nothing to write
    assert path.stat().st_ino == inode
    admin.auth.set_language("en")
    assert path.stat().st_ino != inode
    assert admin.restart().admin()["language"] == "en"


# -- login and lockout (A3) -----------------------------------------------------------------
def test_right_and_wrong_passwords(admin: Env) -> None:
    assert admin.auth.authenticate("admin", PASSWORD) == "admin"
    with pytest.raises(Unauthorized):
        admin.auth.authenticate("admin", PASSWORD.lower())
    with pytest.raises(Unauthorized):
        admin.auth.authenticate("root", PASSWORD)


def test_five_wrong_passwords_lock_on_the_fifth(admin: Env) -> None:
    errors = _fail(admin.auth, 5)
    assert all(isinstance(e, Unauthorized) for e in errors[:4])
    assert [e.params["left"] for e in errors[:4]] == [4, 3, 2, 1]
    assert isinstance(errors[4], Locked)
    assert errors[4].params["retry_after"] == admin.config.lockout_s
    # Locked: the right password is refused too.
    with pytest.raises(Locked):
        admin.auth.authenticate("admin", PASSWORD)
    assert admin.auth.lock_remaining("admin") == admin.config.lockout_s


def test_lock_survives_a_restart(admin: Env) -> None:
    _fail(admin.auth, 5)
    admin.clock.advance(60)
    auth = admin.restart()
    with pytest.raises(Locked) as info:
        auth.authenticate("admin", PASSWORD)
    assert info.value.params["retry_after"] == admin.config.lockout_s - 60 + 1


def test_lock_ends_after_lockout_s(admin: Env) -> None:
    _fail(admin.auth, 5)
    admin.clock.advance(admin.config.lockout_s - 1)
    with pytest.raises(Locked):
        admin.auth.authenticate("admin", PASSWORD)
    admin.clock.advance(2)
    assert admin.auth.authenticate("admin", PASSWORD) == "admin"


def test_after_a_lock_the_count_starts_again(admin: Env) -> None:
    _fail(admin.auth, 5)
    admin.clock.advance(admin.config.lockout_s + 1)
    errors = _fail(admin.auth, 5)
    assert [type(e) for e in errors] == [Unauthorized] * 4 + [Locked]


def test_a_success_resets_the_counter(admin: Env) -> None:
    _fail(admin.auth, 4)
    assert admin.auth.authenticate("admin", PASSWORD) == "admin"
    errors = _fail(admin.auth, 4)
    assert all(isinstance(e, Unauthorized) for e in errors)
    assert errors[-1].params["left"] == 1
    assert admin.auth.authenticate("admin", PASSWORD) == "admin"


def test_lockout_is_per_username(admin: Env) -> None:
    _fail(admin.auth, 5, username="someone")
    assert admin.auth.authenticate("admin", PASSWORD) == "admin"


def test_lockout_counts_usernames_with_spaces_as_the_same(admin: Env) -> None:
    _fail(admin.auth, 4)
    with pytest.raises(Locked):
        admin.auth.authenticate(" admin ", "wrong-password")


@pytest.mark.parametrize(("username", "password"), [("", PASSWORD), ("admin", None),
                                                    (None, PASSWORD), ("admin", 123456)])
def test_authenticate_needs_text(admin: Env, username, password) -> None:
    with pytest.raises(ValidationError):
        admin.auth.authenticate(username, password)


# -- sessions (A7) --------------------------------------------------------------------------
def test_session_idles_out_after_session_idle_s(admin: Env) -> None:
    token, _ = admin.auth.open_session("admin", remember=False)
    idle = admin.config.session_idle_s
    admin.clock.advance(idle - 1)
    assert admin.auth.find_session(token) is not None  # touched: the idle time restarts
    admin.clock.advance(idle - 1)
    assert admin.auth.find_session(token) is not None
    admin.clock.advance(idle + 1)
    assert admin.auth.find_session(token) is None
    admin.clock.advance(-idle)  # gone for good, not just hidden
    assert admin.auth.find_session(token) is None
    assert admin.history.scalar("SELECT count(*) FROM sessions") == 0


def test_find_without_touch_does_not_extend(admin: Env) -> None:
    token, _ = admin.auth.open_session("admin", remember=False)
    idle = admin.config.session_idle_s
    admin.clock.advance(idle - 1)
    assert admin.auth.find_session(token, touch=False) is not None
    admin.clock.advance(2)
    assert admin.auth.find_session(token, touch=False) is None


def test_remember_sessions_use_remember_days(admin: Env) -> None:
    token, session = admin.auth.open_session("admin", remember=True)
    assert session.remember
    admin.clock.advance(admin.config.session_idle_s + 1)
    assert admin.auth.find_session(token, touch=False) is not None
    admin.clock.advance(admin.config.remember_days * 86400 - admin.config.session_idle_s - 2)
    assert admin.auth.find_session(token, touch=False) is not None
    admin.clock.advance(2)
    assert admin.auth.find_session(token) is None


def test_unknown_or_empty_tokens_find_nothing(admin: Env) -> None:
    admin.auth.open_session("admin", remember=False)
    assert admin.auth.find_session(None) is None
    assert admin.auth.find_session("") is None
    assert admin.auth.find_session("not-a-token") is None


def test_sessions_survive_a_restart(admin: Env) -> None:
    token, session = admin.auth.open_session("admin", remember=True)
    auth = admin.restart()
    found = auth.find_session(token)
    assert found is not None
    assert (found.username, found.csrf, found.remember) == ("admin", session.csrf, True)
    assert auth.csrf_ok(found, session.csrf)
    assert not auth.csrf_ok(found, "forged")
    assert not auth.csrf_ok(found, None)


def test_session_token_is_not_stored_in_clear(admin: Env) -> None:
    token, _ = admin.auth.open_session("admin", remember=False)
    admin.history.close()
    raw = Path(admin.config.history_path).read_bytes()
    wal = Path(str(admin.config.history_path) + "-wal")
    raw += wal.read_bytes() if wal.exists() else b""
    assert token.encode() not in raw


def test_logout_closes_the_session_for_good(admin: Env) -> None:
    token, _ = admin.auth.open_session("admin", remember=False)
    admin.auth.close_session(token)
    assert admin.auth.find_session(token) is None
    assert admin.restart().find_session(token) is None


# -- password and e-mail changes (A5) -------------------------------------------------------
def test_change_password_needs_the_current_one(admin: Env) -> None:
    _, session = admin.auth.open_session("admin", remember=False)
    with pytest.raises(ValidationError) as info:
        admin.auth.change_password(session, {"current_password": "wrong-password",
                                             "new_password": "New#12345",
                                             "confirm_password": "New#12345"})
    assert set(info.value.details) == {"current_password"}
    with pytest.raises(ValidationError) as info:
        admin.auth.change_password(session, {"current_password": PASSWORD,
                                             "new_password": "New#12345",
                                             "confirm_password": "New#12346"})
    assert set(info.value.details) == {"confirm_password"}
    with pytest.raises(ValidationError) as info:
        admin.auth.change_password(session, {"current_password": PASSWORD,
                                             "new_password": "short",
                                             "confirm_password": "short"})
    assert set(info.value.details) == {"new_password"}
    assert admin.auth.authenticate("admin", PASSWORD) == "admin"


def test_change_password_ends_the_other_sessions(admin: Env) -> None:
    mine, session = admin.auth.open_session("admin", remember=False)
    other, _ = admin.auth.open_session("admin", remember=True)
    admin.auth.change_password(session, {"current_password": PASSWORD,
                                         "new_password": "New#12345",
                                         "confirm_password": "New#12345"})
    assert admin.auth.find_session(mine) is not None
    assert admin.auth.find_session(other) is None
    assert admin.restart().find_session(other) is None
    with pytest.raises(Unauthorized):
        admin.auth.authenticate("admin", PASSWORD)
    assert admin.auth.authenticate("admin", "New#12345") == "admin"
    assert admin.auth.admin()["password_hash"].startswith("$argon2id$")


def test_change_email_needs_the_current_email(admin: Env) -> None:
    with pytest.raises(ValidationError) as info:
        admin.auth.change_email({"current_email": "other@example.com",
                                 "new_email": "new@example.com"})
    assert set(info.value.details) == {"current_email"}
    with pytest.raises(ValidationError):
        admin.auth.change_email({"new_email": "new@example.com"})
    with pytest.raises(ValidationError) as info:
        admin.auth.change_email({"current_email": EMAIL, "new_email": "a<b@example.com"})
    assert set(info.value.details) == {"new_email"}
    assert admin.auth.admin()["email"] == EMAIL

    admin.auth.change_email({"current_email": EMAIL.upper(), "new_email": "New@Example.com"})
    assert admin.auth.admin()["email"] == "new@example.com"
    assert admin.restart().admin()["email"] == "new@example.com"


def test_change_email_when_none_was_set(env: Env) -> None:
    env.auth.create_admin({"password": PASSWORD})
    env.auth.change_email({"new_email": "first@example.com"})
    assert env.auth.admin()["email"] == "first@example.com"


# -- password reset (A4) --------------------------------------------------------------------
def test_reset_token_only_for_matching_username_and_email(admin: Env) -> None:
    assert admin.auth.reset_token_for("admin", "other@example.com") is None
    assert admin.auth.reset_token_for("root", EMAIL) is None
    assert admin.auth.reset_token_for("admin", "") is None
    assert admin.history.scalar("SELECT count(*) FROM reset_tokens") == 0
    token = admin.auth.reset_token_for(" admin ", EMAIL.upper())
    assert token and admin.auth.reset_token_valid(token)


def test_no_reset_token_when_no_email_is_registered(env: Env) -> None:
    env.auth.create_admin({"password": PASSWORD})
    assert env.auth.reset_token_for("admin", "") is None


def test_reset_token_is_single_use(admin: Env) -> None:
    token = admin.auth.reset_token_for("admin", EMAIL)
    body = {"new_password": "Reset#123", "confirm_password": "Reset#123"}
    assert admin.auth.reset_password(token, body) == "admin"
    assert not admin.auth.reset_token_valid(token)
    with pytest.raises(ValidationError):
        admin.auth.reset_password(token, {"new_password": "Again#123",
                                          "confirm_password": "Again#123"})
    assert admin.auth.authenticate("admin", "Reset#123") == "admin"


def test_reset_token_expires_after_reset_link_s(admin: Env) -> None:
    token = admin.auth.reset_token_for("admin", EMAIL)
    admin.clock.advance(admin.config.reset_link_s - 1)
    assert admin.auth.reset_token_valid(token)
    admin.clock.advance(2)
    assert not admin.auth.reset_token_valid(token)
    with pytest.raises(ValidationError):
        admin.auth.reset_password(token, {"new_password": "Reset#123",
                                          "confirm_password": "Reset#123"})
    assert admin.auth.authenticate("admin", PASSWORD) == "admin"


def test_reset_token_survives_a_restart_and_is_not_stored_in_clear(admin: Env) -> None:
    token = admin.auth.reset_token_for("admin", EMAIL)
    assert admin.restart().reset_token_valid(token)
    assert admin.history.scalar("SELECT count(*) FROM reset_tokens WHERE token_hash = ?",
                                (token,)) == 0


def test_reset_clears_the_lockout_and_ends_sessions(admin: Env) -> None:
    old, _ = admin.auth.open_session("admin", remember=True)
    token = admin.auth.reset_token_for("admin", EMAIL)
    _fail(admin.auth, 5)
    with pytest.raises(Locked):
        admin.auth.authenticate("admin", PASSWORD)
    admin.auth.reset_password(token, {"new_password": "Reset#123",
                                      "confirm_password": "Reset#123"})
    assert admin.auth.lock_remaining("admin") == 0
    assert admin.auth.authenticate("admin", "Reset#123") == "admin"
    assert admin.auth.find_session(old) is None


def test_reset_with_bad_input_keeps_the_token(admin: Env) -> None:
    token = admin.auth.reset_token_for("admin", EMAIL)
    with pytest.raises(ValidationError):
        admin.auth.reset_password(token, {"new_password": "short", "confirm_password": "short"})
    with pytest.raises(ValidationError):
        admin.auth.reset_password(token, {"new_password": "Reset#123",
                                          "confirm_password": "Reset#124"})
    assert admin.auth.reset_token_valid(token)
    assert admin.auth.reset_password(token, {"new_password": "Reset#123",
                                             "confirm_password": "Reset#123"}) == "admin"
