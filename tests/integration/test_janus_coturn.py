"""Janus and coturn started by the control plane's drivers on the files it rendered
(SPEC N3, P4; DESIGN D3, D5, D6): what they report is what the settings asked for, the
TURN REST credentials the control plane mints are the ones coturn accepts, and a service
that refuses a new configuration gets its previous files back and runs on them again."""

from __future__ import annotations

import re
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from controlplane.apply import ApplyFailed
from controlplane.config import Config
from controlplane.drivers import processes
from controlplane.drivers.coturn import CoturnCli, CoturnError, parse_pc, rest_credentials
from controlplane.drivers.janus import JanusSession
from controlplane.drivers.services import Absent, ActionFailed
from tests.integration.services_fixtures import MediaStack, media_stack

PUBLIC_IP = "203.0.113.7"
MCU = {"min": 51000, "max": 52999}
TURN = {"min": 40000, "max": 41999}
# An address this host does not have (TEST-NET-2).
ABSENT_IP = "198.51.100.77"


@pytest.fixture
def stack(tmp_path) -> Iterator[MediaStack]:
    with media_stack(tmp_path) as running:
        yield running


def uclient(*args: str) -> subprocess.CompletedProcess[str]:
    """turnutils_uclient against the rendered listener, client-to-client through two
    relayed allocations (-y), no RTCP allocations (-c), verbose (relayed addresses)."""
    return subprocess.run(["turnutils_uclient", "-v", "-c", "-m", "1", "-l", "64", *args,
                           "127.0.0.1"], capture_output=True, text=True, timeout=30,
                          check=False)


def sdp_offer() -> str:
    """A minimal WebRTC audio offer (ICE, DTLS fingerprint): enough for Janus to gather
    its candidates and answer."""
    fingerprint = ":".join(["AB"] * 32)
    return "\r\n".join([
        "v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "t=0 0", "a=group:BUNDLE 0",
        "a=msid-semantic: WMS", "m=audio 9 UDP/TLS/RTP/SAVPF 111", "c=IN IP4 0.0.0.0",
        "a=rtcp:9 IN IP4 0.0.0.0", "a=ice-ufrag:vcbx", "a=ice-pwd:abcdefghijklmnopqrstuvwx",
        "a=ice-options:trickle", f"a=fingerprint:sha-256 {fingerprint}", "a=setup:actpass",
        "a=mid:0", "a=sendonly", "a=rtcp-mux", "a=rtpmap:111 opus/48000/2", ""])


def janus_answer_candidates(stack: MediaStack) -> list[tuple[str, int]]:
    """Publish into a VideoRoom room the way the control plane creates rooms, and return
    the (address, port) of every candidate in Janus's SDP answer."""
    ctx = stack.context()
    _, api = processes.janus_endpoints(stack.root)
    session = JanusSession(api, ctx["vcbox_janus_api_secret"]).create()
    try:
        handle = session.attach("janus.plugin.videoroom")
        created = session.message(handle, {
            "request": "create", "room": 4242, "admin_key": ctx["vcbox_janus_admin_secret"],
            "bitrate": ctx["vcbox_max_uplink_kbps"] * 1000, "permanent": False})
        assert created["plugindata"]["data"]["videoroom"] == "created"
        session.message(handle, {"request": "joinandconfigure", "room": 4242,
                                 "ptype": "publisher", "audio": True},
                        jsep={"type": "offer", "sdp": sdp_offer()})
        event = session.wait_event(lambda e: "jsep" in e, timeout=10)
    finally:
        session.destroy()
    assert event["jsep"]["type"] == "answer"
    return [(m.group(1), int(m.group(2))) for m in re.finditer(
        r"a=candidate:\S+ \d+ udp \d+ (\S+) (\d+) typ", event["jsep"]["sdp"])]


@contextmanager
def holding(port: int) -> Iterator[None]:
    """Listeners of this test on 127.0.0.1:port, UDP and TCP."""
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        udp.bind(("127.0.0.1", port))
        tcp.bind(("127.0.0.1", port))
        tcp.listen()
        yield
    finally:
        udp.close()
        tcp.close()


