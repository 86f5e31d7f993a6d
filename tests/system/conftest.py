"""The appliance image (issue 5, DESIGN D9): `make image`'s out/vcbox-<version>.img, and
that image booted under qemu (TCG) with its HTTP and TURN ports forwarded to 127.0.0.1.

The image is built by image/build.sh unless out/ already holds one newer than every file
it is made of (the release bundle's files and the build script), as after `make image` in
the same checkout. The boot runs on a qcow2 overlay: the image itself stays pristine."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.components import freeswitch_debs, require
from tests.conftest import REPO, free_port, stop_group
from tests.release_builder import builder

BUILD_TIMEOUT_S = 1500
# Power-on to the wizard answering through nginx; TCG on 2 cores, generous but bounded.
BOOT_TIMEOUT_S = 420
ACCEPT_ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}


def image_sources() -> list[Path]:
    """Every file the image is made of: the release bundle's files and the build script."""
    files = [REPO / rel for rel in builder.collect(REPO)]
    return files + [REPO / "image" / "build.sh", REPO / "image" / "release.py",
                    *sorted(freeswitch_debs().glob("*.deb"))]


def free_udp_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def image_path() -> Path:
    return REPO / "out" / f"vcbox-{builder.read_version(REPO)}.img"


def image_is_fresh(image: Path) -> bool:
    if not image.is_file():
        return False
    built = image.stat().st_mtime
    return all(path.stat().st_mtime < built for path in image_sources())


def build_prerequisite_missing() -> str:
    """Why image/build.sh cannot run here, or "" (scripts/setup.sh installs the tools)."""
    if os.geteuid() != 0:
        return "building the image needs root (loop device, mount, chroot)"
    if not Path("/dev/loop-control").exists():
        return "building the image needs loop devices (no /dev/loop-control)"
    return ""


def stop_build(proc: subprocess.Popen) -> None:
    """End an unfinished build: SIGTERM to its process group lets mmdebstrap and the
    script's trap unmount and detach the loop device; SIGKILL if they hang."""
    stop_group(proc, grace=120)


@pytest.fixture(scope="session")
def appliance_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """out/vcbox-<version>.img, built now unless a fresh one is there."""
    image = image_path()
    if image_is_fresh(image):
        print(f"\nimage: reusing {image} (newer than its sources)")
        return image
    reason = build_prerequisite_missing()
    if reason:
        pytest.skip(reason)
    log = tmp_path_factory.mktemp("image") / "build.log"
    started = time.monotonic()
    with open(log, "wb") as out:
        proc = subprocess.Popen(["bash", str(REPO / "image" / "build.sh")], cwd=REPO,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        proc.wait(timeout=BUILD_TIMEOUT_S)
    finally:
        stop_build(proc)
    tail = log.read_text(errors="replace")[-6000:]
    assert proc.returncode == 0, f"image/build.sh failed ({proc.returncode}):\n{tail}"
    assert image.is_file(), f"image/build.sh did not write {image}:\n{tail}"
    print(f"\nimage: built {image} in {time.monotonic() - started:.0f} s")
    return image


@dataclass
class Appliance:
    """A booted image: its web port (guest 80), TURN port (guest 3478) and SIP port (guest
    UDP 5060) on 127.0.0.1."""

    proc: subprocess.Popen
    http_port: int
    turn_port: int
    sip_port: int
    serial: Path
    boot_seconds: float = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def serial_tail(self, chars: int = 6000) -> str:
        try:
            text = self.serial.read_text(errors="replace")
        except FileNotFoundError:
            return "(no serial output)"
        return text[-chars:]

    def wait_for_wizard(self, timeout: float) -> None:
        """Until GET /setup answers 200 through nginx, or fail with the serial log."""
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"qemu exited ({self.proc.returncode}) while booting:\n"
                            f"{self.serial_tail()}")
            try:
                res = requests.get(self.url + "/setup", headers=ACCEPT_ZH, timeout=10,
                                   allow_redirects=False)
                if res.status_code == 200:
                    return
                last = f"HTTP {res.status_code}"
            except requests.RequestException as exc:
                last = type(exc).__name__
            time.sleep(3)
        pytest.fail(f"the wizard did not answer within {timeout:.0f} s (last: {last}); "
                    f"serial console:\n{self.serial_tail()}")


def qemu_command(overlay: Path, serial: Path, http_port: int, turn_port: int,
                 sip_port: int) -> list[str]:
    # TCG: this host's KVM hangs a stock kernel (DESIGN D9). Only 127.0.0.1 is forwarded.
    forwards = (f"hostfwd=tcp:127.0.0.1:{http_port}-:80,"
                f"hostfwd=tcp:127.0.0.1:{turn_port}-:3478,"
                f"hostfwd=udp:127.0.0.1:{sip_port}-:5060")
    return ["qemu-system-x86_64", "-accel", "tcg", "-m", "2048", "-smp", "2",
            "-nodefaults", "-display", "none", "-no-reboot",
            "-serial", f"file:{serial}",
            "-drive", f"file={overlay},format=qcow2,if=virtio",
            "-nic", f"user,model=virtio-net-pci,{forwards}"]


@pytest.fixture(scope="module")
def appliance(appliance_image: Path, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[Appliance]:
    """The image booted under qemu, its wizard answering; qemu is stopped after."""
    require("qemu-system-x86_64", "qemu-img")
    work = tmp_path_factory.mktemp("vm")
    overlay = work / "overlay.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(appliance_image),
                    "-F", "raw", str(overlay)], check=True, timeout=60)
    serial = work / "serial.log"
    http_port, turn_port, sip_port = free_port(), free_port(), free_udp_port()
    started = time.monotonic()
    with open(work / "qemu.log", "wb") as qemu_log:
        proc = subprocess.Popen(qemu_command(overlay, serial, http_port, turn_port, sip_port),
                                stdin=subprocess.DEVNULL, stdout=qemu_log,
                                stderr=subprocess.STDOUT)
    vm = Appliance(proc, http_port, turn_port, sip_port, serial)
    try:
        vm.wait_for_wizard(BOOT_TIMEOUT_S)
        vm.boot_seconds = time.monotonic() - started
        print(f"\nappliance: wizard answered {vm.boot_seconds:.0f} s after power-on")
        yield vm
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
