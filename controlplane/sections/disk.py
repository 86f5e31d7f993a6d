"""Disk space (D1-D3): the storage path, the 80 % mail (on by default), a quota per part in
whole GB, and the server logs' split between Web, FreeSWITCH, MCU and TURN.

path: "" (the data dir) or an absolute folder; the rules that need the disk itself (the
folder is under the allowed roots; a changed quota is at least what its part uses now; the
quotas fit in the storage path) are controlplane.disk.Disk.check, which the settings API
runs with this section's own checks. A save asks the guide's "确定修改磁盘设置？".
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from controlplane import rules
from controlplane.errors import Message, ValidationError
from controlplane.i18n import N_
from controlplane.rules import FieldError
from controlplane.sections.base import Section

CONFIRM = N_("Change the disk settings?")  # the guide: 确定修改磁盘设置？
PARTS = ("records", "server_logs", "terminal_logs", "backups", "firmware")
SUBPARTS = ("web", "freeswitch", "mcu", "turn")
# Default quotas in GB (the guide names only the meeting records' 10 G).
DEFAULT_QUOTAS = {"records": 10, "server_logs": 5, "terminal_logs": 2, "backups": 5,
                  "firmware": 5}
DEFAULT_SPLIT = {"web": 20, "freeswitch": 40, "mcu": 20, "turn": 20}
MAX_QUOTA = 1 << 20  # GB: a petabyte
OUTSIDE = N_("Choose a folder of this server with Browse.")
MIN_QUOTA = N_("At least %(min)s GB: the default, or what this part uses now if that is "
               "more.")


def storage_path(value: Any) -> str:
    value = rules.text(value).strip()
    if not value:
        return ""
    if len(value) > 1024 or "\0" in value or not os.path.isabs(value) \
            or ".." in value.split("/"):
        raise FieldError(OUTSIDE)
    return os.path.normpath(value)


def _whole(value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise FieldError(N_("A whole number from %(low)s to %(high)s."), low=low, high=high)
    return value


def quotas(value: Any) -> dict[str, int]:
    if not isinstance(value, Mapping):
        raise FieldError(N_("A quota in GB for each part."))
    details: dict[str, Message] = {}
    clean: dict[str, int] = {}
    for key in value:
        if key not in PARTS:
            details[key] = N_("Unknown field.")
    for part in PARTS:
        if part not in value:
            details[part] = N_("Required.")
            continue
        low = DEFAULT_QUOTAS[part]
        try:
            clean[part] = _whole(value[part], 1, MAX_QUOTA)
            if clean[part] < low:
                raise FieldError(MIN_QUOTA, min=low)
        except FieldError as exc:
            details[part] = exc.message
    if details:
        raise ValidationError(details=details)
    return clean


def split(value: Any) -> dict[str, int]:
    if not isinstance(value, Mapping):
        raise FieldError(N_("A share for each kind of server log."))
    details: dict[str, Message] = {}
    clean: dict[str, int] = {}
    for key in value:
        if key not in SUBPARTS:
            details[key] = N_("Unknown field.")
    for sub in SUBPARTS:
        if sub not in value:
            details[sub] = N_("Required.")
            continue
        try:
            clean[sub] = _whole(value[sub], 0, 100)
        except FieldError as exc:
            details[sub] = exc.message
    if details:
        raise ValidationError(details=details)
    if sum(clean.values()) != 100:
        raise FieldError(N_("The four shares add up to %(sum)s: they must add up to 100."),
                         sum=sum(clean.values()))
    return clean


SECTION = Section(
    name="disk",
    defaults={"path": "", "alert_mail": True, "quotas": dict(DEFAULT_QUOTAS),
              "server_logs_split": dict(DEFAULT_SPLIT)},
    fields={"path": storage_path, "alert_mail": rules.boolean, "quotas": quotas,
            "server_logs_split": split},
    confirm=CONFIRM,
    var_prefix="disk_",
)
