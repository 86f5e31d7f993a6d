"""FreeSWITCH's rendered configuration (templates/etc/freeswitch), checked by parsing.

FreeSWITCH is neither in Debian nor on PyPI, so its configs cannot be loaded here: they
are rendered by the real apply engine from real settings, parsed as XML, every parameter
name is checked against what FreeSWITCH reads (tests/unit/freeswitch_params.py), and each
setting is followed to the place FreeSWITCH takes it from.
"""

from __future__ import annotations

import fnmatch
import posixpath
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from controlplane.app import Services
from controlplane.apply.render import environment, template_names
from controlplane.config import Config
from controlplane.web.api_freeswitch import FIELDS
from tests.unit import freeswitch_params as known

BASE = "etc/freeswitch/"
FILES = {
    "freeswitch.xml", "vars.xml", "sip_profiles/internal.xml", "sip_profiles/vcbox_web.xml",
    *(path for path in known.CONFIGURATION_NAMES),
}


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    data = tmp_path_factory.mktemp("fs")
    services = Services.open(Config(data_dir=data / "data", root=data / "root"))
    yield services
    services.close()


def context(app: Services, **sections: Mapping[str, Any]) -> dict[str, Any]:
    """The template context with some settings changed, each change validated as a PUT."""
    overrides: dict[str, dict[str, Any]] = {}
    for name, data in sections.items():
        overrides[name] = app.settings.prepare(name, data, overrides).new
    return app.applier.context(overrides)


def render(ctx: Mapping[str, Any]) -> dict[str, str]:
    """The FreeSWITCH files the apply engine renders: {path under etc/freeswitch/: text}."""
    env = environment()
    return {name[len(BASE):]: env.get_template(name).render(ctx)
            for name in template_names() if name.startswith(BASE)}


def parse(ctx: Mapping[str, Any]) -> dict[str, ET.Element]:
    return {path: ET.fromstring(text) for path, text in render(ctx).items()}


REPEATABLE = {"enable-post-var"}  # one param per posted field


def params(root: ET.Element, where: str = ".//param") -> dict[str, str]:
    found: dict[str, str] = {}
    for param in root.iterfind(where):
        if param.get("name") in REPEATABLE:
            continue
        assert param.get("name") not in found, f"{param.get('name')} set twice"
        found[param.get("name", "")] = param.get("value", "")
    return found


def global_vars(root: ET.Element) -> dict[str, str]:
    """vars.xml's X-PRE-PROCESS set key=value pairs."""
    found = {}
    for node in root.iter("X-PRE-PROCESS"):
        if node.get("cmd") == "set":
            key, _, value = node.get("data", "").partition("=")
            found[key] = value
    return found


def profile(doc: ET.Element, name: str) -> dict[str, str]:
    node = doc.find(f"./profiles/profile[@name='{name}']")
    assert node is not None, f"no conference profile {name}"
    return params(node, "./param")


def unknown_params(path: str, root: ET.Element) -> list[str]:
    """Parameter names FreeSWITCH would not read (silently ignored typos), as place: name."""
    places = known.PARAMS.get(path, {})
    checked: set[int] = set()
    bad = []
    for where, names in places.items():
        for param in root.iterfind(where):
            checked.add(id(param))
            if param.get("name") not in names:
                bad.append(f"{where}: {param.get('name')}")
    bad += [f"unexpected place: {p.get('name')}" for p in root.iter("param")
            if id(p) not in checked]
    return bad


@dataclass(frozen=True)
class Slot:
    x: int
    y: int
    scale: int
    floor: bool

    def overlaps(self, other: Slot) -> bool:
        return (self.x < other.x + other.scale and other.x < self.x + self.scale
                and self.y < other.y + other.scale and other.y < self.y + self.scale)


def layouts(doc: ET.Element) -> dict[str, list[Slot]]:
    return {layout.get("name", ""): [
        Slot(int(i.get("x", "-1")), int(i.get("y", "-1")), int(i.get("scale", "-1")),
             i.get("floor") == "true") for i in layout.iter("image")]
        for layout in doc.iterfind("./layout-settings/layouts/layout")}


# -- the files as a whole -------------------------------------------------------------------

def test_every_file_renders_to_well_formed_xml(services: Services) -> None:
    texts = render(services.applier.context())
    assert set(texts) == FILES
    for path, text in texts.items():
        root = ET.fromstring(text)  # raises on anything malformed
        # Only the top document may carry an XML declaration: the others are included.
        assert text.lstrip().startswith("<?xml") == (path == "freeswitch.xml"), path
        if path in known.CONFIGURATION_NAMES:
            assert root.tag == "configuration"
            assert root.get("name") == known.CONFIGURATION_NAMES[path], path


