"""What "not corrupted" means for the data dir: the documents store parses as JSON (and
loads as a store), each SQLite database passes `PRAGMA integrity_check`, and no temp file
of a failed write is left behind (a kill -9 mid-write may leave one: the next write
of that file reuses it)."""

from __future__ import annotations

import contextlib
import json
import shutil
import sqlite3
import tempfile
from pathlib import Path

DATABASES = ("history.sqlite3", "calls.sqlite3")


def sqlite_ok(path: Path) -> str:
    """"" when the database passes its integrity check, else what is wrong. Checked on a
    copy of the file and its WAL (the copy's WAL rolled forward as the control plane's
    next open would), so that the check changes nothing the control plane then finds."""
    with tempfile.TemporaryDirectory(prefix="vcbox-check-") as scratch:
        copy = Path(scratch) / path.name
        for suffix in ("", "-wal"):
            with contextlib.suppress(FileNotFoundError):
                shutil.copyfile(f"{path}{suffix}", f"{copy}{suffix}")
        try:
            db = sqlite3.connect(str(copy), timeout=10)
            try:
                rows = [r[0] for r in db.execute("PRAGMA integrity_check")]
            finally:
                db.close()
        except sqlite3.Error as exc:
            return f"{path.name}: {exc}"
    return "" if rows == ["ok"] else f"{path.name}: {'; '.join(rows)[:300]}"


def problems(data: Path, temp_files: bool = True) -> list[str]:
    """What is wrong with the stores in data (the control plane stopped or not);
    temp_files: a temp file left over counts."""
    found = []
    try:
        raw = json.loads((data / "documents.json").read_text(encoding="utf-8"))
        if not isinstance(raw, dict) or "_meta" not in raw:
            found.append("documents.json: not a store")
    except (OSError, ValueError) as exc:
        found.append(f"documents.json: {exc}")
    for name in DATABASES:
        if (data / name).exists():
            why = sqlite_ok(data / name)
            if why:
                found.append(why)
    if temp_files:
        found += [f"left over: {p.name}" for p in data.glob(".*.tmp")]
    return found
