"""History in SQLite (WAL): operation log, sessions and other append-mostly records."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# Each entry upgrades the database from user_version i to i+1.
SCHEMA: list[str] = [
    """
    CREATE TABLE oplog (
        id INTEGER PRIMARY KEY,
        ts REAL NOT NULL,
        username TEXT NOT NULL,
        ip TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL DEFAULT '',
        result TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX oplog_ts ON oplog(ts);
    CREATE TABLE sessions (
        token_hash TEXT PRIMARY KEY,
        username TEXT NOT NULL,
        csrf TEXT NOT NULL,
        created REAL NOT NULL,
        last_seen REAL NOT NULL,
        remember INTEGER NOT NULL
    );
    CREATE TABLE login_failures (
        username TEXT PRIMARY KEY,
        failures INTEGER NOT NULL,
        locked_until REAL NOT NULL DEFAULT 0
    );
    CREATE TABLE reset_tokens (
        token_hash TEXT PRIMARY KEY,
        username TEXT NOT NULL,
        expires REAL NOT NULL
    );
    """,
    # The dashboard's host samples (A8, controlplane/samples.py): every sample of the last
    # day, and the averages of older ones by 5 minutes (n: the samples averaged).
    """
    CREATE TABLE host_samples (
        t REAL NOT NULL,
        cpu REAL NOT NULL,
        memory REAL NOT NULL,
        rx_bps REAL NOT NULL,
        tx_bps REAL NOT NULL,
        disk REAL NOT NULL,
        nics TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX host_samples_t ON host_samples(t);
    CREATE TABLE host_samples_5m (
        t REAL PRIMARY KEY,
        n INTEGER NOT NULL,
        cpu REAL NOT NULL,
        memory REAL NOT NULL,
        rx_bps REAL NOT NULL,
        tx_bps REAL NOT NULL,
        disk REAL NOT NULL,
        nics TEXT NOT NULL DEFAULT '{}'
    );
    """,
    # Sessions of the enterprise users' portal beside the administrator's
    # (controlplane/sessions.py): each realm finds only its own.
    """
    ALTER TABLE sessions ADD COLUMN realm TEXT NOT NULL DEFAULT 'admin';
    """,
]


def connect(path: str | Path) -> sqlite3.Connection:
    """A writing connection to a history database: WAL, every commit fsynced."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA busy_timeout=5000")
    return db


@contextmanager
def transaction(db: sqlite3.Connection, begin: str = "BEGIN") -> Iterator[sqlite3.Connection]:
    """Committed when the block ends, rolled back when it raises."""
    db.execute(begin)  # outside the try: a BEGIN that failed has nothing to roll back
    try:
        yield db
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


class History:
    def __init__(self, path: str | Path) -> None:
        self.lock = threading.RLock()
        self.path = Path(path)
        self._open()

    def _open(self) -> None:
        self.db = connect(self.path)
        self.db.row_factory = sqlite3.Row
        self._migrate()

    @contextmanager
    def closed(self) -> Iterator[None]:
        """The database closed, its log folded in (no -wal left), while the block replaces
        the file (a backup restored); opened again (and migrated) after it. Every user of
        this History waits meanwhile (the lock)."""
        with self.lock:
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self.db.close()
            try:
                yield
            finally:
                self._open()

    def _migrate(self) -> None:
        with self.lock:
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            for step in range(version, len(SCHEMA)):
                with transaction(self.db, "BEGIN IMMEDIATE"):
                    for statement in SCHEMA[step].split(";"):
                        if statement.strip():
                            self.db.execute(statement)
                    self.db.execute(f"PRAGMA user_version={step + 1}")

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> int:
        with self.lock:
            return self.db.execute(sql, params).rowcount

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self.lock, transaction(self.db):
            self.db.executemany(sql, rows)

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        with self.lock:
            return self.db.execute(sql, params).fetchall()

    def scalar(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        with self.lock:
            row = self.db.execute(sql, params).fetchone()
        return row[0] if row else None

    def close(self) -> None:
        with self.lock:
            self.db.close()
