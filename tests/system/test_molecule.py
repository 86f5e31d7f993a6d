"""Molecule's scenarios (issue 5, DESIGN D9): `molecule test` converges playbooks/site.yml,
converges again with nothing changed, verifies, destroys.

- default: a chroot of the cached bookworm base, image-build settings (nothing starts).
- podman: systemd as PID 1 in a container; nginx, janus, coturn and the control plane
  are active and the admin page answers through nginx (molecule/podman/verify.yml).

Molecule itself fails a run whose second converge changes something; the PLAY RECAPs are
checked here as well, so a scenario that dropped its idempotence step fails too."""

from __future__ import annotations

import pytest

from tests.system.molecule_support import (
    DEFAULT_CONTAINER,
    Molecule,
    Run,
    destroy_chroot,
    destroy_podman,
    ensure_collections,
    missing_prerequisites,
    recaps,
)


def check_test_run(run: Run, scenario: str, host: str) -> None:
    assert run.returncode == 0, f"molecule test -s {scenario} failed:\n{run.tail()}"
    actions = run.actions()
    for action in ("create", "converge", "idempotence", "verify", "destroy"):
        assert action in actions, f"{action} did not run:\n{run.tail()}"
        assert all(out.endswith("Executed: Successful") for out in actions[action]), (
            f"{action}: {actions[action][-1][-2000:]}")

    first = recaps(actions["converge"][0])
    assert host in first and first[host]["failed"] == 0, first
    assert first[host]["changed"] > 0, f"the first converge changed nothing: {first}"

    second = recaps(actions["idempotence"][0])
    assert host in second, f"no PLAY RECAP for {host} in the second converge"
    assert second[host]["changed"] == 0, f"second converge not idempotent: {second}"
    assert second[host]["failed"] == second[host]["unreachable"] == 0, second


@pytest.mark.timeout(900)
@pytest.mark.parametrize(("scenario", "host", "destroy"), [
    ("default", "vcbox-chroot", destroy_chroot),
    ("podman", "vcbox-podman", lambda: destroy_podman(DEFAULT_CONTAINER)),
], ids=["chroot", "podman"])
def test_scenario_converges_idempotently(scenario: str, host: str, destroy) -> None:
    """default: the image-build settings in a chroot; podman: the services really run."""
    reason = missing_prerequisites(scenario)
    if reason:
        pytest.skip(reason)
    ensure_collections()
    try:
        run = Molecule(scenario).run("test", timeout=850)
    finally:
        destroy()
    print(f"molecule test -s {scenario}: {run.seconds:.0f} s")
    check_test_run(run, scenario, host)
