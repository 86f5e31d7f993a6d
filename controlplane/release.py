"""Release bundles uploaded for a system upgrade (SPEC G1): verify, then extract.

A bundle (built by image/release.py) is a gzip tar of regular files whose member
`manifest.json` is {name: "vcbox", version, build_time, files: {path: sha256}}.
The upload is hostile until proven otherwise, so `verify` reads it once, as a stream,
without writing anything: the file's size, gzip magic, every member's name (relative,
no "..", no "."), its type (regular files only: no links, devices, directories or
sparse files), no duplicates, the unpacked total and member count, and finally that
the members are exactly the manifest's files plus the manifest, each with its sha256.
The decompressed stream itself is capped, so a gzip bomb stops early.

A signed bundle also holds `manifest.sig`: the base64 Ed25519 signature of the release
key over the manifest's bytes (`image/release.py --sign`), and the manifest holds the
sha256 of every file, so the signature covers the whole bundle. Where a release key is
configured (`public_key`), a bundle without a valid signature is refused; without one,
the signature is not checked (a self-built release).

`extract` verifies, then reads the bundle again into a new directory, checking every
hash again as it writes (the file may have changed in between); on any failure it
removes what it wrote. `is_upgrade` compares two numeric versions ("1.2.3").
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import gzip
import hashlib
import json
import os
import re
import shutil
import stat
import tarfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from controlplane.errors import ValidationError

NAME = "vcbox"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
MAX_SIGNATURE_BYTES = 1024
MAX_UNPACKED_BYTES = 512 * 1024 * 1024
MAX_MEMBERS = 20_000
MAX_MANIFEST_BYTES = 8 * 1024 * 1024
MAX_NAME_LENGTH = 1024
_HEADER_ALLOWANCE = 4096  # tar/pax header bytes allowed per member in the raw stream
_VERSION = re.compile(r"^\d+(\.\d+)*$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 1 << 16


class ReleaseError(ValidationError):
    """The upload is not a valid vcbox release; `reason` says why (English, for logs)."""

    error_id = "invalid_release"

    def __init__(self, reason: str) -> None:
        super().__init__(details={"file": reason})
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


@dataclasses.dataclass(frozen=True)
class Manifest:
    name: str
    version: str
    build_time: str
    files: dict[str, str]  # relative path -> sha256 (hex)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


def parse_version(version: str) -> tuple[int, ...]:
    if not isinstance(version, str) or not _VERSION.match(version):
        raise ValueError(f"not a numeric version: {version!r}")
    parts = [int(p) for p in version.split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def is_upgrade(current: str, candidate: str) -> bool:
    """True when candidate is the same version as current or newer ("1.2" == "1.2.0")."""
    return parse_version(candidate) >= parse_version(current)


def verify(path: str | os.PathLike[str], max_bytes: int,
           max_unpacked_bytes: int = MAX_UNPACKED_BYTES,
           max_members: int = MAX_MEMBERS,
           public_key: Ed25519PublicKey | None = None) -> Manifest:
    """Check the bundle at path without extracting anything; return its manifest."""
    hashes, manifest_bytes, signature = _scan(Path(path), max_bytes, max_unpacked_bytes,
                                              max_members, sink=None)
    if public_key is not None:
        check_signature(manifest_bytes, signature, public_key)
    manifest = _parse_manifest(manifest_bytes)
    del hashes[MANIFEST]
    hashes.pop(SIGNATURE, None)
    missing = sorted(set(manifest.files) - set(hashes))
    if missing:
        raise ReleaseError(f"files of the manifest are missing: {', '.join(missing[:5])}")
    extra = sorted(set(hashes) - set(manifest.files))
    if extra:
        raise ReleaseError(f"members not in the manifest: {', '.join(extra[:5])}")
    wrong = sorted(name for name, digest in hashes.items() if manifest.files[name] != digest)
    if wrong:
        raise ReleaseError(f"checksum mismatch: {', '.join(wrong[:5])}")
    return manifest


def check_signature(manifest_bytes: bytes, signature: bytes | None,
                    public_key: Ed25519PublicKey) -> None:
    if signature is None:
        raise ReleaseError("the bundle is not signed, and this appliance takes only"
                           " releases signed with its release key")
    try:
        public_key.verify(base64.b64decode(signature.strip(), validate=True), manifest_bytes)
    except (InvalidSignature, ValueError):
        raise ReleaseError("the signature does not match this appliance's release key") \
            from None


def extract(path: str | os.PathLike[str], dest: str | os.PathLike[str], max_bytes: int,
            max_unpacked_bytes: int = MAX_UNPACKED_BYTES,
            max_members: int = MAX_MEMBERS,
            public_key: Ed25519PublicKey | None = None) -> Manifest:
    """Verify the bundle, then unpack it into dest (created; it must not exist yet)."""
    manifest = verify(path, max_bytes, max_unpacked_bytes, max_members, public_key)
    dest = Path(dest)
    dest.mkdir(mode=0o755)  # FileExistsError when it exists: never unpack over anything
    expected = {**manifest.files}

    def sink(name: str, member: tarfile.TarInfo) -> IO[bytes]:
        target = dest.joinpath(*name.split("/"))
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        mode = 0o755 if member.mode & 0o100 else 0o644
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
        os.fchmod(fd, mode)  # whatever the umask
        return os.fdopen(fd, "wb")

    try:
        hashes, manifest_bytes, signature = _scan(Path(path), max_bytes,
                                                  max_unpacked_bytes, max_members, sink=sink)
        if public_key is not None:
            check_signature(manifest_bytes, signature, public_key)
        hashes.pop(MANIFEST)
        hashes.pop(SIGNATURE, None)
        if hashes != expected:
            raise ReleaseError("the file changed after it was verified")
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    return manifest


class _Capped:
    """A read-only stream that fails once more than `cap` bytes came through."""

    def __init__(self, raw: IO[bytes], cap: int) -> None:
        self.raw = raw
        self.cap = cap
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = self.cap - self.count + 1
        data = self.raw.read(min(size, self.cap - self.count + 1))
        self.count += len(data)
        if self.count > self.cap:
            raise ReleaseError("the unpacked bundle is too large")
        return data


def _check_name(name: str) -> None:
    if not name or len(name) > MAX_NAME_LENGTH:
        raise ReleaseError(f"bad member name: {name[:80]!r}")
    if name.startswith("/") or "\\" in name or "\0" in name or re.match(r"^[A-Za-z]:", name):
        raise ReleaseError(f"absolute or non-POSIX member name: {name[:80]!r}")
    parts = name.split("/")
    if ".." in parts:
        raise ReleaseError(f"member name with '..': {name[:80]!r}")
    if any(part in ("", ".") for part in parts):
        raise ReleaseError(f"member name not in normal form: {name[:80]!r}")


def _scan(path: Path, max_bytes: int, max_unpacked_bytes: int, max_members: int,
          sink: Callable[[str, tarfile.TarInfo], IO[bytes]] | None,
          ) -> tuple[dict[str, str], bytes, bytes | None]:
    """One pass over the bundle: {member name: sha256}, the manifest's bytes and the
    signature's (None when unsigned)."""
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise ReleaseError(f"cannot open the file: {exc.strerror}") from None
    with fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise ReleaseError("not a regular file")
        if st.st_size > max_bytes:
            raise ReleaseError(f"the file is larger than {max_bytes} bytes")
        if fh.read(2) != b"\x1f\x8b":
            raise ReleaseError("not a gzip file")
        fh.seek(0)
        cap = max_unpacked_bytes + _HEADER_ALLOWANCE * (max_members + 1) + 20 * 512
        try:
            with gzip.GzipFile(fileobj=fh, mode="rb") as gz:
                stream = _Capped(gz, cap)
                result = _scan_tar(stream, max_unpacked_bytes, max_members, sink)
                while stream.read(_CHUNK):  # the rest, so gzip checks its CRC and length
                    pass
        except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise ReleaseError(f"not a valid gzip tar: {exc}") from None
        except UnicodeError:
            raise ReleaseError("a member name is not valid UTF-8") from None
    return result


