"""The guide's navigation. An entry is shown only when the app has a page at its path."""

from __future__ import annotations

from dataclasses import dataclass, field

from controlplane.i18n import N_


@dataclass(frozen=True)
class Item:
    label: str
    path: str = ""
    children: tuple[Item, ...] = field(default_factory=tuple)
    icon: str = ""


MENU: tuple[Item, ...] = (
    Item(N_("Home"), "/", icon="house"),
    Item(N_("System status"), icon="activity", children=(
        Item(N_("System info"), "/status/system"),
        Item(N_("Online users"), "/status/online-users"),
        Item(N_("Live meetings"), "/status/meetings"),
    )),
    Item(N_("System management"), icon="gear", children=(
        Item(N_("Call settings"), "/settings/call"),
        Item(N_("License"), "/settings/license"),
        Item(N_("Network settings"), "/settings/network"),
        Item(N_("Service settings"), "/settings/services"),
        Item(N_("Port settings"), "/settings/ports"),
        Item(N_("Time / time zone"), "/settings/time"),
        Item(N_("SMTP mail settings"), "/settings/smtp"),
        Item(N_("Disk space"), "/settings/disk"),
        Item(N_("System maintenance"), "/maintenance"),
        Item(N_("Operation log"), "/logs/operation"),
        Item(N_("Remote syslog"), "/settings/syslog"),
        Item(N_("System logs"), "/logs/system"),
        Item(N_("Terminal logs"), "/logs/terminals"),
    )),
    Item(N_("Accounts"), "/accounts", icon="people"),
    Item(N_("Meeting rooms"), "/rooms", icon="door-open"),
    Item(N_("Meetings"), "/meetings", icon="calendar-event"),
    Item(N_("Meeting statistics"), "/statistics", icon="bar-chart"),
)


def visible(pages: set[str]) -> list[Item]:
    """The menu pruned to the pages that exist."""
    shown = []
    for item in MENU:
        children = tuple(c for c in item.children if c.path in pages)
        if item.children and children:
            shown.append(Item(item.label, item.path, children, item.icon))
        elif not item.children and item.path in pages:
            shown.append(item)
    return shown
