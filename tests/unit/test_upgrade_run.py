"""The web admin's upgrade runner (controlplane/upgrade_run.py) and signed bundles.

The runner is run for real here: the bundle N+1 is built by image/release.py, unpacked,
and its playbooks/upgrade.yml run by the real ansible-playbook with the progress plugin,
on this machine (`-c local`). The playbook of these bundles is a short stand-in for the
real one (which needs systemd and /opt/vcbox: tests/system/test_host_lifecycle.py runs
that one on a podman host, from a browser); so are the host's systemctl and `apply`,
recorded rather than run, since this machine has no vcbox-controlplane unit."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from controlplane import __version__, license, release, upgrade_run
from controlplane.release import ReleaseError, parse_version
from tests.release_builder import builder

REPO = Path(__file__).resolve().parents[2]
N = __version__
N1 = ".".join(str(p) for p in (*parse_version(N)[:-1], parse_version(N)[-1] + 1))
PLAYBOOK_BIN = REPO / ".venv" / "bin" / "ansible-playbook"

STAND_IN = """---
- name: Stand-in upgrade
  hosts: all
  gather_facts: false
  tasks:
    - name: Install the requirements
      ansible.builtin.command: "true"
    - name: Keep a copy of the data for a roll-back
      ansible.builtin.command:
        argv: ["{{ ansible_playbook_python }}", -m, controlplane, upgrade-snapshot, --to,
               "{{ vcbox_upgrade_snapshot }}"]
        chdir: "%(repo)s"
      environment:
        VCBOX_DATA: "{{ vcbox_data_dir }}"
    - name: Activate the new release
      ansible.builtin.file:
        src: "{{ vcbox_releases_dir }}/%(version)s"
        dest: "{{ vcbox_app_dir }}"
        state: link
        force: true
    - name: The new code migrates the store
      ansible.builtin.copy:
        content: '{"_meta": {"1": {"schema_version": 99}}}'
        dest: "{{ vcbox_data_dir }}/documents.json"
%(more)s"""
BREAK = """    - name: Break midway
      ansible.builtin.fail:
        msg: a task of the new release failed
    - name: Never reached
      ansible.builtin.command: "true"
"""


def _tree(dest: Path, version: str, playbook: str) -> Path:
    for rel in builder.collect(REPO):
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, dest / rel)
    init = dest / "controlplane" / "__init__.py"
    init.write_text(re.sub(r'__version__ = "[^"]*"', f'__version__ = "{version}"',
                           init.read_text(encoding="utf-8")), encoding="utf-8")
    (dest / "playbooks" / "upgrade.yml").write_text(playbook, encoding="utf-8")
    return dest


def _bundle(tmp: Path, more: str = "", key: Path | None = None) -> Path:
    playbook = STAND_IN % {"repo": REPO, "version": N1, "more": more}
    return builder.build(_tree(tmp / "src", N1, playbook), tmp / "out", signing_key=key)


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("keys")
    private, public = license.keygen(folder / "release")
    other, _ = license.keygen(folder / "other")
    return {"private": private, "public": public, "other": other}


@pytest.fixture(scope="module")
def signed(tmp_path_factory, keys) -> Path:
    return _bundle(tmp_path_factory.mktemp("signed"), key=keys["private"])


def test_a_signed_bundle_is_taken_with_the_key(signed: Path, keys) -> None:
    public = license.load_public_key(keys["public"])
    assert release.verify(signed, 1 << 30, public_key=public).version == N1
    # Without a key configured the signature is not needed, nor in the way.
    assert release.verify(signed, 1 << 30).version == N1
    folder = signed.parent / "x"
    assert release.extract(signed, folder, 1 << 30, public_key=public).version == N1
    assert (folder / release.SIGNATURE).exists()


def test_unsigned_or_wrongly_signed_bundles_are_refused_where_a_key_is_set(
        tmp_path: Path, keys) -> None:
    public = license.load_public_key(keys["public"])
    unsigned = _bundle(tmp_path / "unsigned")
    with pytest.raises(ReleaseError, match="not signed"):
        release.verify(unsigned, 1 << 30, public_key=public)
    other = _bundle(tmp_path / "other", key=keys["other"])
    with pytest.raises(ReleaseError, match="does not match"):
        release.verify(other, 1 << 30, public_key=public)
    with pytest.raises(ReleaseError, match="does not match"):
        release.extract(other, tmp_path / "x", 1 << 30, public_key=public)
    assert not (tmp_path / "x").exists()


class RecordedHost(upgrade_run.Host):
    """systemctl and the roll-back's `apply`, recorded (no systemd here)."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], Path | None]] = []
        super().__init__(run=self._run, answers=lambda url: True)

    def _run(self, argv, cwd) -> int:
        self.calls.append((list(argv), cwd))
        return 0


