"""E1-E8 through the real server with a real license: /api/v1/accounts (create with the
generated password shown once, list / search / paging, edit, password reset, delete one or
many as desired state), the account mail through a real SMTP server with per-recipient
results, the operation log and the /accounts page."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Client, Server, configured_server
from tests.integration.conftest import Pki, SmtpServers
from tests.license_keys import licensed_server

EN = {"vcbox_lang": "en"}
DOMAIN = "vcbox.local"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[Server]:
    """A licensed server that trusts the test CA (for its SMTP), shared by the module."""
    with licensed_server(tmp_path_factory.mktemp("accounts"), ssl_cert_file=str(pki.ca)) as srv:
        yield srv


@pytest.fixture
def admin(server: Server) -> Iterator[Client]:
    """A logged-in client (English); every account is deleted after each test."""
    client = server.client()
    client.cookies.update(EN)
    assert client.login().status_code == 200
    yield client
    numbers = [a["account"] for a in
               client.get("/api/v1/accounts", params={"limit": 1000}).json()["items"]]
    if numbers:
        res = client.post("/api/v1/accounts/delete", json={"accounts": numbers})
        assert res.status_code == 200, res.text
    res = client.put("/api/v1/settings/smtp", json={"server": "", "sender": ""})
    assert res.status_code == 200, res.text


def create(client: Client, account: str, name: str = "", email: str = "",
           **extra) -> dict:
    res = client.post("/api/v1/accounts", json={
        "name": name or f"User {account}", "account": account,
        "email": email or f"u{account}@example.com", **extra})
    assert res.status_code == 201, res.text
    return res.json()


def documents(server: Server) -> dict:
    return json.loads((server.data / "documents.json").read_text())


def a1(account: str, password: str, domain: str = DOMAIN) -> str:
    return hashlib.md5(f"{account}:{domain}:{password}".encode()).hexdigest()


def test_creating_needs_a_license(tmp_path: Path) -> None:
    with configured_server(tmp_path) as srv:
        client = srv.client()
        client.cookies.update(EN)
        assert client.login().status_code == 200
        res = client.post("/api/v1/accounts", json={
            "name": "Alice", "account": "1001", "email": "alice@example.com"})
        assert res.status_code == 409
        assert res.json()["error_id"] == "conflict"
        assert res.json()["message"] == (
            "No valid license: activate one before creating accounts.")
        assert client.get("/api/v1/accounts").json() == {"items": [], "total": 0,
                                                         "filtered": 0}
        log = client.get("/api/v1/operation-log", params={"limit": 5}).json()["items"]
        assert (log[0]["action"], log[0]["target"], log[0]["result"]) == (
            "create_account", "1001", "failure")


def test_create_shows_the_password_once(admin: Client, server: Server) -> None:
    res = admin.post("/api/v1/accounts", json={
        "name": "王小明", "account": "1001", "email": "XiaoMing@Example.com"})
    assert res.status_code == 201, res.text
    item = res.json()
    password = item.pop("password")
    assert re.fullmatch(r"[A-Za-z0-9]{6,16}", password)
    assert item["server"]["domain"] == DOMAIN and item["server"]["sip_port"] == 5060
    assert {k: item[k] for k in ("account", "name", "email", "needs_reset")} == {
        "account": "1001", "name": "王小明", "email": "xiaoming@example.com",
        "needs_reset": False}
    assert "mail" not in item
    # Stored: the a1-hash of that password, never the password.
    doc = documents(server)["accounts"]["1001"]
    assert doc["a1_hash"] == a1("1001", password)
    assert password not in (server.data / "documents.json").read_text()
    # Every read shows the account without password or hash.
    listed = admin.get("/api/v1/accounts").json()
    assert listed["total"] == 1 and listed["filtered"] == 1
    shown = admin.get("/api/v1/accounts/1001").json()
    assert listed["items"][0] == shown
    assert set(shown) == {"account", "name", "email", "created", "created_time",
                          "needs_reset"}
    # The creation time is on the appliance's wall clock (its time zone, Beijing time by
    # default, without DST), whatever the host's zone is.
    beijing = dt.timezone(dt.timedelta(hours=8))
    assert shown["created_time"] == dt.datetime.fromtimestamp(
        shown["created"], beijing).replace(tzinfo=None).isoformat(timespec="seconds")
    assert password not in json.dumps(listed) + json.dumps(shown)
    log = admin.get("/api/v1/operation-log", params={"limit": 5}).json()["items"]
    assert (log[0]["action"], log[0]["target"], log[0]["result"]) == (
        "create_account", "1001", "success")
    assert password not in json.dumps(log)


def test_create_checks_every_field(admin: Client) -> None:
    res = admin.post("/api/v1/accounts", json={"name": "", "account": "12345",
                                               "email": "bad", "send_mail": "yes"})
    assert res.status_code == 400
    assert set(res.json()["details"]) == {"send_mail"}
    res = admin.post("/api/v1/accounts", json={"name": "", "account": "12345", "email": "bad"})
    assert res.status_code == 400
    assert res.json()["details"] == {
        "name": "Required.", "account": "An account is exactly 4 digits.",
        "email": "Enter an e-mail address like Jane@example.com."}
    create(admin, "1001")
    res = admin.post("/api/v1/accounts", json={"name": "Again", "account": "1001",
                                               "email": "a@example.com"})
    assert res.status_code == 400
    assert res.json()["details"] == {"account": "This account already exists."}
    assert admin.get("/api/v1/accounts/1001").json()["name"] == "User 1001"


def test_one_name_rule_with_rooms_and_an_optional_email(admin: Client) -> None:
    """R5/R7 are one rule: what a room may be named, an account may be (full-width
    brackets included), and both refuse the same characters with the same message. The
    e-mail is optional in create as in the import (E2, E3): without one the details can be
    shown, not mailed."""
    name = "张三（销售部）"
    res = admin.post("/api/v1/accounts", json={"name": name, "account": "1001"})
    assert res.status_code == 201, res.text
    assert (res.json()["name"], res.json()["email"]) == (name, "")
    res = admin.post("/api/v1/accounts", json={"name": "李四 (Front desk) & 【HQ】",
                                               "account": "1002", "email": "",
                                               "send_mail": True})
    assert res.status_code == 201, res.text
    assert res.json()["email"] == "" and res.json()["mail"]["ok"] is False
    assert admin.get("/api/v1/accounts/1001").json()["email"] == ""
    room = admin.post("/api/v1/rooms", json={"name": name, "kind": "normal"})
    assert room.status_code == 200, room.text
    try:
        for bad in ('Jane "JD"', "back\\slash", "two\nlines"):
            account = admin.post("/api/v1/accounts", json={"name": bad, "account": "1003"})
            refused = admin.post("/api/v1/rooms", json={"name": bad, "kind": "normal"})
            assert account.status_code == refused.status_code == 400, bad
            assert account.json()["details"] == refused.json()["details"] == {
                "name": 'A name cannot contain " or \\ or a line break.'}, bad
    finally:
        admin.post("/api/v1/rooms/delete", json={"ids": [room.json()["id"]]})
    assert {a["account"] for a in admin.get("/api/v1/accounts").json()["items"]} == {
        "1001", "1002"}


def test_list_search_and_paging(admin: Client) -> None:
    for i in range(25):
        create(admin, f"{2000 + i}", name=f"Person {i:02d}", email=f"p{i}@corp{i % 3}.example")
    page = admin.get("/api/v1/accounts").json()
    assert (page["total"], page["filtered"], len(page["items"])) == (25, 25, 20)
    assert [i["account"] for i in page["items"]][:3] == ["2000", "2001", "2002"]
    page = admin.get("/api/v1/accounts", params={"offset": 20, "limit": 10}).json()
    assert [i["account"] for i in page["items"]] == ["2020", "2021", "2022", "2023", "2024"]
    page = admin.get("/api/v1/accounts", params={"search": "CORP1"}).json()
    assert page["filtered"] == 8 and page["total"] == 25
    page = admin.get("/api/v1/accounts", params={"search": "person 1"}).json()
    assert [i["account"] for i in page["items"]] == [f"{2010 + i}" for i in range(10)]
    page = admin.get("/api/v1/accounts", params={"search": "2024"}).json()
    assert [i["name"] for i in page["items"]] == ["Person 24"]
    page = admin.get("/api/v1/accounts",
                     params={"order": "created", "direction": "desc", "limit": 1}).json()
    assert page["items"][0]["account"] == "2024"
    for params in ({"limit": 1001}, {"limit": 0}, {"offset": -1}, {"order": "a1_hash"}):
        res = admin.get("/api/v1/accounts", params=params)
        assert res.status_code == 400, params
        assert set(res.json()["details"]) == set(params)


def test_edit_name_and_email_only(admin: Client) -> None:
    create(admin, "1001")
    res = admin.put("/api/v1/accounts/1001", json={"name": "Alice", "email": "A@Example.com"})
    assert res.status_code == 200, res.text
    assert (res.json()["name"], res.json()["email"]) == ("Alice", "a@example.com")
    assert admin.get("/api/v1/accounts/1001").json()["name"] == "Alice"
    res = admin.put("/api/v1/accounts/1001", json={"account": "1002", "name": "Bob"})
    assert res.status_code == 400
    assert res.json()["details"] == {"account": "The account number cannot be changed."}
    res = admin.put("/api/v1/accounts/1001", json={"name": 'Al "x"', "email": "x@"})
    assert res.status_code == 400 and set(res.json()["details"]) == {"name", "email"}
    assert admin.get("/api/v1/accounts/1001").json()["name"] == "Alice"
    for path in ("/api/v1/accounts/1009", "/api/v1/accounts/abc"):
        assert admin.put(path, json={"name": "X"}).status_code == 404
        res = admin.get(path)
        assert res.status_code == 404 and res.json()["error_id"] == "not_found"


def test_password_reset(admin: Client, server: Server) -> None:
    first = create(admin, "1001")["password"]
    res = admin.post("/api/v1/accounts/1001/password", json={})
    assert res.status_code == 200, res.text
    second = res.json()["password"]
    assert second != first and res.json()["account"] == "1001"
    assert documents(server)["accounts"]["1001"]["a1_hash"] == a1("1001", second)
    assert admin.post("/api/v1/accounts/1009/password", json={}).status_code == 404
    assert admin.post("/api/v1/accounts/1001/password",
                      json={"password": "mine"}).status_code == 400
    log = admin.get("/api/v1/operation-log", params={"limit": 5}).json()["items"]
    # The wrong body (400) is no entry; the account that is not there (404) is a failure.
    assert [(e["action"], e["target"], e["result"]) for e in log[:2]] == [
        ("reset_account_password", "1009", "failure"),
        ("reset_account_password", "1001", "success")]
    assert second not in json.dumps(log)


def test_a_domain_change_asks_for_a_reset(admin: Client) -> None:
    create(admin, "1001")
    res = admin.put("/api/v1/settings/network", json={"domain": "vc.example.com",
                                                      "confirm": True})
    assert res.status_code == 200, res.text
    try:
        assert admin.get("/api/v1/accounts/1001").json()["needs_reset"] is True
        res = admin.post("/api/v1/accounts/1001/password", json={})
        assert res.json()["needs_reset"] is False
        assert res.json()["server"]["domain"] == "vc.example.com"
    finally:
        res = admin.put("/api/v1/settings/network", json={"domain": DOMAIN, "confirm": True})
        assert res.status_code == 200, res.text


def test_delete_one_and_many(admin: Client) -> None:
    for number in ("1001", "1002", "1003", "1004"):
        create(admin, number)
    room = admin.post("/api/v1/rooms", json={"name": "Board", "kind": "video",
                                             "bound_account": "1002"})
    assert room.status_code == 200, room.text
    res = admin.delete("/api/v1/accounts/1001")
    assert res.status_code == 200 and res.json() == {"deleted": ["1001"]}
    # Desired state: deleting what is not there is fine.
    assert admin.delete("/api/v1/accounts/1001").json() == {"deleted": []}
    assert admin.delete("/api/v1/accounts/abc").status_code == 404
    res = admin.post("/api/v1/accounts/delete", json={"accounts": ["1002", "1003", "1009"]})
    assert res.status_code == 200 and res.json() == {"deleted": ["1002", "1003"]}
    assert [a["account"] for a in admin.get("/api/v1/accounts").json()["items"]] == ["1004"]
    assert admin.get("/api/v1/accounts/1002").status_code == 404
    # E7: the rooms bound to a deleted account lose the binding.
    assert admin.get(f"/api/v1/rooms/{room.json()['id']}").json()["bound_account"] == ""
    for bad in ({}, {"accounts": []}, {"accounts": "1004"}, {"accounts": ["1004", "x"]}):
        res = admin.post("/api/v1/accounts/delete", json=bad)
        assert res.status_code == 400, bad
    assert admin.get("/api/v1/accounts/1004").status_code == 200
    log = admin.get("/api/v1/operation-log", params={"limit": 10}).json()["items"]
    assert ("delete_accounts", "1002,1003,1009", "success") in [
        (e["action"], e["target"], e["result"]) for e in log]


def test_account_mail(admin: Client, smtp: SmtpServers) -> None:
    sink = smtp.starttls
    # Without SMTP settings: a clear refusal, nothing created twice.
    res = admin.post("/api/v1/accounts", json={"name": "Alice", "account": "1001",
                                               "email": "alice@example.com",
                                               "send_mail": True})
    assert res.status_code == 201
    assert res.json()["mail"] == {"account": "1001", "email": "", "ok": False,
                                  "error": "Set up the SMTP server first."}
    res = admin.post("/api/v1/accounts/mail", json={"accounts": ["1001"]})
    assert res.status_code == 409 and res.json()["message"] == "Set up the SMTP server first."

    assert admin.put("/api/v1/settings/smtp", json=sink.settings("tls")).status_code == 200
    # E2: create and send at once: the mail has the generated password.
    made = create(admin, "1002", name="Bob", email="Bob@Example.com", send_mail=True)
    assert made["mail"] == {"account": "1002", "email": "bob@example.com", "ok": True,
                            "error": None}
    [mail] = sink.wait(1)
    assert mail.rcpt_tos == ["bob@example.com"] and mail.encrypted
    assert mail.message["Subject"] == "Your video conferencing account 1002"
    text = mail.message.get_content()
    for expected in ("Bob", "1002", made["password"], DOMAIN):
        assert expected in text
    # "Later": the details dialog sends the password it was shown; only the real one goes.
    sink.received.clear()
    res = admin.post("/api/v1/accounts/mail", json={
        "accounts": ["1002"], "passwords": {"1002": "NotThe-Password1"}})
    assert res.json()["results"][0]["error"] == "The password does not match the account."
    res = admin.post("/api/v1/accounts/mail", json={
        "accounts": ["1002"], "passwords": {"1002": made["password"]}})
    assert res.json()["sent"] == 1
    assert made["password"] in sink.wait(1)[0].message.get_content()

    # E5: to many, with a result per recipient.
    sink.received.clear()
    assert admin.put("/api/v1/accounts/1001", json={"email": ""}).status_code == 200
    res = admin.post("/api/v1/accounts/mail", json={"accounts": ["1001", "1002", "1009"]})
    assert res.status_code == 200, res.text
    assert res.json()["sent"] == 1 and res.json()["failed"] == 2
    assert res.json()["results"] == [
        {"account": "1001", "email": "", "ok": False,
         "error": "This account has no e-mail address."},
        {"account": "1002", "email": "bob@example.com", "ok": True, "error": None},
        {"account": "1009", "email": "", "ok": False, "error": "No such account."}]
    [mail] = sink.wait(1)
    assert made["password"] not in mail.message.get_content()

    # E6: save and send; reset and send (the new password goes out).
    sink.received.clear()
    res = admin.put("/api/v1/accounts/1002", json={"name": "Bob Li", "send_mail": True})
    assert res.json()["mail"]["ok"] is True and res.json()["name"] == "Bob Li"
    res = admin.post("/api/v1/accounts/1002/password", json={"send_mail": True})
    assert res.json()["mail"]["ok"] is True
    mails = sink.wait(2)
    assert "Bob Li" in mails[0].message.get_content()
    assert res.json()["password"] in mails[1].message.get_content()

    # The SMTP server's own words come back per recipient.
    admin.put("/api/v1/settings/smtp", json={"password": "wrong-password"})
    res = admin.post("/api/v1/accounts/mail", json={"accounts": ["1002"]})
    assert res.status_code == 200
    assert re.search(r"\b535\b", res.json()["results"][0]["error"]), res.json()
    log = admin.get("/api/v1/operation-log", params={"limit": 20}).json()["items"]
    assert "send_account_mail" in [e["action"] for e in log]


def test_accounts_page(admin: Client, server: Server) -> None:
    res = admin.get("/accounts")
    assert res.status_code == 200
    for marker in ('id="btn-import"', 'id="import-slot"', 'id="accounts-rows"',
                   'id="form-account-create"', "/static/accounts.js",
                   "Delete the account and its data?"):
        assert marker in res.text, marker
    assert admin.get("/static/accounts.js").status_code == 200
    anonymous = server.client()
    assert anonymous.get("/accounts").status_code == 401
