"""Live meetings (SPEC S3): what runs now, from FreeSWITCH (controlplane.live_meetings), and
its moderation; every moderation is in the operation log."""

from __future__ import annotations

from typing import Any

from bottle import Bottle, request

from controlplane.app import Services
from controlplane.drivers.esl import EslError
from controlplane.errors import Unavailable
from controlplane.i18n import N_
from controlplane.live_meetings import MEETING_ACTIONS, MEMBER_ACTIONS
from controlplane.timezones import local_time
from controlplane.web.context import _, body

UNREACHABLE = N_("The SIP service cannot be reached: live meetings are not available now.")


def routes(app: Bottle, services: Services) -> None:
    live = services.live_meetings

    def label(kw: dict[str, Any]) -> str:
        meeting = services.meetings.find(kw["meeting_id"])
        return f"{kw['meeting_id']} {meeting['subject']}" if meeting else kw["meeting_id"]

    def asking(call):
        """FreeSWITCH's link down: 503 in words (never a made-up empty list)."""
        try:
            return call()
        except EslError as exc:
            raise Unavailable(reason=_(UNREACHABLE)) from exc

    @app.get("/api/v1/meetings/live",
             summary="Meetings running now (search: subject, organizer, type or ID; kind:"
             " all|vmr|scheduled|instant|p2p) -> {items, total, filtered}; items with id,"
             " kind, subject, organizer, start, duration_s, locked, members")
    def live_meetings():
        q = request.query
        page = asking(lambda: live.find_all(q.getunicode("search", "") or "",
                                            q.get("kind", "") or "all"))
        zone = services.licenses.zone()
        page["items"] = [{**m, "start_time": local_time(m["start"], zone)}
                         for m in page["items"]]
        return page

    def member_route(action: str) -> None:
        def moderate_member(meeting_id: str, member: str):
            asking(lambda: live.member(meeting_id, member, action))
            return {"ok": True}

        moderate_member.__name__ = f"{action}_member"
        app.route(f"/api/v1/meetings/live/<meeting_id>/members/<member>/{action}", "POST",
                  moderate_member, audit=f"{action}_member",
                  audit_target=lambda kw: f"{label(kw)} · {kw['member']}",
                  summary=f"{action.capitalize()} a member of a running meeting (member: its"
                  " id" + (", or all" if action != "kick" else "") + ")")

    def meeting_route(action: str) -> None:
        def moderate_meeting(meeting_id: str):
            asking(lambda: live.meeting(meeting_id, action))
            return {"ok": True}

        moderate_meeting.__name__ = f"{action}_meeting"
        app.route(f"/api/v1/meetings/live/<meeting_id>/{action}", "POST", moderate_meeting,
                  audit=f"{action}_meeting", audit_target=label,
                  summary=f"{action.capitalize()} a running meeting")

    for action in MEMBER_ACTIONS:
        member_route(action)
    for action in MEETING_ACTIONS:
        meeting_route(action)

    @app.post("/api/v1/meetings/live/<meeting_id>/invite", audit="invite_to_meeting",
              audit_target=label,
              summary="Call an account's registered devices into a running meeting"
              " {account}")
    def invite(meeting_id: str):
        data = body()
        asking(lambda: live.invite(meeting_id, data.get("account"),
                                   services.accounts.exists))
        return {"ok": True}
