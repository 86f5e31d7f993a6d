"""The mod_xml_curl gateway (SPEC §9, DESIGN D4) through the real server, asked exactly the
way FreeSWITCH asks: the a1-hash of the password the API handed out, "not found" for
anything else, loopback and HTTP basic credentials only, the dialplan answered live, the
entries cacheable by FreeSWITCH.

The gateway is asked here with FreeSWITCH's exact forms (field order, repeated names, keep-
alive) and no FreeSWITCH runs: the same gateway asked by the real FreeSWITCH (digest
REGISTERs, user_exists, calls routed by the live dialplan, a reset password in force at
once, a deleted account refused, the entries FreeSWITCH caches flushed at each account
change and on each new event-socket link) is in test_freeswitch_real.py."""

from __future__ import annotations

import base64
import hashlib
import http.client
import socket
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import pytest
import requests

from controlplane import secrets
from controlplane.accounts import Account
from controlplane.cdr import MAX_RECORD_BYTES, CdrInbox
from controlplane.store import Documents
from controlplane.web.api_freeswitch import (
    MAX_FORM_BYTES,
    USER_CACHE_MS,
    form_fields,
    user_document,
)
from tests.conftest import Client, Server, create_admin, free_port, make_server
from tests.license_keys import activate, make_keys

DOMAIN = "vcbox.local"


def sip_auth_form(account: str, at: str = DOMAIN, **changes: str) -> list[tuple[str, str]]:
    """The form mod_xml_curl posts when a terminal registers (sofia_reg_parse_auth ->
    switch_xml_locate_user): the binding's basic fields, then the REQUEST_PARAMS event's
    headers in FreeSWITCH's order; changes replace fields by name."""
    user, domain = account, at
    fields = [
        ("hostname", "vcbox"),
        ("section", "directory"),
        ("tag_name", "domain"),
        ("key_name", "name"),
        ("key_value", domain),
        ("Event-Name", "REQUEST_PARAMS"),
        ("Core-UUID", "5f1d2f6e-9a43-4c1e-8d0a-1b2c3d4e5f60"),
        ("FreeSWITCH-Hostname", "vcbox"),
        ("FreeSWITCH-Switchname", "vcbox"),
        ("FreeSWITCH-IPv4", "192.168.10.2"),
        ("FreeSWITCH-IPv6", "::1"),
        ("Event-Date-Local", "2026-03-02 10:15:42"),
        ("Event-Date-GMT", "Mon, 02 Mar 2026 02:15:42 GMT"),
        ("Event-Date-Timestamp", "1772417742551623"),
        ("Event-Calling-File", "sofia_reg.c"),
        ("Event-Calling-Function", "sofia_reg_parse_auth"),
        ("Event-Calling-Line-Number", "2985"),
        ("Event-Sequence", "2711"),
        ("action", "sip_auth"),
        ("sip_profile", "internal"),
        ("sip_user_agent", "Yealink VC400 63.345.0.40"),
        ("sip_auth_username", user),
        ("sip_auth_realm", domain),
        ("sip_auth_nonce", "a2a3b1c4-1f6b-4a3e-9a0b-4a51c0f2f1d7"),
        ("sip_auth_uri", f"sip:{domain}"),
        ("sip_contact_user", user),
        ("sip_contact_host", "192.168.10.57"),
        ("sip_to_user", user),
        ("sip_to_host", domain),
        ("sip_from_user", user),
        ("sip_from_host", domain),
        ("sip_request_host", domain),
        ("sip_auth_qop", "auth"),
        ("sip_auth_cnonce", "0a4f113b"),
        ("sip_auth_nc", "00000001"),
        ("sip_auth_response", "6629fae49393a05397450978507c4ef1"),
        ("sip_auth_method", "REGISTER"),
        ("key", "id"),
        ("user", user),
        ("domain", domain),
        ("ip", "192.168.10.57"),
    ]
    return [(k, changes.get(k, v)) for k, v in fields]


