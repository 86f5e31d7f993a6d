"""Domain errors. Messages are msgids (English source text) translated by the web layer."""

from __future__ import annotations

from typing import Any

Message = str | tuple[str, dict[str, Any]]


def N_(message: str) -> str:
    """Mark a msgid for extraction (as controlplane.i18n.N_; i18n imports this module)."""
    return message


class VcboxError(Exception):
    status = 400
    error_id = "error"
    message = N_("The request could not be completed.")

    def __init__(
        self,
        message: str | None = None,
        details: dict[str, Message] | None = None,
        **params: Any,
    ) -> None:
        if message is not None:
            self.message = message
        self.details = details or {}
        self.params = params
        super().__init__(self.message % params if params else self.message)


class ValidationError(VcboxError):
    status = 400
    error_id = "invalid_input"
    message = N_("Some fields are invalid.")


class InvalidUpload(ValidationError):
    """An uploaded file refused on its content (a backup, a release): the "file" field
    says `what_it_is_not` with the reason why."""

    what_it_is_not = N_("This file cannot be used (%(why)s).")

    def __init__(self, reason: str) -> None:
        super().__init__(details={"file": (self.what_it_is_not, {"why": reason})})
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


class Unauthorized(VcboxError):
    status = 401
    error_id = "unauthorized"
    message = N_("Please log in.")


class Forbidden(VcboxError):
    status = 403
    error_id = "forbidden"
    message = N_("This action is not allowed.")


class CsrfFailed(Forbidden):
    error_id = "csrf_failed"
    message = N_("The request is missing a valid CSRF token. Reload the page and try again.")


class NotFound(VcboxError):
    status = 404
    error_id = "not_found"
    message = N_("Not found.")


class Conflict(VcboxError):
    status = 409
    error_id = "conflict"
    message = N_("The request conflicts with the current state.")


class Locked(VcboxError):
    status = 423
    error_id = "locked"
    message = N_("Too many wrong passwords: this user is locked for %(minutes)s minutes.")


class LengthRequired(VcboxError):
    status = 411
    error_id = "length_required"
    message = N_("Send the file with a Content-Length header.")


class TooLarge(VcboxError):
    status = 413
    error_id = "too_large"
    message = N_("The request is too large.")


class Unavailable(VcboxError):
    status = 502
    error_id = "upstream_failed"
    message = "%(reason)s"  # the upstream's own words: nothing to translate


class ConfirmRequired(VcboxError):
    """A change that restarts services, sent without "confirm": true."""

    status = 409
    error_id = "confirm_required"


class StorageFull(VcboxError):
    """The data disk (or the folder a write goes to) has no room: nothing was written,
    the store holds what it held before (RFC 4918's 507 Insufficient Storage)."""

    status = 507
    error_id = "storage_full"
    message = N_("The disk is full: the change was not saved. Free some space (System "
                 "settings > Disk space) and try again.")
