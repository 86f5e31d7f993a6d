"""R-1 through the real server: /api/v1/rooms (create, list by kind, search, paging, edit,
delete one or many as desired state), field errors in the UI language, the operation
log, the /rooms page; and video rooms bound to real accounts, unbound when the accounts
are deleted."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import Client, Server
from tests.license_keys import licensed_server

EN = {"vcbox_lang": "en"}
ACCOUNTS = ("1001", "1002", "1003", "1004")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A licensed server (accounts can be created), shared by this module's tests."""
    with licensed_server(tmp_path_factory.mktemp("rooms")) as srv:
        yield srv


@pytest.fixture
def admin(server: Server) -> Iterator[Client]:
    """A logged-in client (English); the rooms are cleared after each test."""
    client = server.client()
    client.cookies.update(EN)
    assert client.login().status_code == 200
    yield client
    ids = [r["id"] for r in client.get("/api/v1/rooms", params={"limit": 1000}).json()["items"]]
    assert client.post("/api/v1/rooms/delete", json={"ids": ids}).status_code == 200
    accounts = [a["account"] for a in client.get("/api/v1/accounts").json()["items"]]
    if accounts:
        res = client.post("/api/v1/accounts/delete", json={"accounts": accounts})
        assert res.status_code == 200, res.text


@pytest.fixture
def accounts(admin: Client) -> tuple[str, ...]:
    for number in ACCOUNTS:
        res = admin.post("/api/v1/accounts", json={
            "name": f"User {number}", "account": number, "email": f"u{number}@example.com"})
        assert res.status_code == 201, res.text
    return ACCOUNTS


def create(client: Client, **body) -> dict:
    res = client.post("/api/v1/rooms", json=body)
    assert res.status_code == 200, res.text
    return res.json()


def listing(client: Client, **params) -> dict:
    res = client.get("/api/v1/rooms", params=params)
    assert res.status_code == 200, res.text
    return res.json()


def test_create_get_edit_delete_a_normal_room(admin: Client) -> None:
    room = create(admin, name="Board room", kind="normal")
    assert room["kind"] == "normal" and room["bound_account"] == "" and room["device_model"] == ""
    assert len(room["created_time"]) == 19  # local "YYYY-MM-DDTHH:MM:SS"
    assert admin.get(f"/api/v1/rooms/{room['id']}").json() == room
    res = admin.put(f"/api/v1/rooms/{room['id']}", json={"name": "Board room 2"})
    assert res.status_code == 200 and res.json()["name"] == "Board room 2"
    assert admin.get(f"/api/v1/rooms/{room['id']}").json()["name"] == "Board room 2"
    res = admin.delete(f"/api/v1/rooms/{room['id']}")
    assert res.status_code == 200 and res.json() == {"deleted": [room["id"]]}
    # Deleting again is fine (desired state); reading it is a 404.
    assert admin.delete(f"/api/v1/rooms/{room['id']}").json() == {"deleted": []}
    res = admin.get(f"/api/v1/rooms/{room['id']}")
    assert res.status_code == 404 and res.json()["error_id"] == "not_found"
    res = admin.put(f"/api/v1/rooms/{room['id']}", json={"name": "x"})
    assert res.status_code == 404


def test_field_errors_change_nothing(admin: Client, server: Server) -> None:
    before = (server.data / "documents.json").read_bytes()
    cases = [
        ({"name": "a" * 256, "kind": "normal"}, "name", "At most 255 characters."),
        ({"name": "", "kind": "normal"}, "name", "Required."),
        ({"name": "A", "kind": "huddle"}, "kind", None),
        ({"name": "A", "kind": "video"}, "bound_account", None),
        ({"name": "A", "kind": "video", "bound_account": "12"}, "bound_account",
         "An account is exactly 4 digits."),
        ({"name": "A", "kind": "video", "bound_account": "9999"}, "bound_account", None),
        ({"name": "A", "kind": "normal", "bound_account": "9999"}, "bound_account", None),
    ]
    for body, field, message in cases:
        res = admin.post("/api/v1/rooms", json=body)
        assert res.status_code == 400, (body, res.text)
        answer = res.json()
        assert answer["error_id"] == "invalid_input"
        assert set(answer["details"]) == {field}, body
        if message:
            assert answer["details"][field] == message
    for bad in ("[1]", "not json"):
        res = admin.post("/api/v1/rooms", data=bad, headers={"Content-Type": "application/json"})
        assert res.status_code == 400
    assert (server.data / "documents.json").read_bytes() == before
    assert listing(admin)["total"] == 0


