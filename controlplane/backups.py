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

Restoring (B2: from the list, or an upload once it is kept) is validated completely before
anything changes: the archive checked again as an upload is, its members unpacked into a
staging folder in the data dir (the same file system: each file is then renamed into
place), documents.json read as a store and migrated to this version's schema, both SQLite
files checked (integrity_check, a schema no newer than this version knows) and migrated
there, the tables of sessions, login failures and reset tokens emptied (a restore signs
everyone out, also with a crafted archive). The new store is the archive's documents plus
what never comes from an archive: this appliance's license, trial marker and backup key,
and its service secrets, unless the archive was sealed with this appliance's key (the
same box, also after a factory reset): then its own secrets and SMTP password come back.
From another appliance the SMTP password is this box's current one, if any.

Then, the applier's and the store's locks held: the databases are closed, the files
replaced (the previous ones kept as hard links), the store written in one atomic step,
the in-memory views read again (on_restored: accounts, sessions ...), and every config
rendered and applied. When the apply fails (its commit already put the previous files
back), the previous store and databases go back in place the same way, the configs are
applied again, and RestoreFailed names the step that failed. The factory reset from the
web admin (controlplane/maintenance.py) goes the same way (Backups.swap_and_apply).
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import hashlib
import io
import json
import os
import re
import shutil
import sqlite3
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

# At import, in the main thread: croniter's own import asks platform.architecture(), which
# runs `file` in a subprocess, and gevent cannot start one from the thread pool where the
# automatic backups are checked ("child watchers are only available on the default loop").
from croniter import croniter

from controlplane import __version__, call_records, oplog, release
from controlplane import license as lic
from controlplane import secrets as service_secrets
from controlplane.errors import Conflict, InvalidUpload, NotFound, ValidationError, VcboxError
from controlplane.i18n import N_
from controlplane.rules import FieldError
from controlplane.store import Documents, History
from controlplane.store import history as history_schema
from controlplane.store.documents import SINGLETON_ID, Raw, _fsync_dir, atomic_write

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
# The history tables a restore needs (the schema migrations make them).
HISTORY_TABLES = frozenset({"oplog", "sessions", "login_failures", "reset_tokens",
                            "host_samples", "host_samples_5m"})
SMTP_DOC = "settings.smtp"
STAGING = ".restore-"  # staging folders in the data dir (a leftover one is removed)
# In a work folder while the data is being swapped: the databases there were before
# (JSON list). A control plane that died meanwhile puts the previous data back on its
# next start (recover_interrupted), before it opens the store.
SWAPPING = "swapping.json"
# The targets of the apply entries a restore writes in the operation log (oplog.OBJECTS).
RESTORE_TARGET, ROLLBACK_TARGET = "restore", "restore rollback"
MAX_UPLOAD_BYTES = 2 * 1024 * 1024 * 1024
MAX_UNPACKED_BYTES = 8 * 1024 * 1024 * 1024
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class InvalidBackup(InvalidUpload):
    """An upload that is not a backup this version can take; `reason` says why."""

    error_id = "invalid_backup"
    what_it_is_not = N_("This file is not a vcbox backup that can be used (%(why)s).")


class UnusableBackup(VcboxError):
    """A kept backup that a restore cannot use (checked before anything changed)."""

    status = 400
    error_id = "invalid_backup"
    message = N_("This backup cannot be restored (%(why)s). Nothing was changed.")

    def __init__(self, reason: str) -> None:
        super().__init__(why=reason)
        self.reason = reason


class ApplyUndone(Exception):
    """Backups.swap_and_apply: the apply failed and the data from before is back in effect;
    step is the service whose action failed (or "files"), output its words."""

    def __init__(self, step: str, output: str) -> None:
        super().__init__(f"{step}: {output}")
        self.step, self.output = step, output


