"""GET /api/v1/turn-credentials (SPEC D6) against a real coturn the control plane runs: the
credentials it mints for a signed-in session get a relayed allocation (turnutils_uclient);
without a session there are none."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.components import require
from tests.conftest import Server, configured_server
from tests.integration.services_fixtures import FIXED_PORTS, port_free
from tests.integration.test_janus_coturn import uclient


@pytest.fixture
def srv(tmp_path: Path) -> Iterator[Server]:
    require("turnserver", "turnutils_uclient")
    busy = [name for port, name in FIXED_PORTS.items() if "TURN" in name and not port_free(port)]
    assert not busy, f"ports in use by something else: {busy}"
    with configured_server(tmp_path, VCBOX_LOCAL_SERVICES="coturn") as server:
        yield server


def test_minted_credentials_get_an_allocation(srv: Server) -> None:
    assert requests.get(srv.url + "/api/v1/turn-credentials", timeout=10).status_code == 401
    client = srv.client()
    assert client.login().status_code == 200
    res = client.get("/api/v1/turn-credentials")
    assert res.status_code == 200, res.text
    minted = res.json()
    assert re.fullmatch(r"\d+:admin", minted["username"]) and minted["ttl"] == 86400
    assert "turn:127.0.0.1:3478?transport=udp" in minted["uris"]
    granted = uclient("-y", "-n", "1", "-u", minted["username"], "-w", minted["password"])
    assert granted.returncode == 0, granted.stdout[-2000:] + granted.stderr
    assert re.search(r"Received relay addr: 127\.0\.0\.1:\d+", granted.stdout)
    wrong = uclient("-y", "-n", "1", "-u", minted["username"], "-w", "bm90IGl0")
    assert wrong.returncode != 0 and "Cannot complete Allocation" in wrong.stdout