def test_duplicate_names_per_kind_are_a_conflict(admin: Client) -> None:
    create(admin, name="Alpha", kind="normal")
    res = admin.post("/api/v1/rooms", json={"name": "alpha", "kind": "normal"})
    assert res.status_code == 409
    assert res.json()["error_id"] == "conflict" and set(res.json()["details"]) == {"name"}
    other = create(admin, name="Beta", kind="normal")
    res = admin.put(f"/api/v1/rooms/{other['id']}", json={"name": "ALPHA"})
    assert res.status_code == 409
    res = admin.put(f"/api/v1/rooms/{other['id']}", json={"kind": "video"})
    assert res.status_code == 400 and set(res.json()["details"]) == {"kind"}


def test_list_tabs_search_and_paging(admin: Client) -> None:
    for i in range(12):
        create(admin, name=f"Room {i:02d}", kind="normal")
    page = listing(admin, limit=5, offset=10)
    assert (page["total"], page["filtered"], len(page["items"])) == (12, 12, 2)
    assert page["counts"] == {"all": 12, "normal": 12, "video": 0}
    # Newest first by default; order and direction as asked.
    assert [r["name"] for r in page["items"]] == ["Room 01", "Room 00"]
    page = listing(admin, order="name", direction="asc", limit=3)
    assert [r["name"] for r in page["items"]] == ["Room 00", "Room 01", "Room 02"]
    page = listing(admin, search="room 1")
    assert (page["total"], page["filtered"]) == (12, 2)
    assert {r["name"] for r in page["items"]} == {"Room 10", "Room 11"}
    page = listing(admin, search="房间")
    assert page["filtered"] == 0
    assert listing(admin, kind="video")["total"] == 0
    assert listing(admin, kind="normal")["total"] == 12
    for params, field in [({"kind": "big"}, "kind"), ({"limit": "0"}, "limit"),
                          ({"limit": "1001"}, "limit"), ({"offset": "-1"}, "offset"),
                          ({"order": "secret"}, "order"), ({"direction": "up"}, "direction")]:
        res = admin.get("/api/v1/rooms", params=params)
        assert res.status_code == 400 and set(res.json()["details"]) == {field}, params


def test_batch_delete(admin: Client) -> None:
    ids = [create(admin, name=f"R{i}", kind="normal")["id"] for i in range(5)]
    res = admin.post("/api/v1/rooms/delete", json={"ids": ids[:3] + ["missing"]})
    assert res.status_code == 200 and sorted(res.json()["deleted"]) == sorted(ids[:3])
    assert {r["id"] for r in listing(admin)["items"]} == set(ids[3:])
    for bad in ({}, {"ids": "x"}, {"ids": [1, 2]}):
        res = admin.post("/api/v1/rooms/delete", json=bad)
        assert res.status_code == 400 and set(res.json()["details"]) == {"ids"}
    assert listing(admin)["total"] == 2


def test_changes_are_in_the_operation_log(admin: Client) -> None:
    room = create(admin, name="Logged room", kind="normal")
    admin.put(f"/api/v1/rooms/{room['id']}", json={"name": "Logged room 2"})
    # Refused input (400) is answered field by field and is no entry of the log.
    assert admin.post("/api/v1/rooms", json={"name": "", "kind": "normal"}).status_code == 400
    admin.post("/api/v1/rooms/delete", json={"ids": [room["id"]]})
    items = admin.get("/api/v1/operation-log", params={"limit": 10}).json()["items"]
    seen = [(i["action"], i["target"], i["result"]) for i in items[:3]]
    assert seen == [
        ("delete_rooms", "Logged room 2", "success"),
        ("update_room", "Logged room", "success"),
        ("create_room", "Logged room", "success"),
    ]
    assert all(i["username"] == "admin" for i in items[:4])


def test_rooms_need_a_session_and_the_csrf_token(admin: Client, server: Server) -> None:
    anonymous = server.client()
    assert anonymous.get("/api/v1/rooms").status_code == 401
    assert anonymous.post("/api/v1/rooms", json={"name": "x", "kind": "normal"}).status_code == 401
    csrf, admin.csrf = admin.csrf, ""
    try:
        res = admin.post("/api/v1/rooms", json={"name": "x", "kind": "normal"})
        assert res.status_code == 403 and res.json()["error_id"] == "csrf_failed"
    finally:
        admin.csrf = csrf
    assert listing(admin)["total"] == 0


