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


class Term(str):
    """A msgid given as a parameter of a message (a field's label, a range's guide name):
    translated along with the message, so that a conflict names the other field the way
    its page does ("Already used by the SIP UDP/TCP port.")."""


# The labels of the ports a conflict can name: the services page's fields and the port
# settings' ranges (by their guide names).
PORT_LABELS: dict[str, Term] = {
    "http_port": Term(N_("HTTP listening port")),
    "https_port": Term(N_("HTTPS listening port")),
    "ssh_port": Term(N_("SSH port")),
    "sip_port": Term(N_("SIP UDP/TCP port")),
    "sip_tls_port": Term(N_("SIP TLS port")),
    "ivr": Term(N_("IVR ports")),
    "turn": Term(N_("TURN service ports")),
    "mcu": Term(N_("MCU ports")),
}


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