def _runner(tmp: Path, bundle: Path) -> tuple[upgrade_run.Runner, RecordedHost, Path]:
    data = tmp / "data"
    data.mkdir()
    (data / "documents.json").write_text('{"_meta": {"1": {"schema_version": 1}},'
                                         ' "accounts": {"1": {"account": "1001"}}}')
    releases = tmp / "releases"
    releases.mkdir()
    app = tmp / "app"
    os.symlink(REPO, app)  # N: this checkout
    host = RecordedHost()
    runner = upgrade_run.Runner(bundle=bundle, data_dir=data, releases_dir=releases,
                                app_link=app, ansible_playbook=PLAYBOOK_BIN,
                                probe_url="http://127.0.0.1:1/", host=host, wait_s=5,
                                module_python=sys.executable)
    runner.progress.begin(N, N1, "2026-12-04T00:00:00Z")
    return runner, host, data


def _steps(runner: upgrade_run.Runner) -> list[tuple[str, str]]:
    return [(s["name"], s["status"]) for s in runner.progress.steps()]


def test_an_upgrade_reports_each_task_and_ends_done(tmp_path: Path) -> None:
    assert PLAYBOOK_BIN.exists(), "setup installs ansible into the venv"
    runner, host, data = _runner(tmp_path, _bundle(tmp_path))
    assert runner.execute() is True
    run = runner.progress.shown()
    assert run["state"] == "done" and run["failed_step"] is None, run
    assert _steps(runner) == [
        (upgrade_run.STEP_UNPACK, "ok"),
        ("Install the requirements", "changed"),
        ("Keep a copy of the data for a roll-back", "changed"),
        ("Activate the new release", "changed"),
        ("The new code migrates the store", "changed"),
        (upgrade_run.STEP_WAIT, "ok")]
    assert os.readlink(tmp_path / "app") == str(tmp_path / "releases" / N1)
    assert host.calls == []  # nothing to undo
    assert not (data / upgrade_run.FOLDER / upgrade_run.SNAPSHOT).exists()


def test_a_playbook_failing_midway_leaves_n_with_its_data(tmp_path: Path) -> None:
    runner, host, data = _runner(tmp_path, _bundle(tmp_path, more=BREAK))
    before = (data / "documents.json").read_bytes()
    assert runner.execute() is False
    run: dict[str, Any] = runner.progress.shown()
    assert run["state"] == "failed" and run["failed_step"] == "Break midway", run
    steps = _steps(runner)
    assert ("Break midway", "failed") in steps and ("Never reached", "running") not in steps
    assert steps[-1] == (upgrade_run.STEP_ROLLBACK, "ok"), steps
    failed = next(s for s in runner.progress.steps() if s["name"] == "Break midway")
    assert "a task of the new release failed" in failed["message"]
    # N again: the link, the data as it was before the new code touched it, N's configs
    # re-rendered, the control plane started; the half-installed release gone.
    assert Path(os.readlink(tmp_path / "app")).resolve() == REPO
    assert (data / "documents.json").read_bytes() == before
    assert json.loads(before)["accounts"]
    assert host.calls == [
        (["systemctl", "stop", upgrade_run.UNIT], None),
        ([str(runner.python), "-m", "controlplane", "apply"], REPO),
        (["systemctl", "start", upgrade_run.UNIT], None)]
    assert not (tmp_path / "releases" / N1).exists()


def test_a_bundle_refused_by_the_runner_changes_nothing(tmp_path: Path, signed: Path,
                                                        keys) -> None:
    unsigned = _bundle(tmp_path)
    runner, host, data = _runner(tmp_path, unsigned)
    runner.public_key = license.load_public_key(keys["public"])
    before = (data / "documents.json").read_bytes()
    assert runner.execute() is False
    run = runner.progress.shown()
    assert run["failed_step"] == upgrade_run.STEP_UNPACK and "not signed" in run["error"]
    assert os.readlink(tmp_path / "app") == str(REPO)
    assert (data / "documents.json").read_bytes() == before
    assert list((tmp_path / "releases").iterdir()) == []
    assert host.calls == []  # the control plane was never stopped


def test_snapshot_and_put_back(tmp_path: Path) -> None:
    import sqlite3

    data = tmp_path / "data"
    data.mkdir()
    (data / "documents.json").write_text("{}")
    db = sqlite3.connect(data / "history.sqlite3")
    db.execute("CREATE TABLE t (x)")
    db.execute("INSERT INTO t VALUES (1)")
    db.commit()
    db.close()
    kept = upgrade_run.snapshot(data, tmp_path / "snap")
    assert kept == ["documents.json", "history.sqlite3"]
    (data / "documents.json").write_text('{"changed": 1}')
    (data / "new.sqlite3").write_bytes(b"made by the new code")
    assert upgrade_run.put_back(data, tmp_path / "snap") == kept
    assert (data / "documents.json").read_text() == "{}"
    assert not (data / "new.sqlite3").exists()
    rows = sqlite3.connect(data / "history.sqlite3").execute("SELECT x FROM t").fetchall()
    assert rows == [(1,)]
    # A copy without its marker (interrupted) is never put back.
    (tmp_path / "snap" / upgrade_run.COMPLETE).unlink()
    assert upgrade_run.put_back(data, tmp_path / "snap") == []
