"""Operation log (SPEC O2): record, filter, page, export."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from controlplane.oplog import FAILURE, SUCCESS, OperationLog, Query, to_csv
from controlplane.store import History

T0 = 1_700_000_000.0
DAY = 86400.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def oplog(tmp_path: Path, clock: Clock) -> OperationLog:
    log = OperationLog(History(tmp_path / "history.sqlite3"), clock=clock)
    # (days after T0, user, action, result)
    for day, user, action, result in [
        (0, "admin", "login", SUCCESS),
        (1, "Admin", "update_settings", SUCCESS),
        (2, "operator", "login_failed", FAILURE),
        (3, "张三", "login", SUCCESS),
        (4, "admin", "logout", SUCCESS),
    ]:
        clock.now = T0 + day * DAY
        log.record(user, "192.0.2.1", action, target="smtp", result=result)
    return log


def _users(result: dict) -> list[str]:
    return [item["username"] for item in result["items"]]


def test_record_stores_every_column(oplog: OperationLog, clock: Clock) -> None:
    clock.now = T0 + 10 * DAY
    oplog.record("admin", "2001:db8::1", "change_email", target="admin", result=FAILURE,
                 detail="x" * 600)
    item = oplog.find_all(Query(limit=1))["items"][0]
    assert item["ts"] == T0 + 10 * DAY
    assert (item["username"], item["ip"], item["action"], item["target"], item["result"]) == (
        "admin", "2001:db8::1", "change_email", "admin", FAILURE)
    assert item["detail"] == "x" * 500  # bounded


def test_all_newest_first(oplog: OperationLog) -> None:
    result = oplog.find_all(Query())
    assert _users(result) == ["admin", "张三", "operator", "Admin", "admin"]
    assert result["total"] == result["filtered"] == 5


def test_since_until(oplog: OperationLog) -> None:
    result = oplog.find_all(Query(since=T0 + 1 * DAY, until=T0 + 3 * DAY))
    assert _users(result) == ["operator", "Admin"]  # since inclusive, until exclusive
    assert (result["total"], result["filtered"]) == (5, 2)
    assert oplog.find_all(Query(since=T0 + 3 * DAY))["filtered"] == 2
    assert oplog.find_all(Query(until=T0 + 1))["filtered"] == 1
    assert oplog.find_all(Query(since=T0 + 9 * DAY))["items"] == []


def test_search_is_substring_and_case_insensitive(oplog: OperationLog) -> None:
    assert _users(oplog.find_all(Query(search="ADM"))) == ["admin", "Admin", "admin"]
    assert _users(oplog.find_all(Query(search="erat"))) == ["operator"]
    assert _users(oplog.find_all(Query(search="张"))) == ["张三"]
    assert oplog.find_all(Query(search="nobody"))["filtered"] == 0
    # Search text is data, never SQL or a pattern.
    assert oplog.find_all(Query(search="%"))["filtered"] == 0
    assert oplog.find_all(Query(search="' OR 1=1 --"))["filtered"] == 0


def test_search_and_dates_combine(oplog: OperationLog) -> None:
    result = oplog.find_all(Query(search="admin", since=T0 + DAY))
    assert _users(result) == ["admin", "Admin"]
    assert (result["total"], result["filtered"]) == (5, 2)


def test_paging(oplog: OperationLog) -> None:
    pages = [oplog.find_all(Query(limit=2, offset=offset)) for offset in (0, 2, 4, 6)]
    assert [_users(p) for p in pages] == [["admin", "张三"], ["operator", "Admin"], ["admin"], []]
    assert all(p["total"] == 5 and p["filtered"] == 5 for p in pages)
    filtered = oplog.find_all(Query(search="admin", limit=1, offset=1))
    assert _users(filtered) == ["Admin"]
    assert filtered["filtered"] == 3
    assert len(oplog.find_all(Query(limit=None))["items"]) == 5


def test_same_second_keeps_insertion_order(tmp_path: Path, clock: Clock) -> None:
    log = OperationLog(History(tmp_path / "h.sqlite3"), clock=clock)
    for user in ("first", "second", "third"):
        log.record(user, "::1", "login")
    assert _users(log.find_all(Query())) == ["third", "second", "first"]


# -- CSV export -----------------------------------------------------------------------------
def _parse(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def test_csv_starts_with_bom_and_keeps_chinese(oplog: OperationLog) -> None:
    rows = oplog.find_all(Query(limit=None))["items"]
    data = to_csv(rows, ["用户", "操作"], ["username", "action"])
    assert data.startswith(b"\xef\xbb\xbf")
    assert data.count(b"\xef\xbb\xbf") == 1
    parsed = _parse(data)
    assert parsed[0] == ["用户", "操作"]
    assert ["张三", "login"] in parsed[1:]
    assert len(parsed) == 6


def test_csv_neutralises_formulas() -> None:
    rows = [{"a": "=HYPERLINK(\"http://evil\")", "b": "+1+2", "c": "-3", "d": "@SUM(A1)",
             "e": "plain", "f": 42, "g": "a=b"}]
    parsed = _parse(to_csv(rows, list("abcdefg"), list("abcdefg")))
    assert parsed[1] == ["'=HYPERLINK(\"http://evil\")", "'+1+2", "'-3", "'@SUM(A1)", "plain",
                         "42", "a=b"]


def test_csv_quotes_commas_and_newlines() -> None:
    rows = [{"a": "x, y", "b": "line1\nline2", "c": 'say "hi"'}]
    parsed = _parse(to_csv(rows, ["a", "b", "c"], ["a", "b", "c"]))
    assert parsed[1] == ["x, y", "line1\nline2", 'say "hi"']


def test_csv_missing_columns_are_empty() -> None:
    parsed = _parse(to_csv([{"a": "1"}], ["A", "B"], ["a", "b"]))
    assert parsed == [["A", "B"], ["1", ""]]
