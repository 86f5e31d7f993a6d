"""The guide's navigation. An entry is shown only when the app has a page at its path.

The admin guide's menu (YMS1000 admin guide, chapters 3 to 7 and its "点击 A->B" paths):
系统管理 holds 通话设置 and 许可证 itself ("点击系统管理->通话设置", "点击系统管理->许可证")
beside its three groups; the guide's third level (网络设置 -> 基础设置/服务设置/端口设置,
服务器日志 -> 日志服务器设置/操作日志/系统日志) is flattened into its group.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from controlplane.i18n import N_


@dataclass(frozen=True)
class Item:
    """A page (path) or a group (key, children) of the sidebar."""

    label: str
    path: str = ""
    children: tuple[Item, ...] = field(default_factory=tuple)
    icon: str = ""
    key: str = ""  # a group's id in the page (nav-<key>)

    @property
    def is_group(self) -> bool:
        return not self.path

    def paths(self) -> Iterator[str]:
        """The paths of this entry's pages (a group's, at any depth)."""
        if self.path:
            yield self.path
        for child in self.children:
            yield from child.paths()


def group(label: str, key: str, *children: Item, icon: str = "") -> Item:
    return Item(label, children=children, icon=icon, key=key)


MENU: tuple[Item, ...] = (
    Item(N_("Home"), "/", icon="house"),
    group(N_("System status"), "status",
          Item(N_("System info"), "/status/system"),
          Item(N_("Online users"), "/status/online-users"),
          Item(N_("Live meetings"), "/status/meetings"),
          icon="activity"),
    group(N_("System management"), "management",
          Item(N_("Call settings"), "/settings/call"),
          group(N_("System settings"), "settings",
                Item(N_("Network settings"), "/settings/network"),
                Item(N_("Service settings"), "/settings/services"),
                Item(N_("Port settings"), "/settings/ports"),
                Item(N_("Time / time zone"), "/settings/time"),
                Item(N_("SMTP mail settings"), "/settings/smtp"),
                Item(N_("Disk space"), "/settings/disk")),
          group(N_("System maintenance"), "maintenance",
                Item(N_("Device upgrade"), "/maintenance/firmware"),
                Item(N_("Backup / restore"), "/maintenance/backup"),
                Item(N_("System upgrade"), "/maintenance/upgrade"),
                Item(N_("Restart / factory reset"), "/maintenance/restart")),
          group(N_("Logs"), "logs",
                Item(N_("Remote syslog"), "/settings/syslog"),
                Item(N_("Operation log"), "/logs/operation"),
                Item(N_("System logs"), "/logs/system"),
                Item(N_("Terminal logs"), "/logs/terminals")),
          Item(N_("License"), "/settings/license"),
          icon="gear"),
    Item(N_("Accounts"), "/accounts", icon="people"),
    Item(N_("Meeting rooms"), "/rooms", icon="door-open"),
    Item(N_("Meetings"), "/meetings", icon="calendar-event"),
    Item(N_("Meeting statistics"), "/statistics", icon="bar-chart"),
)


def prune(items: Iterable[Item], pages: set[str]) -> list[Item]:
    """The entries whose page exists; a group keeps the entries left and goes when none is."""
    shown = []
    for item in items:
        if item.is_group:
            children = prune(item.children, pages)
            if children:
                shown.append(Item(item.label, children=tuple(children), icon=item.icon,
                                  key=item.key))
        elif item.path in pages:
            shown.append(item)
    return shown


def visible(pages: set[str]) -> list[Item]:
    """The menu pruned to the pages that exist."""
    return prune(MENU, pages)


def active(menu: Iterable[Item], path: str) -> str:
    """The entry's path that `path` belongs to: its own, or the longest entry path it is
    under (/accounts/7 belongs to /accounts; only / itself to /); "" for none."""
    best = ""
    for item in menu:
        for entry in item.paths():
            if entry == path:
                return entry
            if entry != "/" and path.startswith(entry + "/") and len(entry) > len(best):
                best = entry
    return best
