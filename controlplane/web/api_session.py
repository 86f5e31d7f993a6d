"""Login, logout, the current session, and forgotten passwords (A2, A3, A4, A7)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from bottle import Bottle, request, response

from controlplane import oplog
from controlplane.app import Services
from controlplane.auth import Session
from controlplane.errors import Locked, Unauthorized, ValidationError, VcboxError
from controlplane.i18n import N_
from controlplane.web import context
from controlplane.web.context import _, body

RESET_SENT = N_("If the e-mail address is correct, you will receive a password reset mail"
                " right away.")


def start_session(services: Services, username: str, remember: bool) -> dict:
    token, session = services.auth.open_session(username, remember)
    request.environ["vcbox.session"] = session
    options = {"max_age": services.config.remember_days * 86400} if remember else {}
    response.set_cookie(context.SESSION_COOKIE, token, path="/", httponly=True,
                        samesite="strict", secure=context.is_https(), **options)
    return session_info(services, session)


def session_info(services: Services, session: Session) -> dict:
    return {
        "username": session.username,
        "csrf_token": session.csrf,
        "remember": session.remember,
        "idle_timeout_s": services.auth.idle_limit(session),
        "language": context.lang(),
    }


def why(exc: VcboxError) -> oplog.Detail:
    """The reason of a refusal, put into words when the log is read (in the reader's
    language, not the one of whoever failed to log in)."""
    return oplog.Detail(((exc.message, exc.params),))


def signed_in(log: oplog.OperationLog, name: Any, check: Callable[[], str],
              failed: str, success: str) -> str:
    """check()'s user; a refusal is logged (failed, or "lockout" when it just locked the
    name) and raised, a success logged as success."""
    name = name if isinstance(name, str) else ""
    ip = context.client_ip()
    try:
        user = check()
    except Locked as exc:
        log.record(name, ip, "lockout" if exc.params.get("just_locked") else failed, name,
                   oplog.FAILURE, why(exc))
        raise
    except (Unauthorized, ValidationError) as exc:
        log.record(name, ip, failed, name, oplog.FAILURE, why(exc))
        raise
    log.record(user, ip, success, user)
    return user


def routes(app: Bottle, services: Services) -> None:
    auth, log = services.auth, services.oplog

    @app.post("/api/v1/session", auth="public", csrf=False,
              summary="Log in; answers the CSRF token and sets the session cookie")
    def login():
        data = body()
        user = signed_in(log, data.get("username"),
                         lambda: auth.authenticate(data.get("username"), data.get("password")),
                         "login_failed", "login")
        return start_session(services, user, bool(data.get("remember")))

    @app.get("/api/v1/session", summary="The current session and its CSRF token")
    def current_session():
        return session_info(services, context.session())

    @app.delete("/api/v1/session", summary="Log out")
    def logout():
        token = app_token()
        session = auth.close_session(token) if token else None
        response.delete_cookie(context.SESSION_COOKIE, path="/")
        if session:
            log.record(session.username, context.client_ip(), "logout", session.username)
        return {"ok": True}

    @app.get("/api/v1/captcha", auth="public", summary="A new image captcha (single use)")
    def captcha():
        cid, png = services.captchas.new()
        response.set_header("Cache-Control", "no-store")
        return {"id": cid, "image": "data:image/png;base64," + base64.b64encode(png).decode()}

    @app.post("/api/v1/password-reset", auth="public", csrf=False,
              summary="Ask for a password reset mail (username, e-mail, captcha)")
    def request_reset():
        data = body()
        details = {}
        for name in ("username", "email", "captcha"):
            if not isinstance(data.get(name), str) or not data.get(name).strip():
                details[name] = N_("Required.")
        if details:
            raise ValidationError(details=details)
        if not services.captchas.check(str(data.get("captcha_id", "")), data["captcha"]):
            raise ValidationError(details={"captcha": N_("The verification code is wrong.")})
        username = data["username"].strip()
        token = auth.reset_token_for(username, data["email"])
        result, detail = oplog.SUCCESS, oplog.Detail(())
        if token:
            minutes = services.config.reset_link_s // 60
            link = f"{services.config.base_url}/reset/{token}"
            try:
                services.mailer.send_reset(auth.admin()["email"], link, minutes, context.lang())
            except Exception as exc:  # the page says the same either way (A4)
                result, detail = oplog.FAILURE, oplog.Detail(
                    (N_("The reset mail could not be sent."),), str(exc))
        else:
            result, detail = oplog.FAILURE, oplog.Detail(
                (N_("The user name and e-mail do not match the administrator's."),))
        log.record(username, context.client_ip(), "password_reset_request", username,
                   result, detail)
        return {"message": _(RESET_SENT)}

    @app.get("/api/v1/password-reset/<token>", auth="public",
             summary="Whether a reset link is still valid")
    def reset_valid(token: str):
        return {"valid": auth.reset_token_valid(token)}

    @app.post("/api/v1/password-reset/<token>", auth="public", csrf=False,
              audit="password_reset", audit_target=lambda kw: "admin",
              summary="Set a new password through a reset link")
    def reset(token: str):
        request.environ["vcbox.actor"] = auth.reset_password(token, body())
        return {"ok": True}


def app_token() -> str | None:
    return context.cookie(context.SESSION_COOKIE)
