"""Backups (SPEC B1, B2): archives of the appliance's data, made now or on a schedule,
listed, downloaded, uploaded (checked before anything is kept) and deleted.

An archive is a gzip tar of regular files:
  manifest.json   {"name": "vcbox-backup", "format": 1, "version", "created",
                   "files": {member: sha256}}
  documents.json  the document store (accounts, rooms, meetings, settings, the
                  administrator) without the license (B1: it belongs to this appliance)
                  and without the service secrets
  history.sqlite3 the history database (operation log, host samples; sessions and
                  login failures emptied: a restore signs everyone out)
  calls.sqlite3   the call records (K1)
Logs (the server's, the terminal logs) are not in it (B1).

Secrets. A backup is a file administrators mail around, so nothing in it may open the
appliance or its services in clear:
- the service secrets (ESL, Janus, TURN, xml_curl ... passwords) and the SMTP password
  travel encrypted (secrets.enc: AES-256-GCM) under this appliance's backup key, a random
  key kept in the store (document "backup_key") that never leaves it: not in a backup,
  not in an export, and kept by a factory reset (like the trial marker). A restore on the
  same appliance, before or after a factory reset, puts them back, so every rendered
  config comes out as it was; another appliance cannot read them and keeps its own
  secrets (the SMTP password is then typed again). The manifest names the key by a hash
  of it (key_id), so a restore knows which case it is;
- in the clear stay only one-way hashes: the administrator's argon2id hash and the
  accounts' SIP a1-hashes (so that terminals register again with their old passwords).

Uploads are hostile until checked (controlplane.release's scanner: regular files only,
no "..", absolute paths or links, size and member caps, a capped gzip stream against
bombs, every member's sha256 against the manifest), then this product's name and a
format this version understands.

Automatic backups (B1, the backup-schedule settings) are named AutoBackup + the time;
the schedule keeps the newest `keep` of them (never deleting one made by hand). The
first one is due at the first scheduled time after the control plane started (a box
just installed does not back up at once); a box that was off at a scheduled time backs
up at its next start.

Restoring an archive (validated completely, then the store swapped atomically and every
config re-rendered, the old store put back when that fails) is NOT built yet.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import re
import sqlite3
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controlplane import __version__, release
from controlplane import license as lic
from controlplane import secrets as service_secrets
from controlplane.errors import Conflict, NotFound, ValidationError
from controlplane.i18n import N_
from controlplane.rules import FieldError
from controlplane.store import Documents, History
from controlplane.store.documents import _fsync_dir

NAME = "vcbox-backup"
FORMAT = 1
FOLDER = "backups"
SUFFIX = ".tar.gz"
DOCUMENTS, HISTORY, CALLS = "documents.json", "history.sqlite3", "calls.sqlite3"
SECRETS = "secrets.enc"
MEMBERS = (DOCUMENTS, HISTORY, CALLS, SECRETS)
KEY_DOC = "backup_key"
# What never travels in the clear: the license (B1), the secrets (encrypted apart), the key.
LEFT_OUT = (lic.DOC, lic.TRIAL_DOC, service_secrets.DOC, KEY_DOC)
_AAD = b"vcbox-backup-secrets-v1"
# History tables a backup carries empty (who is signed in, who failed to).
EMPTIED = ("sessions", "login_failures", "reset_tokens")
MAX_UPLOAD_BYTES = 2 * 1024 * 1024 * 1024
MAX_UNPACKED_BYTES = 8 * 1024 * 1024 * 1024
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class InvalidBackup(ValidationError):
    """An upload that is not a backup this version can take; `reason` says why."""

    error_id = "invalid_backup"

    def __init__(self, reason: str) -> None:
        super().__init__(details={"file": (
            N_("This file is not a vcbox backup that can be used (%(why)s)."),
            {"why": reason})})
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


def check_name(value: Any) -> str:
    if not isinstance(value, str) or not _NAME.match(value) or value.endswith(SUFFIX):
        raise FieldError(N_("1 to 64 letters, digits, '-', '_' or '.', starting with a"
                            " letter or digit."))
    return value


AUTO = "AutoBackup"


def cron_of(schedule: dict[str, Any]) -> str:
    """The backup-schedule settings as a cron expression (minute hour day month weekday)."""
    hour, minute = (int(x) for x in schedule["time"].split(":"))
    if schedule["cycle"] == "daily":
        return f"{minute} {hour} * * *"
    if schedule["cycle"] == "weekly":
        return f"{minute} {hour} * * {schedule['day'] % 7}"
    return f"{minute} {hour} {schedule['day']} * *"


def last_due(schedule: dict[str, Any], now: dt.datetime) -> dt.datetime:
    """The latest scheduled time at or before now (croniter, on now's clock)."""
    from croniter import croniter

    step = croniter(cron_of(schedule), now + dt.timedelta(seconds=1))
    return step.get_prev(dt.datetime)


def is_due(schedule: dict[str, Any], now: dt.datetime, last_auto: dt.datetime | None,
           started: dt.datetime) -> bool:
    if not schedule.get("enabled"):
        return False
    # The first one after the start, or one missed while the box was off.
    return last_due(schedule, now) > (last_auto or started)


def default_name(now: dt.datetime) -> str:
    """B2: "Backup" + YYYYMMDDHHMMSS on the appliance's clock."""
    return "Backup" + now.strftime("%Y%m%d%H%M%S")


@dataclass(frozen=True)
class BackupManifest:
    version: str
    created: str
    files: dict[str, str]
    key_id: str = ""


def backup_key(docs: Documents) -> bytes:
    """This appliance's backup key (made on first use; kept by a factory reset)."""
    import base64
    import secrets as random

    found = docs.peek(KEY_DOC).get("key")
    if not found:
        with docs.batch() as batch:
            found = (batch.get(KEY_DOC) or {}).get("key")
            if not found:
                found = base64.b64encode(random.token_bytes(32)).decode()
                batch.put(KEY_DOC, {"key": found})
    return base64.b64decode(found)


def key_id(key: bytes) -> str:
    return hashlib.sha256(b"vcbox-backup-key:" + key).hexdigest()[:32]


def seal(key: bytes, plain: bytes) -> bytes:
    import secrets as random

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = random.token_bytes(12)
    return nonce + AESGCM(key).encrypt(nonce, plain, _AAD)


def unseal(key: bytes, sealed: bytes) -> bytes:
    """The plain text; ValueError when the key is not the one it was sealed with."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        return AESGCM(key).decrypt(sealed[:12], sealed[12:], _AAD)
    except (InvalidTag, ValueError) as exc:
        raise ValueError("not sealed with this key") from exc


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 16):
            digest.update(chunk)
    return digest.hexdigest()


def parse_manifest(data: bytes) -> BackupManifest:
    try:
        doc: Any = json.loads(data.decode("utf-8"))
    except (UnicodeError, ValueError):
        raise release.ReleaseError("manifest.json is not valid JSON") from None
    if not isinstance(doc, dict) or doc.get("name") != NAME:
        raise release.ReleaseError("this is not a vcbox backup")
    fmt = doc.get("format")
    if not isinstance(fmt, int) or isinstance(fmt, bool) or fmt < 1:
        raise release.ReleaseError("manifest.json: no backup format")
    if fmt > FORMAT:
        raise release.ReleaseError(
            f"the backup's format {fmt} is newer than this version understands ({FORMAT})")
    files = doc.get("files")
    if (not isinstance(files, dict) or set(files) != set(MEMBERS)
            or not all(isinstance(v, str) and re.fullmatch(r"[0-9a-f]{64}", v)
                       for v in files.values())):
        raise release.ReleaseError("manifest.json: the members are not those of a backup")
    return BackupManifest(str(doc.get("version", "")), str(doc.get("created", "")), files,
                          str(doc.get("key_id", "")))


def verify(path: Path, max_bytes: int = MAX_UPLOAD_BYTES,
           max_unpacked_bytes: int = MAX_UNPACKED_BYTES) -> BackupManifest:
    """Check an archive completely without writing anything; its manifest."""
    hashes, manifest_bytes = release._scan(path, max_bytes, max_unpacked_bytes,
                                           len(MEMBERS) + 1, sink=None)
    manifest = parse_manifest(manifest_bytes)
    del hashes[release.MANIFEST]
    if set(hashes) != set(MEMBERS):
        raise release.ReleaseError("the members are not those of a backup")
    wrong = sorted(n for n, d in hashes.items() if manifest.files[n] != d)
    if wrong:
        raise release.ReleaseError(f"checksum mismatch: {', '.join(wrong)}")
    return manifest


def _snapshot_sqlite(source: Path, target: Path, emptied: Iterable[str] = ()) -> None:
    """A consistent copy of a live SQLite database (the backup API), some tables emptied."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True) if source.exists() else None
    dst = sqlite3.connect(target)
    try:
        if src is not None:
            src.backup(dst)
        for table in emptied:
            exists = dst.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?",
                                 (table,)).fetchone()
            if exists:
                dst.execute(f"DELETE FROM {table}")  # noqa: S608 - our own table names
        dst.commit()
        dst.execute("VACUUM")
    finally:
        dst.close()
        if src is not None:
            src.close()


