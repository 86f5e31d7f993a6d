"""Meetings (SPEC §9, §10): VMRs, scheduled and instant meetings; list, create, edit, delete."""

from __future__ import annotations

from bottle import Bottle, request, response

from controlplane.app import Services
from controlplane.meetings import parse_ids
from controlplane.web.context import body, body_ids_target, body_text_target, query_int

MAX_LIMIT = 1000


def routes(app: Bottle, services: Services) -> None:
    meetings = services.meetings

    def label(meeting_id: str) -> str:
        meeting = meetings.find(meeting_id)
        return f"{meeting_id} {meeting['subject']}" if meeting else meeting_id

    _body_target = body_text_target("subject")
    _ids_target = body_ids_target(label)

    @app.get("/api/v1/meetings",
             summary="Meetings (kind: all|vmr|scheduled|instant, search, limit, offset, order,"
             " direction)"
             " -> {items, total, filtered, counts}")
    def list_meetings():
        q = request.query
        return meetings.find_all(
            kind=q.get("kind", "") or "all",
            search=q.getunicode("search", "") or "",
            limit=query_int("limit", q.get("limit", ""), 50, 1, MAX_LIMIT),
            offset=query_int("offset", q.get("offset", ""), 0, 0, 10**9),
            order=q.get("order", "") or "start",
            direction=q.get("direction", "") or "desc",
        )

    @app.post("/api/v1/meetings", audit="create_meeting", audit_target=_body_target,
              summary="Create a VMR or a scheduled meeting: kind, subject, organizer,"
              " id (optional), password, layout; start, duration_min, participants, rooms")
    def create_meeting():
        meeting = meetings.create(body())
        response.status = 201
        return meeting

    @app.get("/api/v1/meetings/<meeting_id>", summary="One meeting")
    def get_meeting(meeting_id: str):
        return meetings.get(meeting_id)

    @app.put("/api/v1/meetings/<meeting_id>", audit="update_meeting",
             audit_target=lambda kw: label(kw["meeting_id"]),
             summary="Edit a meeting (any field but kind)")
    def update_meeting(meeting_id: str):
        return meetings.update(meeting_id, body())

    @app.delete("/api/v1/meetings/<meeting_id>", audit="delete_meetings",
                audit_target=lambda kw: label(kw["meeting_id"]),
                summary="Delete a meeting (deleting a missing one is not an error)")
    def delete_meeting(meeting_id: str):
        return {"deleted": meetings.delete_many([meeting_id])}

    @app.post("/api/v1/meetings/delete", audit="delete_meetings", audit_target=_ids_target,
              summary='Delete meetings {"ids": [...]} (missing ids are skipped)')
    def delete_meetings():
        return {"deleted": meetings.delete_many(parse_ids(body()))}
