"""O2: the operation log records logins, failures, lockouts and logouts, and lists,
filters, pages and exports them, in words of the reader's language; what is no operation
(a change sent without the guide's confirm, a form with wrong fields) leaves no entry."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator

import pytest
import requests

from controlplane.i18n import translate
from tests.conftest import ADMIN_PASSWORD, Client, Server, free_port, make_server

BOM = b"\xef\xbb\xbf"
CSV_HEADERS = ["Time", "User name", "Source IP", "Action", "Target", "Result", "Details",
               "Technical details"]
EN = {"vcbox_lang": "en"}
ZH = {"vcbox_lang": "zh_CN"}


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    """A server whose log holds: a login, a failed login, a lockout and a logout.

    Shared by the read-only tests of this module (they must not write to the log)."""
    server = make_server(tmp_path_factory.mktemp("oplog")).start()
    try:
        assert requests.post(server.url + "/api/v1/setup/admin", timeout=30, json={
            "password": ADMIN_PASSWORD, "email": "admin@example.com"}).status_code == 200
        client = server.client()
        assert client.login().status_code == 200                            # login admin
        assert server.client().login(password="Wrong#1").status_code == 401  # login_failed
        intruder = server.client()
        answers = [intruder.login("mallory", "Guess#123").status_code for _ in range(5)]
        assert answers == [401] * 4 + [423]                  # 4 login_failed + lockout
        assert intruder.login("mallory", "Guess#123").status_code == 423  # failed: locked
        assert client.delete("/api/v1/session").status_code == 200        # logout admin
        assert client.login().status_code == 200                            # login admin
        yield client
    finally:
        server.stop()


def appliance_today(client: Client) -> dt.date:
    """Today on the appliance's clock (its time zone), which the log's dates are in."""
    res = client.get("/api/v1/status")
    assert res.status_code == 200, res.text
    return dt.date.fromisoformat(res.json()["clock"][:10])


def entries(client: Client, **params) -> dict:
    res = client.get("/api/v1/operation-log", params=params)
    assert res.status_code == 200, res.text
    return res.json()


def test_logins_failures_lockouts_and_logouts_are_recorded(history: Client) -> None:
    page = entries(history)
    items = page["items"]
    assert page["total"] == page["filtered"] == len(items) == 11
    # Newest first.
    assert [i["ts"] for i in items] == sorted((i["ts"] for i in items), reverse=True)
    by_action = {i["action"]: i for i in items}
    assert {"login", "login_failed", "lockout", "logout"} <= set(by_action)
    for item in items:
        assert item["ip"] == "127.0.0.1"
        assert item["username"] in ("admin", "mallory", "")
        assert item["result"] in ("success", "failure")
        assert item["time"].startswith(appliance_today(history).isoformat())
        assert item["action_text"] and item["result_text"]
    assert by_action["lockout"]["username"] == "mallory"
    assert by_action["logout"]["username"] == "admin"
    assert by_action["login"]["result"] == "success"
    # The failure says why (never the password that was tried).
    assert by_action["login_failed"]["detail"]
    assert "Guess#123" not in str(items) and "Wrong#1" not in str(items)


def test_the_log_keeps_the_order_of_events(history: Client) -> None:
    items = list(reversed(entries(history)["items"]))
    # The administrator was created by nobody logged in yet (the wizard).
    assert (items[0]["action"], items[0]["result"]) == ("setup_admin", "success")
    seq = [(i["username"], i["action"], i["result"]) for i in items[1:]]
    assert seq == [
        ("admin", "login", "success"),
        ("admin", "login_failed", "failure"),
        *[("mallory", "login_failed", "failure")] * 4,
        ("mallory", "lockout", "failure"),
        ("mallory", "login_failed", "failure"),
        ("admin", "logout", "success"),
        ("admin", "login", "success"),
    ]


def test_search_by_user_name(history: Client) -> None:
    page = entries(history, search="mall")
    assert page["filtered"] == 6
    assert page["total"] == 11
    assert {i["username"] for i in page["items"]} == {"mallory"}
    assert entries(history, search="ALLOR")["filtered"] == 6  # case-insensitive
    assert {i["username"] for i in entries(history, search="dmi")["items"]} == {"admin"}
    assert entries(history, search="nobody")["filtered"] == 0
    assert entries(history, search="%")["filtered"] == 0  # no SQL wildcards
    assert entries(history, search="_")["filtered"] == 0


def test_since_and_until(history: Client) -> None:
    today = appliance_today(history)
    yesterday, tomorrow = today - dt.timedelta(days=1), today + dt.timedelta(days=1)
    assert entries(history, since=today.isoformat())["filtered"] == 11
    assert entries(history, until=today.isoformat())["filtered"] == 11  # the whole day
    assert entries(history, since=today.isoformat(), until=today.isoformat())["filtered"] == 11
    assert entries(history, since=yesterday.isoformat(),
                   until=tomorrow.isoformat())["filtered"] == 11
    assert entries(history, until=yesterday.isoformat())["filtered"] == 0
    assert entries(history, since=tomorrow.isoformat())["filtered"] == 0
    # Date-times, and combined with the search.
    items = entries(history)["items"]
    lockout = next(i for i in items if i["action"] == "lockout")
    assert entries(history, since=repr(lockout["ts"]), search="mallory")["filtered"] == 2
    assert entries(history, since=repr(lockout["ts"]))["filtered"] == 4
    assert entries(history, until=repr(lockout["ts"]))["filtered"] == 7
    assert 2 <= entries(history, since=lockout["time"], search="mallory")["filtered"] <= 6
    for name, value in (("since", "2026-13-01"), ("since", "yesterday"),
                        ("until", "31/01/2026")):
        res = history.get("/api/v1/operation-log", params={name: value})
        assert res.status_code == 400, (name, value)
        assert res.json()["error_id"] == "invalid_input"
        assert set(res.json()["details"]) == {name}


def test_paging(history: Client) -> None:
    everything = entries(history)["items"]
    first, second = entries(history, limit=4), entries(history, limit=4, offset=4)
    assert first["total"] == first["filtered"] == 11
    assert len(first["items"]) == len(second["items"]) == 4
    assert [i["id"] for i in first["items"] + second["items"]] == [i["id"] for i in
                                                                   everything[:8]]
    assert len(entries(history, limit=4, offset=8)["items"]) == 3
    assert entries(history, limit=4, offset=40)["items"] == []
    page = entries(history, search="mallory", limit=2, offset=1)
    assert page["filtered"] == 6 and len(page["items"]) == 2
    for params in ({"limit": "0"}, {"limit": "100000"}, {"limit": "x"}, {"offset": "-1"}):
        res = history.get("/api/v1/operation-log", params=params)
        assert res.status_code == 400, params
        assert set(res.json()["details"]) == set(params)


def read_csv(res: requests.Response) -> list[list[str]]:
    assert res.status_code == 200, res.text
    assert res.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in res.headers["Content-Disposition"]
    assert res.content.startswith(BOM)
    return list(csv.reader(io.StringIO(res.content[len(BOM):].decode("utf-8"))))


def test_csv_export_of_the_filtered_list(history: Client) -> None:
    en = EN
    rows = read_csv(history.get("/api/v1/operation-log", headers={"Accept": "text/csv"},
                                cookies=en))
    assert rows[0] == CSV_HEADERS
    assert len(rows) == 1 + 11  # CSV is not paged: every filtered entry
    rows = read_csv(history.get("/api/v1/operation-log",
                                params={"format": "csv", "search": "mallory", "limit": 2},
                                cookies=en))
    assert rows[0] == CSV_HEADERS
    assert len(rows) == 1 + 6
    assert {r[1] for r in rows[1:]} == {"mallory"}
    assert {r[2] for r in rows[1:]} == {"127.0.0.1"}
    assert "User locked" in {r[3] for r in rows[1:]}
    assert {r[5] for r in rows[1:]} == {"Failure"}
    tomorrow = (appliance_today(history) + dt.timedelta(days=1)).isoformat()
    rows = read_csv(history.get("/api/v1/operation-log", params={"since": tomorrow},
                                headers={"Accept": "text/csv"}, cookies=en))
    assert rows == [CSV_HEADERS]


def test_csv_export_in_chinese(history: Client) -> None:
    rows = read_csv(history.get("/api/v1/operation-log", params={"format": "csv"},
                                cookies={"vcbox_lang": "zh_CN"}))
    assert len(rows) == 1 + 11
    # Whatever the catalog says today, the export carries it intact (UTF-8 + BOM).
    assert rows[0] == [translate("zh_CN", h) for h in CSV_HEADERS]
    lockout = translate("zh_CN", "User locked")
    assert lockout in {r[3] for r in rows[1:]}
    if lockout != "User locked":  # the zh_CN catalog has landed
        assert any("\u4e00" <= ch <= "\u9fff" for ch in lockout)
        assert any("\u4e00" <= ch <= "\u9fff" for ch in "".join(rows[0]))


def test_operation_log_needs_a_session(configured: Server) -> None:
    res = requests.get(configured.url + "/api/v1/operation-log", timeout=30)
    assert res.status_code == 401
    res = requests.get(configured.url + "/api/v1/operation-log?format=csv", timeout=30)
    assert res.status_code == 401
    assert not res.content.startswith(BOM)


def test_admin_actions_are_recorded_with_their_outcome(admin: Client) -> None:
    assert admin.put("/api/v1/admin/email", json={
        "current_email": "admin@example.com", "new_email": "ops@example.com"}).status_code == 200
    assert admin.put("/api/v1/admin/password", json={
        "current_password": "Wrong#123", "new_password": ADMIN_PASSWORD,
        "confirm_password": ADMIN_PASSWORD}).status_code == 400
    assert admin.put("/api/v1/settings/smtp", json={"port": 0}).status_code == 400
    assert admin.put("/api/v1/settings/smtp", json={"port": 587}).status_code == 200
    items = entries(admin, limit=3)["items"]
    # A wrong current password is a failed attempt; a wrong port is no operation.
    assert [(i["action"], i["result"]) for i in reversed(items)] == [
        ("change_email", "success"), ("change_password", "failure"),
        ("update_settings", "success")]
    assert all(i["username"] == "admin" and i["ip"] == "127.0.0.1" for i in items)
    assert items[0]["target"] == "smtp"
    assert items[0]["target_text"] == translate("zh_CN", "SMTP mail settings")
    assert items[1]["detail"] == translate("zh_CN", "The current password is wrong.")


# -- what is no operation, and what is a failure -------------------------------------------

def test_a_refused_confirm_and_wrong_fields_leave_no_failure(admin: Client) -> None:
    before = entries(admin)["total"]
    res = admin.put("/api/v1/settings/services", json={"sip_tls_port": 5062})
    assert res.status_code == 409 and res.json()["error_id"] == "confirm_required"
    for section, change in (("services", {"sip_port": 0}), ("ports", {"ivr": {"min": 1}}),
                            ("smtp", {"port": "x"}), ("call", {"nope": 1})):
        res = admin.put(f"/api/v1/settings/{section}", json=change)
        assert res.status_code == 400 and res.json()["details"], res.text
    assert admin.post("/api/v1/rooms", json={"name": "", "kind": "normal"}).status_code == 400
    assert admin.put("/api/v1/admin/email", json={"new_email": "x"}).status_code == 400
    assert entries(admin)["total"] == before
    # Confirmed, the change is one entry: the save, and what it changed, in words.
    res = admin.put("/api/v1/settings/services", json={"sip_tls_port": 5062,
                                                       "confirm": True})
    assert res.status_code == 200, res.text
    items = entries(admin, limit=2)["items"]
    assert [(i["action"], i["result"]) for i in items] == [("update_settings", "success"),
                                                           ("apply", "success")]
    assert items[0]["detail"] == translate("zh_CN", "Changed: %(fields)s.",
                                           fields=translate("zh_CN", "SIP TLS port"))
    assert "sip_tls_port" not in str(items)


def test_real_failures_are_failures(admin: Client) -> None:
    # A refusal of the state: no network change waits for confirmation.
    res = admin.post("/api/v1/settings/network/confirm", cookies=EN)
    assert res.status_code == 409 and res.json()["error_id"] == "conflict"
    entry = entries(admin, limit=1)["items"][0]
    assert (entry["action"], entry["target"], entry["result"]) == (
        "confirm_network", "network", "failure")
    assert entry["target_text"] == translate("zh_CN", "Network settings")
    # Written in English, read in Chinese: the reader's words.
    assert entry["detail"] == translate("zh_CN", "No network change is waiting for "
                                                 "confirmation.")
    in_english = admin.get("/api/v1/operation-log", params={"limit": 1}, cookies=EN)
    assert in_english.json()["items"][0]["detail"] == (
        "No network change is waiting for confirmation.")
    # An upstream that fails (5xx): the SMTP server cannot be reached.
    port = free_port()
    assert admin.put("/api/v1/settings/smtp", json={
        "server": "127.0.0.1", "port": port, "sender": "vc@example.com"}).status_code == 200
    res = admin.post("/api/v1/settings/smtp/test", json={"to": "ops@example.com"})
    assert res.status_code == 502, res.text
    entry = entries(admin, limit=1)["items"][0]
    assert (entry["action"], entry["target"], entry["result"]) == ("test_mail", "smtp",
                                                                   "failure")
    assert entry["detail"] == res.json()["message"]


# -- a reversed date range ------------------------------------------------------------------

def test_a_reversed_date_range_is_refused_with_field_messages(history: Client) -> None:
    today = appliance_today(history)
    yesterday = (today - dt.timedelta(days=1)).isoformat()
    for cookies, lang in ((ZH, "zh_CN"), (EN, "en")):
        res = history.get("/api/v1/operation-log", cookies=cookies,
                          params={"since": today.isoformat(), "until": yesterday})
        assert res.status_code == 400, res.text
        body = res.json()
        assert body["error_id"] == "invalid_input"
        message = translate(lang, "The start date is after the end date.")
        assert body["details"] == {"since": message, "until": message}
        # The export refuses it the same way (nothing to download).
        res = history.get("/api/v1/operation-log", cookies=cookies, params={
            "since": today.isoformat(), "until": yesterday, "format": "csv"})
        assert res.status_code == 400 and not res.content.startswith(BOM)
    # Epoch times: a start after the end too; one day from and to itself is that day.
    items = entries(history)["items"]
    first, last = items[-1]["ts"], items[0]["ts"]
    res = history.get("/api/v1/operation-log", params={"since": repr(last + 1),
                                                       "until": repr(first)})
    assert res.status_code == 400 and set(res.json()["details"]) == {"since", "until"}
    assert entries(history, since=today.isoformat(), until=today.isoformat())["filtered"] == 11


# -- words of the reader's language ----------------------------------------------------------

def test_entries_are_in_words_of_the_readers_language(history: Client) -> None:
    for cookies, lang in ((ZH, "zh_CN"), (EN, "en")):
        res = history.get("/api/v1/operation-log", cookies=cookies)
        items = res.json()["items"]
        lockout = next(i for i in items if i["action"] == "lockout")
        assert lockout["action_text"] == translate(lang, "User locked")
        assert lockout["result_text"] == translate(lang, "Failure")
        assert lockout["target_text"] == "mallory"  # the admin's data, as it is
        login = next(i for i in items if i["action"] == "login")
        assert login["result_text"] == translate(lang, "Success")
        assert all(i["detail_technical"] == "" for i in items)
