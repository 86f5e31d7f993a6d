"""Which service action each rendered file needs, and the order services are acted on."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

# Services in the order their actions run: the network first, then the firewall (new
# ports open before a service moves to them), the web server last.
SERVICE_ORDER = ("network", "firewall", "clock", "chrony", "rsyslog", "ssh", "freeswitch", "janus",
                 "coturn", "nginx")


@dataclass(frozen=True)
class Action:
    service: str
    verb: str
    arg: str = ""  # e.g. the time for "clock set_time"

    def __str__(self) -> str:
        return f"{self.service} {self.verb}" + (f" {self.arg}" if self.arg else "")


# First match wins: (glob on the path relative to ROOT, action).
RULES: tuple[tuple[str, Action], ...] = (
    # Read only when FreeSWITCH starts (or drops ESL when reloaded): a restart.
    ("etc/freeswitch/autoload_configs/switch.conf.xml", Action("freeswitch", "restart")),
    ("etc/freeswitch/autoload_configs/modules.conf.xml", Action("freeswitch", "restart")),
    ("etc/freeswitch/autoload_configs/event_socket.conf.xml", Action("freeswitch", "restart")),
    ("etc/freeswitch/autoload_configs/xml_curl.conf.xml",
     Action("freeswitch", "reload", "mod_xml_curl")),
    ("etc/freeswitch/autoload_configs/json_cdr.conf.xml",
     Action("freeswitch", "reload", "mod_json_cdr")),
    # The browser joins' loopback profile (its RTP on the media address) restarts alone.
    ("etc/freeswitch/sip_profiles/vcbox_web.xml",
     Action("freeswitch", "profile_restart", "vcbox_web")),
    ("etc/freeswitch/sip_profiles/*", Action("freeswitch", "profile_restart")),
    ("etc/freeswitch/*", Action("freeswitch", "reloadxml")),
    ("etc/janus/*", Action("janus", "restart")),
    ("etc/turnserver.conf", Action("coturn", "restart")),
    ("etc/nginx/*", Action("nginx", "reload")),
    ("etc/ssh/*", Action("ssh", "reload")),
    ("etc/chrony/*", Action("chrony", "restart")),
    ("etc/rsyslog.d/*", Action("rsyslog", "restart")),
    ("etc/systemd/network/*", Action("network", "apply")),
    ("etc/timezone", Action("clock", "timezone")),
    ("etc/nftables.conf", Action("firewall", "reload")),
)

# A stronger action includes weaker ones: "sofia profile internal restart reloadxml"
# reloads the XML too, and a restart of FreeSWITCH reads everything again.
_FS_RESTART_INCLUDES = {"profile_restart", "reloadxml", "reload"}


def action_for(path: str) -> Action | None:
    for pattern, action in RULES:
        if fnmatch.fnmatch(path, pattern):
            return action
    return None


def order(actions: set[Action]) -> list[Action]:
    """Deduplicated actions in dependency order, without those a stronger one includes."""
    redundant = set()
    if Action("freeswitch", "restart") in actions:
        redundant = {a for a in actions
                     if a.service == "freeswitch" and a.verb in _FS_RESTART_INCLUDES}
    elif any(a.service == "freeswitch" and a.verb == "profile_restart" for a in actions):
        redundant = {Action("freeswitch", "reloadxml")}  # each profile restart reloads
    rank = {name: i for i, name in enumerate(SERVICE_ORDER)}
    return sorted(actions - redundant,
                  key=lambda a: (rank.get(a.service, len(rank)), a.verb, a.arg))
