"""The settings sections of SPEC §9, each with its defaults and its rules.

`SECTIONS` is the registry; the defaults here are the single source of the defaults
(the Ansible role defaults are the same names with a `vcbox_` prefix).
"""

from __future__ import annotations

from controlplane.sections import (
    backup_schedule,
    call,
    disk,
    network,
    ports,
    services,
    smtp,
    syslog,
    terminal_logs,
    timesettings,
)
from controlplane.sections.base import Section

SECTIONS: dict[str, Section] = {
    s.name: s
    for s in (call.SECTION, network.SECTION, services.SECTION, ports.SECTION,
              timesettings.SECTION, smtp.SECTION, syslog.SECTION, disk.SECTION,
              terminal_logs.SECTION, backup_schedule.SECTION)
}

__all__ = ["SECTIONS", "Section"]