def user_call_form(user: str, domain: str = DOMAIN) -> list[tuple[str, str]]:
    """The form for a bridge to user/<id>@<domain> (mod_dptools user_outgoing_channel)."""
    return [
        ("hostname", "vcbox"), ("section", "directory"), ("tag_name", "domain"),
        ("key_name", "name"), ("key_value", domain), ("Event-Name", "REQUEST_PARAMS"),
        ("Core-UUID", "5f1d2f6e-9a43-4c1e-8d0a-1b2c3d4e5f60"),
        ("FreeSWITCH-Hostname", "vcbox"), ("Event-Calling-File", "mod_dptools.c"),
        ("Event-Calling-Function", "user_outgoing_channel"),
        ("Event-Calling-Line-Number", "3560"), ("as_channel", "true"),
        ("action", "user_call"), ("key", "id"), ("user", user), ("domain", domain),
    ]


@dataclass
class Gateway:
    server: Server
    password: str      # xml_curl_password
    admin: Client

    def post(self, form: list[tuple[str, str]], auth: tuple[str, str] | None = None,
             headers: dict[str, str] | None = None) -> requests.Response:
        # As mod_xml_curl sends it: a urlencoded POST with basic credentials.
        auth = ("freeswitch", self.password) if auth is None else auth
        return requests.post(self.server.url + "/freeswitch/xml", data=urlencode(form),
                             auth=auth or None, timeout=10, headers={
                                 "Content-Type": "application/x-www-form-urlencoded",
                                 "User-Agent": "freeswitch-xml/1.0", **(headers or {})})


@contextmanager
def gateway_server(folder: Path) -> Iterator[Gateway]:
    """A licensed server with an administrator (no FreeSWITCH: its event socket is
    absent, so account changes log their skipped flushes)."""
    keys = make_keys(folder)
    srv = make_server(folder, vcbox_directory_port=str(free_port()), **keys.env)
    srv.start()
    try:
        create_admin(srv.url)
        admin = srv.client()
        admin.cookies.set("vcbox_lang", "en")
        assert admin.login().status_code == 200
        activate(admin, keys)
        docs = Documents(srv.data / "documents.json")
        try:
            password = secrets.ensure(docs)["xml_curl_password"]
        finally:
            docs.close()
        yield Gateway(srv, password, admin)
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    with gateway_server(tmp_path_factory.mktemp("xml_curl")) as gw:
        yield gw


@pytest.fixture
def gw(gateway: Gateway) -> Iterator[Gateway]:
    yield gateway
    numbers = [a["account"] for a in
               gateway.admin.get("/api/v1/accounts", params={"limit": 1000}).json()["items"]]
    if numbers:
        gateway.admin.post("/api/v1/accounts/delete", json={"accounts": numbers})


def create(gw: Gateway, account: str, name: str) -> str:
    res = gw.admin.post("/api/v1/accounts", json={"name": name, "account": account,
                                                  "email": f"u{account}@example.com"})
    assert res.status_code == 201, res.text
    return res.json()["password"]


def parse(res: requests.Response) -> ET.Element:
    assert res.status_code == 200, res.text
    assert res.headers["Content-Type"].startswith("text/xml")
    doc = ET.fromstring(res.content)
    assert doc.tag == "document" and doc.get("type") == "freeswitch/xml"
    return doc


def is_not_found(res: requests.Response) -> bool:
    doc = parse(res)
    result = doc.find("./section[@name='result']/result")
    return result is not None and result.get("status") == "not found"


def user_of(doc: ET.Element) -> ET.Element:
    [domain] = doc.findall("./section[@name='directory']/domain")
    assert domain.get("name") == DOMAIN
    params = {p.get("name"): p.get("value") for p in domain.findall("./params/param")}
    assert "sofia_contact(*/${dialed_user}@${dialed_domain})" in params["dial-string"]
    [user] = domain.findall("./groups/group/users/user")
    return user


def params_of(user: ET.Element) -> dict[str, str]:
    return {p.get("name"): p.get("value") for p in user.findall("./params/param")}


def variables_of(user: ET.Element) -> dict[str, str]:
    return {v.get("name"): v.get("value") for v in user.findall("./variables/variable")}


def test_registration_lookup_answers_the_a1_hash(gw: Gateway) -> None:
    password = create(gw, "1001", "Alice Wang")
    res = gw.post(sip_auth_form("1001"))
    user = user_of(parse(res))
    assert user.get("id") == "1001"
    params = params_of(user)
    assert params == {
        "a1-hash": hashlib.md5(f"1001:{DOMAIN}:{password}".encode()).hexdigest(),
        "max-registrations-per-extension": "5"}
    assert "password" not in params and password not in res.text
    assert variables_of(user) == {"user_context": "default",
                                  "effective_caller_id_name": "Alice Wang",
                                  "effective_caller_id_number": "1001"}
    # A call bridged to the user gets the same entry.
    assert params_of(user_of(parse(gw.post(user_call_form("1001"))))) == params


