"""The clock (SPEC T1, DESIGN D7): the time zone link and setting the time by hand.

- "timezone": ROOT/etc/localtime becomes a symlink to the zone named in the rendered
  ROOT/etc/timezone. A fixed offset that tzdata lacks (DST off in a zone whose standard
  offset is not whole hours, e.g. VCBOX/UTC+09:30) is compiled with zic(8) into
  ROOT/usr/share/zoneinfo first. The same code serves the appliance (ROOT "/": the real
  /etc/localtime) and a development ROOT. The link is made directly rather than through
  `timedatectl set-timezone`, which refuses names with ":" such as VCBOX/UTC+05:30.
- "set_time <ISO datetime>": the wall-clock time in the zone of ROOT/etc/timezone. On the
  appliance `timedatectl set-ntp false` and `timedatectl set-time` (given in UTC, so the
  order of the two clock actions does not matter). Anywhere else the host clock is never
  touched: the request is recorded in ROOT/var/lib/vcbox/clock-set.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from controlplane import timezones
from controlplane.apply import assets
from controlplane.config import Config
from controlplane.drivers.services import ActionFailed, Driver
from controlplane.drivers.system_services import find_program, run_command
from controlplane.store.documents import atomic_write

SYSTEM_ZONEINFO = Path("/usr/share/zoneinfo")
TIMEZONE_FILE = "etc/timezone"
LOCALTIME = "etc/localtime"
ZONEINFO = "usr/share/zoneinfo"
RECORD = "var/lib/vcbox/clock-set"


def compiled_zone(name: str) -> timezones.Zone | None:
    """The guide's zone whose DST-off fixed offset is `name` and must be compiled."""
    for zone in timezones.ZONES:
        if timezones.fixed_offset_needs_zic(zone) and timezones.fixed_offset_name(zone) == name:
            return zone
    return None


class ClockDriver:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.root = config.root
        self.appliance = assets.on_appliance(config.root)

    # -- time zone ------------------------------------------------------------------------

    def zone_name(self, verb: str) -> str:
        try:
            name = (self.root / TIMEZONE_FILE).read_text().strip()
        except FileNotFoundError as exc:
            raise ActionFailed("clock", verb, f"{self.root / TIMEZONE_FILE} is missing") from exc
        if not name or name.startswith("/") or ".." in name.split("/"):
            raise ActionFailed("clock", verb, f"not a time zone name: {name!r}")
        return name

    def zone_file(self, name: str, verb: str) -> Path:
        """The TZif file of `name`, compiled under ROOT first when tzdata has none."""
        zone = compiled_zone(name)
        path = SYSTEM_ZONEINFO / name if zone is None else self._compile(zone, name, verb)
        try:
            with open(path, "rb") as f:
                magic = f.read(4)
        except OSError as exc:
            raise ActionFailed("clock", verb, f"no time zone {name} ({path}): "
                                              f"{exc.strerror or exc}") from exc
        if magic != b"TZif":
            raise ActionFailed("clock", verb, f"{path} is not a time zone file")
        return path

    def _compile(self, zone: timezones.Zone, name: str, verb: str) -> Path:
        zic = find_program("zic")
        if zic is None:
            raise ActionFailed("clock", verb, "zic is not installed (Debian package libc-bin)")
        out = self.root / ZONEINFO
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", suffix=".zi", prefix="vcbox-") as src:
            src.write(timezones.fixed_offset_zic_source(zone))
            src.flush()
            rc, output = run_command([zic, "-d", str(out), src.name])
        if rc != 0:
            raise ActionFailed("clock", verb, output or f"zic exited with {rc}")
        return out / name

    def link_localtime(self, verb: str) -> str:
        name = self.zone_name(verb)
        target = self.zone_file(name, verb)
        link = self.root / LOCALTIME
        link.parent.mkdir(parents=True, exist_ok=True)
        tmp = link.with_name(f".{link.name}.vcbox-tmp")
        tmp.unlink(missing_ok=True)
        os.symlink(target, tmp)
        os.replace(tmp, link)  # atomic: /etc/localtime is never missing
        return f"{link} -> {target}"

    # -- set the time ---------------------------------------------------------------------

    def set_time(self, arg: str, verb: str) -> str:
        try:
            wall = dt.datetime.fromisoformat(arg)
        except ValueError as exc:
            raise ActionFailed("clock", verb, f"not a date and time: {arg!r}") from exc
        name = self.zone_name(verb)
        with open(self.zone_file(name, verb), "rb") as f:
            zone = ZoneInfo.from_file(f, key=name)
        if wall.tzinfo is None:
            wall = wall.replace(tzinfo=zone)
        utc = wall.astimezone(dt.UTC)
        stamp = utc.strftime("%Y-%m-%d %H:%M:%S")
        if self.appliance:
            for args in (["set-ntp", "false"], ["set-time", f"{stamp} UTC"]):
                rc, output = run_command(["timedatectl", *args], timeout=30)
                if rc != 0:
                    raise ActionFailed("clock", verb, output or f"timedatectl {args[0]} "
                                                              f"exited with {rc}")
            return f"clock set to {arg} ({name}), {stamp} UTC"
        record = self.root / RECORD
        record.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(record, json.dumps({
            "requested": arg, "zone": name, "utc": utc.isoformat(timespec="seconds"),
            "recorded_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }, indent=1).encode() + b"\n", 0o644)
        return f"not the appliance: host clock left alone; {arg} ({name}) recorded in {record}"

    # -- Driver ---------------------------------------------------------------------------

    def run(self, verb: str, arg: str = "") -> str:
        if verb == "timezone":
            return self.link_localtime(verb)
        if verb == "set_time":
            return self.set_time(arg, verb)
        raise ActionFailed("clock", verb, f"unknown action {verb!r}")

    def status(self) -> str:
        link = self.root / LOCALTIME
        try:
            with open(link, "rb") as f:
                return "ok" if f.read(4) == b"TZif" else "fail"
        except OSError:
            return "fail"


def drivers(config: Config, state: Any = None) -> dict[str, Driver]:
    return {"clock": ClockDriver(config)}

