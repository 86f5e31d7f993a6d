"""System upgrade (issue 5 item 3, controlplane/upgrade.py): two bundles built by
image/release.py from copies of the repo with versions N and N+1; install, activate,
rollback, refusals; the store outside the release dir survives the upgrade."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from controlplane import __version__, upgrade
from controlplane.__main__ import main
from controlplane.app import Services
from controlplane.config import Config
from controlplane.release import ReleaseError, parse_version
from tests.release_builder import builder

REPO = Path(__file__).resolve().parents[2]


N = __version__
N1 = ".".join(str(p) for p in (*parse_version(N)[:-1], parse_version(N)[-1] + 1))


def _tree(dest: Path, version: str) -> Path:
    for rel in builder.collect(REPO):
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, target)
    init = dest / "controlplane" / "__init__.py"
    text = init.read_text(encoding="utf-8")
    init.write_text(re.sub(r'__version__ = "[^"]*"', f'__version__ = "{version}"', text),
                    encoding="utf-8")
    return dest


@pytest.fixture(scope="module")
def bundles(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("out")
    return {v: builder.build(_tree(tmp_path_factory.mktemp(f"src{v}"), v), out)
            for v in (N, N1)}


def test_versions_differ(bundles):
    assert N != N1 and parse_version(N1) > parse_version(N)
    assert bundles[N].name == f"vcbox-{N}.tar.gz" and bundles[N1].name == f"vcbox-{N1}.tar.gz"


def test_install_activate_rollback(bundles, tmp_path):
    releases, app = tmp_path / "releases", tmp_path / "app"
    first = upgrade.install(bundles[N], releases, N)
    assert first == releases / N
    assert f'__version__ = "{N}"' in (first / "controlplane" / "__init__.py").read_text()
    assert upgrade.activate(releases, N, app) is None
    assert app.is_symlink() and app.resolve() == first.resolve()

    second = upgrade.install(bundles[N1], releases, N)
    assert second == releases / N1 and first.is_dir()
    assert upgrade.activate(releases, N1, app) == first.resolve()
    assert os.readlink(app) == str(second.resolve())
    assert f'__version__ = "{N1}"' in (app / "controlplane" / "__init__.py").read_text()
    assert not list(tmp_path.glob("**/.*.tmp")) and not list(releases.glob(".*.partial"))

    # the same bundle again: identical, nothing changes
    assert upgrade.install(bundles[N1], releases, N1) == second
    assert upgrade.rollback(releases, app) == first.resolve()
    assert app.resolve() == first.resolve()
    assert upgrade.rollback(releases, app) == second.resolve()


def test_downgrade_refused(bundles, tmp_path):
    with pytest.raises(ReleaseError, match="downgrade"):
        upgrade.install(bundles[N], tmp_path / "releases", N1)
    assert not (tmp_path / "releases" / N).exists()


def test_existing_different_release_refused(bundles, tmp_path):
    releases = tmp_path / "releases"
    (releases / N1 / "controlplane").mkdir(parents=True)
    with pytest.raises(ReleaseError, match="differs"):
        upgrade.install(bundles[N1], releases, N)


def test_tampered_bundle_refused(bundles, tmp_path):
    tampered = tmp_path / "t.tar.gz"
    with tarfile.open(bundles[N1]) as src, tarfile.open(tampered, "w:gz") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read()
            if member.name == "controlplane/upgrade.py":
                data += b"\n# evil\n"
                member.size = len(data)
            dst.addfile(member, io.BytesIO(data))
    with pytest.raises(ReleaseError, match="checksum"):
        upgrade.install(tampered, tmp_path / "releases", N)
    assert not (tmp_path / "releases" / N1).exists()


def test_plain_app_dir_moves_aside(bundles, tmp_path):
    releases, app = tmp_path / "releases", tmp_path / "app"
    (app / "controlplane").mkdir(parents=True)
    upgrade.install(bundles[N1], releases, N)
    previous = upgrade.activate(releases, N1, app)
    assert previous == (releases / upgrade.LEGACY).resolve()
    assert (previous / "controlplane").is_dir() and app.is_symlink()
    assert upgrade.rollback(releases, app) == previous


def test_cli(bundles, tmp_path, capsys):
    releases, app = tmp_path / "releases", tmp_path / "app"
    assert main(["upgrade", "--bundle", str(bundles[N1]), "--releases", str(releases),
                 "--app-link", str(app), "--activate"]) == 0
    out = capsys.readouterr().out
    assert f"installed: {releases / N1}" in out and "activated:" in out
    assert app.is_symlink()
    assert main(["upgrade", "--bundle", str(tmp_path / "missing.tar.gz"), "--releases",
                 str(releases), "--app-link", str(app)]) == 1


def test_store_survives_upgrade(bundles, tmp_path):
    data = tmp_path / "data"
    config = Config(data_dir=data, root=tmp_path / "root")
    services = Services.open(config)
    try:
        services.licenses.start_trial()
        services.settings.put("syslog", {"server": "10.0.0.9", "port": 1514})
        services.settings.put("network", {"domain": "vc.example.com"})
        services.accounts.create({"name": "Ann", "account": "1001", "email": "a@example.com"})
        services.accounts.create({"name": "Bob", "account": "1002", "email": "b@example.com"})
        before = {
            "settings": services.settings.all(),
            "accounts": services.accounts.find_all(limit=None)["items"],
        }
    finally:
        services.close()

    releases, app = tmp_path / "releases", tmp_path / "app"
    upgrade.install(bundles[N1], releases, N)
    upgrade.activate(releases, N1, app)
    assert not str(data.resolve()).startswith(str(releases.resolve()))

    # The new release's code reopens the same store (Documents migrates on open).
    script = (
        "import json, controlplane\n"
        "from pathlib import Path\n"
        "from controlplane.app import Services\n"
        "from controlplane.config import Config\n"
        f"s = Services.open(Config(data_dir=Path({str(data)!r}),\n"
        f"                         root=Path({str(tmp_path / 'root')!r})))\n"
        "print(json.dumps({'version': controlplane.__version__,\n"
        "  'schema': s.docs.schema_version,\n"
        "  'settings': s.settings.all(),\n"
        "  'accounts': s.accounts.find_all(limit=None)['items']}, default=str))\n"
        "s.close()\n")
    proc = subprocess.run([sys.executable, "-c", script], cwd=app, capture_output=True,
                          text=True, timeout=60, env={**os.environ, "PYTHONPATH": ""})
    assert proc.returncode == 0, proc.stderr
    after = json.loads(proc.stdout.strip().splitlines()[-1])
    assert after["version"] == N1
    assert after["settings"] == json.loads(json.dumps(before["settings"], default=str))
    assert after["settings"]["syslog"]["server"] == "10.0.0.9"
    assert after["accounts"] == json.loads(json.dumps(before["accounts"], default=str))
