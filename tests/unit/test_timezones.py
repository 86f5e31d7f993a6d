"""controlplane.timezones against the admin guide's Appendix A and the system tzdata."""

from __future__ import annotations

import os
import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from controlplane import timezones
from controlplane.timezones import DEFAULT, ZONES, Zone
from tests.components import locate

REPO = Path(__file__).resolve().parents[2]
GUIDE_NAME = "YMS1000-admin-guide.zh.txt"
GUIDE_CANDIDATES = [
    Path(os.environ.get("VCBOX_GUIDE", "/nonexistent")),
    REPO / "shared" / "seed" / GUIDE_NAME,
    REPO.parent / "shared" / "seed" / GUIDE_NAME,
]

# Misprints in the guide's list, as printed → as meant.
GUIDE_MISPRINTS = {"（UTC0-8：00）": "（UTC-08：00）"}
# Entries whose label offset the places no longer use (see timezones.OUTDATED_LABELS).
OUTDATED = {
    "America/Caracas", "America/Asuncion", "America/Nuuk", "Africa/Casablanca",
    "Africa/Windhoek", "Asia/Amman", "Asia/Damascus", "Europe/Minsk", "Asia/Almaty",
    "Asia/Novosibirsk",
}


def guide_path() -> Path | None:
    return next((p for p in GUIDE_CANDIDATES if p.is_file()), None)


def appendix_a_entries(text: str) -> list[str]:
    """The "（UTC...）..." lines of the guide's Appendix A, as printed."""
    lines = [line.strip() for line in text.splitlines()]
    start = lines.index("附录 A–时区")  # the heading, not "请参阅附录 A–时区 ..."
    entries = []
    for line in lines[start + 1:]:
        if line.startswith("附录"):
            break
        if line.startswith("（UTC"):
            entries.append(line)
    return entries


def normalize(entry: str) -> str:
    """"（UTC+08：00）北京，..." → "(UTC+08:00) 北京，..." (only the prefix changes)."""
    for printed, meant in GUIDE_MISPRINTS.items():
        entry = entry.replace(printed, meant)
    m = re.match(r"^（UTC(?:([+-]\d\d)：(\d\d))?）(.+)$", entry)
    assert m, f"unexpected Appendix A entry: {entry!r}"
    offset = f"{m.group(1)}:{m.group(2)}" if m.group(1) else ""
    return f"(UTC{offset}) {m.group(3)}"


