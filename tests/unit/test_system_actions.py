"""Factory reset rules and reboot (SPEC G2, G3; controlplane/maintenance.py).

reset_documents is the one source of the reset's rules (the command line and the web
admin both use it): settings mode drops the settings and the administrator and keeps
the rest; all mode keeps only the schema version, the trial marker and the backup key.
Reboot: `systemctl reboot` on the appliance (after the answer, failures in the operation
log); elsewhere every child service is restarted, through the real LocalProcess driver."""

from __future__ import annotations

import copy
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from controlplane import maintenance, oplog
from controlplane.apply import Applier
from controlplane.config import Config
from controlplane.drivers import power
from controlplane.drivers.processes import LocalProcess, NotRunHere, Spec
from controlplane.drivers.services import Absent
from controlplane.oplog import OperationLog
from controlplane.settings import Settings
from controlplane.store import Documents, History

RAW: dict[str, Any] = {
    "_meta": {"1": {"schema": 3}},
    "admin": {"1": {"hash": "$argon2id$...", "email": "a@example.com"}},
    "settings.call": {"1": {"equal_layout": "3x3"}},
    "settings.network": {"1": {"domain": "vc.example.com"}},
    "accounts": {"1": {"account": "1001"}, "2": {"account": "1002"}},
    "rooms": {"1": {"name": "Board"}},
    "meetings": {"1": {"id": "8001", "kind": "vmr"}},
    "license": {"1": {"serial": "TEST-0001"}},
    "license_trial": {"1": {"used": "2025-01-01"}},
    "secrets": {"1": {"esl_password": "x"}},
    "backup_key": {"1": {"key": "k"}},
}


def test_settings_mode_drops_the_settings_and_the_administrator() -> None:
    raw = copy.deepcopy(RAW)
    reset, dropped = maintenance.reset_documents(raw, "settings")
    assert dropped == ["admin", "settings.call", "settings.network"]
    # Kept: accounts, rooms, meetings, the license and trial marker, the secrets, the key.
    assert set(reset) == {"_meta", "accounts", "rooms", "meetings", "license",
                          "license_trial", "secrets", "backup_key"}
    assert all(reset[name] == RAW[name] for name in reset)
    assert raw == RAW  # a pure function: its input is left alone


def test_all_mode_keeps_only_the_schema_the_trial_marker_and_the_backup_key() -> None:
    raw = copy.deepcopy(RAW)
    reset, dropped = maintenance.reset_documents(raw, "all")
    assert reset == {name: RAW[name] for name in ("_meta", "license_trial", "backup_key")}
    assert dropped == sorted(set(RAW) - {"_meta", "license_trial", "backup_key"})
    assert raw == RAW
    # An empty trial marker is no marker; a store without one keeps nothing of it.
    reset, _ = maintenance.reset_documents({**RAW, "license_trial": {}}, "all")
    assert set(reset) == {"_meta", "backup_key"}
    assert maintenance.reset_documents({}, "all") == ({}, [])
    assert maintenance.reset_documents({}, "settings") == ({}, [])


def test_a_mode_that_is_none_of_the_two_is_refused() -> None:
    with pytest.raises(ValueError):
        maintenance.reset_documents(RAW, "everything")
    for mode in ("everything", None, 1, ""):
        with pytest.raises(maintenance.ValidationError) as refused:
            maintenance.check_mode(mode)
        assert set(refused.value.details) == {"mode"}
    assert maintenance.check_mode("all") == "all"


def test_the_page_lists_what_each_mode_keeps_and_loses() -> None:
    assert set(maintenance.KEPT) == set(maintenance.LOST) == set(maintenance.MODES)
    assert "The accounts" in maintenance.KEPT["settings"]
    assert "The license" in maintenance.KEPT["settings"]
    assert "The license" in maintenance.LOST["all"]
    assert "The administrator: the setup wizard runs again" in maintenance.LOST["settings"]
    assert not set(maintenance.KEPT["settings"]) & set(maintenance.LOST["settings"])
    assert not set(maintenance.KEPT["all"]) & set(maintenance.LOST["all"])


# -- reboot --------------------------------------------------------------------------------

