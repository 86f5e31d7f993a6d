"""The TURN relay (coturn) as the dashboard sees it (SPEC A8, DESIGN D6): how many relay
sessions (allocations) it holds now, from its telnet CLI on the loopback.

`pu` (print users) is asked rather than `ps`: both end with coturn's "Total sessions: N",
but `ps` also prints a dozen lines per session. When coturn cannot be asked there is no
count (None), never a zero.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol

from controlplane.drivers.coturn import CoturnError, parse_total_sessions


class Cli(Protocol):
    def command(self, cmd: str) -> str: ...


@dataclass(frozen=True)
class TurnStatus:
    sessions: int

    def as_dict(self) -> dict[str, Any]:
        return {"reachable": True, **asdict(self)}


def status(cli: Cli) -> TurnStatus | None:
    """The relay's sessions now, or None when its CLI does not answer (or answers
    something else)."""
    try:
        return TurnStatus(sessions=parse_total_sessions(cli.command("pu")))
    except (CoturnError, ValueError):
        return None
