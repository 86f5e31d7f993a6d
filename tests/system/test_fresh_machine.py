"""A fresh Debian 12 machine (issue 9): the README's two commands work on a machine where
nothing was installed before.

A clean Debian 12 root (mmdebstrap, apt and nothing else, package lists empty: the bare
base of image/base.sh, cached like molecule's) gets the working tree copied in (what a
clone holds, plus shared/ beside it) and runs `scripts/setup.sh` from scratch in a chroot.
Then every package setup lists is installed (Janus included), every program and file the
tests need (tests/components.py, kept apart from setup's list) is there, `.venv` and
`node_modules` work, a second setup installs nothing, and `make run` answers
`GET /api/v1/setup` on 127.0.0.1 (a chroot shares the host's loopback).

The chroot is molecule's (molecule/default/chroot.sh --bare): service starts denied, the
host's DNS and CA trust, a shared apt archive and pip cache so that a second run downloads
little. It is removed at the end, after its processes are ended and it is unmounted.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.components import require
from tests.conftest import REPO, free_port, stop_group
from tests.system.molecule_support import CACHE, CHROOT_SH

ROOT = CACHE / "fresh-machine" / "root"
SHARED = REPO.parent / "shared"
INSIDE = "/work/main"
SETUP_TIMEOUT_S = 1800
RUN_TIMEOUT_S = 120
# A clean login environment: nothing of this machine's (pyenv, pip indexes) leaks in.
ENV = {"HOME": "/root", "LANG": "C.UTF-8", "TERM": "dumb",
       "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
# Run inside the root by its venv: what tests/components.py finds missing there.
MISSING_COMPONENTS = """
import json
from tests.components import COMPONENTS, setup_installs
print(json.dumps([c.name for c in COMPONENTS.values()
                  if setup_installs(c) and c.locate() is None]))
"""


@dataclass
class FreshRoot:
    path: Path
    setup_log: str = ""

    def run(self, script: str, timeout: float = 120, check: bool = True
            ) -> subprocess.CompletedProcess:
        """`bash -c script` inside the root, in the copied repository."""
        done = subprocess.run(["chroot", str(self.path), "/usr/bin/env", "-i",
                               *[f"{k}={v}" for k, v in ENV.items()],
                               "bash", "-c", f"cd {INSIDE} && {script}"],
                              capture_output=True, text=True, timeout=timeout)
        if check:
            assert done.returncode == 0, (
                f"{script} failed ({done.returncode}) in the fresh root:\n"
                f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        return done


def chroot_sh(*args: str, timeout: float = 600) -> str:
    done = subprocess.run(["bash", str(CHROOT_SH), *args], capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, f"chroot.sh {' '.join(args)}: {done.stderr}"
    return done.stdout


def copy_tree_in(root: Path) -> None:
    """The working tree as a clone has it (tracked and unignored files), and shared/."""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                            "--exclude-standard"], cwd=REPO, capture_output=True,
                           check=True, timeout=60).stdout
    present = b"\0".join(f for f in files.split(b"\0") if f and (REPO / f.decode()).exists())
    target = root / INSIDE.lstrip("/")
    target.mkdir(parents=True)
    subprocess.run(f"tar -c --null -T - | tar -x -C {target}", shell=True, input=present,
                   cwd=REPO, check=True, timeout=300)
    if SHARED.is_dir():
        subprocess.run(["cp", "-a", str(SHARED), str(target.parent / "shared")], check=True,
                       timeout=300)


@pytest.fixture(scope="module")
def fresh() -> Iterator[FreshRoot]:
    """The clean root after `scripts/setup.sh` ran in it from scratch; removed after."""
    if os.geteuid() != 0:
        pytest.skip("the fresh-machine test needs root (chroot, mounts)")
    require("chroot", "mount", "tar", "mmdebstrap")
    chroot_sh("destroy", str(ROOT))  # what an interrupted run may have left
    try:
        chroot_sh("create", str(ROOT), "--bare", timeout=900)
        root = FreshRoot(ROOT)
        assert not list((ROOT / "var/lib/apt/lists").glob("*_Packages*")), \
            "the bare root should start with empty package lists"
        copy_tree_in(ROOT)
        started = time.monotonic()
        done = root.run("bash scripts/setup.sh 2>&1", timeout=SETUP_TIMEOUT_S, check=False)
        root.setup_log = done.stdout
        assert done.returncode == 0, \
            f"scripts/setup.sh failed ({done.returncode}) on a fresh root:\n{done.stdout[-6000:]}"
        print(f"\nfresh machine: setup.sh from scratch took {time.monotonic() - started:.0f} s")
        yield root
    finally:
        chroot_sh("destroy", str(ROOT))


def test_every_package_setup_lists_is_installed(fresh: FreshRoot) -> None:
    listed = fresh.run("bash scripts/setup.sh --print-packages").stdout.split()
    assert "janus" in listed, "setup does not list janus on Debian 12"
    states = fresh.run("dpkg-query -W -f='${Package} ${db:Status-Abbrev}\\n' "
                       + " ".join(listed), check=False).stdout
    installed = {line.split()[0] for line in states.splitlines()
                 if len(line.split()) == 2 and line.split()[1].startswith("ii")}
    assert sorted(set(listed) - installed) == []
    janus = fresh.run("dpkg -s janus").stdout
    assert "Status: install ok installed" in janus


def test_every_piece_the_tests_need_is_there(fresh: FreshRoot) -> None:
    """The registry the suite fails on (tests/components.py), checked inside the root."""
    missing = json.loads(fresh.run(f".venv/bin/python -c '{MISSING_COMPONENTS}'").stdout)
    said = "\n".join(line for line in fresh.setup_log.splitlines()
                     if line.startswith("setup:"))
    assert missing == [], (f"after scripts/setup.sh on a fresh Debian 12 these are missing: "
                           f"{missing}; setup said:\n{said}")


def test_venv_and_node_modules_work(fresh: FreshRoot) -> None:
    fresh.run(".venv/bin/python -c 'import bottle, gevent, pytest, playwright'")
    fresh.run("test -f node_modules/bootstrap/dist/css/bootstrap.min.css "
              "&& test -f node_modules/chart.js/package.json")


def test_a_second_setup_installs_nothing(fresh: FreshRoot) -> None:
    out = fresh.run("bash scripts/setup.sh 2>&1").stdout
    assert "installing" not in out, out
    assert "setup: done in" in out, out


def test_make_run_answers_the_wizard_on_loopback(fresh: FreshRoot) -> None:
    port = free_port()
    env = [f"{k}={v}" for k, v in {**ENV, "VCBOX_LISTEN": f"127.0.0.1:{port}"}.items()]
    log = fresh.path / "make-run.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(["chroot", str(fresh.path), "/usr/bin/env", "-i", *env,
                                 "bash", "-c", f"cd {INSIDE} && exec make run"],
                                stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        answer = None
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                answer = requests.get(f"http://127.0.0.1:{port}/api/v1/setup", timeout=5)
                break
            except requests.ConnectionError:
                time.sleep(0.5)
        assert answer is not None, (f"make run did not answer (exit {proc.poll()}):\n"
                                    f"{log.read_text(errors='replace')[-4000:]}")
        assert answer.status_code == 200
        assert answer.json()["configured"] is False
    finally:
        stop_group(proc)
    left = chroot_sh("pids", str(fresh.path)).split()
    assert left == [], f"make run left processes behind in the root: {left}"
