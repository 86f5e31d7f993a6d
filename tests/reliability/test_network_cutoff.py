"""A network change that cuts the administrator off is rolled back (SPEC N5; issue 16
item 3), on a host made of network namespaces: the control plane runs inside the
"appliance" namespace (LAN vc-lan0 at 10.66.0.2/24, listening on every address) and the
administrator sits in the "peer" namespace at 10.66.0.1, on the other end of the LAN's
veth, reaching the box at 10.66.0.2 as a browser would.

Each round the administrator moves the LAN to another subnet (a static address the peer
has no route to): the box is out of reach at once, nobody can confirm, and after the
confirm window (shortened to CONFIRM_S) the control plane puts the old network back. The
round checks the live address, the settings and the rendered file are the old ones again,
and that the administrator, from 10.66.0.1, reaches the box again with the same session."""

from __future__ import annotations

import ctypes
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

from tests.conftest import Client, create_admin, make_server
from tests.netns import Netns, addresses, unavailable
from tests.reliability.conftest import Tally, rounds
from tests.waiting import wait_for

SHORT_ROUNDS = 3
CONFIRM_S = 3
BOX, PEER = "10.66.0.2", "10.66.0.1"
CUTS = ({"address": "10.77.0.2", "netmask": "255.255.255.0", "gateway": "10.77.0.1"},
        {"address": "10.88.5.9", "netmask": "255.255.0.0", "gateway": "10.88.0.1"},
        {"address": "192.168.200.2", "netmask": "255.255.255.0", "gateway": ""})
CLONE_NEWNET = 0x40000000


def _enter(ns: str) -> None:
    """Move the calling thread (only it: network namespaces are per thread) into ns."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/var/run/netns/{ns}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {ns}")
    finally:
        os.close(fd)


@contextmanager
def inside(ns: Netns, workers: int = 1) -> Iterator[Callable[..., Any]]:
    """run(fn, *args): fn called on a thread inside ns, its sockets (and the processes it
    starts) in that namespace; the answer, or what it raised."""
    pool = ThreadPoolExecutor(workers, initializer=_enter, initargs=(ns.name,),
                              thread_name_prefix=f"in-{ns.name}")
    try:
        yield lambda fn, *args, **kwargs: pool.submit(fn, *args, **kwargs).result()
    finally:
        pool.shutdown(wait=True)


def reachable(url: str) -> bool:
    try:
        requests.get(url + "/api/v1/setup", timeout=0.5)
        return True
    except requests.RequestException:
        return False


def test_network_change_that_cuts_the_admin_off_is_rolled_back(tmp_path: Path,
                                                               tally: Tally) -> None:
    assert unavailable() is None, unavailable()  # root, iproute2: network namespaces work
    appliance, peer = Netns("appliance"), Netns("peer")
    try:
        appliance.veth("vc-lan0", peer, "vc-peer0")
        appliance.veth("vc-wan0", peer, "vc-peer1")
        appliance.ip("addr", "add", f"{BOX}/24", "dev", "vc-lan0")
        peer.ip("addr", "add", f"{PEER}/24", "dev", "vc-peer0")
        srv = make_server(tmp_path, vcbox_network_live=f"netns:{appliance.name}",
                          vcbox_lan_if="vc-lan0", vcbox_wan_if="vc-wan0",
                          vcbox_network_confirm_s=str(CONFIRM_S))
        srv.env["VCBOX_LISTEN"] = f"0.0.0.0:{srv.port}"
        with inside(appliance) as on_box, inside(peer, workers=2) as from_peer:
            on_box(srv.start)  # the server process in the appliance's namespace
            try:
                on_box(create_admin, srv.url)
                url = f"http://{BOX}:{srv.port}"
                admin = Client(url)
                assert from_peer(admin.login).status_code == 200
                network_file = srv.data / "root/etc/systemd/network/10-vcbox-lan.network"
                before = from_peer(admin.get, "/api/v1/settings/network").json()
                file_before = network_file.read_text()
                for n in range(rounds(SHORT_ROUNDS)):
                    cut = {**before["lan"], "enabled": True, "dhcp": False, "dns1": "",
                           "dns2": "", **CUTS[n % len(CUTS)]}
                    # The answer may never come back (the box left the LAN under it), or
                    # come late once the old address is back: both are fine.
                    pending = ThreadPoolExecutor(1, initializer=_enter,
                                                 initargs=(peer.name,))
                    put = pending.submit(admin.put, "/api/v1/settings/network",
                                         json={"lan": cut, "confirm": True},
                                         timeout=CONFIRM_S + 15)
                    wait_for(lambda c=cut: addresses(appliance.name, "vc-lan0")
                             == {f"{c['address']}/{_prefix(c['netmask'])}"}, 10,
                             "the new address live")
                    tally.faults += 1
                    took = time.monotonic()
                    assert not from_peer(reachable, url), "the admin still reaches the box"
                    tally.note("cut off seen")
                    # Nobody confirms: the old network comes back after the window.
                    wait_for(lambda: addresses(appliance.name, "vc-lan0") == {f"{BOX}/24"},
                             CONFIRM_S + 10, "the old address back")
                    tally.note("seconds to rollback (sum)", round(time.monotonic() - took))
                    wait_for(lambda: from_peer(reachable, url), 10, "the box reachable")
                    try:
                        answered = put.result(CONFIRM_S + 20)
                        tally.note(f"change answered {answered.status_code}")
                    except requests.RequestException:
                        tally.note("change unanswered")
                    finally:
                        pending.shutdown(wait=False)
                    # The same session, from the old address: the old settings and file.
                    wrong = []
                    now = wait_for(lambda: _settled(from_peer(admin.get,
                                                              "/api/v1/settings/network")),
                                   10, "the settings back")
                    if now["lan"] != before["lan"]:
                        wrong.append(f"settings {now['lan']}")
                    if network_file.read_text() != file_before:
                        wrong.append("network file")
                    if addresses(appliance.name, "vc-lan0") != {f"{BOX}/24"}:
                        wrong.append("address")
                    tally.checked += 4
                    tally.lost += len(wrong)
                    assert not wrong, wrong
                    tally.rounds += 1
            finally:
                srv.stop()
    finally:
        appliance.delete()
        peer.delete()


def _settled(res: requests.Response) -> dict[str, Any] | None:
    """The network settings once no change waits for a confirm any more."""
    assert res.status_code == 200, res.text
    doc = res.json()
    return None if doc["pending_confirm"] else doc


def _prefix(netmask: str) -> int:
    return sum(bin(int(part)).count("1") for part in netmask.split("."))
