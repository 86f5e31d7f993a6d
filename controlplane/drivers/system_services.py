"""System services (DESIGN D7): nginx, ssh, chrony, rsyslog and the firewall (nftables).

Every action first runs the service's own config check on the file rendered under ROOT
(`nginx -t`, `sshd -t`, `chronyd -p`, `rsyslogd -N1`, `nft -c`) and raises ActionFailed with the
checker's words when it refuses; the new file is then never handed to the service.
Then, by `config.service_mode`:

- "systemd" (the appliance): systemctl acts on the unit. SSH turned off (P2) is
  `systemctl disable --now ssh`; a manual time source (T1) stops chrony, because the
  administrator's clock is the reference then.
- "local" (development, tests): nothing runs on the host; the outcome says the config
  was checked. nginx is the exception when "nginx" is in `config.local_services`: it
  runs as a child process on the rendered config, restarted on every reload.

The drivers decide from the files under ROOT, never from the settings being applied:
when an apply fails, commit puts the previous files back and runs the same actions
again, and those must then act on the previous files.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import IO, Any

from controlplane.apply import assets
from controlplane.config import Config
from controlplane.drivers.services import Absent, ActionFailed, Driver

log = logging.getLogger(__name__)

CHECK_TIMEOUT_S = 30
SYSTEMCTL_TIMEOUT_S = 90
START_TIMEOUT_S = 10
STOP_TIMEOUT_S = 10
VERBS = ("reload", "restart")
# sshd_config says so when SSH is off (templates/etc/ssh/sshd_config).
SSH_DISABLED_MARK = "# vcbox-ssh: disabled"
# sshd makes this check after it parsed the config and loaded the host keys.
SSH_PRIVSEP_MISSING = "Missing privilege separation directory: /run/sshd"


def find_program(name: str) -> str | None:
    """The program's path; the sbin folders count even when PATH lacks them."""
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    return shutil.which(name, path=path)


