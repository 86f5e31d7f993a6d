"""The apply engine on its own: plan is pure, commit writes atomically, runs each action
once in order, and puts the previous files back when an action fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.apply import Applier, ApplyFailed
from controlplane.apply.plan import make_plan
from controlplane.apply.targets import Action, order
from controlplane.config import Config
from controlplane.drivers.services import ActionFailed
from controlplane.oplog import OperationLog, Query
from controlplane.settings import Settings
from controlplane.store import Documents, History


class Recorder:
    """A driver that records its calls and refuses the verbs it is told to."""

    def __init__(self, service: str, log: list[str], fail_on: set[str] | None = None) -> None:
        self.service, self.log, self.fail_on = service, log, fail_on or set()

    def run(self, verb: str, arg: str = "") -> str:
        self.log.append(f"{self.service} {verb}")
        if verb in self.fail_on:
            raise ActionFailed(self.service, verb, f"{self.service} refused the config")
        return "done"

    def status(self) -> str:
        return "ok"


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    """A small template tree: what the engine renders does not depend on the real one."""
    root = tmp_path / "templates"
    files = {
        "etc/freeswitch/sip_profiles/internal.xml":
            '<profile><param name="sip-port" value="{{ vcbox_sip_port }}"/></profile>\n',
        "etc/freeswitch/vars.xml": '<X-PRE-PROCESS cmd="set" data="domain={{ vcbox_domain }}"/>\n',
        "etc/turnserver.conf": "min-port={{ vcbox_turn.min }}\nrealm={{ vcbox_domain }}\n",
        "etc/nginx/nginx.conf": "listen {{ vcbox_http_port }};\n",
        "etc/rsyslog.d/60-vcbox-forward.conf":
            "{% if vcbox_syslog_server %}*.* @{{ vcbox_syslog_server }}\n{% endif %}",
        "README.md": "not a target\n",
    }
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    return root


@pytest.fixture
def engine(tmp_path: Path, templates: Path):
    config = Config(data_dir=tmp_path / "data", root=tmp_path / "root")
    docs = Documents(tmp_path / "data" / "documents.json")
    history = History(tmp_path / "data" / "history.sqlite3")
    calls: list[str] = []
    drivers = {name: Recorder(name, calls) for name in ("freeswitch", "coturn", "nginx",
                                                         "rsyslog", "network", "clock")}
    settings = Settings(docs)
    applier = Applier(config, docs, settings, OperationLog(history), drivers, templates)
    yield applier, calls
    history.close()


def files_under(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_plan_is_pure(engine) -> None:
    applier, calls = engine
    plan = applier.plan()
    assert not (applier.config.root / "etc").exists()
    assert calls == []
    assert {f.path for f in plan.files} == {
        "etc/freeswitch/sip_profiles/internal.xml", "etc/freeswitch/vars.xml",
        "etc/turnserver.conf", "etc/nginx/nginx.conf"}
    # the syslog template renders nothing: that file must not exist, so it is no change
    assert "README.md" not in {f.path for f in plan.files}
    assert [str(a) for a in plan.actions] == [
        "freeswitch profile_restart", "coturn restart", "nginx reload"]
    assert "+min-port=38000" in plan.diff()


def test_commit_writes_files_and_runs_each_action_once_in_order(engine) -> None:
    applier, calls = engine
    plan, result = applier.apply(actor="admin", ip="127.0.0.1")
    assert result.ok, result.failed
    root = applier.config.root
    assert (root / "etc/turnserver.conf").read_text() == "min-port=38000\nrealm=vcbox.local\n"
    assert calls == ["freeswitch profile_restart", "coturn restart", "nginx reload"]
    # the turnserver config holds secrets in real life: owner-only
    assert (root / "etc/turnserver.conf").stat().st_mode & 0o077 == 0
    # applying again: nothing to change, nothing to restart
    calls.clear()
    plan, result = applier.apply()
    assert plan.empty and calls == []


def test_a_settings_change_touches_only_its_files(engine) -> None:
    applier, calls = engine
    applier.apply()
    calls.clear()
    before = files_under(applier.config.root)
    change = applier.settings.prepare("services", {"http_port": 8081})
    plan, result = applier.change(change)
    after = files_under(applier.config.root)
    assert {p for p in after if after[p] != before.get(p)} == {"etc/nginx/nginx.conf"}
    assert calls == ["nginx reload"]
    assert applier.settings.stored("services")["http_port"] == 8081


def test_a_failing_action_restores_the_previous_files_and_settings(engine) -> None:
    applier, calls = engine
    applier.apply()
    before = files_under(applier.config.root)
    applier.drivers["coturn"].fail_on = {"restart"}
    calls.clear()
    change = applier.settings.prepare("network", {"domain": "meet.example.com"})
    with pytest.raises(ApplyFailed) as info:
        applier.change(change, actor="admin", ip="127.0.0.1")
    assert info.value.params["service"] == "coturn"
    assert "refused the config" in info.value.params["output"]
    assert files_under(applier.config.root) == before
    assert applier.settings.stored("network")["domain"] == "vcbox.local"
    # freeswitch took the new files first; after the restore it is told to reload the old ones
    assert calls == ["freeswitch reloadxml", "coturn restart", "freeswitch reloadxml",
                     "coturn restart"]
    entry = applier.log.find_all(Query())["items"][0]
    assert (entry["action"], entry["result"]) == ("apply", "failure")
    assert "coturn" in entry["detail"]


def test_a_template_that_renders_nothing_removes_its_file(engine) -> None:
    applier, calls = engine
    applier.change(applier.settings.prepare("syslog", {"server": "logs.example.com"}))
    target = applier.config.root / "etc/rsyslog.d/60-vcbox-forward.conf"
    assert target.read_text() == "*.* @logs.example.com\n"
    applier.change(applier.settings.prepare("syslog", {"server": ""}))
    assert not target.exists()
    assert calls[-1] == "rsyslog restart"


def test_actions_are_deduplicated_ordered_and_the_stronger_one_wins() -> None:
    plan = make_plan(
        {"etc/nginx/nginx.conf": b"new", "etc/freeswitch/vars.xml": b"a",
         "etc/freeswitch/sip_profiles/internal.xml": b"b", "etc/janus/janus.jcfg": b"c",
         "etc/janus/janus.plugin.sip.jcfg": b"d", "etc/systemd/network/10-vcbox-lan.network": b""},
        {"etc/nginx/nginx.conf": b"old"})
    assert [str(a) for a in plan.actions] == [
        "network apply", "freeswitch profile_restart", "janus restart", "nginx reload"]
    assert order({Action("nginx", "reload"), Action("clock", "timezone")})[0].service == "clock"


def test_manual_time_is_an_event_without_a_file(engine) -> None:
    applier, calls = engine
    applier.apply()
    calls.clear()
    change = applier.settings.prepare(
        "time", {"source": "manual", "manual_datetime": "2026-01-31T09:30:00"})
    plan, _ = applier.change(change)
    assert [str(a) for a in plan.actions] == ["clock set_time 2026-01-31T09:30:00"]
    # the same time again is no new event
    plan, _ = applier.apply()
    assert plan.empty


@pytest.mark.parametrize(("files", "expected"), [
    (["autoload_configs/conference.conf.xml"], ["freeswitch reloadxml"]),
    (["sip_profiles/internal.xml", "vars.xml"], ["freeswitch profile_restart"]),
    (["autoload_configs/xml_curl.conf.xml"], ["freeswitch reload mod_xml_curl"]),
    (["autoload_configs/switch.conf.xml", "sip_profiles/internal.xml",
      "autoload_configs/json_cdr.conf.xml"], ["freeswitch restart"]),
])
def test_freeswitch_gets_the_one_action_that_covers_its_files(files, expected) -> None:
    plan = make_plan({f"etc/freeswitch/{f}": b"x" for f in files}, {})
    assert [str(a) for a in plan.actions] == expected


# -- media follows the LAN's DHCP address (VCBOX_MEDIA_IP=lan, the appliance) -------------

def test_interface_ipv4_reads_the_address_held_now() -> None:
    from controlplane.apply.context import interface_ipv4

    assert interface_ipv4("lo") == "127.0.0.1"
    assert interface_ipv4("vcbox-none0") is None


def test_media_ip_static_lan_then_setting_then_live_address(tmp_path: Path) -> None:
    import dataclasses

    from controlplane.apply.context import media_ip

    base = Config(data_dir=tmp_path, root=tmp_path / "root")
    wan = {"enabled": False, "dhcp": True, "address": ""}
    dhcp = {"lan": {"enabled": True, "dhcp": True, "address": ""}, "wan": wan}
    static = {"lan": {"enabled": True, "dhcp": False, "address": "192.168.7.2"}, "wan": wan}
    assert media_ip(base, static) == "192.168.7.2"
    assert media_ip(base, dhcp) == "127.0.0.1"
    assert media_ip(dataclasses.replace(base, media_ip="10.0.0.9"), dhcp) == "10.0.0.9"
    lan = dataclasses.replace(base, media_ip="lan", lan_ifname="lo")
    assert media_ip(lan, dhcp) == "127.0.0.1"
    assert media_ip(dataclasses.replace(lan, lan_ifname="vcbox-none0"), dhcp) == "127.0.0.1"


def test_a_new_lan_address_renders_the_media_configs_again(tmp_path: Path, templates: Path,
                                                           monkeypatch) -> None:
    import dataclasses

    from controlplane.apply import context

    (templates / "etc/turnserver.conf").write_text("listening-ip={{ vcbox_media_ip }}\n")
    applier, calls = next(engine.__wrapped__(tmp_path, templates))
    applier.config = dataclasses.replace(applier.config, media_ip="lan", lan_ifname="eth0")
    address = {"now": None}
    monkeypatch.setattr(context, "interface_ipv4", lambda ifname: address["now"])
    turn = applier.config.root / "etc/turnserver.conf"

    applier.startup()
    assert turn.read_text() == "listening-ip=127.0.0.1\n"
    assert applier.follow_lan_address() is False  # no lease yet: nothing to do
    address["now"] = "10.0.2.15"  # the DHCP lease arrives
    calls.clear()
    assert applier.follow_lan_address() is True
    assert turn.read_text() == "listening-ip=10.0.2.15\n" and calls == ["coturn restart"]
    assert applier.follow_lan_address() is False
    address["now"] = "10.0.2.16"  # a new lease
    assert applier.follow_lan_address() is True
    assert turn.read_text() == "listening-ip=10.0.2.16\n"
