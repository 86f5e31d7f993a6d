"""Service actions (DESIGN D7): one driver per service behind a common interface.

`Services` maps a service name to its driver. A driver's `run(verb)` makes the service
use its newly written config, or raises ActionFailed with the service's own words.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


class ActionFailed(Exception):
    def __init__(self, service: str, verb: str, output: str) -> None:
        super().__init__(f"{service} {verb}: {output}")
        self.service, self.verb, self.output = service, verb, output


class Driver(Protocol):
    def run(self, verb: str, arg: str = "") -> str:
        """Act; return a short outcome text; raise ActionFailed."""

    def status(self) -> str:
        """ok | fail | stopped | absent (not installed) | checked (config only)."""


@dataclass
class Absent:
    """A service that is not installed here: its actions are skipped, visibly."""

    service: str
    reason: str

    def run(self, verb: str, arg: str = "") -> str:
        return f"skipped: {self.reason}"

    def status(self) -> str:
        return "absent"


def root_path(root: Path, path: str) -> Path:
    return root / path.lstrip("/")
