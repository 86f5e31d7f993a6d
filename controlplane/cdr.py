"""The CDR inbox: FreeSWITCH's call records as mod_json_cdr posts them (SPEC K1-K3).

Each record is kept once per call, as posted, in the call-record database
(`<data>/calls.sqlite3`, SQLite WAL, synchronous=FULL: a record is on disk when put
returns); a record posted again (FreeSWITCH retries, or its err-log-dir is replayed)
replaces nothing. Call records and meeting statistics read from here.

Every hangup posts a record and FreeSWITCH keeps the call's session until the post is
answered, so records are written in groups (CdrBatcher): those posted while a transaction
is being written share the next one, and one fsync. One fsync per record capped the box
at about 100 hangups a second (issue 11's bench), sessions piling up meanwhile.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import gevent
from gevent.event import AsyncResult
from gevent.monkey import get_original

from controlplane import call_records
from controlplane.store import history

DATABASE = "calls.sqlite3"  # in the data dir
MAX_RECORD_BYTES = 1024 * 1024
MAX_BATCH = 256  # records per transaction
_UUID = re.compile(r"^[0-9A-Fa-f-]{8,64}$")
_SCHEMA = """CREATE TABLE IF NOT EXISTS cdr (
    uuid TEXT PRIMARY KEY,
    received REAL NOT NULL,
    record BLOB NOT NULL
)"""
_NativeLock = get_original("threading", "Lock")  # taken in gevent's pool threads


class BadRecord(ValueError):
    """Not a call record this inbox can take (the words say why)."""


def record_uuid(record: Any) -> str:
    """The call's UUID: variables.uuid (mod_json_cdr's record of the channel)."""
    if not isinstance(record, dict):
        raise BadRecord("a call record is a JSON object")
    variables = record.get("variables")
    uuid = variables.get("uuid") if isinstance(variables, dict) else None
    if not isinstance(uuid, str) or not _UUID.match(uuid):
        raise BadRecord("the record has no call UUID (variables.uuid)")
    return uuid.lower()


def parse_record(data: bytes) -> Any:
    """A record as mod_json_cdr posts it (encode=false, encode-values=false): the JSON
    cJSON printed, its values plain text, escaped as JSON escapes them."""
    if len(data) > MAX_RECORD_BYTES:
        raise BadRecord("the record is too large")
    try:
        return json.loads(data.decode("utf-8"))
    except ValueError as exc:
        raise BadRecord(f"not JSON: {exc}") from None


Outcome = tuple[str, bool] | BadRecord  # (call UUID, whether it was new) or why not


class CdrInbox:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.path = data_dir / DATABASE
        self._lock = _NativeLock()
        self._db: sqlite3.Connection | None = None

    def _writer(self) -> sqlite3.Connection:
        """The writing connection (caller holds the lock); made at the first write."""
        if self._db is None:
            self._db = history.connect(self.path)
            self._db.execute(_SCHEMA)
            call_records.migrate(self._db)
            with history.transaction(self._db, "BEGIN IMMEDIATE"):
                call_records.derive_pending(self._db, (
                    data for (data,) in self._db.execute("SELECT record FROM cdr")))
            self._adopt_folder(self._db)
        return self._db

    def _adopt_folder(self, db: sqlite3.Connection) -> None:
        """Records an earlier version kept as files (cdr/inbox/<uuid>.json) move in."""
        folder = self.data_dir / "cdr" / "inbox"
        if not folder.is_dir():
            return
        files = sorted(folder.glob("*.json"))
        self._insert(db, [(f.read_bytes(), f.stat().st_mtime) for f in files])
        for leftover in [*files, *folder.glob(".*.tmp")]:
            leftover.unlink()
        folder.rmdir()

    @staticmethod
    def _insert(db: sqlite3.Connection,
                items: Sequence[tuple[bytes, float]]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        legs: list[call_records.Leg] = []
        # committed (the WAL fsynced: synchronous=FULL) when the block ends
        with history.transaction(db, "BEGIN IMMEDIATE"):
            for data, received in items:
                try:
                    record = parse_record(data)
                    uuid = record_uuid(record)
                except BadRecord as exc:
                    outcomes.append(exc)
                    continue
                added = db.execute("INSERT OR IGNORE INTO cdr (uuid, received, record) "
                                   "VALUES (?, ?, ?)", (uuid, received, data)).rowcount
                outcomes.append((uuid, added == 1))
                if added == 1:
                    legs += call_records.legs_of(record)
            call_records.add(db, legs)
        return outcomes

    def put_many(self, records: Sequence[bytes]) -> list[Outcome]:
        """Keep these records in one transaction (one fsync); an outcome for each. An
        error of the database (disk full, I/O) raises and keeps none of them."""
        now = time.time()
        with self._lock:
            return self._insert(self._writer(), [(data, now) for data in records])

    def put(self, data: bytes) -> tuple[str, bool]:
        """Keep one record, as it was posted; (its call UUID, whether it was new)."""
        outcome = self.put_many([data])[0]
        if isinstance(outcome, BadRecord):
            raise outcome
        return outcome

    def prepare(self) -> None:
        """Make the database (and move earlier records in) now, not at the first call."""
        with self._lock:
            self._writer()

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        if not self.path.exists():
            return []
        db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        try:
            return db.execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):  # made this instant, its table not yet
                return []
            raise
        finally:
            db.close()

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """A read-only connection for the call records (controlplane.call_records)."""
        with self._lock:
            self._writer()  # the tables exist
        db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        try:
            yield db
        finally:
            db.close()

    def raw(self, uuid: str) -> bytes | None:
        """The record as FreeSWITCH posted it."""
        rows = self._read("SELECT record FROM cdr WHERE uuid = ?", (uuid.lower(),))
        return bytes(rows[0][0]) if rows else None

    def get(self, uuid: str) -> dict[str, Any] | None:
        data = self.raw(uuid)
        return json.loads(data) if data is not None else None

    def uuids(self) -> list[str]:
        return [row[0] for row in self._read("SELECT uuid FROM cdr ORDER BY uuid")]

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    @contextmanager
    def closed(self) -> Iterator[None]:
        """The writer closed, its log folded in, while the block replaces the database
        file (a backup restored); the next write opens (and migrates) the new one."""
        with self._lock:
            if self._db is not None:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                self._db.close()
                self._db = None
            yield


SPILL_DIR = "var/log/freeswitch/json_cdr"  # under ROOT: json_cdr.conf.xml's err-log-dir
SPILL_SETTLE_S = 2.0    # a file younger than this may still be being written
BAD_AFTER_S = 60.0      # a file that still does not read as a record then is set aside


def replay(inbox: CdrInbox, folder: Path, now: float | None = None) -> tuple[int, int]:
    """Take in the records FreeSWITCH could not post (mod_json_cdr's err-log-dir files,
    `[a_]<uuid>.cdr.json`), exactly once: each file goes only after the transaction that
    holds its record is on disk, and a record already kept (posted before, or a replay
    cut short) is not kept again. A file that is not a whole record yet is left for the
    next round; one that stays unreadable moves to `bad/` for the administrator.
    (records new, records already there)."""
    if not folder.is_dir():
        return 0, 0
    now = time.time() if now is None else now
    files = []
    for path in sorted(folder.glob("*.cdr.json")):
        try:
            age = now - path.stat().st_mtime
        except FileNotFoundError:
            continue
        if age >= SPILL_SETTLE_S:
            files.append((path, age))
    new = again = 0
    for start in range(0, len(files), MAX_BATCH):
        batch = files[start:start + MAX_BATCH]
        outcomes = inbox.put_many([path.read_bytes() for path, _ in batch])
        for (path, age), outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, BadRecord):
                if age >= BAD_AFTER_S:
                    (folder / "bad").mkdir(exist_ok=True)
                    path.replace(folder / "bad" / path.name)
                continue
            new, again = (new + 1, again) if outcome[1] else (new, again + 1)
            path.unlink(missing_ok=True)
    return new, again


class CdrBatcher:
    """Group commit for the records posted to the control plane (under gevent): one
    writer greenlet hands every record waiting to one transaction in gevent's thread pool
    (the loop serves the next lookups meanwhile), and each post is answered when the
    transaction holding its record is on disk."""

    def __init__(self, inbox: CdrInbox) -> None:
        self.inbox = inbox
        self._waiting: list[tuple[bytes, AsyncResult]] = []
        self._writer: gevent.Greenlet | None = None

    def put(self, data: bytes) -> tuple[str, bool]:
        """As CdrInbox.put, from a greenlet: raises BadRecord, or the database's error."""
        result = AsyncResult()
        self._waiting.append((data, result))
        if self._writer is None or self._writer.dead:
            self._writer = gevent.spawn(self._write)
        return result.get()

    def _write(self) -> None:
        pool = gevent.get_hub().threadpool
        while self._waiting:
            batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
            try:
                outcomes = pool.apply(self.inbox.put_many, ([data for data, _ in batch],))
            except Exception as exc:  # nothing of the batch was kept
                for _, result in batch:
                    result.set_exception(exc)
                continue
            for (_, result), outcome in zip(batch, outcomes, strict=True):
                if isinstance(outcome, BadRecord):
                    result.set_exception(outcome)
                else:
                    result.set(outcome)
