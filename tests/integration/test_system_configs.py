"""System services (nginx, ssh, chrony, rsyslog, the clock): every config vcbox renders is
accepted by the service's own checker (`nginx -t`, `sshd -t`, `chronyd -p`,
`rsyslogd -N1`), a refused one is rolled back, nginx really proxies to the control plane,
and the clock driver links the time zone under ROOT without ever touching the host clock.

Everything is rendered through the real apply engine into a temp ROOT; the only process
started is nginx (127.0.0.1, a free port), ended by its PID when each test ends.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import socket
import subprocess
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests

from controlplane.app import Services
from controlplane.apply import ApplyFailed, events_for
from controlplane.apply.commit import Result
from controlplane.config import Config
from controlplane.drivers import clock, system_services
from controlplane.drivers.services import ActionFailed
from controlplane.settings import Change
from tests.components import require

NGINX_CONF = "etc/nginx/nginx.conf"
SITE = "etc/nginx/sites-enabled/vcbox.conf"
SSHD = "etc/ssh/sshd_config"
CHRONY = "etc/chrony/chrony.conf"
FORWARD = "etc/rsyslog.d/60-vcbox-forward.conf"


def free_low_port() -> int:
    """A free port below the media ranges (30000-59999), which the settings refuse."""
    for _ in range(200):
        port = random.randint(20000, 29999)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 20000-29999")


@dataclass
class Box:
    """The control plane's Services on a temp ROOT, with the system-service drivers."""

    services: Services
    config: Config

    @property
    def root(self) -> Path:
        return self.config.root

    def doc(self, section: str, **changes: Any) -> dict[str, Any]:
        """The whole section document with these changes, validated like a PUT."""
        return self.services.settings.merged(section, changes)

    def apply(self, events: tuple = (), **sections: dict[str, Any]) -> Result:
        _, result = self.services.applier.apply(
            {name: self.doc(name, **changes) for name, changes in sections.items()}, events)
        return result

    def applied(self, events: tuple = (), **sections: dict[str, Any]) -> dict[str, str]:
        """Apply, expect success, and return {"service verb": outcome text}."""
        result = self.apply(events, **sections)
        assert result.ok, result.failed
        return {f"{o.action.service} {o.action.verb}": o.text for o in result.outcomes}

    def read(self, path: str) -> str:
        return (self.root / path).read_text()

    def driver(self, name: str) -> Any:
        return self.services.applier.drivers[name]


def open_box(tmp_path: Path, **config: Any) -> Box:
    cfg = Config(data_dir=tmp_path / "data", root=tmp_path / "root", **config)
    services = Services.open(cfg)
    state = services.applier.state
    # Only the drivers under test: the other services' actions are skipped, visibly.
    services.applier.drivers = {**system_services.drivers(cfg, state),
                                **clock.drivers(cfg, state)}
    return Box(services, cfg)


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Box]:
    require("nginx", "sshd", "chronyd", "rsyslogd")
    b = open_box(tmp_path)
    yield b
    b.services.applier.shutdown()
    b.services.close()


