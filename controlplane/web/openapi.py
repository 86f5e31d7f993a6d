"""The OpenAPI document, generated from the routes the app really has."""

from __future__ import annotations

import re
from typing import Any

from bottle import Bottle

from controlplane import __version__
from controlplane.app import Services
from controlplane.sections import SECTIONS
from controlplane.web.api_setup import SETUP_SECTIONS

API_PREFIXES = ("/api/", "/freeswitch/")
_PARAM = re.compile(r"<([a-zA-Z_][a-zA-Z_0-9]*)(?::[^>]*)?>")

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error_id", "message", "details"],
    "properties": {
        "error_id": {"type": "string"},
        "message": {"type": "string"},
        "details": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}
# A list of STYLE.md's shape: the page, the count of all and the count that matched.
LIST_SCHEMA = {
    "type": "object",
    "required": ["items", "total", "filtered"],
    "properties": {
        "items": {"type": "array"},
        "total": {"type": "integer", "minimum": 0},
        "filtered": {"type": "integer", "minimum": 0},
    },
}
_PAGE = ("search", "limit", "offset")
_SORTED = (*_PAGE, "order", "direction")
_PERIOD = ("since", "until")
# The query parameters each route reads (strings on the wire; a bad one is a field error).
QUERY: dict[tuple[str, str], tuple[str, ...]] = {
    ("GET", "/api/v1/status/samples"): ("range", "nic"),
    ("GET", "/api/v1/operation-log"): ("days", *_PERIOD, *_PAGE, "format"),
    ("GET", "/api/v1/accounts"): _SORTED,
    ("GET", "/api/v1/rooms"): ("kind", *_SORTED),
    ("GET", "/api/v1/meetings"): ("kind", *_SORTED),
    ("GET", "/api/v1/online-users"): _PAGE,
    ("GET", "/api/v1/meetings/live"): ("search", "kind"),
    ("GET", "/api/v1/call-records"): ("type", "kind", "months", *_PERIOD, *_PAGE, "format"),
    ("GET", "/api/v1/call-records/stats"): ("type", "kind", "months", *_PERIOD),
    ("GET", "/api/v1/terminal-logs"): ("model", "status", *_PAGE),
    ("GET", "/api/v1/terminal-logs/<ip>/export"): ("days", *_PERIOD),
    ("GET", "/api/v1/portal/meetings"): ("search",),
    ("GET", "/api/v1/portal/accounts"): ("search",),
    ("GET", "/api/v1/portal/rooms"): ("start", "duration_min", "skip"),
    ("GET", "/api/v1/backups"): _PAGE,
    ("GET", "/api/v1/firmware"): ("kind", *_PAGE),
    ("POST", "/api/v1/firmware"): ("check",),
    ("GET", "/api/v1/disk/browse"): ("path",),
    ("GET", "/api/v1/logs/system"): ("parts", "days", *_PERIOD),
    ("GET", "/api/v1/logs/system/files"): ("parts", "days", *_PERIOD),
}
# GET routes whose JSON answer is a list of that shape.
LISTS = frozenset({
    "/api/v1/operation-log", "/api/v1/accounts", "/api/v1/rooms", "/api/v1/meetings",
    "/api/v1/online-users", "/api/v1/meetings/live", "/api/v1/call-records",
    "/api/v1/terminal-logs", "/api/v1/backups", "/api/v1/firmware",
    "/api/v1/settings/network/interfaces", "/api/v1/portal/meetings",
    "/api/v1/portal/accounts", "/api/v1/portal/rooms",
})
_CSV = {"text/csv": {"schema": {"type": "string"}}}
# Routes that answer a file rather than JSON (or besides it), by media type.
FILES: dict[str, dict[str, Any]] = {
    "/api/v1/operation-log": _CSV,
    "/api/v1/call-records": {**_CSV, "application/vnd.openxmlformats-officedocument"
                                     ".spreadsheetml.sheet": {"schema": {"type": "string"}}},
    "/api/v1/accounts/template": {"application/vnd.ms-excel": {"schema": {"type": "string"}}},
    "/api/v1/backups/<name>": {"application/gzip": {"schema": {"type": "string"}}},
    "/api/v1/terminal-logs/<ip>/export": {"text/plain": {"schema": {"type": "string"}}},
    "/api/v1/logs/system": {"application/zip": {"schema": {"type": "string"}}},
}
# Routes that take a multipart upload (field "file") instead of a JSON body.
UPLOADS = frozenset({"/api/v1/accounts/import", "/api/v1/backups/upload", "/api/v1/firmware",
                     "/api/v1/system/upgrade"})