def test_includes_resolve_to_rendered_files(services: Services) -> None:
    """FreeSWITCH resolves a relative include against the including file's folder."""
    docs = parse(services.applier.context())
    included: set[str] = set()
    for path, root in docs.items():
        for node in root.iter("X-PRE-PROCESS"):
            assert node.get("cmd") in known.PRE_PROCESS_COMMANDS
            if node.get("cmd") == "include":
                pattern = posixpath.normpath(
                    posixpath.join(posixpath.dirname(path), node.get("data", "")))
                matches = fnmatch.filter(docs, pattern)
                assert matches, f"{path}: include {node.get('data')} matches nothing"
                included.update(matches)
    # every file is reachable from freeswitch.xml (nothing rendered for nobody)
    assert included | {"freeswitch.xml"} == set(docs)


def test_every_parameter_is_one_freeswitch_reads(services: Services) -> None:
    docs = parse(services.applier.context())
    for path, root in docs.items():
        assert unknown_params(path, root) == [], path
    assert set(global_vars(docs["vars.xml"])) <= known.VARS
    assert not [n for n in params(docs["sip_profiles/internal.xml"]) if n.startswith("NDLB")]
    conference = docs["autoload_configs/conference.conf.xml"]
    for node in conference.iterfind("./profiles/profile"):
        flags = params(node, "./param").get("conference-flags", "")
        assert set(filter(None, flags.split("|"))) <= known.CONFERENCE_FLAGS
    actions = {c.get("action") for c in conference.iter("control")}
    assert actions and actions <= known.CONFERENCE_CONTROLS
    modules = [m.get("module") for m in docs["autoload_configs/modules.conf.xml"].iter("load")]
    assert set(modules) <= known.MODULES
    assert len(modules) == len(set(modules))


@pytest.mark.parametrize(("path", "xml", "typo"), [
    ("sip_profiles/internal.xml",
     '<profile><settings><param name="sip_port" value="5060"/></settings></profile>',
     "sip_port"),
    ("autoload_configs/switch.conf.xml",
     '<configuration><settings><param name="rtp-start" value="1"/></settings></configuration>',
     "rtp-start"),
    ("autoload_configs/conference.conf.xml",
     '<configuration><profiles><profile><param name="video-canvas" value="1x1"/></profile>'
     "</profiles></configuration>", "video-canvas"),
])
def test_the_parameter_check_catches_typos(path: str, xml: str, typo: str) -> None:
    assert unknown_params(path, ET.fromstring(xml)) == [
        f"{next(iter(known.PARAMS[path]))}: {typo}"]


def test_the_modules_vcbox_needs_are_loaded(services: Services) -> None:
    doc = parse(services.applier.context())["autoload_configs/modules.conf.xml"]
    modules = {m.get("module") for m in doc.iter("load")}
    assert {"mod_sofia", "mod_event_socket", "mod_xml_curl", "mod_json_cdr", "mod_conference",
            "mod_commands", "mod_dptools", "mod_dialplan_xml", "mod_opus", "mod_av",
            "mod_say_en", "mod_say_zh", "mod_logfile"} <= modules
    # a module whose configuration it refuses to start without has one
    configs = set(known.CONFIGURATION_NAMES.values())
    assert {"opus.conf", "avcodec.conf", "logfile.conf"} <= configs


def test_no_absolute_path_leaves_the_root(services: Services) -> None:
    ctx = services.applier.context()
    prefix = ctx["vcbox_prefix"]
    assert prefix == str(services.config.root)  # a temp ROOT: every path must carry it
    paths = []
    for path, root in parse(ctx).items():
        for node in root.iter():
            values = [*node.attrib.values(), node.text or ""]
            if node.tag == "X-PRE-PROCESS":
                values = [node.get("data", "").partition("=")[2]]
            for value in values:
                value = value.strip()
                if value.startswith("/"):
                    paths.append((path, value))
                    assert value.startswith(prefix + "/"), f"{path}: {value}"
    # the check saw the paths it is about: logs, databases, certificates
    seen = {value for _, value in paths}
    for tail in ("/var/log/freeswitch/json_cdr", "/var/log/freeswitch/freeswitch.log",
                 "/var/lib/freeswitch/db/core.db", "/etc/vcbox/tls"):
        assert prefix + tail in seen