def chronyd_parse(box: Box) -> list[str]:
    proc = subprocess.run(["chronyd", "-p", "-x", "-f", str(box.root / CHRONY)],
                          capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


# -- every rendered config is accepted by its own service -----------------------------------

def test_defaults_are_accepted_by_each_service(box: Box) -> None:
    run_sshd_before = os.path.exists("/run/sshd")
    outcomes = box.applied()
    assert outcomes["nginx reload"] == "checked: nginx -t ok (not run here)"
    assert outcomes["ssh reload"] == "checked: sshd -t ok (not run here)"
    assert outcomes["chrony restart"].startswith("checked: chronyd -p ok")
    assert outcomes["clock timezone"].endswith("zoneinfo/Asia/Shanghai")
    # No remote syslog by default: no forwarding file, so nothing for rsyslog to do.
    assert not (box.root / FORWARD).exists()
    assert "rsyslog restart" not in outcomes
    # The defaults of SPEC §9, as the services read them.
    assert "pool cn.pool.ntp.org iburst" in chronyd_parse(box)
    sshd = box.read(SSHD)
    assert "\nPort 22\n" in sshd and "PermitRootLogin prohibit-password" in sshd
    assert f"HostKey {box.root}/etc/ssh/ssh_host_ed25519_key" in sshd
    site = box.read(SITE)
    assert "listen 127.0.0.1:80 default_server;" in site
    assert "return 301" not in site and "ssl_certificate" not in site
    assert "proxy_pass http://127.0.0.1:8080;" in site
    assert "proxy_set_header X-Real-IP $remote_addr;" in site
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in site
    assert "client_max_body_size 2g;" in site
    # Everything nginx writes is under ROOT.
    conf = box.read(NGINX_CONF)
    for line in ("pid", "error_log", "access_log", "client_body_temp_path", "proxy_temp_path"):
        assert f"{line} {box.root}/" in conf
    # sshd's check ran without leaving a /run/sshd on the host.
    assert os.path.exists("/run/sshd") == run_sshd_before


@pytest.mark.parametrize(("services", "nat", "expect"), [
    pytest.param({"http_port": 8081}, False,
                 ["listen 127.0.0.1:8081 default_server;", "proxy_pass"], id="http-only"),
    pytest.param({"https_enabled": True}, False,
                 ["return 301 https://$host$request_uri;",
                  "listen 127.0.0.1:443 ssl http2 default_server;"], id="https-redirect"),
    pytest.param({"https_enabled": True, "http_port": 8000, "https_port": 8443}, False,
                 ["listen 127.0.0.1:8000 default_server;",
                  "return 301 https://$host:8443$request_uri;"], id="custom-ports"),
    pytest.param({"https_enabled": True, "https_port": 8443, "https_nat_port": 443}, True,
                 ["return 301 https://$host$request_uri;",
                  "listen 127.0.0.1:8443 ssl"], id="nat-port-in-redirect"),
])
def test_nginx_accepts_each_web_setting(box: Box, services: dict, nat: bool,
                                        expect: list[str]) -> None:
    sections: dict[str, dict[str, Any]] = {"services": services}
    if nat:
        sections["network"] = {"nat": {"enabled": True, "public_ip": "203.0.113.7"}}
    outcomes = box.applied(**sections)
    assert outcomes["nginx reload"] == "checked: nginx -t ok (not run here)"
    site = box.read(SITE)
    for text in expect:
        assert text in site
    if services.get("https_enabled"):
        assert f"ssl_certificate {box.root}/etc/vcbox/tls/vcbox.crt;" in site
        assert (box.root / "etc/vcbox/tls/vcbox.crt").exists()


def test_sshd_accepts_a_custom_port_and_ssh_off(box: Box) -> None:
    outcomes = box.applied(services={"ssh_port": 2222})
    assert outcomes["ssh reload"] == "checked: sshd -t ok (not run here)"
    assert "\nPort 2222\n" in box.read(SSHD)
    assert box.driver("ssh").enabled()

    outcomes = box.applied(services={"ssh_port": 2222, "ssh_enabled": False})
    # The file stays (and still passes sshd -t); the driver turns the service off.
    assert outcomes["ssh reload"] == "checked: sshd -t ok (not run here); SSH is off"
    assert "\nPort 2222\n" in box.read(SSHD)
    assert not box.driver("ssh").enabled()


@pytest.mark.parametrize(("server", "line"), [
    ("cn.pool.ntp.org", "pool cn.pool.ntp.org iburst"),
    ("ntp.example.com", "server ntp.example.com iburst"),
    ("192.0.2.123", "server 192.0.2.123 iburst"),
])
def test_chronyd_parses_the_sntp_server(box: Box, server: str, line: str) -> None:
    outcomes = box.applied(time={"source": "sntp", "sntp_server": server})
    assert outcomes["chrony restart"] == f"checked: chronyd -p ok (not run here): {line}"
    parsed = chronyd_parse(box)
    assert line in parsed
    assert [x for x in parsed if x.startswith(("server ", "pool "))] == [line]
    assert f"driftfile {box.root}/var/lib/chrony/chrony.drift" in parsed


def test_chronyd_parses_manual_time_without_servers(box: Box) -> None:
    doc = box.doc("time", source="manual", manual_datetime="2031-05-06T07:08:09")
    change = Change("time", box.services.settings.stored("time"), doc)
    outcomes = box.applied(tuple(events_for(change)), time=doc)
    assert outcomes["chrony restart"] == ("checked: chronyd -p ok (not run here): "
                                          "no server (manual time)")
    parsed = chronyd_parse(box)
    assert "local stratum 10" in parsed
    assert not [x for x in parsed if x.startswith(("server ", "pool ", "peer "))]


@pytest.mark.parametrize(("transport", "expect"), [
    ("udp", ['protocol="udp"']),
    ("tcp", ['protocol="tcp"']),
    ("tls", ['protocol="tcp"', 'StreamDriver="gtls"', 'StreamDriverMode="1"',
             'StreamDriverAuthMode="anon"']),
])
def test_rsyslogd_accepts_forwarding_and_its_removal(box: Box, transport: str,
                                                     expect: list[str]) -> None:
    outcomes = box.applied(syslog={"server": "logs.example.com", "port": 6514,
                                   "transport": transport})
    assert outcomes["rsyslog restart"] == "checked: rsyslogd -N1 ok (not run here)"
    forward = box.read(FORWARD)
    assert 'target="logs.example.com"' in forward and 'port="6514"' in forward
    for text in expect:
        assert text in forward
    assert ("gtls" in forward) == (transport == "tls")

    # Forwarding off: the file goes, and rsyslog is checked and restarted without it.
    outcomes = box.applied(syslog={"server": ""})
    assert not (box.root / FORWARD).exists()
    assert outcomes["rsyslog restart"] == "checked: rsyslogd -N1 ok (not run here)"


@pytest.mark.parametrize(("service", "path", "garbage", "words"), [
    ("nginx", SITE, "bogus_directive on;\n", 'unknown directive "bogus_directive"'),
    ("ssh", SSHD, "BogusOption yes\n", "Bad configuration option: BogusOption"),
    ("chrony", CHRONY, "bogusdirective 1\n", "Invalid directive"),
    ("rsyslog", FORWARD, '*.* action(type="omfwd" protocol="carrier-pigeon")\n',
     'invalid protocol "carrier-pigeon"'),
])
def test_each_checker_refuses_a_broken_file(box: Box, service: str, path: str,
                                            garbage: str, words: str) -> None:
    box.applied(syslog={"server": "logs.example.com"})
    with open(box.root / path, "a") as f:
        f.write(garbage)
    verb = "reload" if service in ("nginx", "ssh") else "restart"
    with pytest.raises(ActionFailed) as err:
        box.driver(service).run(verb)
    assert err.value.service == service
    assert words in err.value.output


def test_a_refused_config_is_rolled_back(box: Box) -> None:
    box.applied()
    before = {p: (box.root / p).read_bytes() for p in (NGINX_CONF, SITE)}
    applier = box.services.applier
    real_context = applier.context
    missing = box.root / "etc/vcbox/tls/missing.crt"
    applier.context = lambda overrides=None: {**real_context(overrides),  # type: ignore
                                              "vcbox_tls_cert": str(missing)}
    try:
        result = box.apply(services={"https_enabled": True})
    finally:
        applier.context = real_context  # type: ignore[method-assign]
    assert not result.ok and result.restored
    assert result.failed is not None and result.failed.service == "nginx"
    # nginx's own words, naming the file.
    assert "cannot load certificate" in result.failed.output
    assert str(missing) in result.failed.output
    assert {p: (box.root / p).read_bytes() for p in before} == before


# -- a real nginx in front of the control plane ------------------------------------------------

class Backend(ThreadingHTTPServer):
    """Stands in for the control plane: answers every GET with what it was sent."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _EchoHandler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return self.server_address[1]

    def close(self) -> None:
        self.shutdown()
        self.server_close()


class _EchoHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = json.dumps({"path": self.path, "headers": dict(self.headers)}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def backend() -> Iterator[Backend]:
    srv = Backend()
    yield srv
    srv.close()


def test_real_nginx_proxies_and_redirects_to_https(tmp_path: Path, backend: Backend) -> None:
    require("nginx", "sshd", "chronyd", "rsyslogd")
    box = open_box(tmp_path, listen_port=backend.port, local_services=("nginx",))
    nginx = box.driver("nginx")
    assert isinstance(nginx, system_services.LocalNginx)
    http, https = free_low_port(), free_low_port()
    try:
        outcomes = box.applied(services={"http_port": http})
        assert outcomes["nginx reload"].startswith("reloaded: nginx runs here")
        assert nginx.status() == "ok"
        res = requests.get(f"http://127.0.0.1:{http}/api/v1/status?x=1", timeout=10)
        assert res.status_code == 200
        seen = res.json()
        assert seen["path"] == "/api/v1/status?x=1"
        assert seen["headers"]["X-Real-IP"] == "127.0.0.1"
        assert seen["headers"]["X-Forwarded-Proto"] == "http"
        assert seen["headers"]["Host"] == f"127.0.0.1:{http}"
        # What the control plane's start does: start it unless it runs.
        nginx.stop()
        assert nginx.status() == "stopped"
        assert nginx.ensure_running().startswith("restarted: nginx runs here")
        assert nginx.ensure_running() == f"running (pid {nginx.proc.pid})"
        assert requests.get(f"http://127.0.0.1:{http}/", timeout=10).status_code == 200
        first_pid = nginx.proc.pid

        # HTTPS on: HTTP answers 301 to the same host and path on HTTPS, which proxies.
        box.applied(services={"http_port": http, "https_enabled": True, "https_port": https})
        assert nginx.proc.pid != first_pid  # restarted on the new config
        res = requests.get(f"http://127.0.0.1:{http}/rooms?id=7", timeout=10,
                           allow_redirects=False)
        assert res.status_code == 301
        assert res.headers["Location"] == f"https://127.0.0.1:{https}/rooms?id=7"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the self-signed certificate
            res = requests.get(f"https://127.0.0.1:{https}/rooms?id=7", timeout=10,
                               verify=False)
        assert res.status_code == 200
        assert res.json()["headers"]["X-Forwarded-Proto"] == "https"
        assert res.json()["headers"]["X-Real-IP"] == "127.0.0.1"

        # A change nginx refuses: the apply fails, and nginx runs on the previous config.
        applier = box.services.applier
        real_context = applier.context
        applier.context = lambda overrides=None: {  # type: ignore[method-assign]
            **real_context(overrides), "vcbox_tls_key": str(tmp_path / "nope.key")}
        try:
            doc = box.doc("services", http_port=http, https_enabled=True, https_port=https,
                          ssh_port=2222)
            with pytest.raises(ApplyFailed):
                applier.change(Change("services", box.services.settings.stored("services"),
                                      doc))
        finally:
            applier.context = real_context  # type: ignore[method-assign]
        assert nginx.status() == "ok"
        res = requests.get(f"http://127.0.0.1:{http}/", timeout=10, allow_redirects=False)
        assert res.status_code == 301
        assert "\nPort 22\n" in box.read(SSHD)  # ssh's file was put back too
    finally:
        pid = nginx.proc.pid if nginx.proc else None
        box.services.applier.shutdown()
        box.services.close()
    assert nginx.status() == "stopped"
    if pid is not None:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_real_nginx_reports_a_port_in_use(tmp_path: Path, backend: Backend) -> None:
    require("nginx")
    box = open_box(tmp_path, listen_port=backend.port, local_services=("nginx",))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        try:
            box.applied(services={"http_port": free_low_port()})
            doc = {**box.services.settings.stored("services"), "http_port": port}
            _, result = box.services.applier.apply({"services": doc})
        finally:
            box.services.applier.shutdown()
            box.services.close()
    assert not result.ok and result.failed is not None
    assert result.failed.service == "nginx"
    assert "Address already in use" in result.failed.output


# -- the appliance's systemd actions, with systemctl standing in -----------------------------

FAKE_SYSTEMCTL = """#!/bin/sh
echo "$*" >> "$VCBOX_TEST_SYSTEMCTL_LOG"
case "$*" in *"$VCBOX_TEST_SYSTEMCTL_FAIL"*) echo "Job for $* failed."; exit 1;; esac
"""


@pytest.fixture
def systemd_box(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Box]:
    """service_mode "systemd" on a temp ROOT, with a systemctl that only takes notes."""
    require("nginx", "sshd", "chronyd", "rsyslogd")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("systemctl", "journalctl"):
        (bin_dir / name).write_text(FAKE_SYSTEMCTL)
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("VCBOX_TEST_SYSTEMCTL_LOG", str(tmp_path / "systemctl.log"))
    monkeypatch.setenv("VCBOX_TEST_SYSTEMCTL_FAIL", "no-such-call")
    b = open_box(tmp_path, service_mode="systemd")
    yield b
    b.services.close()


def systemctl_calls(box: Box) -> list[str]:
    log = Path(os.environ["VCBOX_TEST_SYSTEMCTL_LOG"])
    calls = log.read_text().splitlines() if log.exists() else []
    log.unlink(missing_ok=True)
    return [c for c in calls if not c.startswith("-")]  # journalctl's calls start with "-"


def test_systemd_mode_acts_through_systemctl(systemd_box: Box,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    box = systemd_box
    outcomes = box.applied(syslog={"server": "logs.example.com"})
    # On the appliance nginx listens on every address.
    assert "listen 80 default_server;" in box.read(SITE)
    assert "listen [::]:80 default_server;" in box.read(SITE)
    assert outcomes["nginx reload"] == "reloaded nginx"
    # The firewall first: a port opens before the service that moves to it restarts.
    assert systemctl_calls(box) == [
        "enable nftables", "reload-or-restart nftables",
        "enable chrony", "restart chrony", "restart rsyslog", "enable ssh",
        "reload-or-restart ssh", "reload-or-restart nginx"]

    # SSH off stops and disables it; manual time stops chrony (the clock is the admin's).
    doc = box.doc("time", source="manual", manual_datetime="2031-05-06T07:08:09")
    box.applied(services={"ssh_enabled": False}, time=doc,
                syslog={"server": "logs.example.com"})
    assert systemctl_calls(box) == ["enable nftables", "reload-or-restart nftables",
                                    "disable --now chrony", "disable --now ssh"]

    # systemctl's refusal is the apply's failure, and the previous files come back.
    monkeypatch.setenv("VCBOX_TEST_SYSTEMCTL_FAIL", "restart rsyslog")
    result = box.apply(services={"ssh_enabled": False}, time=doc,
                       syslog={"server": "logs2.example.com"})
    assert not result.ok and result.restored
    assert result.failed is not None and result.failed.service == "rsyslog"
    assert "Job for restart rsyslog failed." in result.failed.output
    assert 'target="logs.example.com"' in box.read(FORWARD)


# -- the clock ------------------------------------------------------------------------------------

def localtime(box: Box) -> tuple[str, ZoneInfo]:
    link = box.root / "etc/localtime"
    with open(link, "rb") as f:
        return os.readlink(link), ZoneInfo.from_file(f)


def offset(zone: ZoneInfo, when: dt.datetime) -> dt.timedelta:
    return when.replace(tzinfo=zone).utcoffset()  # type: ignore[return-value]


JANUARY, JULY = dt.datetime(2030, 1, 15, 12), dt.datetime(2030, 7, 15, 12)


def test_timezone_default_is_beijing(box: Box) -> None:
    box.applied()
    assert box.read("etc/timezone") == "Asia/Shanghai\n"
    target, zone = localtime(box)
    assert target == "/usr/share/zoneinfo/Asia/Shanghai"
    assert offset(zone, JULY) == dt.timedelta(hours=8)
    assert box.driver("clock").status() == "ok"


@pytest.mark.parametrize(("iana", "dst", "name", "january", "july"), [
    ("America/New_York", "auto", "America/New_York", -5 * 60, -4 * 60),
    # DST off: the standard offset all year (SPEC T1), from tzdata's Etc zones ...
    ("America/New_York", "off", "Etc/GMT+5", -5 * 60, -5 * 60),
    # ... or compiled with zic where tzdata has none (half hours).
    ("Australia/Adelaide", "off", "VCBOX/UTC+09:30", 9 * 60 + 30, 9 * 60 + 30),
    ("Australia/Adelaide", "auto", "Australia/Adelaide", 10 * 60 + 30, 9 * 60 + 30),
])
def test_timezone_link_follows_dst(box: Box, iana: str, dst: str, name: str,
                                   january: int, july: int) -> None:
    outcomes = box.applied(time={"timezone": iana, "dst": dst})
    assert "clock timezone" in outcomes
    assert box.read("etc/timezone") == f"{name}\n"
    target, zone = localtime(box)
    assert target.endswith(f"zoneinfo/{name}")
    if name.startswith("VCBOX/"):
        assert target == f"{box.root}/usr/share/zoneinfo/{name}"  # compiled under ROOT
    assert offset(zone, JANUARY) == dt.timedelta(minutes=january)
    assert offset(zone, JULY) == dt.timedelta(minutes=july)


def test_set_time_is_recorded_and_leaves_the_host_clock_alone(box: Box) -> None:
    box.applied()
    doc = box.doc("time", source="manual", manual_datetime="2031-05-06T07:08:09",
                  timezone="Australia/Adelaide", dst="off")
    change = Change("time", box.services.settings.stored("time"), doc)
    before = time.time()
    outcomes = box.applied(tuple(events_for(change)), time=doc)
    assert abs(time.time() - before) < 60
    text = outcomes["clock set_time"]
    assert "host clock left alone" in text
    record = json.loads(box.read("var/lib/vcbox/clock-set"))
    # The wall-clock time is read in the new zone, whichever clock action ran first.
    assert record["requested"] == "2031-05-06T07:08:09"
    assert record["zone"] == "VCBOX/UTC+09:30"
    assert record["utc"] == "2031-05-05T21:38:09+00:00"
    assert dt.datetime.now().year < 2031  # the host clock was not moved there