_S, _I, _B = {"type": "string"}, {"type": "integer"}, {"type": "boolean"}
_MEETING = {"kind": {"type": "string", "enum": ["vmr", "scheduled", "instant"]}, "id": _S,
            "subject": _S, "organizer": _S, "password": _S, "start": _S, "duration_min": _I,
            "participants": {"type": "array", "items": _S},
            "rooms": {"type": "array", "items": _S}, "layout": _S, "allow_guests": _B,
            "recurrence": {"type": "object"}}
_ACCOUNT = {"account": _S, "name": _S, "email": _S}
_ROOM = {"name": _S, "kind": {"type": "string", "enum": ["normal", "video"]},
         "bound_account": _S}
# The keys a JSON body takes, where the route has a fixed set (others: any object).
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/v1/accounts"): _ACCOUNT,
    ("PUT", "/api/v1/accounts/<account>"): _ACCOUNT,
    ("POST", "/api/v1/rooms"): _ROOM,
    ("PUT", "/api/v1/rooms/<room_id>"): _ROOM,
    ("POST", "/api/v1/meetings"): _MEETING,
    ("PUT", "/api/v1/meetings/<meeting_id>"): _MEETING,
    ("POST", "/api/v1/portal/meetings"): _MEETING,
    ("PUT", "/api/v1/portal/meetings/<meeting_id>"): _MEETING,
    ("POST", "/api/v1/session"): {"username": _S, "password": _S, "remember": _B},
    ("POST", "/api/v1/portal/session"): {"account": _S, "password": _S},
    ("PUT", "/api/v1/admin/password"): {"current_password": _S, "new_password": _S,
                                        "confirm_password": _S},
    ("PUT", "/api/v1/admin/email"): {"current_email": _S, "new_email": _S},
    ("POST", "/api/v1/license"): {"serial": _S},
    ("POST", "/api/v1/backups"): {"name": _S},
    ("POST", "/api/v1/system/factory-reset"): {
        "mode": {"type": "string", "enum": ["settings", "all"]}, "confirm": _B},
    ("POST", "/api/v1/meetings/live/<meeting_id>/invite"): {"account": _S},
}
for _path in ("/api/v1/accounts/delete", "/api/v1/accounts/mail"):
    BODIES[("POST", _path)] = {"accounts": {"type": "array", "items": _S}}
for _path in ("/api/v1/rooms/delete", "/api/v1/meetings/delete"):
    BODIES[("POST", _path)] = {"ids": {"type": "array", "items": _S}}
for _path in ("/api/v1/backups/delete", "/api/v1/firmware/delete"):
    BODIES[("POST", _path)] = {"names": {"type": "array", "items": _S}}
# FreeSWITCH's own gateways: form posts in, XML or text out (never the JSON error body).
GATEWAYS = ("/freeswitch/",)
_ANY = {"schema": {}}


def api_routes(app: Bottle) -> list:
    return [r for r in app.routes if r.rule.startswith(API_PREFIXES)]


def openapi_path(rule: str) -> str:
    return _PARAM.sub(r"{\1}", rule)


