"""What the tests need from the machine, and which package brings each piece.

`scripts/setup.sh` installs the Debian packages (its own list, `--print-packages`) and the
venv (requirements.txt). This registry is the other side of that contract: the programs
and files the tests use. A test asks for them with `require(...)`: present, it runs;
missing although setup installs its package on this OS, it **fails** (a setup bug, never
hidden); missing because its package does not exist for this OS, it skips and says so.

Kept apart from setup's list on purpose: the fresh-machine test (tests/system) checks that
setup, run on a clean Debian root, leaves every piece named here in place, so dropping a
package from setup fails a test instead of quietly skipping the tests that needed it.

The pytest plugin below (loaded with `-p tests.components`) prints every skipped test with
its reason at the end of the run, or that there were none, and fails the run when a test
skipped for a piece that setup installs here.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from controlplane.drivers.processes import JANUS_LIB_DIR, SOFIA_LIBRARY

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
SBIN = ("/usr/sbin", "/sbin")


@dataclass(frozen=True)
class Component:
    """A program (looked up on PATH and the sbin folders), a venv program or a file."""

    name: str
    package: str                       # the Debian package, or "requirements.txt"
    codenames: tuple[str, ...] = ()    # only packaged for these Debian releases; () = all
    path: str = ""                     # a file instead of a program
    venv: bool = False                 # a program of .venv/bin (pip, requirements.txt)
    provided_elsewhere: bool = False   # setup skips the package when the program is there
    from_debs: bool = False            # from the FreeSWITCH package folder, not from apt

    def locate(self) -> str | None:
        if self.path:
            return self.path if Path(self.path).exists() else None
        if self.venv:
            program = VENV_BIN / self.name
            return str(program) if program.exists() else None
        search = os.pathsep.join([os.environ.get("PATH", ""), *SBIN])
        return shutil.which(self.name, path=search)

    def packaged_here(self) -> bool:
        return not self.not_installable_because()

    def not_installable_because(self) -> str:
        """Why setup cannot install this on this machine, or ""."""
        if self.codenames and os_codename() not in self.codenames:
            return (f"{self.source()} is not packaged for Debian {os_codename() or '?'} "
                    f"(only {', '.join(self.codenames)})")
        if self.from_debs and not any(freeswitch_debs().glob("freeswitch_*.deb")):
            return (f"no FreeSWITCH packages in {freeswitch_debs()} "
                    "(VCBOX_FREESWITCH_DEBS names another folder)")
        return ""

    def source(self) -> str:
        if self.venv:
            return "the venv (requirements.txt)"
        return f"Debian package {self.package}"


def _debian(package: str, *names: str, codenames: tuple[str, ...] = (),
            provided_elsewhere: bool = False) -> list[Component]:
    return [Component(name, package, codenames, provided_elsewhere=provided_elsewhere)
            for name in names]


COMPONENTS: dict[str, Component] = {c.name: c for c in [
    *_debian("python3", "python3"),
    *_debian("make", "make"),
    *_debian("openssl", "openssl"),
    *_debian("chromium", "chromium"),
    *_debian("wrk", "wrk"),
    *_debian("coturn", "turnserver", "turnutils_uclient"),
    # Debian 13 has no janus package (DESIGN §4): there the Janus tests skip, naming it.
    *_debian("janus", "janus", codenames=("bookworm",)),
    # Debian's sofia-sip 1.12 for Janus's SIP plugin, unpacked by setup beside FreeSWITCH's
    # 1.13 (controlplane/drivers/processes.py JANUS_LIB_DIR)
    Component("janus-sofia", "libsofia-sip-ua0", codenames=("bookworm",),
              path=str(JANUS_LIB_DIR / SOFIA_LIBRARY)),
    *_debian("nginx-light", "nginx"),
    *_debian("openssh-server", "sshd"),
    *_debian("chrony", "chronyd"),
    *_debian("rsyslog", "rsyslogd"),
    *_debian("nftables", "nft"),
    *_debian("iproute2", "ip"),
    *_debian("coreutils", "chroot"),
    *_debian("mount", "mount"),
    *_debian("util-linux", "nsenter"),
    *_debian("tar", "tar"),
    *_debian("libc-bin", "zic"),
    Component("tzdata.zi", "tzdata", path="/usr/share/zoneinfo/tzdata.zi"),
    *_debian("mmdebstrap", "mmdebstrap"),
    *_debian("qemu-system-x86", "qemu-system-x86_64"),
    *_debian("qemu-utils", "qemu-img"),
    *_debian("grub-pc-bin", "grub-mkimage"),
    *_debian("fdisk", "sfdisk"),
    *_debian("e2fsprogs", "mkfs.ext4"),
    *_debian("podman", "podman"),
    *_debian("runc", "runc"),
    # FreeSWITCH: our Debian 12 packages (../shared/freeswitch), and SIP terminals
    *[Component(name, "freeswitch", ("bookworm",), from_debs=True)
      for name in ("freeswitch", "fs_cli")],
    *_debian("sip-tester", "sipp"),
    *_debian("baresip-core", "baresip"),
    *_debian("espeak-ng", "espeak-ng"),
    *_debian("sox", "sox"),
    *_debian("ffmpeg", "ffmpeg"),
    *_debian("nodejs", "node", provided_elsewhere=True),
    *_debian("npm", "npm", provided_elsewhere=True),
    Component("ansible-playbook", "requirements.txt", venv=True),
    Component("molecule", "requirements.txt", venv=True),
    Component("ansible-lint", "requirements.txt", venv=True),
]}

# A skip whose reason says one of these is absent is a setup failure (see the plugin).
_ABSENT = re.compile(r"not installed|is missing|not found|no such file", re.I)


def freeswitch_debs() -> Path:
    """Where setup takes the FreeSWITCH packages from (scripts/setup.sh)."""
    return Path(os.environ.get("VCBOX_FREESWITCH_DEBS") or REPO.parent / "shared" /
                "freeswitch" / "debs")


@cache
def os_codename() -> str:
    try:
        text = Path("/etc/os-release").read_text(encoding="utf-8")
    except OSError:
        return ""
    found = re.search(r'^VERSION_CODENAME="?([^"\n]*)"?$', text, re.M)
    return found.group(1) if found else ""


def locate(name: str) -> str:
    """The component's path; fails or skips the calling test as the module docstring says."""
    component = COMPONENTS[name]
    found = component.locate()
    if found:
        return found
    what = component.path or name
    why = component.not_installable_because()
    if not why:
        pytest.fail(f"{what} is missing, but scripts/setup.sh installs it on this machine "
                    f"({component.source()}, Debian {os_codename() or '?'}): "
                    f"run `make setup` and look at what it printed", pytrace=False)
    pytest.skip(f"{what}: {why}, so setup cannot install it here")


