"""Documents (tinydb over SafeStorage) and History (SQLite WAL), DESIGN D2."""

from __future__ import annotations

import json
import sqlite3
import stat
import threading
from pathlib import Path

import pytest

from controlplane.store import Documents, History
from controlplane.store import documents as documents_module
from controlplane.store.documents import META, SCHEMA_VERSION
from controlplane.store.history import SCHEMA


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "documents.json"


def on_disk(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


# -- schema version and migrations ----------------------------------------------------------
def test_new_store_gets_the_current_schema_version(path: Path) -> None:
    docs = Documents(path)
    assert docs.schema_version == SCHEMA_VERSION >= 1
    assert on_disk(path)[META]["1"]["schema_version"] == SCHEMA_VERSION


def test_migration_hook_runs_once_and_raises_the_version(path: Path) -> None:
    Documents(path, migrations={}, version=1).close()
    assert on_disk(path)[META]["1"]["schema_version"] == 1
    calls: list[int] = []

    def to_v2(batch) -> None:
        calls.append(1)
        batch.put("settings.smtp", {"port": 2525})
        batch.rows("rooms")["1"] = {"name": "migrated"}

    docs = Documents(path, migrations={2: to_v2}, version=2)
    assert calls == [1]
    assert docs.schema_version == 2
    assert docs.get("settings.smtp") == {"port": 2525}
    assert docs.table("rooms").all() == [{"name": "migrated"}]
    docs.close()
    raw = on_disk(path)
    assert raw[META]["1"]["schema_version"] == 2
    assert raw["rooms"] == {"1": {"name": "migrated"}}

    again = Documents(path, migrations={2: to_v2}, version=2)
    assert calls == [1]
    assert again.schema_version == 2


def test_failing_migration_leaves_the_old_version(path: Path) -> None:
    Documents(path, migrations={}, version=1).close()
    before = path.read_bytes()

    def broken(batch) -> None:
        batch.put("settings.smtp", {"port": 1})
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        Documents(path, migrations={2: broken}, version=2)
    assert path.read_bytes() == before


def test_store_newer_than_the_software_is_refused(path: Path) -> None:
    Documents(path, migrations={}, version=SCHEMA_VERSION + 1).close()
    before = path.read_bytes()
    with pytest.raises(RuntimeError, match="newer"):
        Documents(path)
    assert path.read_bytes() == before


# -- batches --------------------------------------------------------------------------------
def test_batch_writes_several_tables_in_one_atomic_write(path: Path, monkeypatch) -> None:
    docs = Documents(path)
    writes: list[bytes] = []
    real = documents_module.atomic_write

    def counting(target: Path, data: bytes, mode: int = 0o600) -> None:
        writes.append(data)
        real(target, data, mode)

    monkeypatch.setattr(documents_module, "atomic_write", counting)
    with docs.batch() as batch:
        batch.rows("accounts")["1"] = {"account": "1001"}
        batch.rows("rooms")["1"] = {"name": "Room 1"}
        batch.put("settings.smtp", {"port": 25})
    assert len(writes) == 1
    raw = on_disk(path)
    assert raw["accounts"] == {"1": {"account": "1001"}}
    assert raw["rooms"] == {"1": {"name": "Room 1"}}
    assert raw["settings.smtp"] == {"1": {"port": 25}}
    assert docs.table("accounts").all() == [{"account": "1001"}]


def test_batch_without_changes_writes_nothing(path: Path, monkeypatch) -> None:
    docs = Documents(path)
    monkeypatch.setattr(documents_module, "atomic_write",
                        lambda *a, **k: pytest.fail("wrote without a change"))
    with docs.batch() as batch:
        assert batch.get("admin") is None


def test_exception_inside_a_batch_changes_nothing(path: Path) -> None:
    docs = Documents(path)
    docs.table("rooms").insert({"name": "Room 1"})
    docs.put("admin", {"email": "a@example.com"})
    before_disk = path.read_bytes()
    before_mem = json.loads(json.dumps(docs.storage.read()))

    with pytest.raises(ValueError, match="half way"), docs.batch() as batch:
        batch.rows("rooms")["2"] = {"name": "Room 2"}
        batch.rows("rooms")["1"]["name"] = "renamed"
        batch.put("admin", {"email": "b@example.com"})
        batch.rows("accounts")["1"] = {"account": "1001"}
        raise ValueError("half way")

    assert path.read_bytes() == before_disk
    assert docs.storage.read() == before_mem
    assert docs.table("rooms").all() == [{"name": "Room 1"}]
    assert docs.get("admin") == {"email": "a@example.com"}
    assert docs.table("accounts").all() == []


def test_table_insert_after_a_batch_added_rows_gets_a_free_id(path: Path) -> None:
    docs = Documents(path)
    rooms = docs.table("rooms")
    assert rooms.insert({"name": "first"}) == 1
    with docs.batch() as batch:
        batch.rows("rooms")["2"] = {"name": "from a batch"}
    doc_id = rooms.insert({"name": "third"})
    assert doc_id == 3
    assert sorted(d["name"] for d in rooms.all()) == ["first", "from a batch", "third"]


def test_singleton_get_returns_a_copy(path: Path) -> None:
    docs = Documents(path)
    docs.put("settings.smtp", {"server": "smtp.example.com", "tags": ["a"]})
    got = docs.get("settings.smtp")
    got["server"] = "evil.example.com"
    got["tags"].append("b")
    assert docs.get("settings.smtp") == {"server": "smtp.example.com", "tags": ["a"]}
    assert docs.get("missing") is None


def test_put_keeps_a_copy_of_the_callers_document(path: Path) -> None:
    docs = Documents(path)
    doc = {"server": "smtp.example.com"}
    docs.put("settings.smtp", doc)
    doc["server"] = "changed.example.com"
    assert docs.get("settings.smtp") == {"server": "smtp.example.com"}


def test_failed_write_leaves_memory_equal_to_disk(path: Path, monkeypatch) -> None:
    docs = Documents(path)
    rooms = docs.table("rooms")
    rooms.insert({"name": "Room 1", "size": 4})
    docs.put("settings.smtp", {"port": 25})
    before = path.read_bytes()

    def broken(*args, **kwargs) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(documents_module, "atomic_write", broken)
    with pytest.raises(OSError):
        docs.put("settings.smtp", {"port": 2525})
    with pytest.raises(OSError):
        rooms.insert({"name": "Room 2"})
    with pytest.raises(OSError):
        rooms.update({"size": 99}, doc_ids=[1])  # tinydb changes the document in place
    with pytest.raises(OSError), docs.batch() as batch:
        batch.rows("accounts")["1"] = {"account": "1001"}

    assert path.read_bytes() == before
    assert docs.storage.read() == on_disk(path)
    assert docs.get("settings.smtp") == {"port": 25}
    assert rooms.all() == [{"name": "Room 1", "size": 4}]
    assert docs.table("accounts").all() == []

    monkeypatch.undo()  # the disk is back: writing works again
    rooms.insert({"name": "Room 2"})
    assert sorted(d["name"] for d in Documents(path).table("rooms").all()) == [
        "Room 1", "Room 2"]


def test_concurrent_writers_lose_nothing(path: Path) -> None:
    """One writer lock serialises every writer: tinydb table writes and batches alike."""
    docs = Documents(path)
    errors: list[BaseException] = []
    per_thread = 40

    def inserter(n: int) -> None:
        table = docs.table(f"inserted{n}")
        try:
            for i in range(per_thread):
                table.insert({"i": i})
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    def batcher(n: int) -> None:
        try:
            for i in range(per_thread):
                with docs.batch() as batch:
                    batch.rows(f"batch{n}")[str(i + 1)] = {"i": i}
                    batch.put(f"last{n}", {"i": i})
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=inserter, args=(n,)) for n in range(3)]
    threads += [threading.Thread(target=batcher, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    for reopened in (docs, Documents(path)):
        for n in range(3):
            assert sorted(d["i"] for d in reopened.table(f"inserted{n}").all()) == list(
                range(per_thread))
            assert sorted(d["i"] for d in reopened.table(f"batch{n}").all()) == list(
                range(per_thread))
            assert reopened.get(f"last{n}") == {"i": per_thread - 1}


def test_documents_file_is_private_and_keeps_unicode(path: Path) -> None:
    docs = Documents(path)
    docs.table("accounts").insert({"name": "张三"})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "张三" in path.read_text(encoding="utf-8")
    assert Documents(path).table("accounts").all() == [{"name": "张三"}]


# -- history --------------------------------------------------------------------------------
def test_history_uses_wal_and_sets_user_version(tmp_path: Path) -> None:
    history = History(tmp_path / "history.sqlite3")
    assert history.scalar("PRAGMA journal_mode") == "wal"
    assert history.scalar("PRAGMA user_version") == len(SCHEMA) >= 1
    names = {row[0] for row in history.query("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"oplog", "sessions", "login_failures", "reset_tokens"} <= names
    history.close()
    # Another connection sees the same: WAL is a property of the file.
    other = sqlite3.connect(tmp_path / "history.sqlite3")
    assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    other.close()


def test_history_migrate_is_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    history = History(path)
    history.execute(
        "INSERT INTO oplog (ts, username, ip, action, result)"
        " VALUES (1, 'admin', '::1', 'x', 'ok')")
    history._migrate()  # again, on an up-to-date database
    history.close()
    reopened = History(path)
    assert reopened.scalar("PRAGMA user_version") == len(SCHEMA)
    assert reopened.scalar("SELECT count(*) FROM oplog") == 1
    reopened.close()


def test_history_executemany_is_all_or_nothing(tmp_path: Path) -> None:
    history = History(tmp_path / "history.sqlite3")
    sql = "INSERT INTO login_failures (username, failures) VALUES (?, ?)"
    with pytest.raises(sqlite3.IntegrityError):
        history.executemany(sql, [("a", 1), ("b", 1), ("a", 2)])
    assert history.scalar("SELECT count(*) FROM login_failures") == 0
    history.executemany(sql, [("a", 1), ("b", 1)])
    assert history.scalar("SELECT count(*) FROM login_failures") == 2


def test_a_write_encodes_only_the_tables_that_changed(path: Path, monkeypatch) -> None:
    docs = Documents(path)
    with docs.batch() as batch:
        batch.changed["accounts"] = {str(n): {"account": str(n)} for n in range(100)}
    encoded: list[object] = []
    real = documents_module._dumps

    def counting(value: object) -> str:
        encoded.append(value)
        return real(value)

    monkeypatch.setattr(documents_module, "_dumps", counting)
    docs.table("meetings").insert({"subject": "周会"})
    with docs.batch() as batch:
        batch.put("settings_call", {"layout": "1x1"})
    tables = [v for v in encoded if isinstance(v, dict)]
    assert all(len(t) <= 1 for t in tables), "the accounts table was encoded again"
    # What is on disk is still the whole store, every table as written.
    stored = on_disk(path)
    assert len(stored["accounts"]) == 100
    assert [d["subject"] for d in stored["meetings"].values()] == ["周会"]
    assert stored["settings_call"]["1"] == {"layout": "1x1"}
    assert Documents(path).peek("settings_call") == {"layout": "1x1"}
    docs.table("meetings").update({"subject": "月会"})
    assert [d["subject"] for d in on_disk(path)["meetings"].values()] == ["月会"]