def test_rooms_page(admin: Client, server: Server) -> None:
    create(admin, name="Page room", kind="normal")
    res = admin.get("/rooms")
    assert res.status_code == 200
    html = res.text
    for marker in ('id="rooms-tabs"', 'data-kind="video"', 'id="form-room"',
                   'name="bound_account"', "/static/rooms.js", "vcbox.roomsPage(",
                   'href="/rooms"'):
        assert marker in html, marker
    js = admin.get("/static/rooms.js")
    assert js.status_code == 200 and "roomsPage" in js.text
    assert server.client().get("/rooms").status_code == 401  # the login page


# -- video rooms and accounts -------------------------------------------------------------

def test_video_rooms_bind_existing_accounts_once(admin: Client, accounts) -> None:
    studio = create(admin, name="Studio", kind="video", bound_account="1001")
    assert studio["bound_account"] == "1001" and studio["device_model"] == ""
    res = admin.post("/api/v1/rooms", json={"name": "Studio B", "kind": "video",
                                            "bound_account": "1001"})
    assert res.status_code == 409
    assert res.json()["details"] == {
        "bound_account": "Account 1001 is already bound to the room Studio."}
    res = admin.post("/api/v1/rooms", json={"name": "Studio B", "kind": "video",
                                            "bound_account": "1999"})
    assert res.status_code == 400
    assert res.json()["details"] == {"bound_account": "There is no account 1999."}
    other = create(admin, name="Studio B", kind="video", bound_account="1002")
    # A video room may share its name with a normal room.
    create(admin, name="Studio", kind="normal")
    # Rebind to a free account; not to a taken one.
    res = admin.put(f"/api/v1/rooms/{other['id']}", json={"bound_account": "1001"})
    assert res.status_code == 409
    res = admin.put(f"/api/v1/rooms/{other['id']}", json={"bound_account": "1003"})
    assert res.status_code == 200 and res.json()["bound_account"] == "1003"
    page = listing(admin, kind="video")
    assert page["counts"] == {"all": 3, "normal": 1, "video": 2}
    assert {r["bound_account"] for r in page["items"]} == {"1001", "1003"}
    # Search matches the bound account as well as the name.
    assert [r["name"] for r in listing(admin, search="1003")["items"]] == ["Studio B"]
    assert {r["name"] for r in listing(admin, search="studio")["items"]} == {"Studio",
                                                                            "Studio B"}


def test_deleting_accounts_unbinds_their_rooms(admin: Client, accounts) -> None:
    rooms = {n: create(admin, name=f"Room {c}", kind="video", bound_account=n)
             for n, c in (("1001", "A"), ("1002", "B"), ("1003", "C"))}
    assert admin.delete("/api/v1/accounts/1001").status_code == 200
    res = admin.post("/api/v1/accounts/delete", json={"accounts": ["1002"]})
    assert res.status_code == 200
    shown = {r["name"]: r for r in listing(admin, kind="video")["items"]}
    # The rooms stay, unbound, and keep their kind; the untouched binding stays.
    assert {n: r["bound_account"] for n, r in shown.items()} == {
        "Room A": "", "Room B": "", "Room C": "1003"}
    assert all(r["kind"] == "video" for r in shown.values())
    assert listing(admin, search="1001")["filtered"] == 0
    # An unbound room is bound again by an edit, to an account that exists.
    room_id = rooms["1001"]["id"]
    res = admin.put(f"/api/v1/rooms/{room_id}", json={"bound_account": "1001"})
    assert res.status_code == 400
    res = admin.put(f"/api/v1/rooms/{room_id}", json={"bound_account": "1004"})
    assert res.status_code == 200 and res.json()["bound_account"] == "1004"
    # A re-created account is not silently bound again.
    res = admin.post("/api/v1/accounts", json={"name": "Back", "account": "1002",
                                               "email": "back@example.com"})
    assert res.status_code == 201
    assert admin.get(f"/api/v1/rooms/{rooms['1002']['id']}").json()["bound_account"] == ""


def test_the_account_picker_searches_accounts(admin: Client, accounts) -> None:
    # The dialog's account list is /api/v1/accounts?search=...&limit=50.
    res = admin.get("/api/v1/accounts", params={"search": "user 100", "limit": 50})
    assert res.status_code == 200
    assert [a["account"] for a in res.json()["items"]] == list(ACCOUNTS)
    assert {"account", "name"} <= set(res.json()["items"][0])
