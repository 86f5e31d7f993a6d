"""The live dialplan (controlplane/dialplan.py): what FreeSWITCH is told a dialled
number does."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from controlplane import dialplan


def actions(document: str) -> list[tuple[str, str]]:
    root = ET.fromstring(document)
    return [(a.get("application"), a.get("data")) for a in root.iter("action")]


def test_an_account_rings_its_devices_and_answers_480_when_none_is_registered() -> None:
    doc = dialplan.route("default", "1001", "vcbox.local", {"1001"}.__contains__)
    root = ET.fromstring(doc)
    assert root.find("section").get("name") == "dialplan"
    assert root.find(".//context").get("name") == "default"
    assert root.find(".//condition").get("expression") == "^1001$"
    steps = actions(doc)
    assert ("bridge", "user/1001@vcbox.local") in steps
    assert steps[-1] == ("respond", "480 Temporarily Unavailable")
    assert ("set", f"continue_on_fail={dialplan.UNREACHABLE_CAUSES}") in steps


def test_anything_else_is_404() -> None:
    for context, number in [("default", "1999"), ("public", "1001"), ("default", "")]:
        doc = dialplan.route(context, number, "vcbox.local", {"1001"}.__contains__)
        assert actions(doc) == [("respond", "404 Not Found")]


def test_a_hostile_number_stays_a_literal() -> None:
    number = '1.*"/><action application="system" data="x'
    doc = dialplan.route("default", number, "d", lambda n: False)
    root = ET.fromstring(doc)
    assert actions(doc) == [("respond", "404 Not Found")]
    assert root.find(".//condition").get("expression") == (
        "^1\\.\\*\\\"\\/\\>\\<action\\ application\\=\\\"system\\\"\\ data\\=\\\"x$")