def test_everything_else_is_not_found(gw: Gateway) -> None:
    create(gw, "1001", "Alice")
    assert is_not_found(gw.post(sip_auth_form("1002")))                  # unknown user
    assert is_not_found(gw.post(sip_auth_form("1001", at="other.example")))
    assert is_not_found(gw.post(sip_auth_form("1001", user="")))
    for section in ("configuration", "phrases"):
        assert is_not_found(gw.post(sip_auth_form("1001", section=section)))
    # sofia's scans of the whole directory at profile start.
    scan = [("hostname", "vcbox"), ("section", "directory"), ("tag_name", ""),
            ("key_name", ""), ("key_value", ""), ("Event-Name", "REQUEST_PARAMS"),
            ("purpose", "gateways"), ("profile", "internal")]
    assert is_not_found(gw.post(scan))
    assert is_not_found(gw.post([]))


def test_credentials_and_loopback_are_required(gw: Gateway) -> None:
    create(gw, "1001", "Alice")
    form = sip_auth_form("1001")
    for auth in (("", ""), ("freeswitch", "wrong"), ("admin", gw.password),
                 ("freeswitch", gw.password[:-1])):
        res = gw.post(form, auth=auth)
        assert res.status_code == 401, auth
        assert res.headers["WWW-Authenticate"].startswith("Basic ")
        assert "a1-hash" not in res.text
    res = requests.post(gw.server.url + "/freeswitch/xml", data=form, timeout=10)
    assert res.status_code == 401 and res.headers["WWW-Authenticate"].startswith("Basic ")
    # The admin's browser session is no substitute.
    res = gw.admin.post("/freeswitch/xml", data=form)
    assert res.status_code == 401
    # Through the local nginx (X-Real-IP is the real client): refused, even with the secret.
    res = gw.post(form, headers={"X-Real-IP": "203.0.113.7"})
    assert res.status_code == 403 and "a1-hash" not in res.text
    assert gw.post(form, headers={"X-Real-IP": "127.0.0.1"}).status_code == 200


def test_directory_entries_are_cacheable_for_a_bounded_time(gw: Gateway) -> None:
    create(gw, "1003", "Carol")
    user = user_of(parse(gw.post(sip_auth_form("1003"))))
    assert user.get("cacheable") == str(USER_CACHE_MS)


def test_many_lookups_on_one_keep_alive_connection(gw: Gateway) -> None:
    create(gw, "1001", "Alice")
    body = urlencode(sip_auth_form("1001")).encode()
    token = base64.b64encode(f"freeswitch:{gw.password}".encode()).decode()
    headers = {"Content-Type": "application/x-www-form-urlencoded",
               "Authorization": f"Basic {token}"}
    conn = http.client.HTTPConnection("127.0.0.1", gw.server.port, timeout=10)
    try:
        for _ in range(200):
            conn.request("POST", "/freeswitch/xml", body=body, headers=headers)
            res = conn.getresponse()
            assert res.status == 200 and b"a1-hash" in res.read()
    finally:
        conn.close()
    # How many per second: bench/accounts.py (speed is measured there, not in tests).


def test_user_document_escapes_what_it_quotes() -> None:
    item = Account("1001", 'A&B <"x"> \'y\'', "", 0.0, 'd&"<>', "0" * 32)
    doc = ET.fromstring(user_document('d&"<>', item.account, item.name,
                                      item.a1_hash).encode())
    domain = doc.find("./section/domain")
    assert domain.get("name") == 'd&"<>'
    user = domain.find("./groups/group/users/user")
    assert variables_of(user)["effective_caller_id_name"] == 'A&B <"x"> \'y\''


