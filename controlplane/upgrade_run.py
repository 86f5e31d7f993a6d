"""A system upgrade started from the web admin (SPEC G1, issue 15 item 5), and its progress.

The control plane verifies the uploaded bundle (controlplane/release.py, the release key's
signature where one is configured) and refuses a downgrade before anything changes; then
it starts `python -m controlplane upgrade-run` as a transient systemd unit, outside its
own service, since the upgrade stops and starts the control plane. That runner is this
version's code (N), whatever the bundle holds:

1. unpacks the bundle into releases/<N+1> (controlplane/upgrade.py);
2. runs the NEW release's playbooks/upgrade.yml on this host, task by task reported by
   the callback plugin controlplane/callback_plugins/vcbox_progress.py. That playbook stops
   the control plane, keeps a copy of the data (`upgrade-snapshot`), activates the
   release, re-renders every config and starts the control plane, now N+1;
3. waits until the control plane answers again on its own address.

A failure at any step leaves N running with its data untouched: the runner stops the
control plane, points the app link back at N, puts the data copy back (when the playbook
got as far as making one), re-renders every config with N's code and starts N again;
the progress says which step failed. The data copy is taken with the control plane
stopped, so no write made before the upgrade is lost by a roll-back.

The progress lives in <data>/upgrade/: run.json (the run: state, versions, failed step,
written atomically) and events.jsonl (one line per task start and end, appended by the
runner and the plugin), read by GET /api/v1/system/upgrade, before and after the restart.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controlplane import __version__, release, upgrade
from controlplane.backups import snapshot_sqlite
from controlplane.i18n import N_
from controlplane.store.documents import atomic_write

log = logging.getLogger(__name__)

FOLDER = "upgrade"
RUN = "run.json"
EVENTS = "events.jsonl"
INCOMING = "incoming"
SNAPSHOT = "snapshot"
COMPLETE = ".complete"
ANSIBLE_LOG = "ansible.log"
EVENTS_ENV = "VCBOX_UPGRADE_EVENTS"
UNIT = "vcbox-controlplane"
PLUGINS = Path(__file__).resolve().parent / "callback_plugins"
# The runner's own steps, around the playbook's tasks.
STEP_UNPACK = N_("Unpack the release")
STEP_PLAYBOOK = N_("Run the upgrade playbook")
STEP_WAIT = N_("Wait for the new version to answer")
STEP_ROLLBACK = N_("Roll back to the previous version")
# The task names of playbooks/upgrade.yml and the role tasks it includes, for the page in
# the admin's language; a release's new or renamed tasks show as Ansible names them.
TASK_NAMES = (
    N_("Gathering Facts"), N_("Check the bundle"), N_("Verify and unpack the release"),
    N_("Remember where the release was unpacked"),
    N_("Install the new release's requirements into the venv"),
    N_("Stop the control plane"), N_("Keep a copy of the data for a roll-back"),
    N_("Activate the new release"),
    N_("Make the IVR prompts of the new release (texts may have changed)"),
    N_("Re-render every config with the new release and start the control plane"),
    N_("Install what speaks the IVR prompts"), N_("Make the IVR prompts from the message catalog"),
    N_("First render by the control plane"), N_("Start the control plane"))
KNOWN = frozenset((STEP_UNPACK, STEP_PLAYBOOK, STEP_WAIT, STEP_ROLLBACK, *TASK_NAMES))


def shown_name(name: str, translate: Callable[[str], str]) -> str:
    """A task's name for the page: a known one translated (a role task's name after its
    "role : " prefix); any other as it is."""
    role, sep, task = name.rpartition(" : ")
    if task in KNOWN:
        return translate(task)
    return name
WAIT_S = 180.0


def folder_of(data_dir: Path) -> Path:
    return Path(data_dir) / FOLDER


# -- progress ---------------------------------------------------------------------------

class Progress:
    """run.json and events.jsonl of the last upgrade."""

    def __init__(self, data_dir: Path) -> None:
        self.folder = folder_of(data_dir)

    @property
    def events_path(self) -> Path:
        return self.folder / EVENTS

    def begin(self, source: str, target: str, build_time: str) -> dict[str, Any]:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        run = {"id": uuid.uuid4().hex[:12], "state": "running", "from": source,
               "to": target, "build_time": target and build_time, "started": time.time(),
               "finished": None, "failed_step": None, "error": None, "pid": None}
        self.events_path.write_text("", encoding="utf-8")
        self._write(run)
        return run

    def _write(self, run: dict[str, Any]) -> None:
        atomic_write(self.folder / RUN, json.dumps(run, ensure_ascii=False).encode(),
                     mode=0o600)

    def run(self) -> dict[str, Any] | None:
        try:
            return json.loads((self.folder / RUN).read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return None

    def update(self, **changes: Any) -> dict[str, Any]:
        run = {**(self.run() or {}), **changes}
        self._write(run)
        return run

    def event(self, task: str, status: str, message: str = "") -> None:
        append_event(self.events_path, task, status, message)

    def steps(self) -> list[dict[str, Any]]:
        """The tasks in the order they started, each with its last status."""
        steps: dict[str, dict[str, Any]] = {}
        try:
            lines = self.events_path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                continue  # a line being written
            name = str(event.get("task", ""))
            step = steps.setdefault(name, {"name": name, "status": "running",
                                           "started": event.get("t"), "message": ""})
            step["status"] = event.get("status", "running")
            if event.get("message"):
                step["message"] = str(event["message"])[:500]
        return list(steps.values())

    def shown(self) -> dict[str, Any] | None:
        """The run with its steps; a run whose runner is gone without finishing is
        "interrupted" (the host went down under it)."""
        run = self.run()
        if run is None:
            return None
        if run.get("state") == "running" and run.get("pid") and not _alive(run["pid"]):
            run = {**run, "state": "interrupted"}
        run.pop("pid", None)
        return {**run, "steps": self.steps()}

    def busy(self) -> bool:
        shown = self.shown()
        return bool(shown and shown["state"] == "running"
                    and time.time() - float(shown.get("started") or 0) < 3600)


def append_event(path: Path, task: str, status: str, message: str = "") -> None:
    """One line of events.jsonl (O_APPEND: the runner and the plugin write side by side)."""
    line = json.dumps({"t": round(time.time(), 3), "task": task, "status": status,
                       "message": message[:2000]}, ensure_ascii=False) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode("utf-8"))
    finally:
        os.close(fd)


def _alive(pid: int) -> bool:
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError, TypeError):
        return True
    return True


# -- the data copy ------------------------------------------------------------------------

def data_files(data_dir: Path) -> list[Path]:
    """What an upgrade's new code may change on open: the document store and the SQLite
    databases at the data dir's top level (logs, backups, firmware are not touched)."""
    data_dir = Path(data_dir)
    found = [data_dir / "documents.json"] if (data_dir / "documents.json").exists() else []
    return found + sorted(data_dir.glob("*.sqlite3"))


