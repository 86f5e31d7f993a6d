"""The enterprise users' portal through the real server (SPEC §9 Portal, Q5, X1): an account
signs in with its number and password (the lockout of A3, counted per account), sees its
VMR with its dial strings, books, changes and cancels its own meetings; every participant
with an e-mail gets an invitation at the test SMTP server whose .ics (read back with the
`icalendar` library) says METHOD:REQUEST, SEQUENCE + 1 on a change, METHOD:CANCEL on a
cancel; a room is never booked twice (recurring meetings included), the conflict named.
A portal session opens no admin route: every operation of the OpenAPI document that needs
an admin session answers 401 to it."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import icalendar
import pytest
import requests

from tests.conftest import Client, Server
from tests.integration.conftest import Pki, SmtpServers
from tests.license_keys import licensed_server

EN = {"vcbox_lang": "en"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[Server]:
    with licensed_server(tmp_path_factory.mktemp("portal"), ssl_cert_file=str(pki.ca),
                         VCBOX_LOCKOUT_ATTEMPTS="5") as srv:
        yield srv


@pytest.fixture(scope="module")
def admin(server: Server) -> Client:
    client = server.client()
    client.cookies.update(EN)
    assert client.login().status_code == 200
    return client


@pytest.fixture(scope="module")
def people(admin: Client) -> dict[str, dict[str, Any]]:
    """Accounts 3001-3004 (3004 without e-mail) with their passwords, a VMR of 3001, a
    video room bound to 3004 and a normal room."""
    made = {}
    for number, email in (("3001", "alice@example.com"), ("3002", "bob@example.com"),
                          ("3003", "carol@example.com"), ("3004", "")):
        res = admin.post("/api/v1/accounts", json={"account": number, "name": f"User {number}",
                                                   "email": email})
        assert res.status_code == 201, res.text
        made[number] = res.json()
    res = admin.post("/api/v1/meetings", json={"kind": "vmr", "subject": "Alice's room",
                                               "organizer": "3001", "password": "2468"})
    assert res.status_code == 201, res.text
    made["vmr"] = res.json()
    video = admin.post("/api/v1/rooms", json={"name": "Board room", "kind": "video",
                                              "bound_account": "3004"})
    normal = admin.post("/api/v1/rooms", json={"name": "Small room", "kind": "normal"})
    assert video.ok and normal.ok, (video.text, normal.text)
    made["video"], made["normal"] = video.json(), normal.json()
    return made


def portal(server: Server, account: str, password: str) -> Client:
    client = server.client()
    client.cookies.update(EN)
    res = client.post("/api/v1/portal/session", json={"account": account,
                                                      "password": password})
    assert res.status_code == 200, res.text
    client.csrf = res.json()["csrf_token"]
    return client


@pytest.fixture
def alice(server: Server, people: dict[str, dict[str, Any]]) -> Client:
    return portal(server, "3001", people["3001"]["password"])


@pytest.fixture
def mail(smtp: SmtpServers, admin: Client) -> Iterator[Any]:
    sink = smtp.starttls
    assert admin.put("/api/v1/settings/smtp", json=sink.settings("tls")).status_code == 200
    yield sink
    assert admin.put("/api/v1/settings/smtp", json={"server": "", "sender": ""}).status_code \
        == 200


def soon(days: int = 1, hour: int = 10) -> str:
    day = dt.date.today() + dt.timedelta(days=days)
    return f"{day.isoformat()}T{hour:02d}:00"


def invitations(sink: Any, count: int) -> dict[str, icalendar.Calendar]:
    """The last `count` mails by recipient, each as its parsed .ics attachment."""
    received = sink.wait(count, timeout=10)
    assert len(received) >= count, [r.rcpt_tos for r in received]
    out = {}
    for item in received[-count:]:
        parts = [p for p in item.message.iter_attachments()
                 if p.get_content_type() == "text/calendar"]
        assert len(parts) == 1, item.message
        out[item.rcpt_tos[0]] = icalendar.Calendar.from_ical(parts[0].get_content())
    return out


def event_of(cal: icalendar.Calendar) -> icalendar.Event:
    events = list(cal.walk("VEVENT"))
    assert len(events) == 1
    return events[0]


def test_sign_in_with_the_terminal_password_and_the_lockout(
        server: Server, people: dict[str, dict[str, Any]]) -> None:
    client = server.client()
    client.cookies.update(EN)
    res = client.post("/api/v1/portal/session", json={"account": "3004", "password": ""})
    assert res.status_code == 400 and "password" in res.json()["details"]
    for left in (4, 3, 2, 1):
        res = client.post("/api/v1/portal/session", json={"account": "3004",
                                                          "password": "wrong-one"})
        assert res.status_code == 401, res.text
        assert res.json()["left"] == left
    res = client.post("/api/v1/portal/session", json={"account": "3004",
                                                      "password": "wrong-one"})
    assert res.status_code == 423, res.text
    # Locked: even the right password is refused for now; another account is not locked.
    res = client.post("/api/v1/portal/session", json={"account": "3004",
                                                      "password": people["3004"]["password"]})
    assert res.status_code == 423
    assert client.get("/api/v1/portal/me").status_code == 401
    bob = portal(server, "3003", people["3003"]["password"])
    assert bob.get("/api/v1/portal/session").json()["account"] == "3003"
    assert bob.delete("/api/v1/portal/session").status_code == 200
    assert bob.get("/api/v1/portal/me").status_code == 401


def test_the_account_sees_its_vmr_and_dial_strings(
        alice: Client, people: dict[str, dict[str, Any]]) -> None:
    me = alice.get("/api/v1/portal/me").json()
    assert me["account"] == "3001" and me["name"] == "User 3001"
    vmr = people["vmr"]
    [mine] = me["vmrs"]
    assert mine["id"] == vmr["id"] and mine["password"] == "2468"
    assert mine["dial"] == f"{vmr['id']}@{me['domain']}"
    assert mine["dial_with_password"] == f"{vmr['id']}**2468@{me['domain']}"
    assert mine["join_url"] == f"/join/{vmr['id']}"
    assert re.fullmatch(r"\d{5}", me["ivr_number"])


def test_book_change_cancel_with_invitations(
        server: Server, alice: Client, people: dict[str, dict[str, Any]], mail: Any) -> None:
    video = people["video"]["id"]
    rooms = alice.get("/api/v1/portal/rooms",
                      params={"start": soon(2), "duration_min": "60"}).json()["items"]
    assert {r["name"]: r["busy"] for r in rooms} == {"Board room": None, "Small room": None}
    # Participants are found by number or name, never with their e-mail.
    found = alice.get("/api/v1/portal/accounts", params={"search": "300"}).json()["items"]
    assert {"account": "3002", "name": "User 3002"} in found
    assert all(set(item) == {"account", "name"} for item in found)

    res = alice.post("/api/v1/portal/meetings", json={
        "subject": "Quarterly review", "start": soon(2), "duration_min": 60,
        "participants": ["3002", "3004"], "rooms": [video], "password": "1357"})
    assert res.status_code == 201, res.text
    meeting = res.json()
    assert meeting["organizer"] == "3001" and meeting["role"] == "organizer"
    # The organizer and 3002 have e-mails (3004 has none: no mail).
    first = invitations(mail, 2)
    assert set(first) == {"alice@example.com", "bob@example.com"}
    cal = first["bob@example.com"]
    assert cal["method"] == "REQUEST"
    event = event_of(cal)
    uid = str(event["uid"])
    assert int(event["sequence"]) == 0
    assert str(event["summary"]) == "Quarterly review"
    start = event.decoded("dtstart")
    # The appliance's default zone is Beijing's with DST off: a fixed +08:00, written as UTC.
    beijing = dt.timezone(dt.timedelta(hours=8))
    assert start.utcoffset() == dt.timedelta(0)
    assert start.astimezone(beijing).replace(tzinfo=None) == dt.datetime.fromisoformat(soon(2))
    assert event.decoded("dtend") - start == dt.timedelta(minutes=60)
    text = str(event["description"])
    assert f"{meeting['id']}**1357@" in text and f"/join/{meeting['id']}" in text
    assert str(event["location"]) == "Board room"
    attendees = [str(a) for a in (event["attendee"] if isinstance(event["attendee"], list)
                                  else [event["attendee"]])]
    assert attendees == ["mailto:bob@example.com"]
    assert list(cal.walk("VTIMEZONE")) or start.utcoffset() == dt.timedelta(0)

    # Bob may read it, not change or cancel it.
    bob = portal(server, "3002", people["3002"]["password"])
    assert bob.get(f"/api/v1/portal/meetings/{meeting['id']}").json()["role"] == "participant"
    assert bob.put(f"/api/v1/portal/meetings/{meeting['id']}",
                   json={"subject": "x"}).status_code == 403
    assert bob.delete(f"/api/v1/portal/meetings/{meeting['id']}").status_code == 403
    # Nobody books as someone else.
    res = alice.post("/api/v1/portal/meetings", json={
        "subject": "Spoof", "start": soon(3), "duration_min": 30, "organizer": "3002"})
    assert res.status_code == 400 and "organizer" in res.json()["details"]
    # Without the CSRF token nothing changes.
    res = requests.put(f"{server.url}/api/v1/portal/meetings/{meeting['id']}",
                       json={"subject": "x"}, cookies=alice.cookies, timeout=10)
    assert res.status_code == 403

    # A change: the same UID, SEQUENCE 1; 3003 is invited now.
    mail.received.clear()
    res = alice.put(f"/api/v1/portal/meetings/{meeting['id']}", json={
        "start": soon(2, hour=14), "participants": ["3002", "3003"]})
    assert res.status_code == 200, res.text
    changed = invitations(mail, 3)
    assert set(changed) == {"alice@example.com", "bob@example.com", "carol@example.com"}
    for cal in changed.values():
        event = event_of(cal)
        assert cal["method"] == "REQUEST" and str(event["uid"]) == uid
        assert int(event["sequence"]) == 1

    # The room cannot be booked twice; the conflict is named.
    res = alice.post("/api/v1/portal/meetings", json={
        "subject": "Overlap", "start": soon(2, hour=14), "duration_min": 30,
        "rooms": [video]})
    assert res.status_code == 409, res.text
    assert "Quarterly review" in res.json()["details"]["rooms"]
    assert "Board room" in res.json()["details"]["rooms"]
    busy = {r["name"]: r["busy"] for r in alice.get(
        "/api/v1/portal/rooms", params={"start": soon(2, hour=14), "duration_min": "30"}
    ).json()["items"]}
    assert busy["Board room"]["subject"] == "Quarterly review" and busy["Small room"] is None

    # Cancel: METHOD:CANCEL, SEQUENCE 2, to everyone invited.
    mail.received.clear()
    assert alice.delete(f"/api/v1/portal/meetings/{meeting['id']}").status_code == 200
    cancelled = invitations(mail, 3)
    for cal in cancelled.values():
        event = event_of(cal)
        assert cal["method"] == "CANCEL" and str(event["uid"]) == uid
        assert int(event["sequence"]) == 2 and str(event["status"]) == "CANCELLED"
    assert alice.get(f"/api/v1/portal/meetings/{meeting['id']}").status_code == 404


def test_a_recurring_meeting_holds_its_room_every_time(
        alice: Client, people: dict[str, dict[str, Any]], mail: Any) -> None:
    normal = people["normal"]["id"]
    until = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    res = alice.post("/api/v1/portal/meetings", json={
        "subject": "Weekly sync", "start": soon(1, hour=9), "duration_min": 30,
        "rooms": [normal], "recurrence": {"freq": "weekly", "until": until}})
    assert res.status_code == 201, res.text
    weekly = res.json()
    try:
        [cal] = invitations(mail, 1).values()
        rule = event_of(cal)["rrule"]
        assert rule["FREQ"] == ["WEEKLY"] and rule["UNTIL"]
        # Three weeks later, same time: the room is taken.
        res = alice.post("/api/v1/portal/meetings", json={
            "subject": "Clash", "start": soon(22, hour=9), "duration_min": 60,
            "rooms": [normal]})
        assert res.status_code == 409
        assert "Weekly sync" in res.json()["details"]["rooms"]
        # The day after is free.
        res = alice.post("/api/v1/portal/meetings", json={
            "subject": "No clash", "start": soon(23, hour=9), "duration_min": 60,
            "rooms": [normal]})
        assert res.status_code == 201, res.text
        assert alice.delete(f"/api/v1/portal/meetings/{res.json()['id']}").status_code == 200
        res = alice.post("/api/v1/portal/meetings", json={
            "subject": "Bad", "start": soon(5), "duration_min": 30,
            "recurrence": {"freq": "daily", "until": soon(1)[:10]}})
        assert res.status_code == 400 and "recurrence" in res.json()["details"]
    finally:
        alice.delete(f"/api/v1/portal/meetings/{weekly['id']}")


def test_a_portal_session_opens_no_admin_route(server: Server, alice: Client,
                                               admin: Client) -> None:
    doc = admin.get("/api/v1/openapi.json").json()
    checked = 0
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            security = op.get("security", doc["security"])
            if security == [] or any("portal" in s for s in security):
                continue
            url = re.sub(r"\{[^}]+\}", "1", path)
            res = alice.request(method.upper(), url, json={} if method != "get" else None)
            assert res.status_code in (401, 403), (method, path, res.status_code, res.text)
            checked += 1
    assert checked > 50
    # Every state-changing portal route needs the portal session's CSRF token.
    refused = 0
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if {"portal": [], "csrf": []} not in op.get("security", []):
                continue
            url = server.url + re.sub(r"\{[^}]+\}", "1", path)
            for headers in ({}, {"X-CSRF-Token": "wrong"}):
                res = requests.request(method.upper(), url, json={}, headers=headers,
                                       cookies=alice.cookies, timeout=10)
                assert res.status_code == 403, (method, path, res.text)
                assert res.json()["error_id"] == "csrf_failed"
            refused += 1
    assert refused >= 4
    # The admin's own session does not open portal routes either.
    assert admin.get("/api/v1/portal/me").status_code == 401