def test_the_plan_writes_the_files_and_restarts_freeswitch(services: Services) -> None:
    plan = services.applier.plan()
    paths = {f.path for f in plan.files}
    assert {BASE + path for path in FILES} <= paths
    # a first render includes switch.conf.xml: a restart, which reads everything again
    assert [str(a) for a in plan.actions if a.service == "freeswitch"] == [
        "freeswitch restart"]


# -- each setting where FreeSWITCH reads it ------------------------------------------------

@pytest.mark.parametrize(("sip", "tls"), [(5060, 5061), (5070, 6071)])
def test_sip_ports_reach_the_profile(services: Services, sip: int, tls: int) -> None:
    docs = parse(context(services, services={"sip_port": sip, "sip_tls_port": tls}))
    sofia = params(docs["sip_profiles/internal.xml"])
    assert (sofia["sip-port"], sofia["tls-sip-port"], sofia["tls"]) == (str(sip), str(tls),
                                                                       "true")
    assert global_vars(docs["vars.xml"])["internal_sip_port"] == str(sip)
    assert global_vars(docs["vars.xml"])["internal_tls_port"] == str(tls)


@pytest.mark.parametrize(("low", "high", "sessions"), [(30000, 37999, 1333),
                                                       (20000, 21199, 200)])
def test_the_ivr_range_is_the_rtp_range(services: Services, low: int, high: int,
                                        sessions: int) -> None:
    doc = parse(context(services, ports={"ivr": {"min": low, "max": high}}))[
        "autoload_configs/switch.conf.xml"]
    core = params(doc)
    assert (core["rtp-start-port"], core["rtp-end-port"]) == (str(low), str(high))
    assert core["max-sessions"] == str(sessions)  # 6 ports a call


def test_a_static_lan_address_is_where_sip_and_rtp_bind(services: Services) -> None:
    lan = {"dhcp": False, "address": "192.0.2.10", "netmask": "255.255.255.0"}
    sofia = params(parse(context(services, network={"lan": lan}))["sip_profiles/internal.xml"])
    assert sofia["sip-ip"] == sofia["rtp-ip"] == "192.0.2.10"
    assert sofia["ext-sip-ip"] == sofia["ext-rtp-ip"] == "192.0.2.10"


@pytest.mark.parametrize("nat", [{"enabled": True, "public_ip": "203.0.113.7"},
                                 {"enabled": False, "public_ip": "203.0.113.7"}])
def test_static_nat_gives_the_public_address(services: Services, nat: dict) -> None:
    ctx = context(services, network={"nat": nat})
    docs = parse(ctx)
    sofia = params(docs["sip_profiles/internal.xml"])
    expected = "203.0.113.7" if nat["enabled"] else ctx["vcbox_media_ip"]
    assert sofia["ext-sip-ip"] == sofia["ext-rtp-ip"] == expected
    assert sofia["sip-ip"] == sofia["rtp-ip"] == ctx["vcbox_media_ip"]
    assert sofia["local-network-acl"] == "localnet.auto"  # LAN peers get the local address
    gvars = global_vars(docs["vars.xml"])
    assert gvars["external_sip_ip"] == gvars["external_rtp_ip"] == expected
    if not nat["enabled"]:
        assert "203.0.113.7" not in "".join(render(ctx).values())


def test_the_domain_is_the_realm_everywhere(services: Services) -> None:
    docs = parse(context(services, network={"domain": "meet.example.com"}))
    assert global_vars(docs["vars.xml"])["domain"] == "meet.example.com"
    sofia = params(docs["sip_profiles/internal.xml"])
    assert sofia["force-register-domain"] == "meet.example.com"
    assert sofia["force-register-db-domain"] == "meet.example.com"
    assert sofia["challenge-realm"] == "auto_from"
    assert sofia["auth-calls"] == "true"
    assert "apply-inbound-acl" not in sofia  # no address skips authentication
    conference = docs["autoload_configs/conference.conf.xml"]
    for name in ("default", "one_plus_n"):
        assert profile(conference, name)["domain"] == "meet.example.com"


def test_tls_uses_the_appliance_certificate_folder(services: Services) -> None:
    ctx = services.applier.context()
    sofia = params(parse(ctx)["sip_profiles/internal.xml"])
    assert sofia["tls-cert-dir"] == str(Path(ctx["vcbox_tls_cert"]).parent)


@pytest.mark.parametrize(("resolution", "size"), [
    ("1080p30", "1920x1080"), ("720p30", "1280x720"), ("360p30", "640x360"),
    ("4cif", "704x576"), ("cif", "352x288")])
