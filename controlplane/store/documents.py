"""Documents in tinydb over a crash-safe storage (DESIGN D2).

SafeStorage keeps the whole database in memory and writes every change to a temp file,
fsyncs it and renames it over the old one, so a crash at any moment leaves either the
old or the new file, never a torn one. One writer lock serialises writers. A write the
disk has no room for fails before the rename: the old file stays, the temp file goes, and
the copy in memory is the one on disk again (storage_full tells the callers why).
"""

from __future__ import annotations

import contextlib
import copy
import errno
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tinydb import TinyDB
from tinydb.storages import Storage
from tinydb.table import Table

Raw = dict[str, dict[str, dict[str, Any]]]
Migration = Callable[["Batch"], None]

SCHEMA_VERSION = 1
# version -> function that upgrades a store at version-1 to version.
MIGRATIONS: dict[int, Migration] = {}

META = "_meta"
SINGLETON_ID = "1"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def storage_full(exc: BaseException) -> bool:
    """Whether exc says the disk has no room left: the file system's ENOSPC / EDQUOT, or
    SQLite's SQLITE_FULL ("database or disk is full")."""
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        return code is not None and code & 0xFF == sqlite3.SQLITE_FULL
    return False


def atomic_write(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write data to path through temp file + fsync + rename (+ fsync of the folder). A
    failed write (no room left, say) leaves the old file as it was and no temp file."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class SafeStorage(Storage):
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        # The one writer lock: held by batches and by every tinydb table write.
        self.lock = threading.RLock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._data: Raw = self._load()
        # Each table's JSON as last written, with the table it was made from: a write
        # encodes only the tables that are new objects (tinydb and batches replace a
        # table they change), not 10,000 accounts for a meeting booked.
        self._encoded: dict[str, tuple[Any, str]] = {}

    def _load(self) -> Raw:
        try:
            with open(self.path, encoding="utf-8") as fh:
                return json.load(fh)
        except FileNotFoundError:
            return {}

    def read(self) -> Raw:
        # tinydb mutates what read() returns and hands it back to write().
        return self._data

    def write(self, data: Raw) -> None:
        try:
            encoded = {name: self._encode(name, table) for name, table in data.items()}
            payload = "{" + ",".join(f"{_dumps(name)}:{text}"
                                     for name, (_, text) in encoded.items()) + "}"
            atomic_write(self.path, payload.encode("utf-8"))
        except BaseException:
            # tinydb already changed the shared copy in place: go back to what is on disk.
            self._data, self._encoded = self._load(), {}
            raise
        self._data, self._encoded = data, encoded

    def _encode(self, name: str, table: Any) -> tuple[Any, str]:
        last = self._encoded.get(name)
        if last is not None and last[0] is table:
            return last
        return table, _dumps(table)

    def close(self) -> None:
        pass


class _LockedTable(Table):
    """A tinydb table whose read-modify-write of the shared copy holds the writer lock."""

    def _update_table(self, updater: Callable[[dict[int, Any]], None]) -> None:
        with self._storage.lock:  # type: ignore[attr-defined]
            super()._update_table(updater)


class _TinyDB(TinyDB):
    table_class = _LockedTable


class Batch:
    """Changes to several tables that are written in one atomic step."""

    def __init__(self, raw: Raw) -> None:
        self._raw = raw
        self.changed: dict[str, dict[str, dict[str, Any]]] = {}

    def rows(self, table: str) -> dict[str, dict[str, Any]]:
        """A private, writable copy of a table's rows, keyed by document id (str)."""
        if table not in self.changed:
            self.changed[table] = copy.deepcopy(self._raw.get(table, {}))
        return self.changed[table]

    def get(self, name: str) -> dict[str, Any] | None:
        doc = self.rows(name).get(SINGLETON_ID)
        return doc

    def put(self, name: str, doc: dict[str, Any]) -> None:
        self.changed[name] = {SINGLETON_ID: copy.deepcopy(doc)}


class Documents:
    def __init__(self, path: str | Path, migrations: dict[int, Migration] | None = None,
                 version: int = SCHEMA_VERSION) -> None:
        self.db = _TinyDB(path, storage=SafeStorage)
        self.storage: SafeStorage = self.db.storage  # type: ignore[assignment]
        self.lock = self.storage.lock
        self._migrate(MIGRATIONS if migrations is None else migrations, version)

    def _migrate(self, migrations: dict[int, Migration], version: int) -> None:
        current = (self.get(META) or {}).get("schema_version", 0)
        if current > version:
            raise RuntimeError(f"store schema {current} is newer than this software ({version})")
        for target in range(current + 1, version + 1):
            with self.batch() as batch:
                if target in migrations:
                    migrations[target](batch)
                meta = batch.get(META) or {}
                batch.put(META, {**meta, "schema_version": target})

    @property
    def schema_version(self) -> int:
        return self.peek(META).get("schema_version", 0)

    def table(self, name: str) -> Table:
        return self.db.table(name)

    def get(self, name: str) -> dict[str, Any] | None:
        """A copy of the singleton document `name`, or None."""
        doc = self.storage.read().get(name, {}).get(SINGLETON_ID)
        return copy.deepcopy(doc) if doc is not None else None

    def peek(self, name: str) -> Mapping[str, Any]:
        """The singleton document `name` without a copy, for hot read paths: never mutate."""
        return self.storage.read().get(name, {}).get(SINGLETON_ID) or {}

    def put(self, name: str, doc: dict[str, Any]) -> None:
        with self.batch() as batch:
            batch.put(name, doc)

    @contextmanager
    def batch(self) -> Iterator[Batch]:
        """Hold the writer lock; write every table the block changed in one atomic step."""
        with self.lock:
            raw = self.storage.read()
            batch = Batch(raw)
            yield batch
            # rows() and get() copy a table whether or not the block then changes it.
            changed = {name: rows for name, rows in batch.changed.items()
                       if rows != raw.get(name, {})}
            if changed:
                new = dict(raw)
                new.update(changed)
                self.storage.write(new)
                for name in changed:
                    table = self.db.table(name)
                    table.clear_cache()
                    table._next_id = None  # the batch may have added ids: recount them

    def replace_all(self, raw: Raw) -> None:
        """Put a whole new store in place in one atomic write (a backup restored): every
        table, cached or not, reads it from now on."""
        with self.lock:
            self.storage.write(copy.deepcopy(raw))
            for table in self.db._tables.values():
                table.clear_cache()
                table._next_id = None

    def close(self) -> None:
        self.db.close()