def require(*names: str) -> None:
    for name in names:
        locate(name)


def setup_installs(component: Component) -> bool:
    """True when setup is meant to bring this component on this machine."""
    return component.packaged_here()


# --- the pytest plugin -----------------------------------------------------------------

def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def setup_component_in(reason: str) -> Component | None:
    """The component setup installs here that a skip reason says is absent, if any."""
    if not _ABSENT.search(reason):
        return None
    for component in COMPONENTS.values():
        if not setup_installs(component):
            continue
        if re.search(rf"(?<![\w.-]){re.escape(component.name)}(?![\w.-])", reason):
            return component
    return None


class SkipReport:
    """Collects skips; prints them at the end; fails the run on a setup component's skip."""

    def __init__(self) -> None:
        self.skipped: list[tuple[str, str]] = []

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.skipped and not hasattr(report, "wasxfail"):
            self.skipped.append((report.nodeid, _skip_reason(report)))

    def setup_skips(self) -> list[tuple[str, str, Component]]:
        found = []
        for nodeid, reason in self.skipped:
            component = setup_component_in(reason)
            if component is not None:
                found.append((nodeid, reason, component))
        return found

    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter) -> None:
        tr = terminalreporter
        if not self.skipped:
            tr.write_sep("=", "skipped tests: none")
        else:
            tr.write_sep("=", f"skipped tests: {len(self.skipped)}")
            for nodeid, reason in self.skipped:
                tr.write_line(f"SKIPPED {nodeid}: {reason}")
        bad = self.setup_skips()
        if bad:
            tr.write_sep("=", "skips for what scripts/setup.sh installs here (a failure)",
                         red=True)
            for nodeid, _reason, component in bad:
                tr.write_line(f"{nodeid}: {component.name} ({component.source()})")

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.setup_skips() and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(SkipReport(), "vcbox-skip-report")
