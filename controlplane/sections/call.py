"""Call settings (C1-C6): FreeSWITCH conference profiles and Janus room limits."""

from __future__ import annotations

from typing import Any

from controlplane import rules
from controlplane.errors import Message
from controlplane.i18n import N_
from controlplane.rules import FieldError
from controlplane.sections.base import Section

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


def _polling_interval(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not (
            POLLING_MIN_S <= value <= POLLING_MAX_S):
        raise FieldError(N_("A whole number of seconds from %(low)s to %(high)s."),
                         low=POLLING_MIN_S, high=POLLING_MAX_S)
    return value


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
    },
    warnings=_warnings,
)
