"""The real FreeSWITCH (issue 10) on the files the control plane renders, run by the control
plane as a child process (local mode, VCBOX_LOCAL_SERVICES=freeswitch): every module of
modules.conf loads, the internal profile runs on the configured SIP ports and follows a
port change without a restart of FreeSWITCH, the event socket takes the rendered password
only, the directory comes live from the control plane over mod_xml_curl, a SIPp terminal
registers with digest auth, and the dashboard says FreeSWITCH runs.

FreeSWITCH binds fixed ports on 127.0.0.1 (SIP 5060/5061, ESL 8021, directory 8089):
one module-scoped instance, the tests in order.
"""

from __future__ import annotations

import re
import socket
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from controlplane.drivers.esl import Esl, EslAuthError
from controlplane.drivers.processes import FREESWITCH_DIR, freeswitch_esl
from tests.components import locate, require
from tests.license_keys import licensed_server

FIXED_PORTS = (5060, 5061, 8021, 8089)
DOMAIN_KEY = ("network", "domain")
def register_message(cseq: int, auth: str = "") -> str:
    """One REGISTER of a SIPp scenario; [field0..2] come from the -inf file."""
    lines = ["REGISTER sip:[field1] SIP/2.0",
             "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]",
             "From: <sip:[field0]@[field1]>;tag=[call_number]", "To: <sip:[field0]@[field1]>",
             "Call-ID: [call_id]", f"CSeq: {cseq} REGISTER",
             "Contact: <sip:[field0]@[local_ip]:[local_port]>", *([auth] if auth else []),
             "Max-Forwards: 70", "Expires: 120", "User-Agent: Yealink VC400 63.345.0.10",
             "Content-Length: 0"]
    body = "\n".join(f"      {line}" for line in lines)
    return f'  <send retrans="500">\n    <![CDATA[\n{body}\n    ]]>\n  </send>\n'


def register_scenario(expect: int) -> str:
    """REGISTER, the 401 challenge, REGISTER with digest credentials, then `expect`."""
    return ('<?xml version="1.0" encoding="ISO-8859-1" ?>\n'
            '<scenario name="register with digest auth">\n'
            + register_message(1) + '  <recv response="401" auth="true"/>\n'
            + register_message(2, "[field2]") + f'  <recv response="{expect}"/>\n'
            + "</scenario>\n")


