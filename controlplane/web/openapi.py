"""The OpenAPI document, generated from the routes the app really has."""

from __future__ import annotations

import re
from typing import Any

from bottle import Bottle

from controlplane import __version__
from controlplane.app import Services

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


def api_routes(app: Bottle) -> list:
    return [r for r in app.routes if r.rule.startswith(API_PREFIXES)]


def openapi_path(rule: str) -> str:
    return _PARAM.sub(r"{\1}", rule)


def document(app: Bottle) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in api_routes(app):
        path = openapi_path(route.rule)
        params = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                  for n in _PARAM.findall(route.rule)]
        summary = route.config.get("summary") or (route.callback.__doc__ or "").strip()
        op: dict[str, Any] = {
            "operationId": f"{route.method.lower()}_{route.name or route.callback.__name__}",
            "summary": summary,
            "parameters": params,
            "responses": {
                "200": {"description": "OK"},
                "400": {"description": "Invalid input, with a message per field",
                        "content": {"application/json": {
                            "schema": {"$ref": "#/components/schemas/Error"}}}},
            },
        }
        if route.method in ("POST", "PUT", "PATCH"):
            op["requestBody"] = {"content": {"application/json": {"schema": {"type": "object"}}}}
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
            "schemas": {"Error": ERROR_SCHEMA},
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "vcbox_session"},
                # An enterprise user's session of the user portal (never an admin's).
                "portal": {"type": "apiKey", "in": "cookie", "name": "vcbox_portal"},
                "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token"},
            },
        },
        "security": [{"session": []}],
    }


def routes(app: Bottle, services: Services) -> None:
    @app.get("/api/v1/openapi.json", summary="This document")
    def openapi():
        return document(app)
