"""Time zones (SPEC §4.4 T1): the admin guide's Appendix A list, each entry mapped to an
IANA zone.

The IANA id is what settings store (`time.timezone`). `label_zh` is the guide's text
for the entry (its full-width "（UTC+08：00）" prefix written the way SPEC quotes it,
"(UTC+08:00) "); `label_en` is the same entry in English, in the style of the Windows
time-zone names the guide's list was translated from.

`offset_min` is the zone's standard offset in today's tzdata. The guide's list dates
from about 2010 and some of its offsets have since changed (Amman, Minsk, Caracas ...);
those entries keep the guide's label but map to the IANA zone of the place they name,
so the clock is right. `OUTDATED_LABELS` lists them.

With DST off (SPEC: "DST off means a fixed offset") the clock runs on the standard
offset all year: `fixed_offset_name` names that zone. Whole hours use the system's
Etc/GMT±N zones; other offsets get a VCBOX/UTC±hh:mm zone the clock driver compiles
with zic(8) from `fixed_offset_zic_source`.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

from controlplane import i18n


@dataclass(frozen=True)
class Zone:
    iana: str
    offset_min: int
    label_zh: str
    label_en: str

    @property
    def label_offset_min(self) -> int:
        """The offset the guide's label states, in minutes ("(UTC)" is 0)."""
        return _label_offset_min(self.label_zh)


_LABEL_OFFSET = re.compile(r"^\(UTC(?:([+-])(\d\d):(\d\d))?\) ")


def _label_offset_min(label: str) -> int:
    m = _LABEL_OFFSET.match(label)
    if m is None:
        raise ValueError(f"not a time-zone label: {label!r}")
    if m.group(1) is None:
        return 0
    minutes = int(m.group(2)) * 60 + int(m.group(3))
    return -minutes if m.group(1) == "-" else minutes


def _z(iana: str, offset_min: int, label_zh: str, label_en: str) -> Zone:
    return Zone(iana, offset_min, label_zh, label_en)


