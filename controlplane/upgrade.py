"""System upgrade from a release bundle (SPEC G1, issue 5 item 3).

`install` verifies an uploaded bundle (controlplane/release.py), refuses a downgrade and
unpacks it into releases/<version>; `activate` points the app link (/opt/vcbox/app) at
that release atomically (a temporary symlink renamed over the link) and remembers the
previous target in releases/.previous so `rollback` can point back. The data dir
(/var/lib/vcbox) is outside every release: the new code opens the same store, which
migrates itself on open (controlplane/store/documents.py).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from controlplane import release
from controlplane.release import ReleaseError

MAX_BUNDLE_BYTES = 256 * 1024 * 1024
PREVIOUS = ".previous"
LEGACY = ".legacy-app"


def install(bundle: Path, releases_dir: Path, current_version: str,
            max_bytes: int = MAX_BUNDLE_BYTES,
            public_key: Ed25519PublicKey | None = None) -> Path:
    """Verify bundle, refuse a downgrade, unpack it into releases_dir/<version>."""
    manifest = release.verify(bundle, max_bytes, public_key=public_key)
    if not release.is_upgrade(current_version, manifest.version):
        raise ReleaseError(f"version {manifest.version} is older than the installed "
                           f"{current_version}: downgrades are refused")
    releases_dir = Path(releases_dir)
    releases_dir.mkdir(parents=True, exist_ok=True, mode=0o755)
    dest = releases_dir / manifest.version
    if dest.exists() or dest.is_symlink():
        if _matches(dest, manifest):
            return dest
        raise ReleaseError(f"{dest} exists and differs from the bundle")
    partial = releases_dir / f".{manifest.version}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    got = release.extract(bundle, partial, max_bytes, public_key=public_key)
    if got != manifest:
        shutil.rmtree(partial, ignore_errors=True)
        raise ReleaseError("the file changed after it was verified")
    os.rename(partial, dest)
    return dest


def _matches(dest: Path, manifest: release.Manifest) -> bool:
    """dest holds exactly the manifest's files with their hashes."""
    if dest.is_symlink() or not dest.is_dir():
        return False
    found = {p.relative_to(dest).as_posix() for p in dest.rglob("*")
             if p.is_file() or p.is_symlink()}
    found = {name for name in found if "__pycache__" not in name.split("/")}
    found.discard(release.SIGNATURE)
    if found != set(manifest.files) | {release.MANIFEST}:
        return False
    return all(not (dest / name).is_symlink()
               and release.sha256_file(dest / name) == digest
               for name, digest in manifest.files.items())


def _point(link: Path, target: Path) -> None:
    """Make link a symlink to target atomically (temporary symlink + os.replace)."""
    tmp = link.with_name(f".{link.name}.tmp")
    tmp.unlink(missing_ok=True)
    os.symlink(target, tmp)
    os.replace(tmp, link)


def activate(releases_dir: Path, version: str, app_link: Path) -> Path | None:
    """Point app_link at releases_dir/<version>; return (and remember) the previous target.

    An app dir that is still a plain directory (an install before releases) is moved
    to releases_dir/.legacy-app first, so it can be rolled back to.
    """
    releases_dir = Path(releases_dir).resolve()
    app_link = Path(app_link)
    target = releases_dir / version
    if not target.is_dir():
        raise ReleaseError(f"release {version} is not installed in {releases_dir}")
    previous: Path | None = None
    if app_link.is_symlink():
        previous = Path(os.readlink(app_link))
    elif app_link.is_dir():
        previous = releases_dir / LEGACY
        if previous.exists():
            raise ReleaseError(f"{previous} exists: cannot move {app_link} there")
        os.rename(app_link, previous)
    elif app_link.exists():
        raise ReleaseError(f"{app_link} is neither a directory nor a symbolic link")
    if previous is not None and previous != target:
        _point(releases_dir / PREVIOUS, previous)
    _point(app_link, target)
    return previous


def rollback(releases_dir: Path, app_link: Path) -> Path:
    """Point app_link back at the release it showed before the last activate."""
    remembered = Path(releases_dir) / PREVIOUS
    if not remembered.is_symlink():
        raise ReleaseError("no previous release to roll back to")
    previous = Path(os.readlink(remembered))
    if not previous.is_dir():
        raise ReleaseError(f"the previous release {previous} is gone")
    current = Path(os.readlink(app_link)) if Path(app_link).is_symlink() else None
    _point(Path(app_link), previous)
    if current is not None:
        _point(remembered, current)
    return previous


__all__ = ["MAX_BUNDLE_BYTES", "ReleaseError", "activate", "install", "rollback"]
