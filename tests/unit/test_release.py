"""Release bundles (SPEC G1): image/release.py builds one from the repo, and
controlplane.release verifies it as a hostile upload before anything is extracted."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from controlplane import __version__, release
from controlplane.release import ReleaseError
from controlplane.web.static import VENDOR
from tests.release_builder import builder

REPO = Path(__file__).resolve().parents[2]
MAX = 64 * 1024 * 1024




@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    return builder.build(REPO, tmp_path_factory.mktemp("out"))


def _members(path: Path) -> list[tuple[tarfile.TarInfo, bytes]]:
    with tarfile.open(path, "r:gz") as tar:
        return [(m, tar.extractfile(m).read()) for m in tar.getmembers()]


def _write(path: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> Path:
    with gzip.open(path, "wb") as gz, tarfile.open(fileobj=gz, mode="w|") as tar:
        for info, data in members:
            info.size = len(data) if info.isreg() else 0
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return path


def _file(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


def _manifest(files: dict[str, bytes], extra: dict | None = None) -> tuple[tarfile.TarInfo, bytes]:
    doc = {"name": "vcbox", "version": "9.1.0", "build_time": "2030-01-02T03:04:05Z",
           "files": {n: hashlib.sha256(d).hexdigest() for n, d in files.items()}}
    doc.update(extra or {})
    return _file("manifest.json", json.dumps(doc).encode())


def _small(tmp_path: Path, extra_members=(), files=None, name="b.tar.gz") -> Path:
    files = files if files is not None else {"controlplane/__init__.py": b"x = 1\n",
                                             "README.md": b"hi\n"}
    members = [_manifest(files)] + [_file(n, d) for n, d in files.items()]
    return _write(tmp_path / name, members + list(extra_members))


def _refused(path: Path, words: str, **limits) -> None:
    with pytest.raises(ReleaseError) as caught:
        release.verify(path, limits.pop("max_bytes", MAX), **limits)
    assert words in caught.value.reason, caught.value.reason


# -- the real bundle ---------------------------------------------------------------------

def test_build_from_repo_verifies(bundle):
    assert bundle.name == f"vcbox-{__version__}.tar.gz"
    manifest = release.verify(bundle, MAX)
    assert manifest.name == "vcbox" and manifest.version == __version__
    dt.datetime.fromisoformat(manifest.build_time)
    files = set(manifest.files)
    for required in ("controlplane/__init__.py", "controlplane/release.py", "ansible.cfg",
                     "requirements.txt", "requirements-runtime.txt", "package.json",
                     "package-lock.json", "node_modules/bootstrap/dist/css/bootstrap.min.css",
                     "scripts/setup.sh", "README.md", "LICENSE", "roles/README.md",
                     "playbooks/README.md"):
        assert required in files, required
    assert any(f.startswith("templates/") for f in files)
    assert not any("__pycache__" in f or f.endswith(".pyc") for f in files)
    assert not any(f.startswith(("tests/", "image/", ".venv/")) for f in files)
    # Of node_modules, only the folders the web admin serves.
    assert {f.split("/")[1] for f in files if f.startswith("node_modules/")} == set(VENDOR)
    for rel, digest in manifest.files.items():
        assert hashlib.sha256((REPO / rel).read_bytes()).hexdigest() == digest, rel


def test_assets_are_those_served():
    assert set(builder.ASSETS) == {f"node_modules/{path}" for path in VENDOR.values()}


def test_members_are_normalized_and_sorted(bundle):
    members = _members(bundle)
    names = [m.name for m, _ in members]
    assert names[0] == "manifest.json" and names[1:] == sorted(names[1:])
    for info, _ in members:
        assert info.isreg() and info.mtime == 0 and (info.uid, info.gid) == (0, 0)
        assert info.mode in (0o644, 0o755)
    modes = {m.name: m.mode for m, _ in members}
    assert modes["scripts/setup.sh"] == 0o755 and modes["README.md"] == 0o644


def test_two_builds_differ_only_in_build_time(tmp_path):
    a = builder.build(REPO, tmp_path / "a", dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
    b = builder.build(REPO, tmp_path / "b", dt.datetime(2031, 6, 7, 8, 9, 10, tzinfo=dt.UTC))
    ma, mb = release.verify(a, MAX), release.verify(b, MAX)
    assert (ma.build_time, mb.build_time) == ("2030-01-01T00:00:00Z", "2031-06-07T08:09:10Z")
    assert list(ma.files.items()) == list(mb.files.items())
    ta, tb = _members(a), _members(b)
    assert [(m.name, m.mode, m.mtime, d) for m, d in ta[1:]] == \
        [(m.name, m.mode, m.mtime, d) for m, d in tb[1:]]
    c = builder.build(REPO, tmp_path / "c", dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
    assert a.read_bytes() == c.read_bytes()  # same tree, same time: same bytes


def test_extract_after_verify(bundle, tmp_path):
    manifest = release.extract(bundle, tmp_path / "x", MAX)
    for rel, digest in manifest.files.items():
        assert hashlib.sha256((tmp_path / "x" / rel).read_bytes()).hexdigest() == digest
    assert (tmp_path / "x" / "manifest.json").is_file()
    assert (tmp_path / "x" / "scripts/setup.sh").stat().st_mode & 0o777 == 0o755
    with pytest.raises(FileExistsError):
        release.extract(bundle, tmp_path / "x", MAX)


def test_extract_refuses_before_writing(tmp_path):
    bad = _small(tmp_path, [_file("../evil", b"x")])
    with pytest.raises(ReleaseError):
        release.extract(bad, tmp_path / "x", MAX)
    assert not (tmp_path / "x").exists() and not (tmp_path.parent / "evil").exists()


# -- hostile uploads -----------------------------------------------------------------------

def test_small_bundle_is_valid(tmp_path):
    assert release.verify(_small(tmp_path), MAX).version == "9.1.0"


def test_tampered_file(bundle, tmp_path):
    members = _members(bundle)
    index = next(i for i, (m, _) in enumerate(members) if m.name == "README.md")
    members[index] = (members[index][0], members[index][1] + b"\nowned\n")
    _refused(_write(tmp_path / "t.tar.gz", members), "checksum mismatch: README.md")


def test_extra_member(tmp_path):
    _refused(_small(tmp_path, [_file("controlplane/backdoor.py", b"")]),
             "not in the manifest: controlplane/backdoor.py")


def test_missing_file_of_the_manifest(tmp_path):
    files = {"README.md": b"hi\n", "ansible.cfg": b"[defaults]\n"}
    path = _write(tmp_path / "m.tar.gz", [_manifest(files), _file("README.md", b"hi\n")])
    _refused(path, "missing: ansible.cfg")


def test_dotdot(tmp_path):
    _refused(_small(tmp_path, [_file("controlplane/../../etc/cron.d/x", b"")]), "'..'")


def test_absolute_path(tmp_path):
    _refused(_small(tmp_path, [_file("/etc/passwd", b"root::0:0::/:/bin/sh\n")]), "absolute")


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE])
def test_links(tmp_path, kind):
    info = tarfile.TarInfo("controlplane/link")
    info.type, info.linkname = kind, "/etc/shadow"
    _refused(_small(tmp_path, [(info, b"")]), "link member")


@pytest.mark.parametrize("kind", [tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE,
                                  tarfile.DIRTYPE])
def test_devices_and_directories(tmp_path, kind):
    info = tarfile.TarInfo("controlplane/dev")
    info.type = kind
    _refused(_small(tmp_path, [(info, b"")]), "non-regular member")


def test_duplicate_member(tmp_path):
    _refused(_small(tmp_path, [_file("README.md", b"hi\n")]), "duplicate member")


def test_not_gzip(tmp_path):
    path = tmp_path / "plain.tar"
    with tarfile.open(path, "w") as tar:
        tar.addfile(*_manifest({}))
    _refused(path, "not a gzip file")
    (tmp_path / "junk").write_bytes(b"\x1f\x8bnot really gzip at all")
    _refused(tmp_path / "junk", "not a valid gzip tar")
    (tmp_path / "gz").write_bytes(gzip.compress(b"hello, not a tar" * 100))
    _refused(tmp_path / "gz", "not a valid gzip tar")


def test_truncated(bundle, tmp_path):
    data = bundle.read_bytes()
    (tmp_path / "cut.tar.gz").write_bytes(data[: len(data) // 2])
    _refused(tmp_path / "cut.tar.gz", "not a valid gzip tar")


def test_oversized_upload(tmp_path):
    path = _small(tmp_path)
    _refused(path, "larger than", max_bytes=path.stat().st_size - 1)


def test_unpacked_size_cap(tmp_path):
    big = {"README.md": b"\0" * (4 * 1024 * 1024)}  # compresses to a few KiB
    path = _small(tmp_path, files=big)
    assert path.stat().st_size < 64 * 1024
    _refused(path, "too large", max_unpacked_bytes=1024 * 1024)
    assert release.verify(path, MAX).version == "9.1.0"


def test_gzip_bomb_stops_early(tmp_path):
    # A member header that claims far more than the cap: refused before its data is read.
    info = tarfile.TarInfo("README.md")
    info.size = 10 * 1024 ** 3
    raw = info.tobuf(format=tarfile.GNU_FORMAT) + b"\0" * (1024 * 1024)
    (tmp_path / "bomb.tar.gz").write_bytes(gzip.compress(raw))
    _refused(tmp_path / "bomb.tar.gz", "too large", max_unpacked_bytes=1024 * 1024)


def test_too_many_members(tmp_path):
    files = {f"templates/f{i}": b"" for i in range(20)}
    _refused(_small(tmp_path, files=files), "too many members", max_members=10)


def test_manifest_missing(tmp_path):
    path = _write(tmp_path / "n.tar.gz", [_file("README.md", b"hi\n")])
    _refused(path, "manifest.json is missing")


@pytest.mark.parametrize("extra, words", [
    ({"name": "other"}, "not a vcbox release"),
    ({"version": "1.0-evil"}, "bad version"),
    ({"build_time": "yesterday"}, "bad build_time"),
    ({"files": []}, "bad files"),
    ({"files": {"README.md": "00"}}, "bad sha256"),
    ({"files": {"../x": "0" * 64}}, "'..'"),
])
def test_bad_manifest(tmp_path, extra, words):
    files = {"README.md": b"hi\n"}
    path = _write(tmp_path / "bm.tar.gz", [_manifest(files, extra), _file("README.md", b"hi\n")])
    _refused(path, words)


def test_manifest_not_json(tmp_path):
    path = _write(tmp_path / "nj.tar.gz", [_file("manifest.json", b"{nope")])
    _refused(path, "not valid JSON")


def test_is_upgrade():
    assert release.is_upgrade("0.1.0", "0.1.0")
    assert release.is_upgrade("0.1.0", "0.1")
    assert release.is_upgrade("0.1.0", "0.1.1")
    assert release.is_upgrade("0.9.0", "0.10.0")
    assert release.is_upgrade("1.2.3", "2")
    assert not release.is_upgrade("0.2.0", "0.1.9")
    assert not release.is_upgrade("1.10", "1.9.9")
    for bad in ("", "1.x", "v1.0", "1..2", "1.0rc1"):
        with pytest.raises(ValueError):
            release.is_upgrade("1.0", bad)
