"""Meeting rooms (R-1, R7): validation, kind rules, binding rules, unbinding when accounts
are deleted, search, paging and ordering; and that every change is stored."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.errors import Conflict, NotFound, ValidationError
from controlplane.rooms import Rooms, parse_ids
from controlplane.store import Documents


class Directory:
    """The one thing Rooms asks of Accounts: does this account exist?"""

    def __init__(self, *accounts: str) -> None:
        self.accounts = set(accounts)

    def exists(self, account: str) -> bool:
        return account in self.accounts


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        self.now += 1
        return self.now


@pytest.fixture
def directory() -> Directory:
    return Directory("1001", "1002", "1003")


@pytest.fixture
def docs(tmp_path: Path):
    docs = Documents(tmp_path / "documents.json")
    yield docs
    docs.close()


@pytest.fixture
def rooms(docs: Documents, directory: Directory) -> Rooms:
    return Rooms(docs, directory, clock=Clock())


def details(exc: pytest.ExceptionInfo) -> dict:
    return {k: v[0] if isinstance(v, tuple) else v for k, v in exc.value.details.items()}


# -- create: R7 and the kind rules ------------------------------------------------------

def test_create_normal_and_video_rooms(rooms: Rooms) -> None:
    normal = rooms.create({"name": "  Board room ", "kind": "normal"})
    assert normal["name"] == "Board room"  # trimmed
    assert normal["kind"] == "normal" and normal["bound_account"] == ""
    assert normal["device_model"] == ""
    video = rooms.create({"name": "Studio", "kind": "video", "bound_account": "1001"})
    assert video["bound_account"] == "1001"
    assert len(normal["id"]) == 16 and normal["id"] != video["id"]
    assert video["created"] > normal["created"]
    assert rooms.get(video["id"]) == video


@pytest.mark.parametrize("name, ok", [
    ("x", True), ("会" * 255, True), ("a" * 255, True),
    ("a" * 256, False), ("", False), ("   ", False), (42, False), (None, False),
])
def test_room_name_rule_r7(rooms: Rooms, name, ok: bool) -> None:
    if ok:
        assert rooms.create({"name": name, "kind": "normal"})["name"] == name
    else:
        with pytest.raises(ValidationError) as exc:
            rooms.create({"name": name, "kind": "normal"})
        assert set(exc.value.details) == {"name"}
        assert rooms.find_all()["total"] == 0


@pytest.mark.parametrize("body, field", [
    ({"name": "A"}, "kind"),
    ({"name": "A", "kind": "huddle"}, "kind"),
    ({"name": "A", "kind": "video"}, "bound_account"),                      # needs one
    ({"name": "A", "kind": "video", "bound_account": ""}, "bound_account"),
    ({"name": "A", "kind": "video", "bound_account": "12345"}, "bound_account"),  # R4
    ({"name": "A", "kind": "video", "bound_account": "abcd"}, "bound_account"),
    ({"name": "A", "kind": "video", "bound_account": 1001}, "bound_account"),
    ({"name": "A", "kind": "video", "bound_account": "9999"}, "bound_account"),  # no such
    ({"name": "A", "kind": "normal", "bound_account": "1001"}, "bound_account"),
    ({"name": "A", "kind": "normal", "id": "x"}, "id"),                      # unknown field
])
def test_kind_and_account_rules(rooms: Rooms, body: dict, field: str) -> None:
    with pytest.raises(ValidationError) as exc:
        rooms.create(body)
    assert set(exc.value.details) == {field}
    assert rooms.find_all()["total"] == 0


def test_normal_room_may_send_an_empty_account(rooms: Rooms) -> None:
    room = rooms.create({"name": "A", "kind": "normal", "bound_account": ""})
    assert room["bound_account"] == ""


def test_names_are_unique_per_kind_ignoring_case(rooms: Rooms) -> None:
    rooms.create({"name": "Alpha", "kind": "normal"})
    with pytest.raises(Conflict) as exc:
        rooms.create({"name": "ALPHA ", "kind": "normal"})
    assert set(exc.value.details) == {"name"}
    # The other kind may use the name.
    rooms.create({"name": "alpha", "kind": "video", "bound_account": "1001"})
    with pytest.raises(Conflict):
        rooms.create({"name": "Alpha", "kind": "video", "bound_account": "1002"})
    assert rooms.find_all()["counts"] == {"all": 2, "normal": 1, "video": 1}


def test_an_account_binds_at_most_one_video_room(rooms: Rooms) -> None:
    first = rooms.create({"name": "One", "kind": "video", "bound_account": "1001"})
    with pytest.raises(Conflict) as exc:
        rooms.create({"name": "Two", "kind": "video", "bound_account": "1001"})
    message, params = exc.value.details["bound_account"]
    assert params == {"account": "1001", "room": "One"}
    second = rooms.create({"name": "Two", "kind": "video", "bound_account": "1002"})
    with pytest.raises(Conflict):
        rooms.update(second["id"], {"bound_account": "1001"})
    assert rooms.bound_rooms() == {"1001": first["id"], "1002": second["id"]}


# -- update -----------------------------------------------------------------------------

def test_update_name_and_account(rooms: Rooms) -> None:
    room = rooms.create({"name": "Old", "kind": "video", "bound_account": "1001"})
    changed = rooms.update(room["id"], {"name": "New"})
    assert changed["name"] == "New" and changed["bound_account"] == "1001"
    changed = rooms.update(room["id"], {"bound_account": "1002", "kind": "video"})
    assert changed["bound_account"] == "1002"
    assert changed["id"] == room["id"] and changed["created"] == room["created"]
    # Renaming to its own name in another case is not a clash with itself.
    assert rooms.update(room["id"], {"name": "NEW"})["name"] == "NEW"
    assert rooms.get(room["id"]) == rooms.find_all()["items"][0]


@pytest.mark.parametrize("kind, body, field", [
    ("normal", {"kind": "video"}, "kind"),
    ("video", {"kind": "normal"}, "kind"),
    ("normal", {"bound_account": "1002"}, "bound_account"),
    ("video", {"bound_account": ""}, "bound_account"),
    ("video", {"bound_account": "9999"}, "bound_account"),
    ("video", {"name": "b" * 256}, "name"),
    ("video", {"created": 1}, "created"),
])
def test_update_refuses_and_changes_nothing(rooms: Rooms, docs: Documents, kind: str,
                                            body: dict, field: str) -> None:
    extra = {"bound_account": "1001"} if kind == "video" else {}
    room = rooms.create({"name": "R", "kind": kind, **extra})
    before = docs.storage.path.read_bytes()
    with pytest.raises(ValidationError) as exc:
        rooms.update(room["id"], body)
    assert set(exc.value.details) == {field}
    assert docs.storage.path.read_bytes() == before
    assert rooms.get(room["id"]) == room


def test_update_and_get_of_a_missing_room(rooms: Rooms) -> None:
    with pytest.raises(NotFound):
        rooms.get("nope")
    with pytest.raises(NotFound):
        rooms.update("nope", {"name": "x"})
    assert rooms.find("nope") is None


# -- delete and unbind ------------------------------------------------------------------

def test_delete_many_is_desired_state(rooms: Rooms) -> None:
    ids = [rooms.create({"name": f"R{i}", "kind": "normal"})["id"] for i in range(4)]
    assert sorted(rooms.delete_many([ids[0], ids[2], "missing"])) == sorted([ids[0], ids[2]])
    assert rooms.delete_many([ids[0]]) == []  # again: nothing left to do, no error
    assert rooms.delete_many([]) == []
    assert {r["id"] for r in rooms.find_all()["items"]} == {ids[1], ids[3]}


def test_ids_are_never_reused(rooms: Rooms) -> None:
    seen = set()
    for i in range(20):
        room = rooms.create({"name": f"R{i}", "kind": "normal"})
        assert room["id"] not in seen
        seen.add(room["id"])
        rooms.delete_many([room["id"]])


def test_unbind_accounts_keeps_the_rooms_unbound(rooms: Rooms, directory: Directory) -> None:
    a = rooms.create({"name": "A", "kind": "video", "bound_account": "1001"})
    b = rooms.create({"name": "B", "kind": "video", "bound_account": "1002"})
    c = rooms.create({"name": "C", "kind": "video", "bound_account": "1003"})
    directory.accounts -= {"1001", "1002"}
    assert sorted(rooms.unbind_accounts({"1001", "1002", "1004"})) == sorted([a["id"], b["id"]])
    assert rooms.get(a["id"])["bound_account"] == ""
    assert rooms.get(b["id"])["bound_account"] == ""
    assert rooms.get(c["id"])["bound_account"] == "1003"
    assert rooms.unbind_accounts(set()) == []
    # An unbound room keeps its kind; an edit may rename it without binding it...
    assert rooms.update(a["id"], {"name": "A2"})["bound_account"] == ""
    assert rooms.update(a["id"], {"name": "A2", "bound_account": ""})["bound_account"] == ""
    # ...and binds it again to an existing, free account only.
    with pytest.raises(ValidationError):
        rooms.update(a["id"], {"bound_account": "1001"})
    directory.accounts.add("1004")
    assert rooms.update(a["id"], {"bound_account": "1004"})["bound_account"] == "1004"
    # Search by account no longer finds the unbound ones.
    assert [r["name"] for r in rooms.find_all(search="100")["items"]] == ["C", "A2"]


def test_state_survives_a_reopen(tmp_path: Path, directory: Directory) -> None:
    docs = Documents(tmp_path / "documents.json")
    rooms = Rooms(docs, directory)
    room = rooms.create({"name": "Kept", "kind": "video", "bound_account": "1001"})
    rooms.update(room["id"], {"name": "Kept 2"})
    docs.close()
    docs = Documents(tmp_path / "documents.json")
    assert Rooms(docs, directory).get(room["id"]) == {**room, "name": "Kept 2"}
    # The table is an ordinary tinydb table for anyone reading it.
    assert [d["id"] for d in docs.table("rooms").all()] == [room["id"]]
    docs.close()


# -- list: kind, search, device model, paging, order ------------------------------------

@pytest.fixture
def filled(rooms: Rooms, directory: Directory) -> Rooms:
    directory.accounts |= {f"2{i:03d}" for i in range(30)}
    for i in range(30):
        if i % 3 == 0:
            rooms.create({"name": f"Video {i:02d}", "kind": "video",
                          "bound_account": f"2{i:03d}"})
        else:
            rooms.create({"name": f"Normal {i:02d}", "kind": "normal"})
    models = {"2000": "VC400", "2003": "VC120", "2006": "VC Desktop"}
    rooms.device_model_of = lambda account: models.get(account, "")
    return rooms


def test_list_by_kind_with_counts(filled: Rooms) -> None:
    every = filled.find_all(limit=None)
    assert every["total"] == every["filtered"] == len(every["items"]) == 30
    assert every["counts"] == {"all": 30, "normal": 20, "video": 10}
    video = filled.find_all(kind="video", limit=None)
    assert video["total"] == 10 and {r["kind"] for r in video["items"]} == {"video"}
    normal = filled.find_all(kind="normal", limit=None)
    assert normal["total"] == 20 and {r["bound_account"] for r in normal["items"]} == {""}
    with pytest.raises(ValidationError):
        filled.find_all(kind="other")


def test_search_name_account_and_device_model(filled: Rooms) -> None:
    def names(**kw) -> list[str]:
        return sorted(r["name"] for r in filled.find_all(limit=None, **kw)["items"])

    assert names(search="normal 1") == [f"Normal {i}" for i in (10, 11, 13, 14, 16, 17, 19)]
    assert names(search="VIDEO 2") == ["Video 21", "Video 24", "Video 27"]  # any case
    assert names(search="2003") == ["Video 03"]                  # the bound account
    assert names(search="vc") == ["Video 00", "Video 03", "Video 06"]  # the device model
    assert names(search="desktop") == ["Video 06"]
    assert names(search="desktop", kind="normal") == []
    page = filled.find_all(search="video", kind="all")
    assert (page["total"], page["filtered"]) == (30, 10)
    room = filled.find_all(search="2000")["items"][0]
    assert room["device_model"] == "VC400"
    assert filled.get(room["id"])["device_model"] == "VC400"


def test_paging_and_order(filled: Rooms) -> None:
    newest_first = [r["name"] for r in filled.find_all(limit=None)["items"]]
    assert newest_first[0] == "Normal 29" and newest_first[-1] == "Video 00"
    pages = [filled.find_all(limit=7, offset=o) for o in range(0, 35, 7)]
    assert [len(p["items"]) for p in pages] == [7, 7, 7, 7, 2]
    assert [r["name"] for p in pages for r in p["items"]] == newest_first
    assert all(p["filtered"] == 30 for p in pages)
    assert filled.find_all(limit=5, offset=100)["items"] == []
    by_name = [r["name"] for r in filled.find_all(order="name", direction="asc", limit=3)["items"]]
    assert by_name == ["Normal 01", "Normal 02", "Normal 04"]
    with pytest.raises(ValidationError):
        filled.find_all(order="password")
    with pytest.raises(ValidationError):
        filled.find_all(direction="sideways")


def test_parse_ids() -> None:
    assert parse_ids({"ids": ["a", "b"]}) == ["a", "b"]
    for bad in ({}, {"ids": "a"}, {"ids": [1]}, {"ids": ["a"] * 10001}, []):
        with pytest.raises(ValidationError):
            parse_ids(bad)


# -- the app's wiring: real Accounts, their deletion unbinds rooms -----------------------

def test_services_unbind_rooms_when_accounts_are_deleted(tmp_path: Path) -> None:
    from controlplane.app import Services
    from controlplane.config import Config

    services = Services.open(Config(data_dir=tmp_path, root=tmp_path / "root"))
    try:
        services.licenses.valid = lambda: True  # type: ignore[method-assign]  # stub license
        for number in ("3001", "3002"):
            services.accounts.create({"name": f"U{number}", "account": number,
                                      "email": f"u{number}@example.com"})
        rooms = services.rooms
        a = rooms.create({"name": "A", "kind": "video", "bound_account": "3001"})
        b = rooms.create({"name": "B", "kind": "video", "bound_account": "3002"})
        assert services.accounts.delete_many(["3001"]) == ["3001"]
        assert rooms.get(a["id"])["bound_account"] == ""
        assert rooms.get(b["id"])["bound_account"] == "3002"
        with pytest.raises(ValidationError):
            rooms.update(a["id"], {"bound_account": "3001"})
    finally:
        services.close()
    # Both changes reached the disk.
    services = Services.open(Config(data_dir=tmp_path, root=tmp_path / "root"))
    try:
        assert services.rooms.get(a["id"])["bound_account"] == ""
        assert not services.accounts.exists("3001")
    finally:
        services.close()