class RestoreFailed(VcboxError):
    """The restored data's configuration did not apply: what was there before is back.
    params: step (the service whose action failed, or "files"), output (its words)."""

    status = 502
    error_id = "restore_failed"
    message = N_("The backup was not restored: %(step)s failed (%(output)s). The data and "
                 "the configuration from before are back in effect; the operation log has "
                 "the details.")


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
    hashes, manifest_bytes, _ = release._scan(path, max_bytes, max_unpacked_bytes,
                                              len(MEMBERS) + 1, sink=None)
    manifest = parse_manifest(manifest_bytes)
    del hashes[release.MANIFEST]
    if set(hashes) != set(MEMBERS):
        raise release.ReleaseError("the members are not those of a backup")
    wrong = sorted(n for n, d in hashes.items() if manifest.files[n] != d)
    if wrong:
        raise release.ReleaseError(f"checksum mismatch: {', '.join(wrong)}")
    return manifest


def snapshot_sqlite(source: Path, target: Path, emptied: Iterable[str] = ()) -> None:
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


def _check_sqlite(path: Path, member: str, newest: int) -> None:
    """A SQLite database that is whole and no newer than `newest` (its user_version)."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            found = db.execute("PRAGMA integrity_check").fetchall()
            version = db.execute("PRAGMA user_version").fetchone()[0]
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        raise release.ReleaseError(f"{member} is damaged or not a SQLite database ({exc})") \
            from None
    if found != [("ok",)]:
        raise release.ReleaseError(f"{member} is damaged ({str(found[0][0])[:200]})")
    if version > newest:
        raise release.ReleaseError(f"{member} is from a newer version (schema {version}; "
                                   f"this version knows up to {newest})")


def _stage_documents(path: Path) -> Raw:
    """documents.json as a store, at this version's schema, without what never comes from
    an archive (LEFT_OUT)."""
    try:
        raw: Any = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeError, ValueError):
        raise release.ReleaseError("documents.json is not valid JSON") from None
    if not isinstance(raw, dict) or not all(
            isinstance(rows, dict) and all(isinstance(doc, dict) for doc in rows.values())
            for rows in raw.values()):
        raise release.ReleaseError("documents.json is not a document store")
    raw = {name: rows for name, rows in raw.items() if name not in LEFT_OUT}
    atomic_write(path, json.dumps(raw, ensure_ascii=False).encode("utf-8"))
    try:
        staged = Documents(path)  # the store's own migrations, on the staged copy
    except (RuntimeError, TypeError, ValueError, AttributeError) as exc:
        raise release.ReleaseError(f"documents.json: {exc}") from None
    try:
        _check_settings(staged)
        return copy.deepcopy(staged.storage.read())
    finally:
        staged.close()


def _check_settings(docs: Documents) -> None:
    """Every settings section of a staged store passes the rules a PUT passes (the keys
    this version knows; a key it dropped is left alone)."""
    from controlplane.sections import SECTIONS
    from controlplane.settings import Settings

    settings = Settings(docs)
    for name, section in SECTIONS.items():
        stored = docs.get(f"settings.{name}")
        if stored is None:
            continue
        try:
            settings.prepare(name, {k: v for k, v in stored.items() if k in section.fields})
        except ValidationError as exc:
            raise release.ReleaseError(f"documents.json: the {name} settings are not valid "
                                       f"({', '.join(sorted(exc.details)) or exc})") from None


def _stage_history(path: Path) -> None:
    _check_sqlite(path, HISTORY, len(history_schema.SCHEMA))
    try:
        staged = History(path)  # migrated like the live one
        try:
            tables = {r[0] for r in staged.query(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
            missing = sorted(HISTORY_TABLES - tables)
            if missing:
                raise release.ReleaseError(f"{HISTORY} has no table {', '.join(missing)}")
            for table in EMPTIED:  # nobody signs in with what an archive brings
                staged.execute(f"DELETE FROM {table}")  # noqa: S608 - our own table names
        finally:
            staged.close()
    except sqlite3.DatabaseError as exc:
        raise release.ReleaseError(f"{HISTORY} cannot be used ({exc})") from None


def _stage_calls(folder: Path) -> None:
    from controlplane.cdr import DATABASE, CdrInbox

    assert DATABASE == CALLS
    _check_sqlite(folder / CALLS, CALLS, len(call_records.SCHEMA))
    inbox = CdrInbox(folder)  # migrated (and its records derived) like the live one
    try:
        inbox.prepare()
    except (sqlite3.DatabaseError, ValueError, KeyError, TypeError) as exc:
        raise release.ReleaseError(f"{CALLS} cannot be used ({exc})") from None
    finally:
        inbox.close()


def _sealed_of(data: bytes, key: bytes) -> dict[str, Any]:
    try:
        sealed: Any = json.loads(unseal(key, data))
    except ValueError:
        raise release.ReleaseError(f"{SECRETS} does not open with this appliance's key") \
            from None
    if (not isinstance(sealed, dict) or not isinstance(sealed.get("secrets"), dict)
            or not all(isinstance(v, str) for v in sealed["secrets"].values())
            or not isinstance(sealed.get("smtp_password", ""), str)):
        raise release.ReleaseError(f"{SECRETS} does not hold the secrets of a backup")
    return sealed


@dataclass(frozen=True)
class Staged:
    """An archive checked and unpacked for a restore."""

    folder: Path
    manifest: BackupManifest
    documents: Raw  # at this version's schema, LEFT_OUT dropped
    sealed: dict[str, Any] | None  # its secrets when sealed with this appliance's key


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
                 history_path: Path | None = None, cdrs: Any = None,
                 applier: Any = None) -> None:
        self.data_dir = data_dir
        self.folder = data_dir / FOLDER
        self.docs, self.history, self.calls_path = docs, history, calls_path
        self.history_path = history_path or data_dir / HISTORY
        self.now, self.clock = now, clock
        # For restores: the call-record inbox (controlplane.cdr.CdrInbox) whose database is
        # replaced, the applier (controlplane.apply.Applier), and what reads the store or
        # the history into memory again after a restore (accounts, sessions ...).
        self.cdrs, self.applier = cdrs, applier
        self.on_restored: list[Callable[[], None]] = []
        self._restoring = threading.Lock()

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
            # One moment of the data: the store's writer lock held while the store and
            # the databases are copied, so neither a write nor a restore's swap (which
            # holds it too) falls in between.
            with self.docs.lock:
                (work / DOCUMENTS).write_bytes(_documents(self.docs))
                (work / SECRETS).write_bytes(seal(key, _secrets(self.docs)))
                with self.history.lock:
                    snapshot_sqlite(self.history_path, work / HISTORY, EMPTIED)
                snapshot_sqlite(self.calls_path, work / CALLS)
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

    # -- restore (B2) ----------------------------------------------------------------------

    def stage(self, path: Path, folder: Path) -> Staged:
        """Check an archive completely and unpack it into folder (made here), its
        documents and databases ready to go in place; InvalidBackup when it cannot be."""
        try:
            manifest = verify(path)
            folder.mkdir(mode=0o700)

            def sink(name: str, _member: tarfile.TarInfo) -> IO[bytes]:
                if name not in MEMBERS:
                    return io.BytesIO()  # the manifest, read already
                fd = os.open(folder / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL
                             | os.O_NOFOLLOW, 0o600)
                return os.fdopen(fd, "wb")

            hashes, _, _ = release._scan(path, MAX_UPLOAD_BYTES, MAX_UNPACKED_BYTES,
                                         len(MEMBERS) + 1, sink=sink)
            del hashes[release.MANIFEST]
            if hashes != manifest.files:
                raise release.ReleaseError("the file changed after it was checked")
            documents = _stage_documents(folder / DOCUMENTS)
            _stage_history(folder / HISTORY)
            _stage_calls(folder)
            key = backup_key(self.docs)
            sealed = (_sealed_of((folder / SECRETS).read_bytes(), key)
                      if manifest.key_id == key_id(key) else None)
        except release.ReleaseError as exc:
            raise InvalidBackup(exc.reason) from None
        return Staged(folder, manifest, documents, sealed)

    def restored_store(self, staged: Staged) -> Raw:
        """The store a restore puts in place: the archive's documents, this appliance's
        license, trial marker and backup key, and the service secrets and SMTP password
        (the archive's when sealed with this appliance's key, else this box's own)."""
        current = self.docs.storage.read()
        raw = dict(staged.documents)
        for name in (lic.DOC, lic.TRIAL_DOC, KEY_DOC):
            if name in current:
                raw[name] = copy.deepcopy(current[name])
        own = dict(self.docs.peek(service_secrets.DOC))
        smtp_password = self.docs.peek(SMTP_DOC).get("password", "")
        if staged.sealed is not None:
            own.update(staged.sealed["secrets"])
            smtp_password = staged.sealed.get("smtp_password", "")
        raw[service_secrets.DOC] = {SINGLETON_ID: own}
        smtp = raw.get(SMTP_DOC, {}).get(SINGLETON_ID)
        if smtp is not None and "password" in smtp:
            raw[SMTP_DOC] = {**raw[SMTP_DOC], SINGLETON_ID: {**smtp,
                                                              "password": smtp_password}}
        return raw

    def restore(self, name: str, actor: str = "", ip: str = "") -> dict[str, Any]:
        """B2: put a kept backup in place of this appliance's data and apply every config;
        UnusableBackup (nothing changed), RestoreFailed (everything put back)."""
        path = self.path_of(name)
        with self.exclusive() as work:
            try:
                staged = self.stage(path, work / "staged")
            except InvalidBackup as exc:
                raise UnusableBackup(exc.reason) from None
            try:
                plan, result = self.swap_and_apply(
                    lambda: self.restored_store(staged), staged.folder, work, actor, ip,
                    RESTORE_TARGET, ROLLBACK_TARGET)
            except ApplyUndone as exc:
                raise RestoreFailed(step=exc.step, output=exc.output) from None
            return {"name": name, "version": staged.manifest.version,
                    "created": staged.manifest.created,
                    "secrets_restored": staged.sealed is not None,
                    "files": [f.path for f in plan.files],
                    "actions": [{"action": str(o.action), "result": o.text}
                                for o in result.outcomes]}

    @contextlib.contextmanager
    def exclusive(self, busy: str = N_("A restore is running already.")) -> Iterator[Path]:
        """One restore or factory reset (controlplane.maintenance) at a time: a fresh work
        folder in the data dir (the data's file system), removed after; the leftovers of
        one that crashed are removed first. Conflict(busy) while another one runs."""
        if self.applier is None:
            raise RuntimeError("replacing the data needs the applier")
        if not self._restoring.acquire(blocking=False):
            raise Conflict(busy)
        try:
            for stale in self.data_dir.glob(STAGING + "*"):
                shutil.rmtree(stale, ignore_errors=True)
            work = Path(tempfile.mkdtemp(dir=self.data_dir, prefix=STAGING))
            try:
                yield work
            finally:
                shutil.rmtree(work, ignore_errors=True)
        finally:
            self._restoring.release()

    def swap_and_apply(self, new_store: Callable[[], Raw], databases: Path | None,
                       work: Path, actor: str, ip: str, target: str, rollback_target: str,
                       hold_network: bool = True) -> tuple[Any, Any]:
        """Put another store and other databases in place of this appliance's data and apply
        every config, all or nothing (a restore, a factory reset): new_store() (called with
        the locks held) becomes the store, the history and call-record databases are those
        of the folder `databases` (None: empty ones, made anew when opened). When the apply
        fails (its commit already put the previous files back), the previous store and
        databases go back in place, the configs are applied again (target rollback_target)
        and ApplyUndone names the failed step. hold_network: a changed live network waits
        for the administrator's confirm (N5), as after a settings change.
        (plan, result) of the apply; `work` is an empty folder of exclusive()."""
        from controlplane.apply import events_for, words
        from controlplane.settings import Change

        applier = self.applier
        live = ((HISTORY, self.history_path), (CALLS, self.calls_path))
        previous = work / "previous"
        previous.mkdir()

        def put_back() -> None:
            self._install(old, [(previous / m, path, None) for m, path in live])
            applier.apply(actor=actor, ip=ip, target=rollback_target)

        def finished() -> None:
            (work / SWAPPING).unlink(missing_ok=True)
            _fsync_dir(work)

        with applier.lock, self.docs.lock:
            old = self.docs.storage.read()
            before = applier.settings.all()
            # The journal first: the store as it was, then which databases there were.
            atomic_write(previous / DOCUMENTS, json.dumps(old, ensure_ascii=False).encode())
            atomic_write(work / SWAPPING, json.dumps(
                [m for m, path in live if path.exists()]).encode())
            try:
                self._install(new_store(), [(databases / m if databases is not None else None,
                                             path, previous / m) for m, path in live])
            except BaseException:
                finished()  # _install undid what it did
                raise
            after = applier.settings.all()
            events = events_for(Change("terminal-logs", before["terminal-logs"],
                                       after["terminal-logs"]))
            try:
                plan, result = applier.apply(events=events, actor=actor, ip=ip, target=target)
            except BaseException:
                put_back()
                finished()
                raise
            if result.ok:
                finished()
                if hold_network:
                    applier.hold_network(plan, before["network"])
                return plan, result
            # The commit put the previous files back; now the data they came from.
            put_back()
            finished()
            # The failed apply's entry went with the replaced history: once more here.
            applier.log.record(actor, ip, "apply", target, oplog.FAILURE,
                               words.details(plan, result))
            failed = result.failed
            raise ApplyUndone(failed.service if failed else "?",
                              failed.output if failed else "?")

    def _databases_closed(self) -> contextlib.ExitStack:
        stack = contextlib.ExitStack()
        stack.enter_context(self.history.closed())
        if self.cdrs is not None:
            stack.enter_context(self.cdrs.closed())
        return stack

    def _install(self, raw: Raw, files: list[tuple[Path | None, Path, Path | None]]) -> None:
        """Put raw in the store and each (source, live, keep) file at its live path (no
        source, or None: none there), the databases closed meanwhile, the file replaced linked to
        keep first when given; undone as far as it got when a step fails. Then every view
        of the store and the history is read again."""
        done: list[tuple[Path, Path | None]] = []
        try:
            with self._databases_closed():
                for source, live, keep in files:
                    kept = keep if keep is not None and live.exists() else None
                    if kept is not None:
                        os.link(live, kept)
                    for leftover in _journals(live):
                        leftover.unlink(missing_ok=True)
                    if source is not None and source.exists():
                        os.replace(source, live)
                    else:
                        live.unlink(missing_ok=True)
                    if keep is not None:
                        done.append((live, kept))
                    _fsync_dir(live.parent)
                self.docs.replace_all(raw)
        except BaseException:
            with self._databases_closed():
                for live, kept in reversed(done):
                    if kept is not None:
                        os.replace(kept, live)
                    else:
                        live.unlink(missing_ok=True)
            raise
        finally:
            if self.cdrs is not None:
                self.cdrs.prepare()
            for hook in self.on_restored:
                hook()

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


def recover_interrupted(data_dir: Path, documents: Path, databases: dict[str, Path]
                        ) -> list[str]:
    """A restore or factory reset that a crash stopped while it swapped the data (its work
    folder still holds SWAPPING): the previous store and databases back in place, as
    swap_and_apply would have put them on a failure; run before the store is opened.
    The names of what was put back ([] when nothing was interrupted)."""
    put: list[str] = []
    for work in sorted(Path(data_dir).glob(STAGING + "*")):
        try:
            existed = json.loads((work / SWAPPING).read_text(encoding="utf-8"))
        except (FileNotFoundError, NotADirectoryError, ValueError):
            continue
        previous = work / "previous"
        for name, live in databases.items():
            kept = previous / name
            for leftover in _journals(live):
                leftover.unlink(missing_ok=True)
            if name in existed:
                if kept.exists():  # else the swap had not reached it: live is the old one
                    os.replace(kept, live)
                    put.append(name)
            else:
                live.unlink(missing_ok=True)
        if (previous / DOCUMENTS).exists():
            os.replace(previous / DOCUMENTS, documents)
            put.append(DOCUMENTS)
        _fsync_dir(Path(data_dir))
        shutil.rmtree(work, ignore_errors=True)
    return put


def _journals(path: Path) -> Iterator[Path]:
    for suffix in ("-wal", "-shm", "-journal"):
        yield path.with_name(path.name + suffix)


def _plain(info: tarfile.TarInfo, mtime: float) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode, info.mtime = 0o600, int(mtime)
    return info

