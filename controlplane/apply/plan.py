"""plan: rendered files compared with what is under ROOT, and the actions they need.

A pure function of its inputs (the rendered files and the current files): it writes
nothing and starts nothing.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from controlplane.apply.targets import Action, action_for, order


@dataclass(frozen=True)
class FileChange:
    path: str  # relative to ROOT
    old: bytes | None  # None: the file does not exist
    new: bytes | None  # None: the file must not exist

    def diff(self) -> str:
        old = (self.old or b"").decode("utf-8", "replace").splitlines(keepends=True)
        new = (self.new or b"").decode("utf-8", "replace").splitlines(keepends=True)
        return "".join(difflib.unified_diff(
            old, new, f"a/{self.path}" if self.old is not None else "/dev/null",
            f"b/{self.path}" if self.new is not None else "/dev/null"))


@dataclass(frozen=True)
class Plan:
    files: tuple[FileChange, ...]
    actions: tuple[Action, ...]
    extra: tuple[Action, ...] = field(default=())

    @property
    def empty(self) -> bool:
        return not self.files and not self.actions

    def diff(self) -> str:
        parts = [change.diff() for change in self.files]
        if self.actions:
            parts.append("# actions: " + ", ".join(map(str, self.actions)) + "\n")
        return "".join(parts) or "# nothing to change\n"


def read_current(root: Path, paths: Iterable[str]) -> dict[str, bytes | None]:
    current: dict[str, bytes | None] = {}
    for path in paths:
        try:
            current[path] = (root / path).read_bytes()
        except FileNotFoundError:
            current[path] = None
    return current


def make_plan(rendered: Mapping[str, bytes | None], current: Mapping[str, bytes | None],
              events: Iterable[Action] = ()) -> Plan:
    """The files whose content differs, and the deduplicated, ordered actions they need
    (plus actions of events that have no file, like setting the clock)."""
    files = tuple(FileChange(path, current.get(path), content)
                  for path, content in sorted(rendered.items())
                  if current.get(path) != content)
    actions = {a for a in (action_for(f.path) for f in files) if a is not None}
    actions.update(events)
    return Plan(files, tuple(order(actions)))
