"""Terminal logs (O4): on or off (off by default: capture costs bandwidth)."""

from __future__ import annotations

from controlplane import rules
from controlplane.sections.base import Section

SECTION = Section(
    name="terminal-logs",
    defaults={"enabled": False},
    fields={"enabled": rules.boolean},
    var_prefix="terminal_logs_",
)
