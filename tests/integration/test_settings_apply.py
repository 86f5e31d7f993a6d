"""SPEC §4 ("every setting is real") and DESIGN D3: a settings PUT renders exactly the files
that read the changed setting, runs exactly the actions targets.RULES give for them, and
nothing else; saving unchanged settings touches nothing; restart-class changes need
"confirm": true (the guide's dialog text otherwise); the operation log records the apply;
`python -m controlplane apply` shows and repairs files edited by hand.

The expected files come from the table below, reasoned from what each service does with
a setting (not read off the templates): when a template reads more or less than this
table says, one of the two is wrong and the failure names the file.

One server serves the module (services in local mode, VCBOX_LOCAL_SERVICES=""): config
checks only. Each case puts back what it changed, and checks that doing so gives back
the same files.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from controlplane.apply import words
from controlplane.apply.targets import SERVICE_ORDER
from controlplane.i18n import translate
from tests.conftest import REPO, Client, Server
from tests.integration.settings_cases import (
    RENDERED_SECTIONS,
    changed_paths,
    contents,
    put,
    put_ok,
    settings_doc,
    snapshot,
)

# The guide's confirm dialogs (seed guide ch. 4; SPEC §4.1-4.4).
RESTART_ZH = "该操作会重启视频会议服务，确定操作？"
MCU_ZH = "执行此操作，将会影响 MCU 所有相关服务"
CONFIRM_TEXT = {"network": RESTART_ZH, "services": RESTART_ZH, "ports": RESTART_ZH,
                "time": MCU_ZH}

# -- rendered files (paths under ROOT) -------------------------------------------------
FS = "etc/freeswitch/"
CONFERENCE = FS + "autoload_configs/conference.conf.xml"  # mod_conference profiles
SWITCH = FS + "autoload_configs/switch.conf.xml"          # core: RTP port range (IVR)
VARS = FS + "vars.xml"                                     # global vars: domain, ports, IPs
INTERNAL = FS + "sip_profiles/internal.xml"                # the SIP profile
WEB_PROFILE = FS + "sip_profiles/vcbox_web.xml"             # the browser joins' profile
JANUS = "etc/janus/janus.jcfg"                             # core: RTP range, IPs, NAT 1:1
JANUS_SIP = "etc/janus/janus.plugin.sip.jcfg"              # SIP plugin: its RTP range, IP
TURN = "etc/turnserver.conf"
SITE = "etc/nginx/sites-enabled/vcbox.conf"
SSHD = "etc/ssh/sshd_config"
FIREWALL = "etc/nftables.conf"
CHRONY = "etc/chrony/chrony.conf"
RSYSLOG = "etc/rsyslog.d/60-vcbox-forward.conf"
LAN = "etc/systemd/network/10-vcbox-lan.network"
WAN = "etc/systemd/network/20-vcbox-wan.network"
TIMEZONE = "etc/timezone"
CONTROLPLANE_UNIT = "etc/systemd/system/vcbox-controlplane.service"  # VCBOX_LAN_IF/_WAN_IF
# What drivers leave under ROOT (not rendered): the zone link, the manual-time record.
LOCALTIME = "etc/localtime"
CLOCK_SET = "var/lib/vcbox/clock-set"
DRIVER_FILES = frozenset({LOCALTIME, CLOCK_SET})
# Records that stay when the change is undone (the clock was set; that is history).
STICKY = frozenset({CLOCK_SET})

# The media address follows a static LAN (else WAN) address: every service that binds
# media or advertises it.
MEDIA_IP = {INTERNAL, WEB_PROFILE, VARS, JANUS, JANUS_SIP, TURN}

STATIC_LAN = {"enabled": True, "dhcp": False, "address": "192.168.7.10",
              "netmask": "255.255.255.0", "gateway": "192.168.7.1", "dns1": "192.168.7.2"}
ROUTE = {"destination": "10.20.0.0", "netmask": "255.255.0.0", "gateway": "192.168.7.254",
         "nic": "lan"}
MANUAL_TIME = "2030-05-06T07:08:09"


@dataclass(frozen=True)
class Case:
    id: str
    section: str
    data: dict[str, Any]
    files: frozenset[str]  # every path under ROOT that changes, driver files included
    actions: tuple[str, ...]  # "service verb[ arg]", in any order (the test orders them)
    setup: tuple[tuple[str, dict[str, Any]], ...] = field(default=())

    @property
    def rendered(self) -> set[str]:
        return set(self.files - DRIVER_FILES)


def c(ident: str, section: str, data: dict[str, Any], files: set[str], actions: set[str],
      setup: tuple[tuple[str, dict[str, Any]], ...] = ()) -> Any:
    return pytest.param(Case(ident, section, data, frozenset(files), tuple(actions), setup),
                        id=ident)


FS_RELOAD = "freeswitch reloadxml"
FW_RELOAD = "firewall reload"
FS_PROFILE = "freeswitch profile_restart"  # includes reloadxml
FS_WEB_PROFILE = "freeswitch profile_restart vcbox_web"
FS_RESTART = "freeswitch restart"  # includes every other FreeSWITCH action

CASES = [
    # -- call (C1-C6): mod_conference profiles; rooms in Janus -----------------------------
    c("call-max_video_resolution", "call", {"max_video_resolution": "1080p30"},
      {CONFERENCE}, {FS_RELOAD}),
    # C2: FreeSWITCH 1.10 takes no second stream from SIP terminals (no BFCP): no service
    # config reads it (the call settings page says so next to the field).
    c("call-max_content_resolution", "call", {"max_content_resolution": "720p30"},
      set(), set()),
    c("call-equal_layout", "call", {"equal_layout": "7x7"}, {CONFERENCE}, {FS_RELOAD}),
    c("call-one_plus_n_layout", "call", {"one_plus_n_layout": "1+9"}, {CONFERENCE},
      {FS_RELOAD}),
    # Polling is driven by the control plane over ESL, early join by the live dialplan:
    # no service config reads them; nor the access numbers (the live dialplan).
    c("call-polling_interval_s", "call", {"polling_interval_s": 30}, set(), set()),
    c("call-polling_rule", "call", {"polling_rule": "keep_speaker"}, set(), set()),
    c("call-early_join_min", "call", {"early_join_min": 30}, set(), set()),
    c("call-ivr_number", "call", {"ivr_number": "80000"}, set(), set()),
    c("call-meet_now_number", "call", {"meet_now_number": "80001"}, set(), set()),
    # IVR prompts: the conference's sound prefix and the global default language.
    c("call-ivr_language", "call", {"ivr_language": "en"}, {CONFERENCE, VARS}, {FS_RELOAD}),
    # Uplink (the guide: what the server sends): the mixer's video bandwidth and each
    # call's bandwidth out. Janus rooms are made by the control plane with the caps.
    c("call-max_uplink_kbps", "call", {"max_uplink_kbps": 1024}, {CONFERENCE, VARS},
      {FS_RELOAD}),
    # Downlink (what the server receives): each call's bandwidth in.
    c("call-max_downlink_kbps", "call", {"max_downlink_kbps": 1024}, {VARS}, {FS_RELOAD}),
    # -- network (N1-N4) -------------------------------------------------------------------
    # The SIP realm (profile, vars, conference profile domain) and coturn's realm.
    c("network-domain", "network", {"domain": "meet.example.com"},
      {VARS, INTERNAL, CONFERENCE, TURN}, {FS_PROFILE, "coturn restart"}),
    # N3: FreeSWITCH ext-sip/rtp-ip, Janus nat_1_1_mapping, coturn external-ip.
    c("network-nat", "network", {"nat": {"enabled": True, "public_ip": "203.0.113.10"}},
      {INTERNAL, VARS, JANUS, TURN}, {FS_PROFILE, "janus restart", "coturn restart"}),
    # ... and nginx's HTTP->HTTPS redirect goes to the HTTPS NAT port when HTTPS is on.
    c("network-nat-with-https", "network",
      {"nat": {"enabled": True, "public_ip": "203.0.113.10"}},
      {INTERNAL, VARS, JANUS, TURN, SITE},
      {FS_PROFILE, "janus restart", "coturn restart", "nginx reload"},
      setup=(("services", {"https_enabled": True, "https_nat_port": 8443}),)),
    # A static LAN: its networkd file, and the media address of every media service. The
    # WAN is off: its file does not change.
    c("network-lan-static", "network", {"lan": STATIC_LAN}, {LAN} | MEDIA_IP,
      {"network apply", FS_PROFILE, FS_WEB_PROFILE, "janus restart", "coturn restart"}),
    # With the WAN on DHCP, the static LAN gateway becomes the one default route: the
    # WAN stops taking DHCP's.
    c("network-lan-static-with-wan-on", "network", {"lan": STATIC_LAN}, {LAN, WAN} | MEDIA_IP,
      {"network apply", FS_PROFILE, FS_WEB_PROFILE, "janus restart", "coturn restart"},
      setup=(("network", {"wan": {"enabled": True}}),)),
    c("network-lan-dns", "network", {"lan": {"dns1": "192.168.7.3"}}, {LAN},
      {"network apply"}, setup=(("network", {"lan": STATIC_LAN}),)),
    c("network-wan-on", "network", {"wan": {"enabled": True}}, {WAN}, {"network apply"}),
    # The NIC selector: the interface file matches the chosen NIC, and the control plane's
    # unit names it (VCBOX_LAN_IF).
    c("network-lan-ifname", "network", {"lan": {"ifname": "vc-lan9"}},
      {LAN, CONTROLPLANE_UNIT}, {"network apply"}),
    c("network-route", "network", {"routes": [ROUTE]}, {LAN}, {"network apply"},
      setup=(("network", {"lan": STATIC_LAN, "wan": {"enabled": True}}),)),
    # -- services (P1-P3) ------------------------------------------------------------------
    c("services-http_port", "services", {"http_port": 8081}, {SITE, FIREWALL},
      {"nginx reload", FW_RELOAD}),
    # The NAT ports are the ports of the NAT device: nothing listens on them, and they
    # matter only with NAT on (the https redirect, above).
    c("services-http_nat_port", "services", {"http_nat_port": 8000}, set(), set()),
    c("services-https_nat_port-without-nat", "services", {"https_nat_port": 8443}, set(),
      set(), setup=(("services", {"https_enabled": True}),)),
    c("services-https_nat_port-with-nat", "services", {"https_nat_port": 8443}, {SITE},
      {"nginx reload"},
      setup=(("services", {"https_enabled": True}),
             ("network", {"nat": {"enabled": True, "public_ip": "203.0.113.10"}}))),
    c("services-https_enabled", "services", {"https_enabled": True}, {SITE, FIREWALL},
      {"nginx reload", FW_RELOAD}),
    c("services-https_port", "services", {"https_port": 8443}, {SITE, FIREWALL},
      {"nginx reload", FW_RELOAD}, setup=(("services", {"https_enabled": True}),)),
    c("services-https_port-while-off", "services", {"https_port": 8443}, set(), set()),
    c("services-ssh_enabled", "services", {"ssh_enabled": False}, {SSHD, FIREWALL},
      {"ssh reload", FW_RELOAD}),
    c("services-ssh_port", "services", {"ssh_port": 2222}, {SSHD, FIREWALL},
      {"ssh reload", FW_RELOAD}),
    c("services-sip_port", "services", {"sip_port": 5070}, {INTERNAL, VARS, FIREWALL},
      {FS_PROFILE, FW_RELOAD}),
    c("services-sip_tls_port", "services", {"sip_tls_port": 5071}, {INTERNAL, VARS, FIREWALL},
      {FS_PROFILE, FW_RELOAD}),
    # -- ports (P4) ------------------------------------------------------------------------
    # FreeSWITCH reads its RTP range only when it starts.
    # The firewall opens each range (and nothing else) for UDP.
    c("ports-ivr", "ports", {"ivr": {"min": 31000, "max": 36999}}, {SWITCH, FIREWALL},
      {FS_RESTART, FW_RELOAD}),
    c("ports-turn", "ports", {"turn": {"min": 40000, "max": 48999}}, {TURN, FIREWALL},
      {"coturn restart", FW_RELOAD}),
    c("ports-mcu", "ports", {"mcu": {"min": 50000, "max": 58999}}, {JANUS, JANUS_SIP, FIREWALL},
      {"janus restart", FW_RELOAD}),
    # -- time (T1) -------------------------------------------------------------------------
    c("time-timezone", "time", {"timezone": "Asia/Tokyo"}, {TIMEZONE, LOCALTIME},
      {"clock timezone"}),
    # DST off is the zone's standard offset all year (Etc/GMT-1 for Berlin) ...
    c("time-dst", "time", {"dst": "auto"}, {TIMEZONE, LOCALTIME}, {"clock timezone"},
      setup=(("time", {"timezone": "Europe/Berlin"}),)),
    # ... which, in a zone without DST, is the zone itself.
    c("time-dst-in-a-zone-without-dst", "time", {"dst": "auto"}, set(), set()),
    c("time-sntp_server", "time", {"sntp_server": "ntp.example.com"}, {CHRONY},
      {"chrony restart"}),
    c("time-source-manual", "time", {"source": "manual", "manual_datetime": MANUAL_TIME},
      {CHRONY, CLOCK_SET}, {"chrony restart", f"clock set_time {MANUAL_TIME}"}),
    c("time-manual_datetime", "time", {"manual_datetime": "2031-01-02T03:04:05"},
      {CLOCK_SET}, {"clock set_time 2031-01-02T03:04:05"},
      setup=(("time", {"source": "manual", "manual_datetime": MANUAL_TIME}),)),
    # -- syslog (O1) -----------------------------------------------------------------------
    c("syslog-server", "syslog", {"server": "syslog.example.com"}, {RSYSLOG},
      {"rsyslog restart"}),
    c("syslog-port", "syslog", {"port": 1514}, {RSYSLOG}, {"rsyslog restart"},
      setup=(("syslog", {"server": "syslog.example.com"}),)),
    c("syslog-port-without-server", "syslog", {"port": 1514}, set(), set()),
    c("syslog-transport", "syslog", {"transport": "tcp"}, {RSYSLOG}, {"rsyslog restart"},
      setup=(("syslog", {"server": "syslog.example.com"}),)),
    c("syslog-server-off", "syslog", {"server": ""}, {RSYSLOG}, {"rsyslog restart"},
      setup=(("syslog", {"server": "syslog.example.com"}),)),
]


# The server: fixtures srv, api, root and initial (one server per module) are in
# tests/integration/conftest.py.


def ordered(actions: tuple[str, ...] | list[str]) -> list[str]:
    """Actions in the order commit runs them (targets.SERVICE_ORDER, then the verb)."""
    rank = {name: i for i, name in enumerate(SERVICE_ORDER)}
    return sorted(actions, key=lambda a: (rank.get(a.split()[0], len(rank)), a.split()[1], a))


def oplog(api: Client, limit: int = 5) -> list[dict[str, Any]]:
    res = api.get("/api/v1/operation-log", params={"limit": limit})
    assert res.status_code == 200, res.text
    return res.json()["items"]


# -- the tests -------------------------------------------------------------------------

def test_the_table_covers_every_setting() -> None:
    """Each key of call, services, ports, time and syslog (and domain, NAT, LAN, WAN and
    routes of network) is changed by at least one case."""
    from controlplane.sections import SECTIONS

    covered = {(p.values[0].section, key) for p in CASES for key in p.values[0].data}
    wanted = {(name, key) for name in ("call", "services", "ports", "time", "syslog")
              for key in SECTIONS[name].defaults}
    wanted |= {("network", key) for key in ("domain", "nat", "lan", "wan", "routes")}
    assert wanted <= covered, sorted(wanted - covered)


@pytest.mark.parametrize("case", CASES)
def test_a_change_renders_its_files_and_runs_its_actions(api: Client, root: Path,
                                                         case: Case) -> None:
    start = snapshot(root)
    originals: dict[str, dict[str, Any]] = {}
    try:
        for section, data in case.setup:
            originals.setdefault(section, settings_doc(api, section))
            put_ok(api, section, data)
        originals.setdefault(case.section, settings_doc(api, case.section))
        before_doc = settings_doc(api, case.section)
        before = snapshot(root)

        if case.section in CONFIRM_TEXT:
            res = put(api, case.section, case.data, confirm=False)
            assert res.status_code == 409, res.text
            assert res.json()["error_id"] == "confirm_required"
            assert snapshot(root) == before
            assert settings_doc(api, case.section) == before_doc

        res = put(api, case.section, case.data)
        assert res.status_code == 200, res.text
        answer = res.json()
        after = snapshot(root)
        applied = answer["applied"]

        assert changed_paths(before, after) == set(case.files)
        assert sorted(applied["files"]) == sorted(case.rendered)
        assert [a["action"] for a in applied["actions"]] == ordered(case.actions)
        for action in applied["actions"]:
            # Every service has a driver: a change never silently stays in a file.
            assert action["result"].strip(), action
            assert action["result"] != "skipped: no driver", action
        # What did not change was not rewritten either (same inode and mtime).
        for path in after.keys() - case.files:
            assert after[path] == before[path], path
        # Stored, and shown as stored.
        stored = settings_doc(api, case.section)
        assert stored == {k: v for k, v in answer.items() if k in stored}
        assert stored != before_doc
    finally:
        for section, doc in reversed(originals.items()):
            put_ok(api, section, doc)
    # Putting the settings back gives back the same files.
    end = snapshot(root)
    assert changed_paths(start, end) - STICKY == set()


@pytest.mark.parametrize(("section", "data"), [
    ("network", {"domain": "meet.example.com"}),
    ("services", {"ssh_port": 2222}),
    ("ports", {"turn": {"min": 40000, "max": 48999}}),
    ("time", {"sntp_server": "ntp.example.com"}),
])
def test_a_restart_class_change_needs_confirm(api: Client, root: Path, initial,
                                              section: str, data: dict[str, Any]) -> None:
    """409 confirm_required with the guide's dialog text, and nothing changed."""
    before = snapshot(root)
    for body in (data, {**data, "confirm": False}, {**data, "confirm": "true"}):
        res = api.put(f"/api/v1/settings/{section}", json=body)
        assert res.status_code == 409, res.text
        answer = res.json()
        assert answer["error_id"] == "confirm_required"
        assert answer["message"] == CONFIRM_TEXT[section]
        assert snapshot(root) == before
        assert settings_doc(api, section) == initial[section]


