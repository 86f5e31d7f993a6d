"""SPEC §0 (R6, R8) and §9: bad settings input, field by field, through the real API.

Every field of call, network, services, ports, time and syslog gets at least three
invalid values (wrong type, out of range, bad format, unknown choice, a JSON float
where an int is required, a bool where an int is required). Each is answered 400
`invalid_input` whose `details` name exactly the bad field(s) ("lan.address",
"routes.0.gateway", "sip_tls_port" ...) with a message in the UI language, and changes
nothing: no file under ROOT (content, inode, mtime) and no stored setting. The PUTs carry
"confirm": true, so that a value the checks let through would really be applied.

One server serves the whole module: a refused PUT must leave it as it was, and each test
checks exactly that.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from controlplane.i18n import translate
from controlplane.sections.base import Term
from tests.conftest import Client, Server
from tests.integration.settings_cases import (
    all_settings,
    put,
    settings_doc,
    snapshot,
)

# The server: fixtures srv, api, root and initial (one server per module) are in
# tests/integration/conftest.py.


# -- the cases -------------------------------------------------------------------------

# R8: not a whole number 1-65535. "5060" (a digit string, as a form sends it) is valid.
BAD_PORTS = [0, 65536, -1, 5060.0, True, "abc", "80a", [5060], {"port": 5060}]
BAD_BOOLS = ["yes", 1, 0, "true"]
BAD_IPV4 = ["x", "300.1.1.1", "192.168.1", "1.2.3.4.5", "224.0.0.1", "0.0.0.0", 12]
BAD_NETMASKS = ["255.0.255.0", "24", 24, "abc", "255.255.255.1"]
BAD_HOSTS = ["", "bad host", "-bad.example.com", "exa_mple.com", "a" * 129, "1.2.3", 5, True]

VALID_ROUTE = {"destination": "10.20.0.0", "netmask": "255.255.0.0",
               "gateway": "192.168.7.254", "nic": "lan"}
STATIC_LAN = {"enabled": True, "dhcp": False, "address": "192.168.7.10",
              "netmask": "255.255.255.0", "gateway": "192.168.7.1"}

CASES: list[Any] = []


def case(section: str, data: dict[str, Any], *fields: str, label: str = "") -> None:
    """PUT `data` to `section` must be refused naming exactly `fields`."""
    ident = label or f"{section}-{'+'.join(fields)}-{data!r}"
    CASES.append(pytest.param(section, data, frozenset(fields), id=ident[:90]))


def nest(path: str, value: Any) -> dict[str, Any]:
    """"lan.address", v -> {"lan": {"address": v}}."""
    head, _, rest = path.partition(".")
    return {head: nest(rest, value) if rest else value}


# call (C1-C6): one_of choices are type-exact, so 10.0 and True are not 10.
CALL_BAD: dict[str, list[Any]] = {
    "max_video_resolution": ["1440p30", 720, "720P30", True, ""],
    "max_content_resolution": ["4k", 1080, "1080P5", "1080p60"],
    "equal_layout": ["8x8", "1x1", 4, "4X4"],
    "one_plus_n_layout": ["1+8", 7, "1 + 7", "1+7 "],
    "polling_interval_s": [4, 301, 10.0, "10", True, -5],
    "polling_rule": ["random", 1, "", True],
    "early_join_min": [20, 10.0, "10", True, 0],
    "ivr_language": ["fr", "ZH", 1, ""],
    "max_uplink_kbps": [2000, 2048.0, "2048", True, 0],
    "max_downlink_kbps": [4097, 4096.0, "4M", False, -2048],
    # access numbers: exactly 5 ASCII digits
    "ivr_number": ["9000", "900000", 90000, "9000a", "９００００", ""],
    "meet_now_number": ["123", "12345678", 90001, "+9001", " "],
}
for _field, _values in CALL_BAD.items():
    for _value in _values:
        case("call", {_field: _value}, _field)

# network (N1-N4)
for _value in BAD_HOSTS:
    case("network", {"domain": _value}, "domain")
for _nic in ("lan", "wan"):
    for _value in [*BAD_BOOLS, None]:  # None inside an interface: the key is required
        case("network", nest(f"{_nic}.enabled", _value), f"{_nic}.enabled")
        case("network", nest(f"{_nic}.dhcp", _value), f"{_nic}.dhcp")
    for _key in ("address", "gateway", "dns1", "dns2"):
        for _value in BAD_IPV4:
            case("network", nest(f"{_nic}.{_key}", _value), f"{_nic}.{_key}")
    for _value in BAD_NETMASKS:
        case("network", nest(f"{_nic}.netmask", _value), f"{_nic}.netmask")
    # The NIC selector: a Linux interface name (at most 15 characters, no "/" or blank).
    for _value in ("eth 0", "a" * 16, 5, "../x", "..", True):
        case("network", nest(f"{_nic}.ifname", _value), f"{_nic}.ifname")
    _static = {"enabled": True, "dhcp": False, "address": "192.168.7.10",
               "netmask": "255.255.255.0"}
    for _changes, _key in (
            ({"address": ""}, "address"),                   # static needs an address
            ({"address": "192.168.7.0"}, "address"),        # the subnet's own address
            ({"address": "192.168.7.255"}, "address"),      # its broadcast address
            ({"netmask": ""}, "netmask"),                   # static needs a mask
            ({"netmask": "255.255.255.255"}, "netmask"),    # /32: no subnet
            ({"netmask": "255.255.255.254"}, "netmask"),    # /31
            ({"netmask": "0.0.0.0"}, "netmask"),            # /0
            ({"gateway": "10.0.0.1"}, "gateway"),           # outside the subnet
            ({"gateway": "192.168.8.1"}, "gateway"),        # the next subnet
            ({"gateway": "192.168.7.10"}, "gateway")):      # the interface's own address
        case("network", {_nic: {**_static, **_changes}}, f"{_nic}.{_key}",
             label=f"network-{_nic}-static-{_changes}")
    for _value in ("static", 5, ["192.168.7.10"], True):
        case("network", {_nic: _value}, _nic)
    case("network", {_nic: {"mtu": 1500}}, f"{_nic}.mtu")
case("network", {"lan": {"enabled": False}}, "lan.enabled",
     label="network-both-interfaces-off")
case("network", {"lan": STATIC_LAN, "wan": {**STATIC_LAN, "address": "192.168.7.20"}},
     "wan.address", label="network-lan-wan-same-subnet")
# One interface cannot be both LAN and WAN: named both, or one and the other's default
# (VCBOX_WAN_IF: eth1).
case("network", {"lan": {"ifname": "vc0"}, "wan": {"ifname": "vc0"}}, "lan.ifname",
     "wan.ifname", label="network-one-nic-for-lan-and-wan")
case("network", {"lan": {"ifname": "eth1"}}, "lan.ifname", "wan.ifname",
     label="network-lan-on-the-wan-default-nic")
for _value in [*BAD_BOOLS, None]:
    case("network", {"nat": {"enabled": _value}}, "nat.enabled")
for _value in BAD_IPV4:
    case("network", {"nat": {"public_ip": _value}}, "nat.public_ip")
case("network", {"nat": {"enabled": True}}, "nat.public_ip", label="network-nat-on-no-ip")
case("network", {"nat": {"enabled": True, "public_ip": ""}}, "nat.public_ip",
     label="network-nat-on-empty-ip")
for _value in ("on", 1, [], True):
    case("network", {"nat": _value}, "nat")
case("network", {"nat": {"port": 5060}}, "nat.port")
# routes: the list itself, then each key of an item (field checks come before the
# cross-section ones, so WAN being off does not mask them).
for _value in ("10.0.0.0/8", dict(VALID_ROUTE), 5, [VALID_ROUTE] * 65):
    case("network", {"routes": _value}, "routes",
         label=f"network-routes-{str(_value)[:40]}")
case("network", {"routes": [VALID_ROUTE]}, "routes", label="network-routes-with-wan-off")
for _value in ("x", 5, None, [VALID_ROUTE]):
    case("network", {"routes": [_value]}, "routes.0", label=f"network-routes.0-{_value!r:.30}")
ROUTE_BAD: dict[str, list[Any]] = {
    "destination": ["x", 5, "10.20.3.0", "224.0.0.0", ""],  # 10.20.3.0/16: not its start
    "netmask": ["255.0.255.0", "16", 16, ""],
    "gateway": ["x", 5, "10.20.0.300", ""],
    "nic": ["dmz", "LAN", 0, ""],
}
for _key, _values in ROUTE_BAD.items():
    for _value in _values:
        case("network", {"routes": [{**VALID_ROUTE, _key: _value}]}, f"routes.0.{_key}")
    case("network", {"routes": [{k: v for k, v in VALID_ROUTE.items() if k != _key}]},
         f"routes.0.{_key}", label=f"network-routes.0.{_key}-missing")
case("network", {"routes": [VALID_ROUTE, {**VALID_ROUTE, "gateway": "x"}]},
     "routes.1.gateway", label="network-routes.1.gateway")
case("network", {"routes": [{**VALID_ROUTE, "metric": 1}]}, "routes.0.metric")
case("network", {"lan": STATIC_LAN, "wan": {"enabled": True},
                 "routes": [{**VALID_ROUTE, "gateway": "10.9.9.9"}]},
     "routes.0.gateway", label="network-route-gateway-outside-the-nic-subnet")

# services (P1-P3)
SERVICE_PORTS = ("http_port", "http_nat_port", "https_port", "https_nat_port", "ssh_port",
                 "sip_port", "sip_tls_port")
for _field in SERVICE_PORTS:
    for _value in BAD_PORTS:
        case("services", {_field: _value}, _field)
for _field in ("https_enabled", "ssh_enabled"):
    for _value in BAD_BOOLS:
        case("services", {_field: _value}, _field)
for _data, _fields in (
        # P3: the SIP ports must differ; both are named, whichever was changed.
        ({"sip_tls_port": 5060}, ("sip_port", "sip_tls_port")),
        ({"sip_port": 5061}, ("sip_port", "sip_tls_port")),
        ({"http_port": 22}, ("http_port", "ssh_port")),
        ({"ssh_port": 5061}, ("ssh_port", "sip_tls_port")),
        ({"https_enabled": True, "https_port": 80}, ("http_port", "https_port")),
        # Ports the appliance uses internally (ESL, Janus API, TURN ...).
        ({"sip_port": 8021}, ("sip_port",)),
        ({"http_port": 8088}, ("http_port",)),
        ({"ssh_port": 5766}, ("ssh_port",)),
        ({"sip_tls_port": 3478}, ("sip_tls_port",)),
        ({"https_enabled": True, "https_port": 7088}, ("https_port",)),
        # A service port inside a media range (the services side of P4).
        ({"sip_port": 30000}, ("sip_port",)),
        ({"sip_tls_port": 37999}, ("sip_tls_port",)),
        ({"http_port": 40000}, ("http_port",)),
        ({"ssh_port": 59999}, ("ssh_port",)),
        ({"https_enabled": True, "https_port": 50000}, ("https_port",))):
    case("services", _data, *_fields)

# ports (P4): errors name the range ("ivr"), whatever part of it is wrong.
RANGES = {"ivr": (30000, 37999), "turn": (38000, 49999), "mcu": (50000, 59999)}
for _name, (_low, _high) in RANGES.items():
    for _value in ("x", 5, [_low, _high], True):
        case("ports", {_name: _value}, _name)
    for _value in ["abc", 0, -1, 65536, _low + 0.5, True, [_low]]:
        case("ports", {_name: {"min": _value}}, _name, label=f"ports-{_name}.min-{_value!r}")
        case("ports", {_name: {"max": _value}}, _name, label=f"ports-{_name}.max-{_value!r}")
    case("ports", {_name: {"min": _high, "max": _low}}, _name, label=f"ports-{_name}-min>max")
    case("ports", {_name: {"min": _low, "max": _low}}, _name, label=f"ports-{_name}-min=max")
    case("ports", {_name: {"min": _low, "max": _low + 999}}, _name,
         label=f"ports-{_name}-span-999")
# Overlaps: both ranges are named, so the one that was changed is always marked.
case("ports", {"ivr": {"min": 30000, "max": 38500}}, "ivr", "turn", label="ports-ivr-on-turn")
case("ports", {"turn": {"min": 36000, "max": 49999}}, "ivr", "turn", label="ports-turn-on-ivr")
case("ports", {"mcu": {"min": 49000, "max": 59999}}, "turn", "mcu", label="ports-mcu-on-turn")
case("ports", {"turn": {"min": 38000, "max": 50000}}, "turn", "mcu", label="ports-turn-on-mcu")
case("ports", {"ivr": {"min": 30000, "max": 65000}}, "ivr", "turn", "mcu",
     label="ports-ivr-on-all")
# A range that contains a service port (the ports side of the check above) ...
case("ports", {"ivr": {"min": 5000, "max": 6500}}, "ivr", label="ports-ivr-has-sip_port")
case("ports", {"turn": {"min": 1, "max": 1100}}, "turn", label="ports-turn-has-ssh+http")
case("ports", {"mcu": {"min": 5061, "max": 6100}}, "mcu", label="ports-mcu-has-sip_tls")
# ... or an internal one.
case("ports", {"ivr": {"min": 5300, "max": 6300}}, "ivr", label="ports-ivr-has-turn-tls")
case("ports", {"turn": {"min": 3000, "max": 4000}}, "turn", label="ports-turn-has-turn")
case("ports", {"mcu": {"min": 8000, "max": 9100}}, "mcu", label="ports-mcu-has-esl")

# time (T1)
TIME_BAD: dict[str, list[Any]] = {
    "dst": ["on", True, 1, "AUTO", ""],
    "source": ["ntp", 0, "MANUAL", True, ""],
    "sntp_server": BAD_HOSTS,
    # "Europe/Paris" is a real IANA zone, but not on the guide's list.
    "timezone": ["Mars/Base", "UTC", "Europe/Paris", "asia/shanghai", 8, ""],
    "manual_datetime": ["yesterday", "2026-13-01T00:00:00", "1999-12-31T23:59:59",
                        "2100-01-01T00:00:00", "2026-01-31T09:30:00+08:00", 20260131, True],
}
for _field, _values in TIME_BAD.items():
    for _value in _values:
        case("time", {_field: _value}, _field)
case("time", {"source": "manual"}, "manual_datetime", label="time-manual-without-datetime")
case("time", {"source": "manual", "manual_datetime": ""}, "manual_datetime",
     label="time-manual-with-empty-datetime")

# syslog (O1)
for _value in [v for v in BAD_HOSTS if v != ""]:  # "" turns forwarding off: valid
    case("syslog", {"server": _value}, "server")
for _value in BAD_PORTS:
    case("syslog", {"port": _value}, "port")
for _value in ("relp", "UDP", 1, "", True):
    case("syslog", {"transport": _value}, "transport")

# Unknown keys, in every section: a typo must never silently do nothing.
for _section, _key in (("call", "layout"), ("network", "hostname"), ("services", "domain"),
                       ("ports", "rtp"), ("time", "ntp_server"), ("syslog", "host")):
    case(_section, {_key: 1}, _key)


# -- the tests -------------------------------------------------------------------------

@pytest.mark.parametrize(("section", "data", "fields"), CASES)
def test_invalid_value_is_refused_naming_the_field_and_changes_nothing(
        api: Client, root: Path, initial, section: str, data: dict[str, Any],
        fields: frozenset[str]) -> None:
    before_doc = settings_doc(api, section)
    before = snapshot(root)
    res = put(api, section, data)
    assert res.status_code == 400, res.text
    answer = res.json()
    assert answer["error_id"] == "invalid_input"
    assert answer["message"].strip()
    assert set(answer["details"]) == fields, answer
    for message in answer["details"].values():
        assert isinstance(message, str) and message.strip(), answer
    assert snapshot(root) == before  # same files, bytes, inodes and mtimes
    assert settings_doc(api, section) == before_doc == initial[section]


def test_every_field_has_at_least_three_invalid_values() -> None:
    """The table above refuses every key of every rendered section (and every key of an
    interface, of NAT and of a route) three times or more."""
    from controlplane.sections import SECTIONS
    from controlplane.sections.network import INTERFACE_DEFAULTS

    counts: dict[str, int] = {}
    for param in CASES:
        section, _data, fields = param.values
        for field in fields:
            path = f"{section}:" + re.sub(r"^routes\.\d+", "routes", field)
            counts[path] = counts.get(path, 0) + 1
    wanted = [f"{name}:{key}" for name in ("call", "services", "ports", "time", "syslog")
              for key in SECTIONS[name].defaults]
    wanted += ["network:domain", "network:routes", "network:nat.enabled",
               "network:nat.public_ip"]
    wanted += [f"network:{nic}.{key}" for nic in ("lan", "wan") for key in INTERFACE_DEFAULTS]
    wanted += [f"network:routes.{key}" for key in VALID_ROUTE]
    thin = {path: counts.get(path, 0) for path in wanted if counts.get(path, 0) < 3}
    assert not thin, f"fields with fewer than three invalid values: {thin}"


def test_unknown_key_inside_a_port_range_is_refused(api: Client, root: Path, initial) -> None:
    """{"ivr": {"mn": 31000}} (a typo of "min") must not be a silent no-op."""
    before = snapshot(root)
    res = put(api, "ports", {"ivr": {"mn": 31000}})
    assert res.status_code == 400, res.text
    assert set(res.json()["details"]) & {"ivr", "ivr.mn"}, res.text
    assert snapshot(root) == before
    assert settings_doc(api, "ports") == initial["ports"]


@pytest.mark.parametrize("payload", [b"[1, 2]", b'"x"', b"{not json", b"5060"])
def test_a_body_that_is_not_an_object_is_refused(api: Client, root: Path, initial,
                                                 payload: bytes) -> None:
    before = snapshot(root)
    res = api.put("/api/v1/settings/services", data=payload,
                  headers={"Content-Type": "application/json"})
    assert res.status_code == 400, res.text
    assert res.json()["error_id"] == "invalid_input"
    assert snapshot(root) == before
    assert settings_doc(api, "services") == initial["services"]


# (section, data, field, message as the code gives it: msgid or (msgid, params))
MESSAGES: list[Any] = [
    ("services", {"sip_port": 0}, "sip_port", "A port is a whole number from 1 to 65535."),
    ("syslog", {"host": "x"}, "host", "Unknown field."),
    ("call", {"equal_layout": "8x8"}, "equal_layout",
     ("Choose one of: %(choices)s.", {"choices": "2x2, 3x3, 4x4, 5x5, 6x6, 7x7"})),
    # Conflicts name the other field by its label, a range by its guide name, a reserved
    # port by what uses it (Term: translated with the message).
    ("services", {"sip_tls_port": 5060}, "sip_tls_port",
     ("Already used by the %(other)s.", {"other": Term("SIP UDP/TCP port")})),
    ("services", {"http_port": 8088}, "http_port",
     ("Used by the appliance's %(other)s: choose another port.",
      {"other": Term("MCU service interface")})),
    ("services", {"ssh_port": 40000}, "ssh_port",
     ("Inside the range of the %(range)s (port settings).",
      {"range": Term("TURN service ports")})),
    ("ports", {"ivr": {"min": 30000, "max": 38500}}, "ivr",
     ("Overlaps the range of the %(other)s.", {"other": Term("TURN service ports")})),
    ("ports", {"mcu": {"min": 5061, "max": 6100}}, "mcu",
     ("Contains port %(port)s, set as the %(other)s.",
      {"port": 5061, "other": Term("SIP TLS port")})),
    ("ports", {"turn": {"min": 3000, "max": 4000}}, "turn",
     ("Contains port %(port)s, used by the appliance's %(other)s.",
      {"port": 3478, "other": Term("TURN service")})),
    ("network", {"lan": {"ifname": "bad/name"}}, "lan.ifname", "Choose a NIC from the list."),
    ("ports", {"ivr": {"min": 30000, "max": 30999}}, "ivr",
     "The maximum must exceed the minimum by at least 1000."),
    ("network", {"lan": {**STATIC_LAN, "gateway": "10.0.0.1"}}, "lan.gateway",
     "The gateway must be in the interface's subnet."),
    ("network", {"routes": [VALID_ROUTE]}, "routes",
     "Static routes need both interfaces (LAN and WAN) on."),
    ("time", {"source": "manual"}, "manual_datetime", "Required for manual time."),
    ("time", {"timezone": "Mars/Base"}, "timezone", "Choose a time zone from the list."),
]
CJK = re.compile(r"[\u4e00-\u9fff]")


def in_language(language: str, message: Any) -> str:
    """The message as the API words it: its Term parameters translated too."""
    if isinstance(message, tuple):
        msgid, params = message
        message = (msgid, {k: translate(language, v) if isinstance(v, Term) else v
                           for k, v in params.items()})
    return translate(language, message)


@pytest.mark.parametrize(("section", "data", "field", "message"), MESSAGES,
                         ids=[f"{m[0]}-{m[2]}-{i}" for i, m in enumerate(MESSAGES)])
def test_messages_are_in_the_ui_language(srv: Server, api: Client, section: str,
                                         data: dict[str, Any], field: str,
                                         message: Any) -> None:
    """zh-CN by default (the guide's language), English when the UI is English."""
    res = put(api, section, data)
    assert res.status_code == 400, res.text
    shown = res.json()["details"][field]
    assert shown == in_language("zh_CN", message)
    assert CJK.search(shown), f"not translated to zh-CN: {shown!r}"

    english = srv.client()
    english.cookies.set("vcbox_lang", "en")
    assert english.login().status_code == 200
    res = put(english, section, data)
    assert res.status_code == 400, res.text
    assert res.json()["details"][field] == in_language("en", message)
    # Never an internal key or a bare range name ("sip_port", "turn").
    assert not re.search(r"\b(?:\w+_port|ivr|turn|mcu)\b", shown), shown
    assert english.delete("/api/v1/session").status_code == 200


def test_nothing_was_stored_by_the_refused_changes(api: Client, root: Path, initial) -> None:
    assert all_settings(api) == initial


def test_the_check_route_answers_as_a_put_would_and_changes_nothing(
        api: Client, root: Path, initial) -> None:
    """POST /api/v1/settings/<section>/check (the pages' live re-check of fields marked
    wrong): the same field errors as a PUT, or ok; nothing stored, applied or logged."""
    before = snapshot(root)
    log = api.get("/api/v1/operation-log", params={"limit": 1}).json()["items"]
    bad = api.post("/api/v1/settings/ports/check", json={"ivr": {"min": 30000, "max": 38500}})
    assert bad.status_code == 400, bad.text
    assert set(bad.json()["details"]) == {"ivr", "turn"}
    assert bad.json()["details"] == put(api, "ports", {"ivr": {"min": 30000, "max": 38500}}
                                        ).json()["details"]
    good = api.post("/api/v1/settings/ports/check", json={"ivr": {"min": 31000, "max": 36999}})
    assert good.status_code == 200, good.text
    assert good.json() == {"ok": True, "changed": True, "warnings": {}}
    assert snapshot(root) == before
    assert settings_doc(api, "ports") == initial["ports"]
    after = api.get("/api/v1/operation-log", params={"limit": 1}).json()["items"]
    # Nothing is logged: not the checks, nor the refused PUT (a wrong value is no failed
    # operation).
    assert after == log
