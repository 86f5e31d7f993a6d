"""Settings sections (SPEC §4.5 SMTP): defaults, partial PUT, write-only password."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.errors import NotFound, ValidationError
from controlplane.sections import SECTIONS
from controlplane.settings import Settings
from controlplane.store import Documents

SMTP = {"server": "smtp.example.com", "sender": "noreply@example.com", "port": 465,
        "security": "ssl"}


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "documents.json"


@pytest.fixture
def settings(path: Path) -> Settings:
    return Settings(Documents(path))


def test_smtp_defaults(settings: Settings) -> None:
    assert settings.public("smtp") == {
        "server": "", "sender": "", "username": "", "password_set": False, "port": 25,
        "security": "none", "verify_certificate": True,
    }
    assert settings.stored("smtp") == SECTIONS["smtp"].defaults


def test_defaults_are_not_shared(settings: Settings) -> None:
    settings.stored("smtp")["port"] = 1
    settings.public("smtp")["server"] = "x.example.com"
    assert settings.stored("smtp") == SECTIONS["smtp"].defaults


def test_partial_put_changes_only_the_keys_sent(settings: Settings) -> None:
    settings.put("smtp", SMTP)
    change = settings.put("smtp", {"port": "587", "security": "tls"})
    old, new = change.old, change.new
    assert old["port"] == 465 and old["security"] == "ssl"
    assert new == {**old, "port": 587, "security": "tls"}
    assert settings.public("smtp")["server"] == "smtp.example.com"
    assert Settings(Documents(settings.docs.storage.path)).stored("smtp") == new


def test_password_is_write_only(settings: Settings) -> None:
    settings.put("smtp", {**SMTP, "username": "mailer", "password": "s3cret-密码"})
    public = settings.public("smtp")
    assert "password" not in public
    assert public["password_set"] is True
    assert settings.stored("smtp")["password"] == "s3cret-密码"
    # Leaving the password out keeps it.
    settings.put("smtp", {"port": 2525})
    assert settings.stored("smtp")["password"] == "s3cret-密码"
    assert settings.public("smtp")["password_set"] is True
    # An empty password clears it.
    settings.put("smtp", {"password": ""})
    assert settings.public("smtp")["password_set"] is False


def test_put_without_a_change_does_not_write(settings: Settings, path: Path) -> None:
    settings.put("smtp", SMTP)
    inode = path.stat().st_ino  # every write renames a new file over the old one
    change = settings.put("smtp", {"port": 465})
    old, new = change.old, change.new
    assert old == new
    assert path.stat().st_ino == inode


@pytest.mark.parametrize("body", [
    {"port": 0},
    {"port": 587, "server": "bad host!"},
    {"server": "smtp.example.com", "sender": "a<b@example.com"},
    {"password": "p" * 129},
    {"security": "starttls"},
    {"verify_certificate": "yes"},
    {"username": "u" * 129},
    {"port": 587, "unknown": 1},
    ["port", 587],
])
def test_bad_input_changes_nothing(settings: Settings, path: Path, body) -> None:
    settings.put("smtp", {**SMTP, "password": "keep"})
    before = path.read_bytes()
    with pytest.raises(ValidationError):
        settings.put("smtp", body)
    assert path.read_bytes() == before
    assert settings.stored("smtp") == {**SECTIONS["smtp"].defaults, **SMTP, "password": "keep"}


def test_every_bad_field_is_reported(settings: Settings) -> None:
    with pytest.raises(ValidationError) as info:
        settings.put("smtp", {"port": 0, "server": "bad host!", "security": "x"})
    assert set(info.value.details) == {"port", "server", "security"}


def test_sender_is_required_with_a_server(settings: Settings, path: Path) -> None:
    with pytest.raises(ValidationError) as info:
        settings.put("smtp", {"server": "smtp.example.com"})
    assert set(info.value.details) == {"sender"}
    assert not path.exists() or "settings.smtp" not in path.read_text(encoding="utf-8")
    settings.put("smtp", SMTP)
    # Clearing the sender while a server is set is refused as well.
    before = path.read_bytes()
    with pytest.raises(ValidationError) as info:
        settings.put("smtp", {"sender": ""})
    assert set(info.value.details) == {"sender"}
    assert path.read_bytes() == before
    # No server, no sender needed.
    settings.put("smtp", {"server": "", "sender": ""})
    assert settings.public("smtp")["server"] == ""


def test_server_and_sender_are_normalised(settings: Settings) -> None:
    change = settings.put("smtp", {"server": "SMTP.Example.COM", "sender": "NoReply@Example.com"})
    new = change.new
    assert new["server"] == "smtp.example.com"
    assert new["sender"] == "noreply@example.com"


def test_unknown_section(settings: Settings) -> None:
    with pytest.raises(NotFound):
        settings.public("nope")
    with pytest.raises(NotFound):
        settings.put("nope", {})
