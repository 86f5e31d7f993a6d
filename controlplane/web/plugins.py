"""Cross-cutting concerns as Bottle plugins: JSON errors, session auth, CSRF, operation log.

Route options (keyword arguments of app.route):
  auth:  "session" (default), "public", "setup" (public until an administrator exists) or
         "portal" (an enterprise user's portal session: its own cookie, never an admin's)
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
from controlplane.errors import (
    ConfirmRequired,
    CsrfFailed,
    StorageFull,
    Unauthorized,
    ValidationError,
    VcboxError,
)
from controlplane.i18n import N_
from controlplane.store import storage_full
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
    for key in ("retry_after", "left", "version", "build_time"):
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
            except Exception as error:
                if storage_full(error):  # nothing was written: a clear refusal, not a 500
                    log.warning("%s %s refused: the disk is full (%s)", request.method,
                                request.path, error)
                    return error_response(StorageFull())
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

        portal = self.services.portal

        @functools.wraps(callback)
        def wrapper(*args, **kwargs):
            if mode in ("portal", "public"):
                # A portal user is known on the portal's routes and the public ones
                # (/join); never on an admin route.
                found = portal.find_session(context.cookie(context.PORTAL_COOKIE))
                request.environ["vcbox.portal_session"] = found
                if found is not None:
                    request.environ["vcbox.portal"] = {"account": found.username}
                    request.environ.setdefault("vcbox.actor", found.username)
                elif mode == "portal":
                    raise Unauthorized()
                if mode == "portal":
                    return callback(*args, **kwargs)
            if page and not auth.configured() and request.path != "/setup":
                redirect("/setup")
            token = context.cookie(context.SESSION_COOKIE)
            # Background polls (dashboards) do not count as activity for the idle limit.
            touch = request.environ.get("HTTP_X_VCBOX_BACKGROUND") != "1"
            session = auth.find_session(token, touch=touch) if token else None
            request.environ["vcbox.session"] = session
            if session is None and (mode == "session"
                                    or (mode == "setup" and auth.configured())):
                if page:
                    return self.login_page(expired=bool(token))
                # The cookie stays for the page load that follows (app.js reloads on a 401):
                # that page says the session expired, and ends the cookie.
                raise Unauthorized()
            return callback(*args, **kwargs)

        return wrapper

    @staticmethod
    def login_page(expired: bool) -> HTTPResponse:
        """The login page (401) instead of a page that needs a session. A request that
        carried a session cookie no longer valid (idled out, logged out elsewhere) is told
        that the session expired (A7), once: the cookie goes; a first visit is told nothing."""
        from controlplane.web.pages import render_login

        res = HTTPResponse(render_login(expired), 401)
        if expired:
            res.delete_cookie(context.SESSION_COOKIE, path="/")
        return res


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
            if route.config.get("auth") == "portal":
                session = request.environ.get("vcbox.portal_session")
            else:
                session = context.session()
            if session is None or not Auth.csrf_ok(session, request.headers.get("X-CSRF-Token")):
                raise CsrfFailed()
            return callback(*args, **kwargs)

        return wrapper


class Audit:
    """Records each audited route's outcome (route option audit=<action id>).

    What is no operation is not recorded: a change sent without the guide's confirm
    (409 confirm_required: the page asks, then sends it again) and a form with wrong
    fields (400 invalid_input: the page marks them), except a refused current password,
    e-mail or license serial: that is a failed attempt. A refusal, a failed apply and an
    internal error (5xx) are failures, with the reason as a coded detail (translated when
    read). A settings save says which settings it changed (their labels, never values)."""

    name = "vcbox_audit"
    api = 2
    # Fields whose refusal is a failed attempt (to prove who one is, to license the box).
    CREDENTIALS = frozenset({"current_password", "current_email", "serial"})

    def __init__(self, services: Services) -> None:
        self.services = services

    def _stored(self, action: str, kwargs: dict[str, Any]) -> dict[str, Any] | None:
        if action != "update_settings" or "section" not in kwargs:
            return None
        try:
            return self.services.settings.stored(kwargs["section"])
        except VcboxError:
            return None

    def apply(self, callback, route):
        action = route.config.get("audit")
        if not action:
            return callback
        target_of = route.config.get("audit_target")

        @functools.wraps(callback)
        def wrapper(*args, **kwargs):
            target = target_of(kwargs) if callable(target_of) else ",".join(
                str(v) for v in kwargs.values())

            def record(outcome: str, detail: oplog.Detail | str = "") -> None:
                self.services.oplog.record(context.username(), context.client_ip(), action,
                                           target, outcome, detail)

            before = self._stored(action, kwargs)
            try:
                result = callback(*args, **kwargs)
            except ConfirmRequired:
                raise
            except ValidationError as exc:
                wrong = [m for k, m in exc.details.items() if k in self.CREDENTIALS]
                if wrong:
                    record(oplog.FAILURE, oplog.Detail(tuple(wrong)))
                raise
            except VcboxError as exc:
                record(oplog.FAILURE, oplog.Detail(((exc.message, exc.params),)))
                raise
            except (HTTPResponse, HTTPError):
                raise
            except Exception as exc:
                reason = StorageFull.message if storage_full(exc) else \
                    N_("An internal error occurred.")
                record(oplog.FAILURE, oplog.Detail((reason,)))
                raise
            status = response.status_code
            if isinstance(result, HTTPResponse):
                status = result.status_code
            if status >= 400:
                record(oplog.FAILURE)
            elif before is not None:
                after = self._stored(action, kwargs) or {}
                changed = [k for k in after if after.get(k) != before.get(k)]
                record(oplog.SUCCESS, oplog.changed_settings(kwargs["section"], changed))
            else:
                record(oplog.SUCCESS)
            return result

        return wrapper


def _error_handler(res: HTTPError) -> str:
    """Errors outside the routes (no such URL or method; an uncaught failure).

    API URLs answer the API's JSON error; an unknown page URL (GET) is the 404 page inside
    the app frame for a signed-in administrator, the login page (401) for anyone else and,
    before an administrator exists, the setup wizard, as for every page (SessionAuth).
    Anything else (a missing static file) gets a bare status page."""
    import json

    if request.path.startswith("/api/"):
        response.content_type = "application/json"
        ids = {404: "not_found", 405: "method_not_allowed", 500: "internal_error"}
        messages = {404: N_("There is no such API resource."),
                    405: N_("This method is not allowed for this API resource."),
                    500: N_("An internal error occurred.")}
        message = messages.get(res.status_code)
        return json.dumps({"error_id": ids.get(res.status_code, "error"),
                           "message": _(message) if message else res.status_line,
                           "details": {}}, ensure_ascii=False)
    if (res.status_code == 404 and request.method in ("GET", "HEAD")
            and not request.path.startswith("/static/")):
        from controlplane.web.pages import render_login, render_not_found

        auth = request.environ["bottle.app"].config["vcbox.services"].auth
        if not auth.configured():
            response.status = 303
            response.set_header("Location", "/setup")
            return ""
        token = context.cookie(context.SESSION_COOKIE)
        touch = request.environ.get("HTTP_X_VCBOX_BACKGROUND") != "1"
        session = auth.find_session(token, touch=touch) if token else None
        request.environ["vcbox.session"] = session
        response.content_type = "text/html; charset=utf-8"
        if session is None:
            if token:
                response.delete_cookie(context.SESSION_COOKIE, path="/")
            response.status = 401
            # A cookie that no longer names a session: it expired (A7), say so.
            return render_login(expired=bool(token))
        return render_not_found()
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
        if not request.path.startswith("/static/") and request.path != "/favicon.ico":
            headers["Cache-Control"] = "no-store"

    app.add_hook("after_request", security_headers)
    app.install(JsonErrors())
    app.install(SessionAuth(services))
    app.install(Csrf(services))
    app.install(Audit(services))
    for code in (400, 401, 403, 404, 405, 413, 500):
        app.error_handler[code] = _error_handler
