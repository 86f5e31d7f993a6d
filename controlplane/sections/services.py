"""Service ports (P1-P3): web, SSH and SIP."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from controlplane import rules
from controlplane.errors import ValidationError
from controlplane.i18n import N_
from controlplane.sections.base import PORT_LABELS, RESTART_CONFIRM, Lookup, Section, Term

# Ports the appliance uses internally; no service or media range may take them. Each is
# named by what uses it, in words (a conflict message shows the name).
INTERNAL_PORTS: dict[int, Term] = {
    3478: Term(N_("TURN service")),                               # coturn
    5349: Term(N_("TURN service (TLS)")),                         # coturn over TLS
    5766: Term(N_("TURN service management interface")),         # coturn CLI
    7088: Term(N_("MCU management interface")),                   # Janus admin API
    8021: Term(N_("SIP/IVR service control interface")),          # FreeSWITCH ESL
    8080: Term(N_("web management console")),                     # the control plane
    8088: Term(N_("MCU service interface")),                      # Janus API
    8089: Term(N_("SIP account directory")),                      # FreeSWITCH directory
}
RANGES = ("ivr", "turn", "mcu")


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
    used = N_("Already used by the %(other)s.")
    for key, port in service_ports(doc).items():
        if port in seen:
            details[key] = (used, {"other": PORT_LABELS[seen[port]]})
            details.setdefault(seen[port], (used, {"other": PORT_LABELS[key]}))
        elif port in INTERNAL_PORTS:
            details[key] = (N_("Used by the appliance's %(other)s: choose another port."),
                            {"other": INTERNAL_PORTS[port]})
        else:
            seen[port] = key
    media = lookup("ports")
    for key, port in service_ports(doc).items():
        for name in RANGES:
            if key not in details and media[name]["min"] <= port <= media[name]["max"]:
                details[key] = (N_("Inside the range of the %(range)s (port settings)."),
                                {"range": PORT_LABELS[name]})
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
