"""A full disk (issue 16 item 3): a write that finds no room fails before the rename and
leaves the old file and no temp file; SQLite's "database or disk is full" and the file
system's ENOSPC are both told apart from other failures (tests/reliability/test_disk_full
fills a real tmpfs under the running server)."""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

import pytest

from controlplane.store import Documents, storage_full
from controlplane.store.documents import atomic_write


def test_a_write_without_room_leaves_the_old_file_and_no_temp_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "documents.json"
    atomic_write(path, b"old")
    real_write = os.write

    def half_then_full(fd: int, data) -> int:
        if len(data) > 4:
            return real_write(fd, bytes(data[:4]))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(OSError) as raised:
        atomic_write(path, b"new and longer")
    assert storage_full(raised.value)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["documents.json"]


def test_the_store_keeps_what_is_on_disk_when_a_write_finds_no_room(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = Documents(tmp_path / "documents.json")
    docs.put("smtp", {"sender": "a@example.com"})

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(OSError):
        docs.put("smtp", {"sender": "b@example.com"})
    monkeypatch.undo()
    assert docs.get("smtp") == {"sender": "a@example.com"}
    assert Documents(tmp_path / "documents.json").get("smtp") == {"sender": "a@example.com"}


def test_sqlite_full_is_told_from_other_errors(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "h.sqlite3")
    db.execute("CREATE TABLE t (x TEXT)")
    db.execute("PRAGMA max_page_count = 3")
    with pytest.raises(sqlite3.OperationalError) as raised:
        for _ in range(100):
            db.execute("INSERT INTO t VALUES (?)", ("x" * 4000,))
    assert storage_full(raised.value)
    with pytest.raises(sqlite3.OperationalError) as other:
        db.execute("SELECT * FROM missing")
    assert not storage_full(other.value)
    assert not storage_full(OSError(errno.EACCES, "no"))
    assert not storage_full(ValueError("x"))
