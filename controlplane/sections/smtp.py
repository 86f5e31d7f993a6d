"""SMTP (M1)."""

from __future__ import annotations

from typing import Any

from controlplane import rules
from controlplane.errors import ValidationError
from controlplane.i18n import N_
from controlplane.sections.base import Lookup, Section


def _server(value: Any) -> str:
    return "" if value == "" else rules.domain(value)


def _cross_check(doc: dict[str, Any], lookup: Lookup) -> None:
    if doc["server"] and not doc["sender"]:
        raise ValidationError(details={"sender": N_("Required when a server is set.")})


SECTION = Section(
    name="smtp",
    defaults={"server": "", "sender": "", "username": "", "password": "", "port": 25,
              "security": "none", "verify_certificate": True},
    fields={
        "server": _server,
        "sender": rules.optional_email,
        "username": rules.max_length(128),
        "password": rules.smtp_password,
        "port": rules.port,
        "security": rules.one_of("none", "ssl", "tls"),
        "verify_certificate": rules.boolean,
    },
    write_only=frozenset({"password"}),
    cross_check=_cross_check,
    var_prefix="smtp_",
)
