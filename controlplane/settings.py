"""Settings sections (SPEC §9): defaults, validation and storage of each section.

Each section is one document in the store. A PUT may send only some keys; write-only
keys (passwords) are never returned, and leaving them out keeps the stored value.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from controlplane import rules
from controlplane.errors import NotFound, ValidationError
from controlplane.i18n import N_
from controlplane.rules import Field
from controlplane.store import Documents


def _smtp_server(value: Any) -> str:
    return "" if value == "" else rules.domain(value)


def _smtp_cross_check(doc: dict[str, Any]) -> None:
    if doc["server"] and not doc["sender"]:
        raise ValidationError(details={"sender": N_("Required when a server is set.")})


@dataclass(frozen=True)
class Section:
    name: str
    defaults: dict[str, Any]
    fields: dict[str, Field | Callable[[Any], Any]]
    write_only: frozenset[str] = frozenset()
    cross_check: Callable[[dict[str, Any]], None] | None = None
    restart: frozenset[str] = field(default_factory=frozenset)


SECTIONS: dict[str, Section] = {
    "smtp": Section(
        name="smtp",
        defaults={"server": "", "sender": "", "username": "", "password": "", "port": 25,
                  "security": "none", "verify_certificate": True},
        fields={
            "server": _smtp_server,
            "sender": rules.optional_email,
            "username": rules.max_length(128),
            "password": rules.smtp_password,
            "port": rules.port,
            "security": rules.one_of("none", "ssl", "tls"),
            "verify_certificate": rules.boolean,
        },
        write_only=frozenset({"password"}),
        cross_check=_smtp_cross_check,
    ),
}


def _key(name: str) -> str:
    return f"settings.{name}"


class Settings:
    def __init__(self, docs: Documents) -> None:
        self.docs = docs

    @staticmethod
    def section(name: str) -> Section:
        if name not in SECTIONS:
            raise NotFound(N_("No such settings section: %(name)s."), name=name)
        return SECTIONS[name]

    def stored(self, name: str) -> dict[str, Any]:
        """The full document, write-only keys included (for the services, never the API)."""
        section = self.section(name)
        return {**copy.deepcopy(section.defaults), **(self.docs.get(_key(name)) or {})}

    def value(self, name: str, key: str) -> Any:
        """One stored key (or its default), without copying the section."""
        doc = self.docs.peek(_key(name))
        return doc[key] if key in doc else self.section(name).defaults[key]

    def public(self, name: str) -> dict[str, Any]:
        doc = self.stored(name)
        section = self.section(name)
        for key in section.write_only:
            doc[f"{key}_set"] = bool(doc.pop(key, ""))
        return doc

    def merged(self, name: str, data: Any) -> dict[str, Any]:
        """Validate a partial change and return the whole document it would give."""
        section = self.section(name)
        clean = rules.validate(data, section.fields, partial=True)
        doc = {**self.stored(name), **clean}
        if section.cross_check:
            section.cross_check(doc)
        return doc

    def put(self, name: str, data: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """Store a change; return (old, new) full documents. Nothing changes on bad input."""
        with self.docs.batch() as batch:
            old = self.stored(name)
            new = self.merged(name, data)
            if new != old:
                batch.put(_key(name), new)
        return old, new
