"""Service ports (P1-P3): web, SSH and SIP."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from controlplane import rules
from controlplane.errors import ValidationError
from controlplane.i18n import N_
from controlplane.sections.base import RESTART_CONFIRM, Lookup, Section

# Ports the appliance uses internally; no service or media range may take them.
INTERNAL_PORTS: dict[int, str] = {
    3478: "TURN", 5349: "TURN TLS", 5766: "TURN CLI", 7088: "Janus Admin API",
    8021: "FreeSWITCH ESL", 8080: "web admin backend", 8088: "Janus API",
    8089: "FreeSWITCH directory",
}


def service_ports(doc: Mapping[str, Any]) -> dict[str, int]:
    """The ports that listen, by settings key."""
    ports = {"http_port": doc["http_port"], "sip_port": doc["sip_port"],
             "sip_tls_port": doc["sip_tls_port"]}
    if doc["https_enabled"]:
        ports["https_port"] = doc["https_port"]
    if doc["ssh_enabled"]:
        ports["ssh_port"] = doc["ssh_port"]
    return ports


def _cross_check(doc: dict[str, Any], lookup: Lookup) -> None:
    details: dict[str, Any] = {}
    seen: dict[int, str] = {}
    for key, port in service_ports(doc).items():
        if port in seen:
            details[key] = (N_("Already used by %(other)s."), {"other": seen[port]})
            details.setdefault(seen[port], (N_("Already used by %(other)s."), {"other": key}))
        elif port in INTERNAL_PORTS:
            details[key] = (N_("Reserved for %(other)s."), {"other": INTERNAL_PORTS[port]})
        else:
            seen[port] = key
    media = lookup("ports")
    for key, port in service_ports(doc).items():
        for name in ("ivr", "turn", "mcu"):
            if key not in details and media[name]["min"] <= port <= media[name]["max"]:
                details[key] = (N_("Inside the %(range)s media port range."), {"range": name})
    if details:
        raise ValidationError(details=details)


SECTION = Section(
    name="services",
    defaults={
        "http_port": 80, "http_nat_port": 80,
        "https_enabled": False, "https_port": 443, "https_nat_port": 443,
        "ssh_enabled": True, "ssh_port": 22,
        "sip_port": 5060, "sip_tls_port": 5061,
    },
    fields={
        "http_port": rules.port, "http_nat_port": rules.port,
        "https_enabled": rules.boolean, "https_port": rules.port, "https_nat_port": rules.port,
        "ssh_enabled": rules.boolean, "ssh_port": rules.port,
        "sip_port": rules.port, "sip_tls_port": rules.port,
    },
    cross_check=_cross_check,
    confirm=RESTART_CONFIRM,
)