# In the guide's order. Where an entry names several cities the zone is the first or
# main one's; where that would repeat another entry's zone (or the city's zone is only
# an alias of another's), a still-correct zone of another city in the entry is used.
ZONES: tuple[Zone, ...] = (
    _z("Etc/GMT+11", -660, "(UTC-11:00) 协调世界时-11",
       "(UTC-11:00) Coordinated Universal Time-11"),
    # Samoa (Apia) moved to UTC+13 in 2011; American Samoa is still UTC-11.
    _z("Pacific/Pago_Pago", -660, "(UTC-11:00) 萨摩亚群岛", "(UTC-11:00) Samoa"),
    _z("Pacific/Honolulu", -600, "(UTC-10:00) 夏威夷", "(UTC-10:00) Hawaii"),
    _z("America/Anchorage", -540, "(UTC-09:00) 阿拉斯加", "(UTC-09:00) Alaska"),
    _z("America/Tijuana", -480, "(UTC-08:00) 下加利福尼亚州", "(UTC-08:00) Baja California"),
    # The guide prints this one as "（UTC0-8：00）".
    _z("America/Los_Angeles", -480, "(UTC-08:00) 太平洋时间（美国和加拿大）",
       "(UTC-08:00) Pacific Time (US & Canada)"),
    _z("America/Phoenix", -420, "(UTC-07:00) 亚利桑那", "(UTC-07:00) Arizona"),
    # Chihuahua moved to UTC-06:00 in 2022; Mazatlan (and La Paz) are still UTC-07:00.
    _z("America/Mazatlan", -420, "(UTC-07:00) 奇瓦瓦，拉巴斯，马萨特兰",
       "(UTC-07:00) Chihuahua, La Paz, Mazatlan"),
    _z("America/Denver", -420, "(UTC-07:00) 山地时间（美国和加拿大）",
       "(UTC-07:00) Mountain Time (US & Canada)"),
    _z("America/Guatemala", -360, "(UTC-06:00) 中美洲", "(UTC-06:00) Central America"),
    _z("America/Chicago", -360, "(UTC-06:00) 中部时间（美国和加拿大）",
       "(UTC-06:00) Central Time (US & Canada)"),
    _z("America/Mexico_City", -360, "(UTC-06:00) 瓜达拉哈拉，墨西哥城，蒙特雷",
       "(UTC-06:00) Guadalajara, Mexico City, Monterrey"),
    _z("America/Regina", -360, "(UTC-06:00) 萨斯喀彻温", "(UTC-06:00) Saskatchewan"),
    _z("America/Bogota", -300, "(UTC-05:00) 波哥大，利马，基多",
       "(UTC-05:00) Bogota, Lima, Quito"),
    _z("America/New_York", -300, "(UTC-05:00) 东部时间（美国和加拿大）",
       "(UTC-05:00) Eastern Time (US & Canada)"),
    _z("America/Indiana/Indianapolis", -300, "(UTC-05:00) 印第安那州（东部）",
       "(UTC-05:00) Indiana (East)"),
    # Venezuela went back to UTC-04:00 in 2016; no zone has UTC-04:30 any more.
    _z("America/Caracas", -240, "(UTC-04:30) 加拉加斯", "(UTC-04:30) Caracas"),
    # Paraguay stays on UTC-03:00 all year since October 2024.
    _z("America/Asuncion", -180, "(UTC-04:00) 亚松森", "(UTC-04:00) Asuncion"),
    _z("America/Halifax", -240, "(UTC-04:00) 大西洋时间（加拿大）",
       "(UTC-04:00) Atlantic Time (Canada)"),
    _z("America/Cuiaba", -240, "(UTC-04:00) 库亚巴", "(UTC-04:00) Cuiaba"),
    _z("America/Guyana", -240, "(UTC-04:00) 乔治敦，拉巴斯，马瑙斯，圣胡安",
       "(UTC-04:00) Georgetown, La Paz, Manaus, San Juan"),
    _z("America/Santiago", -240, "(UTC-04:00) 圣地亚哥", "(UTC-04:00) Santiago"),
    _z("America/St_Johns", -210, "(UTC-03:30) 纽芬兰", "(UTC-03:30) Newfoundland"),
    _z("America/Sao_Paulo", -180, "(UTC-03:00) 巴西利亚", "(UTC-03:00) Brasilia"),
    _z("America/Argentina/Buenos_Aires", -180, "(UTC-03:00) 布宜诺斯艾利斯",
       "(UTC-03:00) Buenos Aires"),
    _z("America/Cayenne", -180, "(UTC-03:00) 卡宴，福塔雷萨", "(UTC-03:00) Cayenne, Fortaleza"),
    # Greenland (Nuuk) moved to UTC-02:00 in 2023.
    _z("America/Nuuk", -120, "(UTC-03:00) 格陵兰", "(UTC-03:00) Greenland"),
    _z("America/Montevideo", -180, "(UTC-03:00) 蒙得维的亚", "(UTC-03:00) Montevideo"),
    _z("Etc/GMT+2", -120, "(UTC-02:00) 协调世界时-02",
       "(UTC-02:00) Coordinated Universal Time-02"),
    # "Mid-Atlantic" is no place; South Georgia is on UTC-02:00 all year.
    _z("Atlantic/South_Georgia", -120, "(UTC-02:00) 中大西洋", "(UTC-02:00) Mid-Atlantic"),
    _z("Atlantic/Azores", -60, "(UTC-01:00) 亚速尔群岛", "(UTC-01:00) Azores"),
    _z("Atlantic/Cape_Verde", -60, "(UTC-01:00) 福得角群岛", "(UTC-01:00) Cape Verde Is."),
    # Morocco is on UTC+01:00 since 2018, except during Ramadan.
    _z("Africa/Casablanca", 60, "(UTC) 卡萨布兰卡", "(UTC) Casablanca"),
    _z("Etc/UTC", 0, "(UTC) 协调世界时", "(UTC) Coordinated Universal Time"),
    # London, not Dublin: tzdata gives Europe/Dublin IST (UTC+01:00) as standard time
    # and winter GMT as a negative DST.
    _z("Europe/London", 0, "(UTC) 都柏林，爱丁堡，里斯本，伦敦",
       "(UTC) Dublin, Edinburgh, Lisbon, London"),
    _z("Africa/Monrovia", 0, "(UTC) 蒙罗维亚，雷克雅未克", "(UTC) Monrovia, Reykjavik"),
    _z("Europe/Berlin", 60, "(UTC+01:00) 阿姆斯特丹，柏林，伯尔尼，罗马，斯德哥尔摩，维也纳",
       "(UTC+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna"),
    _z("Europe/Belgrade", 60, "(UTC+01:00) 贝尔格莱德，布拉迪斯拉发，布达佩斯，卢布尔雅那，布拉格",
       "(UTC+01:00) Belgrade, Bratislava, Budapest, Ljubljana, Prague"),
    _z("Europe/Brussels", 60, "(UTC+01:00) 布鲁塞尔，哥本哈根，马德里，巴黎",
       "(UTC+01:00) Brussels, Copenhagen, Madrid, Paris"),
    # Sarajevo, Skopje and Zagreb are aliases of Europe/Belgrade.
    _z("Europe/Warsaw", 60, "(UTC+01:00) 萨拉热窝，斯科普里，华沙，萨格勒布",
       "(UTC+01:00) Sarajevo, Skopje, Warsaw, Zagreb"),
    _z("Africa/Lagos", 60, "(UTC+01:00) 中非西部", "(UTC+01:00) West Central Africa"),
    # Namibia is on UTC+02:00 all year since 2017.
    _z("Africa/Windhoek", 120, "(UTC+01:00) 温得和克", "(UTC+01:00) Windhoek"),
    # Jordan is on UTC+03:00 all year since 2022.
    _z("Asia/Amman", 180, "(UTC+02:00) 安曼", "(UTC+02:00) Amman"),
    _z("Europe/Athens", 120, "(UTC+02:00) 雅典，布加勒斯特，伊斯坦布尔",
       "(UTC+02:00) Athens, Bucharest, Istanbul"),
    _z("Asia/Beirut", 120, "(UTC+02:00) 贝鲁特", "(UTC+02:00) Beirut"),
    _z("Africa/Cairo", 120, "(UTC+02:00) 开罗", "(UTC+02:00) Cairo"),
    # Syria is on UTC+03:00 all year since 2022.
    _z("Asia/Damascus", 180, "(UTC+02:00) 大马士革", "(UTC+02:00) Damascus"),
    _z("Africa/Johannesburg", 120, "(UTC+02:00) 哈拉雷，比勒陀利亚",
       "(UTC+02:00) Harare, Pretoria"),
    _z("Europe/Helsinki", 120, "(UTC+02:00) 赫尔辛基，基辅，里加，索非亚，塔林，维尔纽斯",
       "(UTC+02:00) Helsinki, Kyiv, Riga, Sofia, Tallinn, Vilnius"),
    _z("Asia/Jerusalem", 120, "(UTC+02:00) 耶路撒冷", "(UTC+02:00) Jerusalem"),
    # Belarus is on UTC+03:00 all year since 2011.
    _z("Europe/Minsk", 180, "(UTC+02:00) 明斯克", "(UTC+02:00) Minsk"),
    _z("Asia/Baghdad", 180, "(UTC+03:00) 巴格达", "(UTC+03:00) Baghdad"),
    _z("Asia/Riyadh", 180, "(UTC+03:00) 科威特，利雅得", "(UTC+03:00) Kuwait, Riyadh"),
    _z("Europe/Moscow", 180, "(UTC+03:00) 莫斯科，圣彼得堡，伏尔加格勒",
       "(UTC+03:00) Moscow, St. Petersburg, Volgograd"),
    _z("Africa/Nairobi", 180, "(UTC+03:00) 内罗毕", "(UTC+03:00) Nairobi"),
    _z("Asia/Tehran", 210, "(UTC+03:30) 德黑兰", "(UTC+03:30) Tehran"),
    _z("Asia/Dubai", 240, "(UTC+04:00) 阿布扎比，马斯喀特", "(UTC+04:00) Abu Dhabi, Muscat"),
    _z("Asia/Baku", 240, "(UTC+04:00) 巴库", "(UTC+04:00) Baku"),
    _z("Indian/Mauritius", 240, "(UTC+04:00) 路易港", "(UTC+04:00) Port Louis"),
    _z("Asia/Tbilisi", 240, "(UTC+04:00) 第比利斯", "(UTC+04:00) Tbilisi"),
    _z("Asia/Yerevan", 240, "(UTC+04:00) 埃里温", "(UTC+04:00) Yerevan"),
    _z("Asia/Kabul", 270, "(UTC+04:30) 喀布尔", "(UTC+04:30) Kabul"),
    _z("Asia/Yekaterinburg", 300, "(UTC+05:00) 叶卡捷琳堡", "(UTC+05:00) Ekaterinburg"),
    _z("Asia/Karachi", 300, "(UTC+05:00) 伊斯兰堡，卡拉奇", "(UTC+05:00) Islamabad, Karachi"),
    _z("Asia/Tashkent", 300, "(UTC+05:00) 塔什干", "(UTC+05:00) Tashkent"),
    _z("Asia/Kolkata", 330, "(UTC+05:30) 钦奈，加尔各答，孟买，新德里",
       "(UTC+05:30) Chennai, Kolkata, Mumbai, New Delhi"),
    _z("Asia/Colombo", 330, "(UTC+05:30) 斯里加亚渥登普拉", "(UTC+05:30) Sri Jayawardenepura"),
    _z("Asia/Kathmandu", 345, "(UTC+05:45) 加德满都", "(UTC+05:45) Kathmandu"),
    # Kazakhstan (Astana is in Asia/Almaty) is on UTC+05:00 since March 2024.
    _z("Asia/Almaty", 300, "(UTC+06:00) 阿斯塔纳", "(UTC+06:00) Astana"),
    _z("Asia/Dhaka", 360, "(UTC+06:00) 达卡", "(UTC+06:00) Dhaka"),
    # Novosibirsk moved to UTC+07:00 in 2016.
    _z("Asia/Novosibirsk", 420, "(UTC+06:00) 新西伯利亚", "(UTC+06:00) Novosibirsk"),
    _z("Asia/Yangon", 390, "(UTC+06:30) 仰光", "(UTC+06:30) Yangon (Rangoon)"),
    _z("Asia/Bangkok", 420, "(UTC+07:00) 曼谷，河内，雅加达",
       "(UTC+07:00) Bangkok, Hanoi, Jakarta"),
    _z("Asia/Krasnoyarsk", 420, "(UTC+07:00) 克拉斯诺亚尔斯克", "(UTC+07:00) Krasnoyarsk"),
    _z("Asia/Shanghai", 480, "(UTC+08:00) 北京，重庆，香港特别行政区，乌鲁木齐",
       "(UTC+08:00) Beijing, Chongqing, Hong Kong SAR, Urumqi"),
    _z("Asia/Irkutsk", 480, "(UTC+08:00) 伊尔库茨克", "(UTC+08:00) Irkutsk"),
    # Asia/Kuala_Lumpur is an alias of Asia/Singapore.
    _z("Asia/Singapore", 480, "(UTC+08:00) 吉隆坡，新加坡", "(UTC+08:00) Kuala Lumpur, Singapore"),
    _z("Australia/Perth", 480, "(UTC+08:00) 珀斯", "(UTC+08:00) Perth"),
    _z("Asia/Taipei", 480, "(UTC+08:00) 台北", "(UTC+08:00) Taipei"),
    _z("Asia/Ulaanbaatar", 480, "(UTC+08:00) 乌兰巴托", "(UTC+08:00) Ulaanbaatar"),
    _z("Asia/Tokyo", 540, "(UTC+09:00) 大阪，札幌，东京", "(UTC+09:00) Osaka, Sapporo, Tokyo"),
    _z("Asia/Seoul", 540, "(UTC+09:00) 首尔", "(UTC+09:00) Seoul"),
    _z("Asia/Yakutsk", 540, "(UTC+09:00) 雅库茨克", "(UTC+09:00) Yakutsk"),
    _z("Australia/Adelaide", 570, "(UTC+09:30) 阿德莱德", "(UTC+09:30) Adelaide"),
    _z("Australia/Darwin", 570, "(UTC+09:30) 达尔文", "(UTC+09:30) Darwin"),
    _z("Australia/Brisbane", 600, "(UTC+10:00) 布里斯班", "(UTC+10:00) Brisbane"),
    # Australia/Canberra is an alias of Australia/Sydney.
    _z("Australia/Sydney", 600, "(UTC+10:00) 堪培拉，墨尔本，悉尼",
       "(UTC+10:00) Canberra, Melbourne, Sydney"),
    _z("Pacific/Guam", 600, "(UTC+10:00) 关岛，莫尔兹比港", "(UTC+10:00) Guam, Port Moresby"),
    _z("Australia/Hobart", 600, "(UTC+10:00) 霍巴特", "(UTC+10:00) Hobart"),
    _z("Asia/Vladivostok", 600, "(UTC+10:00) 符拉迪沃斯托克", "(UTC+10:00) Vladivostok"),
    _z("Asia/Magadan", 660, "(UTC+11:00) 马加丹", "(UTC+11:00) Magadan"),
    _z("Pacific/Guadalcanal", 660, "(UTC+11:00) 所罗门群岛，新喀里多尼亚",
       "(UTC+11:00) Solomon Is., New Caledonia"),
    _z("Pacific/Auckland", 720, "(UTC+12:00) 奥克兰，惠灵顿", "(UTC+12:00) Auckland, Wellington"),
    # The guide writes "协调世界+12" (without 时).
    _z("Etc/GMT-12", 720, "(UTC+12:00) 协调世界+12", "(UTC+12:00) Coordinated Universal Time+12"),
    _z("Pacific/Fiji", 720, "(UTC+12:00) 斐济", "(UTC+12:00) Fiji"),
    _z("Pacific/Tongatapu", 780, "(UTC+13:00) 努库阿洛法", "(UTC+13:00) Nuku'alofa"),
)

