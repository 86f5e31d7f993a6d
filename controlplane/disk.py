"""Disk space (SPEC D1-D3, the guide's 磁盘空间设置): the storage path and its used/free
space, a quota per part, the job that keeps each part within its quota, "clean now", and
the mail when the disk is more than 80 % used.

The parts and their folders in the data dir:
- records: <data>/records (meeting records: files a meeting leaves behind);
- server_logs: Web, FreeSWITCH, MCU and TURN, each its services' logs under ROOT where
  the system-log export finds them (system_logs.SOURCES: nginx's, freeswitch.log, Janus's
  and the mixer's per-meeting records, coturn's, each with its rotated files; never the
  shared syslog, never FreeSWITCH's spilled call records) and <data>/logs/<sub-part>
  (maintenance.LOGS); the part's quota is split between the four by percentage. A log a
  service is writing is emptied, not deleted (its writer appends on);
- terminal_logs: <data>/terminal-logs (terminal_logs.FOLDER), only the day files (*.log):
  a terminal's terminal.json is what it was last seen as;
- backups: <data>/backups (backups.FOLDER), the archives (*.tar.gz);
- firmware: <data>/firmware (firmware.FOLDER), the .rom files of the model folders but
  never a model's latest one, nor latest.json.
A part's use is the sum of its files' sizes (st_size: what the files hold; links are not
followed and count nothing). Nothing whose name starts with "." is ever deleted, nor
anything below such a folder: files being written (a backup's .make-* folder, an
.upload-* file, .latest-* of the firmware) are hidden that way until they are complete.

Quotas are whole GB (GiB: 2**30 bytes, the guide's "G"); the minimum of each is the larger
of its default and what the part uses now (rounded up), and together they fit in what the
storage path has for them: its free space plus what the parts already take. When a part is
over its quota the job deletes its oldest files (by modification time) until it is at or
under it (D3); the server logs' sub-parts each keep to their share.

The storage path is where the used/free ring chart, the 80 % mail and the quotas' sum
look; it is chosen among the server's directories under the allowed roots (the data dir and
VCBOX_DISK_ROOTS), never outside them (no "..", no link that leads out).
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import stat
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controlplane import backups as bk
from controlplane import firmware as fw
from controlplane import system_logs
from controlplane import terminal_logs as tl
from controlplane.errors import Message, NotFound, ValidationError, VcboxError
from controlplane.i18n import N_, translate
from controlplane.maintenance import LOGS
from controlplane.rules import FieldError
from controlplane.sections.disk import (
    DEFAULT_QUOTAS,
    DEFAULT_SPLIT,
    MIN_QUOTA,
    OUTSIDE,
    PARTS,
    SUBPARTS,
)

log = logging.getLogger(__name__)

GB = 1 << 30
ALERT_PERCENT = 80
ALERT_DOC = "disk.alert"
# A mail that could not go (no SMTP server yet, the server refused it) is tried again
# after this long while the disk stays above the threshold.
ALERT_RETRY_S = 3600.0
RECORDS = "records"

# The page's names of the parts (also the operation log's).
LABELS: dict[str, str] = {
    "records": N_("Meeting records"),
    "server_logs": N_("Server logs"),
    "terminal_logs": N_("Terminal logs"),
    "backups": N_("Backup space"),
    "firmware": N_("Device firmware"),
}
SUB_LABELS: dict[str, str] = {"web": "Web", "freeswitch": "FreeSWITCH", "mcu": "MCU",
                              "turn": "TURN Server"}

NO_FOLDER = N_("There is no such folder on this server.")


def gb_up(size: int) -> int:
    """Bytes as whole GB, rounded up (the minimum a quota may be)."""
    return math.ceil(size / GB)


@dataclass(frozen=True)
class Space:
    total: int
    used: int
    free: int  # what unprivileged writers may still use (statvfs f_bavail)

    @property
    def percent(self) -> float:
        """Used of used + free, as `df` counts it (the root-reserved blocks left out)."""
        whole = self.used + self.free
        return 100.0 * self.used / whole if whole else 0.0


def space_of(path: Path) -> Space:
    st = os.statvfs(path)
    total = st.f_blocks * st.f_frsize
    return Space(total, total - st.f_bfree * st.f_frsize, st.f_bavail * st.f_frsize)


@dataclass(frozen=True)
class Place:
    """A folder of a part: every file in it (and below, when recursive), or only a log's
    live file `name` and its rotated ones (name.1, name.2.gz, name-20260131 ...)."""

    folder: Path
    name: str = ""
    recursive: bool = True


@dataclass(frozen=True)
class File:
    path: Path
    size: int
    mtime: float
    deletable: bool
    live: bool = False  # a service's log being written: emptied, never unlinked


def _rotated(name: str) -> re.Pattern[str]:
    return re.compile(re.escape(name) + r"(?:[.-]\d+)?(?:\.gz)?")


@dataclass(frozen=True)
class Removed:
    path: str  # relative to the data dir
    size: int


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


class Disk:
    """The parts' files under the data dir, and the storage path's space."""

    def __init__(self, data_dir: Path, root: Path | None = None,
                 roots: Iterable[str | Path] = (),
                 space: Callable[[Path], Space] = space_of) -> None:
        self.data_dir = Path(data_dir)
        self.root = Path(root) if root is not None else self.data_dir / "root"
        found = [Path(os.path.realpath(self.data_dir))]
        for root in roots:
            real = Path(os.path.realpath(root))
            if str(root) and real not in found:
                found.append(real)
        self.roots = tuple(found)
        self.space = space

    # -- where the parts are -------------------------------------------------------------

    def places(self, part: str, sub: str | None = None) -> list[Place]:
        """Where the part's files are."""
        check_part(part, sub)
        if part != "server_logs":
            return [Place(self.data_dir / {"records": RECORDS, "terminal_logs": tl.FOLDER,
                                           "backups": bk.FOLDER, "firmware": fw.FOLDER}[part])]
        subs = [sub] if sub else list(SUBPARTS)
        # The services' logs under ROOT as the system-log export finds them (not the
        # shared syslog, which is the system's), and the control plane's own folder.
        return [Place(self.root / src.folder, src.name, recursive=False)
                for src in system_logs.SOURCES if src.part in subs and not src.programs] + [
                Place(self.data_dir / LOGS / s) for s in subs]

    def _kept(self, part: str) -> set[Path]:
        """Files of the part that are never deleted (besides hidden ones)."""
        if part != "firmware":
            return set()
        folder = self.data_dir / fw.FOLDER
        kept = {folder / fw.LATEST}
        try:
            latest = json.loads((folder / fw.LATEST).read_text("utf-8"))
        except (OSError, ValueError):
            latest = {}
        if isinstance(latest, dict):
            kept |= {folder / fw.MODELS[m] / n for m, n in latest.items()
                     if m in fw.MODELS and isinstance(n, str)}
        return kept

    @staticmethod
    def _deletable_name(part: str, path: Path) -> bool:
        if part == "terminal_logs":
            return path.suffix == ".log"
        if part == "backups":
            return path.name.endswith(bk.SUFFIX)
        if part == "firmware":
            return path.suffix == fw.SUFFIX
        return True

    def _files(self, part: str, sub: str | None = None) -> Iterator[File]:
        """Every regular file of the part, once; links are not followed."""
        kept, seen = self._kept(part), set()
        for place in self.places(part, sub):
            folder = place.folder
            if not folder.is_dir() or folder.is_symlink():
                continue
            family = _rotated(place.name) if place.name else None
            for dirpath, dirs, filenames in os.walk(folder):
                if not place.recursive:
                    dirs.clear()
                hidden_dir = any(p.startswith(".") for p in
                                 Path(dirpath).relative_to(folder).parts)
                for name in filenames:
                    if family is not None and not family.fullmatch(name):
                        continue
                    path = Path(dirpath) / name
                    try:
                        st = path.lstat()
                    except FileNotFoundError:
                        continue
                    if not stat.S_ISREG(st.st_mode) or path in seen:
                        continue
                    seen.add(path)
                    deletable = (not hidden_dir and not name.startswith(".")
                                 and path not in kept and self._deletable_name(part, path))
                    yield File(path, st.st_size, st.st_mtime, deletable,
                               live=name == place.name)

    def usage(self, part: str, sub: str | None = None) -> int:
        return sum(f.size for f in self._files(part, sub))

    def _remove(self, f: File) -> bool:
        """Delete a file; a service's live log is emptied instead (its writer appends on,
        and the space is freed at once). False when it could not be."""
        try:
            if f.live:
                os.truncate(f.path, 0)
            else:
                f.path.unlink()
        except FileNotFoundError:
            return True
        except OSError as exc:
            log.warning("disk: %s not deleted: %s", f.path, exc)
            return False
        return True

    # -- the storage path ----------------------------------------------------------------

    def resolve(self, path: str) -> Path:
        """The real directory a storage path names (the data dir for ""); FieldError when
        it is outside the allowed roots (after following links) or no directory."""
        if not path:
            return self.roots[0]
        if "\0" in path or not os.path.isabs(path) or ".." in Path(path).parts:
            raise FieldError(OUTSIDE)
        real = Path(os.path.realpath(path))
        if not any(_inside(real, root) for root in self.roots):
            raise FieldError(OUTSIDE)
        if not real.is_dir():
            raise FieldError(NO_FOLDER)
        return real

    def browse(self, path: str = "") -> dict[str, Any]:
        """The directories in a folder under the roots (the roots themselves for "") ->
        {path, parent (None at a root), items: [{name, path}], roots: how many}; a path
        outside them is a field error."""
        if not path:
            items = [{"name": str(r), "path": str(r)} for r in self.roots if r.is_dir()]
            return {"path": "", "parent": None, "items": items, "roots": len(self.roots)}
        try:
            here = self.resolve(path)
        except FieldError as exc:
            raise ValidationError(details={"path": exc.message}) from None
        items = []
        try:
            entries = sorted(os.scandir(here), key=lambda e: e.name)
        except OSError:
            entries = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                if not entry.is_dir():  # follows a link: checked below
                    continue
            except OSError:
                continue
            real = Path(os.path.realpath(entry.path))
            if entry.is_symlink() and not any(_inside(real, r) for r in self.roots):
                continue  # a link that leads out of the roots is not offered
            items.append({"name": entry.name, "path": str(here / entry.name)})
        parent = None if here in self.roots else str(here.parent)
        return {"path": str(here), "parent": parent, "items": items, "roots": len(self.roots)}

    # -- quotas ----------------------------------------------------------------------------

    def report(self, doc: Mapping[str, Any]) -> dict[str, Any]:
        """GET /api/v1/disk: the storage path's space and each part's use and quota."""
        path = self._storage(doc)
        space = self.space(path)
        parts, taken = [], 0
        for part in PARTS:
            used = self.usage(part)
            taken += used
            quota = int(doc["quotas"][part])
            item: dict[str, Any] = {
                "part": part, "used": used, "quota_gb": quota,
                "default_gb": DEFAULT_QUOTAS[part],
                "min_gb": max(DEFAULT_QUOTAS[part], gb_up(used))}
            if part == "server_logs":
                item["subparts"] = [
                    {"sub": sub, "used": self.usage(part, sub),
                     "percent": doc["server_logs_split"][sub],
                     "quota": quota * GB * doc["server_logs_split"][sub] // 100}
                    for sub in SUBPARTS]
            parts.append(item)
        return {"path": str(path), "total": space.total, "used": space.used,
                "free": space.free, "percent": round(space.percent, 1),
                "alert_mail": bool(doc["alert_mail"]), "alert_percent": ALERT_PERCENT,
                "parts": parts, "parts_used": taken,
                "capacity_gb": (space.free + taken) // GB}

    def _storage(self, doc: Mapping[str, Any]) -> Path:
        try:
            return self.resolve(doc.get("path") or "")
        except FieldError:
            # A stored folder that went away (or a root no longer allowed): the data dir.
            return self.roots[0]

    def check(self, new: Mapping[str, Any], old: Mapping[str, Any]) -> None:
        """The rules that depend on the disk (D2), for a settings change: a changed quota
        is at least what its part uses now; the quotas fit in the storage path; the
        path is a folder under the roots. ValidationError naming the fields."""
        details: dict[str, Message] = {}
        path = None
        try:
            path = self.resolve(new.get("path") or "")
        except FieldError as exc:
            details["path"] = exc.message
        used = {part: self.usage(part) for part in PARTS}
        for part in PARTS:
            low = max(DEFAULT_QUOTAS[part], gb_up(used[part]))
            if new["quotas"][part] != old["quotas"][part] and new["quotas"][part] < low:
                details[f"quotas.{part}"] = (MIN_QUOTA, {"min": low})
        if path is not None and (new["quotas"] != old["quotas"]
                                 or new.get("path") != old.get("path")):
            total = sum(new["quotas"].values())
            capacity = (self.space(path).free + sum(used.values())) // GB
            if total > capacity:
                details["quotas"] = (N_(
                    "The quotas add up to %(total)s GB, more than the %(capacity)s GB the "
                    "storage path has for them (its free space and what the parts use now)."),
                    {"total": total, "capacity": capacity})
        if details:
            raise ValidationError(details=details)

    def limits(self, doc: Mapping[str, Any]) -> list[tuple[str, str | None, int]]:
        """(part, sub-part, bytes) of every quota the job keeps."""
        out: list[tuple[str, str | None, int]] = []
        for part in PARTS:
            quota = int(doc["quotas"][part]) * GB
            if part == "server_logs":
                out += [(part, sub, quota * doc["server_logs_split"][sub] // 100)
                        for sub in SUBPARTS]
            out.append((part, None, quota))
        return out

    def enforce(self, part: str, limit: int, sub: str | None = None) -> list[Removed]:
        """D3: delete the part's oldest files until it uses `limit` bytes or less (or
        nothing deletable is left); what was deleted, oldest first."""
        files = list(self._files(part, sub))
        total = sum(f.size for f in files)
        if total <= limit:
            return []
        removed: list[Removed] = []
        for f in sorted((f for f in files if f.deletable), key=lambda f: (f.mtime, str(f.path))):
            if total <= limit:
                break
            if self._remove(f):
                total -= f.size
                removed.append(Removed(self._name(f.path), f.size))
        return removed

    def _name(self, path: Path) -> str:
        for base in sorted((self.data_dir, self.root), key=lambda b: -len(b.parts)):
            if path.is_relative_to(base):
                return str(path.relative_to(base))
        return str(path)

    def enforce_all(self, doc: Mapping[str, Any]) -> list[Removed]:
        removed: list[Removed] = []
        for part, sub, limit in self.limits(doc):
            removed += self.enforce(part, limit, sub)
        return removed

    def clean(self, part: str, sub: str | None = None) -> dict[str, Any]:
        """D3 "clean now": delete every deletable file of the part (or sub-part)."""
        count = freed = 0
        for f in list(self._files(part, sub)):
            if f.deletable and self._remove(f):
                count += 1
                freed += f.size
        return {"part": part, "sub": sub, "deleted": count, "freed": freed}


def check_part(part: str, sub: str | None = None) -> None:
    if part not in PARTS or (sub is not None and (part != "server_logs"
                                                  or sub not in SUBPARTS)):
        raise NotFound(N_("No such part of the disk space."))


# -- the job -------------------------------------------------------------------------------

class QuotaJob:
    """One run of the quota job: every part kept within its quota, and the mail to the
    administrator when the storage path's use goes above 80 % (once per crossing: the
    store remembers it in ALERT_DOC until the use is below 80 % again)."""

    def __init__(self, disk: Disk, settings: Any, docs: Any, mailer: Any,
                 admin: Callable[[], Mapping[str, Any] | None],
                 clock: Callable[[], float] = time.time) -> None:
        self.disk, self.settings, self.docs, self.mailer = disk, settings, docs, mailer
        self.admin, self.clock = admin, clock

    def run(self) -> dict[str, Any]:
        doc = self.settings.stored("disk")
        removed = self.disk.enforce_all(doc)
        for item in removed:
            log.info("disk quota: deleted %s (%d bytes)", item.path, item.size)
        path = self.disk._storage(doc)
        space = self.disk.space(path)
        return {"removed": removed, "percent": space.percent,
                "mailed": self._alert(doc, path, space)}

    def _alert(self, doc: Mapping[str, Any], path: Path, space: Space) -> bool:
        state = dict(self.docs.get(ALERT_DOC) or {})
        if space.percent < ALERT_PERCENT:
            if state.get("over"):
                self.docs.put(ALERT_DOC, {"over": False, "since": self.clock()})
            return False
        now = self.clock()
        if state.get("over") and (state.get("mailed") or not doc["alert_mail"]
                                  or now - state.get("tried", 0) < ALERT_RETRY_S):
            return False
        mailed = False
        if doc["alert_mail"]:
            mailed = self._mail(path, space)
        since = state.get("since", now) if state.get("over") else now
        self.docs.put(ALERT_DOC, {"over": True, "since": since, "mailed": mailed,
                                  "tried": now})
        return mailed

    def _mail(self, path: Path, space: Space) -> bool:
        admin = self.admin() or {}
        to = admin.get("email")
        if not to:
            log.warning("disk %.0f%% used: the administrator has no e-mail address",
                        space.percent)
            return False
        language = admin.get("language") or "zh_CN"
        values = {"percent": f"{space.percent:.0f}%", "path": str(path),
                  "used": f"{space.used / GB:.1f}",
                  "total": f"{(space.used + space.free) / GB:.1f}",
                  "threshold": f"{ALERT_PERCENT}%"}
        subject = translate(language, ALERT_SUBJECT, **values)
        body = translate(language, ALERT_BODY, **values)
        try:
            [failure] = self.mailer.send_many([(to, subject, body)], language)
        except VcboxError as exc:  # no SMTP server set up
            log.warning("disk %.0f%% used: no mail sent (%s)", space.percent, exc)
            return False
        if failure:
            log.warning("disk %.0f%% used: the mail did not go: %s", space.percent, failure)
            return False
        return True


ALERT_SUBJECT = N_("vcbox: the disk is %(percent)s full")
ALERT_BODY = N_(
    "The storage path %(path)s of your vcbox server is %(percent)s used (%(used)s GB of "
    "%(total)s GB), more than %(threshold)s.\n\n"
    "When a part of the disk space reaches its quota, its oldest files are deleted. Check "
    "the disk space settings: clean what is no longer needed, or choose a larger storage "
    "path.\n\n"
    "You get this mail once each time the use goes above %(threshold)s.")


__all__ = ["DEFAULT_QUOTAS", "DEFAULT_SPLIT", "PARTS", "SUBPARTS", "Disk", "QuotaJob", "Space"]
