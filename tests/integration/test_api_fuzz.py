"""API fuzzing (issue 16 item 4): schemathesis over the OpenAPI document of a real, licensed
server with FreeSWITCH as its child (the live meetings' routes need its event socket),
every operation.

- signed in (cookie + X-CSRF-Token), with accounts, a room, a meeting and a backup to aim
  at: no 5xx (not_a_server_error), and every answer as the document declares it (status
  code, content type, and the schema: the List shape {items, total, filtered} of the
  lists, the Error shape {error_id, message, details} of every refusal); nothing logged
  as an error by the server meanwhile (a background job that the fuzzed settings switched
  on, say);
- the routes that would end the session or wipe the server (factory reset, reboot,
  restore, upgrade, password changes) are left out of that pass, and fuzzed on their own
  without "confirm": every answer a refusal (4xx);
- with generated inputs too: no session -> 401 on every route that needs one; the admin's
  cookie without the CSRF token -> 403 on every state change; a portal user's session
  opens no admin route (the fixed-input versions are in test_security.py and
  test_portal_api.py).

The checks of each pass beyond schemathesis's own are in fuzz_hooks.py. Schemathesis's
summary of each pass is printed. VCBOX_FUZZ_EXAMPLES (default 15) sets the examples per
operation of the signed-in pass (the access passes use at most 3); VCBOX_FUZZ_SEED fixes
the seed (default 1, so that a run can be repeated); VCBOX_FUZZ_PHASES the signed-in
pass's phases (default examples,coverage,fuzzing). FreeSWITCH's fixed ports must be free:
by hand, run it inside `unshare --net bash -c 'ip link set lo up; ...'`."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.components import require
from tests.conftest import REPO, Client, Server
from tests.freeswitch_ports import assert_ports_free
from tests.license_keys import licensed_server
from tests.waiting import wait_for

EXAMPLES = int(os.environ.get("VCBOX_FUZZ_EXAMPLES") or 15)
ACCESS_EXAMPLES = min(EXAMPLES, 3)
SEED = os.environ.get("VCBOX_FUZZ_SEED") or "1"
ST = Path(sys.executable).with_name("st")
CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,"
          "response_schema_conformance,vcbox_access")
# Would end the session or wipe the server mid-run: fuzzed only without "confirm".
DESTRUCTIVE = frozenset({
    ("POST", "/api/v1/system/factory-reset"),
    ("POST", "/api/v1/system/reboot"),
    ("POST", "/api/v1/backups/{name}/restore"),
    ("POST", "/api/v1/system/upgrade"),
    ("PUT", "/api/v1/admin/password"),
    ("PUT", "/api/v1/setup/admin"),          # the wizard's password change
})
# DELETE ends the session whatever it is sent (tests/integration/test_session_api.py):
# their paths stay out of the signed-in passes altogether, since schemathesis's coverage
# phase also sends the methods a path does not declare.
SIGN_OUT = frozenset({"/api/v1/session", "/api/v1/portal/session"})
pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """With FreeSWITCH as its child: the live meetings' routes need its event socket (a
    control plane without it answers 502 upstream_failed there, as it should)."""
    require("freeswitch")
    assert_ports_free()
    # Fuzzed logins with the admin's name must not lock the admin out of the later passes.
    with licensed_server(tmp_path_factory.mktemp("fuzz"), VCBOX_LOCAL_SERVICES="freeswitch",
                         VCBOX_DIRECTORY_PORT="8089",
                         VCBOX_LOCKOUT_ATTEMPTS="100000") as srv:
        client = srv.client()
        assert client.login().status_code == 200
        wait_for(lambda: client.get("/api/v1/meetings/live").status_code == 200, 60,
                 "the event socket of FreeSWITCH")
        yield srv


@pytest.fixture(scope="module")
def admin(server: Server) -> Client:
    client = server.client()
    client.cookies.set("vcbox_lang", "en")
    assert client.login().status_code == 200
    return client


@pytest.fixture(scope="module")
def targets(admin: Client) -> dict[str, Any]:
    """What the path parameters are aimed at: real accounts, a room, a meeting, a backup."""
    made: dict[str, Any] = {}
    for number in ("3001", "3002"):
        res = admin.post("/api/v1/accounts", json={"account": number, "name": f"User {number}",
                                                   "email": f"u{number}@example.com"})
        assert res.status_code == 201, res.text
        made[number] = res.json()
    res = admin.post("/api/v1/rooms", json={"name": "Fuzz room", "kind": "normal"})
    assert res.ok, res.text
    made["room"] = res.json()
    res = admin.post("/api/v1/meetings", json={"kind": "vmr", "subject": "Fuzz VMR",
                                               "organizer": "3001"})
    assert res.status_code == 201, res.text
    made["meeting"] = res.json()
    res = admin.post("/api/v1/backups", json={"name": "fuzz"})
    assert res.ok, res.text
    made["backup"] = res.json()
    return made


@pytest.fixture(scope="module")
def document(admin: Client, targets: dict[str, Any]) -> dict[str, Any]:
    """The served document, with the targets as the path parameters' examples."""
    res = admin.get("/api/v1/openapi.json")
    assert res.status_code == 200
    doc = res.json()
    examples = {"account": "3001", "room_id": targets["room"]["id"],
                "meeting_id": targets["meeting"]["id"], "name": targets["backup"]["name"],
                "ip": "127.0.0.1", "member": "all", "part": "logs"}
    for item in doc["paths"].values():
        for op in item.values():
            for param in op.get("parameters", []):
                if param["in"] == "path" and param["name"] in examples:
                    param["schema"]["example"] = examples[param["name"]]
    return doc


