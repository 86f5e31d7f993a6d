"""Factory reset (SPEC G2), run on the data dir with the control plane STOPPED.

The running server keeps the whole store in memory and writes all of it on every change,
so a reset under a running server would be undone by its next write: playbooks/
factory_reset.yml stops vcbox-controlplane, runs `python -m controlplane factory-reset`,
re-renders with `python -m controlplane apply` and starts the service again.

mode "settings" (G2 a: keeps accounts, rooms, meetings; drops history, call records, logs)
  - deletes every `settings.<section>` document: every section is back to its defaults;
  - deletes the administrator ("admin"): the guide's factory reset returns to the setup
    wizard, and the wizard runs exactly when no administrator exists;
  - keeps accounts, rooms, any meetings table, the license and the trial marker (a
    license is not a setting: it was bought for this appliance) and the service secrets
    (internal credentials the administrator never sees and that the rendered service
    configs share; keeping them leaves nothing out of step between a reset and the
    re-render, and a new administrator gains nothing from new ones);
  - empties every table of the history database (operation log, sessions, login
    failures, reset tokens, and call records or anything else kept there);
  - deletes the files under <data dir>/logs, when that folder exists.
  Accounts whose password was set under a non-default local domain show "needs reset"
  afterwards: their a1-hashes belong to the old domain (see controlplane/accounts.py).

mode "all" (G2 b: everything)
  - deletes the history database and the logs, and replaces the documents file, in one
    atomic write, by one that holds only the schema version and the trial-used marker:
    accounts, rooms, license, administrator, settings and secrets all go (the secrets are
    generated again on the next start, and `apply` renders them into the services).
  - The trial marker stays: "once per appliance" (SPEC L1), so a reset must not grant a
    second trial. So does the backup key (controlplane/backups.py): a backup taken
    before the reset still brings back its encrypted service secrets.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
from pathlib import Path
from typing import Any

from controlplane import cdr
from controlplane.auth import ADMIN
from controlplane.config import Config
from controlplane.license import TRIAL_DOC
from controlplane.store.documents import META, atomic_write

MODES = ("settings", "all")
BACKUP_KEY = "backup_key"  # controlplane.backups.KEY_DOC
SETTINGS_PREFIX = "settings."
LOGS = "logs"


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


def _clear_logs(folder: Path) -> list[str]:
    """Delete every file under folder (the folders themselves stay)."""
    if not folder.is_dir() or folder.is_symlink():
        return []
    removed = []
    for dirpath, _dirs, files in os.walk(folder):
        for name in sorted(files):
            file = Path(dirpath) / name
            file.unlink()
            removed.append(f"log: {file}")
    return removed


def factory_reset(config: Config, mode: str) -> list[str]:
    """Reset the data dir of a STOPPED control plane; a line for each thing removed."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    docs_path = config.documents_path
    raw = _read_documents(docs_path)
    removed: list[str] = []
    if mode == "settings":
        dropped = sorted(name for name in raw
                         if name.startswith(SETTINGS_PREFIX) or name == ADMIN)
        if dropped:
            _write_documents(docs_path, {k: v for k, v in raw.items() if k not in dropped})
        removed += [f"document: {name}" for name in dropped]
        removed += _clear_history(config.history_path)
        removed += _clear_history(config.data_dir / cdr.DATABASE)
    else:
        # The trial marker and the backup key belong to the appliance, not to its data:
        # "once per appliance" (L1); backups taken before the reset stay readable (B2).
        kept = {name: raw[name] for name in (META, TRIAL_DOC, BACKUP_KEY) if raw.get(name)}
        if raw or docs_path.exists():
            _write_documents(docs_path, kept)
        removed += [f"document: {name}" for name in sorted(raw) if name not in kept]
        removed += _remove_history(config.history_path)
        removed += _remove_history(config.data_dir / cdr.DATABASE)
    removed += _clear_logs(config.data_dir / LOGS)
    return removed


# -- python -m controlplane factory-reset ------------------------------------------------

def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "factory-reset", help="factory reset (SPEC G2) of VCBOX_DATA; stop the control plane "
        "first (playbooks/factory_reset.yml does it all)")
    parser.add_argument("--mode", required=True, choices=MODES,
                        help="settings: settings, administrator, history and logs (keeps "
                        "accounts, rooms, license); all: everything but the trial-used marker")
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
