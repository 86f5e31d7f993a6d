"""Molecule's scenarios (molecule/, DESIGN D9) driven from tests: run a scenario's
actions, read its output per action, and a converged podman host to test against."""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.components import require

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = REPO / ".venv" / "bin"
CACHE = Path(os.environ.get("VCBOX_CACHE", REPO / ".cache"))
BASE_TAR = CACHE / "bookworm-base.tar"
CHROOT_ROOT = CACHE / "molecule" / "default" / "root"
PODMAN_SH = REPO / "molecule" / "podman" / "podman.sh"
CHROOT_SH = REPO / "molecule" / "default" / "chroot.sh"
DEFAULT_CONTAINER = "vcbox-molecule"

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)",
                    re.M)


def missing_prerequisites(scenario: str) -> str | None:
    """Why `scenario` cannot run on this machine, or None: only root (chroot, mounts,
    rootful podman). A program setup installs that is missing fails the test instead."""
    if os.geteuid() != 0:
        return "molecule's chroot and podman scenarios need root"
    require(*(["chroot", "mount", "tar"] if scenario == "default" else ["podman", "runc"]))
    if not BASE_TAR.exists():
        require("mmdebstrap")
    return None


def ensure_collections() -> None:
    """The chroot and podman connections (scripts/collections.sh; a no-op when there)."""
    subprocess.run(["bash", str(REPO / "scripts" / "collections.sh")], check=True,
                   cwd=REPO, timeout=300)


@dataclass
class Run:
    """One `molecule <command>` run: its exit status and its output (ANSI stripped)."""

    argv: list[str]
    returncode: int
    output: str
    seconds: float

    def actions(self) -> dict[str, list[str]]:
        """Each action's output ("converge", "idempotence", ...), in the order run."""
        found: dict[str, list[str]] = {}
        pattern = re.compile(r"^\S+\s+\[[^\]>]+ > (\w+)\] Executing$(.*?)"
                             r"^\S+\s+\[[^\]>]+ > \1\] Executed: (.*?)$", re.M | re.S)
        for m in pattern.finditer(self.output):
            found.setdefault(m.group(1), []).append(m.group(2) + "\nExecuted: " + m.group(3))
        return found

    def tail(self, lines: int = 80) -> str:
        return "\n".join(self.output.splitlines()[-lines:])


def recaps(output: str) -> dict[str, dict[str, int]]:
    """PLAY RECAP counters per host in one action's output (summed over its plays)."""
    totals: dict[str, dict[str, int]] = {}
    for host, ok, changed, unreachable, failed in _RECAP.findall(output):
        t = totals.setdefault(host, {"ok": 0, "changed": 0, "unreachable": 0, "failed": 0})
        for key, value in (("ok", ok), ("changed", changed), ("unreachable", unreachable),
                           ("failed", failed)):
            t[key] += int(value)
    return totals


def check_scenario(runs: list[Run], scenario: str, host: str) -> None:
    """What `molecule test` checks, over its runs (one `molecule test`, or the steps run
    one by one): create, converge, idempotence and verify each ran and succeeded, the
    first converge changed something and failed nothing, the second changed nothing."""
    actions: dict[str, list[str]] = {}
    for run in runs:
        assert run.returncode == 0, f"molecule {run.argv[1]} -s {scenario} failed:\n{run.tail()}"
        for name, outputs in run.actions().items():
            actions.setdefault(name, []).extend(outputs)
    tail = runs[-1].tail()
    for action in ("create", "converge", "idempotence", "verify"):
        assert action in actions, f"{action} did not run:\n{tail}"
        outcomes = [out.rpartition("\nExecuted: ")[2] for out in actions[action]]
        # Run step by step, `molecule converge` skips the create already done.
        assert "Successful" in outcomes and all(
            o == "Successful" or o.startswith("Skipped") for o in outcomes), (
            f"{action}: {actions[action][-1][-2000:]}")
    first = recaps(actions["converge"][0])
    assert host in first and first[host]["failed"] == 0, first
    assert first[host]["changed"] > 0, f"the first converge changed nothing: {first}"
    second = recaps(actions["idempotence"][0])
    assert host in second, f"no PLAY RECAP for {host} in the second converge"
    assert second[host]["changed"] == 0, f"second converge not idempotent: {second}"
    assert second[host]["failed"] == second[host]["unreachable"] == 0, second


