"""Shared benchmark pieces: a real control-plane server, an admin session, wrk and its output."""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SESSION_COOKIE = "vcbox_session"
ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "bench-Pass1"  # R1: 6-16 characters
ADMIN_EMAIL = "admin@bench.invalid"


class BenchError(RuntimeError):
    """The figure could not be measured (server did not start, wrk failed ...)."""


@dataclass
class Options:
    duration: float = 10.0
    connections: int = 32
    threads: int = 2


@dataclass
class Result:
    """One figure: the printed line, whether it is valid, and whether it met its target."""

    name: str
    line: str
    passed: bool
    valid: bool = True
    problems: list[str] = field(default_factory=list)


# -- the machine ---------------------------------------------------------------------------
def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _wrk_version() -> str:
    wrk = shutil.which("wrk")
    if not wrk:
        return "wrk not found"
    out = subprocess.run([wrk, "-v"], capture_output=True, text=True, check=False)
    first = (out.stdout or out.stderr).splitlines()
    return first[0].split(" Copyright")[0] if first else "wrk (unknown version)"


def nproc() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def machine_line() -> str:
    return (f"machine: nproc {nproc()} ({_cpu_model()}), {platform.system()} "
            f"{platform.machine()}, Python {platform.python_version()} "
            f"({platform.python_implementation()}), {_wrk_version()}")


def load_line() -> str:
    """The load average, with a warning when other processes already keep the CPUs busy."""
    try:
        load1, load5, _ = os.getloadavg()
    except OSError:
        return ""
    line = f"load average {load1:.2f} {load5:.2f}"
    if load1 > 0.5 * nproc():
        line += " (other processes are busy: figures will be noisy)"
    return line


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process so far (Linux /proc), or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


# -- a real server -------------------------------------------------------------------------
def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def call(method: str, url: str, data: Any = None, headers: dict[str, str] | None = None,
         timeout: float = 10.0) -> tuple[int, Any, Any]:
    """(status, headers, decoded JSON body or raw text); HTTP errors are answers, not raises."""
    body = None if data is None else json.dumps(data).encode()
    req = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, hdrs, raw = resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as exc:
        status, hdrs, raw = exc.code, exc.headers, exc.read()
    text = raw.decode("utf-8", "replace")
    try:
        return status, hdrs, json.loads(text)
    except ValueError:
        return status, hdrs, text