def test_max_video_resolution_is_the_canvas(services: Services, resolution: str,
                                            size: str) -> None:
    doc = parse(context(services, call={"max_video_resolution": resolution}))[
        "autoload_configs/conference.conf.xml"]
    for name in ("default", "one_plus_n"):
        conf = profile(doc, name)
        assert conf["video-mode"] == "mux"
        assert (conf["video-canvas-size"], conf["video-fps"]) == (size, "30")
        width, height = (int(v) for v in size.split("x"))
        assert width >= 320 and height >= 180  # FreeSWITCH's floor for a canvas


@pytest.mark.parametrize("resolution", ["1080p30", "1080p5", "720p15"])
def test_max_content_resolution_renders_no_mixer_it_cannot_feed(services: Services,
                                                                resolution: str) -> None:
    """C2: FreeSWITCH 1.10 takes no second video stream from SIP terminals (no BFCP), so
    no content mixer is rendered and the people canvas keeps the video resolution."""
    doc = parse(context(services, call={"max_content_resolution": resolution}))[
        "autoload_configs/conference.conf.xml"]
    assert [p.get("name") for p in doc.iter("profile")] == ["default", "one_plus_n"]
    assert profile(doc, "default")["video-canvas-size"] == "1280x720"


@pytest.mark.parametrize("layout", [f"{n}x{n}" for n in range(2, 8)])
def test_the_equal_layout_is_the_default_layout(services: Services, layout: str) -> None:
    docs = parse(context(services, call={"equal_layout": layout}))
    conf = profile(docs["autoload_configs/conference.conf.xml"], "default")
    assert conf["video-layout-name"] == layout
    n = int(layout[0])
    assert len(layouts(docs["autoload_configs/conference_layouts.conf.xml"])[layout]) == n * n


@pytest.mark.parametrize(("setting", "name"), [("1+5", "1up_top_left+5"),
                                               ("1+7", "1up_top_left+7"),
                                               ("1+9", "1up_top_left+9")])
def test_the_one_plus_n_layout(services: Services, setting: str, name: str) -> None:
    docs = parse(context(services, call={"one_plus_n_layout": setting}))
    conf = profile(docs["autoload_configs/conference.conf.xml"], "one_plus_n")
    assert conf["video-layout-name"] == name
    assert name in layouts(docs["autoload_configs/conference_layouts.conf.xml"])


def test_layout_geometry(services: Services) -> None:
    doc = parse(services.applier.context())["autoload_configs/conference_layouts.conf.xml"]
    every = layouts(doc)
    for layout in doc.iterfind("./layout-settings/layouts/layout"):
        assert set(layout.attrib) <= known.LAYOUT_ATTRS
        for image in layout.iter("image"):
            assert set(image.attrib) <= known.IMAGE_ATTRS
    for name, slots in every.items():
        for i, slot in enumerate(slots):
            assert slot.x >= 0 and slot.y >= 0 and slot.scale > 0, name
            assert slot.x + slot.scale <= 360 and slot.y + slot.scale <= 360, name
            assert not [other for other in slots[i + 1:] if slot.overlaps(other)], name
    for n in range(1, 8):
        grid = every[f"{n}x{n}"]
        assert len(grid) == n * n
        assert len({s.scale for s in grid}) == 1
        # the grid fills the canvas but for whole-unit rounding (7x7: 51 units a slot)
        assert 360 - n * grid[0].scale < n
    assert every["7x7"][0].scale == 51
    for n in (5, 7, 9):
        slots = every[f"1up_top_left+{n}"]
        assert len(slots) == n + 1
        floors = [s for s in slots if s.floor]
        assert len(floors) == 1 and (floors[0].x, floors[0].y) == (0, 0)
        assert all(floors[0].scale > s.scale for s in slots if not s.floor)
        # the small slots and the floor tile the whole canvas
        assert sum(s.scale ** 2 for s in slots) == 360 ** 2
    groups = {g.get("name"): [node.text for node in g.iter("layout")]
              for g in doc.iterfind("./layout-settings/groups/group")}
    assert groups["grid"] == [f"{n}x{n}" for n in range(1, 8)]
    assert groups["1up_top_left_plus"] == [f"1up_top_left+{n}" for n in (5, 7, 9)]
    assert all(name in every for names in groups.values() for name in names)


