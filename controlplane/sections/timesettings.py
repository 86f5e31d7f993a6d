"""Time (T1): DST, SNTP or manual time, time zone (by IANA id, from the guide's list)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from controlplane import rules, timezones
from controlplane.errors import ValidationError
from controlplane.i18n import N_
from controlplane.rules import Field, FieldError
from controlplane.sections.base import MCU_CONFIRM, Lookup, Section


def _timezone(value: Any) -> str:
    if not isinstance(value, str) or timezones.by_iana(value) is None:
        raise FieldError(N_("Choose a time zone from the list."))
    return value


def _manual_datetime(value: Any) -> str:
    if value in (None, ""):
        return ""
    try:
        parsed = dt.datetime.fromisoformat(rules.text(value))
    except ValueError as exc:
        raise FieldError(N_("Use a date and time like 2026-01-31T09:30:00.")) from exc
    if parsed.tzinfo is not None or not 2000 <= parsed.year <= 2099:
        raise FieldError(N_("Use a date and time like 2026-01-31T09:30:00."))
    return parsed.isoformat(timespec="seconds")


def _cross_check(doc: dict[str, Any], lookup: Lookup) -> None:
    if doc["source"] == "manual" and not doc["manual_datetime"]:
        raise ValidationError(details={"manual_datetime": N_("Required for manual time.")})


SECTION = Section(
    name="time",
    defaults={"dst": "off", "source": "sntp", "sntp_server": "cn.pool.ntp.org",
              "timezone": timezones.DEFAULT, "manual_datetime": ""},
    fields={
        "dst": rules.one_of("off", "auto"),
        "source": rules.one_of("sntp", "manual"),
        "sntp_server": rules.domain,
        "timezone": _timezone,
        "manual_datetime": Field(_manual_datetime, required=False),
    },
    cross_check=_cross_check,
    confirm=MCU_CONFIRM,
)