def test_the_document_tables_name_real_routes(tmp_path: Path) -> None:
    """openapi.py's tables of query parameters, lists, files, uploads and bodies are kept
    by hand: an entry for a route that is gone would describe nothing."""
    from controlplane.app import create_app
    from controlplane.config import Config
    from controlplane.web import openapi

    app = create_app(Config(data_dir=tmp_path, root=tmp_path / "root"))
    try:
        rules = {(r.method, r.rule) for r in openapi.api_routes(app)}
    finally:
        app.config["vcbox.services"].close()
    paths = {rule for _, rule in rules}
    gets = {rule for method, rule in rules if method == "GET"}
    assert set(openapi.QUERY) <= rules, set(openapi.QUERY) - rules
    assert not openapi.LISTS - gets, openapi.LISTS - gets
    assert set(openapi.FILES) <= gets, set(openapi.FILES) - gets
    assert not openapi.UPLOADS - paths, openapi.UPLOADS - paths
    assert set(openapi.BODIES) <= rules, set(openapi.BODIES) - rules


def only(doc: dict[str, Any], keep) -> dict[str, Any]:
    """A copy of the document with the operations keep(method, path) chooses."""
    out = copy.deepcopy(doc)
    for path in list(out["paths"]):
        for method in list(out["paths"][path]):
            if not keep(method.upper(), path):
                del out["paths"][path][method]
        if not out["paths"][path]:
            del out["paths"][path]
    return out


def access(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """{"METHOD /path": {realm, csrf}} from the document's security requirements."""
    rules = {}
    for path, item in doc["paths"].items():
        for method, op in item.items():
            security = op.get("security", doc["security"])
            realm = ("public" if security == [] else
                     "portal" if any("portal" in s for s in security) else "session")
            ok = op["responses"].get("2XX", {}).get("content", {}).get("application/json", {})
            rules[f"{method.upper()} {path}"] = {
                "realm": realm, "csrf": any("csrf" in s for s in security),
                "list": ok.get("schema") == {"$ref": "#/components/schemas/List"}}
    return rules


def summary(output: str) -> str:
    """Schemathesis's closing part: its FAILURES (if any) and its SUMMARY."""
    lines = output.splitlines()
    starts = [i for i, line in enumerate(lines)
              if re.match(r"^=+ (FAILURES|SUMMARY) =+$", line)]
    return "\n".join(lines[starts[0]:] if starts else lines[-40:])


def st_run(server: Server, doc: dict[str, Any], name: str, folder: Path,
           headers: dict[str, str], examples: int, phases: str) -> tuple[int, str, float]:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"openapi-{name}.json"
    path.write_text(json.dumps(doc))
    rules = folder / "access.json"
    rules.write_text(json.dumps(access(doc)))
    cmd = [str(ST), "--no-color", "run", str(path), "--url", server.url,
           "--checks", CHECKS, "--max-examples", str(examples), "--seed", SEED,
           "--phases", phases, "--workers", "2", "--request-timeout", "60",
           "--suppress-health-check", "all", "--generation-database", "none",
           "--generation-with-security-parameters", "false", "--mode", "all",
           "--report", "junit", "--report-dir", str(folder / f"report-{name}")]
    for key, value in headers.items():
        cmd += ["--header", f"{key}: {value}"]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.integration.fuzz_hooks",
           "VCBOX_FUZZ_PASS": name, "VCBOX_FUZZ_ACCESS": str(rules),
           "PYTHONPATH": str(REPO), "COLUMNS": "100", "NO_COLOR": "1"}
    start = time.monotonic()
    done = subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True,
                          timeout=1200, check=False)
    return done.returncode, done.stdout + done.stderr, time.monotonic() - start