def snapshot(data_dir: Path, dest: Path) -> list[str]:
    """Copy data_files into dest (made anew), SQLite through its backup API; the marker
    file last, so a half-made copy is never put back."""
    dest = Path(dest)
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True, mode=0o700)
    names = []
    for path in data_files(data_dir):
        if path.suffix == ".sqlite3":
            snapshot_sqlite(path, dest / path.name)
        else:
            shutil.copy2(path, dest / path.name)
        names.append(path.name)
    atomic_write(dest / COMPLETE, json.dumps(names).encode())
    return names


def put_back(data_dir: Path, src: Path) -> list[str]:
    """The copy of `snapshot` back in place of the data files (each by rename); files the
    new code made beside them (a new database) are removed. [] without a complete copy."""
    src, data_dir = Path(src), Path(data_dir)
    try:
        names = json.loads((src / COMPLETE).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return []
    for path in data_files(data_dir):
        if path.name not in names:
            path.unlink()
    for name in names:
        for side in ("-wal", "-shm", "-journal"):
            (data_dir / f"{name}{side}").unlink(missing_ok=True)
        tmp = data_dir / f".{name}.restore"
        shutil.copy2(src / name, tmp)
        os.replace(tmp, data_dir / name)
    return names


# -- the runner ---------------------------------------------------------------------------

@dataclass
class Host:
    """What the runner does to the host, apart from the playbook (a test records it)."""

    run: Callable[[Sequence[str], Path | None], int] = field(default=lambda argv, cwd: (
        subprocess.run(list(argv), cwd=cwd, check=False, timeout=900).returncode))
    answers: Callable[[str], bool] = field(default=lambda url: _answers(url))

    def systemctl(self, *args: str) -> int:
        return self.run(["systemctl", *args], None)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as res:  # noqa: S310 - our own address
            return res.status == 200
    except (urllib.error.URLError, OSError):
        return False


@dataclass
class Runner:
    bundle: Path
    data_dir: Path
    releases_dir: Path
    app_link: Path
    ansible_playbook: Path
    probe_url: str
    public_key: Any = None
    host: Host = field(default_factory=Host)
    python: Path = Path(sys.executable)
    current: str = __version__
    wait_s: float = WAIT_S
    # The modules' Python on this host (None: Ansible's discovery, /usr/bin/python3).
    module_python: str | None = None

    def __post_init__(self) -> None:
        self.progress = Progress(self.data_dir)
        self.folder = folder_of(self.data_dir)
        self.snapshot_dir = self.folder / SNAPSHOT
        # This version's release: where the roll-back's own code runs from.
        self.own_release = Path(__file__).resolve().parent.parent

    def execute(self) -> bool:
        """The whole upgrade; True when N+1 runs, False after a roll-back to N."""
        self.progress.update(pid=os.getpid())
        shutil.rmtree(self.snapshot_dir, ignore_errors=True)
        step = STEP_UNPACK
        try:
            self.progress.event(step, "running")
            target = upgrade.install(self.bundle, self.releases_dir, self.current,
                                     public_key=self.public_key)
            self.progress.event(step, "ok", str(target))
            step = STEP_PLAYBOOK
            failed = self._playbook(target)
            if failed is not None:
                return self._roll_back(failed, target)
            step = STEP_WAIT
            self.progress.event(step, "running")
            if not self._wait():
                self.progress.event(step, "failed", "the control plane did not answer")
                return self._roll_back(step, target)
            self.progress.event(step, "ok")
        except (release.ReleaseError, OSError, subprocess.SubprocessError) as exc:
            self.progress.event(step, "failed", str(exc))
            if step == STEP_UNPACK:  # nothing changed yet: N still runs as it was
                self.progress.update(state="failed", finished=time.time(),
                                     failed_step=step, error=str(exc))
                self._tidy(keep=None)
                return False
            return self._roll_back(step, None, str(exc))
        self.progress.update(state="done", finished=time.time())
        self._tidy(keep=target)
        return True

    def _playbook(self, target: Path) -> str | None:
        """Run the release's upgrade.yml; None when it succeeded, else the failed task."""
        playbook = target / "playbooks" / "upgrade.yml"
        extra = {"vcbox_upgrade_bundle": str(self.bundle),
                 "vcbox_upgrade_snapshot": str(self.snapshot_dir),
                 "vcbox_app_dir": str(self.app_link),
                 "vcbox_releases_dir": str(self.releases_dir),
                 "vcbox_data_dir": str(self.data_dir)}
        if self.module_python:
            extra["ansible_python_interpreter"] = self.module_python
        env = {**os.environ, "ANSIBLE_CONFIG": str(target / "ansible.cfg"),
               "ANSIBLE_NOCOLOR": "1", "ANSIBLE_CALLBACK_PLUGINS": str(PLUGINS),
               "ANSIBLE_CALLBACKS_ENABLED": "vcbox_progress", EVENTS_ENV:
               str(self.progress.events_path)}
        argv = [str(self.ansible_playbook), "-i", "localhost,", "-c", "local",
                str(playbook), "-e", json.dumps(extra)]
        with open(self.folder / ANSIBLE_LOG, "wb") as out:
            proc = subprocess.run(argv, cwd=target, env=env, stdout=out,
                                  stderr=subprocess.STDOUT, check=False, timeout=1800)
        if proc.returncode == 0:
            return None
        failed = [s for s in self.progress.steps() if s["status"] == "failed"]
        if failed:
            return failed[-1]["name"]
        tail = (self.folder / ANSIBLE_LOG).read_text(errors="replace")[-1500:]
        self.progress.event(STEP_PLAYBOOK, "failed", tail)
        return STEP_PLAYBOOK

    def _wait(self) -> bool:
        deadline = time.monotonic() + self.wait_s
        while time.monotonic() < deadline:
            if self.host.answers(self.probe_url):
                return True
            time.sleep(1)
        return False

    def _roll_back(self, failed_step: str, target: Path | None, error: str = "") -> bool:
        """N again: the link, the data copy, every config re-rendered by N, N started."""
        self.progress.event(STEP_ROLLBACK, "running")
        notes = []
        try:
            self.host.systemctl("stop", UNIT)
            link = Path(os.readlink(self.app_link)) if self.app_link.is_symlink() else None
            if link is not None and link.resolve() != self.own_release:
                upgrade._point(self.app_link, self.own_release)
                notes.append(f"{self.app_link} -> {self.own_release}")
            restored = put_back(self.data_dir, self.snapshot_dir)
            if restored:
                notes.append("data put back: " + ", ".join(restored))
            rc = self.host.run([str(self.python), "-m", "controlplane", "apply"],
                               self.own_release)
            notes.append(f"configs re-rendered (rc {rc})")
            rc = self.host.systemctl("start", UNIT)
            if rc != 0 or not self._wait():
                raise OSError(f"{UNIT} did not start again (rc {rc})")
            self.progress.event(STEP_ROLLBACK, "ok", "; ".join(notes))
        except (OSError, subprocess.SubprocessError) as exc:
            self.progress.event(STEP_ROLLBACK, "failed", f"{'; '.join(notes)}; {exc}")
            log.exception("upgrade: the roll-back failed")
        self.progress.update(state="failed", finished=time.time(), failed_step=failed_step,
                             error=error or None)
        if target is not None and target.resolve() != self.own_release:
            shutil.rmtree(target, ignore_errors=True)
        self._tidy(keep=None)
        return False

    def _tidy(self, keep: Path | None) -> None:
        """The uploaded bundle goes; so does the data copy once N+1 runs."""
        shutil.rmtree(self.folder / INCOMING, ignore_errors=True)
        if keep is not None:
            shutil.rmtree(self.snapshot_dir, ignore_errors=True)


def launch(argv: Sequence[str], cwd: Path, env: dict[str, str]) -> int:
    """Start the runner as a transient systemd unit (it outlives the control plane's stop);
    the VCBOX_* environment of the control plane goes with it."""
    unit = f"vcbox-upgrade-{uuid.uuid4().hex[:8]}"
    command = ["systemd-run", f"--unit={unit}", "--collect", "--quiet",
               f"--working-directory={cwd}",
               *[f"--setenv={k}={v}" for k, v in env.items() if k.startswith("VCBOX_")],
               *argv]
    return subprocess.run(command, check=False, timeout=60).returncode


def add_parser(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser("upgrade-run", help="run a verified upgrade (started by the web "
                         "admin as a transient unit; see controlplane/upgrade_run.py)")
    run.add_argument("--bundle", type=Path, required=True)
    run.add_argument("--probe-url", required=True,
                     help="the control plane's address to wait for (GET answers 200)")
    run.set_defaults(run=_run_command)
    snap = sub.add_parser("upgrade-snapshot", help="copy the data files for a roll-back")
    snap.add_argument("--to", type=Path, required=True)
    snap.set_defaults(run=_snapshot_command)


def _run_command(args: argparse.Namespace, config: Any) -> int:
    from controlplane import license as license_mod

    key_path = config.release_key_path
    runner = Runner(bundle=args.bundle, data_dir=config.data_dir,
                    releases_dir=config.releases_dir, app_link=config.app_link,
                    ansible_playbook=Path(sys.executable).parent / "ansible-playbook",
                    probe_url=args.probe_url,
                    public_key=license_mod.load_public_key(key_path)
                    if key_path.exists() else None)
    return 0 if runner.execute() else 1


def _snapshot_command(args: argparse.Namespace, config: Any) -> int:
    names = snapshot(config.data_dir, args.to)
    print(f"kept: {', '.join(names) or 'nothing'} in {args.to}")
    return 0
