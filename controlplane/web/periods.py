"""Time bounds of a list's query (since, until, a number of months) in the appliance's zone."""

from __future__ import annotations

import datetime as dt

from controlplane.errors import ValidationError
from controlplane.i18n import N_

REVERSED = N_("The start date is after the end date.")


def parse_time(name: str, value: str, tz: dt.tzinfo, end: bool = False) -> float | None:
    """An epoch number, an ISO date (a whole day of the appliance's zone tz) or an ISO
    date-time (in tz unless it says its offset)."""
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        if len(value) == 10:
            day = dt.date.fromisoformat(value) + dt.timedelta(days=1 if end else 0)
            return dt.datetime.combine(day, dt.time(), tzinfo=tz).timestamp()
        moment = dt.datetime.fromisoformat(value)
        return (moment if moment.tzinfo else moment.replace(tzinfo=tz)).timestamp()
    except ValueError as exc:
        raise ValidationError(details={name: N_("Use a date like 2026-01-31.")}) from exc


def day_of(value: float | None, tz: dt.tzinfo, end: bool = False) -> str:
    """The date in tz of a bound (the last day an exclusive end includes), or ""."""
    if value is None:
        return ""
    moment = dt.datetime.fromtimestamp(value - (1 if end else 0), tz)
    return moment.date().isoformat()


def months_ago(now: dt.datetime, months: int) -> dt.datetime:
    """The start of the day `months` calendar months before now's (the 31st of a short
    month falls on its last day)."""
    month = now.month - 1 - months
    year, month = now.year + month // 12, month % 12 + 1
    for day in range(now.day, 27, -1):
        try:
            return now.replace(year=year, month=month, day=day, hour=0, minute=0, second=0,
                               microsecond=0)
        except ValueError:
            continue
    return now.replace(year=year, month=month, day=min(now.day, 28), hour=0, minute=0,
                       second=0, microsecond=0)


def bounds(query: dict[str, str], tz: dt.tzinfo) -> tuple[float | None, float | None]:
    """since/until of a query; a reversed range is a field-level 400."""
    since = parse_time("since", query.get("since", ""), tz)
    until = parse_time("until", query.get("until", ""), tz, end=True)
    if since is not None and until is not None and since >= until:
        raise ValidationError(details={"since": REVERSED, "until": REVERSED})
    return since, until