@pytest.mark.parametrize("section", RENDERED_SECTIONS)
def test_saving_unchanged_settings_touches_nothing(api: Client, root: Path, initial,
                                                   section: str) -> None:
    """The GET answer PUT back as it is (no confirm needed: nothing restarts), the same
    values with confirm, and one key with its own value: no file written, no action."""
    before = snapshot(root)
    log_before = oplog(api, 1)
    shown = api.get(f"/api/v1/settings/{section}").json()
    key = next(iter(initial[section]))
    for body in (shown, {**initial[section], "confirm": True},
                 {key: initial[section][key]}):
        res = api.put(f"/api/v1/settings/{section}", json=body)
        assert res.status_code == 200, res.text
        assert res.json()["applied"] == {"files": [], "actions": []}
        assert res.json()["message"] == translate("zh_CN", "Nothing changed.")
    assert snapshot(root) == before  # same bytes, inodes and mtimes
    assert settings_doc(api, section) == initial[section]
    # Audited as settings updates, but no apply ran.
    new = oplog(api, 10)
    new = new[:next((i for i, e in enumerate(new) if e["id"] == log_before[0]["id"]),
                    len(new))]
    assert [e["action"] for e in new] == ["update_settings"] * 3


def test_the_operation_log_records_the_update_and_the_apply(api: Client, initial) -> None:
    answer = put_ok(api, "services", {"ssh_port": 2222})
    try:
        items = oplog(api, 2)
        assert [i["action"] for i in items] == ["update_settings", "apply"]
        update, apply = items
        assert update["result"] == apply["result"] == "success"
        assert update["target"] == apply["target"] == "services"
        assert update["username"] == apply["username"] == "admin"
        assert update["ip"] == apply["ip"] == "127.0.0.1"
        # The apply entry says what ran and how it ended, in words (zh-CN here), and
        # which files changed; the page's toast says it shortly.
        for action in answer["applied"]["actions"]:
            service = translate("zh_CN", words.SERVICES[action["action"].split()[0]])
            assert service in apply["detail"], apply["detail"]
        assert "ssh reload" not in apply["detail"]
        # The files are the technical details, apart from the sentences.
        assert apply["detail_technical"].splitlines() == answer["applied"]["files"]
        assert not any(f in apply["detail"] for f in answer["applied"]["files"])
        assert answer["message"].startswith("已保存"), answer["message"]
    finally:
        put_ok(api, "services", initial["services"])