DEFAULT = "Asia/Shanghai"

# Entries whose guide label states an offset the place no longer uses: the zone (and
# so `offset_min`) is the place's current one, the label stays the guide's.
OUTDATED_LABELS: frozenset[str] = frozenset(
    z.iana for z in ZONES if z.offset_min != z.label_offset_min
)

_BY_IANA: dict[str, Zone] = {z.iana: z for z in ZONES}


def by_iana(iana: str) -> Zone | None:
    return _BY_IANA.get(iana)


def label(zone: Zone, language: str) -> str:
    return zone.label_en if i18n.normalize(language) == "en" else zone.label_zh


def _hhmm(offset_min: int) -> tuple[str, int, int]:
    sign = "-" if offset_min < 0 else "+"
    hours, minutes = divmod(abs(offset_min), 60)
    return sign, hours, minutes


def fixed_offset_name(zone: Zone) -> str:
    """The zone that keeps `zone`'s standard offset all year (DST off).

    Whole hours: the system's Etc zone, whose POSIX sign is inverted ("Etc/GMT-8" is
    UTC+08:00). Otherwise "VCBOX/UTC+05:30", compiled from `fixed_offset_zic_source`.
    """
    if zone.offset_min == 0:
        return "Etc/UTC"
    sign, hours, minutes = _hhmm(zone.offset_min)
    if minutes == 0:
        return f"Etc/GMT{'-' if sign == '+' else '+'}{hours}"
    return f"VCBOX/UTC{sign}{hours:02d}:{minutes:02d}"