def test_the_rendered_gateway_config_points_here(gw: Gateway) -> None:
    # xml_curl.conf.xml as the control plane renders it for FreeSWITCH: its URL and
    # credentials are the ones this endpoint checks.
    path = gw.server.data / "root" / "etc/freeswitch/autoload_configs/xml_curl.conf.xml"
    if not path.exists():
        res = gw.admin.put("/api/v1/settings/call", json={"polling_interval_s": 11})
        assert res.status_code == 200, res.text
    conf = ET.parse(path).getroot()
    params = {p.get("name"): p.get("value") for p in conf.iter("param")}
    # FreeSWITCH asks the dedicated gateway listener, not the web port.
    directory_port = gw.server.env["VCBOX_DIRECTORY_PORT"]
    assert params["gateway-url"] == f"http://127.0.0.1:{directory_port}/freeswitch/xml"
    user, _, password = params["gateway-credentials"].partition(":")
    assert (user, password) == ("freeswitch", gw.password)
    assert params["auth-scheme"] == "basic"
    assert Path(path).stat().st_mode & 0o077 == 0  # the secret is not world-readable


def test_the_gateway_listener_answers_like_the_web_routes(gw: Gateway) -> None:
    password = create(gw, "1002", "Bob Li")
    body = urlencode(sip_auth_form("1002"))
    token = base64.b64encode(f"freeswitch:{gw.password}".encode()).decode()
    headers = {"Content-Type": "application/x-www-form-urlencoded",
               "Authorization": f"Basic {token}"}
    conn = http.client.HTTPConnection("127.0.0.1", int(gw.server.env["VCBOX_DIRECTORY_PORT"]),
                                      timeout=10)
    try:
        answers = []
        for _ in range(3):  # keep-alive: several lookups on one connection
            conn.request("POST", "/freeswitch/xml", body=body, headers=headers)
            res = conn.getresponse()
            answers.append((res.status, res.read()))
        web = gw.post(sip_auth_form("1002"))
        assert answers == [(200, web.content)] * 3
        a1 = hashlib.md5(f"1002:{DOMAIN}:{password}".encode()).hexdigest()
        assert a1.encode() in answers[0][1]
        for method, path, extra, status in (
                ("POST", "/freeswitch/xml", {"Authorization": "Basic eDp5"}, 401),
                ("POST", "/freeswitch/xml", {"X-Real-IP": "192.0.2.7"}, 403),
                ("POST", "/other", {}, 404),
                ("GET", "/other", {}, 404),
                ("GET", "/freeswitch/xml", {}, 405),
                ("POST", "/freeswitch/cdr", {"Authorization": "Basic eDp5"}, 401),
                ("POST", "/freeswitch/cdr", {}, 400)):  # a form: not a call record
            conn = http.client.HTTPConnection(
                "127.0.0.1", int(gw.server.env["VCBOX_DIRECTORY_PORT"]), timeout=10)
            conn.request(method, path, body=body if method == "POST" else None,
                         headers={**headers, **extra})
            assert conn.getresponse().status == status, (method, path, extra)
            conn.close()
        # mod_json_cdr's record over the same listener, and bodies over a route's limit
        record = (b'{"variables":{"uuid":"7a1c4e2b-0000-4c5d-8e9f-a1b2c3d4e5f6",'
                  b'"caller_id":"\\"Bob\\" <1002>"}}')
        conn = http.client.HTTPConnection(
            "127.0.0.1", int(gw.server.env["VCBOX_DIRECTORY_PORT"]), timeout=10)
        conn.request("POST", "/freeswitch/cdr", body=record, headers=headers)
        assert conn.getresponse().status == 200
        conn.close()
        for path, limit in (("/freeswitch/xml", MAX_FORM_BYTES),
                            ("/freeswitch/cdr", MAX_RECORD_BYTES)):
            # refused on its Content-Length, before the body is sent
            with socket.create_connection(
                    ("127.0.0.1", int(gw.server.env["VCBOX_DIRECTORY_PORT"])), 10) as raw:
                raw.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\n"
                            f"Content-Length: {limit + 1}\r\n\r\n".encode())
                assert raw.recv(100).startswith(b"HTTP/1.1 413 "), path
        kept = CdrInbox(gw.server.data).get("7a1c4e2b-0000-4c5d-8e9f-a1b2c3d4e5f6")
        assert kept is not None and kept["variables"]["caller_id"] == '"Bob" <1002>'
    finally:
        conn.close()


def test_form_fields_takes_whole_names_and_the_first_occurrence() -> None:
    fields = form_fields(b"user=1001&sip_auth_username=9&x_user=2&user=3&domain=a%40b.c"
                         b"&section=directory&key_value=k+v")
    assert fields == {"user": "1001", "domain": "a@b.c", "section": "directory",
                      "key_value": "k v"}
    assert form_fields(b"") == {}
