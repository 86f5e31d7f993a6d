"""Schemathesis hooks of tests/integration/test_api_fuzz.py (loaded by `st run` through
SCHEMATHESIS_HOOKS): what each pass of the fuzz expects beyond schemathesis's own checks.

VCBOX_FUZZ_PASS names the pass; VCBOX_FUZZ_ACCESS is a JSON file {"METHOD /path":
{"realm": "public"|"portal"|"session", "csrf": bool, "list": bool}} made from the OpenAPI
document.

- "session": the signed-in admin (cookie + X-CSRF-Token): schemathesis's checks, and every
  answer of the list shape {items, total, filtered} is declared as the List schema.
- "destructive": the routes that would end the session or wipe the server, sent without
  "confirm": every answer is a refusal (4xx), never done.
- "anonymous": no cookie at all: every route that needs a session answers 401
  unauthorized, whatever the input.
- "no_csrf": the admin's cookie without the token: every state change that needs the token
  answers 403 csrf_failed.
- "portal": an enterprise user's portal session (its cookie and token): no admin route
  opens (401 or 403); the portal's own lists are declared as the session pass's are.
"""

from __future__ import annotations

import json
import os
from functools import cache

import schemathesis


def _pass() -> str:
    return os.environ.get("VCBOX_FUZZ_PASS", "session")


@cache
def _access() -> dict[str, dict]:
    path = os.environ.get("VCBOX_FUZZ_ACCESS")
    return json.loads(open(path).read()) if path else {}


@schemathesis.hook
def map_case(context, case):
    if _pass() == "destructive" and isinstance(case.body, dict):
        case.body.pop("confirm", None)
    return case


def _json(response):
    try:
        return response.json()
    except Exception:
        return None


def _error_id(response) -> str:
    data = _json(response)
    return data.get("error_id", "") if isinstance(data, dict) else ""


@schemathesis.check
def vcbox_access(ctx, response, case):
    """The pass's rule for this operation (see the module's docstring)."""
    kind = _pass()
    status = response.status_code
    rule = _access().get(f"{case.method.upper()} {case.path}")
    if rule is None:
        return None
    if kind in ("session", "portal"):
        data = _json(response) if 200 <= status < 300 else None
        if (isinstance(data, dict) and {"items", "total", "filtered"} <= set(data)
                and not rule.get("list")):
            raise AssertionError(f"{case.method} {case.path} answers a list: declare it in "
                                 "controlplane/web/openapi.py's LISTS")
    if kind == "session":
        return None
    if kind == "destructive":
        if not 400 <= status < 500:
            raise AssertionError(f"{case.method} {case.path} without confirm answered {status}:"
                                 " it must be refused (4xx)")
    elif kind == "anonymous" and rule["realm"] != "public":
        if status != 401 or _error_id(response) != "unauthorized":
            raise AssertionError(f"{case.method} {case.path} without a session answered "
                                 f"{status} {_error_id(response)!r}, not 401 unauthorized")
    elif kind == "no_csrf" and rule["realm"] == "session" and rule["csrf"]:
        if status != 403 or _error_id(response) != "csrf_failed":
            raise AssertionError(f"{case.method} {case.path} without the CSRF token answered "
                                 f"{status} {_error_id(response)!r}, not 403 csrf_failed")
    elif kind == "portal" and rule["realm"] == "session" and status not in (401, 403):
        raise AssertionError(f"{case.method} {case.path} opened to a portal session ({status})")
    return None
