"""Boot smoke test of the appliance image (issue 5, DESIGN D9).

`make image`'s out/vcbox-<version>.img boots under qemu-system-x86_64 -accel tcg with
only the guest's ports 80 and 3478 forwarded to 127.0.0.1 (through the appliance's own
firewall), and from outside: the setup wizard answers through nginx with its web
assets, Janus answers through nginx, coturn answers a STUN binding request on TCP 3478,
and the control plane reports nginx, janus and coturn active (systemctl is-active in the
guest) once the wizard's administrator step is done.

Then SIP through the appliance (UDP 5060 forwarded): FreeSWITCH runs under systemd, a
SIPp terminal registers with digest auth and calls another one, which answers; the
terminals give 10.0.2.2 (the host, seen from the guest) as their address. RTP is not
played towards the appliance: its media address (10.0.2.15) is not reachable from the
host through qemu's user network, and nothing is ever sent to an address off this
machine; RTP both ways is shown against the local FreeSWITCH
(tests/integration/test_freeswitch_real.py).

The tests share one boot and run in file order: the administrator step of the wizard is
done by test_control_plane_reports_the_services_active (the boot runs on a throwaway
overlay)."""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import struct
import time

import pytest
import requests

from tests.components import COMPONENTS
from tests.conftest import ADMIN_PASSWORD, free_port
from tests.sipp import Terminal, point_to_point
from tests.system.conftest import ACCEPT_ZH, Appliance, free_udp_port

# The build (when out/ has no fresh image) and the boot count against the first test.
pytestmark = pytest.mark.timeout(2100)

STUN_MAGIC = 0x2112A442
STUN_BINDING_REQUEST = 0x0001
STUN_BINDING_SUCCESS = 0x0101
STUN_XOR_MAPPED_ADDRESS = 0x0020
# qemu's user network: connections forwarded from the host come from its gateway.
SLIRP_HOST = ipaddress.IPv4Address("10.0.2.2")


def test_serial_console_shows_the_boot(appliance: Appliance) -> None:
    log = appliance.serial_tail(1 << 20)
    # GRUB booted the Debian kernel with the image's command line, systemd set the
    # host name and the serial getty came up.
    assert re.search(r"Command line: .*root=UUID=[0-9a-f-]{36} .*console=ttyS0.*"
                     r"net\.ifnames=0", log), log[-4000:]
    assert "vcbox login:" in log, log[-4000:]


def test_setup_wizard_answers_through_nginx(appliance: Appliance) -> None:
    res = requests.get(appliance.url + "/", headers=ACCEPT_ZH, timeout=30,
                       allow_redirects=False)
    assert res.status_code in (302, 303), res.status_code
    assert res.headers["Location"].endswith("/setup"), res.headers["Location"]

    page = requests.get(appliance.url + "/setup", headers=ACCEPT_ZH, timeout=30)
    assert page.status_code == 200
    assert page.headers["Server"].startswith("nginx"), page.headers
    assert "<title>设置向导" in page.text, page.text[:500]
    assert 'data-step="admin"' in page.text
    # The page's styles and scripts (Bootstrap and its icons are vendored into the image).
    assets = re.findall(r'(?:href|src)="(/static/[^"]+)"', page.text)
    assert any("/static/vendor/bootstrap/" in a for a in assets), assets
    for asset in assets:
        res = requests.get(appliance.url + asset, timeout=30)
        assert res.status_code == 200 and res.content, (asset, res.status_code)


def test_janus_answers_through_nginx(appliance: Appliance) -> None:
    res = requests.get(appliance.url + "/janus/info", timeout=30)
    assert res.status_code == 200, res.text[:500]
    info = res.json()
    assert info["janus"] == "server_info", info
    assert info["name"] == "Janus WebRTC Server", info


def stun_binding_over_tcp(port: int, timeout: float = 10) -> tuple[str, int]:
    """One RFC 5389 binding request on a TCP connection; the XOR-MAPPED-ADDRESS back."""
    transaction = os.urandom(12)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(struct.pack("!HHI12s", STUN_BINDING_REQUEST, 0, STUN_MAGIC, transaction))
        header = _read_exactly(sock, 20)
        kind, length, magic, echoed = struct.unpack("!HHI12s", header)
        body = _read_exactly(sock, length)
    assert kind == STUN_BINDING_SUCCESS, f"STUN answer type {kind:#06x}"
    assert magic == STUN_MAGIC and echoed == transaction
    offset = 0
    while offset + 4 <= len(body):
        attr, size = struct.unpack_from("!HH", body, offset)
        value = body[offset + 4:offset + 4 + size]
        if attr == STUN_XOR_MAPPED_ADDRESS:
            family, xport = struct.unpack_from("!xBH", value)
            assert family == 0x01, "an IPv4 mapped address"
            (xaddr,) = struct.unpack_from("!I", value, 4)
            address = ipaddress.IPv4Address(xaddr ^ STUN_MAGIC)
            return str(address), xport ^ (STUN_MAGIC >> 16)
        offset += 4 + (size + 3) // 4 * 4
    raise AssertionError(f"no XOR-MAPPED-ADDRESS in the STUN answer {body.hex()}")


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError(f"closed after {len(data)} of {size} bytes")
        data += chunk
    return data


