"""A control-plane restart loses nothing of the live state (issue 13, must-show 2): with
three devices registered and a meeting running on a real FreeSWITCH, the control plane is
stopped and started again; the online users and live meetings lists are right again at
once, with no new SIP traffic (registrations and conferences are read from FreeSWITCH,
never rebuilt from events the control plane missed). FreeSWITCH runs beside the control
plane, not as its child (tests/live_scene.py), so that it outlives the restart."""

from __future__ import annotations

import time

from controlplane.drivers.processes import LocalProcess
from controlplane.presence import parse_registrations
from tests.conftest import Server
from tests.live_scene import EXPECTED, Scene, appliance
from tests.waiting import wait_for

__all__ = ["appliance"]


def call_ids(scene: Scene) -> set[str]:
    """The REGISTER dialogs FreeSWITCH holds (a new REGISTER would be a new one)."""
    return {d.call_id for d in parse_registrations(
        scene.freeswitch_api("sofia status profile internal reg"), 0)}


def test_after_a_restart_both_lists_are_right_without_new_sip_traffic(
        appliance: tuple[Server, LocalProcess]) -> None:
    srv, _ = appliance
    scene = Scene.create(srv, "Restart")
    try:
        scene.register()
        scene.dial()
        wait_for(lambda: scene.snapshot() == EXPECTED, 20, "both lists before")
        registrations = call_ids(scene)

        srv.restart()
        scene.admin = srv.client()
        assert scene.admin.login().status_code == 200
        # Right at once after the restart (the first read comes from FreeSWITCH), and
        # nothing was sent meanwhile: FreeSWITCH's registrations are the same ones.
        took = time.monotonic()
        wait_for(lambda: scene.snapshot() == EXPECTED, 5, "both lists after")
        assert time.monotonic() - took < 5
        assert call_ids(scene) == registrations
        assert all(call.poll() is None for call in scene.calls), \
            "a call ended with the restart"
    finally:
        scene.freeswitch_api("hupall")
        scene.hang_up()
