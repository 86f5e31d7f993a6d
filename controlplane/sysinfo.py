"""系统信息 (SPEC S1): the software's version and build time, the server (host name, CPU,
memory, disk), and each NIC's addresses, gateway, MAC and DNS.

The build time is the release manifest's (image/release.py writes `manifest.json` at the
top of every release the appliance runs); a development tree has none.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import platform
import socket
from pathlib import Path
from typing import Any

from controlplane import __version__
from controlplane.config import REPO
from controlplane.release import MANIFEST

CPUINFO = Path("/proc/cpuinfo")
OS_RELEASE = Path("/etc/os-release")


def build_time(app_dir: Path = REPO) -> str | None:
    """The release manifest's build_time ("YYYY-MM-DDTHH:MM:SSZ"); None without one."""
    try:
        value = json.loads((app_dir / MANIFEST).read_text()).get("build_time")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def cpu_model(cpuinfo: str) -> str:
    """The processor's name from /proc/cpuinfo ("model name" on x86, "Model" or
    "Hardware" on ARM boards); "" when it says none."""
    found: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep and value.strip():
            found.setdefault(key.strip().lower(), " ".join(value.split()))
    for key in ("model name", "model", "hardware", "cpu model", "processor"):
        value = found.get(key, "")
        if value and not value.isdigit():
            return value
    return ""


def os_name(os_release: str) -> str:
    """PRETTY_NAME of an os-release file ("Debian GNU/Linux 12 (bookworm)")."""
    for line in os_release.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "PRETTY_NAME":
            return value.strip().strip("\"'")
    return ""


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


@functools.cache
def _own_build_time() -> str | None:
    """This release's (read once: a release is never changed in place; an upgrade starts
    the new one)."""
    return build_time()


@functools.cache
def _fixed() -> dict[str, Any]:
    """What does not change while the system runs (read once: a page polls it)."""
    import psutil

    return {
        "os": os_name(_read(OS_RELEASE)),
        "kernel": platform.release(),
        "cpu_model": cpu_model(_read(CPUINFO)) or platform.processor(),
        "cpu_cores": psutil.cpu_count(logical=True) or 0,
        "cpu_physical_cores": psutil.cpu_count(logical=False) or 0,
        "memory_total": psutil.virtual_memory().total,
        "boot_time": psutil.boot_time(),
    }


def server(data_dir: Path) -> dict[str, Any]:
    """The server's host name, operating system, CPU, memory and data disk (bytes)."""
    import psutil

    disk = psutil.disk_usage(str(data_dir))
    fixed = _fixed()
    return {
        "hostname": socket.gethostname(), **{k: fixed[k] for k in ("os", "kernel",
                                                                   "cpu_model", "cpu_cores",
                                                                   "cpu_physical_cores",
                                                                   "memory_total")},
        "disk_total": disk.total, "disk_used": disk.used, "disk_free": disk.free,
        "boot_time": fixed["boot_time"],
    }


NIC_FIELDS = ("name", "mac", "up", "mtu", "addresses", "gateway", "dns")


def wall_clock(iso_utc: str | None, zone: dt.tzinfo) -> str | None:
    """A UTC ISO time ("...Z") on the appliance's wall clock ("YYYY-MM-DD HH:MM:SS")."""
    if not iso_utc:
        return None
    try:
        when = dt.datetime.fromisoformat(iso_utc)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


def system_info(data_dir: Path, license_state: dict[str, Any],
                nics: list[dict[str, Any]] | None, zone: dt.tzinfo) -> dict[str, Any]:
    """Everything 系统信息 shows; times also on the appliance's wall clock (zone). nics: the
    network driver's NIC details (with "dns"); None where they cannot be read ("nics" is
    then null, never a made-up list)."""
    built = _own_build_time()
    host = server(data_dir)
    host["boot_time_local"] = dt.datetime.fromtimestamp(host["boot_time"], zone).strftime(
        "%Y-%m-%d %H:%M:%S")
    return {
        "software": {"version": __version__, "build_time": built,
                     "build_time_local": wall_clock(built, zone)},
        "server": host,
        "license": {key: license_state.get(key) for key in
                    ("status", "activation_type", "concurrency", "valid_from", "expires",
                     "days_left")},
        "nics": None if nics is None else [{k: nic.get(k) for k in NIC_FIELDS}
                                           for nic in nics],
    }
