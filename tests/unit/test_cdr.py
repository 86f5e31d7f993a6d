"""The CDR inbox (controlplane/cdr.py): records as FreeSWITCH 1.10 writes them, once per
call, hostile input refused with nothing written; posts at the same time share one
transaction."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import gevent
import pytest

from controlplane import cdr
from controlplane.cdr import MAX_RECORD_BYTES, BadRecord, CdrBatcher, CdrInbox

UUID = "69aa1c98-7ae5-4c8f-8d98-b736d531ba80"
# As mod_json_cdr 1.10.12 posts it with encode=false, encode-values=false: cJSON's
# escapes for CR/LF and quotes, UTF-8 as is.
RAW = ('{"core-uuid":"110a","variables":{"uuid":"' + UUID + '","switch_r_sdp":"v=0\\r\\n'
       'o=- 1 2 IN IP4 127.0.0.1\\r\\n","caller_id":"\\"2010\\" <2010>",'
       '"caller_id_name":"张三","billsec":"3"},'
       '"callflow":[{"caller_profile":{"destination_number":"2011"}}]}').encode()


def record(n: int) -> bytes:
    return json.dumps({"variables": {"uuid": f"00000000-0000-4000-8000-{n:012d}"}}).encode()


def test_a_record_as_freeswitch_writes_it_is_kept(tmp_path: Path) -> None:
    inbox = CdrInbox(tmp_path)
    assert inbox.put(RAW) == (UUID, True)
    kept = inbox.get(UUID)
    assert kept["variables"]["caller_id"] == '"2010" <2010>'
    assert kept["variables"]["switch_r_sdp"].startswith("v=0\r\no=")
    assert kept["variables"]["caller_id_name"] == "张三"
    assert kept["callflow"][0]["caller_profile"]["destination_number"] == "2011"
    assert inbox.raw(UUID) == RAW  # stored as posted
    inbox.close()
    # on disk when put returned: a new connection (another process) reads it
    db = sqlite3.connect(tmp_path / "calls.sqlite3")
    assert db.execute("SELECT record FROM cdr").fetchall() == [(RAW,)]


def test_a_record_posted_twice_is_kept_once(tmp_path: Path) -> None:
    inbox = CdrInbox(tmp_path)
    inbox.put(RAW)
    assert inbox.put(RAW.replace(b'"billsec":"3"', b'"billsec":"9"')) == (UUID, False)
    assert inbox.get(UUID)["variables"]["billsec"] == "3"
    assert inbox.uuids() == [UUID]


@pytest.mark.parametrize("text", [
    b"", b"not json", b"[]", b'{"variables": {}}', b'{"variables": {"uuid": "../../etc"}}',
    b'{"variables": {"uuid": 5}}', b"x" * (MAX_RECORD_BYTES + 1),
    # bare quotes: not JSON (what encode=true made of the values, now refused)
    b'{"variables": {"uuid": "' + UUID.encode() + b'", "caller_id": ""2010" <2010>"}}',
    b"\xff\xfe{}"])
def test_what_is_not_a_record_is_refused_with_nothing_written(tmp_path: Path, text) -> None:
    with pytest.raises(BadRecord):
        CdrInbox(tmp_path).put(text)
    assert CdrInbox(tmp_path).uuids() == []


def test_records_an_earlier_version_kept_as_files_move_in(tmp_path: Path) -> None:
    folder = tmp_path / "cdr" / "inbox"
    folder.mkdir(parents=True)
    (folder / f"{UUID}.json").write_bytes(RAW)
    (folder / f".{UUID}.0a0b.tmp").write_bytes(RAW[:20])  # a write cut short
    inbox = CdrInbox(tmp_path)
    assert inbox.put(record(1))[1] is True
    assert inbox.raw(UUID) == RAW
    assert not folder.exists()


def test_posts_at_the_same_time_share_a_transaction(tmp_path: Path) -> None:
    inbox = CdrInbox(tmp_path)
    transactions: list[int] = []
    put_many = inbox.put_many

    def counting(records):
        transactions.append(len(records))
        return put_many(records)

    inbox.put_many = counting  # type: ignore[method-assign]
    batcher = CdrBatcher(inbox)
    posts = [gevent.spawn(batcher.put, record(n)) for n in range(200)]
    bad = gevent.spawn(batcher.put, b"not json")
    gevent.joinall([*posts, bad], raise_error=False)
    assert [p.value for p in posts] == [
        (f"00000000-0000-4000-8000-{n:012d}", True) for n in range(200)]
    assert isinstance(bad.exception, BadRecord)  # its neighbours are kept all the same
    assert sum(transactions) == 201
    assert len(transactions) < 10, transactions  # the first alone, then the rest together
    assert len(inbox.uuids()) == 200


def test_a_transaction_that_fails_fails_every_post_in_it(tmp_path: Path) -> None:
    inbox = CdrInbox(tmp_path)
    batcher = CdrBatcher(inbox)
    inbox.put(record(0))
    # SQLite itself refuses the writes: the writing connection swapped for a read-only
    # one (disk full cannot be made on demand here; the error reaches the posts alike).
    inbox.close()
    inbox._db = sqlite3.connect(f"file:{inbox.path}?mode=ro", uri=True,
                                check_same_thread=False, isolation_level=None)
    posts = [gevent.spawn(batcher.put, record(n)) for n in range(1, 4)]
    gevent.joinall(posts, raise_error=False)
    assert all(isinstance(p.exception, sqlite3.OperationalError) for p in posts), [
        p.exception for p in posts]
    assert inbox.uuids() == ["00000000-0000-4000-8000-000000000000"]


def test_a_reader_never_trips_over_a_database_being_made(tmp_path: Path) -> None:
    # the writer's connect makes the file a moment before its table exists
    sqlite3.connect(tmp_path / "calls.sqlite3").close()
    assert CdrInbox(tmp_path).uuids() == []
    assert CdrInbox(tmp_path).get(UUID) is None


def test_the_spill_folder_is_taken_in_once_leaving_what_is_still_being_written(
        tmp_path: Path) -> None:
    """mod_json_cdr's err-log-dir (real FreeSWITCH spilling: test_cdr_spill_real.py): a
    whole record goes in and its file goes; one half written stays for the next round,
    and is set aside in bad/ once it is a minute old and still no record."""
    inbox = CdrInbox(tmp_path)
    folder = tmp_path / "spill"
    folder.mkdir()
    (folder / "a_one.cdr.json").write_bytes(record(1))
    (folder / "two.cdr.json").write_bytes(record(2))
    half = folder / "three.cdr.json"
    half.write_bytes(record(3)[:20])
    young = folder / "four.cdr.json"
    young.write_bytes(record(4))
    now = young.stat().st_mtime
    for path in (folder / "a_one.cdr.json", folder / "two.cdr.json", half):
        os.utime(path, (now - 5, now - 5))
    assert cdr.replay(inbox, folder, now=now) == (2, 0)
    assert sorted(p.name for p in folder.iterdir()) == ["four.cdr.json", "three.cdr.json"]
    # The same record again (a replay cut short before its delete): kept once.
    (folder / "two.cdr.json").write_bytes(record(2))
    os.utime(folder / "two.cdr.json", (now - 5, now - 5))
    assert cdr.replay(inbox, folder, now=now + 3) == (1, 1)  # four, and two again
    assert len(inbox.uuids()) == 3
    assert cdr.replay(inbox, folder, now=now + 61) == (0, 0)
    assert sorted(p.name for p in folder.iterdir()) == ["bad"]
    assert [p.name for p in (folder / "bad").iterdir()] == ["three.cdr.json"]
    assert cdr.replay(inbox, tmp_path / "none") == (0, 0)
    inbox.close()
