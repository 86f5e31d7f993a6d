"""Cross-cutting concerns as Bottle plugins: JSON errors, session auth, CSRF, operation log.

Route options (keyword arguments of app.route):
  auth:  "session" (default), "public", or "setup" (public until an administrator exists)
  page:  True for HTML pages (401 shows the login page; before setup, redirect to the wizard)
  csrf:  False to exempt a state-changing route (login, password reset); "setup" to exempt
         it only until an administrator exists
  audit: an action id of controlplane.oplog.ACTIONS, recorded with its outcome
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from bottle import HTTPError, HTTPResponse, redirect, request, response

from controlplane import oplog
from controlplane.app import Services
from controlplane.auth import Auth
from controlplane.errors import CsrfFailed, Unauthorized, VcboxError
from controlplane.i18n import N_
from controlplane.web import context
from controlplane.web.context import _

log = logging.getLogger(__name__)

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def error_body(exc: VcboxError) -> dict[str, Any]:
    body: dict[str, Any] = {
        "error_id": exc.error_id,
        "message": _(exc.message, **exc.params),
        "details": {name: _(msg) for name, msg in exc.details.items()},
    }
    for key in ("retry_after", "left"):
        if key in exc.params:
            body[key] = exc.params[key]
    return body


def error_response(exc: VcboxError) -> HTTPResponse:
    headers = {"Content-Type": "application/json"}
    if "retry_after" in exc.params:
        headers["Retry-After"] = str(exc.params["retry_after"])
    import json

    return HTTPResponse(json.dumps(error_body(exc), ensure_ascii=False), exc.status, headers)


class JsonErrors:
    name = "vcbox_json_errors"
    api = 2

    def apply(self, callback, route):
        @functools.wraps(callback)
        def wrapper(*args, **kwargs):
            try:
                return callback(*args, **kwargs)
            except VcboxError as exc:
                return error_response(exc)
            except (HTTPResponse, HTTPError):
                raise
            except Exception:
                log.exception("unhandled error in %s %s", request.method, request.path)
                exc = VcboxError(N_("An internal error occurred."))
                exc.status, exc.error_id = 500, "internal_error"
                return error_response(exc)

        return wrapper


class SessionAuth:
    name = "vcbox_auth"
    api = 2

    def __init__(self, services: Services) -> None:
        self.services = services

    def apply(self, callback, route):
        mode = route.config.get("auth", "session")
        page = route.config.get("page", False)
        auth = self.services.auth

        @functools.wraps(callback)
        def wrapper(*args, **kwargs):
            if page and not auth.configured() and request.path != "/setup":
                redirect("/setup")
            token = context.cookie(context.SESSION_COOKIE)
            # Background polls (dashboards) do not count as activity for the idle limit.
            touch = request.environ.get("HTTP_X_VCBOX_BACKGROUND") != "1"
            session = auth.find_session(token, touch=touch) if token else None
            request.environ["vcbox.session"] = session
            if session is None and (mode == "session"
                                    or (mode == "setup" and auth.configured())):
                if token:
                    response.delete_cookie(context.SESSION_COOKIE, path="/")
                if page:
                    from controlplane.web.pages import render_login

                    return HTTPResponse(render_login(), 401)
                raise Unauthorized()
            return callback(*args, **kwargs)

        return wrapper


class Csrf:
    name = "vcbox_csrf"
    api = 2

    def __init__(self, services: Services) -> None:
        self.services = services

    def apply(self, callback, route):
        mode = route.config.get("csrf", True)
        if route.method not in UNSAFE or mode is False:
            return callback
        auth = self.services.auth

        @functools.wraps(callback)
        def wrapper(*args, **kwargs):
            if mode == "setup" and not auth.configured():
                return callback(*args, **kwargs)
            session = context.session()
            if session is None or not Auth.csrf_ok(session, request.headers.get("X-CSRF-Token")):
                raise CsrfFailed()
            return callback(*args, **kwargs)

        return wrapper


class Audit:
    name = "vcbox_audit"
    api = 2

    def __init__(self, services: Services) -> None:
        self.services = services

    def apply(self, callback, route):
        action = route.config.get("audit")
        if not action:
            return callback
        target_of = route.config.get("audit_target")

        @functools.wraps(callback)
        def wrapper(*args, **kwargs):
            target = target_of(kwargs) if callable(target_of) else ",".join(
                str(v) for v in kwargs.values())
            try:
                result = callback(*args, **kwargs)
            except VcboxError as exc:
                self.services.oplog.record(context.username(), context.client_ip(), action,
                                           target, oplog.FAILURE, _(exc.message, **exc.params))
                raise
            status = response.status_code
            if isinstance(result, HTTPResponse):
                status = result.status_code
            outcome = oplog.SUCCESS if status < 400 else oplog.FAILURE
            self.services.oplog.record(context.username(), context.client_ip(), action,
                                       target, outcome)
            return result

        return wrapper


def _error_handler(res: HTTPError) -> str:
    import json

    if request.path.startswith("/api/"):
        res.content_type = "application/json"
        ids = {404: "not_found", 405: "method_not_allowed", 500: "internal_error"}
        return json.dumps({"error_id": ids.get(res.status_code, "error"),
                           "message": res.status_line, "details": {}})
    return f"<!doctype html><title>{res.status_line}</title><h1>{res.status_line}</h1>"


def install(app, services: Services) -> None:
    def log_expiry(session) -> None:
        services.oplog.record(session.username, context.client_ip(), "session_expired",
                              session.username)

    services.auth.on_expire = log_expiry

    def security_headers() -> None:
        headers = response.headers
        headers["X-Content-Type-Options"] = "nosniff"
        headers["X-Frame-Options"] = "DENY"
        # Reset links carry their token in the URL: never leak it in a Referer.
        headers["Referrer-Policy"] = "no-referrer"
        if not request.path.startswith("/static/"):
            headers["Cache-Control"] = "no-store"

    app.add_hook("after_request", security_headers)
    app.install(JsonErrors())
    app.install(SessionAuth(services))
    app.install(Csrf(services))
    app.install(Audit(services))
    for code in (400, 401, 403, 404, 405, 413, 500):
        app.error_handler[code] = _error_handler
