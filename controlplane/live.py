"""What FreeSWITCH knows right now, for the dashboard's overview (SPEC A8): how many
accounts are online, how many meetings run and how many licensed calls are in use.

Read over ESL on each (cached) status poll:
- online users: the accounts with at least one registered device, from the presence the
  control plane keeps (controlplane.presence, the online users list's own source) once it
  has read FreeSWITCH's registrations; before that from `show registrations as json`
  (sofia adds every registration to the core's table). With 10,000 devices that answer is
  ~3 MB of JSON: ~30 ms of the one core every poll, every request waiting meanwhile;
- live meetings: `conference json_list`, the conferences running;
- licensed calls in use: `limit_usage hash vcbox calls`, the counter the dialplan's limit
  keeps (controlplane.dialplan.LIMIT, released at hangup).
When FreeSWITCH cannot be asked there are no figures (None), never zeros.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from controlplane.dialplan import LIMIT
from controlplane.drivers.esl import EslError, EslReplyError
from controlplane.polling import parse_json_list

TIMEOUT_S = 1.5


class Api(Protocol):
    def api(self, command: str, timeout: float | None = None) -> str: ...


@dataclass(frozen=True)
class Figures:
    online_users: int
    meetings: int
    calls: int

    def as_dict(self) -> dict[str, Any]:
        return {"reachable": True, **asdict(self)}


def online_users(text: str) -> int:
    """The accounts (user@realm) with a registration in `show registrations as json`."""
    data = json.loads(text) if text.strip() else {}
    rows = (data.get("rows") or []) if isinstance(data, dict) else []
    return len({(row.get("reg_user", ""), row.get("realm", "")) for row in rows
                if isinstance(row, dict)})


def calls_in_use(text: str) -> int:
    """`limit_usage ...`: the counter's value (FreeSWITCH answers a bare number)."""
    return int(text.strip() or 0)


def figures(esl: Api, timeout: float = TIMEOUT_S,
            online: Callable[[], int | None] | None = None) -> Figures | None:
    """The figures now, or None when FreeSWITCH does not answer (or answers nonsense).
    online: the online accounts counted elsewhere (None while it does not know yet)."""
    try:
        users = online() if online is not None else None
        if users is None:
            users = online_users(esl.api("show registrations as json", timeout))
        try:
            meetings = len(parse_json_list(esl.api("conference json_list", timeout)))
        except EslReplyError:  # -ERR No active conferences.
            meetings = 0
        calls = calls_in_use(esl.api(f"limit_usage {LIMIT}", timeout))
    except (EslError, ValueError, KeyError, TypeError):
        return None
    return Figures(online_users=users, meetings=meetings, calls=calls)
