"""Media port ranges (P4): IVR (FreeSWITCH RTP), TURN relay (coturn), MCU (Janus RTP)."""

from __future__ import annotations

from typing import Any

from controlplane import rules
from controlplane.errors import ValidationError
from controlplane.i18n import N_
from controlplane.sections.base import RESTART_CONFIRM, Lookup, Section
from controlplane.sections.services import INTERNAL_PORTS, service_ports

RANGES = ("ivr", "turn", "mcu")


def _cross_check(doc: dict[str, Any], lookup: Lookup) -> None:
    details: dict[str, Any] = {}
    for i, a in enumerate(RANGES):
        for b in RANGES[i + 1:]:
            if doc[a]["min"] <= doc[b]["max"] and doc[b]["min"] <= doc[a]["max"]:
                details.setdefault(a, (N_("Overlaps the %(other)s range."), {"other": b}))
                details.setdefault(b, (N_("Overlaps the %(other)s range."), {"other": a}))
    taken = {port: key for key, port in service_ports(lookup("services")).items()}
    taken.update(INTERNAL_PORTS)
    for name in RANGES:
        inside = sorted(p for p in taken if doc[name]["min"] <= p <= doc[name]["max"])
        if name not in details and inside:
            details[name] = (N_("Contains port %(port)s, used by %(other)s."),
                             {"port": inside[0], "other": taken[inside[0]]})
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
