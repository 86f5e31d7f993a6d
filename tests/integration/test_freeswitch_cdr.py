"""POST /freeswitch/cdr (mod_json_cdr's call records): only this host's FreeSWITCH with
the rendered credentials; each call kept once in the CDR inbox; what is not a record is
refused (FreeSWITCH then keeps it in its err-log-dir). The real FreeSWITCH posting a real
call's record is in test_freeswitch_real.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from controlplane import secrets
from controlplane.cdr import CdrInbox
from controlplane.store import Documents
from tests.conftest import Server, configured_server

UUID = "0c6f3f4e-1a2b-4c5d-8e9f-a1b2c3d4e5f6"
RECORD = ('{"variables":{"uuid":"' + UUID + '","caller_id":"\\"Alice\\" <1001>",'
          '"billsec":"12"}}')


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with configured_server(tmp_path_factory.mktemp("cdr")) as server:
        yield server


def password(srv: Server) -> str:
    docs = Documents(srv.data / "documents.json")
    try:
        return secrets.ensure(docs)["xml_curl_password"]
    finally:
        docs.close()


def post(srv: Server, body: str, auth: tuple[str, str] | None, **headers: str
         ) -> requests.Response:
    # As mod_json_cdr sends it (encode=false): the JSON as the body.
    return requests.post(srv.url + "/freeswitch/cdr", data=body.encode(), auth=auth,
                         timeout=10, headers={"Content-Type": "application/json", **headers})


def test_a_record_is_kept_once(srv: Server) -> None:
    auth = ("freeswitch", password(srv))
    assert post(srv, RECORD, auth).status_code == 200
    assert post(srv, RECORD, auth).status_code == 200  # a retry: kept once
    inbox = CdrInbox(srv.data)
    assert inbox.uuids() == [UUID]
    assert inbox.get(UUID)["variables"]["caller_id"] == '"Alice" <1001>'


def test_credentials_and_loopback_are_required(srv: Server) -> None:
    other = RECORD.replace(UUID, "11111111-2222-4333-8444-555555555555")
    assert post(srv, other, None).status_code == 401
    assert post(srv, other, ("freeswitch", "wrong")).status_code == 401
    forwarded = post(srv, other, ("freeswitch", password(srv)), **{"X-Real-IP": "192.0.2.7"})
    assert forwarded.status_code == 403
    assert "11111111-2222-4333-8444-555555555555" not in CdrInbox(srv.data).uuids()


def test_what_is_not_a_record_is_refused(srv: Server) -> None:
    auth = ("freeswitch", password(srv))
    for body in ("not json", '{"variables": {"uuid": "../x"}}', "[]"):
        res = post(srv, body, auth)
        assert res.status_code == 400, (body, res.text)