def wait_over(reboot: maintenance.Reboot, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = reboot.status()
        if state["state"] in ("done", "failed"):
            return state
        time.sleep(0.02)
    raise AssertionError(f"the reboot did not end: {reboot.status()}")


@pytest.fixture
def history(tmp_path: Path):
    found = History(tmp_path / "history.sqlite3")
    yield found
    found.close()


class NoApplier:
    drivers: dict[str, Any] = {}


def test_on_the_appliance_the_machine_reboots_after_the_answer(tmp_path: Path,
                                                              history: History) -> None:
    config = Config(data_dir=tmp_path, root=Path("/"), service_mode="systemd")
    calls: list[float] = []

    def reboot_host() -> tuple[int, str]:
        calls.append(time.monotonic())
        return 0, ""

    reboot = maintenance.Reboot(config, NoApplier(), OperationLog(history), delay_s=0.2,
                                reboot_host=reboot_host)
    asked = time.monotonic()
    assert reboot.schedule("admin", "10.0.0.1") == {"mode": "system", "services": [],
                                                    "delay_s": 0.2}
    assert calls == []  # not yet: the answer goes out first
    with pytest.raises(maintenance.Conflict):
        reboot.schedule()
    assert wait_over(reboot)["state"] == "done"
    assert len(calls) == 1 and calls[0] - asked >= 0.2


def test_a_reboot_that_fails_is_in_the_operation_log(tmp_path: Path,
                                                     history: History) -> None:
    config = Config(data_dir=tmp_path, root=Path("/"), service_mode="systemd")
    reboot = maintenance.Reboot(config, NoApplier(), OperationLog(history), delay_s=0,
                                reboot_host=lambda: (1, "Failed to reboot: access denied"))
    reboot.schedule("admin", "10.0.0.1")
    state = wait_over(reboot)
    assert state["state"] == "failed" and "access denied" in state["error"]
    rows = [tuple(r) for r in history.query(
        "SELECT username, ip, action, result, detail FROM oplog")]
    assert rows == [("admin", "10.0.0.1", "reboot", oplog.FAILURE,
                     "Failed to reboot: access denied")]
    reboot.schedule()  # over: it may be tried again
    wait_over(reboot)


def sleeper(name: str) -> Spec:
    """A child service that only runs (a real process; always ready)."""
    return Spec(name, "python3", f"{name}.service",
                argv=lambda root, binary: [binary, "-c", "import time; time.sleep(600)"],
                check=lambda root: None, probe=lambda root: "")


def test_elsewhere_every_child_service_restarts(tmp_path: Path, history: History) -> None:
    """make run: the child processes stop and start again, through their own drivers, after
    every config was rendered again; services that do not run here are left alone."""
    config = Config(data_dir=tmp_path / "data", root=tmp_path / "root", local_services=())
    docs = Documents(tmp_path / "documents.json")
    settings = Settings(docs)
    log = OperationLog(history)
    applier = Applier(config, docs, settings, log, drivers={})
    applier.drivers.update(
        {"freeswitch": Absent("freeswitch", "not here"),
         "janus": NotRunHere(sleeper("janus"), config.root),
         "coturn": LocalProcess(sleeper("coturn"), config.root, sys.executable),
         "extra": LocalProcess(sleeper("extra"), config.root, sys.executable)})
    try:
        assert applier.startup().ok
        before = {name: applier.drivers[name].pid for name in ("coturn", "extra")}
        assert all(before.values())
        assert power.child_services(applier.drivers) == ["coturn", "extra"]

        reboot = maintenance.Reboot(config, applier, log, delay_s=0)
        assert reboot.schedule() == {"mode": "services", "services": ["coturn", "extra"],
                                     "delay_s": 0}
        state = wait_over(reboot)
        assert state == {"mode": "services", "state": "done", "error": "",
                         "services": [{"service": "coturn", "status": "ok"},
                                      {"service": "extra", "status": "ok"}]}
        after = {name: applier.drivers[name].pid for name in ("coturn", "extra")}
        assert all(after.values()) and not set(after.values()) & set(before.values())
    finally:
        applier.shutdown()
        docs.close()
