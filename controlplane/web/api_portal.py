"""The enterprise users' portal API (SPEC §9, Q5): sign in with the account and its
password, the account's VMRs and access numbers, and its own meetings (book, change,
cancel). Every route but the sign-in needs a portal session (auth="portal"), every
state-changing one its CSRF token; none of them ever acts as another account."""

from __future__ import annotations

from bottle import Bottle, request, response

from controlplane.app import Services
from controlplane.web import context
from controlplane.web.api_session import signed_in
from controlplane.web.context import body, body_text_target


def routes(app: Bottle, services: Services) -> None:
    portal, log = services.portal, services.oplog
    _subject = body_text_target("subject")

    def label(meeting_id: str) -> str:
        meeting = services.meetings.find(meeting_id)
        return f"{meeting_id} {meeting['subject']}" if meeting else meeting_id

    @app.post("/api/v1/portal/session", auth="public", csrf=False,
              summary="User portal sign-in {account, password} -> {account, name,"
              " csrf_token}; sets the portal cookie (423 when locked)")
    def portal_login():
        data = body()
        found = signed_in(log, data.get("account"),
                          lambda: portal.authenticate(data.get("account"), data.get("password")),
                          "portal_login_failed", "portal_login")
        token, session = portal.open_session(found)
        request.environ["vcbox.portal_session"] = session
        response.set_cookie(context.PORTAL_COOKIE, token, path="/", httponly=True,
                            samesite="strict", secure=context.is_https())
        return session_info(session.username, session.csrf)

    def session_info(account: str, csrf: str) -> dict:
        found = services.accounts.find(account)
        return {"account": account, "name": found.name if found else "",
                "csrf_token": csrf, "idle_timeout_s": services.config.session_idle_s,
                "language": context.lang()}

    @app.get("/api/v1/portal/session", auth="portal",
             summary="The portal session: {account, name, csrf_token}")
    def portal_current():
        session = request.environ["vcbox.portal_session"]
        return session_info(session.username, session.csrf)

    @app.delete("/api/v1/portal/session", auth="portal", summary="User portal sign-out")
    def portal_logout():
        account = context.portal_account()
        token = context.cookie(context.PORTAL_COOKIE)
        if token:
            portal.close_session(token)
        response.delete_cookie(context.PORTAL_COOKIE, path="/")
        log.record(account, context.client_ip(), "portal_logout", account)
        return {"ok": True}

    @app.get("/api/v1/portal/me", auth="portal",
             summary="The signed-in account, its VMRs with their dial strings, the access"
             " numbers")
    def portal_me():
        return portal.profile(context.portal_account())

    @app.get("/api/v1/portal/meetings", auth="portal",
             summary="The account's scheduled meetings (organized or invited to; search)"
             " -> {items, total, filtered}")
    def portal_meetings():
        return portal.find_all(context.portal_account(),
                               search=request.query.getunicode("search", "") or "")

    @app.post("/api/v1/portal/meetings", audit="create_meeting", audit_target=_subject,
              auth="portal",
              summary="Book a meeting as the signed-in account: subject, start, duration_min,"
              " participants, rooms, password, recurrence {freq: daily|weekly, until},"
              " allow_guests; invitations go to everyone with an e-mail")
    def portal_book():
        response.status = 201
        return portal.book(context.portal_account(), body())

    @app.get("/api/v1/portal/meetings/<meeting_id>", auth="portal",
             summary="One of the account's meetings")
    def portal_meeting(meeting_id: str):
        return portal.get(context.portal_account(), meeting_id)

    @app.put("/api/v1/portal/meetings/<meeting_id>", audit="update_meeting",
             audit_target=lambda kw: label(kw["meeting_id"]), auth="portal",
             summary="Change a meeting the account organizes (any booking field); the"
             " participants get the change (SEQUENCE + 1)")
    def portal_change(meeting_id: str):
        return portal.change(context.portal_account(), meeting_id, body())

    @app.delete("/api/v1/portal/meetings/<meeting_id>", audit="delete_meetings",
                audit_target=lambda kw: label(kw["meeting_id"]), auth="portal",
                summary="Cancel a meeting the account organizes; the participants get a"
                " cancel (METHOD:CANCEL)")
    def portal_cancel(meeting_id: str):
        return {"deleted": [portal.cancel(context.portal_account(), meeting_id)["id"]]}

    @app.get("/api/v1/portal/accounts", auth="portal",
             summary="Accounts to invite (search; number and name only) -> {items, total,"
             " filtered}")
    def portal_people():
        return portal.people(request.query.getunicode("search", "") or "")

    @app.get("/api/v1/portal/rooms", auth="portal",
             summary="The meeting rooms; with start and duration_min each says which"
             " meeting holds it then (busy) -> {items, total, filtered}")
    def portal_rooms():
        q = request.query
        return portal.rooms(q.getunicode("start", "") or "", q.get("duration_min", ""),
                            q.get("skip", ""))
