"""Build the release bundle `out/vcbox-<version>.tar.gz` (SPEC G1, DESIGN D9).

The bundle is what the administrator uploads for a system upgrade: the control plane
package, the service templates, the Ansible roles and playbooks, and what setup needs.
Its first member is `manifest.json`:

    {"name": "vcbox", "version": "<controlplane.__version__>",
     "build_time": "YYYY-MM-DDTHH:MM:SSZ", "files": {"<relative path>": "<sha256>", ...}}

Members are regular files only (no directories, no links), in sorted order, owned by
0:0 with mtime 0 and mode 0644 (0755 when executable), in a gzip stream whose header
carries no name or time: two builds of the same tree differ only in build_time.
controlplane/release.py verifies a bundle before anything is extracted.

With `--sign KEY` (an Ed25519 private key in PEM, `python -m controlplane license keygen`
makes one), the second member is `manifest.sig`: the base64 signature over the manifest's
bytes, which an appliance with that key's public half configured requires (SPEC G1).

Usage: python image/release.py [--root DIR] [--out DIR] [--sign KEY]   (prints the path)
Standard library only, but for --sign (the `cryptography` package): it runs before any
virtual environment exists.
"""

from __future__ import annotations

import argparse
import ast
import datetime as dt
import gzip
import hashlib
import io
import json
import os
import re
import stat
import sys
import tarfile
from pathlib import Path

NAME = "vcbox"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
# Directories shipped whole, and single files; all must exist.
# The web admin's npm assets ship as built here (the appliance never reaches npm): the
# folders controlplane/web/static.py serves (VENDOR), checked by tests/unit/test_release.py.
ASSETS = ("node_modules/bootstrap/dist", "node_modules/bootstrap-icons/font",
          "node_modules/chart.js/dist", "node_modules/janus-gateway/npm/dist",
          "node_modules/webrtc-adapter/out")
TREES = ("controlplane", "templates", "roles", "playbooks", *ASSETS)
FILES = ("ansible.cfg", "requirements.txt", "requirements-runtime.txt", "package.json",
         "package-lock.json",
         "scripts/setup.sh", "README.md", "LICENSE")
# Build leftovers that never ship (they are in .gitignore).
SKIP_DIRS = frozenset({"__pycache__", ".pytest_cache", ".ruff_cache"})
SKIP_SUFFIXES = (".pyc", ".pyo")
VERSION_RE = re.compile(r"^\d+(\.\d+)*$")


class BuildError(Exception):
    pass


def read_version(root: Path) -> str:
    """controlplane.__version__ of the tree at root (parsed, not imported)."""
    source = (root / "controlplane" / "__init__.py").read_text(encoding="utf-8")
    for node in ast.parse(source).body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id == "__version__"
                and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
            version = node.value.value
            if not VERSION_RE.match(version):
                raise BuildError(f"__version__ {version!r} is not numeric (like 1.2.3)")
            return version
    raise BuildError("controlplane/__init__.py has no __version__ = '...'")


def collect(root: Path) -> list[str]:
    """The relative paths (POSIX, sorted) of every file the bundle carries."""
    paths: list[str] = []
    for name in FILES:
        paths.append(_check(root, root / name))
    for tree in TREES:
        top = root / tree
        if not top.is_dir() or top.is_symlink():
            raise BuildError(f"{tree}/ is missing or not a directory")
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS]
            for d in dirnames:
                if (Path(dirpath) / d).is_symlink():
                    raise BuildError(f"{Path(dirpath, d).relative_to(root)} is a symbolic link")
            for filename in filenames:
                if not filename.endswith(SKIP_SUFFIXES):
                    paths.append(_check(root, Path(dirpath) / filename))
    if len(set(paths)) != len(paths):
        raise BuildError("a file is listed twice")
    return sorted(paths)


def _check(root: Path, path: Path) -> str:
    rel = path.relative_to(root).as_posix()
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise BuildError(f"{rel} is missing") from None
    if not stat.S_ISREG(st.st_mode):
        raise BuildError(f"{rel} is not a regular file (links and devices never ship)")
    if rel in (MANIFEST, SIGNATURE):
        raise BuildError(f"{rel} would clash with the bundle's manifest")
    return rel


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _tarinfo(name: str, size: int, executable: bool) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o755 if executable else 0o644
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.type = tarfile.REGTYPE
    return info


def sign(key_path: Path, data: bytes) -> bytes:
    """The base64 Ed25519 signature of the private key in key_path over data."""
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = serialization.load_pem_private_key(Path(key_path).read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise BuildError(f"{key_path} is not an Ed25519 private key")
    return base64.b64encode(key.sign(data)) + b"\n"


def build(root: Path, out_dir: Path, build_time: dt.datetime | None = None,
          signing_key: Path | None = None) -> Path:
    """Write out_dir/vcbox-<version>.tar.gz from the tree at root; return its path."""
    root = Path(root).resolve()
    out_dir = Path(out_dir)
    version = read_version(root)
    paths = collect(root)
    when = (build_time or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    manifest = {
        "name": NAME,
        "version": version,
        "build_time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "files": {rel: sha256_file(root / rel) for rel in paths},
    }
    manifest_bytes = (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False)
                      + "\n").encode("utf-8")
    signature = sign(signing_key, manifest_bytes) if signing_key else None

    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{NAME}-{version}.tar.gz"
    partial = out_dir / f".{target.name}.partial"
    try:
        with open(partial, "wb") as raw, \
                gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz, \
                tarfile.open(fileobj=gz, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            tar.addfile(_tarinfo(MANIFEST, len(manifest_bytes), False),
                        io.BytesIO(manifest_bytes))
            if signature is not None:
                tar.addfile(_tarinfo(SIGNATURE, len(signature), False), io.BytesIO(signature))
            for rel in paths:
                source = root / rel
                st = os.lstat(source)
                with open(source, "rb") as fh:
                    if sha256_file(source) != manifest["files"][rel]:
                        raise BuildError(f"{rel} changed while the bundle was built")
                    tar.addfile(_tarinfo(rel, st.st_size, bool(st.st_mode & 0o111)), fh)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def main(argv: list[str] | None = None) -> int:
    here = Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(description="Build out/vcbox-<version>.tar.gz (SPEC G1).")
    parser.add_argument("--root", type=Path, default=here, help="source tree (default: repo)")
    parser.add_argument("--out", type=Path, default=here / "out", help="output directory")
    parser.add_argument("--sign", type=Path, default=None, metavar="KEY",
                        help="sign with this Ed25519 private key (PEM)")
    args = parser.parse_args(argv)
    try:
        print(build(args.root, args.out, signing_key=args.sign))
    except BuildError as exc:
        print(f"release: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
