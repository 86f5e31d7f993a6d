"""Janus, coturn and FreeSWITCH processes, by service mode (DESIGN D7).

- systemd (the appliance): `Systemd` runs `systemctl <verb> <unit>`, then waits until
  the service answers.
- local (development and tests), services in `Config.local_services`: `LocalProcess`
  runs the binary as a child of the control plane on the files rendered under ROOT,
  its output appended to ROOT/var/log/vcbox/<service>.log.
- local, other services: `NotRunHere` checks the rendered files and says it ran nothing.
- binary not installed: `Absent`.

A restart is reported done only once the service answers (Janus: Admin API `info` and
Janus API `info`; coturn: a STUN binding answer and its CLI port). When it does not,
ActionFailed carries the reason and the tail of the service's own output.

Neither Janus nor coturn re-reads its configuration on a signal, so "reload" restarts.
FreeSWITCH's other verbs (reloadxml, profile restart) go over its event socket
(drivers/freeswitch.py); its process is one of these when it runs locally: in the
foreground (-nf -nc), no NAT probing or realtime clock (-nonat -nort), on normal
scheduling (-np: by default FreeSWITCH puts its threads on realtime priority, and under a
call storm they starve the control plane that answers each call's lookups; the appliance's
freeswitch.service drop-in does the same), every folder it
writes under ROOT, its sounds folder too (where $${sounds_dir}/vcbox links to the IVR
prompts of VCBOX_PROMPTS, made first if need be), ready once its event socket takes the
rendered password and the internal SIP profile runs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import logging
import os
import re
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import requests

from controlplane.config import Config, prompts_dir_from
from controlplane.drivers.coturn import CoturnCli
from controlplane.drivers.esl import Esl, EslAuthError, EslError
from controlplane.drivers.janus import JanusAdmin, JanusError
from controlplane.drivers.services import Absent, ActionFailed, Driver

log = logging.getLogger(__name__)

LOG_DIR = "var/log/vcbox"
RUN_DIR = "run/vcbox"
RESTARTING = ("restart", "reload", "start")
PAST = {"restart": "restarted", "reload": "restarted", "start": "started", "stop": "stopped"}
TAIL_LINES = 20
TAIL_CHARS = 2000
ANSI = re.compile(r"\x1b\[[0-9;]*m")


class ConfigProblem(Exception):
    """A rendered file the service would misread (vcbox's own check, before any start)."""


class Refused(Exception):
    """The service said it will not work with this configuration (no point waiting)."""


# -- reading the rendered files ----------------------------------------------------------

def jcfg_values(path: Path) -> dict[str, str]:
    """`name = value` pairs of a libconfig (.jcfg) file as vcbox renders them (one per
    line, quoted strings or bare words; the sections do not matter for the names used)."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        m = re.match(r'\s*([A-Za-z_][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s#;]+))', line)
        if m:
            values.setdefault(m.group(1), m.group(2) if m.group(2) is not None else m.group(3))
    return values


def conf_values(path: Path) -> dict[str, list[str]]:
    """turnserver.conf as {option: [values]} ("" for a flag)."""
    values: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, value = line.partition("=")
        values.setdefault(name.strip(), []).append(value.strip().strip('"'))
    return values


def _port(text: str, what: str) -> int:
    if not re.fullmatch(r"[0-9]{1,5}", text or "") or not 1 <= int(text) <= 65535:
        raise ConfigProblem(f"{what}: {text!r} is not a port number")
    return int(text)


def _port_range(text: str, what: str) -> tuple[int, int]:
    low, sep, high = (text or "").partition("-")
    if not sep:
        raise ConfigProblem(f"{what}: {text!r} is not a port range (min-max)")
    lo, hi = _port(low, what), _port(high, what)
    if lo >= hi:
        raise ConfigProblem(f"{what}: {text!r}: the minimum must be below the maximum")
    return lo, hi


def _ip(text: str, what: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise ConfigProblem(f"{what}: {text!r} is not an IP address") from None


# -- Janus -------------------------------------------------------------------------------

JANUS_DIR = "etc/janus"


def janus_argv(root: Path, binary: str) -> list[str]:
    folder = root / JANUS_DIR
    return [binary, "--disable-colors", "-F", str(folder), "-C", str(folder / "janus.jcfg")]


# Janus's SIP plugin (Debian's janus 1.1.2) is built against Debian's sofia-sip 1.12; the
# FreeSWITCH packages replace that library with their fork's 1.13, which keeps the soname
# but changes the message structures: with it the plugin sends INVITEs without a Contact
# and crashes parsing an answer's SDP. Janus therefore runs with Debian's 1.12 library from
# a folder of its own (scripts/setup.sh and roles/janus put it there; on the appliance the
# janus.service drop-in sets the same path), FreeSWITCH with its own.
JANUS_LIB_DIR = Path("/usr/lib/vcbox/janus")
SOFIA_LIBRARY = "libsofia-sip-ua.so.0"


def janus_env(lib_dir: Path = JANUS_LIB_DIR) -> dict[str, str]:
    """The environment of a Janus child: the private sofia-sip when it is installed."""
    if not (lib_dir / SOFIA_LIBRARY).is_file():
        return {}
    return {"LD_LIBRARY_PATH": str(lib_dir)}


def janus_check(root: Path) -> None:
    folder = root / JANUS_DIR
    core = folder / "janus.jcfg"
    if not core.is_file():
        raise ConfigProblem(f"{core} is missing")
    for path in sorted(folder.glob("*.jcfg")):
        text = re.sub(r'"(?:[^"\\]|\\.)*"|#.*', "", path.read_text())
        if text.count("{") != text.count("}"):
            raise ConfigProblem(f"{path.name}: unbalanced braces")
    values = jcfg_values(core)
    _port_range(values.get("rtp_port_range", ""), "janus.jcfg rtp_port_range")
    if not values.get("admin_secret"):
        raise ConfigProblem("janus.jcfg: no admin_secret")
    http = folder / "janus.transport.http.jcfg"
    if http.is_file():
        values = jcfg_values(http)
        _port(values.get("port", ""), "janus.transport.http.jcfg port")
        _port(values.get("admin_port", ""), "janus.transport.http.jcfg admin_port")


def janus_endpoints(root: Path) -> tuple[JanusAdmin, str]:
    """The Admin API client and the Janus API URL the rendered files describe."""
    folder = root / JANUS_DIR
    core, http = jcfg_values(folder / "janus.jcfg"), jcfg_values(
        folder / "janus.transport.http.jcfg")
    admin = JanusAdmin(f"http://{http.get('admin_ip', '127.0.0.1')}:{http['admin_port']}"
                       f"{http.get('admin_base_path', '/admin')}",
                       core.get("admin_secret", ""), timeout=1.0)
    api = (f"http://{http.get('ip', '127.0.0.1')}:{http['port']}"
           f"{http.get('base_path', '/janus')}")
    return admin, api


def janus_probe(root: Path) -> str:
    admin, api = janus_endpoints(root)
    try:
        admin.info()
    except JanusError as exc:
        if exc.code is not None:  # it answers, and refuses: the secret is not the rendered one
            raise Refused(f"Admin API: {exc}") from exc
        return f"Admin API: {exc.reason}"
    try:
        answer = requests.get(api + "/info", timeout=1.0).json()
    except (requests.RequestException, ValueError) as exc:
        return f"Janus API: {exc}"
    return "" if answer.get("janus") == "server_info" else f"Janus API answered {answer!r:.200}"


# -- coturn ------------------------------------------------------------------------------

TURN_CONF = "etc/turnserver.conf"
STUN_MAGIC = 0x2112A442


def coturn_argv(root: Path, binary: str) -> list[str]:
    return [binary, "-c", str(root / TURN_CONF)]


def coturn_check(root: Path) -> None:
    path = root / TURN_CONF
    if not path.is_file():
        raise ConfigProblem(f"{path} is missing")
    conf = conf_values(path)

    def one(name: str) -> str:
        if len(conf.get(name, [])) != 1:
            raise ConfigProblem(f"turnserver.conf: {name} must be set once")
        return conf[name][0]

    for name in ("listening-port", "tls-listening-port", "cli-port"):
        if name in conf:
            _port(one(name), f"turnserver.conf {name}")
    _port_range(f"{one('min-port')}-{one('max-port')}", "turnserver.conf min-port/max-port")
    for name in ("listening-ip", "relay-ip", "cli-ip", "allowed-peer-ip"):
        for value in conf.get(name, []):
            _ip(value, f"turnserver.conf {name}")
    if "use-auth-secret" not in conf or not one("static-auth-secret"):
        raise ConfigProblem("turnserver.conf: TURN REST credentials need use-auth-secret "
                            "and a static-auth-secret")


def stun_binding(host: str, port: int, timeout: float = 0.3) -> bool:
    """True when a STUN server answers a binding request on host:port (UDP)."""
    tid = os.urandom(12)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.sendto(struct.pack("!HHI", 0x0001, 0, STUN_MAGIC) + tid, (host, port))
            data = sock.recv(2048)
        except OSError:  # timeout, ICMP port unreachable, no route
            return False
    return len(data) >= 20 and data[:2] == b"\x01\x01" and data[8:20] == tid


def coturn_probe(root: Path) -> str:
    conf = conf_values(root / TURN_CONF)
    host = conf.get("listening-ip", ["127.0.0.1"])[0]
    port = int(conf.get("listening-port", ["3478"])[0])
    if not stun_binding(host, port):
        return f"no STUN answer on {host}:{port}/udp"
    if "cli-port" in conf:
        cli = (conf.get("cli-ip", ["127.0.0.1"])[0], int(conf["cli-port"][0]))
        try:
            socket.create_connection(cli, timeout=0.5).close()
        except OSError as exc:
            return f"CLI {cli[0]}:{cli[1]}: {exc}"
    return ""


def coturn_cli(root: Path, timeout: float = 3.0) -> CoturnCli:
    """A CLI client with the address and password of the rendered turnserver.conf."""
    conf = conf_values(root / TURN_CONF)
    return CoturnCli(conf.get("cli-ip", ["127.0.0.1"])[0], int(conf["cli-port"][0]),
                     conf.get("cli-password", [""])[0], timeout)


# -- FreeSWITCH --------------------------------------------------------------------------

FREESWITCH_DIR = "etc/freeswitch"
FREESWITCH_LOG = "var/log/freeswitch/freeswitch.log"
FREESWITCH_SOUNDS = "usr/share/freeswitch/sounds"
# Every folder FreeSWITCH writes to or plays from, under ROOT (its defaults are /var/...,
# /run/... and /usr/share/...).
FREESWITCH_DIRS = {"-log": "var/log/freeswitch", "-db": "var/lib/freeswitch/db",
                   "-run": "run/freeswitch", "-cache": "var/cache/freeswitch",
                   "-storage": "var/lib/freeswitch/storage",
                   "-recordings": "var/lib/freeswitch/recordings",
                   "-sounds": FREESWITCH_SOUNDS}
FREESWITCH_PROFILE = "internal"
# $${sounds_dir}/vcbox: the IVR prompts (vars.xml sound_prefix, controlplane/prompts.py).
PROMPTS_LINK = f"{FREESWITCH_SOUNDS}/vcbox"


def freeswitch_argv(root: Path, binary: str) -> list[str]:
    argv = [binary, "-nf", "-nc", "-nonat", "-nort", "-np", "-conf", str(root / FREESWITCH_DIR)]
    for flag, folder in FREESWITCH_DIRS.items():
        argv += [flag, str(root / folder)]
    return argv


def freeswitch_prepare(root: Path) -> None:
    """ROOT/usr/share/freeswitch/sounds/vcbox links to the IVR prompts (VCBOX_PROMPTS),
    made there first when missing or out of date. Without espeak-ng or sox FreeSWITCH
    still starts, its IVR silent: logged. A real folder there is left as it is."""
    from controlplane import prompts

    source = prompts_dir_from()
    try:
        outcome = prompts.generate(source)
        if not outcome.up_to_date:
            log.info("IVR prompts in %s: %s", source, outcome.summary())
    except (prompts.PromptError, OSError) as exc:
        log.warning("IVR prompts not made in %s: %s", source, exc)
    link = root / PROMPTS_LINK
    if link.is_symlink():
        if Path(os.readlink(link)) == source:
            return
        link.unlink()
    elif link.exists():
        return
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(source, target_is_directory=True)


def freeswitch_check(root: Path) -> None:
    """Every rendered XML file parses (FreeSWITCH would drop a broken one silently)."""
    folder = root / FREESWITCH_DIR
    if not (folder / "freeswitch.xml").is_file():
        raise ConfigProblem(f"{folder / 'freeswitch.xml'} is missing")
    for path in sorted(folder.rglob("*.xml")):
        try:
            ET.parse(path)  # noqa: S314 -- vcbox's own rendered file, not a peer's input
        except ET.ParseError as exc:
            raise ConfigProblem(f"{path.relative_to(folder)}: {exc}") from None


def freeswitch_esl(root: Path, timeout: float = 1.0) -> Esl:
    """An event-socket client with the address and password of the rendered config."""
    params = {p.get("name"): p.get("value", "") for p in ET.parse(  # noqa: S314
        root / FREESWITCH_DIR / "autoload_configs" / "event_socket.conf.xml").iter("param")}
    return Esl(params.get("listen-ip") or "127.0.0.1", int(params.get("listen-port") or 8021),
               params.get("password", ""), timeout=timeout, quiet=True)


def freeswitch_probe(root: Path) -> str:
    esl = freeswitch_esl(root)
    try:
        out = esl.api("sofia status")
    except EslAuthError as exc:  # it answers, and refuses: not the rendered password
        raise Refused(f"event socket: {exc.reason}") from exc
    except EslError as exc:
        return f"event socket: {exc.reason}"
    finally:
        esl.close()
    if not profile_running(out):
        return f"SIP profile {FREESWITCH_PROFILE} is not running"
    return ""


def profile_running(sofia_status: str, profile: str = FREESWITCH_PROFILE) -> bool:
    """True when `sofia status` lists the profile as RUNNING."""
    return re.search(rf"^\s*{re.escape(profile)}\s+profile\s+\S+\s+RUNNING", sofia_status,
                     re.M) is not None


# -- what each service is ----------------------------------------------------------------

@dataclass(frozen=True)
class Spec:
    name: str
    binary: str
    unit: str
    argv: Callable[[Path, str], list[str]]
    check: Callable[[Path], None]      # raises ConfigProblem
    probe: Callable[[Path], str]       # "" once it answers, else why not; raises Refused
    fatal: tuple[str, ...] = ()        # output that means it will not come up
    dirs: tuple[str, ...] = ()         # folders under ROOT it writes to
    start_timeout_s: float = 10.0
    own_log: str = ""                  # its own log file under ROOT (read like its output)
    prepare: Callable[[Path], None] | None = None  # before each start, given ROOT
    env: Callable[[], dict[str, str]] = dict       # added to the child's environment


SPECS: dict[str, Spec] = {
    "janus": Spec("janus", "janus", "janus.service", janus_argv, janus_check, janus_probe,
                  fatal=("[FATAL]",), env=janus_env),
    # coturn retries a failed bind for ever instead of exiting: its own words say it.
    "coturn": Spec("coturn", "turnserver", "coturn.service", coturn_argv, coturn_check,
                   coturn_probe, fatal=("Cannot bind",), dirs=(RUN_DIR, "var/lib/turn"),
                   start_timeout_s=5.0),
    "freeswitch": Spec("freeswitch", "freeswitch", "freeswitch.service", freeswitch_argv,
                       freeswitch_check, freeswitch_probe, fatal=("[CRIT]",),
                       dirs=tuple(FREESWITCH_DIRS.values()), start_timeout_s=30.0,
                       own_log=FREESWITCH_LOG, prepare=freeswitch_prepare),
}
# The services this module makes drivers for; FreeSWITCH's comes with drivers/freeswitch.py.
OWN = ("janus", "coturn")


def _tail(text: str) -> str:
    """The last distinct lines of a service's output."""
    seen: dict[str, None] = {}
    for line in ANSI.sub("", text).splitlines():
        line = line.rstrip()
        if line.strip():
            seen.pop(line, None)
            seen[line] = None
    return "\n".join(list(seen)[-TAIL_LINES:])[-TAIL_CHARS:]


def _size(path: Path | None) -> int:
    try:
        return path.stat().st_size if path is not None else 0
    except OSError:
        return 0


def _read_from(path: Path, offset: int) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


class LocalProcess:
    """The service as a child process of the control plane, on the files under root."""

    def __init__(self, spec: Spec, root: Path, binary: str,
                 start_timeout_s: float | None = None, stop_timeout_s: float = 5.0) -> None:
        self.spec, self.root, self.service = spec, root, spec.name
        self.argv = spec.argv(root, binary)
        self.start_timeout_s = start_timeout_s or spec.start_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.log_path = root / LOG_DIR / f"{spec.name}.log"
        self.own_log = root / spec.own_log if spec.own_log else None
        self.own_offset = 0
        self.pid_path = root / RUN_DIR / f"{spec.name}.pid"
        self.proc: subprocess.Popen[bytes] | None = None
        self.failed = False
        self.lock = threading.RLock()

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def run(self, verb: str, arg: str = "") -> str:
        with self.lock:
            if verb == "stop":
                self.stop()
                return "stopped"
            if verb not in RESTARTING:
                raise ActionFailed(self.service, verb, f"unknown action {verb!r}")
            if verb == "start" and self.pid is not None:
                return f"running (pid {self.pid})"
            try:
                self.spec.check(self.root)
            except (ConfigProblem, OSError) as exc:
                # Checked before stopping: the running service keeps its working config.
                raise ActionFailed(self.service, verb, f"config check: {exc}") from exc
            self.stop()
            return self._start(verb)

    def ensure_running(self) -> str:
        """Start the service unless it runs; a failure is logged and shows in status()."""
        with self.lock:
            if self.pid is not None:
                return f"running (pid {self.pid})"
            try:
                return self.run("start")
            except ActionFailed as exc:
                log.warning("%s did not start: %s", self.service, exc.output)
                return f"failed: {exc.output}"

    def stop(self) -> None:
        with self.lock:
            proc, self.proc = self.proc, None
            if proc is not None:
                if proc.poll() is None:
                    proc.terminate()
                    try:
                        proc.wait(self.stop_timeout_s)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
            else:
                self._stop_orphan()
            self.pid_path.unlink(missing_ok=True)

    def status(self) -> str:
        with self.lock:
            if self.proc is None:
                return "fail" if self.failed else "stopped"
            if self.proc.poll() is not None:
                self.failed = True
                return "fail"
            try:
                return "fail" if self.spec.probe(self.root) else "ok"
            except Refused:
                return "fail"

    def _start(self, verb: str) -> str:
        for folder in (*self.spec.dirs, LOG_DIR, RUN_DIR):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        if self.spec.prepare is not None:
            try:
                self.spec.prepare(self.root)
            except OSError as exc:
                self.failed = True
                raise ActionFailed(self.service, verb, f"preparing {self.root}: {exc}"
                                   ) from exc
        with open(self.log_path, "ab") as out:
            stamp = dt.datetime.now().isoformat(timespec="seconds")
            out.write(f"--- vcbox {stamp}: {shlex.join(self.argv)}\n".encode())
            out.flush()
            offset = out.tell()
            self.own_offset = _size(self.own_log)
            try:
                # Same process group: Ctrl-C on `make run` ends the services too.
                self.proc = subprocess.Popen(self.argv, cwd=self.root, stdin=subprocess.DEVNULL,
                                             stdout=out, stderr=subprocess.STDOUT,
                                             env={**os.environ, **self.spec.env()})
            except OSError as exc:
                self.failed = True
                raise ActionFailed(self.service, verb, f"{self.argv[0]}: {exc}") from exc
        self.pid_path.write_text(f"{self.proc.pid}\n")
        deadline = time.monotonic() + self.start_timeout_s
        while True:
            rc = self.proc.poll()
            if rc is not None:
                self._fail(verb, f"exited with status {rc}", offset)
            output = self._output(offset)
            fatal = next((line for line in output.splitlines()
                          if any(word in line for word in self.spec.fatal)), "")
            if fatal:
                self._fail(verb, f"refused to start: {fatal.strip()}", offset)
            try:
                reason = self.spec.probe(self.root)
            except Refused as exc:
                self._fail(verb, str(exc), offset)
            if not reason:
                self.failed = False
                return f"{PAST[verb]} (pid {self.proc.pid})"
            if time.monotonic() > deadline:
                self._fail(verb, f"not ready after {self.start_timeout_s:g} s ({reason})",
                           offset)
            time.sleep(0.05)

    def _output(self, offset: int) -> str:
        text = _read_from(self.log_path, offset)
        if self.own_log is not None:
            text += _read_from(self.own_log, self.own_offset)
        return ANSI.sub("", text)

    def _fail(self, verb: str, reason: str, offset: int) -> NoReturn:
        tail = _tail(self._output(offset))  # before stopping: not its shutdown messages
        self.stop()
        self.failed = True
        raise ActionFailed(self.service, verb,
                           f"{reason}; its output ({self.log_path}):\n{tail}" if tail
                           else reason)

    def _stop_orphan(self) -> None:
        """A process this driver started before the control plane restarted: the pid file
        names it, and its command line must be ours (pids are reused)."""
        try:
            pid = int(self.pid_path.read_text().strip())
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = [a.decode() for a in f.read().split(b"\0") if a]
        except (OSError, ValueError):
            return
        if argv != self.argv:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + self.stop_timeout_s
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
                while _alive(pid):
                    time.sleep(0.05)


@dataclass
class NotRunHere:
    """Local mode, a service the developer does not run: its files are checked only."""

    spec: Spec
    root: Path

    def run(self, verb: str, arg: str = "") -> str:
        try:
            self.spec.check(self.root)
        except (ConfigProblem, OSError) as exc:
            raise ActionFailed(self.spec.name, verb, f"config check: {exc}") from exc
        return (f"checked: not run here ({self.spec.name} is not in VCBOX_LOCAL_SERVICES; "
                f"vcbox checked its files, {self.spec.name} has no offline config checker)")

    def status(self) -> str:
        return "checked"


@dataclass
class Systemd:
    """The appliance: the unit is restarted by systemd, then must answer."""

    service: str
    unit: str
    probe: Callable[[], str] | None = None
    timeout_s: float = 60.0
    ready_timeout_s: float = 15.0

    def _systemctl(self, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["systemctl", *args], capture_output=True, text=True,
                              timeout=timeout, check=False)

    def run(self, verb: str, arg: str = "") -> str:
        if verb not in PAST:
            raise ActionFailed(self.service, verb, f"unknown action {verb!r}")
        # Neither service re-reads its files on reload: a reload is a restart.
        command = "restart" if verb == "reload" else verb
        try:
            res = self._systemctl(command, self.unit, timeout=self.timeout_s)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ActionFailed(self.service, verb, f"systemctl {command} {self.unit}: {exc}"
                               ) from exc
        if res.returncode != 0:
            raise ActionFailed(self.service, verb, (res.stderr or res.stdout).strip()
                               or f"systemctl {command} {self.unit}: exit {res.returncode}")
        if command == "stop" or self.probe is None:
            return PAST[verb]
        deadline, reason = time.monotonic() + self.ready_timeout_s, ""
        while time.monotonic() < deadline:
            try:
                reason = self.probe()
            except Refused as exc:
                raise ActionFailed(self.service, verb, str(exc)) from exc
            if not reason:
                return PAST[verb]
            time.sleep(0.1)
        raise ActionFailed(self.service, verb, f"{self.unit} is {self._active()} but not "
                           f"ready after {self.ready_timeout_s:g} s ({reason})")

    def _active(self) -> str:
        try:
            return self._systemctl("is-active", self.unit, timeout=10).stdout.strip() or "?"
        except (OSError, subprocess.TimeoutExpired):
            return "?"

    def status(self) -> str:
        return {"active": "ok", "inactive": "stopped", "failed": "fail"}.get(
            self._active(), "fail")


def drivers(config: Config, state: Any = None) -> dict[str, Driver]:
    """The drivers of "janus" and "coturn" for this configuration's service mode."""
    out: dict[str, Driver] = {}
    for name in OWN:
        spec = SPECS[name]
        binary = shutil.which(spec.binary) or shutil.which(spec.binary, path="/usr/bin")
        if binary is None:
            out[name] = Absent(name, f"{spec.binary} is not installed")
        elif config.service_mode == "systemd":
            out[name] = Systemd(name, spec.unit, probe=lambda s=spec: s.probe(config.root))
        elif name in config.local_services:
            out[name] = LocalProcess(spec, config.root, binary)
        else:
            out[name] = NotRunHere(spec, config.root)
    return out