@pytest.mark.parametrize("language", ["zh", "en"])
def test_the_ivr_language_picks_the_prompts(services: Services, language: str) -> None:
    # vcbox's own prompts (controlplane/prompts.py), linked at $${sounds_dir}/vcbox
    docs = parse(context(services, call={"ivr_language": language}))
    gvars = global_vars(docs["vars.xml"])
    assert gvars["default_language"] == language
    assert gvars["sound_prefix"] == f"$${{sounds_dir}}/vcbox/{language}"
    conference = docs["autoload_configs/conference.conf.xml"]
    assert profile(conference, "default")["sound-prefix"] == f"$${{sounds_dir}}/vcbox/{language}"
    say = {m.get("module") for m in docs["autoload_configs/modules.conf.xml"].iter("load")}
    assert f"mod_say_{language}" in say


@pytest.mark.parametrize(("uplink", "downlink"), [(2048, 2048), (4096, 512), (128, 1536)])
def test_bandwidth_caps(services: Services, uplink: int, downlink: int) -> None:
    docs = parse(context(services, call={"max_uplink_kbps": uplink,
                                         "max_downlink_kbps": downlink}))
    gvars = global_vars(docs["vars.xml"])
    # FreeSWITCH reads a bare number or "kb" as kbit/s (switch_parse_bandwidth_string)
    # the guide: uplink = what the server sends, downlink = what it receives
    assert gvars["rtp_video_max_bandwidth_out"] == f"{uplink}kb"
    assert gvars["rtp_video_max_bandwidth_in"] == f"{downlink}kb"
    conference = docs["autoload_configs/conference.conf.xml"]
    for name in ("default", "one_plus_n"):
        assert profile(conference, name)["video-codec-bandwidth"] == f"{uplink}kb"


def test_esl_listens_on_loopback_with_the_generated_password(services: Services) -> None:
    ctx = services.applier.context()
    esl = params(parse(ctx)["autoload_configs/event_socket.conf.xml"])
    assert esl["listen-ip"] == "127.0.0.1" and esl["listen-port"] == "8021"
    assert esl["password"] == ctx["vcbox_esl_password"] != "ClueCon"
    assert len(esl["password"]) >= 24
    assert esl["apply-inbound-acl"] == "loopback.auto"


def test_xml_curl_and_json_cdr_reach_the_control_plane(services: Services) -> None:
    ctx = services.applier.context()
    docs = parse(ctx)
    binding = docs["autoload_configs/xml_curl.conf.xml"].find("./bindings/binding")
    assert binding is not None
    url = binding.find("./param[@name='gateway-url']")
    assert url is not None
    assert url.get("value") == ctx["vcbox_controlplane_url"] + "/freeswitch/xml"
    # configuration comes from the rendered files (a lookup per conference join else)
    assert set(url.get("bindings", "").split("|")) == {"directory", "dialplan"}
    curl = params(binding, "./param")
    creds = f"{ctx['vcbox_xml_curl_user']}:{ctx['vcbox_xml_curl_password']}"
    assert (curl["gateway-credentials"], curl["auth-scheme"]) == (creds, "basic")
    assert int(curl["timeout"]) > 0
    # FreeSWITCH posts only the fields the answers read (section and key_value always)
    posted = {p.get("value") for p in binding.findall("./param[@name='enable-post-var']")}
    assert posted | {"section", "key_value"} == FIELDS
    cdr = params(docs["autoload_configs/json_cdr.conf.xml"])
    assert cdr["url"] == ctx["vcbox_directory_url"] + "/freeswitch/cdr"
    # the JSON as the body, its values plain (not url-encoded twice over)
    assert (cdr["encode"], cdr["encode-values"]) == ("false", "false")
    assert (cdr["cred"], cdr["auth-scheme"]) == (creds, "basic")
    assert cdr["err-log-dir"] == ctx["vcbox_prefix"] + "/var/log/freeswitch/json_cdr"
    assert cdr["log-errors-to-disk"] == "true" and cdr["log-b-leg"] == "false"


def test_xml_specials_in_values_are_escaped(services: Services) -> None:
    """Secrets come from the store; whatever they hold, the XML stays whole and FreeSWITCH
    reads back the exact value."""
    ctx = services.applier.context()
    nasty = 'a&b<c>"d\'e'
    ctx.update(vcbox_esl_password=nasty, vcbox_xml_curl_password=nasty)
    texts = render(ctx)
    assert nasty not in texts["autoload_configs/event_socket.conf.xml"]
    docs = {path: ET.fromstring(text) for path, text in texts.items()}
    assert params(docs["autoload_configs/event_socket.conf.xml"])["password"] == nasty
    curl = params(docs["autoload_configs/xml_curl.conf.xml"])
    assert curl["gateway-credentials"] == f"{ctx['vcbox_xml_curl_user']}:{nasty}"
    assert params(docs["autoload_configs/json_cdr.conf.xml"])["cred"].endswith(nasty)
