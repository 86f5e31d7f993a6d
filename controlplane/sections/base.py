"""What a settings section is."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from controlplane.errors import Message
from controlplane.i18n import N_
from controlplane.rules import Field

# Lookup of another section's document (as it would be after the pending change).
Lookup = Callable[[str], Mapping[str, Any]]

RESTART_CONFIRM = N_("This will restart the video conferencing services. Continue?")
MCU_CONFIRM = N_("This will affect all MCU services. Continue?")


@dataclass(frozen=True)
class Section:
    name: str
    defaults: dict[str, Any]
    fields: dict[str, Field | Callable[[Any], Any]]
    write_only: frozenset[str] = frozenset()
    # Checks across keys and sections; raises ValidationError naming fields.
    cross_check: Callable[[dict[str, Any], Lookup], None] | None = None
    # Set when a change restarts services: the caller must confirm with this message.
    confirm: str | None = None
    # Advice about a valid choice (e.g. C2's performance warning): {field: message}.
    warnings: Callable[[dict[str, Any]], dict[str, Message]] | None = None
    # Prefix of the flat template variables (vcbox_<prefix><key>); "" for unique keys.
    var_prefix: str = ""
