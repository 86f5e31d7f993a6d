"""Meeting rooms (R-1): list by kind with search and paging, create, edit, delete."""

from __future__ import annotations

import datetime as dt
from typing import Any

from bottle import Bottle, request

from controlplane.app import Services
from controlplane.rooms import parse_ids
from controlplane.timezones import local_time
from controlplane.web.context import body, body_ids_target, body_text_target, query_int

MAX_LIMIT = 1000


def _shown(room: dict[str, Any], zone: dt.tzinfo) -> dict[str, Any]:
    """A room with its creation time as ISO text on the appliance's wall clock."""
    return {**room, "created_time": local_time(room["created"], zone)}


def routes(app: Bottle, services: Services) -> None:
    rooms = services.rooms

    def label(room_id: str) -> str:
        room = rooms.find(room_id)
        return room["name"] if room else room_id

    _body_target = body_text_target("name")
    _ids_target = body_ids_target(label)

    @app.get("/api/v1/rooms",
             summary="Meeting rooms (kind: all|normal|video, search, limit, offset, order,"
             " direction) -> {items, total, filtered, counts}")
    def list_rooms():
        q = request.query
        page = rooms.find_all(
            kind=q.get("kind", "") or "all",
            search=q.getunicode("search", "") or "",
            limit=query_int("limit", q.get("limit", ""), 50, 1, MAX_LIMIT),
            offset=query_int("offset", q.get("offset", ""), 0, 0, 10**9),
            order=q.get("order", "") or "created",
            direction=q.get("direction", "") or "desc",
        )
        page["items"] = [_shown(r, services.licenses.zone()) for r in page["items"]]
        return page

    @app.post("/api/v1/rooms", audit="create_room", audit_target=_body_target,
              summary="Create a room: name, kind (normal|video), bound_account (video rooms)")
    def create_room():
        return _shown(rooms.create(body()), services.licenses.zone())

    @app.get("/api/v1/rooms/<room_id>", summary="One meeting room")
    def get_room(room_id: str):
        return _shown(rooms.get(room_id), services.licenses.zone())

    @app.put("/api/v1/rooms/<room_id>", audit="update_room",
             audit_target=lambda kw: label(kw["room_id"]),
             summary="Edit a room's name and, for a video room, its bound account")
    def update_room(room_id: str):
        return _shown(rooms.update(room_id, body()), services.licenses.zone())

    @app.delete("/api/v1/rooms/<room_id>", audit="delete_rooms",
                audit_target=lambda kw: label(kw["room_id"]),
                summary="Delete a room (deleting a missing room is not an error)")
    def delete_room(room_id: str):
        deleted = rooms.delete_many([room_id])
        services.meetings.drop_rooms(set(deleted))
        return {"deleted": deleted}

    @app.post("/api/v1/rooms/delete", audit="delete_rooms", audit_target=_ids_target,
              summary='Delete rooms {"ids": [...]} (missing ids are skipped)')
    def delete_rooms():
        deleted = rooms.delete_many(parse_ids(body()))
        services.meetings.drop_rooms(set(deleted))
        return {"deleted": deleted}
