"""Input rules R1-R8 (SPEC §0), used by every form and API. Bad input raises ValidationError."""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from controlplane.errors import Message, ValidationError
from controlplane.i18n import N_


class FieldError(Exception):
    def __init__(self, message: str, **params: Any) -> None:
        super().__init__(message)
        self.message: Message = (message, params) if params else message


Check = Callable[[Any], Any]

_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_EMAIL_ILLEGAL = set("<>,\"'&")
_EMAIL_LOCAL = re.compile(r"^[A-Za-z0-9!#$%*+/=?^_`{|}~.-]+$")


def text(value: Any) -> str:
    if not isinstance(value, str):
        raise FieldError(N_("Must be text."))
    return value


def login_password(value: Any) -> str:
    """R1: 6-16 characters."""
    value = text(value)
    if not 6 <= len(value) <= 16:
        raise FieldError(N_("The password must be 6 to 16 characters long."))
    return value


def smtp_password(value: Any) -> str:
    """R2: at most 128 characters."""
    value = text(value)
    if len(value) > 128:
        raise FieldError(N_("At most %(max)s characters."), max=128)
    return value


def is_host(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        pass
    name = value[:-1] if value.endswith(".") else value
    labels = name.split(".")
    if not name or re.fullmatch(r"[0-9.]+", name):
        return False
    return all(_HOST_LABEL.match(label) for label in labels)


def email(value: Any) -> str:
    """R3: <user>@<domain or IP>, at most 128 characters, case-insensitive."""
    value = text(value).strip()
    if not value:
        raise FieldError(N_("Required."))
    if len(value) > 128:
        raise FieldError(N_("At most %(max)s characters."), max=128)
    if _EMAIL_ILLEGAL & set(value):
        raise FieldError(N_("The characters < > , \" ' & are not allowed in an e-mail address."))
    user, at, host = value.rpartition("@")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not at or not user or not _EMAIL_LOCAL.match(user) or not is_host(host) or "." not in host:
        raise FieldError(N_("Enter an e-mail address like Jane@example.com."))
    return value.lower()


def optional_email(value: Any) -> str:
    if value in (None, ""):
        return ""
    return email(value)


def account(value: Any) -> str:
    """R4: exactly 4 digits."""
    value = text(value).strip()
    if not re.fullmatch(r"[0-9]{4}", value):
        raise FieldError(N_("An account is exactly 4 digits."))
    return value


# One rule for the names of accounts (R5) and rooms (R7), which the admin sees side by side
# (a video room carries its terminal's account): letters and digits of any script, spaces,
# punctuation and symbols, full-width ones included ("张三（销售部）", "【周会】", "A&B <HQ>").
# Refused: line breaks and other control or format characters, and " and \, which end or
# escape the quoted display name an account's name becomes in SIP (From: "name" <sip:...>).
_NAME_REFUSED = frozenset('"\\')


def _name(value: Any, limit: int) -> str:
    value = text(value).strip()
    if not value:
        raise FieldError(N_("Required."))
    if len(value) > limit:
        raise FieldError(N_("At most %(max)s characters."), max=limit)
    if any(ch in _NAME_REFUSED or unicodedata.category(ch)[0] == "C"
           or unicodedata.category(ch) in ("Zl", "Zp") for ch in value):
        raise FieldError(N_('A name cannot contain " or \\ or a line break.'))
    return value


def account_name(value: Any) -> str:
    """R5: the name rule (see _name), at most 128 characters."""
    return _name(value, 128)


def domain(value: Any) -> str:
    """R6: a host name or IP address, at most 128 characters."""
    value = text(value).strip()
    if not value:
        raise FieldError(N_("Required."))
    if len(value) > 128:
        raise FieldError(N_("At most %(max)s characters."), max=128)
    if not is_host(value):
        raise FieldError(N_("Enter a valid host name or IP address."))
    return value.lower()


def room_name(value: Any) -> str:
    """R7: the name rule of accounts (see _name), at most 255 characters."""
    return _name(value, 255)


def port(value: Any) -> int:
    """R8: an integer 1-65535."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise FieldError(N_("A port is a whole number from 1 to 65535."))
    if isinstance(value, str):
        if not re.fullmatch(r"[0-9]{1,5}", value.strip()):
            raise FieldError(N_("A port is a whole number from 1 to 65535."))
        value = int(value)
    if not 1 <= value <= 65535:
        raise FieldError(N_("A port is a whole number from 1 to 65535."))
    return value


def port_range(value: Any) -> dict[str, int]:
    """R8: {min, max} with min < max and max - min >= 1000."""
    if not isinstance(value, Mapping):
        raise FieldError(N_("A port range has a minimum and a maximum."))
    if set(value) - {"min", "max"}:
        raise FieldError(N_("A port range has a minimum and a maximum."))
    low, high = port(value.get("min")), port(value.get("max"))
    if high - low < 1000:
        raise FieldError(N_("The maximum must exceed the minimum by at least 1000."))
    return {"min": low, "max": high}


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise FieldError(N_("Must be true or false."))
    return value


def one_of(*choices: Any) -> Check:
    def check(value: Any) -> Any:
        # Same type as well as equal: 10.0 and True are not among (10, 1).
        if not any(value == c and type(value) is type(c) for c in choices):
            raise FieldError(N_("Choose one of: %(choices)s."),
                             choices=", ".join(map(str, choices)))
        return value

    return check


def max_length(limit: int) -> Check:
    def check(value: Any) -> str:
        value = text(value)
        if len(value) > limit:
            raise FieldError(N_("At most %(max)s characters."), max=limit)
        return value

    return check


@dataclass(frozen=True)
class Field:
    check: Check
    required: bool = True


def validate(
    data: Any, fields: Mapping[str, Field | Check], *, partial: bool = False
) -> dict[str, Any]:
    """Check every field; raise one ValidationError naming every bad field.

    With partial=True, absent fields are left out instead of being required.
    Unknown fields are refused, so that a typo never silently does nothing.
    """
    if not isinstance(data, Mapping):
        raise ValidationError(N_("The request body must be a JSON object."))
    clean: dict[str, Any] = {}
    details: dict[str, Message] = {}
    for name, spec in fields.items():
        spec = spec if isinstance(spec, Field) else Field(spec)
        if name not in data or data[name] is None:
            if spec.required and not partial:
                details[name] = N_("Required.")
            continue
        try:
            clean[name] = spec.check(data[name])
        except FieldError as exc:
            details[name] = exc.message
        except ValidationError as exc:  # a nested object: name its fields "outer.inner"
            if not exc.details:
                details[name] = exc.message
            for inner, message in exc.details.items():
                details[f"{name}.{inner}"] = message
    for name in data:
        if name not in fields and name != "confirm":
            details[name] = N_("Unknown field.")
    if details:
        raise ValidationError(details=details)
    return clean


def ipv4(value: Any) -> str:
    """A unicast IPv4 address in dotted form."""
    value = text(value).strip()
    try:
        address = ipaddress.IPv4Address(value)
    except ValueError as exc:
        raise FieldError(N_("Enter an IPv4 address like 192.168.1.10.")) from exc
    if address.is_multicast or address.is_unspecified or str(address) == "255.255.255.255":
        raise FieldError(N_("Enter an IPv4 address like 192.168.1.10."))
    return str(address)


def optional_ipv4(value: Any) -> str:
    return "" if value in (None, "") else ipv4(value)


def netmask(value: Any) -> str:
    """A contiguous IPv4 netmask like 255.255.255.0."""
    value = text(value).strip()
    try:
        prefix = ipaddress.IPv4Network(f"0.0.0.0/{value}").prefixlen
    except ValueError as exc:
        raise FieldError(N_("Enter a subnet mask like 255.255.255.0.")) from exc
    if str(ipaddress.IPv4Network(f"0.0.0.0/{prefix}").netmask) != value:
        raise FieldError(N_("Enter a subnet mask like 255.255.255.0."))
    return value
