"""Remote syslog (O1). An empty server turns forwarding off."""

from __future__ import annotations

from typing import Any

from controlplane import rules
from controlplane.sections.base import Section


def _server(value: Any) -> str:
    return "" if value == "" else rules.domain(value)


SECTION = Section(
    name="syslog",
    defaults={"server": "", "port": 514, "transport": "udp"},
    fields={
        "server": _server,
        "port": rules.port,
        "transport": rules.one_of("udp", "tcp", "tls"),
    },
    var_prefix="syslog_",
)
