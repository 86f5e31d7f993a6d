"""Automatic backups (B1): on by default, every week on Sunday at 02:00, the last 3 kept.

cycle "daily" | "weekly" | "monthly"; day: 1-7 (Monday-Sunday) for weekly, 1-28 for
monthly (every month has it), not used for daily; time "HH:MM" on the appliance's clock;
keep: how many automatic backups stay (the oldest is replaced). Backups made by hand are
never deleted by the schedule.
"""

from __future__ import annotations

import re
from typing import Any

from controlplane import rules
from controlplane.i18n import N_
from controlplane.rules import FieldError
from controlplane.sections.base import Lookup, Section

CYCLES = ("daily", "weekly", "monthly")
KEEP = (1, 30)
_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def time_of_day(value: Any) -> str:
    value = rules.text(value).strip()
    if not _TIME.match(value):
        raise FieldError(N_("A time of day such as 02:00."))
    return value


def whole(low: int, high: int):
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise FieldError(N_("A whole number from %(low)s to %(high)s."), low=low,
                             high=high)
        return value
    return check


def _days(doc: dict[str, Any], _lookup: Lookup) -> None:
    high = {"weekly": 7, "monthly": 28}.get(doc["cycle"])
    if high is not None and not 1 <= doc["day"] <= high:
        from controlplane.errors import ValidationError

        raise ValidationError(details={"day": (
            N_("A whole number from %(low)s to %(high)s."), {"low": 1, "high": high})})


SECTION = Section(
    name="backup-schedule",
    defaults={"enabled": True, "cycle": "weekly", "day": 7, "time": "02:00", "keep": 3},
    fields={"enabled": rules.boolean, "cycle": rules.one_of(*CYCLES), "day": whole(1, 31),
            "time": time_of_day, "keep": whole(*KEEP)},
    cross_check=_days,
    var_prefix="backup_",
)
