"""Molecule's scenarios (issue 5, DESIGN D9): `molecule test` converges playbooks/site.yml,
converges again with nothing changed, verifies, destroys.

- default: a chroot of the cached bookworm base, image-build settings (nothing starts).
- podman: systemd as PID 1 in a container; nginx, janus, coturn and the control plane
  are active and the admin page answers through nginx (molecule/podman/verify.yml). Its
  sequence runs step by step on the host of tests/system/test_host_lifecycle.py (one
  create and converge serve both).

Molecule itself fails a run whose second converge changes something; the PLAY RECAPs are
checked here as well, so a scenario that dropped its idempotence step fails too."""

from __future__ import annotations

import pytest

from tests.system.molecule_support import (
    Molecule,
    check_scenario,
    destroy_chroot,
    ensure_collections,
    missing_prerequisites,
)


@pytest.mark.timeout(900)
def test_scenario_converges_idempotently() -> None:
    """default: the image-build settings in a chroot (the podman scenario's sequence runs
    on the lifecycle's host: tests/system/test_host_lifecycle.py)."""
    reason = missing_prerequisites("default")
    if reason:
        pytest.skip(reason)
    ensure_collections()
    try:
        run = Molecule("default").run("test", timeout=850)
    finally:
        destroy_chroot()
    print(f"molecule test -s default: {run.seconds:.0f} s")
    check_scenario([run], "default", "vcbox-chroot")
    destroyed = run.actions().get("destroy", [])
    assert destroyed and all(out.endswith("Executed: Successful") for out in destroyed), (
        f"destroy did not run or failed:\n{run.tail()}")
