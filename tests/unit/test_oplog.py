"""Operation log (SPEC O2): record, filter, page, export; entries stored in codes and put
into words of the reader's language when read."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from controlplane.i18n import translate
from controlplane.oplog import (
    FAILURE,
    MAX_DETAIL,
    MAX_TECHNICAL,
    OBJECTS,
    OTHER_OBJECT,
    OTHER_SETTING,
    SETTING_LABELS,
    SUCCESS,
    Detail,
    OperationLog,
    Query,
    changed_settings,
    decode,
    encode,
    in_words,
    object_name,
    to_csv,
)
from controlplane.sections import SECTIONS
from controlplane.sections.base import Term
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


# -- codes stored, words read (issue 12, item 4) -------------------------------------------
def _zh(message: str, **params) -> str:
    return translate("zh_CN", message, **params)


def test_a_coded_detail_is_read_in_the_readers_language(oplog: OperationLog) -> None:
    oplog.record("admin", "::1", "apply", "services", SUCCESS, Detail((
        ("%(service)s restarted.", {"service": Term("SIP/IVR service")}),
        ("Changed: %(fields)s.", {"fields": [Term("SIP UDP/TCP port"),
                                              Term("SIP TLS port")]}),
    ), technical="etc/freeswitch/vars.xml"))
    stored = oplog.find_all(Query(limit=1))["items"][0]
    assert "restarted" in stored["detail"]  # codes: the msgids, not words of a language
    zh = in_words(stored, "zh_CN")
    assert zh["detail"] == (_zh("%(service)s restarted.", service=_zh("SIP/IVR service"))
                            + _zh("Changed: %(fields)s.", fields=_zh("SIP UDP/TCP port")
                                  + "、" + _zh("SIP TLS port")))
    assert zh["detail_technical"] == "etc/freeswitch/vars.xml"
    assert "vars.xml" not in zh["detail"] and "SIP/IVR service" not in zh["detail"]
    en = in_words(stored, "en")
    assert en["detail"] == ("SIP/IVR service restarted. "
                            "Changed: SIP UDP/TCP port, SIP TLS port.")
    assert (en["action_text"], en["target_text"], en["result_text"]) == (
        "Apply configuration", "Service settings", "Success")
    assert (zh["action_text"], zh["target_text"], zh["result_text"]) == (
        _zh("Apply configuration"), _zh("Service settings"), _zh("Success"))


def test_plain_text_details_are_shown_as_they_are(oplog: OperationLog) -> None:
    oplog.record("admin", "::1", "login_failed", "admin", FAILURE, "用户名或密码错误。")
    oplog.record("admin", "::1", "login_failed", "admin", FAILURE, '{"m": not json')
    items = oplog.find_all(Query(limit=2))["items"]
    assert [in_words(i, "en")["detail"] for i in items] == ['{"m": not json',
                                                            "用户名或密码错误。"]
    assert in_words(items[0], "en")["detail_technical"] == ""


def test_a_coded_detail_stays_valid_when_bounded(oplog: OperationLog) -> None:
    messages = tuple(("Changed: %(fields)s.", {"fields": [Term("x" * 90)]})
                     for _ in range(100))
    oplog.record("admin", "::1", "apply", "call", SUCCESS,
                 Detail(messages, technical="y" * 5000))
    stored = oplog.find_all(Query(limit=1))["items"][0]["detail"]
    assert len(stored) <= MAX_DETAIL
    detail = decode(stored)
    assert detail is not None and 0 < len(detail.messages) < 100
    assert detail.technical == "y" * MAX_TECHNICAL


def test_objects_are_named_in_words_and_data_as_it_is() -> None:
    assert object_name("update_settings", "network", "zh_CN") == _zh("Network settings")
    assert object_name("confirm_network", "network", "en") == "Network settings"
    assert object_name("apply", "startup", "en") == "Start of the control plane"
    assert object_name("activate_license", "license", "zh_CN") == _zh("License")
    # Not an object of the system (an apply from the command line names its files).
    assert object_name("apply", "etc/a.conf,etc/b.xml", "en") == OTHER_OBJECT
    # The admin's data: a user name, an account, a room.
    assert object_name("login", "network", "zh_CN") == "network"
    assert object_name("create_room", "一号会议室", "en") == "一号会议室"
    unknown = in_words({"action": "frobnicate", "target": "", "result": "odd",
                        "detail": ""}, "en")
    assert (unknown["action_text"], unknown["result_text"]) == ("Other operation", "odd")


def test_every_section_and_setting_has_its_words() -> None:
    for name, section in SECTIONS.items():
        assert name in OBJECTS, name
        assert set(section.defaults) <= set(SETTING_LABELS[name]), name
        for label in SETTING_LABELS[name].values():
            assert _zh(label) != label, label  # translated: a label of the pages


def test_a_settings_save_names_what_changed_never_the_values() -> None:
    detail = changed_settings("smtp", ["server", "password", "password"])
    assert detail == Detail((("Changed: %(fields)s.",
                              {"fields": [Term("SMTP server"), Term("Password")]}),))
    assert in_words({"action": "update_settings", "target": "smtp", "result": SUCCESS,
                     "detail": encode(detail)}, "en")["detail"] == (
        "Changed: SMTP server, Password.")
    assert changed_settings("call", []) == Detail(("Nothing changed.",))
    other = changed_settings("call", ["brand_new_key"])
    assert other.messages[0][1]["fields"] == [Term(OTHER_SETTING)]  # type: ignore[index]


# -- what the Audit plugin records -----------------------------------------------------------
def _call(app, method: str, path: str) -> int:
    from wsgiref.util import setup_testing_defaults

    environ: dict = {"REQUEST_METHOD": method, "PATH_INFO": path}
    setup_testing_defaults(environ)
    status: list[str] = []
    b"".join(app(environ, lambda s, h, e=None: status.append(s)))
    return int(status[0].split()[0])


def test_audit_records_failures_but_not_what_is_no_operation(oplog: OperationLog) -> None:
    from types import SimpleNamespace

    import bottle

    from controlplane.errors import ConfirmRequired, Conflict, ValidationError
    from controlplane.web.plugins import Audit, JsonErrors

    def raises(exc: Exception):
        def route():
            raise exc
        return route

    app = bottle.Bottle()
    app.install(JsonErrors())
    app.install(Audit(SimpleNamespace(oplog=oplog)))
    routes = {
        "/confirm": ConfirmRequired("This will restart the video conferencing services."),
        "/invalid": ValidationError(details={"port": "Required."}),
        "/password": ValidationError(details={"current_password": "The current password is "
                                                                  "wrong.",
                                              "new_password": "Required."}),
        "/conflict": Conflict("No network change is waiting for confirmation."),
        "/crash": RuntimeError("boom"),
    }
    for path, exc in routes.items():
        app.route(path, "POST", raises(exc), audit="change_password",
                  audit_target=lambda kw, p=path: p.strip("/"))
    app.route("/ok", "POST", lambda: {"ok": True}, audit="change_email",
              audit_target=lambda kw: "ok")
    before = oplog.find_all(Query())["total"]
    assert [_call(app, "POST", p) for p in (*routes, "/ok")] == [409, 400, 400, 409, 500, 200]
    items = oplog.find_all(Query(limit=4))["items"]
    assert oplog.find_all(Query())["total"] == before + 4
    got = [(i["target"], i["result"], in_words(i, "en")["detail"]) for i in reversed(items)]
    assert got == [
        ("password", FAILURE, "The current password is wrong."),  # a failed attempt
        ("conflict", FAILURE, "No network change is waiting for confirmation."),
        ("crash", FAILURE, "An internal error occurred."),
        ("ok", SUCCESS, ""),
    ]
