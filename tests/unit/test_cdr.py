"""The CDR inbox (controlplane/cdr.py): records as FreeSWITCH 1.10 writes them, once per
call, hostile input refused with nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.cdr import MAX_RECORD_BYTES, BadRecord, CdrInbox

UUID = "69aa1c98-7ae5-4c8f-8d98-b736d531ba80"
# As mod_json_cdr 1.10.12 posts it with encode=false, encode-values=false: cJSON's
# escapes for CR/LF and quotes, UTF-8 as is.
RAW = ('{"core-uuid":"110a","variables":{"uuid":"' + UUID + '","switch_r_sdp":"v=0\\r\\n'
       'o=- 1 2 IN IP4 127.0.0.1\\r\\n","caller_id":"\\"2010\\" <2010>",'
       '"caller_id_name":"张三","billsec":"3"},'
       '"callflow":[{"caller_profile":{"destination_number":"2011"}}]}').encode()


def test_a_record_as_freeswitch_writes_it_is_kept(tmp_path: Path) -> None:
    inbox = CdrInbox(tmp_path)
    assert inbox.put(RAW) == (UUID, True)
    record = inbox.get(UUID)
    assert record["variables"]["caller_id"] == '"2010" <2010>'
    assert record["variables"]["switch_r_sdp"].startswith("v=0\r\no=")
    assert record["variables"]["caller_id_name"] == "张三"
    assert record["callflow"][0]["caller_profile"]["destination_number"] == "2011"
    # Stored as posted.
    assert (tmp_path / "cdr" / "inbox" / f"{UUID}.json").read_bytes() == RAW


def test_a_record_posted_twice_is_kept_once(tmp_path: Path) -> None:
    inbox = CdrInbox(tmp_path)
    inbox.put(RAW)
    assert inbox.put(RAW.replace(b'"billsec":"3"', b'"billsec":"9"')) == (UUID, False)
    assert inbox.get(UUID)["variables"]["billsec"] == "3"
    assert inbox.uuids() == [UUID]
    assert [p.name for p in (tmp_path / "cdr" / "inbox").iterdir()] == [f"{UUID}.json"]


@pytest.mark.parametrize("text", [
    b"", b"not json", b"[]", b'{"variables": {}}', b'{"variables": {"uuid": "../../etc"}}',
    b'{"variables": {"uuid": 5}}', b"x" * (MAX_RECORD_BYTES + 1),
    # bare quotes: not JSON (what encode=true made of the values, now refused)
    b'{"variables": {"uuid": "' + UUID.encode() + b'", "caller_id": ""2010" <2010>"}}',
    b"\xff\xfe{}"])
def test_what_is_not_a_record_is_refused_with_nothing_written(tmp_path: Path, text) -> None:
    with pytest.raises(BadRecord):
        CdrInbox(tmp_path).put(text)
    assert not (tmp_path / "cdr" / "inbox").exists() or not any(
        (tmp_path / "cdr" / "inbox").iterdir())
