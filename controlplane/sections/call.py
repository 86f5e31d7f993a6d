"""Call settings (C1-C6): FreeSWITCH conference profiles and Janus room limits."""

from __future__ import annotations

from typing import Any

from controlplane import rules
from controlplane.errors import Message, ValidationError
from controlplane.i18n import N_
from controlplane.rules import FieldError
from controlplane.sections.base import Lookup, Section

VIDEO_RESOLUTIONS = ("1080p30", "720p30", "360p30", "4cif", "cif")
CONTENT_RESOLUTIONS = ("1080p30", "1080p15", "1080p5", "720p30", "720p15", "720p5")
# C2: anything above 1080P/5FPS costs the server a lot.
HEAVY_CONTENT = frozenset({"1080p30", "1080p15"})
EQUAL_LAYOUTS = tuple(f"{n}x{n}" for n in range(2, 8))
ONE_PLUS_N_LAYOUTS = ("1+5", "1+7", "1+9")
POLLING_RULES = ("all", "keep_speaker")
EARLY_JOIN = (5, 10, 15, 30, 45, 60)
BANDWIDTHS_KBPS = (4096, 3072, 2048, 1536, 1024, 768, 512, 256, 128)
POLLING_MIN_S, POLLING_MAX_S = 5, 300
ACCESS_DIGITS = 5


def _polling_interval(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not (
            POLLING_MIN_S <= value <= POLLING_MAX_S):
        raise FieldError(N_("A whole number of seconds from %(low)s to %(high)s."),
                         low=POLLING_MIN_S, high=POLLING_MAX_S)
    return value


def _access_number(value: Any) -> str:
    """Access numbers have 5 digits: never an account (4, E2) nor a meeting ID (6-10)."""
    value = rules.text(value).strip()
    if len(value) != ACCESS_DIGITS or not value.isdigit() or not value.isascii():
        raise FieldError(N_("An access number is %(n)s digits."), n=ACCESS_DIGITS)
    return value


def _distinct_numbers(doc: dict[str, Any], lookup: Lookup) -> None:
    if doc["ivr_number"] == doc["meet_now_number"]:
        raise ValidationError(details={"meet_now_number": N_(
            "The Meet Now number must differ from the IVR access number.")})


def _warnings(doc: dict[str, Any]) -> dict[str, Message]:
    if doc["max_content_resolution"] in HEAVY_CONTENT:
        return {"max_content_resolution": N_(
            "A content resolution above 1080P/5FPS may overload the server.")}
    return {}


SECTION = Section(
    name="call",
    defaults={
        "max_video_resolution": "720p30",
        "max_content_resolution": "1080p5",
        "equal_layout": "4x4",
        "one_plus_n_layout": "1+7",
        "polling_interval_s": 10,
        "polling_rule": "all",
        "early_join_min": 10,
        "ivr_language": "zh",
        "max_uplink_kbps": 2048,
        "max_downlink_kbps": 2048,
        # Q3: the IVR access number (asks for a meeting ID) and the Meet Now number
        "ivr_number": "90000",
        "meet_now_number": "90001",
    },
    fields={
        "max_video_resolution": rules.one_of(*VIDEO_RESOLUTIONS),
        "max_content_resolution": rules.one_of(*CONTENT_RESOLUTIONS),
        "equal_layout": rules.one_of(*EQUAL_LAYOUTS),
        "one_plus_n_layout": rules.one_of(*ONE_PLUS_N_LAYOUTS),
        "polling_interval_s": _polling_interval,
        "polling_rule": rules.one_of(*POLLING_RULES),
        "early_join_min": rules.one_of(*EARLY_JOIN),
        "ivr_language": rules.one_of("zh", "en"),
        "max_uplink_kbps": rules.one_of(*BANDWIDTHS_KBPS),
        "max_downlink_kbps": rules.one_of(*BANDWIDTHS_KBPS),
        "ivr_number": _access_number,
        "meet_now_number": _access_number,
    },
    cross_check=_distinct_numbers,
    warnings=_warnings,
)
