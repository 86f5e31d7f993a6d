"""Network (N1-N4): local domain, LAN and WAN interfaces, static NAT, static routes."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any

from controlplane import rules
from controlplane.errors import ValidationError
from controlplane.i18n import N_
from controlplane.rules import Field, FieldError
from controlplane.sections.base import RESTART_CONFIRM, Lookup, Section

NICS = ("lan", "wan")
MAX_ROUTES = 64
# ifname: the interface the settings apply to (the guide's NIC selector, 网卡设置); ""
# is the appliance's own choice (VCBOX_LAN_IF / VCBOX_WAN_IF).
INTERFACE_DEFAULTS = {"enabled": True, "dhcp": True, "ifname": "", "address": "",
                      "netmask": "", "gateway": "", "dns1": "", "dns2": ""}
_IFNAME = re.compile(r"[A-Za-z0-9_.-]{1,15}")


def _ifname(value: Any) -> str:
    """A Linux interface name (at most 15 characters, no "/" or blanks), or ""."""
    value = rules.text(value).strip()
    if value and (not _IFNAME.fullmatch(value) or value in (".", "..")):
        raise FieldError(N_("Choose a NIC from the list."))
    return value


def ifnames(doc: Mapping[str, Any], defaults: Mapping[str, str]) -> dict[str, str]:
    """The interface of each nic: the one the settings chose, else the default."""
    return {nic: doc[nic].get("ifname") or defaults.get(nic, "") for nic in NICS}


def check_nics(doc: Mapping[str, Any], defaults: Mapping[str, str]) -> None:
    """LAN and WAN are two NICs: one interface cannot be both (its default included)."""
    names = ifnames(doc, defaults)
    if names["lan"] and names["lan"] == names["wan"]:
        raise ValidationError(details={
            "lan.ifname": N_("The WAN uses this NIC too: choose another one."),
            "wan.ifname": N_("The LAN uses this NIC too: choose another one.")})


def interface(value: Any) -> dict[str, Any]:
    clean = rules.validate(value, {
        "enabled": rules.boolean,
        "dhcp": rules.boolean,
        "ifname": Field(_ifname, required=False),
        "address": Field(rules.optional_ipv4, required=False),
        "netmask": Field(lambda v: "" if v in (None, "") else rules.netmask(v), required=False),
        "gateway": Field(rules.optional_ipv4, required=False),
        "dns1": Field(rules.optional_ipv4, required=False),
        "dns2": Field(rules.optional_ipv4, required=False),
    })
    doc = {**INTERFACE_DEFAULTS, **clean}
    if doc["enabled"] and not doc["dhcp"]:
        details = {}
        for key in ("address", "netmask"):
            if not doc[key]:
                details[key] = N_("Required for a static address.")
        if not details:
            net = ipaddress.IPv4Interface(f"{doc['address']}/{doc['netmask']}").network
            if net.prefixlen == 0 or net.prefixlen > 30:
                details["netmask"] = N_("Enter a subnet mask like 255.255.255.0.")
            elif ipaddress.IPv4Address(doc["address"]) in (net.network_address,
                                                          net.broadcast_address):
                details["address"] = N_("This is the subnet's own or broadcast address.")
            elif doc["gateway"] and ipaddress.IPv4Address(doc["gateway"]) not in net:
                details["gateway"] = N_("The gateway must be in the interface's subnet.")
            elif doc["gateway"] == doc["address"]:
                details["gateway"] = N_("The gateway cannot be the interface's own address.")
        if details:
            raise ValidationError(details=details)
    return doc


def nat(value: Any) -> dict[str, Any]:
    clean = rules.validate(value, {
        "enabled": rules.boolean,
        "public_ip": Field(rules.optional_ipv4, required=False),
    })
    doc = {"public_ip": "", **clean}
    if doc["enabled"] and not doc["public_ip"]:
        raise ValidationError(details={"public_ip": N_("Required when NAT is on.")})
    return doc


def route(value: Any) -> dict[str, Any]:
    doc = rules.validate(value, {
        "destination": rules.ipv4,
        "netmask": rules.netmask,
        "gateway": rules.ipv4,
        "nic": rules.one_of(*NICS),
    })
    net = ipaddress.IPv4Network(f"{doc['destination']}/{doc['netmask']}", strict=False)
    if str(net.network_address) != doc["destination"]:
        raise ValidationError(details={"destination": (
            N_("Not the start of the subnet: use %(network)s."),
            {"network": str(net.network_address)})})
    return doc


def routes(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise FieldError(N_("A list of routes."))
    if len(value) > MAX_ROUTES:
        raise FieldError(N_("At most %(max)s routes."), max=MAX_ROUTES)
    clean, details = [], {}
    for index, item in enumerate(value):
        try:
            clean.append(route(item))
        except ValidationError as exc:
            # An item that is not an object has no field details: name the item itself.
            details.update({f"{index}.{k}": m for k, m in exc.details.items()}
                           or {str(index): exc.message})
    if details:
        raise ValidationError(details=details)
    return clean


def _cross_check(doc: dict[str, Any], lookup: Lookup) -> None:
    details: dict[str, Any] = {}
    lan, wan = doc["lan"], doc["wan"]
    if not lan["enabled"] and not wan["enabled"]:
        details["lan.enabled"] = N_("At least one interface must be on.")
    if doc["routes"] and not (lan["enabled"] and wan["enabled"]):
        details["routes"] = N_("Static routes need both interfaces (LAN and WAN) on.")
    for index, item in enumerate(doc["routes"]):
        nic = doc[item["nic"]]
        if nic["enabled"] and not nic["dhcp"] and nic["address"]:
            net = ipaddress.IPv4Interface(f"{nic['address']}/{nic['netmask']}").network
            if ipaddress.IPv4Address(item["gateway"]) not in net:
                details[f"routes.{index}.gateway"] = N_(
                    "The gateway must be in the interface's subnet.")
    statics = [n for n in NICS if doc[n]["enabled"] and not doc[n]["dhcp"]]
    if len(statics) == 2:
        nets = [ipaddress.IPv4Interface(f"{doc[n]['address']}/{doc[n]['netmask']}").network
                for n in statics]
        if nets[0].overlaps(nets[1]):
            details["wan.address"] = N_("LAN and WAN must be in different subnets.")
    if details:
        raise ValidationError(details=details)


def lan_address(doc: Mapping[str, Any]) -> str:
    """The static LAN (else WAN) address, or "" when the interfaces use DHCP."""
    for nic in NICS:
        item = doc[nic]
        if item["enabled"] and not item["dhcp"] and item["address"]:
            return item["address"]
    return ""


SECTION = Section(
    name="network",
    defaults={
        "domain": "vcbox.local",
        "lan": {**INTERFACE_DEFAULTS},
        "wan": {**INTERFACE_DEFAULTS, "enabled": False},
        "nat": {"enabled": False, "public_ip": ""},
        "routes": [],
    },
    fields={
        "domain": rules.domain,
        "lan": interface,
        "wan": interface,
        "nat": nat,
        "routes": routes,
    },
    cross_check=_cross_check,
    confirm=RESTART_CONFIRM,
)
