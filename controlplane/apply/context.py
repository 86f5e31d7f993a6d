"""The variables every template sees: settings flattened to vcbox_<key>, secrets and paths.

The same names are the Ansible defaults (SPEC §9), so the roles render the same files.
"""

from __future__ import annotations

import fcntl
import ipaddress
import socket
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from controlplane import timezones
from controlplane.config import Config
from controlplane.drivers.processes import JANUS_LIB_DIR
from controlplane.sections import SECTIONS
from controlplane.sections.network import ifnames, lan_address

# VCBOX_MEDIA_IP=lan: media follows the LAN interface's (DHCP) address.
LAN_MEDIA_IP = "lan"
SIOCGIFADDR = 0x8915

# Sections the services do not read (and whose secrets must not reach a config file).
NOT_RENDERED = {"smtp"}


def flatten(settings: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for name, doc in settings.items():
        if name in NOT_RENDERED:
            continue
        prefix = SECTIONS[name].var_prefix
        for key, value in doc.items():
            flat[f"vcbox_{prefix}{key}"] = value
    return flat


def _prefixlen(netmask: str) -> int | None:
    return ipaddress.IPv4Network(f"0.0.0.0/{netmask}").prefixlen if netmask else None


def interface_ipv4(ifname: str) -> str | None:
    """The first IPv4 address of the interface now, or None (no such interface/address)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            req = struct.pack("256s", ifname.encode()[:15])
            answer = fcntl.ioctl(sock.fileno(), SIOCGIFADDR, req)
        except OSError:
            return None
    return socket.inet_ntoa(answer[20:24])


def media_ip(config: Config, network: Mapping[str, Any]) -> str:
    """The address SIP, TURN and Janus bind to: the LAN's static address; with DHCP, the
    address the LAN interface holds now when VCBOX_MEDIA_IP=lan (the appliance, which
    re-renders when the lease changes), else VCBOX_MEDIA_IP (127.0.0.1 by default)."""
    static = lan_address(network)
    if static:
        return static
    if config.media_ip != LAN_MEDIA_IP:
        return config.media_ip
    return interface_ipv4(nic_names(config, network)["lan"]) or "127.0.0.1"


def nic_names(config: Config, network: Mapping[str, Any]) -> dict[str, str]:
    """The interface of LAN and WAN: the network settings' choice, else VCBOX_LAN_IF/_WAN_IF."""
    return ifnames(network, {"lan": config.lan_ifname, "wan": config.wan_ifname})


def prefix_of(root: Path) -> str:
    """What rendered files put before an absolute path: "" on the appliance (ROOT=/)."""
    text = str(root)
    return "" if text == "/" else text.rstrip("/")


def build(settings: Mapping[str, Mapping[str, Any]], secrets: Mapping[str, Any],
          config: Config) -> dict[str, Any]:
    ctx = flatten(settings)
    ctx.update({f"vcbox_{name}": value for name, value in secrets.items()})
    network, time = settings["network"], settings["time"]
    prefix = prefix_of(config.root)
    nics = nic_names(config, network)
    zone = timezones.by_iana(time["timezone"]) or timezones.by_iana(timezones.DEFAULT)
    fixed = time["dst"] == "off" and timezones.has_dst(zone)
    ctx.update({
        "vcbox_prefix": prefix,
        "vcbox_controlplane_url": f"http://127.0.0.1:{config.listen_port}",
        # mod_xml_curl asks the dedicated directory listener when there is one.
        "vcbox_directory_url": f"http://127.0.0.1:{config.directory_port or config.listen_port}",
        "vcbox_xml_curl_user": "freeswitch",
        "vcbox_hep_port": config.hep_port,
        # Janus's own sofia-sip (the role unpacks it there; processes.JANUS_LIB_DIR says why)
        "vcbox_janus_lib_dir": str(JANUS_LIB_DIR),
        "vcbox_media_ip": media_ip(config, network),
        "vcbox_public_ip": network["nat"]["public_ip"] if network["nat"]["enabled"] else "",
        "vcbox_lan_ifname": nics["lan"],
        "vcbox_wan_ifname": nics["wan"],
        "vcbox_tls_cert": f"{prefix}/etc/vcbox/tls/vcbox.crt",
        "vcbox_tls_key": f"{prefix}/etc/vcbox/tls/vcbox.key",
        # DST off: a fixed offset (SPEC T1); the clock driver compiles it when needed.
        "vcbox_tz_name": timezones.fixed_offset_name(zone) if fixed else zone.iana,
        # networkd wants prefix lengths, not netmasks.
        "vcbox_lan_prefixlen": _prefixlen(network["lan"]["netmask"]),
        "vcbox_wan_prefixlen": _prefixlen(network["wan"]["netmask"]),
        "vcbox_routes_cidr": [
            {**r, "cidr": f"{r['destination']}/{_prefixlen(r['netmask'])}"}
            for r in network["routes"]],
        "vcbox_static_gateway": any(
            network[n]["enabled"] and not network[n]["dhcp"] and network[n]["gateway"]
            for n in ("lan", "wan")),
    })
    # nginx (system services): "" = every address, on the appliance; elsewhere the
    # address the control plane itself listens on (127.0.0.1 in development and tests).
    ctx["vcbox_web_listen_address"] = ("" if config.service_mode == "systemd"
                                       else config.listen_host)
    return ctx
