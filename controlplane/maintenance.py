"""Factory reset (SPEC G2) and reboot (G3).

One set of rules, two ways to run them:
- from the web admin (FactoryReset: POST /api/v1/system/factory-reset), on the RUNNING
  control plane: the reset store is computed from the current one (reset_documents), then
  swapped in with empty history and call-record databases and every config applied, all
  or nothing, exactly as a backup restore does (controlplane.backups.Backups.
  swap_and_apply): when the apply fails the previous store, databases and files are back
  in effect and ResetFailed names the step. The logs are deleted once the apply went
  through (they cannot be put back). Everyone is signed out (the sessions are history).
- from the command line, with the control plane STOPPED (`python -m controlplane
  factory-reset`, factory_reset()): the running server keeps the whole store in memory
  and writes all of it on every change, so a reset of the files under a running server
  would be undone by its next write. playbooks/factory_reset.yml stops
  vcbox-controlplane, runs it, re-renders with `python -m controlplane apply` and starts
  the service again.

mode "settings" (G2 a: keeps accounts, rooms, meetings; drops history, call records, logs)
  - deletes every `settings.<section>` document: every section is back to its defaults
    (the network too: DHCP on the LAN, as the box came);
  - deletes the administrator ("admin"): the guide's factory reset returns to the setup
    wizard, and the wizard runs exactly when no administrator exists;
  - keeps accounts, rooms, any meetings table, the license and the trial marker (a
    license is not a setting: it was bought for this appliance) and the service secrets
    (internal credentials the administrator never sees and that the rendered service
    configs share; keeping them leaves nothing out of step between a reset and the
    re-render, and a new administrator gains nothing from new ones);
  - empties every table of the history database (operation log, sessions, login
    failures, reset tokens, host samples) and of the call records;
  - deletes the files under <data dir>/logs and <data dir>/terminal-logs (O4).
  Accounts whose password was set under a non-default local domain show "needs reset"
  afterwards: their a1-hashes belong to the old domain (see controlplane/accounts.py).

mode "all" (G2 b: everything)
  - the history and call-record databases and the logs go, and the documents are only
    the schema version, the trial-used marker and the backup key: accounts, rooms,
    meetings, license, administrator, settings and secrets all go (the secrets are
    generated again: at once on the running control plane, at the next start after the
    command line, and the apply renders them into the services).
  - The trial marker stays: "once per appliance" (SPEC L1), so a reset must not grant a
    second trial. So does the backup key (controlplane/backups.py): a backup taken
    before the reset still brings back its encrypted service secrets.

Both modes keep the files that are no data of the store: the backup archives and the
terminal firmware files (B2: a backup taken before a reset is restored after it).

Reboot (G3, Reboot): on the appliance (service mode "systemd") `systemctl reboot`; where
the services are the control plane's own child processes (`make run`, service mode
"local") there is no machine of its own to restart, so "reboot" restarts every child
service (FreeSWITCH, Janus, coturn, nginx: whichever run here) as a start of the
appliance would: stopped, every config rendered again, started. It runs a moment after
the answer (REBOOT_DELAY_S), so that the answer reaches the browser first.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from controlplane import cdr, oplog, terminal_logs
from controlplane.auth import ADMIN
from controlplane.backups import ApplyUndone, Backups
from controlplane.config import Config
from controlplane.drivers import power
from controlplane.errors import Conflict, ValidationError, VcboxError
from controlplane.i18n import N_
from controlplane.license import TRIAL_DOC
from controlplane.store.documents import META, Raw, atomic_write

log = logging.getLogger(__name__)

MODES = ("settings", "all")
BACKUP_KEY = "backup_key"  # controlplane.backups.KEY_DOC
SETTINGS_PREFIX = "settings."
LOGS = "logs"
# The folders of logs in the data dir a reset empties: the server's, the terminals' (O4).
LOG_FOLDERS = (LOGS, terminal_logs.FOLDER)
# The targets of the apply entries a web reset writes in the operation log (oplog.OBJECTS).
RESET_TARGET, ROLLBACK_TARGET = "factory reset", "factory reset rollback"
# The target of a reset's own entry, by mode (oplog.OBJECTS: the guide's names of the modes).
RESET_OBJECTS = {"settings": "reset-settings", "all": "reset-all"}
REBOOT_DELAY_S = 1.0

# What each mode keeps and what it loses, as the page lists them (the rules: above and
# reset_documents).
KEPT: dict[str, tuple[str, ...]] = {
    "settings": (
        N_("The accounts"),
        N_("The meeting rooms"),
        N_("Meetings (virtual meeting rooms and scheduled meetings)"),
        N_("The license"),
        N_("Backup files and terminal firmware files on this server"),
    ),
    "all": (
        N_("The record that the trial license was used (a reset grants no second trial)"),
        N_("The backup key: backups taken before the reset can still be restored"),
        N_("Backup files and terminal firmware files on this server"),
    ),
}
_LOST_ALWAYS = (
    N_("Every setting, back to its default (the network too: the LAN takes its address "
       "by DHCP)"),
    N_("The administrator: the setup wizard runs again"),
    N_("History: the operation log and the meeting history"),
    N_("The call records"),
    N_("Logs, the terminal logs too"),
    N_("Every sign-in: everyone is signed out"),
)
LOST: dict[str, tuple[str, ...]] = {
    "settings": _LOST_ALWAYS,
    "all": (N_("Accounts, meeting rooms and meetings"), N_("The license"), *_LOST_ALWAYS),
}


class ResetFailed(VcboxError):
    """The reset store's configuration did not apply: what was there before is back.
    params: step (the service whose action failed, or "files"), output (its words)."""

    status = 502
    error_id = "factory_reset_failed"
    message = N_("The factory reset was not done: %(step)s failed (%(output)s). The data "
                 "and the configuration from before are back in effect; the operation log "
                 "has the details.")


def check_mode(mode: Any) -> str:
    if mode not in MODES:
        raise ValidationError(details={"mode": N_(
            "Choose what to clear: only the system settings, or all user data.")})
    return mode


def reset_documents(raw: Raw, mode: str) -> tuple[Raw, list[str]]:
    """The document store after a factory reset of this mode (a pure function of the raw
    documents, documents.json's content): (the new raw documents, the names dropped)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    if mode == "settings":
        dropped = sorted(name for name in raw
                         if name.startswith(SETTINGS_PREFIX) or name == ADMIN)
        return {k: v for k, v in raw.items() if k not in dropped}, dropped
    # The trial marker and the backup key belong to the appliance, not to its data:
    # "once per appliance" (L1); backups taken before the reset stay readable (B2).
    kept = {name: raw[name] for name in (META, TRIAL_DOC, BACKUP_KEY) if raw.get(name)}
    return kept, sorted(name for name in raw if name not in kept)


def _read_documents(path: Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            raw = json.load(fh)
    except FileNotFoundError:
        return {}
    if not isinstance(raw, dict):
        raise ValueError(f"{path} is not a document store")
    return raw


def _write_documents(path: Path, raw: dict[str, Any]) -> None:
    payload = json.dumps(raw, ensure_ascii=False, separators=(",", ":"))
    atomic_write(path, payload.encode("utf-8"))


def _clear_history(path: Path) -> list[str]:
    """Empty every table of the history database; 'table (N rows)' for each one."""
    if not path.exists():
        return []
    removed: list[str] = []
    db = sqlite3.connect(str(path), isolation_level=None)
    try:
        db.execute("PRAGMA busy_timeout=5000")
        tables = [r[0] for r in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            " ORDER BY name")]
        db.execute("BEGIN IMMEDIATE")
        try:
            for table in tables:
                quoted = '"' + table.replace('"', '""') + '"'
                count = db.execute(f"DELETE FROM {quoted}").rowcount  # noqa: S608
                removed.append(f"history: {table} ({count} rows)")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        # Deleted rows are gone from the file as well, not only unlinked from the tables.
        db.execute("VACUUM")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()
    return removed


def _remove_history(path: Path) -> list[str]:
    removed = []
    for suffix in ("", "-wal", "-shm", "-journal"):
        file = path.with_name(path.name + suffix)
        if file.exists() or file.is_symlink():
            file.unlink()
            removed.append(f"file: {file}")
    return removed


def _clear_folder(folder: Path) -> list[str]:
    """Delete every file under folder (the folders themselves stay)."""
    if not folder.is_dir() or folder.is_symlink():
        return []
    removed = []
    for dirpath, _dirs, files in os.walk(folder):
        for name in sorted(files):
            file = Path(dirpath) / name
            file.unlink(missing_ok=True)  # a log rotated meanwhile
            removed.append(f"log: {file}")
    return removed


def clear_logs(data_dir: Path) -> list[str]:
    """Delete the files of the log folders in the data dir; a line for each one."""
    return [line for name in LOG_FOLDERS for line in _clear_folder(data_dir / name)]


def factory_reset(config: Config, mode: str) -> list[str]:
    """Reset the data dir of a STOPPED control plane; a line for each thing removed."""
    docs_path = config.documents_path
    raw = _read_documents(docs_path)
    reset, dropped = reset_documents(raw, mode)
    if dropped:
        _write_documents(docs_path, reset)
    removed = [f"document: {name}" for name in dropped]
    for path in (config.history_path, config.data_dir / cdr.DATABASE):
        removed += _clear_history(path) if mode == "settings" else _remove_history(path)
    removed += clear_logs(config.data_dir)
    return removed


class FactoryReset:
    """G2 from the web admin, on the running control plane (see the module's words)."""

    def __init__(self, data_dir: Path, backups: Backups) -> None:
        self.data_dir, self.backups = data_dir, backups

    def run(self, mode: str, actor: str = "", ip: str = "") -> dict[str, Any]:
        """Reset and apply every config; ResetFailed (everything from before back)."""
        check_mode(mode)
        dropped: list[str] = []

        def reset_store() -> Raw:
            raw, gone = reset_documents(self.backups.docs.storage.read(), mode)
            dropped.extend(gone)
            return raw

        with self.backups.exclusive(N_("A restore or a factory reset is running already.")
                                    ) as work:
            try:
                plan, result = self.backups.swap_and_apply(
                    reset_store, None, work, actor, ip, RESET_TARGET, ROLLBACK_TARGET,
                    # No administrator is left to confirm a network change (N5): the
                    # defaults are what a reset is for.
                    hold_network=False)
            except ApplyUndone as exc:
                raise ResetFailed(step=exc.step, output=exc.output) from None
        removed = [f"document: {name}" for name in dropped]
        removed += ["history: every table", "call records: every record"]
        removed += clear_logs(self.data_dir)
        return {"mode": mode, "removed": removed,
                "files": [f.path for f in plan.files],
                "actions": [{"action": str(o.action), "result": o.text}
                            for o in result.outcomes],
                # No administrator any more: the setup wizard is next; nobody is signed in.
                "next": "/setup", "signed_out": True}


class Reboot:
    """G3: `systemctl reboot` on the appliance; the child services restarted elsewhere.

    applier: controlplane.apply.Applier (its drivers, shutdown-free restart and startup);
    log: the operation log (a reboot that failed after its answer is recorded there)."""

    def __init__(self, config: Config, applier: Any, log: oplog.OperationLog,
                 delay_s: float = REBOOT_DELAY_S,
                 reboot_host: Callable[[], tuple[int, str]] = power.reboot_host) -> None:
        self.config, self.applier, self.log = config, applier, log
        self.delay_s, self.reboot_host = delay_s, reboot_host
        self._lock = threading.Lock()
        self._state = "idle"  # idle | pending | running | done | failed
        self._services: list[dict[str, str]] = []
        self._error = ""

    @property
    def mode(self) -> str:
        """"system": the machine restarts; "services": the child services do."""
        return "system" if self.config.service_mode == "systemd" else "services"

    def children(self) -> list[str]:
        return power.child_services(self.applier.drivers)

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {"mode": self.mode, "state": self._state, "services": list(self._services),
                    "error": self._error}

    def schedule(self, actor: str = "", ip: str = "") -> dict[str, Any]:
        """Start the reboot a moment from now (in a thread); what the answer says."""
        with self._lock:
            if self._state in ("pending", "running"):
                raise Conflict(N_("The system is restarting already."))
            self._state, self._services, self._error = "pending", [], ""
        threading.Thread(target=self._run, args=(actor, ip), name="vcbox-reboot",
                         daemon=True).start()
        return {"mode": self.mode, "services": self.children(), "delay_s": self.delay_s}

    def _set(self, state: str, services: list[dict[str, str]] | None = None,
             error: str = "") -> None:
        with self._lock:
            self._state, self._error = state, error
            if services is not None:
                self._services = services

    def _run(self, actor: str, ip: str) -> None:
        time.sleep(self.delay_s)
        self._set("running")
        try:
            if self.mode == "system":
                rc, output = self.reboot_host()
                if rc != 0:
                    raise RuntimeError(output or f"systemctl reboot exited with {rc}")
                self._set("done")  # the machine goes down from here
                return
            self._set("done", self._restart_services())
        except Exception as exc:
            log.exception("reboot failed")
            self._set("failed", error=str(exc))
            self.log.record(actor, ip, "reboot", "", oplog.FAILURE, str(exc))

    def _restart_services(self) -> list[dict[str, str]]:
        """As at a start of the appliance: each child service stopped, every config
        rendered again and every service started; each one's status after."""
        drivers: Mapping[str, Any] = self.applier.drivers
        names = self.children()
        with self.applier.lock:
            for name in names:
                drivers[name].stop()
            self.applier.startup()
        return [{"service": name, "status": drivers[name].status()} for name in names]


# -- python -m controlplane factory-reset ------------------------------------------------

def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "factory-reset", help="factory reset (SPEC G2) of VCBOX_DATA; stop the control plane "
        "first (playbooks/factory_reset.yml does it all; the web admin resets a running one)")
    parser.add_argument("--mode", required=True, choices=MODES,
                        help="settings: settings, administrator, history and logs (keeps "
                        "accounts, rooms, license); all: everything but the trial-used marker "
                        "and the backup key")
    parser.add_argument("--yes", action="store_true", help="really reset: required")
    parser.set_defaults(run=command)


def command(args: argparse.Namespace, config: Config) -> int:
    if not args.yes:
        print(f"refusing to reset {config.data_dir} (mode {args.mode}) without --yes",
              file=sys.stderr)
        return 2
    removed = factory_reset(config, args.mode)
    for line in removed:
        print(f"removed {line}")
    print(f"factory reset ({args.mode}) of {config.data_dir}: {len(removed)} item(s) removed")
    return 0
