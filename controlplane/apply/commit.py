"""commit: write a plan's files atomically under ROOT, run its actions in order, and put
the previous files back (and the services on them) when an action fails."""

from __future__ import annotations

import contextlib
import grp
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from controlplane.apply.plan import FileChange, Plan
from controlplane.apply.targets import Action
from controlplane.drivers.services import ActionFailed, Driver
from controlplane.store.documents import atomic_write, storage_full


@dataclass
class Outcome:
    action: Action
    ok: bool
    text: str


@dataclass
class Result:
    ok: bool
    files: list[str]
    outcomes: list[Outcome] = field(default_factory=list)
    failed: ActionFailed | None = None
    restored: bool = False
    full: bool = False  # a file could not be written: the disk has no room

    def summary(self) -> str:
        parts = [f"{o.action}: {o.text}" for o in self.outcomes]
        return "; ".join(parts) or "no action"


# Files that hold secrets (ESL/Janus/TURN passwords): readable by root and, where the
# service runs as its own user, by that user's group. Same modes as the Ansible roles.
SECRET_GROUPS: tuple[tuple[str, str], ...] = (
    ("etc/turnserver.conf", "turnserver"),
    ("etc/freeswitch/", "freeswitch"),
)


def _secret(path: str) -> bool:
    return path.startswith(("etc/janus/", "etc/freeswitch/")) or path.endswith((
        ".key", "turnserver.conf"))


def _group_of(path: str) -> int | None:
    for prefix, group in SECRET_GROUPS:
        if path.startswith(prefix):
            try:
                return grp.getgrnam(group).gr_gid
            except KeyError:
                return None
    return None


def _write(root: Path, path: str, content: bytes | None) -> None:
    target = root / path
    if content is None:
        target.unlink(missing_ok=True)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    gid = _group_of(path) if str(root) == "/" else None
    mode = (0o640 if gid is not None else 0o600) if _secret(path) else 0o644
    atomic_write(target, content, mode)
    if gid is not None:
        os.chown(target, -1, gid)
    os.chmod(target, mode)


def commit(plan: Plan, root: Path, drivers: Mapping[str, Driver]) -> Result:
    result = Result(ok=True, files=[change.path for change in plan.files])
    written: list[FileChange] = []
    try:
        for change in plan.files:
            _write(root, change.path, change.new)
            written.append(change)
        for action in plan.actions:
            driver = drivers.get(action.service)
            try:
                text = driver.run(action.verb, action.arg) if driver else "skipped: no driver"
            except ActionFailed as exc:
                # The action as planned (with its argument) is re-run on the old files.
                result.outcomes.append(Outcome(action, False, exc.output))
                raise
            result.outcomes.append(Outcome(action, True, text))
    except ActionFailed as exc:
        result.ok, result.failed = False, exc
    except OSError as exc:
        result.ok, result.full = False, storage_full(exc)
        result.failed = ActionFailed("files", "write", str(exc))
    if result.ok:
        return result
    # Put every file back, then let the services that were acted on pick the old ones up.
    for change in reversed(written):
        _write(root, change.path, change.old)
    result.restored = True
    for outcome in result.outcomes:
        driver = drivers.get(outcome.action.service)
        if driver is None:
            continue
        # The failure already reported is the one the caller needs.
        with contextlib.suppress(ActionFailed):
            driver.run(outcome.action.verb, outcome.action.arg)
    return result
