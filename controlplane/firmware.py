"""Terminal firmware (SPEC U1, the guide's 设备升级): .rom files per terminal model, one of
them "latest" per model, and "update now", which makes every registered device of that
model whose software version differs fetch it.

Files live in <data dir>/firmware/<model folder>/<file name>, the latest choice per model
in <data dir>/firmware/latest.json. Both stay out of backups (B1: large files, like the
logs) and count against the firmware disk quota (D2). A file's model and version come from
its name: "<model>-<version>.rom" or "<model>_<version>.rom" with the guide's models
written as their User-Agents write them (VC400, VC120, VC110, VC Desktop / VCDesktop,
VP-T49 / T49 / T49G), e.g. "VC400-63.345.0.40.rom"; a name that names no model may be
uploaded with the model chosen in the dialog, its version then being the name's last
dotted number. The upload is checked before anything is kept: .rom only, a size cap, not
empty, not an archive or a script (a ROM is a binary image: a zip/gzip/tar/ELF/text
upload is a mistake), a safe file name.

Update now (U1): the model's provisioning file (<model folder>.cfg in the provisioning
folder, served over HTTP like the firmware) names the latest file's URL; then each
registered device of that model whose version differs from the latest's gets a SIP
NOTIFY check-sync (FreeSWITCH: `sofia profile internal check_sync <call-id>`, which
picks that one registration), and fetches its provisioning and firmware.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from controlplane.errors import Conflict, NotFound, ValidationError
from controlplane.i18n import N_
from controlplane.presence import MODEL_PATTERNS, device_of

FOLDER = "firmware"
LATEST = "latest.json"
SUFFIX = ".rom"
MAX_BYTES = 512 * 1024 * 1024
NAME_MAX = 120
# The guide's models (presence.device_of names them the same) and their folder names.
MODELS: dict[str, str] = {"VC400": "vc400", "VC120": "vc120", "VC110": "vc110",
                          "VC Desktop": "vc-desktop", "VP-T49": "vp-t49"}
_VERSION = re.compile(r"(\d+(?:\.\d+){1,4})$")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._()+-]*$")
# What a ROM image is not: the first bytes of archives, executables and scripts.
_NOT_A_ROM = (b"PK\x03\x04", b"\x1f\x8b", b"\x7fELF", b"#!", b"<?xml", b"<html", b"<!DOC",
              b"MZ", b"BZh", b"\xfd7zXZ", b"Rar!")


class InvalidFirmware(ValidationError):
    def __init__(self, message: str, **params: Any) -> None:
        super().__init__(details={"file": (message, params) if params else message})


@dataclass(frozen=True)
class Inspected:
    name: str
    model: str
    version: str


def inspect_name(filename: str, model: str | None = None) -> Inspected:
    """The file's name, model and version from its name (model: the dialog's choice when
    the name names none); InvalidFirmware saying what is wrong."""
    name = filename.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not name.lower().endswith(SUFFIX):
        raise InvalidFirmware(N_("Firmware files are .rom files."))
    if len(name) > NAME_MAX or not _SAFE_NAME.match(name) or ".." in name:
        raise InvalidFirmware(N_("Rename the file: use letters, digits, dots, dashes and"
                                 " underscores only (at most %(max)s characters)."),
                              max=NAME_MAX)
    stem = name[: -len(SUFFIX)]
    found = next((m for m, pattern in MODEL_PATTERNS if pattern.search(stem)), None)
    if found is None:
        if model not in MODELS:
            raise ValidationError(details={"model": N_(
                "The file name names no terminal model: choose the model.")})
        found = model
    elif model not in (None, "", found):
        raise ValidationError(details={"model": (N_(
            "The file is firmware for %(model)s."), {"model": found})})
    version = _VERSION.search(stem)
    if version is None:
        raise InvalidFirmware(N_("The file name has no version number (like 63.345.0.40)."))
    return Inspected(name, found, version.group(1))


def _check_head(head: bytes) -> None:
    if not head:
        raise InvalidFirmware(N_("The file is empty."))
    if head.startswith(_NOT_A_ROM) or head.lstrip()[:1] in (b"{", b"["):
        raise InvalidFirmware(N_("This is not a firmware image (.rom) but another kind of"
                                 " file."))


class Firmware:
    """The firmware files, their latest choice, and update now."""

    def __init__(self, data_dir: Path, provisioning_dir: Path,
                 clock: Callable[[], float] = time.time) -> None:
        self.folder = data_dir / FOLDER
        self.provisioning = provisioning_dir
        self.clock = clock

    # -- files -----------------------------------------------------------------------------

    def _latest(self) -> dict[str, str]:
        try:
            data = json.loads((self.folder / LATEST).read_text("utf-8"))
        except (OSError, ValueError):
            return {}
        return {m: n for m, n in data.items() if m in MODELS and isinstance(n, str)}

    def _write_latest(self, latest: dict[str, str]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".latest-")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(latest, out, ensure_ascii=False, sort_keys=True)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.folder / LATEST)

    def path_of(self, model: str, name: str) -> Path:
        if model not in MODELS:
            raise NotFound(N_("No such firmware file."))
        path = self.folder / MODELS[model] / name
        if path.parent != self.folder / MODELS[model] or not path.is_file():
            raise NotFound(N_("No such firmware file."))
        return path

    def find(self, name: str) -> dict[str, Any]:
        found = next((i for i in self.find_all()["items"] if i["name"] == name), None)
        if found is None:
            raise NotFound(N_("No such firmware file."))
        return found

    def find_all(self, search: str = "", model: str = "") -> dict[str, Any]:
        """{items: [{name, model, version, size, uploaded, latest}], total, filtered,
        counts: {all, <model>: n}}, newest first; one scan of the folder."""
        latest, items = self._latest(), []
        for label, folder in MODELS.items():
            for path in sorted((self.folder / folder).glob(f"*{SUFFIX}")):
                if not path.is_file() or path.name.startswith("."):
                    continue
                stat = path.stat()
                version = _VERSION.search(path.name[: -len(SUFFIX)])
                items.append({"name": path.name, "model": label,
                              "version": version.group(1) if version else "",
                              "size": stat.st_size, "uploaded": stat.st_mtime,
                              "latest": latest.get(label) == path.name})
        items.sort(key=lambda i: i["uploaded"], reverse=True)
        needle = search.strip().lower()
        chosen = [i for i in items if (not model or i["model"] == model)
                  and (not needle or needle in i["name"].lower()
                       or needle in i["version"] or needle in i["model"].lower())]
        counts = {"all": len(items), **{m: sum(1 for i in items if i["model"] == m)
                                        for m in MODELS}}
        return {"items": chosen, "total": len(items), "filtered": len(chosen),
                "counts": counts, "latest": {i["model"]: i["version"] for i in items
                                             if i["latest"]}}

    def add(self, upload: BinaryIO, filename: str, model: str | None = None,
            replace: str | None = None, check_only: bool = False) -> dict[str, Any]:
        """U1 add (the file becomes latest for its model), or replace the file named
        `replace` (not the latest one; the same model). check_only: the inspection only,
        nothing read beyond the first bytes, nothing kept."""
        old = self.find(replace) if replace else None
        if old is not None:
            if old["latest"]:
                raise Conflict(details={"file": N_(
                    "The latest firmware of a model cannot be replaced: upload it as a new"
                    " file instead.")})
            try:
                info = inspect_name(filename, old["model"])
            except ValidationError as exc:
                if "model" not in exc.details:
                    raise
                raise InvalidFirmware(N_("The file is firmware for another model than"
                                         " %(model)s."), model=old["model"]) from None
        else:
            info = inspect_name(filename, model)
        target = self.folder / MODELS[info.model] / info.name
        if target.exists() and (old is None or old["name"] != info.name):
            raise Conflict(details={"file": N_("A firmware file with this name exists.")})
        head = upload.read(64)
        _check_head(head)
        if check_only:
            return {"name": info.name, "model": info.model, "version": info.version,
                    "replaces": old["name"] if old else None}
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
        digest, written = hashlib.sha256(head), len(head)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(head)
                while chunk := upload.read(1 << 16):
                    written += len(chunk)
                    if written > MAX_BYTES:
                        raise InvalidFirmware(N_("The file is larger than %(mb)s MB."),
                                              mb=MAX_BYTES // (1024 * 1024))
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        if old is not None and old["name"] != info.name:
            (target.parent / old["name"]).unlink(missing_ok=True)
        elif old is None:
            latest = self._latest()
            latest[info.model] = info.name
            self._write_latest(latest)
        return {**self.find(info.name), "sha256": digest.hexdigest()}

    def set_latest(self, name: str, latest: bool) -> dict[str, Any]:
        item = self.find(name)
        chosen = self._latest()
        if latest:
            chosen[item["model"]] = name
        elif chosen.get(item["model"]) == name:
            del chosen[item["model"]]
        self._write_latest(chosen)
        return self.find(name)

    def delete_many(self, names: Iterable[str]) -> list[str]:
        """Delete the named files; a latest one is refused (nothing deleted then)."""
        wanted = set(names)
        items = [i for i in self.find_all()["items"] if i["name"] in wanted]
        latest = [i["name"] for i in items if i["latest"]]
        if latest:
            raise Conflict(N_("The latest firmware of a model cannot be deleted: %(names)s."),
                           names=", ".join(sorted(latest)))
        for item in items:
            (self.folder / MODELS[item["model"]] / item["name"]).unlink(missing_ok=True)
        return sorted(i["name"] for i in items)

    # -- update now ------------------------------------------------------------------------

    def latest_of(self, model: str) -> dict[str, Any]:
        if model not in MODELS:
            raise NotFound(N_("No such terminal model."))
        name = self._latest().get(model)
        if not name:
            raise Conflict(N_("Set a latest firmware for %(model)s first."), model=model)
        return self.find(name)

    def write_provisioning(self, model: str, base_url: str) -> Path:
        """The model's provisioning file, naming its latest firmware's URL."""
        item = self.latest_of(model)
        self.provisioning.mkdir(parents=True, exist_ok=True)
        path = self.provisioning / f"{MODELS[model]}.cfg"
        url = f"{base_url.rstrip('/')}/{FOLDER}/{MODELS[model]}/{item['name']}"
        text = ("#!version:1.0.0.1\n"
                f"# vcbox: the latest {model} firmware ({item['version']})\n"
                f"firmware.url = {url}\n")
        fd, tmp = tempfile.mkstemp(dir=self.provisioning, prefix=".cfg-")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
        return path


def of_model(devices: Iterable[Any], model: str) -> list[Any]:
    """The registered devices (presence.Device) of the model."""
    return [d for d in devices if device_of(d.user_agent)[0] == model]


def outdated(devices: Iterable[Any], model: str, version: str) -> list[Any]:
    """The registered devices of the model whose software version is not `version`."""
    return [d for d in of_model(devices, model) if device_of(d.user_agent)[1] != version]


def models(devices: Iterable[Any], latest: dict[str, str]) -> list[dict[str, Any]]:
    """Each model's card: its registered devices, those not on its latest version, the
    latest version (None without one)."""
    devices = list(devices)
    cards = []
    for model in MODELS:
        mine = of_model(devices, model)
        version = latest.get(model)
        cards.append({"model": model, "registered": len(mine),
                      "outdated": len(outdated(mine, model, version)) if version else 0,
                      "latest": version})
    return cards