def fixed_offset_needs_zic(zone: Zone) -> bool:
    """Whether `fixed_offset_name(zone)` is missing from tzdata and must be compiled."""
    return zone.offset_min % 60 != 0


def fixed_offset_zic_source(zone: Zone) -> str:
    """zic(8) input for `fixed_offset_name(zone)`: one Zone line, no rules.

    For whole hours this describes the system's Etc zone; compiling it is harmless.
    """
    sign, hours, minutes = _hhmm(zone.offset_min)
    stdoff = f"{'-' if sign == '-' else ''}{hours}:{minutes:02d}"
    if zone.offset_min == 0:
        abbr = "UTC"
    elif minutes == 0:
        abbr = f"{sign}{hours:02d}"
    else:
        abbr = f"{sign}{hours:02d}{minutes:02d}"
    return f"Zone {fixed_offset_name(zone)} {stdoff} - {abbr}\n"


def has_dst(zone: Zone, now: datetime | None = None) -> bool:
    """Whether the zone's clocks change within the 12 months from `now` (default: now)."""
    tz = ZoneInfo(zone.iana)
    start = (now or datetime.now(UTC)).astimezone(UTC)
    offsets = set()
    for day in range(366):
        local = (start + timedelta(days=day)).astimezone(tz)
        if local.dst():
            return True
        offsets.add(local.utcoffset())
    return len(offsets) > 1


def now_in(iana: str, dst: str = "auto", at: datetime | None = None) -> datetime:
    """The wall-clock time in a zone of the list, as the appliance's clock keeps it: with
    DST off, the zone's standard offset all year (SPEC T1). `at` (UTC): default now."""
    zone = by_iana(iana) or by_iana(DEFAULT)
    assert zone is not None
    instant = (at or datetime.now(UTC)).astimezone(UTC)
    if dst == "off" and has_dst(zone, instant):
        return instant.astimezone(timezone(timedelta(minutes=zone.offset_min)))
    return instant.astimezone(ZoneInfo(zone.iana))


@functools.lru_cache(maxsize=8192)  # a list page shows the same times poll after poll
def local_time(ts: float, tz: tzinfo | None) -> str:
    """An epoch time as the pages show it: ISO, seconds, the appliance's wall clock (tz;
    the host's when None)."""
    return datetime.fromtimestamp(ts, tz).replace(tzinfo=None).isoformat(timespec="seconds")
