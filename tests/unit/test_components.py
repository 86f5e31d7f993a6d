"""The contract between scripts/setup.sh and the tests (tests/components.py): what the
tests need is what setup installs, a missing piece fails instead of skipping, and every
run ends with the list of its skips."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests import components
from tests.components import COMPONENTS, Component, setup_component_in

REPO = Path(__file__).resolve().parents[2]


def setup_packages() -> list[str]:
    done = subprocess.run(["bash", str(REPO / "scripts" / "setup.sh"), "--print-packages"],
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_setup_lists_every_debian_package_the_tests_need_here() -> None:
    listed = set(setup_packages())
    needed = {c.package for c in COMPONENTS.values()
              if not c.venv and components.setup_installs(c)
              and not (c.provided_elsewhere and c.locate())}
    assert sorted(needed - listed) == []


def test_setup_lists_janus_on_debian_12() -> None:
    if components.os_codename() != "bookworm":
        pytest.skip(f"Janus is packaged for Debian 12 only; this is "
                    f"{components.os_codename() or 'not Debian'}")
    assert "janus" in setup_packages()


def test_a_missing_component_that_setup_installs_fails(monkeypatch) -> None:
    absent = Component("vcbox-no-such-program", "vcbox-no-such-package")
    monkeypatch.setitem(COMPONENTS, absent.name, absent)
    with pytest.raises(pytest.fail.Exception, match="scripts/setup.sh installs it"):
        components.require(absent.name)


def test_a_component_not_packaged_here_skips_naming_why(monkeypatch) -> None:
    absent = Component("vcbox-no-such-program", "vcbox-no-such-package",
                       codenames=("vcbox-other-release",))
    monkeypatch.setitem(COMPONENTS, absent.name, absent)
    with pytest.raises(pytest.skip.Exception, match=r"not packaged for Debian .* \(only "
                                                    "vcbox-other-release"):
        components.require(absent.name)


def test_a_present_component_is_located() -> None:
    assert components.locate("python3").endswith("python3")
    assert components.locate("ansible-playbook") == str(Path(sys.executable).parent
                                                        / "ansible-playbook")


def test_skip_reasons_naming_what_setup_installs_are_recognised() -> None:
    assert setup_component_in("turnserver is not installed (Debian packages coturn)")
    assert setup_component_in("`ip netns add` cannot run: [Errno 2] No such file or "
                              "directory: 'ip'")
    assert setup_component_in("needs root (chroot, mounts)") is None
    assert setup_component_in("admin guide not found (set VCBOX_GUIDE)") is None


def pytest_run(tmp_path: Path, body: str) -> subprocess.CompletedProcess:
    (tmp_path / "test_sample.py").write_text(body)
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "tests.components", "-q",
                           "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
                           str(tmp_path)], capture_output=True, text=True, cwd=REPO,
                          timeout=120, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})


def test_a_run_lists_its_skips_at_the_end(tmp_path: Path) -> None:
    done = pytest_run(tmp_path, "import pytest\n"
                                "def test_a():\n    pytest.skip('needs a sound card')\n"
                                "def test_b():\n    pass\n")
    assert done.returncode == 0, done.stdout
    assert "skipped tests: 1" in done.stdout
    assert "SKIPPED test_sample.py::test_a: needs a sound card" in done.stdout


def test_a_run_without_skips_says_so(tmp_path: Path) -> None:
    done = pytest_run(tmp_path, "def test_b():\n    pass\n")
    assert done.returncode == 0, done.stdout
    assert "skipped tests: none" in done.stdout


def test_a_skip_for_what_setup_installs_fails_the_run(tmp_path: Path) -> None:
    done = pytest_run(tmp_path, "import pytest\n"
                                "def test_a():\n    pytest.skip('janus is not installed')\n")
    if not components.setup_installs(COMPONENTS["janus"]):
        assert done.returncode == 0, done.stdout
        return
    assert done.returncode == 1, done.stdout
    assert "skips for what scripts/setup.sh installs here" in done.stdout
    assert "test_sample.py::test_a: janus (Debian package janus)" in done.stdout