def test_a_refused_change_or_a_confirm_prompt_is_no_failed_entry(api: Client,
                                                                 initial) -> None:
    """A wrong value (400: the page marks the field) and the guide's confirm question (409:
    the page asks, then sends it again) are not failed operations: no entry, no apply."""
    before = oplog(api, 3)
    assert put(api, "services", {"sip_port": 5061}).status_code == 400
    refused = put(api, "services", {"ssh_port": 2222}, confirm=False)
    assert refused.status_code == 409
    assert oplog(api, 3) == before
    assert settings_doc(api, "services") == initial["services"]


def test_a_heavy_content_resolution_warns(api: Client, initial) -> None:
    """C2: above 1080P/5FPS the answer carries a performance warning (the value is stored;
    no FreeSWITCH file reads it: no BFCP in FreeSWITCH 1.10)."""
    answer = put_ok(api, "call", {"max_content_resolution": "1080p15"})
    try:
        assert set(answer["warnings"]) == {"max_content_resolution"}
        assert answer["warnings"]["max_content_resolution"].strip()
        assert answer["applied"]["files"] == []
    finally:
        put_ok(api, "call", initial["call"])
    assert put_ok(api, "call", {"max_content_resolution": "720p30"})["warnings"] == {}
    put_ok(api, "call", initial["call"])


