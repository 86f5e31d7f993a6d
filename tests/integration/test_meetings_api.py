"""Meetings through the real server (SPEC §9, §10 Q1-Q2): /api/v1/meetings create, list,
search, edit, delete; IDs, passwords and times checked field by field in the admin's
language; a room never booked twice for the same time; the live dialplan over
/freeswitch/xml answering a meeting ID (with and without a valid license). The same
meetings dialled by SIPp terminals on the real FreeSWITCH: test_meetings_real.py."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
import requests

from controlplane import secrets
from controlplane.store import Documents
from tests.conftest import Client, Server, configured_server
from tests.license_keys import activate, make_keys

EN = {"vcbox_lang": "en"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("meetings-api")
    keys = make_keys(folder)
    with configured_server(folder, **keys.env) as srv:
        client = srv.client()
        assert client.login().status_code == 200
        srv.keys = keys  # type: ignore[attr-defined]
        yield srv


@pytest.fixture
def admin(server: Server) -> Iterator[Client]:
    client = server.client()
    client.cookies.update(EN)
    assert client.login().status_code == 200
    yield client
    ids = [m["id"] for m in client.get("/api/v1/meetings", params={"limit": 1000}
                                       ).json()["items"]]
    assert client.post("/api/v1/meetings/delete", json={"ids": ids}).status_code == 200


@pytest.fixture(scope="module")
def licensed(server: Server) -> Client:
    client = server.client()
    assert client.login().status_code == 200
    activate(client, server.keys)  # type: ignore[attr-defined]
    for number in ("1001", "1002", "1003"):
        res = client.post("/api/v1/accounts", json={
            "name": f"User {number}", "account": number, "email": f"u{number}@example.com"})
        assert res.status_code == 201, res.text
    return client


def dialplan(server: Server, destination: str) -> str:
    """What FreeSWITCH gets when it asks the gateway how to route destination."""
    docs = Documents(server.data / "documents.json")
    password = secrets.ensure(docs)["xml_curl_password"]
    docs.close()
    form = [("section", "dialplan"), ("Hunt-Context", "default"),
            ("Hunt-Destination-Number", destination), ("variable_user_name", "1001")]
    res = requests.post(server.url + "/freeswitch/xml", data=urlencode(form),
                        auth=("freeswitch", password), timeout=10,
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert res.status_code == 200
    return res.text


def test_without_a_license_a_meeting_id_says_so(server: Server, admin: Client) -> None:
    # No license yet: accounts cannot be created (L4), so no meeting has an organizer
    # that exists; the dialplan of the Meet Now number tells the caller anyway.
    text = dialplan(server, "90001")
    assert "ivr/not-licensed.wav" in text and "conference" not in text


def test_a_vmr_gets_a_six_digit_id_and_is_listed(server: Server, licensed: Client,
                                                 admin: Client) -> None:
    res = admin.post("/api/v1/meetings", json={
        "kind": "vmr", "subject": "  All hands  ", "organizer": "1001", "password": "1234"})
    assert res.status_code == 201, res.text
    vmr = res.json()
    assert len(vmr["id"]) == 6 and vmr["id"].isdigit() and vmr["id"][0] != "9"
    assert vmr["subject"] == "All hands" and vmr["layout"] == "equal"
    page = admin.get("/api/v1/meetings").json()
    assert page["total"] == page["filtered"] == 1 and page["items"] == [vmr]
    assert admin.get("/api/v1/meetings", params={"search": "hands"}).json()["filtered"] == 1
    assert admin.get("/api/v1/meetings", params={"search": "zzz"}).json()["filtered"] == 0
    assert admin.get(f"/api/v1/meetings/{vmr['id']}").json() == vmr
    # The live dialplan joins it at once (no reload), with the pin prompt.
    assert f"{vmr['id']}@default+1234" in dialplan(server, vmr["id"])
    res = admin.put(f"/api/v1/meetings/{vmr['id']}", json={"layout": "1+n", "password": ""})
    assert res.status_code == 200, res.text
    assert f"{vmr['id']}@one_plus_n\"" in dialplan(server, vmr["id"])
    assert admin.delete(f"/api/v1/meetings/{vmr['id']}").json() == {"deleted": [vmr["id"]]}
    assert admin.get(f"/api/v1/meetings/{vmr['id']}").status_code == 404
    assert "404 Not Found" in dialplan(server, vmr["id"])


def test_bad_fields_are_named_and_nothing_is_stored(licensed: Client, admin: Client) -> None:
    res = admin.post("/api/v1/meetings", json={
        "kind": "scheduled", "subject": "", "organizer": "9999", "id": "1234",
        "password": "12ab", "start": "tomorrow", "duration_min": 2,
        "participants": ["1002", "x"], "rooms": "r1"})
    assert res.status_code == 400
    details = res.json()["details"]
    assert set(details) == {"subject", "id", "password", "start", "duration_min",
                            "participants", "rooms"}
    assert "6 to 10 digits" in details["id"]
    assert admin.get("/api/v1/meetings").json()["total"] == 0
    res = admin.post("/api/v1/meetings", json={"kind": "vmr", "subject": "x",
                                               "organizer": "1009"})
    assert res.status_code == 400 and "1009" in res.json()["details"]["organizer"]
    res = admin.post("/api/v1/meetings", json={"kind": "instant", "subject": "x",
                                               "organizer": "1001"})
    assert res.status_code == 400 and "kind" in res.json()["details"]
    zh = admin.post("/api/v1/meetings", json={"kind": "vmr", "subject": "x",
                                              "organizer": "1001", "id": "12"},
                    cookies={"vcbox_lang": "zh-CN"})
    assert zh.status_code == 400 and "会议" in zh.json()["details"]["id"]


def test_ids_are_unique_and_a_room_is_booked_once_at_a_time(licensed: Client,
                                                            admin: Client) -> None:
    room = admin.post("/api/v1/rooms", json={"name": "Room A", "kind": "normal"}).json()
    first = admin.post("/api/v1/meetings", json={
        "kind": "scheduled", "subject": "Plan", "organizer": "1001", "id": "5550001",
        "start": "2027-01-04T09:00", "duration_min": 60, "participants": ["1002"],
        "rooms": [room["id"]]})
    assert first.status_code == 201, first.text
    assert first.json()["start"] == "2027-01-04T09:00"
    same_id = admin.post("/api/v1/meetings", json={
        "kind": "vmr", "subject": "Other", "organizer": "1002", "id": "5550001"})
    assert same_id.status_code == 409 and "5550001" in same_id.json()["details"]["id"]
    overlap = admin.post("/api/v1/meetings", json={
        "kind": "scheduled", "subject": "Clash", "organizer": "1002",
        "start": "2027-01-04T09:30", "duration_min": 60, "rooms": [room["id"]]})
    assert overlap.status_code == 409
    assert "Room A" in overlap.json()["details"]["rooms"]
    after = admin.post("/api/v1/meetings", json={
        "kind": "scheduled", "subject": "After", "organizer": "1002",
        "start": "2027-01-04T10:00", "duration_min": 30, "rooms": [room["id"]]})
    assert after.status_code == 201, after.text
    # Deleting the room takes it out of the meetings it was booked for.
    assert admin.delete(f"/api/v1/rooms/{room['id']}").status_code == 200
    assert admin.get("/api/v1/meetings/5550001").json()["rooms"] == []
    assert admin.get("/api/v1/meetings", params={"kind": "scheduled"}).json()["total"] == 2