def _secrets(docs: Documents) -> bytes:
    """What secrets.enc holds (sealed): the service secrets and the SMTP password."""
    smtp = docs.peek("settings.smtp")
    return json.dumps({"secrets": dict(docs.peek(service_secrets.DOC)),
                       "smtp_password": smtp.get("password", "")}).encode()


def _documents(docs: Documents) -> bytes:
    raw = {name: rows for name, rows in docs.storage.read().items() if name not in LEFT_OUT}
    smtp = raw.get("settings.smtp")
    if smtp:
        raw["settings.smtp"] = {k: {**v, "password": ""} if "password" in v else v
                                for k, v in smtp.items()}
    return json.dumps(raw, ensure_ascii=False, sort_keys=True).encode()


class Backups:
    def __init__(self, data_dir: Path, docs: Documents, history: History, calls_path: Path,
                 now: Callable[[], dt.datetime], clock: Callable[[], float] = time.time,
                 history_path: Path | None = None) -> None:
        self.folder = data_dir / FOLDER
        self.docs, self.history, self.calls_path = docs, history, calls_path
        self.history_path = history_path or data_dir / HISTORY
        self.now, self.clock = now, clock

    def path_of(self, name: str) -> Path:
        try:
            check_name(name)
        except FieldError:
            raise NotFound(N_("No such backup.")) from None
        path = self.folder / (name + SUFFIX)
        if not path.is_file():
            raise NotFound(N_("No such backup."))
        return path

    def find_all(self) -> dict[str, Any]:
        """{items: [{name, size, created}], total, filtered}, newest first."""
        items = []
        if self.folder.is_dir():
            for path in self.folder.glob("*" + SUFFIX):
                name = path.name[: -len(SUFFIX)]
                if not _NAME.match(name) or not path.is_file():
                    continue
                st = path.stat()
                items.append({"name": name, "size": st.st_size, "created": st.st_mtime,
                              "created_time": dt.datetime.fromtimestamp(
                                  st.st_mtime, self.now().tzinfo).strftime(
                                  "%Y-%m-%d %H:%M:%S")})
        items.sort(key=lambda item: (item["created"], item["name"]), reverse=True)
        return {"items": items, "total": len(items), "filtered": len(items)}

    def create(self, name: str | None = None) -> dict[str, Any]:
        """B2: a backup now (the default name: Backup + the time); Conflict when taken."""
        name = check_name(name) if name else default_name(self.now())
        target = self.folder / (name + SUFFIX)
        if target.exists():
            raise Conflict(details={"name": N_("A backup with this name exists.")})
        self.folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.folder, prefix=".make-") as tmp:
            work = Path(tmp)
            key = backup_key(self.docs)
            (work / DOCUMENTS).write_bytes(_documents(self.docs))
            (work / SECRETS).write_bytes(seal(key, _secrets(self.docs)))
            with self.history.lock:
                _snapshot_sqlite(self.history_path, work / HISTORY, EMPTIED)
            _snapshot_sqlite(self.calls_path, work / CALLS)
            files = {member: _sha256(work / member) for member in MEMBERS}
            manifest = {"name": NAME, "format": FORMAT, "version": __version__,
                        "created": self.now().isoformat(timespec="seconds"), "files": files,
                        "key_id": key_id(key)}
            partial = work / "archive.tar.gz"
            with tarfile.open(partial, "w:gz") as tar:
                data = json.dumps(manifest, indent=1).encode()
                info = tarfile.TarInfo(release.MANIFEST)
                info.size, info.mtime, info.mode = len(data), int(self.clock()), 0o600
                tar.addfile(info, io.BytesIO(data))
                for member in MEMBERS:
                    tar.add(work / member, arcname=member, recursive=False,
                            filter=lambda ti: _plain(ti, self.clock()))
            with open(partial, "rb") as fh:
                os.fsync(fh.fileno())
            os.link(partial, target)  # fails, never overwrites, when the name was taken
        _fsync_dir(self.folder)
        return next(i for i in self.find_all()["items"] if i["name"] == name)

    def store_upload(self, upload: Any, filename: str) -> dict[str, Any]:
        """B2: an uploaded archive, checked completely before it is kept under its name
        (the file name without .tar.gz; a taken name is a Conflict)."""
        base = filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
        base = base[: -len(SUFFIX)] if base.endswith(SUFFIX) else base.rsplit(".", 1)[0]
        try:
            name = check_name(base)
        except FieldError as exc:
            raise ValidationError(details={"file": exc.message}) from None
        if (self.folder / (name + SUFFIX)).exists():
            raise Conflict(details={"file": N_("A backup with this name exists.")})
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".upload-")
        try:
            written = 0
            with os.fdopen(fd, "wb") as out:
                while chunk := upload.read(1 << 16):
                    written += len(chunk)
                    if written > MAX_UPLOAD_BYTES:
                        raise release.ReleaseError("the file is larger than 2 GB")
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            manifest = verify(Path(tmp))
            os.link(tmp, self.folder / (name + SUFFIX))
        except release.ReleaseError as exc:
            raise InvalidBackup(exc.reason) from None
        finally:
            os.unlink(tmp)
        _fsync_dir(self.folder)
        item = next(i for i in self.find_all()["items"] if i["name"] == name)
        return {**item, "version": manifest.version, "backup_created": manifest.created}

    def delete_many(self, names: Iterable[str]) -> list[str]:
        gone = []
        for name in names:
            try:
                path = self.path_of(name)
            except NotFound:
                continue
            path.unlink()
            gone.append(name)
        return gone

    def _autos(self) -> list[tuple[dt.datetime, str]]:
        """The automatic backups, newest first, by the time in their names (the clock
        they were made by, whatever the files' times say)."""
        found = []
        for item in self.find_all()["items"]:
            name = item["name"]
            if not name.startswith(AUTO):
                continue
            try:
                when = dt.datetime.strptime(name[len(AUTO):], "%Y%m%d%H%M%S")
            except ValueError:
                continue
            found.append((when.replace(tzinfo=self.now().tzinfo), name))
        return sorted(found, reverse=True)

    def prune(self, keep: int) -> list[str]:
        """B1: at most `keep` automatic backups; the oldest go."""
        return self.delete_many(name for _, name in self._autos()[keep:]) if keep >= 0 else []

    def last_auto(self) -> dt.datetime | None:
        autos = self._autos()
        return autos[0][0] if autos else None

    def run_schedule(self, schedule: dict[str, Any], started: dt.datetime) -> str | None:
        """One check of the job: an automatic backup when one is due; its name."""
        now = self.now()
        if not is_due(schedule, now, self.last_auto(), started):
            return None
        name = AUTO + now.strftime("%Y%m%d%H%M%S")
        self.create(name)
        self.prune(schedule["keep"])
        return name


def _plain(info: tarfile.TarInfo, mtime: float) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode, info.mtime = 0o600, int(mtime)
    return info