def test_janus_runs_the_rendered_mcu_range_and_nat_mapping(stack: MediaStack) -> None:
    _, result = stack.services.applier.apply({
        "ports": stack.prepared("ports", {"mcu": MCU}),
        "network": stack.prepared("network", {"nat": {"enabled": True,
                                                      "public_ip": PUBLIC_IP}}),
    })
    assert result.ok, result.summary()
    assert "janus restart: restarted" in result.summary()
    assert 'rtp_port_range = "51000-52999"' in stack.file("etc/janus/janus.jcfg").decode()

    admin, _ = processes.janus_endpoints(stack.root)
    info = admin.info()
    assert info["public-ip"] == PUBLIC_IP          # nat_1_1_mapping, as Janus reports it
    assert info["local-ip"] == "127.0.0.1"         # the media address
    assert {"janus.plugin.videoroom", "janus.plugin.sip"} <= set(info["plugins"])
    assert "janus.eventhandler.sampleevh" in info["events"]
    assert stack.drivers["janus"].status() == "ok"

    # Janus's own SDP answer: a host candidate on the public address (next to the private
    # ones, kept for clients inside the NAT; Janus never offers loopback), every port in
    # the MCU range.
    candidates = janus_answer_candidates(stack)
    assert PUBLIC_IP in {address for address, _ in candidates}, candidates
    assert all(MCU["min"] <= port <= MCU["max"] for _, port in candidates), candidates


def test_turnserver_accepts_the_credentials_the_control_plane_mints(
        stack: MediaStack) -> None:
    _, result = stack.services.applier.apply({"ports": stack.prepared("ports", {"turn": TURN})})
    assert result.ok, result.summary()
    secret = stack.context()["vcbox_turn_secret"]
    assert f"static-auth-secret={secret}" in stack.file("etc/turnserver.conf").decode()

    user, password = rest_credentials(secret, "alice", ttl_s=600)
    assert re.fullmatch(r"\d+:alice", user)
    granted = uclient("-y", "-n", "1", "-u", user, "-w", password)
    assert granted.returncode == 0, granted.stdout[-2000:] + granted.stderr
    relayed = [int(p) for p in re.findall(r"Received relay addr: 127\.0\.0\.1:(\d+)",
                                          granted.stdout)]
    assert relayed and all(TURN["min"] <= p <= TURN["max"] for p in relayed), relayed
    sent, received = map(int, re.search(r"tot_send_msgs=(\d+), tot_recv_msgs=(\d+)\s*$",
                                        granted.stdout, re.M).groups())
    assert sent > 0 and received == sent, granted.stdout[-1000:]

    # A wrong password, or credentials past their expiry, get no allocation.
    wrong = uclient("-y", "-n", "1", "-u", user, "-w", password[:-4] + "AAA=")
    assert wrong.returncode != 0 and "Cannot complete Allocation" in wrong.stdout
    expired_user, expired_password = rest_credentials(secret, "alice", ttl_s=-60)
    expired = uclient("-y", "-n", "1", "-u", expired_user, "-w", expired_password)
    assert expired.returncode != 0 and "Cannot complete Allocation" in expired.stdout
    # Relaying only to the appliance's own media address.
    foreign = uclient("-e", "10.1.2.3", "-n", "1", "-u", user, "-w", password)
    assert foreign.returncode != 0 and "403 (Forbidden IP)" in foreign.stdout

    cli = processes.coturn_cli(stack.root)
    conf = parse_pc(cli.command("pc"))
    assert conf["min-port"] == ["40000"] and conf["max-port"] == ["41999"]
    assert conf["Relay addr"] == ["127.0.0.1"]
    assert conf["TURN REST API support"] == ["ON"]
    with pytest.raises(CoturnError, match="password refused"):
        CoturnCli(cli.host, cli.port, "not-the-password", timeout=3).command("pc")


def test_a_service_refusing_its_config_fails_the_action_with_its_own_words(
        stack: MediaStack) -> None:
    _, result = stack.services.applier.apply()
    assert result.ok, result.summary()
    coturn, janus = stack.drivers["coturn"], stack.drivers["janus"]

    coturn.stop()
    with holding(3478), pytest.raises(ActionFailed) as refused:
        coturn.run("restart")
    assert refused.value.service == "coturn"
    assert "Address already in use" in refused.value.output, refused.value.output
    assert coturn.status() == "fail" and coturn.pid is None
    assert coturn.run("restart").startswith("restarted")
    assert coturn.status() == "ok"

    janus.stop()
    with holding(7088), pytest.raises(ActionFailed) as refused:
        janus.run("restart")
    assert "Couldn't start admin/monitor webserver on port 7088" in refused.value.output
    assert janus.status() == "fail" and janus.pid is None
    assert janus.run("restart").startswith("restarted")
    assert janus.status() == "ok"


