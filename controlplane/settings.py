"""Settings: the stored document of each section (SPEC §9), validated as a whole.

A PUT may send only some keys; nested objects (network.lan, ports.ivr ...) merge with
what is stored. Write-only keys (passwords) are never returned, and leaving them out
keeps the stored value. `prepare` checks a change against every rule, other sections
included, without storing anything; `save` stores it.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from controlplane import rules
from controlplane.errors import Message, NotFound
from controlplane.i18n import N_
from controlplane.sections import SECTIONS, Section
from controlplane.store import Documents

# Keys of GET and PUT answers that a client may send back unchanged: never stored.
ANSWER_KEYS = frozenset({"confirm", "warnings", "applied", "server_time", "pending_confirm",
                         "message"})


def _key(name: str) -> str:
    return f"settings.{name}"


@dataclass
class Change:
    section: str
    old: dict[str, Any]
    new: dict[str, Any]
    warnings: dict[str, Message] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return self.old != self.new

    def changed_keys(self) -> list[str]:
        return sorted(k for k in self.new if self.new.get(k) != self.old.get(k))


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

    def all(self, overrides: Mapping[str, dict[str, Any]] | None = None) -> dict[str, Any]:
        """Every section's full document, with pending documents in place of stored ones."""
        overrides = overrides or {}
        return {name: overrides[name] if name in overrides else self.stored(name)
                for name in SECTIONS}

    def value(self, name: str, key: str) -> Any:
        """One stored key (or its default), without copying the section."""
        doc = self.docs.peek(_key(name))
        return doc[key] if key in doc else self.section(name).defaults[key]

    def public(self, name: str) -> dict[str, Any]:
        doc = self.stored(name)
        for key in self.section(name).write_only:
            doc[f"{key}_set"] = bool(doc.pop(key, ""))
        return doc

    def prepare(self, name: str, data: Any,
                pending: Mapping[str, dict[str, Any]] | None = None) -> Change:
        """Validate a (partial) change; return the whole old and new documents."""
        section = self.section(name)
        old = self.stored(name)
        if isinstance(data, Mapping):
            derived = {f"{key}_set" for key in section.write_only}
            data = {k: ({**old[k], **v} if isinstance(old.get(k), dict)
                        and isinstance(v, Mapping) else v)
                    for k, v in data.items() if k not in ANSWER_KEYS and k not in derived}
        clean = rules.validate(data, section.fields, partial=True)
        new = {**old, **clean}
        if section.cross_check:
            others = {**(pending or {}), name: new}
            section.cross_check(new, lambda other: others.get(other) or self.stored(other))
        warnings = section.warnings(new) if section.warnings else {}
        return Change(name, old, new, warnings)

    def save(self, change: Change) -> None:
        with self.docs.batch() as batch:
            batch.put(_key(change.section), change.new)

    def put(self, name: str, data: Any) -> Change:
        """prepare + save, for sections no service depends on."""
        change = self.prepare(name, data)
        if change.changed:
            self.save(change)
        return change

    def merged(self, name: str, data: Any) -> dict[str, Any]:
        """The whole document a change would give (nothing stored)."""
        return self.prepare(name, data).new