def _scan_tar(stream: _Capped, max_unpacked_bytes: int, max_members: int,
              sink: Callable[[str, tarfile.TarInfo], IO[bytes]] | None,
              ) -> tuple[dict[str, str], bytes, bytes | None]:
    hashes: dict[str, str] = {}
    manifest: bytes | None = None
    signature: bytes | None = None
    total = 0
    # "r|": a plain tar stream, no second decompression (a nested gzip would escape the cap).
    with tarfile.open(fileobj=stream, mode="r|", encoding="utf-8",
                      errors="strict") as tar:
        for member in tar:
            name = member.name
            _check_name(name)
            if member.type not in (tarfile.REGTYPE, tarfile.AREGTYPE) or member.sparse:
                kind = "link" if member.issym() or member.islnk() else "non-regular"
                raise ReleaseError(f"{kind} member: {name[:80]!r}")
            if name in hashes:
                raise ReleaseError(f"duplicate member: {name[:80]!r}")
            if len(hashes) >= max_members:
                raise ReleaseError("too many members")
            total += member.size
            if member.size < 0 or total > max_unpacked_bytes:
                raise ReleaseError("the unpacked bundle is too large")
            if name == MANIFEST and member.size > MAX_MANIFEST_BYTES:
                raise ReleaseError("manifest.json is too large")
            if name == SIGNATURE and member.size > MAX_SIGNATURE_BYTES:
                raise ReleaseError("manifest.sig is too large")
            data = tar.extractfile(member)
            assert data is not None  # a regular file
            out = sink(name, member) if sink else None
            digest = hashlib.sha256()
            kept = bytearray()
            read = 0
            try:
                while chunk := data.read(_CHUNK):
                    read += len(chunk)
                    digest.update(chunk)
                    if name in (MANIFEST, SIGNATURE):
                        kept += chunk
                    if out is not None:
                        out.write(chunk)
            finally:
                if out is not None:
                    out.close()
            if read != member.size:
                raise ReleaseError(f"truncated member: {name[:80]!r}")
            hashes[name] = digest.hexdigest()
            if name == MANIFEST:
                manifest = bytes(kept)
            elif name == SIGNATURE:
                signature = bytes(kept)
    if manifest is None:
        raise ReleaseError("manifest.json is missing")
    return hashes, manifest, signature


