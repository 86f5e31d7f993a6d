"""Per-request helpers: the session, the language, the client address and the JSON body."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

from bottle import request

from controlplane.auth import Session
from controlplane.errors import LengthRequired, TooLarge, ValidationError
from controlplane.i18n import N_, normalize, translate

SESSION_COOKIE = "vcbox_session"
PORTAL_COOKIE = "vcbox_portal"
LANG_COOKIE = "vcbox_lang"
MAX_JSON_BYTES = 1 << 20


def cookie(name: str) -> str | None:
    """One cookie's value, read straight from the header (Bottle parses them all)."""
    header = request.environ.get("HTTP_COOKIE")
    if not header or name not in header:
        return None
    prefix = name + "="
    for part in header.split(";"):
        part = part.strip()
        if part.startswith(prefix):
            return part[len(prefix):].strip('"') or None
    return None


def session() -> Session | None:
    return request.environ.get("vcbox.session")


def portal_account() -> str:
    """The signed-in enterprise user of a portal route ("" on others)."""
    found = request.environ.get("vcbox.portal_session")
    return found.username if found else ""


def username() -> str:
    """Who acts: the session's user, or the one a public route identified (vcbox.actor)."""
    current = session()
    return current.username if current else request.environ.get("vcbox.actor", "")


def lang() -> str:
    cached = request.environ.get("vcbox.lang")
    if cached is None:
        cached = normalize(cookie(LANG_COOKIE))
        request.environ["vcbox.lang"] = cached
    return cached


def _(message: Any, **params: Any) -> str:
    return translate(lang(), message, **params)


def _from_proxy() -> bool:
    try:
        return ipaddress.ip_address(request.environ.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


def is_https() -> bool:
    """The browser's connection is HTTPS (directly, or through the local nginx)."""
    if request.environ.get("wsgi.url_scheme") == "https":
        return True
    return _from_proxy() and request.environ.get("HTTP_X_FORWARDED_PROTO") == "https"


def client_ip() -> str:
    forwarded = request.environ.get("HTTP_X_REAL_IP")
    # Only the local reverse proxy (nginx) may say who the client is.
    if forwarded and _from_proxy():
        return forwarded.strip()
    return request.environ.get("REMOTE_ADDR", "")


def body() -> dict[str, Any]:
    """The JSON request body as a dict (a bad body is a 400, never a 500)."""
    length = request.content_length
    if length > MAX_JSON_BYTES:
        raise TooLarge()
    if length <= 0:
        return {}
    try:
        data = request.json
    except Exception as exc:
        raise ValidationError(N_("The request body is not valid JSON.")) from exc
    if data is None:
        raise ValidationError(N_("Send the request body as application/json."))
    if not isinstance(data, dict):
        raise ValidationError(N_("The request body must be a JSON object."))
    return data


def wants_csv() -> bool:
    return ("text/csv" in request.headers.get("Accept", "")
            or request.query.get("format") == "csv")


def query_int(name: str, value: str, default: int, low: int, high: int) -> int:
    """A whole-number query parameter in [low, high]; a bad one is a field-level 400."""
    if value == "":
        return default
    if not value.isdigit() or not low <= int(value) <= high:
        raise ValidationError(details={name: (N_("A whole number from %(low)s to %(high)s."),
                                              {"low": low, "high": high})})
    return int(value)


MAX_TARGET = 500


def body_text_target(field: str) -> Callable[[dict[str, Any]], str]:
    """An audit target: the text of one field of the request body ("" when absent)."""
    def target(kwargs: dict[str, Any]) -> str:
        try:
            value = body().get(field)
        except Exception:
            return ""
        return value if isinstance(value, str) else ""
    return target


def body_ids_target(label: Callable[[str], str]) -> Callable[[dict[str, Any]], str]:
    """An audit target: the labels of the body's "ids", joined and cut at MAX_TARGET."""
    def target(kwargs: dict[str, Any]) -> str:
        try:
            ids = body().get("ids")
        except Exception:
            return ""
        if not isinstance(ids, list):
            return ""
        text = ", ".join(label(i) for i in ids if isinstance(i, str))
        return text if len(text) <= MAX_TARGET else text[:MAX_TARGET - 1] + "…"
    return target


# Room for the multipart envelope around an uploaded file (boundaries, part headers).
UPLOAD_ENVELOPE_BYTES = 64 * 1024


def upload_target(max_bytes: int) -> Callable[[dict[str, Any]], str]:
    """An audit target: the uploaded file's name, read only from a request that
    uploaded_file(max_bytes) would read (a Content-Length within the limit, multipart);
    "" for any other, and for a broken multipart body (the route then answers its 4xx).
    The target is taken before the route runs: it must neither read a body the route
    refuses unread (411, 413) nor fail on one (a 500 instead of the route's 400)."""
    def target(kwargs: dict[str, Any]) -> str:
        if request.chunked or not 0 <= request.content_length <= (
                max_bytes + UPLOAD_ENVELOPE_BYTES):
            return ""
        if not request.content_type.lower().startswith("multipart/form-data"):
            return ""
        try:
            name = getattr(request.files.get("file"), "raw_filename", "")
        except Exception:  # a broken multipart body: bottle raises several kinds
            return ""
        return name if isinstance(name, str) else ""
    return target


def uploaded_file(max_bytes: int, missing: str) -> Any:
    """The multipart field "file" (Bottle's FileUpload) of a request checked before its
    body is read: a Content-Length (411 without), at most max_bytes of file (413),
    multipart/form-data; `missing` is the field error when no file came."""
    if request.chunked or request.content_length < 0:
        raise LengthRequired()
    if request.content_length > max_bytes + UPLOAD_ENVELOPE_BYTES:
        raise TooLarge(N_("The file is larger than %(mb)s MB."), mb=max_bytes // (1024 * 1024))
    if not request.content_type.lower().startswith("multipart/form-data"):
        raise ValidationError(details={"file": N_(
            "Send the file as multipart/form-data, in the field \"file\".")})
    try:
        upload = request.files.get("file")
    except Exception as exc:  # a broken multipart body: bottle raises several kinds
        raise ValidationError(details={"file": N_("The upload could not be read.")}) from exc
    if upload is None:
        raise ValidationError(details={"file": missing})
    return upload