def test_a_refused_change_puts_the_previous_files_back_and_the_services_on_them(
        stack: MediaStack) -> None:
    applier = stack.services.applier
    _, result = applier.apply()
    assert result.ok, result.summary()
    before = {path: stack.file(path) for path in ("etc/janus/janus.jcfg",
                                                  "etc/turnserver.conf")}
    janus_pid = stack.drivers["janus"].pid
    network_before = stack.services.settings.stored("network")
    with pytest.raises(OSError):  # the new LAN address is not on this host
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM).bind((ABSENT_IP, 0))

    # A static LAN address becomes the media address of both services. Janus (acted on
    # first) starts on it with a warning; coturn cannot bind its listener and says so.
    change = stack.services.settings.prepare("network", {"lan": {
        "dhcp": False, "address": ABSENT_IP, "netmask": "255.255.255.0"}})
    with pytest.raises(ApplyFailed) as failed:
        applier.change(change)
    assert failed.value.params["service"] == "coturn"
    assert "Cannot assign requested address" in failed.value.params["output"]

    # The settings were not stored, and every file is back.
    assert stack.services.settings.stored("network") == network_before
    for path, content in before.items():
        assert stack.file(path) == content, path
    janus_log = (stack.root / "var/log/vcbox/janus.log").read_text()
    assert f"Error setting local IP address to {ABSENT_IP}" in janus_log
    coturn_log = (stack.root / "var/log/vcbox/coturn.log").read_text()
    assert "Cannot bind" in coturn_log and ABSENT_IP in coturn_log

    # Janus took the new files, then was restarted on the old ones; coturn runs again.
    assert stack.drivers["janus"].pid not in (None, janus_pid)
    admin, _ = processes.janus_endpoints(stack.root)
    assert admin.info()["local-ip"] == "127.0.0.1"
    assert stack.drivers["janus"].status() == "ok"
    assert stack.drivers["coturn"].status() == "ok"
    conf = parse_pc(processes.coturn_cli(stack.root).command("pc"))
    assert conf["Relay addr"] == ["127.0.0.1"] and conf["Listener addr"] == ["127.0.0.1"]


def test_drivers_by_service_mode(tmp_path, stack: MediaStack,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    systemd = processes.drivers(Config(data_dir=tmp_path, root=tmp_path / "r",
                                       service_mode="systemd"))
    assert {type(d) for d in systemd.values()} == {processes.Systemd}
    assert systemd["coturn"].unit == "coturn.service"

    # Local mode, services not run here: vcbox checks the rendered files and says so.
    _, result = stack.services.applier.apply()
    assert result.ok, result.summary()
    checked = processes.drivers(Config(data_dir=tmp_path, root=stack.root, local_services=()))
    assert {type(d) for d in checked.values()} == {processes.NotRunHere}
    for name, driver in checked.items():
        assert driver.run("restart").startswith("checked: not run here"), name
        assert driver.status() == "checked"
    conf = stack.root / "etc/turnserver.conf"
    conf.write_text(conf.read_text().replace("min-port=38000", "min-port=notanumber"))
    with pytest.raises(ActionFailed, match="min-port"):
        checked["coturn"].run("restart")
    # The same check runs before a local restart: the running coturn keeps its config
    # (coturn itself would start and silently use a relay range of its own).
    pid = stack.drivers["coturn"].pid
    with pytest.raises(ActionFailed, match="config check"):
        stack.drivers["coturn"].run("restart")
    assert stack.drivers["coturn"].pid == pid and stack.drivers["coturn"].status() == "ok"

    monkeypatch.setattr(processes.shutil, "which", lambda *args, **kwargs: None)
    absent = processes.drivers(stack.config)
    assert isinstance(absent["janus"], Absent)
    assert absent["janus"].run("restart") == "skipped: janus is not installed"
