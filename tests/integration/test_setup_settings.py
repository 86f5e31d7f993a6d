"""A1: the wizard's network and time steps come before the administrator, through
/api/v1/setup/settings/<network|time>: open until an administrator exists, then a
session and the CSRF token like /api/v1/settings/<section>; no other section."""

from __future__ import annotations

import requests

from tests.conftest import Server, create_admin

URL = "/api/v1/setup/settings"


def test_wizard_steps_and_the_setup_settings_routes(server: Server) -> None:
    steps = requests.get(server.url + "/api/v1/setup", timeout=30).json()["steps"]
    assert steps == ["network", "time", "admin", "license", "smtp"]

    # Before the administrator: readable and changeable without a session.
    res = requests.get(f"{server.url}{URL}/time", timeout=30)
    assert res.status_code == 200 and "server_time" in res.json()
    assert requests.get(f"{server.url}{URL}/smtp", timeout=30).status_code == 404
    change = {"timezone": "Europe/Berlin"}
    res = requests.put(f"{server.url}{URL}/time", json=change, timeout=30)
    assert res.status_code == 409 and res.json()["error_id"] == "confirm_required"
    res = requests.put(f"{server.url}{URL}/time", json={**change, "confirm": True}, timeout=30)
    assert res.status_code == 200, res.text
    res = requests.put(f"{server.url}{URL}/network", json={"domain": "bad domain!"},
                       timeout=30)
    assert res.status_code == 400 and "domain" in res.json()["details"]

    # After it: a session, then the CSRF token; the same document as the settings API.
    create_admin(server.url)
    # Quick settings (A6) re-run the same steps, the administrator's included (skippable).
    assert requests.get(server.url + "/api/v1/setup", timeout=30).json()["steps"] == [
        "network", "time", "admin", "license", "smtp"]
    assert requests.get(f"{server.url}{URL}/time", timeout=30).status_code == 401
    client = server.client()
    assert client.login().status_code == 200
    doc = client.get(f"{URL}/time").json()
    assert doc["timezone"] == "Europe/Berlin"
    assert client.get("/api/v1/settings/time").json()["timezone"] == "Europe/Berlin"
    res = requests.put(f"{server.url}{URL}/time", json={"dst": "auto", "confirm": True},
                       cookies=client.cookies, timeout=30)
    assert res.status_code == 403
    res = client.put(f"{URL}/time", json={"dst": "auto", "confirm": True})
    assert res.status_code == 200 and res.json()["dst"] == "auto"
    res = client.post(f"{URL}/network/confirm")
    assert res.status_code == 409  # nothing is waiting (no live network here)