def run_command(args: list[str], timeout: float = CHECK_TIMEOUT_S,
                stdout: bool = True) -> tuple[int, str]:
    """(exit status, stdout and stderr together, stripped); stderr alone without stdout."""
    try:
        proc = subprocess.run(args, stdout=subprocess.PIPE if stdout else subprocess.DEVNULL,
                              stderr=subprocess.STDOUT if stdout else subprocess.PIPE,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return 124, f"{Path(args[0]).name} did not finish within {timeout:g} s"
    except OSError as exc:
        return 127, f"{args[0]}: {exc.strerror or exc}"
    out = proc.stdout if stdout else proc.stderr
    return proc.returncode, out.decode("utf-8", "replace").strip()


class SystemService:
    """A service whose config its own tool checks, and which systemd runs on the appliance.

    Subclasses set the names and `check_args()`, and may refine `check()` and
    `systemd_action()`.
    """

    name = ""        # the service in actions (targets.RULES)
    unit = ""        # the systemd unit
    program = ""     # the checker
    config_file = ""  # the rendered file the checker reads, relative to ROOT

    def __init__(self, config: Config, program: str) -> None:
        self.config = config
        self.root = config.root
        self.program_path = program
        self.systemd = config.service_mode == "systemd"

    @property
    def path(self) -> Path:
        return self.root / self.config_file

    @property
    def checker(self) -> str:
        return " ".join([self.program, *self.check_flags()])

    def check_flags(self) -> list[str]:
        raise NotImplementedError

    def check_args(self) -> list[str]:
        raise NotImplementedError

    def check(self, verb: str) -> str:
        """Run the checker; its output, or ActionFailed with it."""
        rc, output = run_command(self.check_args())
        if rc != 0:
            raise ActionFailed(self.name, verb, output or f"{self.checker} exited with {rc}")
        return output

    # -- actions ------------------------------------------------------------------------

    def run(self, verb: str, arg: str = "") -> str:
        if verb not in VERBS:
            raise ActionFailed(self.name, verb, f"unknown action {verb!r}")
        self.check(verb)
        if self.systemd:
            return self.systemd_action(verb)
        return self.local_action(verb)

    def local_action(self, verb: str) -> str:
        return f"checked: {self.checker} ok (not run here)"

    def systemd_action(self, verb: str) -> str:
        systemctl(self.name, verb, "reload-or-restart" if verb == "reload" else "restart",
                  self.unit)
        return f"{verb}ed {self.unit}"

    def status(self) -> str:
        if not self.systemd:
            return "checked"
        return unit_status(self.unit)


def systemctl(service: str, verb: str, *args: str) -> str:
    rc, output = run_command(["systemctl", *args], timeout=SYSTEMCTL_TIMEOUT_S)
    if rc != 0:
        unit = args[-1]
        _, journal = run_command(["journalctl", "--no-pager", "-n", "15", "-u", unit])
        raise ActionFailed(service, verb, "\n".join(filter(None, [output, journal]))
                           or f"systemctl {' '.join(args)} exited with {rc}")
    return output


def unit_status(unit: str) -> str:
    _, state = run_command(["systemctl", "is-active", unit], timeout=SYSTEMCTL_TIMEOUT_S)
    return {"active": "ok", "reloading": "ok", "activating": "ok",
            "inactive": "stopped", "failed": "fail"}.get(state, "fail")


# -- nginx ---------------------------------------------------------------------------------

class Nginx(SystemService):
    name, unit, program = "nginx", "nginx", "nginx"
    config_file = "etc/nginx/nginx.conf"

    def check_flags(self) -> list[str]:
        return ["-t"]

    def check_args(self) -> list[str]:
        return [self.program_path, "-t", "-c", str(self.path)]


_LISTEN = re.compile(r"^\s*listen\s+(?:(\d[\d.]*|\[[^\]]*\]|[\w.-]+):)?(\d+)\b", re.M)


def listen_addresses(site: str) -> list[tuple[str, int]]:
    """(host to connect to, port) of each IPv4 or wildcard `listen` in a site file."""
    found = []
    for host, port in _LISTEN.findall(site):
        if host.startswith("["):
            continue
        wildcard = host in ("", "*", "0.0.0.0")  # noqa: S104 - connecting, not binding
        found.append(("127.0.0.1" if wildcard else host, int(port)))
    return found


_PID = re.compile(r"^\s*pid\s+([^;\s]+)\s*;", re.M)


def accepts(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class LocalNginx(Nginx):
    """nginx as a child of the control plane (local mode): master in the foreground."""

    site_file = "etc/nginx/sites-enabled/vcbox.conf"

    def __init__(self, config: Config, program: str) -> None:
        super().__init__(config, program)
        self.proc: subprocess.Popen[bytes] | None = None
        self._console: IO[bytes] | None = None
        self._console_start = 0
        self._failed = False  # the last start failed
        self._lock = threading.RLock()

    @property
    def console_log(self) -> Path:
        return self.root / "var/log/nginx/console.log"

    def ready_address(self) -> tuple[str, int] | None:
        try:
            listens = listen_addresses((self.root / self.site_file).read_text())
        except FileNotFoundError:
            return None
        return listens[0] if listens else None

    def pid_file(self) -> Path | None:
        try:
            match = _PID.search(self.path.read_text())
        except FileNotFoundError:
            return None
        return Path(match.group(1)) if match else None

    @staticmethod
    def _ready(pid: int, pid_file: Path | None, address: tuple[str, int] | None) -> bool:
        # nginx writes its pid once it holds every listening socket (it retries a busy
        # port for a while first); then the port must take connections.
        if pid_file is not None:
            try:
                if pid_file.read_text().strip() != str(pid):
                    return False
            except FileNotFoundError:
                return False
        return address is None or accepts(*address)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def run(self, verb: str, arg: str = "") -> str:
        if verb not in VERBS:
            raise ActionFailed(self.name, verb, f"unknown action {verb!r}")
        with self._lock:
            # The check comes first: a refused config leaves the running nginx alone.
            self.check(verb)
            self.stop()
            self._failed = True
            pid = self._start(verb)
            self._failed = False
            host, port = self.ready_address() or ("?", 0)
            return f"{verb}ed: nginx runs here (pid {pid}, {host}:{port})"

    def _start(self, verb: str) -> int:
        assets.state_dirs(self.root)
        pid_file = self.pid_file()
        if pid_file is not None:
            pid_file.unlink(missing_ok=True)  # `nginx -t` leaves an empty one
        self._console = open(self.console_log, "ab")  # noqa: SIM115 - closed in stop()
        self._console_start = self._console.tell()
        self.proc = proc = subprocess.Popen(
            [self.program_path, "-c", str(self.path), "-g", "daemon off;"],
            stdin=subprocess.DEVNULL, stdout=self._console, stderr=subprocess.STDOUT,
            start_new_session=True)
        address = self.ready_address()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            if self._ready(proc.pid, pid_file, address):
                return proc.pid
            time.sleep(0.02)
        exited = proc.poll() is not None
        self.stop()
        reason = self._tail() if exited else ""
        if not reason:
            where = f" on {address[0]}:{address[1]}" if address else ""
            reason = f"nginx did not start listening{where} within {START_TIMEOUT_S} s"
        raise ActionFailed(self.name, verb, reason)

    def _tail(self, lines: int = 20) -> str:
        """What this run of nginx said on its console (its start-up errors)."""
        try:
            with open(self.console_log, "rb") as f:
                f.seek(self._console_start)
                text = f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""
        # nginx repeats a failed bind() five times: once is enough.
        said: list[str] = []
        for line in text.strip().splitlines():
            if not said or line != said[-1]:
                said.append(line)
        return "\n".join(said[-lines:])

    def ensure_running(self) -> str:
        """Start nginx unless it runs; a failure is logged and shows in status()."""
        with self._lock:
            if self.running():
                return f"running (pid {self.proc.pid})"  # type: ignore[union-attr]
            try:
                return self.run("restart")
            except ActionFailed as exc:
                log.warning("nginx did not start: %s", exc.output)
                self._failed = True
                return f"failed: {exc.output}"

    def stop(self) -> None:
        with self._lock:
            proc, self.proc = self.proc, None
            if proc is not None and proc.poll() is None:
                proc.terminate()  # SIGTERM: nginx's fast shutdown, workers included
                try:
                    proc.wait(STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    # Its own session (start_new_session): the group holds its workers.
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
            if self._console is not None:
                self._console.close()
                self._console = None

    def status(self) -> str:
        if self.proc is None:
            return "fail" if self._failed else "stopped"
        if not self.running():
            return "fail"
        address = self.ready_address()
        return "ok" if address is None or accepts(*address) else "fail"


# -- ssh -----------------------------------------------------------------------------------

class Ssh(SystemService):
    name, unit, program = "ssh", "ssh", "sshd"
    config_file = "etc/ssh/sshd_config"

    def check_flags(self) -> list[str]:
        return ["-t"]

    def check_args(self) -> list[str]:
        return [self.program_path, "-t", "-f", str(self.path)]

    def enabled(self) -> bool:
        try:
            return SSH_DISABLED_MARK not in self.path.read_text()
        except FileNotFoundError:
            return False

    def check(self, verb: str) -> str:
        rc, output = run_command(self.check_args())
        if rc != 0 and output.endswith(SSH_PRIVSEP_MISSING):
            # /run/sshd is ssh.service's runtime folder: missing where ssh never ran (or is
            # off). As root sshd insists on it, after it parsed everything else; give it
            # one in a private mount namespace, the host's /run untouched.
            rc2, output2 = run_command(["unshare", "--mount", "--propagation", "private",
                                        "sh", "-c", "mount -t tmpfs -o mode=0755 vcbox-run /run"
                                        " && mkdir -m 0755 /run/sshd && exec \"$0\" \"$@\"",
                                        *self.check_args()])
            if rc2 == 0 or not output2.startswith(("unshare:", "mount:")):
                rc, output = rc2, output2
            else:
                # No namespaces here: the rest of the check passed, which is what we learn.
                rc, output = 0, f"{output} (everything before this check passed)"
        if rc != 0:
            raise ActionFailed(self.name, verb, output or f"sshd -t exited with {rc}")
        return output

    def local_action(self, verb: str) -> str:
        text = super().local_action(verb)
        return text if self.enabled() else f"{text}; SSH is off"

    def systemd_action(self, verb: str) -> str:
        if not self.enabled():
            systemctl(self.name, verb, "disable", "--now", self.unit)
            return f"SSH off: {self.unit} stopped and disabled"
        systemctl(self.name, verb, "enable", self.unit)
        systemctl(self.name, verb, "reload-or-restart", self.unit)
        return f"{verb}ed {self.unit}"

    def status(self) -> str:
        if self.systemd and not self.enabled():
            return "stopped"
        return super().status()


# -- chrony --------------------------------------------------------------------------------

_SOURCE = re.compile(r"^[ \t]*(?:server|pool|peer)[ \t]+\S.*$", re.M)


class Chrony(SystemService):
    name, unit, program = "chrony", "chrony", "chronyd"
    config_file = "etc/chrony/chrony.conf"

    def check_flags(self) -> list[str]:
        return ["-p"]

    def check_args(self) -> list[str]:
        # -p prints the parsed config and exits; -x: never touch the clock regardless.
        return [self.program_path, "-p", "-x", "-f", str(self.path)]

    def check(self, verb: str) -> str:
        # -p echoes the config on stdout; chronyd's complaint goes to stderr.
        rc, output = run_command(self.check_args(), stdout=False)
        if rc != 0:
            raise ActionFailed(self.name, verb, output or f"chronyd -p exited with {rc}")
        return output

    def sources(self) -> list[str]:
        try:
            return [m.group(0).strip() for m in _SOURCE.finditer(self.path.read_text())]
        except FileNotFoundError:
            return []

    def local_action(self, verb: str) -> str:
        sources = self.sources()
        what = ", ".join(sources) if sources else "no server (manual time)"
        return f"{super().local_action(verb)}: {what}"

    def systemd_action(self, verb: str) -> str:
        if not self.sources():
            # Manual time: the administrator's clock is the reference; chrony stays off
            # (timedatectl set-ntp false, on setting the time, stops it too).
            systemctl(self.name, verb, "disable", "--now", self.unit)
            return f"manual time: {self.unit} stopped"
        systemctl(self.name, verb, "enable", self.unit)
        systemctl(self.name, verb, "restart", self.unit)
        return f"restarted {self.unit}: {', '.join(self.sources())}"


# -- rsyslog -------------------------------------------------------------------------------

FORWARD_FILE = "etc/rsyslog.d/60-vcbox-forward.conf"


def rsyslog_module(name: str) -> bool:
    """Whether rsyslog has the loadable module (e.g. lmnsd_gtls from rsyslog-gnutls)."""
    return any(glob.glob(f"{base}/{name}.so") for base in (
        "/usr/lib/*/rsyslog", "/usr/lib/rsyslog", "/usr/lib64/rsyslog"))


class Rsyslog(SystemService):
    name, unit, program = "rsyslog", "rsyslog", "rsyslogd"
    config_file = "etc/rsyslog.conf"

    def check_flags(self) -> list[str]:
        return ["-N1"]

    @property
    def main_config(self) -> Path:
        """The main config the check starts from: Debian's on the appliance; elsewhere a
        small one that includes ROOT's rsyslog.d, with its state under ROOT."""
        if assets.on_appliance(self.root):
            return self.root / self.config_file
        work = self.root / "var/spool/rsyslog"
        work.mkdir(parents=True, exist_ok=True)
        main = self.root / "run/vcbox/rsyslog-check.conf"
        main.parent.mkdir(parents=True, exist_ok=True)
        main.write_text(
            "# vcbox: what rsyslogd -N1 checks away from the appliance (Debian's main\n"
            "# rsyslog.conf, reduced to paths under ROOT).\n"
            f'global(workDirectory="{work}")\n'
            f'include(file="{self.root}/etc/rsyslog.d/*.conf" mode="optional")\n'
            f'*.*;auth,authpriv.none action(type="omfile" file="{self.root}/var/log/syslog")\n')
        return main

    def check_args(self) -> list[str]:
        return [self.program_path, "-N1", "-f", str(self.main_config)]

    def check(self, verb: str) -> str:
        output = super().check(verb)
        forward = self.root / FORWARD_FILE
        # -N1 accepts any stream driver name; the TLS one comes from rsyslog-gnutls.
        if forward.exists() and 'StreamDriver="gtls"' in forward.read_text() \
                and not rsyslog_module("lmnsd_gtls"):
            raise ActionFailed(self.name, verb, "syslog over TLS needs the rsyslog-gnutls "
                                                "package (lmnsd_gtls), which is not installed")
        return output


# -- firewall (nftables) -----------------------------------------------------------------------

class Firewall(SystemService):
    """vcbox's nftables table: nftables.service loads /etc/nftables.conf on boot and
    on reload. The check (`nft -c`) runs in an empty network namespace where there is
    one, so a check never touches the host's own rules."""

    name, unit, program = "firewall", "nftables", "nft"
    config_file = "etc/nftables.conf"

    def check_flags(self) -> list[str]:
        return ["-c", "-f"]

    def check_args(self) -> list[str]:
        return [self.program_path, "-c", "-f", str(self.path)]

    def check(self, verb: str) -> str:
        rc, output = run_command(["unshare", "--net", *self.check_args()])
        if rc != 0 and output.startswith("unshare:"):
            rc, output = run_command(self.check_args())
        if rc != 0:
            raise ActionFailed(self.name, verb, output or f"nft -c exited with {rc}")
        return output

    def systemd_action(self, verb: str) -> str:
        systemctl(self.name, verb, "enable", self.unit)
        systemctl(self.name, verb, "reload-or-restart", self.unit)
        return f"{verb}ed {self.unit}"


# -- the drivers -----------------------------------------------------------------------------

SERVICES: tuple[type[SystemService], ...] = (Nginx, Ssh, Chrony, Rsyslog, Firewall)
PACKAGES = {"nginx": "nginx-light", "ssh": "openssh-server", "chrony": "chrony",
            "rsyslog": "rsyslog", "firewall": "nftables"}


def drivers(config: Config, state: Any = None) -> dict[str, Driver]:
    """{"nginx", "ssh", "chrony", "rsyslog", "firewall"}: their drivers for this configuration."""
    out: dict[str, Driver] = {}
    for cls in SERVICES:
        program = find_program(cls.program)
        if program is None:
            out[cls.name] = Absent(cls.name, f"{cls.program} is not installed "
                                             f"(Debian package {PACKAGES[cls.name]})")
        elif (cls is Nginx and config.service_mode != "systemd"
              and "nginx" in config.local_services):
            out[cls.name] = LocalNginx(config, program)
        else:
            out[cls.name] = cls(config, program)
    return out
