"""Media port ranges (P4): IVR (FreeSWITCH RTP), TURN relay (coturn), MCU (Janus RTP)."""

from __future__ import annotations

from typing import Any

from controlplane import rules
from controlplane.errors import ValidationError
from controlplane.i18n import N_
from controlplane.sections.base import PORT_LABELS, RESTART_CONFIRM, Lookup, Section
from controlplane.sections.services import INTERNAL_PORTS, RANGES, service_ports


def _cross_check(doc: dict[str, Any], lookup: Lookup) -> None:
    details: dict[str, Any] = {}
    overlap = N_("Overlaps the range of the %(other)s.")
    for i, a in enumerate(RANGES):
        for b in RANGES[i + 1:]:
            if doc[a]["min"] <= doc[b]["max"] and doc[b]["min"] <= doc[a]["max"]:
                details.setdefault(a, (overlap, {"other": PORT_LABELS[b]}))
                details.setdefault(b, (overlap, {"other": PORT_LABELS[a]}))
    # A port the services listen on is named by its field, an internal one by its user.
    taken: dict[int, Any] = {
        port: (N_("Contains port %(port)s, set as the %(other)s."), PORT_LABELS[key])
        for key, port in service_ports(lookup("services")).items()}
    taken.update({port: (N_("Contains port %(port)s, used by the appliance's %(other)s."),
                         user) for port, user in INTERNAL_PORTS.items()})
    for name in RANGES:
        inside = sorted(p for p in taken if doc[name]["min"] <= p <= doc[name]["max"])
        if name not in details and inside:
            message, other = taken[inside[0]]
            details[name] = (message, {"port": inside[0], "other": other})
    if details:
        raise ValidationError(details=details)


SECTION = Section(
    name="ports",
    defaults={
        "ivr": {"min": 30000, "max": 37999},
        "turn": {"min": 38000, "max": 49999},
        "mcu": {"min": 50000, "max": 59999},
    },
    fields={name: rules.port_range for name in RANGES},
    cross_check=_cross_check,
    confirm=RESTART_CONFIRM,
)