def report(capsys: pytest.CaptureFixture[str], name: str, rc: int, output: str,
           seconds: float) -> None:
    with capsys.disabled():
        print(f"\n--- schemathesis, pass {name!r}: exit {rc}, {seconds:.0f} s ---")
        print(summary(output))
    assert rc == 0, f"schemathesis pass {name!r} found failures:\n{output[-20000:]}"


def cookie(client: Client, name: str) -> str:
    value = client.cookies.get(name)
    assert value, name
    return value


def test_without_a_session_every_private_route_answers_401(
        server: Server, document: dict[str, Any], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, took = st_run(server, document, "anonymous", tmp_path, {}, ACCESS_EXAMPLES,
                           "examples,fuzzing")
    report(capsys, "anonymous", rc, out, took)


def test_without_the_csrf_token_every_state_change_answers_403(
        server: Server, admin: Client, document: dict[str, Any], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    doc = only(document, lambda m, p: m not in ("GET", "HEAD"))
    rc, out, took = st_run(server, doc, "no_csrf", tmp_path,
                           {"Cookie": f"vcbox_session={cookie(admin, 'vcbox_session')}"},
                           ACCESS_EXAMPLES, "examples,fuzzing")
    report(capsys, "no_csrf", rc, out, took)
    assert admin.get("/api/v1/session").status_code == 200


def test_a_portal_session_reaches_no_admin_route(
        server: Server, admin: Client, targets: dict[str, Any], document: dict[str, Any],
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    user = server.client()
    res = user.post("/api/v1/portal/session",
                    json={"account": "3002", "password": targets["3002"]["password"]})
    assert res.status_code == 200, res.text
    doc = only(document, lambda m, p: p not in SIGN_OUT)
    rc, out, took = st_run(server, doc, "portal", tmp_path,
                           {"Cookie": f"vcbox_portal={cookie(user, 'vcbox_portal')}",
                            "X-CSRF-Token": res.json()["csrf_token"]},
                           ACCESS_EXAMPLES, "examples,fuzzing")
    report(capsys, "portal", rc, out, took)


def test_signed_in_fuzz_finds_no_server_error_and_no_schema_break(
        server: Server, admin: Client, document: dict[str, Any], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    doc = only(document, lambda m, p: (m, p) not in DESTRUCTIVE and p not in SIGN_OUT)
    headers = {"Cookie": f"vcbox_session={cookie(admin, 'vcbox_session')}; vcbox_lang=en",
               "X-CSRF-Token": admin.csrf}
    rc, out, took = st_run(server, doc, "session", tmp_path, headers, EXAMPLES,
                           os.environ.get("VCBOX_FUZZ_PHASES") or "examples,coverage,fuzzing")
    report(capsys, "session", rc, out, took)
    # The session lived through it (nothing fuzzed signed the admin out).
    assert admin.get("/api/v1/session").status_code == 200
    # Nor did anything fail behind the answers (a job the fuzzed settings switched on).
    errors = [line for line in server.log.read_text(errors="replace").splitlines()
              if " ERROR " in line or line.startswith("Traceback")]
    assert not errors, "\n".join(errors[:20])


def test_destructive_routes_without_confirm_are_refused(
        server: Server, admin: Client, document: dict[str, Any], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    # What a reset or a restore would take away (the signed-in pass deleted what it could).
    res = admin.post("/api/v1/accounts", json={"account": "3999", "name": "Marker"})
    assert res.status_code == 201, res.text
    backup = admin.post("/api/v1/backups", json={"name": "before-destructive"})
    assert backup.ok, backup.text
    doc = only(document, lambda m, p: (m, p) in DESTRUCTIVE)
    assert len([op for item in doc["paths"].values() for op in item]) == len(DESTRUCTIVE)
    restore = doc["paths"]["/api/v1/backups/{name}/restore"]["post"]
    restore["parameters"][0]["schema"]["example"] = backup.json()["name"]
    headers = {"Cookie": f"vcbox_session={cookie(admin, 'vcbox_session')}; vcbox_lang=en",
               "X-CSRF-Token": admin.csrf}
    rc, out, took = st_run(server, doc, "destructive", tmp_path, headers, EXAMPLES,
                           "examples,coverage,fuzzing")
    report(capsys, "destructive", rc, out, took)
    # Nothing was reset, rebooted, restored or upgraded, and the password is the same.
    assert admin.get("/api/v1/accounts/3999").status_code == 200
    assert server.client().login().status_code == 200
