"""The browser join's API through the real server (SPEC §9 `/join/<id>`, issue 14 item 4):
who is admitted and what a join answers. The media side (Janus, FreeSWITCH, coturn,
Chromium): tests/e2e/test_join_browser.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Client, Server
from tests.license_keys import licensed_server

EN = {"vcbox_lang": "en"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with licensed_server(tmp_path_factory.mktemp("join"), VCBOX_LOCKOUT_ATTEMPTS="3") as srv:
        yield srv


@pytest.fixture(scope="module")
def admin(server: Server) -> Client:
    client = server.client()
    client.cookies.update(EN)
    assert client.login().status_code == 200
    return client


@pytest.fixture(scope="module")
def people(admin: Client) -> dict[str, Any]:
    made: dict[str, Any] = {}
    for number in ("3001", "3002"):
        res = admin.post("/api/v1/accounts", json={"account": number, "name": f"User {number}"})
        assert res.status_code == 201, res.text
        made[number] = res.json()
    for key, guests in (("open", True), ("closed", False)):
        res = admin.post("/api/v1/meetings", json={
            "kind": "vmr", "subject": f"Room {key}", "organizer": "3001", "password": "2468",
            "allow_guests": guests})
        assert res.status_code == 201, res.text
        made[key] = res.json()
    return made


def guest(server: Server) -> Client:
    client = server.client()
    client.cookies.update(EN)
    return client


def join(client: Client, meeting: dict[str, Any], **body: Any):
    return client.post(f"/api/v1/join/{meeting['id']}", json=body,
                       headers={"Origin": client.base})


def test_a_guest_with_the_password_gets_a_one_time_token_and_no_secret(
        server: Server, people: dict[str, Any]) -> None:
    res = join(guest(server), people["open"], name="Alice 访客", password="2468")
    assert res.status_code == 200, res.text
    answer = res.json()
    assert answer["meeting"] == {"id": people["open"]["id"], "subject": "Room open"}
    sip = answer["sip"]
    assert sip["uri"].startswith(f"sip:{people['open']['id']}@")
    assert sip["display_name"] == "Alice 访客"
    assert sip["headers"] == {"X-Vcbox-Join": answer["token"]}
    # Janus's signed token: "<expiry>,janus,<plugins>:<signature>", the SIP plugin only
    assert answer["janus_token"].rpartition(":")[0].split(",")[1:] == ["janus",
                                                                       "janus.plugin.sip"]
    [turn] = answer["ice_servers"]
    assert turn["username"].endswith(":join-web") and turn["credential"]
    assert all(url.startswith("turn:") for url in turn["urls"])
    # nothing of the store's secrets or the meeting password is in the answer
    assert "2468" not in res.text and "secret" not in res.text.lower()


def test_refusals_say_why_per_field(server: Server, people: dict[str, Any]) -> None:
    client = guest(server)
    wrong = join(client, people["open"], name="Mallory", password="0000")
    assert wrong.status_code == 400
    assert "Wrong meeting password" in wrong.json()["details"]["password"]
    nameless = join(client, people["open"], name="", password="2468")
    assert nameless.status_code == 400 and "name" in nameless.json()["details"]
    closed = join(client, people["closed"], name="Mallory", password="2468")
    assert closed.status_code == 401 and closed.json()["error_id"] == "sign_in_required"
    missing = client.post("/api/v1/join/99999999", json={"name": "x"},
                          headers={"Origin": client.base})
    assert missing.status_code == 404


def test_wrong_passwords_lock_the_client_out(server: Server, people: dict[str, Any],
                                             admin: Client) -> None:
    res = admin.post("/api/v1/meetings", json={
        "kind": "vmr", "subject": "Locked room", "organizer": "3002", "password": "1357",
        "allow_guests": True})
    assert res.status_code == 201, res.text
    meeting, client = res.json(), guest(server)
    codes = [join(client, meeting, name="M", password="0000").status_code for _ in range(3)]
    assert codes == [400, 400, 423]
    assert join(client, meeting, name="M", password="1357").status_code == 423


def test_another_sites_page_cannot_join_in_a_signed_in_users_name(
        admin: Client, people: dict[str, Any]) -> None:
    for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        res = admin.post(f"/api/v1/join/{people['closed']['id']}", json={"name": "admin"},
                         headers=headers)
        assert res.status_code == 403, (headers, res.text)
    assert join(admin, people["closed"], name="admin").status_code == 200


def test_an_invited_portal_user_joins_without_the_password(
        server: Server, people: dict[str, Any]) -> None:
    client = guest(server)
    res = client.post("/api/v1/portal/session", json={
        "account": "3001", "password": people["3001"]["password"]})
    assert res.status_code == 200, res.text
    page = client.get(f"/join/{people['closed']['id']}")
    assert page.status_code == 200 and 'id="join-password"' not in page.text
    answer = join(client, people["closed"], name="User 3001")
    assert answer.status_code == 200, answer.text
    assert answer.json()["sip"]["display_name"] == "User 3001"


def test_each_join_is_in_the_operation_log(admin: Client, people: dict[str, Any]) -> None:
    res = admin.get("/api/v1/operation-log", params={"limit": 100})
    assert res.status_code == 200, res.text
    joins = [(i["username"], i["target"], i["result"]) for i in res.json()["items"]
             if i["action"] == "join_meeting"]
    # a guest is logged by the name they gave; refusals too
    assert ("Alice 访客", f"{people['open']['id']} Room open", "success") in joins, joins
    assert any(user == "admin" and result == "failure" for user, _, result in joins), joins
