"""The reliability suite (issue 16 item 3): each case breaks something for real, many
times, and counts what it did and what it found. The counts come out in the terminal
summary of every run (CI's short form included), one row a case:

    rounds     rounds run (each one a fault and a recovery)
    faults     faults injected (kill -9s, a full disk, a cut-off network ...)
    checked    records checked afterwards (acknowledged writes, call records, ...)
    lost       records missing or doubled after a recovery (must be 0)
    corrupt    stores that did not load or failed their integrity check (must be 0)

Short by default (`make test`); longer with `make reliability`, which sets
VCBOX_RELIABILITY_SCALE (every case runs that many times its short rounds) or
VCBOX_RELIABILITY_ROUNDS (every case runs exactly that many rounds).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

COLUMNS = ("rounds", "faults", "checked", "lost", "corrupt")


def rounds(short: int) -> int:
    """How many rounds a case runs whose short form runs `short`."""
    fixed = os.environ.get("VCBOX_RELIABILITY_ROUNDS", "").strip()
    if fixed:
        return max(1, int(fixed))
    scale = float(os.environ.get("VCBOX_RELIABILITY_SCALE", "").strip() or 1)
    return max(1, round(short * scale))


@dataclass
class Tally:
    case: str
    rounds: int = 0
    faults: int = 0
    checked: int = 0
    lost: int = 0
    corrupt: int = 0
    notes: dict[str, int] = field(default_factory=dict)
    info: str = ""  # words for the summary (a random seed, say)
    outcome: str = "?"
    seconds: float = 0.0

    def note(self, key: str, count: int = 1) -> None:
        """A count of the case's own (refused writes, replayed records, ...)."""
        self.notes[key] = self.notes.get(key, 0) + count


TALLIES: list[Tally] = []


@pytest.fixture
def tally(request: pytest.FixtureRequest) -> Iterator[Tally]:
    """This case's counts, shown in the run's summary whatever its outcome."""
    row = Tally(request.node.name.removeprefix("test_"))
    TALLIES.append(row)
    started = time.monotonic()
    yield row
    row.seconds = time.monotonic() - started


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator:
    report = yield
    row = next((t for t in TALLIES if t.case == item.name.removeprefix("test_")), None)
    if row is None:
        return report
    if report.failed:
        row.outcome = "failed" if report.when == "call" else "error"
    elif report.skipped:
        row.outcome = "skipped"
    elif report.when == "call":
        row.outcome = "passed"
    return report


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if not TALLIES:
        return
    write = terminalreporter.write_line
    terminalreporter.write_sep("=", "reliability counts")
    width = max(len(t.case) for t in TALLIES)
    write(f"{'case':<{width}}  " + "  ".join(f"{c:>7}" for c in COLUMNS)
          + f"  {'seconds':>7}  outcome  other counts")
    for t in TALLIES:
        notes = ", ".join([f"{k} {v}" for k, v in t.notes.items()] + [t.info] * bool(t.info))
        write(f"{t.case:<{width}}  " + "  ".join(f"{getattr(t, c):>7}" for c in COLUMNS)
              + f"  {t.seconds:>7.1f}  {t.outcome:<7}  {notes}")
