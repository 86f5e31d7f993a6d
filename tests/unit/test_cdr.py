"""The CDR inbox (controlplane/cdr.py): records as FreeSWITCH 1.10 writes them, once per
call, hostile input refused with nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controlplane.cdr import MAX_RECORD_BYTES, BadRecord, CdrInbox, escape_bare_quotes

UUID = "69aa1c98-7ae5-4c8f-8d98-b736d531ba80"
# As mod_json_cdr 1.10.12 writes it (seen in a real call): raw CR/LF and bare quotes.
RAW = ('{"core-uuid":"110a","variables":{"uuid":"' + UUID + '","switch_r_sdp":"v=0\r\n'
       'o=- 1 2 IN IP4 127.0.0.1\r\n","caller_id":""2010" <2010>","billsec":"3"},'
       '"callflow":[{"caller_profile":{"destination_number":"2011"}}]}')


def test_a_record_as_freeswitch_writes_it_is_kept(tmp_path: Path) -> None:
    inbox = CdrInbox(tmp_path)
    assert inbox.put(RAW) == (UUID, True)
    record = inbox.get(UUID)
    assert record["variables"]["caller_id"] == '"2010" <2010>'
    assert record["variables"]["switch_r_sdp"].startswith("v=0\r\no=")
    assert record["callflow"][0]["caller_profile"]["destination_number"] == "2011"
    # Stored as valid JSON.
    json.loads((tmp_path / "cdr" / "inbox" / f"{UUID}.json").read_text())


def test_a_record_posted_twice_is_kept_once(tmp_path: Path) -> None:
    inbox = CdrInbox(tmp_path)
    inbox.put(RAW)
    assert inbox.put(RAW.replace('"billsec":"3"', '"billsec":"9"')) == (UUID, False)
    assert inbox.get(UUID)["variables"]["billsec"] == "3"
    assert inbox.uuids() == [UUID]
    assert [p.name for p in (tmp_path / "cdr" / "inbox").iterdir()] == [f"{UUID}.json"]


@pytest.mark.parametrize("text", [
    "", "not json", "[]", '{"variables": {}}', '{"variables": {"uuid": "../../etc"}}',
    '{"variables": {"uuid": 5}}', "x" * (MAX_RECORD_BYTES + 1)])
def test_what_is_not_a_record_is_refused_with_nothing_written(tmp_path: Path, text) -> None:
    with pytest.raises(BadRecord):
        CdrInbox(tmp_path).put(text)
    assert not (tmp_path / "cdr" / "inbox").exists() or not any(
        (tmp_path / "cdr" / "inbox").iterdir())


def test_bare_quotes_are_escaped_and_valid_json_is_left_alone() -> None:
    assert json.loads(escape_bare_quotes('{"a":""x" <1>","b":"y"}')) == {
        "a": '"x" <1>', "b": "y"}
    valid = '{"a": "q\\"uote", "b": [1, "c"], "d": {"e": ""}}'
    assert escape_bare_quotes(valid) == valid