@dataclass
class Molecule:
    """`molecule` for one scenario, with its state under .cache/molecule/<state>/ (not
    ~/.ansible) and the log of every run appended to .cache/molecule/<state>/molecule.log."""

    scenario: str
    state: str = ""
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.state = self.state or self.scenario
        self.dir = CACHE / "molecule" / self.state
        self.log = self.dir / "molecule.log"

    def environment(self) -> dict[str, str]:
        return {**os.environ,
                "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
                "MOLECULE_EPHEMERAL_DIRECTORY": str(self.dir / "state"),
                "MOLECULE_PROJECT_DIRECTORY": str(REPO),
                "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1", "NO_COLOR": "1",
                "PY_COLORS": "0", **self.env}

    def run(self, command: str, *args: str, timeout: float = 600) -> Run:
        argv = [str(VENV_BIN / "molecule"), command, "-s", self.scenario, *args]
        self.dir.mkdir(parents=True, exist_ok=True)
        start = time.monotonic()
        proc = subprocess.run(argv, cwd=REPO, env=self.environment(), stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=timeout, check=False)
        run = Run(argv, proc.returncode, _ANSI.sub("", proc.stdout),
                  time.monotonic() - start)
        with self.log.open("a") as log:
            log.write(f"$ {' '.join(argv)}  # rc={run.returncode} {run.seconds:.0f}s\n")
            log.write(run.output + "\n")
        return run


@dataclass
class PodmanHost:
    """A converged vcbox host: a podman container with systemd as PID 1."""

    container: str
    http_port: int
    molecule: Molecule
    converge_run: Run
    # The scenario's steps run on this host so far (create, converge, ...), in order.
    runs: list[Run] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        """nginx on the container's port 80, published on 127.0.0.1."""
        return f"http://127.0.0.1:{self.http_port}"

    def exec(self, *argv: str, check: bool = True, timeout: float = 300,
             input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run a command in the container as root (`podman exec`)."""
        return subprocess.run(["podman", "exec", "-i", self.container, *argv], input=input,
                              capture_output=True, text=True, timeout=timeout, check=check)

    def converge(self, *args: str, timeout: float = 600) -> Run:
        """Run playbooks/site.yml again (molecule converge); extra ansible-playbook args
        after `--`, e.g. converge("--", "-e", "vcbox_x=y")."""
        return self.molecule.run("converge", *args, timeout=timeout)

    def ansible_playbook(self, playbook: Path | str, *args: str,
                         timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """Run another playbook (upgrade.yml, factory_reset.yml) against the container
        from this machine, with the scenario's inventory and connection."""
        env = self.molecule.environment()
        env["ANSIBLE_ROLES_PATH"] = str(REPO / "roles")
        env["ANSIBLE_COLLECTIONS_PATH"] = str(REPO / ".ansible" / "collections")
        env["ANSIBLE_PIPELINING"] = "1"
        inventory = REPO / "molecule" / "podman" / "inventory" / "hosts.yml"
        argv = [str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), str(playbook), *args]
        return subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True,
                              timeout=timeout, check=False)


def destroy_podman(container: str, molecule: Molecule | None = None) -> None:
    """Remove the container even when molecule cannot (a broken state, a crash)."""
    if molecule is not None:
        molecule.run("destroy", timeout=300)
    subprocess.run([str(PODMAN_SH), "destroy", container], capture_output=True, timeout=120,
                   check=False)


def destroy_chroot() -> None:
    subprocess.run([str(CHROOT_SH), "destroy", str(CHROOT_ROOT)], capture_output=True,
                   timeout=120, check=False)


@contextmanager
def podman_host(container: str = "vcbox-molecule-host") -> Iterator[PodmanHost]:
    """Create and converge a fresh host of the podman scenario (playbooks/site.yml,
    services running), yield it, destroy it at the end whatever happened. Raises when the
    create or the converge fails. Callers check missing_prerequisites("podman") first."""
    ensure_collections()
    molecule = Molecule("podman", state=f"podman-{container}",
                        env={"VCBOX_MOLECULE_CONTAINER": container})
    # A fresh host: whatever an interrupted run left goes first (molecule would otherwise
    # trust its state file and skip the create).
    destroy_podman(container, molecule)
    try:
        created = molecule.run("create", timeout=600)
        if created.returncode != 0:
            raise RuntimeError(f"molecule create failed:\n{created.tail()}")
        converged = molecule.run("converge", timeout=900)
        if converged.returncode != 0:
            raise RuntimeError(f"molecule converge failed:\n{converged.tail()}")
        port = subprocess.run([str(PODMAN_SH), "port", container], capture_output=True,
                              text=True, timeout=60, check=True).stdout.strip()
        yield PodmanHost(container, int(port), molecule, converged, [created, converged])
    finally:
        destroy_podman(container, molecule)