class Server:
    """`python -m controlplane serve` on a fresh temp data dir and a free loopback port."""

    def __init__(self, env: dict[str, str] | None = None, start_timeout: float = 30.0,
                 argv: list[str] | None = None) -> None:
        self.extra_env = dict(env or {})
        self.argv = argv or [sys.executable, "-m", "controlplane", "serve"]
        self.start_timeout = start_timeout
        self.data_dir: Path | None = None
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self._log = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc else 0

    def __enter__(self) -> Server:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self.data_dir = Path(tempfile.mkdtemp(prefix="vcbox-bench-"))
        self.port = free_port()
        env = {**os.environ, "VCBOX_DATA": str(self.data_dir),
               "VCBOX_LISTEN": f"127.0.0.1:{self.port}", **self.extra_env}
        env.pop("VCBOX_ROOT", None)  # rendered configs go under the temp data dir
        self._log = open(self.data_dir / "server.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            self.argv, cwd=REPO, env=env,
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.proc.poll() is not None:
                raise BenchError(f"server exited with {self.proc.returncode} before answering:\n"
                                 + self.log_tail())
            try:
                status, _, _ = call("GET", self.base_url + "/api/v1/setup", timeout=2)
                if status == 200:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise BenchError(f"server did not answer within {self.start_timeout:.0f} s:\n"
                                 + self.log_tail())
            time.sleep(0.1)

    def log_tail(self, lines: int = 30) -> str:
        if self.data_dir is None:
            return ""
        try:
            text = (self.data_dir / "server.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM by PID, then SIGKILL if it lingers; remove the temp data dir."""
        proc, self.proc = self.proc, None
        try:
            if proc is not None and proc.poll() is None:
                try:
                    os.kill(proc.pid, signal.SIGTERM)
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.kill(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=10)
                except ProcessLookupError:
                    pass
        finally:
            if self._log is not None:
                self._log.close()
                self._log = None
            if self.data_dir is not None:
                shutil.rmtree(self.data_dir, ignore_errors=True)
                self.data_dir = None

    # -- an administrator and a session ----------------------------------------------------
    def admin_login(self) -> tuple[str, str]:
        """Create the administrator (first run) and log in: (session cookie, CSRF token)."""
        status, _, body = call("POST", self.base_url + "/api/v1/setup/admin",
                               {"password": ADMIN_PASSWORD, "email": ADMIN_EMAIL})
        if status != 200:
            raise BenchError(f"POST /api/v1/setup/admin answered {status}: {body}")
        status, headers, body = call("POST", self.base_url + "/api/v1/session",
                                     {"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD})
        if status != 200:
            raise BenchError(f"POST /api/v1/session answered {status}: {body}")
        for value in headers.get_all("Set-Cookie") or []:
            jar = SimpleCookie()
            jar.load(value)
            if SESSION_COOKIE in jar:
                return jar[SESSION_COOKIE].value, body["csrf_token"]
        raise BenchError("POST /api/v1/session set no vcbox_session cookie")

    def admin_session(self) -> str:
        """Create the administrator (first run) and log in; the vcbox_session cookie value."""
        return self.admin_login()[0]


# -- wrk -----------------------------------------------------------------------------------
_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_TIME = re.compile(r"^\s*([0-9.]+)\s*(us|ms|s|m|h)\s*$")


def parse_time(text: str) -> float:
    """A wrk time ("812.00us", "1.23ms", "1.05s", "2.00m") in seconds."""
    match = _TIME.match(text)
    if not match:
        raise ValueError(f"not a wrk time: {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


@dataclass
class WrkResult:
    requests_per_s: float
    requests: int
    p50_s: float
    p99_s: float
    non_2xx: int = 0
    socket_errors: dict[str, int] = field(default_factory=dict)
    raw: str = ""

    @property
    def problems(self) -> list[str]:
        found = []
        if self.requests <= 0:
            found.append("wrk completed no requests")
        if self.non_2xx:
            found.append(f"{self.non_2xx} non-2xx/3xx responses")
        errors = {k: v for k, v in self.socket_errors.items() if v}
        if errors:
            found.append("socket errors " + ", ".join(f"{k} {v}" for k, v in errors.items()))
        return found


def parse_wrk(text: str) -> WrkResult:
    def find(pattern: str) -> re.Match:
        match = re.search(pattern, text, re.MULTILINE)
        if not match:
            raise BenchError(f"cannot find {pattern!r} in wrk output:\n{text}")
        return match

    rps = float(find(r"^Requests/sec:\s*([0-9.]+)").group(1))
    requests = int(find(r"^\s*(\d+) requests in ").group(1))
    p50 = parse_time(find(r"^\s*50(?:\.0+)?%\s+(\S+)").group(1))
    p99 = parse_time(find(r"^\s*99(?:\.0+)?%\s+(\S+)").group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", text)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                     text)
    errors = dict(zip(("connect", "read", "write", "timeout"),
                      (int(g) for g in sock.groups()), strict=True)) if sock else {}
    return WrkResult(rps, requests, p50, p99, int(non_2xx.group(1)) if non_2xx else 0,
                     errors, text)


def run_wrk(url: str, duration: float, connections: int, threads: int = 2,
            headers: dict[str, str] | None = None) -> WrkResult:
    wrk = shutil.which("wrk")
    if not wrk:
        raise BenchError("wrk is not installed (Debian: apt-get install wrk)")
    seconds = max(1, round(duration))
    cmd = [wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for name, value in (headers or {}).items():
        cmd += ["-H", f"{name}: {value}"]
    cmd.append(url)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=False)
    if out.returncode != 0:
        raise BenchError(f"wrk exited with {out.returncode}:\n{out.stdout}{out.stderr}")
    return parse_wrk(out.stdout)


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"
