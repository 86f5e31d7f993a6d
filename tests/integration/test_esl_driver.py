"""The FreeSWITCH event-socket client and FreeSWITCH's service actions (DESIGN D3, D4),
against tests/esl_server.py: FreeSWITCH's inbound event socket as it speaks on the wire,
made to misbehave where a real one would (dropped sockets, silence, slow replies).

A stand-in, only for what a real FreeSWITCH cannot be made to show on demand: a socket
dropped inside a body, a peer that accepts and never greets, silence, late answers, links
dropped after every login, refusals of reloadxml and module reloads, and what went on the
wire (no connection before the first use, nothing sent for a smuggled command, the event
subscription's exact form). The same client and driver against the real FreeSWITCH
(byte-length bodies, -ERR words, a smuggled command refused, many threads on one link,
auth, bgapi jobs, events, reloadxml, module reload, profile restart and start, restart of
its process, a link made while it is down, gevent) are in test_freeswitch_real.py."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from controlplane.apply import Applier, ApplyFailed
from controlplane.config import Config
from controlplane.drivers import freeswitch
from controlplane.drivers.esl import (
    Esl,
    EslAuthError,
    EslError,
    EslEvent,
    EslReplyError,
    EslTimeout,
    EslUnreachable,
)
from controlplane.drivers.freeswitch import FreeSwitch
from controlplane.drivers.services import ActionFailed
from controlplane.oplog import OperationLog
from controlplane.settings import Settings
from controlplane.store import Documents, History
from tests.conftest import REPO, free_port
from tests.esl_server import EslServer

PASSWORD = "Esl-s3cret"
TIMEOUT = 1.0
MARGIN = 0.5
# Multibyte on purpose: Content-Length counts bytes, not characters.
UNICODE_BODY = "会议室 1001 ✓ Grüße 🎥\nline two: 终端\n"


@pytest.fixture
def server() -> Iterator[EslServer]:
    srv = EslServer(password=PASSWORD).start()
    yield srv
    srv.stop()


@pytest.fixture
def make_esl() -> Iterator[Callable[..., Esl]]:
    made: list[Esl] = []

    def make(port: int, password: str = PASSWORD, **kw: float) -> Esl:
        options = {"timeout": TIMEOUT, "backoff_min": 0.05, "backoff_max": 0.4, **kw}
        esl = Esl("127.0.0.1", port, password, **options)
        made.append(esl)
        return esl

    yield make
    for esl in made:
        esl.close()


def wait_until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


# -- login and commands ------------------------------------------------------------------

def test_connects_lazily_logs_in_and_returns_api_bodies_by_byte_length(server, make_esl):
    server.responses["show calls"] = UNICODE_BODY
    esl = make_esl(server.port)
    assert not esl.connected and server.connections == 0  # nothing before the first use

    assert esl.api("show calls") == UNICODE_BODY
    assert len(UNICODE_BODY.encode()) > len(UNICODE_BODY)
    assert esl.api("status").startswith("UP 0 years")
    assert esl.api("show calls") == UNICODE_BODY  # the stream stays in step after it
    assert esl.connected
    assert server.received() == [f"auth {PASSWORD}", "api show calls", "api status",
                                 "api show calls"]
    assert server.connections == 1


def test_a_wrong_password_is_an_error_and_retries_back_off(server, make_esl):
    esl = make_esl(server.port, password="wrong", backoff_min=5, backoff_max=5)
    started = time.monotonic()
    with pytest.raises(EslAuthError) as info:
        esl.api("status")
    assert time.monotonic() - started < MARGIN
    assert "-ERR invalid" in info.value.reason
    assert isinstance(info.value, EslError) and not esl.connected
    # Within the backoff nothing goes on the wire: the same reason, at once.
    with pytest.raises(EslUnreachable, match="refused the password.*next try in"):
        esl.api("status")
    assert server.connections == 1
    assert server.received() == ["auth wrong"]


def test_a_command_cannot_smuggle_a_second_one(server, make_esl):
    esl = make_esl(server.port)
    with pytest.raises(EslError, match="single line"):
        esl.api("xml_flush_cache id 1001\n\napi fsctl shutdown")
    assert server.received() == []


# -- events --------------------------------------------------------------------------------

HEARTBEAT = {
    "Event-Name": "HEARTBEAT", "Core-UUID": "6cd7d004-e3c9-11e7-b0f3-73bec77e82ec",
    "FreeSWITCH-Hostname": "vcbox", "Event-Date-Local": "2024-05-06 07:08:09",
    "Event-Calling-File": "switch_core.c", "Event-Calling-Function": "send_heartbeat",
    "Event-Info": "System Ready",
    "Up-Time": "0 years, 0 days, 0 hours, 3 minutes, 12 seconds, 0 milliseconds, "
               "0 microseconds",
    "Session-Count": "2", "Max-Sessions": "1000", "Idle-CPU": "98.500000",
}
REGISTER = {
    "Event-Name": "CUSTOM", "Event-Subclass": "sofia::register", "profile-name": "internal",
    "from-user": "1001", "from-host": "vcbox.local",
    "contact": '"张三" <sip:1001@192.168.1.20:5060;transport=udp>',
    "user-agent": "Yealink SIP-T46S 66.86.0.15 (会议室)", "expires": "3600",
    "network-ip": "192.168.1.20", "network-port": "5060", "realm": "vcbox.local",
}


def test_events_arrive_decoded_and_a_failing_handler_stops_nothing(server, make_esl, caplog):
    caplog.set_level(logging.ERROR, logger="controlplane.drivers.esl")
    esl = make_esl(server.port)
    seen: list[EslEvent] = []

    def broken(event: EslEvent) -> None:
        raise RuntimeError("handler bug")

    esl.on_event("HEARTBEAT", broken)
    esl.on_event("HEARTBEAT", seen.append)
    esl.on_event("sofia::register", seen.append)
    esl.subscribe("sofia::register CHANNEL_HANGUP_COMPLETE HEARTBEAT")
    # FreeSWITCH honours a subclass only after CUSTOM.
    assert server.wait_for("event plain") == \
        "event plain CHANNEL_HANGUP_COMPLETE HEARTBEAT CUSTOM sofia::register"
    wait_until(lambda: server.subscribers() == 1)

    assert server.push_event(HEARTBEAT) == 1
    assert server.push_event({"Event-Name": "CHANNEL_CREATE"}) == 0  # not subscribed
    assert server.push_event(REGISTER) == 1
    assert server.push_event({**HEARTBEAT, "Session-Count": "3"}) == 1
    wait_until(lambda: len(seen) == 3)

    first, register, second = seen
    assert first.name == "HEARTBEAT" and first.headers == HEARTBEAT
    assert register.name == "sofia::register" and register.headers == REGISTER
    assert register["contact"] == '"张三" <sip:1001@192.168.1.20:5060;transport=udp>'
    assert second["Session-Count"] == "3"  # delivered after the broken handler raised twice
    failures = [r for r in caplog.records if "handler" in r.getMessage()]
    assert len(failures) == 2
    assert all(isinstance(r.exc_info[1], RuntimeError) for r in failures)
    assert esl.api("status").startswith("UP")  # commands and events share the connection


# -- a link that fails -------------------------------------------------------------------

def test_a_socket_dropped_mid_command_fails_the_call_and_the_next_one_reconnects(
        server, make_esl):
    esl = make_esl(server.port)
    assert esl.api("status").startswith("UP")
    server.inject("api reloadxml", "drop")
    started = time.monotonic()
    with pytest.raises(EslError, match="connection lost"):
        esl.api("reloadxml")
    assert time.monotonic() - started < TIMEOUT + MARGIN
    assert esl.api("reloadxml") == "+OK [Success]\n"
    assert server.connections == 2 and server.logins == 2


def test_a_socket_closed_inside_a_body_fails_the_call_instead_of_spinning(server, make_esl):
    # greenswitch loops forever here without yielding (see controlplane/drivers/esl.py).
    server.responses["show registrations"] = UNICODE_BODY * 50
    esl = make_esl(server.port)
    server.inject("api show registrations", "truncate")
    started = time.monotonic()
    with pytest.raises(EslError, match="middle of a body"):
        esl.api("show registrations")
    assert time.monotonic() - started < TIMEOUT + MARGIN
    assert esl.api("show registrations") == UNICODE_BODY * 50


def test_a_server_that_never_answers_times_out(server, make_esl):
    esl = make_esl(server.port)
    assert esl.api("status").startswith("UP")
    server.inject("api reloadxml", "silent")
    started = time.monotonic()
    with pytest.raises(EslTimeout, match="did not answer api reloadxml within 1 s"):
        esl.api("reloadxml")
    assert TIMEOUT <= time.monotonic() - started < TIMEOUT + MARGIN
    assert not esl.connected  # a late answer must not be taken for the next command's
    assert esl.api("status").startswith("UP")


def test_a_late_answer_is_never_taken_for_the_next_commands(server, make_esl):
    server.responses["show channels"] = "0 total.\n"
    esl = make_esl(server.port)
    server.inject("api reloadxml", "delay", seconds=0.2)
    assert esl.api("reloadxml", timeout=1.0) == "+OK [Success]\n"  # slow but in time
    server.inject("api reloadxml", "delay", seconds=0.6)
    with pytest.raises(EslTimeout):
        esl.api("reloadxml", timeout=0.2)
    assert esl.api("show channels") == "0 total.\n"
    time.sleep(0.6)  # the late "+OK [Success]" has been sent by now, to the old socket
    assert esl.api("show channels") == "0 total.\n"


def test_a_peer_that_accepts_but_never_greets_times_out(make_esl):
    with socket.socket() as mute:
        mute.bind(("127.0.0.1", 0))
        mute.listen(8)  # the kernel completes the handshake; nobody ever speaks
        esl = make_esl(mute.getsockname()[1])
        started = time.monotonic()
        with pytest.raises(EslTimeout, match="greeting"):
            esl.api("status")
        assert TIMEOUT <= time.monotonic() - started < TIMEOUT + MARGIN


def test_a_freeswitch_that_drops_every_link_after_login_is_not_hammered(server, make_esl):
    esl = make_esl(server.port, backoff_min=0.05, backoff_max=0.4)
    esl.subscribe("HEARTBEAT")
    server.wait_logins(1)
    end = time.monotonic() + 1.5
    while time.monotonic() < end:  # a crash loop: every connection dies at once
        server.drop_clients()
        time.sleep(0.005)
    # Without backoff this would be hundreds of logins; with it: 0.05, 0.1, 0.2, 0.4 ...
    assert 3 <= server.logins <= 10
    server.wait_logins(server.logins + 1)  # and once the link holds, it is back
    wait_until(lambda: esl.connected)


def test_close_says_goodbye_and_later_commands_fail(server, make_esl):
    esl = make_esl(server.port)
    esl.on_event("HEARTBEAT", lambda e: None)
    esl.api("status")
    esl.close()
    assert server.wait_for("exit") == "exit"
    assert not esl.connected
    with pytest.raises(EslError, match="closed"):
        esl.api("status")


GEVENT_SCRIPT = textwrap.dedent("""
    from gevent import monkey
    monkey.patch_all()
    import json, sys, time
    from controlplane.drivers.esl import Esl, EslError, EslTimeout

    port, password = int(sys.argv[1]), sys.argv[2]
    esl = Esl("127.0.0.1", port, password, timeout=1.0, backoff_min=0.05, backoff_max=0.4)
    out = {}
    t = time.monotonic()
    try:
        esl.api("silent")
    except EslTimeout as exc:
        out["silent"] = [type(exc).__name__, round(time.monotonic() - t, 2)]
    t = time.monotonic()
    try:
        esl.api("drop")
    except EslError as exc:
        out["drop"] = [type(exc).__name__, round(time.monotonic() - t, 2)]
    out["after"] = esl.api("status")[:2]
    esl.close()
    print(json.dumps(out), flush=True)
