"""Factory reset (SPEC G2, controlplane/maintenance.py) on a data dir built through the
real modules: settings mode keeps accounts, rooms, license and trial marker; all mode
keeps only the trial-used marker."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane import backups, cdr, secrets
from controlplane.__main__ import main
from controlplane.app import Services
from controlplane.config import Config
from controlplane.maintenance import factory_reset
from controlplane.sections import SECTIONS
from tests.license_keys import LicenseKeys, make_keys


@pytest.fixture
def keys(tmp_path: Path) -> LicenseKeys:
    return make_keys(tmp_path)


@pytest.fixture
def config(tmp_path: Path, keys: LicenseKeys) -> Config:
    return Config(data_dir=tmp_path / "data", root=tmp_path / "root",
                  license_pubkey=str(keys.public))


def populate(config: Config, keys: LicenseKeys) -> dict:
    services = Services.open(config)
    try:
        services.licenses.start_trial()
        services.licenses.activate(keys.serial())
        services.auth.create_admin({"password": "Admin#123", "email": "a@example.com"})
        services.settings.put("syslog", {"server": "10.0.0.9", "port": 1514})
        services.settings.put("network", {"domain": "vc.example.com"})
        services.accounts.create({"name": "Ann", "account": "1001", "email": "a@example.com"})
        services.accounts.create({"name": "Bob", "account": "1002", "email": "b@example.com"})
        services.rooms.create({"name": "Board", "kind": "normal"})
        services.rooms.create({"name": "Lobby", "kind": "video", "bound_account": "1002"})
        services.oplog.record("admin", "10.0.0.1", "login")
        services.oplog.record("admin", "10.0.0.1", "settings.syslog")
        services.auth.open_session("admin", remember=False)
        services.history.execute(
            "INSERT INTO login_failures (username, failures) VALUES ('admin', 2)")
        services.cdrs.put(b'{"variables": {"uuid": "11111111-2222-4333-8444-555555555555"}}')
        assert services.licenses.valid()
        return {
            "license": services.docs.get("license"),
            "trial": services.docs.get("license_trial"),
            "secrets": services.docs.get(secrets.DOC),
            "accounts": services.accounts.find_all(limit=None)["items"],
            "rooms": services.rooms.find_all(limit=None)["items"],
        }
    finally:
        services.close()


def history_counts(services: Services) -> dict[str, int]:
    return {table: services.history.scalar(f"SELECT count(*) FROM {table}")  # noqa: S608
            for table in ("oplog", "sessions", "login_failures", "reset_tokens")}


def test_settings_mode_keeps_accounts_rooms_and_license(config: Config,
                                                        keys: LicenseKeys) -> None:
    before = populate(config, keys)
    logs = config.data_dir / "logs"
    (logs / "web").mkdir(parents=True)
    (logs / "web" / "2025-03-15.log").write_text("GET /\n")
    (logs / "terminal-10.0.0.5.log").write_text("REGISTER\n")

    removed = factory_reset(config, "settings")

    assert {"document: admin", "document: settings.syslog",
            "document: settings.network"} <= set(removed)
    assert not [p for p in logs.rglob("*") if p.is_file()]
    assert (logs / "web").is_dir()
    services = Services.open(config)
    try:
        docs = services.docs.storage.read()
        assert not [name for name in docs if name.startswith("settings.")]
        for name, section in SECTIONS.items():
            assert services.settings.stored(name) == section.defaults
        assert services.auth.admin() is None and not services.auth.configured()
        assert services.docs.get("license") == before["license"]
        assert services.docs.get("license_trial") == before["trial"]
        assert services.licenses.valid()
        assert services.docs.get(secrets.DOC) == before["secrets"]
        assert services.rooms.find_all(limit=None)["items"] == before["rooms"]
        accounts = services.accounts.find_all(limit=None)["items"]
        assert [a["account"] for a in accounts] == ["1001", "1002"]
        # The domain is back to its default: the hashes of the old one ask for a reset.
        assert all(a["needs_reset"] for a in accounts)
        assert history_counts(services) == dict.fromkeys(history_counts(services), 0)
        assert services.cdrs.uuids() == []  # call records are history too
        assert services.auth.find_session("anything") is None
    finally:
        services.close()


def test_all_mode_keeps_only_the_trial_marker(config: Config, keys: LicenseKeys) -> None:
    before = populate(config, keys)
    # ... and the backup key, which belongs to the appliance like the trial marker.
    opened = Services.open(config)
    try:
        backup_key = backups.backup_key(opened.docs)
    finally:
        opened.close()
    (config.data_dir / "logs").mkdir()
    (config.data_dir / "logs" / "mcu.log").write_text("x\n")

    removed = factory_reset(config, "all")

    assert {"document: admin", "document: accounts", "document: rooms", "document: license",
            "document: secrets"} <= set(removed)
    assert "document: license_trial" not in removed
    assert not config.history_path.exists()
    assert not (config.data_dir / cdr.DATABASE).exists()
    assert not (config.data_dir / "logs" / "mcu.log").exists()
    services = Services.open(config)
    try:
        docs = services.docs.storage.read()
        assert sorted(docs) == ["_meta", "backup_key", "license_trial", "secrets"]
        assert backups.backup_key(services.docs) == backup_key
        assert services.docs.get("license_trial") == before["trial"]
        # Secrets are generated afresh on the next open.
        assert services.docs.get(secrets.DOC) != before["secrets"]
        assert services.docs.get("license") is None
        state = services.licenses.current()
        assert state["status"] == "not_activated"
        assert state["trial_used"] and not state["trial_available"]
        assert services.auth.admin() is None
        assert services.accounts.count() == 0
        assert services.rooms.find_all(limit=None)["items"] == []
        for name, section in SECTIONS.items():
            assert services.settings.stored(name) == section.defaults
        assert history_counts(services) == dict.fromkeys(history_counts(services), 0)
    finally:
        services.close()


def test_reset_of_an_empty_data_dir_removes_nothing(config: Config) -> None:
    assert factory_reset(config, "settings") == []
    assert factory_reset(config, "all") == []
    with pytest.raises(ValueError):
        factory_reset(config, "everything")


def test_cli_refuses_without_yes(config: Config, keys: LicenseKeys, monkeypatch,
                                 capsys) -> None:
    populate(config, keys)
    monkeypatch.setenv("VCBOX_DATA", str(config.data_dir))
    monkeypatch.setenv("VCBOX_LICENSE_PUBKEY", str(keys.public))
    before = config.documents_path.read_bytes()
    assert main(["factory-reset", "--mode", "all"]) == 2
    assert "without --yes" in capsys.readouterr().err
    assert config.documents_path.read_bytes() == before
    with pytest.raises(SystemExit):
        main(["factory-reset", "--mode", "bogus", "--yes"])
    capsys.readouterr()

    assert main(["factory-reset", "--mode", "settings", "--yes"]) == 0
    out = capsys.readouterr().out
    assert "removed document: admin" in out
    assert "removed history: oplog (2 rows)" in out
    services = Services.open(config)
    try:
        assert services.auth.admin() is None and services.accounts.count() == 2
    finally:
        services.close()