# -- python -m controlplane apply (last: it stops the server) --------------------------

def cli(srv: Server, *args: str) -> subprocess.CompletedProcess[str]:
    env = srv.environment()
    return subprocess.run([sys.executable, "-m", "controlplane", "apply", *args], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=120, check=False)


def test_apply_command_shows_and_repairs_hand_edits(srv: Server, root: Path) -> None:
    srv.stop()
    try:
        pristine = snapshot(root)
        assert cli(srv, "--dry-run").stdout == "# nothing to change\n"
        # Edit one file and delete another, by hand.
        edited, deleted = root / SSHD, root / CHRONY
        original = edited.read_text()
        edited.write_text(original.replace("\n", "\nPermitRootLogin yes\n", 1))
        deleted.unlink()
        tampered = snapshot(root)

        dry = cli(srv, "--dry-run")
        assert dry.returncode == 0, dry.stderr
        out = dry.stdout
        assert f"--- a/{SSHD}\n+++ b/{SSHD}\n" in out
        assert "\n-PermitRootLogin yes\n" in out
        assert f"--- /dev/null\n+++ b/{CHRONY}\n" in out
        assert "# actions: chrony restart, ssh reload\n" in out
        assert snapshot(root) == tampered  # a dry run writes nothing

        done = cli(srv)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "2 file(s) changed; ok" in done.stdout
        assert "chrony restart: " in done.stdout and "ssh reload: " in done.stdout
        assert contents(snapshot(root)) == contents(pristine)
        assert cli(srv, "--dry-run").stdout == "# nothing to change\n"
    finally:
        srv.start()