""")


def test_faults_under_gevent_monkey_patching(server):
    """Faults on demand, in a process patched like the web server (gevent.monkey.patch_all):
    silence times out and a socket dropped mid-command fails at once; the next command
    reconnects. The same client under gevent with the real FreeSWITCH (answers, events,
    other greenlets running while a command waits) is in test_freeswitch_real.py."""
    server.inject("api silent", "silent")
    server.inject("api drop", "drop")
    proc = subprocess.run([sys.executable, "-c", GEVENT_SCRIPT, str(server.port), PASSWORD],
                          cwd=REPO, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["silent"][0] == "EslTimeout" and 1.0 <= result["silent"][1] < 1.0 + MARGIN
    assert result["drop"][0] == "EslError" and result["drop"][1] < MARGIN
    assert result["after"] == "UP"


# -- FreeSWITCH's service actions ------------------------------------------------------------

SOFIA_RUNNING = "internal profile sip:mod_sofia@127.0.0.1:5060 RUNNING (0)\n"


def fs_driver(esl: Esl, tmp_path: Path, mode: str = "local", program: str | None = None,
              **kw) -> FreeSwitch:
    config = Config(data_dir=tmp_path / "data", root=tmp_path / "root", service_mode=mode)
    return FreeSwitch(config, esl, program, **kw)


def test_freeswitchs_refusals_fail_the_action_with_its_words(server, make_esl, tmp_path):
    """A fault on demand: FreeSWITCH refusing a reloadxml, a module reload, a profile start
    and a cache flush (a real one does so only on broken files or modules)."""
    answers = {
        # reloadxml says +OK even when the XML did not load: the bracket tells.
        "reloadxml": "+OK [Error parsing /etc/freeswitch/vars.xml line 3: unclosed tag]\n",
        "reload mod_json_cdr": "-ERR unloading module [Module is not unloadable]\n"
                               "+OK Reloading XML\n-ERR loading module [Module already "
                               "loaded]\n",
        "sofia profile internal restart reloadxml": "Invalid Profile [internal]",
        "xml_flush_cache id 1001 vcbox.local": "-ERR no such cache\n",
    }
    server.api_handler = answers.__getitem__
    esl = make_esl(server.port)
    driver = fs_driver(esl, tmp_path)
    with pytest.raises(ActionFailed) as info:
        driver.run("reloadxml")
    assert info.value.output == ("+OK [Error parsing /etc/freeswitch/vars.xml line 3: "
                                 "unclosed tag]")
    with pytest.raises(ActionFailed) as info:
        driver.run("reload", "mod_json_cdr")
    assert "-ERR loading module [Module already loaded]" in info.value.output
    # No profile to restart (it failed to start before): the files are read again for a
    # start, and FreeSWITCH's refusal of them is the failure.
    with pytest.raises(ActionFailed, match=r"Error parsing /etc/freeswitch/vars.xml"):
        driver.run("profile_restart")
    with pytest.raises(ActionFailed, match="not a module name"):
        driver.run("reload", "mod_x; fsctl shutdown")
    with pytest.raises(EslReplyError, match="-ERR no such cache"):
        esl.api("xml_flush_cache id 1001 vcbox.local")


def test_a_profile_restarted_moments_ago_is_waited_for_once(server, make_esl, tmp_path):
    """A fault on demand: sofia's "must be up for at least 3 seconds" refusal, which a
    real FreeSWITCH gives only inside a timing window."""
    answers = iter(["Profile internal must be up for at least 3 seconds to stop/restart.\n"
                    "Please wait 2 seconds\n",
                    "Reload XML [Success]\nrestarting: internal"])
    server.api_handler = lambda cmd: SOFIA_RUNNING if cmd == "sofia status" else next(answers)
    slept: list[float] = []
    driver = fs_driver(make_esl(server.port), tmp_path, sleep=slept.append)
    assert driver.run("profile_restart").endswith("restarting: internal")
    assert slept == [2.2]


def test_without_freeswitch_its_actions_are_skipped_visibly(make_esl, tmp_path):
    driver = fs_driver(make_esl(free_port()), tmp_path)
    for verb, arg in [("reloadxml", ""), ("profile_restart", ""), ("reload", "mod_xml_curl"),
                      ("restart", "")]:
        assert driver.run(verb, arg) == \
            "skipped: FreeSWITCH not reachable over ESL (not installed here)"
    assert driver.status() == "absent"
    installed = fs_driver(make_esl(free_port()), tmp_path, program="/usr/bin/freeswitch")
    assert installed.run("reloadxml").startswith(
        "skipped: FreeSWITCH not reachable over ESL (FreeSWITCH ESL at 127.0.0.1:")
    assert installed.status() == "stopped"


def test_restart_outside_the_appliance_is_not_vcboxs_to_do(server, make_esl, tmp_path):
    driver = fs_driver(make_esl(server.port), tmp_path)
    assert driver.run("restart").startswith("skipped: FreeSWITCH is not run by vcbox here")
    assert "api fsctl" not in " ".join(server.received())


FAKE_SYSTEMCTL = '#!/bin/sh\necho "$*" >> "$VCBOX_TEST_SYSTEMCTL_LOG"\n'


def test_restart_on_the_appliance_waits_until_the_event_socket_answers(
        make_esl, tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "systemctl").write_text(FAKE_SYSTEMCTL)
    (bin_dir / "systemctl").chmod(0o755)
    calls = tmp_path / "systemctl.log"
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setenv("VCBOX_TEST_SYSTEMCTL_LOG", str(calls))
    port = free_port()
    esl = make_esl(port)
    driver = fs_driver(esl, tmp_path, mode="systemd", program="/usr/bin/freeswitch",
                       restart_wait_s=3, poll_s=0.05)
    # FreeSWITCH takes a moment to open its event socket again.
    srv = EslServer(password=PASSWORD, port=port)
    timer = threading.Timer(0.5, srv.start)
    timer.start()
    try:
        outcome = driver.run("restart")
    finally:
        timer.join()
        srv.stop()
    assert calls.read_text().splitlines() == ["restart freeswitch"]
    assert outcome.startswith("restarted freeswitch; ESL answered after 0.")

    # It never comes back: the restart failed, and apply will put the old files back.
    failing = fs_driver(esl, tmp_path, mode="systemd", program="/usr/bin/freeswitch",
                        restart_wait_s=0.5, poll_s=0.05)
    with pytest.raises(ActionFailed, match="did not answer within 0.5 s"):
        failing.run("restart")
    not_installed = fs_driver(esl, tmp_path, mode="systemd", program=None)
    assert not_installed.run("restart") == "skipped: FreeSWITCH is not installed here"


def test_drivers_gives_the_freeswitch_driver(make_esl, tmp_path):
    config = Config(data_dir=tmp_path / "data", root=tmp_path / "root")
    out = freeswitch.drivers(config, None, make_esl(free_port()))
    assert set(out) == {"freeswitch"} and isinstance(out["freeswitch"], FreeSwitch)


def test_an_apply_reaches_freeswitch_and_its_refusal_restores_the_files(
        server, make_esl, tmp_path):
    templates = tmp_path / "templates"
    (templates / "etc/freeswitch").mkdir(parents=True)
    (templates / "etc/freeswitch/vars.xml").write_text(
        '<X-PRE-PROCESS cmd="set" data="domain={{ vcbox_domain }}"/>\n')
    config = Config(data_dir=tmp_path / "data", root=tmp_path / "root")
    docs = Documents(config.documents_path)
    history = History(config.history_path)
    try:
        esl = make_esl(server.port)
        applier = Applier(config, docs, Settings(docs), OperationLog(history),
                          {"freeswitch": FreeSwitch(config, esl, None)}, templates)
        _, result = applier.apply()
        assert result.ok and [o.text for o in result.outcomes] == ["reloadxml: +OK [Success]"]
        vars_xml = config.root / "etc/freeswitch/vars.xml"
        before = vars_xml.read_text()

        server.responses["reloadxml"] = "+OK [Error at line 1: not well-formed]\n"
        change = applier.settings.prepare("network", {"domain": "meet.example.com"})
        with pytest.raises(ApplyFailed) as info:
            applier.change(change)
        assert info.value.params["output"] == "+OK [Error at line 1: not well-formed]"
        assert vars_xml.read_text() == before
        # FreeSWITCH was told to load the new file, then (after the restore) the old one.
        assert server.received().count("api reloadxml") == 3

        server.stop()  # FreeSWITCH gone: the change goes through, the skip is visible
        wait_until(lambda: not esl.connected)
        _, result = applier.apply({"network": {**applier.settings.stored("network"),
                                               "domain": "meet.example.com"}})
        assert result.ok and "meet.example.com" in vars_xml.read_text()
        assert result.outcomes[0].text == \
            "skipped: FreeSWITCH not reachable over ESL (not installed here)"
    finally:
        history.close()
        docs.close()