def test_coturn_answers_stun_over_tcp(appliance: Appliance) -> None:
    # The control plane's first render may have restarted coturn a moment ago.
    deadline = time.monotonic() + 60
    while True:
        try:
            address, port = stun_binding_over_tcp(appliance.turn_port)
            break
        except (OSError, AssertionError) as exc:
            if time.monotonic() > deadline:
                raise AssertionError(f"no STUN answer on TCP 3478: {exc!r}") from exc
            time.sleep(2)
    assert ipaddress.IPv4Address(address) == SLIRP_HOST, address
    assert 0 < port < 65536


def test_control_plane_reports_the_services_active(appliance: Appliance) -> None:
    session = requests.Session()
    res = session.post(appliance.url + "/api/v1/setup/admin", headers=ACCEPT_ZH, timeout=60,
                       json={"password": ADMIN_PASSWORD, "email": "admin@example.com"})
    assert res.status_code == 200, res.text[:500]
    res = session.get(appliance.url + "/api/v1/status", timeout=60)
    assert res.status_code == 200, res.text[:500]
    components = res.json()["components"]
    print("\nappliance status:", {name: c.get("status") for name, c in components.items()})
    # systemctl is-active in the guest, as the control plane reads it (systemd mode).
    for name in ("controlplane", "nginx", "janus", "coturn", "chrony", "ssh", "firewall"):
        assert components.get(name, {}).get("status") == "ok", (name, components)
    # FreeSWITCH: installed from the package folder setup uses; without one, skipped at
    # build and said so.
    if COMPONENTS["freeswitch"].packaged_here():
        assert components["freeswitch"]["status"] in ("ok", "stopped"), components
    else:
        assert components["freeswitch"]["status"] == "absent", components["freeswitch"]
    # After setup the wizard is done: / no longer leads there.
    res = session.get(appliance.url + "/", timeout=30, allow_redirects=False)
    assert not res.headers.get("Location", "").endswith("/setup"), res.headers


def admin_api(appliance: Appliance) -> requests.Session:
    session = requests.Session()
    res = session.post(appliance.url + "/api/v1/session", timeout=60,
                       json={"username": "admin", "password": ADMIN_PASSWORD})
    assert res.status_code == 200, res.text[:500]
    session.headers["X-CSRF-Token"] = res.json()["csrf_token"]
    return session


def test_a_terminal_registers_and_calls_through_the_appliance(appliance: Appliance,
                                                              tmp_path) -> None:
    why = COMPONENTS["freeswitch"].not_installable_because()
    if why:
        pytest.skip(f"the image has no FreeSWITCH: {why}")
    api = admin_api(appliance)
    res = api.post(appliance.url + "/api/v1/license/trial", json={}, timeout=60)
    assert res.status_code == 200, res.text[:500]
    deadline = time.monotonic() + 120
    while True:
        status = api.get(appliance.url + "/api/v1/status", timeout=60).json()["components"]
        if status["freeswitch"]["status"] == "ok":
            break
        assert time.monotonic() < deadline, status["freeswitch"]
        time.sleep(3)
    passwords = {}
    for account in ("3001", "3002"):
        res = api.post(appliance.url + "/api/v1/accounts", timeout=60,
                       json={"name": f"Image {account}", "account": account,
                             "email": f"u{account}@example.com"})
        assert res.status_code == 201, res.text[:500]
        passwords[account] = res.json()["password"]
    domain = api.get(appliance.url + "/api/v1/settings/network", timeout=60).json()["domain"]

    def terminal(account: str) -> Terminal:
        return Terminal(tmp_path / account, account, passwords[account], domain,
                        free_udp_port(), free_port(), f"127.0.0.1:{appliance.sip_port}",
                        advertise="10.0.2.2", timeout_s=60)

    caller, callee = terminal("3001"), terminal("3002")
    point_to_point(caller, callee, talk_ms=2000, media=False, wait_s=90)