def document(app: Bottle) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in api_routes(app):
        path = openapi_path(route.rule)
        params = [{"name": n, "in": "path", "required": True, "schema": path_schema(route, n)}
                  for n in _PARAM.findall(route.rule)]
        params += [{"name": n, "in": "query", "required": False, "schema": {"type": "string"}}
                   for n in QUERY.get((route.method, route.rule), ())]
        summary = route.config.get("summary") or (route.callback.__doc__ or "").strip()
        op: dict[str, Any] = {
            "operationId": f"{route.method.lower()}_{route.name or route.callback.__name__}",
            "summary": summary,
            "parameters": params,
            "responses": responses(route),
        }
        if route.method in ("POST", "PUT", "PATCH"):
            op["requestBody"] = request_body(route)
        auth = route.config.get("auth", "session")
        unsafe = route.method in ("POST", "PUT", "PATCH", "DELETE") and route.config.get(
            "csrf", True) is not False
        if auth == "public":
            op["security"] = []
        elif auth == "portal":
            op["security"] = [{"portal": [], "csrf": []} if unsafe else {"portal": []}]
        elif unsafe:
            op["security"] = [{"session": [], "csrf": []}]
        paths.setdefault(path, {})[route.method.lower()] = op
    return {
        "openapi": "3.0.3",
        "info": {"title": "vcbox control plane", "version": __version__},
        "paths": paths,
        "components": {
            "schemas": {"Error": ERROR_SCHEMA, "List": LIST_SCHEMA},
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "vcbox_session"},
                # An enterprise user's session of the user portal (never an admin's).
                "portal": {"type": "apiKey", "in": "cookie", "name": "vcbox_portal"},
                "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token"},
            },
        },
        "security": [{"session": []}],
    }


def path_schema(route: Any, name: str) -> dict[str, Any]:
    """A path parameter: the settings sections by name, anything else a string."""
    if name == "section" and route.rule.startswith("/api/v1/settings/"):
        return {"type": "string", "enum": sorted(SECTIONS)}
    if name == "section" and route.rule.startswith("/api/v1/setup/settings/"):
        return {"type": "string", "enum": list(SETUP_SECTIONS)}
    return {"type": "string"}


def _type_of(value: Any) -> dict[str, Any]:
    for kind, name in ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"),
                       (list, "array"), (dict, "object")):
        if isinstance(value, kind):
            return {"type": name}
    return {}


def section_body(section: Any) -> dict[str, Any]:
    """A settings section's PUT body: some of its keys, typed as their defaults."""
    props = {key: _type_of(value) for key, value in section.defaults.items()}
    props.update({key: {"type": "string"} for key in section.write_only})
    props["confirm"] = {"type": "boolean"}
    return {"type": "object", "properties": props}


def request_body(route: Any) -> dict[str, Any]:
    if route.rule in UPLOADS:
        return {"content": {"multipart/form-data": {"schema": {
            "type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}}}}
    schema: dict[str, Any] = {"type": "object"}
    if (route.method, route.rule) in BODIES:
        schema = {"type": "object", "properties": BODIES[(route.method, route.rule)]}
    if "<section>" in route.rule:
        sections = SECTIONS if route.rule.startswith("/api/v1/settings/") else {
            name: SECTIONS[name] for name in SETUP_SECTIONS}
        schema = {"anyOf": [section_body(s) for _, s in sorted(sections.items())]}
    return {"content": {"application/json": {"schema": schema}}}


def responses(route: Any) -> dict[str, Any]:
    """What a route answers: JSON (a List where it lists) or its file on success, the
    JSON error body (Error) on every refusal; FreeSWITCH's gateways answer in their own
    formats."""
    if route.rule.startswith(GATEWAYS):
        return {"2XX": {"description": "OK"}, "4XX": {"description": "Refused"}}
    if route.rule in LISTS and route.method == "GET":
        ok: dict[str, Any] = {"application/json": {
            "schema": {"$ref": "#/components/schemas/List"}}}
    else:
        ok = {"application/json": _ANY}
    ok = {**ok, **FILES.get(route.rule, {})} if route.method == "GET" else ok
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    return {
        "2XX": {"description": "OK", "content": ok},
        "400": {"description": "Invalid input, with a message per field", "content": error},
        "4XX": {"description": "Refused: not signed in, no CSRF token, not found, a conflict"
                " (confirm_required ...)", "content": error},
    }


def routes(app: Bottle, services: Services) -> None:
    @app.get("/api/v1/openapi.json", summary="This document")
    def openapi():
        return document(app)
