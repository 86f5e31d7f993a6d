"""X2: the OpenAPI document lists exactly the API the app has."""

from __future__ import annotations

import re

import requests

from controlplane.app import create_app
from controlplane.config import Config
from tests.conftest import Client, Server

METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def app_api_routes(tmp_path) -> set[tuple[str, str]]:
    data = tmp_path / "inproc"
    app = create_app(Config(data_dir=data, root=data / "root"))
    try:
        return {(r.method, re.sub(r"<([^:>]+)(?::[^>]*)?>", r"{\1}", r.rule))
                for r in app.routes if r.rule.startswith("/api/")}
    finally:
        app.config["vcbox.services"].close()


def test_openapi_needs_a_session(configured: Server) -> None:
    res = requests.get(configured.url + "/api/v1/openapi.json", timeout=30)
    assert res.status_code == 401


def test_openapi_lists_exactly_the_api_routes(admin: Client, tmp_path) -> None:
    res = admin.get("/api/v1/openapi.json")
    assert res.status_code == 200
    assert res.headers["Content-Type"].startswith("application/json")
    doc = res.json()

    # OpenAPI 3 in shape.
    assert re.fullmatch(r"3\.\d+\.\d+", doc["openapi"])
    assert doc["info"]["title"] and doc["info"]["version"]
    assert isinstance(doc["paths"], dict) and doc["paths"]
    operation_ids = []
    listed = set()
    for path, item in doc["paths"].items():
        assert path.startswith("/")
        assert "<" not in path and ">" not in path, path
        declared = set(re.findall(r"{([^}]+)}", path))
        for method, op in item.items():
            assert method in METHODS, (path, method)
            listed.add((method.upper(), path))
            assert op["responses"], (path, method)
            assert all(re.fullmatch(r"[1-5](\d\d|XX)|default", code) for code in op["responses"])
            params = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert params == declared, (path, method)
            assert all(p["required"] is True for p in op.get("parameters", [])
                       if p["in"] == "path")
            operation_ids.append(op["operationId"])
            assert op.get("summary"), (path, method)
    assert len(operation_ids) == len(set(operation_ids)), "operationIds must be unique"
    for ref in re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', res.text):
        assert ref in doc["components"]["schemas"]

    # Exactly the app's /api/ routes; nothing else but other machine interfaces.
    expected = app_api_routes(tmp_path)
    assert {entry for entry in listed if entry[1].startswith("/api/")} == expected
    assert all(p.startswith(("/api/", "/freeswitch/")) for _, p in listed)
    assert ("GET", "/api/v1/settings/{section}") in listed
    assert ("POST", "/api/v1/password-reset/{token}") in listed

    # Public operations say so; the others need the session (and CSRF when unsafe).
    login = doc["paths"]["/api/v1/session"]["post"]
    assert login["security"] == []
    put = doc["paths"]["/api/v1/settings/{section}"]["put"]
    assert {"session": [], "csrf": []} in put["security"]
    assert doc["components"]["securitySchemes"]["csrf"]["name"] == "X-CSRF-Token"