def _parse_manifest(data: bytes) -> Manifest:
    try:
        doc: Any = json.loads(data.decode("utf-8"))
    except (UnicodeError, ValueError):
        raise ReleaseError("manifest.json is not valid JSON") from None
    if not isinstance(doc, dict):
        raise ReleaseError("manifest.json is not an object")
    if doc.get("name") != NAME:
        raise ReleaseError("manifest.json: this is not a vcbox release")
    version = doc.get("version")
    if not isinstance(version, str) or not _VERSION.match(version) or len(version) > 64:
        raise ReleaseError("manifest.json: bad version")
    build_time = doc.get("build_time")
    try:
        if not isinstance(build_time, str) or len(build_time) > 64:
            raise ValueError
        dt.datetime.fromisoformat(build_time)
    except ValueError:
        raise ReleaseError("manifest.json: bad build_time") from None
    files = doc.get("files")
    if not isinstance(files, dict) or not files:
        raise ReleaseError("manifest.json: bad files")
    for name, digest in files.items():
        _check_name(name)
        if name in (MANIFEST, SIGNATURE):
            raise ReleaseError(f"manifest.json lists {name}")
        if not isinstance(digest, str) or not _SHA256.match(digest):
            raise ReleaseError(f"manifest.json: bad sha256 for {name[:80]!r}")
    return Manifest(name=NAME, version=version, build_time=build_time, files=dict(files))