def standard_offset_min(iana: str, year: int) -> int:
    """utcoffset - dst in January or July, whichever is not DST."""
    tz = ZoneInfo(iana)
    found = []
    for month in (1, 7):
        local = datetime(year, month, 15, 12, tzinfo=tz)
        if not local.dst():
            found.append(int((local.utcoffset() - local.dst()).total_seconds()) // 60)
    assert found, f"{iana}: DST in both January and July"
    assert len(set(found)) == 1, f"{iana}: two standard offsets {found}"
    return found[0]


@pytest.fixture(scope="module")
def guide_entries() -> list[str]:
    path = guide_path()
    if path is None:
        pytest.skip(f"admin guide not found (set VCBOX_GUIDE); tried {GUIDE_CANDIDATES[1:]}")
    return appendix_a_entries(path.read_text(encoding="utf-8"))


def test_every_appendix_entry_in_order(guide_entries: list[str]) -> None:
    assert len(guide_entries) == 96
    assert len(ZONES) == len(guide_entries)
    assert [z.label_zh for z in ZONES] == [normalize(e) for e in guide_entries]


def test_count() -> None:
    # Also checked against the guide itself above, when the guide is at hand.
    assert len(ZONES) == 96


def test_iana_ids_unique_and_loadable() -> None:
    ids = [z.iana for z in ZONES]
    assert len(set(ids)) == len(ids)
    for iana in ids:
        ZoneInfo(iana)


def test_no_two_entries_are_aliases_of_one_zone() -> None:
    links = {}
    for line in Path(locate("tzdata.zi")).read_text().splitlines():
        if line.startswith("L "):
            _, target, name = line.split()
            links[name] = target
    canonical = [links.get(z.iana, z.iana) for z in ZONES]
    assert len(set(canonical)) == len(canonical)


def test_offsets_are_tzdata_standard_offsets() -> None:
    year = datetime.now(UTC).year
    for z in ZONES:
        assert standard_offset_min(z.iana, year) == z.offset_min, z.label_en


def test_offsets_match_labels_except_outdated_entries() -> None:
    for z in ZONES:
        if z.iana in OUTDATED:
            assert z.label_offset_min != z.offset_min, z.label_en
        else:
            assert z.label_offset_min == z.offset_min, z.label_en
    assert timezones.OUTDATED_LABELS == OUTDATED


def test_labels() -> None:
    for z in ZONES:
        assert z.label_en.startswith(z.label_zh.split(" ", 1)[0] + " ")
        assert z.label_en.isascii()
        assert "（" not in z.label_zh.split(" ", 1)[0]
    beijing = timezones.by_iana("Asia/Shanghai")
    assert beijing is not None
    assert timezones.label(beijing, "zh_CN") == "(UTC+08:00) 北京，重庆，香港特别行政区，乌鲁木齐"
    assert timezones.label(beijing, "en") == "(UTC+08:00) Beijing, Chongqing, Hong Kong SAR, Urumqi"


def test_default_is_the_beijing_entry() -> None:
    zone = timezones.by_iana(DEFAULT)
    assert zone is not None
    assert zone.label_zh == "(UTC+08:00) 北京，重庆，香港特别行政区，乌鲁木齐"
    assert zone.offset_min == 480


def test_by_iana_unknown() -> None:
    assert timezones.by_iana("Mars/Olympus_Mons") is None
    assert timezones.by_iana("") is None


def fake(offset_min: int) -> Zone:
    return Zone("Test/Zone", offset_min, "(UTC) x", "(UTC) x")


@pytest.mark.parametrize(("offset_min", "name"), [
    (480, "Etc/GMT-8"),
    (0, "Etc/UTC"),
    (-300, "Etc/GMT+5"),
    (330, "VCBOX/UTC+05:30"),
    (345, "VCBOX/UTC+05:45"),
    (-210, "VCBOX/UTC-03:30"),
    (780, "Etc/GMT-13"),
])
def test_fixed_offset_name(offset_min: int, name: str) -> None:
    assert timezones.fixed_offset_name(fake(offset_min)) == name
    assert timezones.fixed_offset_needs_zic(fake(offset_min)) == name.startswith("VCBOX/")


def test_fixed_offset_names_of_the_list() -> None:
    assert timezones.fixed_offset_name(timezones.by_iana("Asia/Shanghai")) == "Etc/GMT-8"
    assert timezones.fixed_offset_name(timezones.by_iana("Asia/Kolkata")) == "VCBOX/UTC+05:30"
    for z in ZONES:
        name = timezones.fixed_offset_name(z)
        if not timezones.fixed_offset_needs_zic(z):
            local = datetime(2026, 1, 15, tzinfo=ZoneInfo(name))
            assert local.utcoffset() == timedelta(minutes=z.offset_min), name


def test_zic_source_text() -> None:
    assert (timezones.fixed_offset_zic_source(fake(330))
            == "Zone VCBOX/UTC+05:30 5:30 - +0530\n")
    assert (timezones.fixed_offset_zic_source(fake(-210))
            == "Zone VCBOX/UTC-03:30 -3:30 - -0330\n")
    assert timezones.fixed_offset_zic_source(fake(480)) == "Zone Etc/GMT-8 8:00 - +08\n"


def test_zic_source_compiles(tmp_path: Path) -> None:
    zic = locate("zic")
    offsets = sorted({z.offset_min for z in ZONES} | {345, -210, 0, -300, 480})
    for offset_min in offsets:
        zone = fake(offset_min)
        name = timezones.fixed_offset_name(zone)
        src = tmp_path / f"src{offset_min}"
        src.write_text(timezones.fixed_offset_zic_source(zone))
        out = tmp_path / "out"
        proc = subprocess.run([zic, "-d", str(out), str(src)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        assert proc.stderr == "", proc.stderr
        with open(out / name, "rb") as fh:
            tz = ZoneInfo.from_file(fh, key=name)
        for month in (1, 7):
            local = datetime(2026, month, 15, tzinfo=tz)
            assert local.utcoffset() == timedelta(minutes=offset_min), name
            assert not local.dst()


def test_has_dst() -> None:
    jan = datetime(2026, 1, 1, tzinfo=UTC)
    for iana in ("America/New_York", "Australia/Sydney", "Europe/London", "Pacific/Auckland",
                 "America/Santiago", "America/Nuuk"):
        assert timezones.has_dst(timezones.by_iana(iana), now=jan), iana
    for iana in ("Asia/Shanghai", "Asia/Kolkata", "Etc/UTC", "Etc/GMT+11", "Asia/Tokyo",
                 "America/Phoenix", "Asia/Amman", "America/Mexico_City"):
        assert not timezones.has_dst(timezones.by_iana(iana), now=jan), iana
    assert not timezones.has_dst(timezones.by_iana(DEFAULT))
    assert timezones.has_dst(timezones.by_iana("America/New_York"))