def port_taken(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    require("freeswitch", "sipp")
    taken = [p for p in FIXED_PORTS if port_taken(p)]
    assert not taken, f"ports in use by something else: {taken}"
    folder = tmp_path_factory.mktemp("freeswitch")
    with licensed_server(folder, VCBOX_LOCAL_SERVICES="freeswitch",
                         VCBOX_DIRECTORY_PORT="8089") as srv:
        yield srv


@pytest.fixture(scope="module")
def root(box) -> Path:
    return box.data / "root"


@pytest.fixture
def esl(root: Path) -> Iterator[Esl]:
    client = freeswitch_esl(root, timeout=5.0)
    yield client
    client.close()


def settings(box, section: str) -> dict[str, Any]:
    client = box.client()
    client.login()
    return client.get(f"/api/v1/settings/{section}").json()


def test_the_dashboard_says_freeswitch_runs(box) -> None:
    client = box.client()
    assert client.login().status_code == 200
    components = client.get("/api/v1/status").json()["components"]
    assert components["freeswitch"] == {"status": "ok"}


def test_every_module_of_the_rendered_modules_conf_loads(root: Path, esl: Esl) -> None:
    conf = root / FREESWITCH_DIR / "autoload_configs" / "modules.conf.xml"
    modules = [m.get("module") for m in ET.parse(conf).iter("load")]
    assert len(modules) >= 15
    loaded = {m: esl.api(f"module_exists {m}").strip() for m in modules}
    assert {m: v for m, v in loaded.items() if v != "true"} == {}


def test_the_event_socket_takes_the_rendered_password_only(root: Path) -> None:
    wrong = freeswitch_esl(root)
    wrong.password = "not-the-rendered-one"
    with pytest.raises(EslAuthError):
        wrong.api("status")
    wrong.close()


def test_the_internal_profile_runs_on_the_configured_ports(box, esl: Esl) -> None:
    ports = settings(box, "services")
    status = esl.api("sofia status")
    assert re.search(rf"internal\s+profile\s+sip:mod_sofia@127\.0\.0\.1:{ports['sip_port']}"
                     r"\s+RUNNING", status), status
    assert re.search(rf"sip:mod_sofia@127\.0\.0\.1:{ports['sip_tls_port']}\s+RUNNING"
                     r".*\(TLS\)", status), status
    assert esl.api("global_getvar domain").strip() == settings(box, "network")["domain"]


def create_account(box, account: str, name: str) -> str:
    """A new account through the API; its generated SIP password."""
    client = box.client()
    client.login()
    res = client.post("/api/v1/accounts", json={"name": name, "account": account,
                                                "email": f"u{account}@example.com"})
    assert res.status_code == 201, res.text
    return res.json()["password"]


def test_the_directory_comes_live_from_the_control_plane(box, esl: Esl) -> None:
    domain = settings(box, "network")["domain"]
    create_account(box, "2001", "Live")
    assert esl.api(f"user_exists id 2001 {domain}").strip() == "true"
    assert esl.api(f"user_exists id 2999 {domain}").strip() == "false"


def sipp_register(tmp_path: Path, account: str, password: str, domain: str,
                  expect: int, port: int = 5060) -> subprocess.CompletedProcess:
    scenario = tmp_path / f"register-{expect}.xml"
    scenario.write_text(register_scenario(expect))
    users = tmp_path / "users.csv"
    users.write_text(f"SEQUENTIAL\n{account};{domain};[authentication username={account} "
                     f"password={password}]\n")
    return subprocess.run(
        [locate("sipp"), f"127.0.0.1:{port}", "-sf", str(scenario), "-inf", str(users),
         "-m", "1", "-i", "127.0.0.1", "-p", "0", "-timeout", "15", "-timeout_error",
         "-nostdin", "-trace_err", "-error_file",
         str(tmp_path / f"err-{expect}.log")],
        capture_output=True, text=True, timeout=30, cwd=tmp_path)


def test_a_terminal_registers_with_digest_auth(box, esl: Esl, tmp_path: Path) -> None:
    domain = settings(box, "network")["domain"]
    password = create_account(box, "2002", "Terminal")
    done = sipp_register(tmp_path, "2002", password, domain, 200)
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-2000:])
    regs = esl.api("sofia status profile internal reg")
    assert "2002@" in regs and "Yealink VC400" in regs, regs
    refused = sipp_register(tmp_path, "2002", password + "x", domain, 403)
    assert refused.returncode == 0, (refused.stdout[-2000:], refused.stderr[-2000:])


def test_a_sip_port_change_reaches_the_running_freeswitch(box, esl: Esl) -> None:
    """P3: saved in the admin, the internal profile moves without a FreeSWITCH restart."""
    client = box.client()
    client.login()
    pid = esl.api("global_getvar core_uuid").strip()
    before = settings(box, "services")["sip_port"]
    try:
        res = client.put("/api/v1/settings/services", json={"sip_port": 5070, "confirm": True})
        assert res.status_code == 200, res.text
        status = esl.api("sofia status")
        assert re.search(r"sip:mod_sofia@127\.0\.0\.1:5070\s+RUNNING", status), status
        assert not re.search(rf"sip:mod_sofia@127\.0\.0\.1:{before}\s", status), status
        assert esl.api("global_getvar core_uuid").strip() == pid  # the same process
    finally:
        res = client.put("/api/v1/settings/services", json={"sip_port": before,
                                                             "confirm": True})
        assert res.status_code == 200, res.text
