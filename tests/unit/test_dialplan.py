"""The live dialplan (controlplane/dialplan.py): what FreeSWITCH is told a dialled
number does. The same documents executed by the real FreeSWITCH: test_meetings_real.py."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from typing import Any

from controlplane import dialplan
from controlplane.dialplan import Call, Site

NOW = dt.datetime(2026, 3, 2, 10, 0)
SETTINGS = {"ivr_language": "zh", "early_join_min": 10, "ivr_number": "90000",
            "meet_now_number": "90001"}
VMR = {"id": "123456", "kind": "vmr", "subject": "Board", "organizer": "1001",
       "password": "", "layout": "equal"}
LOCKED = {**VMR, "id": "234567", "password": "4321", "layout": "1+n"}
LATER = {**VMR, "id": "345678", "kind": "scheduled", "start": "2026-03-02T10:30",
         "duration_min": 60, "participants": [], "rooms": []}
MEETINGS = {m["id"]: m for m in (VMR, LOCKED, LATER)}


def site(**changes: Any) -> Site:
    instants: list[str] = []

    def start_instant(organizer: str) -> dict[str, Any]:
        instants.append(organizer)
        return {**VMR, "id": "765432", "kind": "instant", "organizer": organizer}

    values: dict[str, Any] = dict(
        domain=lambda: "vcbox.local", is_account={"1001", "1002"}.__contains__,
        find_meeting=MEETINGS.get, call_settings=lambda: SETTINGS,
        licensed_calls=lambda: 10, now=lambda: NOW,
        start_instant=start_instant)
    values.update(changes)
    return Site(**values)


def actions(document: str) -> list[tuple[str, str]]:
    root = ET.fromstring(document)
    return [(a.get("application"), a.get("data")) for a in root.iter("action")]


def route(destination: str, context: str = "default", **changes: Any) -> list[tuple[str, str]]:
    tries = changes.pop("tries", 0)
    return actions(dialplan.route(Call(context, destination, "1001", tries), site(**changes)))


def test_an_account_rings_its_devices_and_answers_480_when_none_is_registered() -> None:
    doc = dialplan.route(Call("default", "1001"), site())
    root = ET.fromstring(doc)
    assert root.find("section").get("name") == "dialplan"
    assert root.find(".//context").get("name") == "default"
    assert root.find(".//condition").get("expression") == "^1001$"
    steps = actions(doc)
    assert ("bridge", "user/1001@vcbox.local") in steps
    assert steps[-1] == ("respond", "480 Temporarily Unavailable")
    assert steps[0] == ("limit", "hash vcbox calls -1")
    assert ("set", f"continue_on_fail={dialplan.UNREACHABLE_CAUSES}") in steps


def test_anything_else_is_404() -> None:
    for context, number in [("default", "1999"), ("public", "1001"), ("default", ""),
                            ("public", "123456"), ("vcbox_ivr", "123456"),
                            ("default", "999999"), ("default", "m123456")]:
        assert route(number, context) == [("respond", "404 Not Found")], (context, number)


def test_a_hostile_number_stays_a_literal() -> None:
    number = '1.*"/><action application="system" data="x'
    doc = dialplan.route(Call("default", number), site())
    root = ET.fromstring(doc)
    assert actions(doc) == [("respond", "404 Not Found")]
    assert root.find(".//condition").get("expression") == (
        "^1\\.\\*\\\"\\/\\>\\<action\\ application\\=\\\"system\\\"\\ data\\=\\\"x$")


def test_a_meeting_id_joins_its_conference_in_the_ivr_language() -> None:
    steps = route("123456")
    assert ("set", "sound_prefix=${sounds_dir}/vcbox/zh") in steps
    assert ("conference", "123456@default") in steps
    assert steps.index(("answer", "")) < steps.index(("conference", "123456@default"))
    en = route("123456", call_settings=lambda: {**SETTINGS, "ivr_language": "en"})
    assert ("set", "sound_prefix=${sounds_dir}/vcbox/en") in en


def test_a_password_is_asked_unless_dialled_right() -> None:
    asked = route("234567")
    assert ("conference", "234567@one_plus_n+4321") in asked
    assert ("set", "conference_enforce_security=false") not in asked
    right = route("234567**4321")
    assert ("set", "conference_enforce_security=false") in right
    assert ("conference", "234567@one_plus_n+4321") in right
    wrong = route("234567**1111")
    assert ("set", "conference_enforce_security=false") not in wrong
    assert wrong[-2:] == [("playback", "ivr/goodbye.wav"), ("hangup", "NORMAL_CLEARING")]


def test_a_scheduled_meeting_opens_early_join_minutes_before_its_start() -> None:
    early = route("345678")  # 10:00, start 10:30, early join 10 min
    assert ("playback", "ivr/not-started.wav") in early
    assert ("say", "zh number pronounced 10") in early
    assert ("say", "zh number pronounced 30") in early
    assert not any(app == "conference" for app, _ in early)
    at_early = route("345678", now=lambda: dt.datetime(2026, 3, 2, 10, 20))
    assert ("conference", "345678@default") in at_early
    ended = route("345678", now=lambda: dt.datetime(2026, 3, 2, 11, 30))
    assert ("playback", "ivr/meeting-ended.wav") in ended


def test_without_a_license_the_caller_hears_so() -> None:
    for number in ("123456", "90001"):
        steps = route(number, licensed_calls=lambda: 0)
        assert ("playback", "ivr/not-licensed.wav") in steps
        assert not any(app == "conference" for app, _ in steps)


def test_over_the_licensed_calls_the_answer_is_audio_only() -> None:
    steps = route("234567**4321", licensed_calls=lambda: 2)
    limit = ("limit", "hash vcbox calls 2 a234567**4321 XML vcbox_audio")
    assert limit in steps and steps.index(limit) < steps.index(("answer", ""))
    over = route("a234567**4321", "vcbox_audio", licensed_calls=lambda: 2)
    codecs = ("set", f"absolute_codec_string={dialplan.AUDIO_CODECS}")
    assert codecs in over and over.index(codecs) < over.index(("answer", ""))
    assert ("playback", "ivr/audio-only.wav") in over
    assert ("set", "conference_enforce_security=false") in over  # the pin still counts
    assert not any(app == "limit" for app, _ in over)
    assert route("a999999", "vcbox_audio") == [("respond", "404 Not Found")]
    # P2P calls are counted too (without a limit)
    assert route("1002")[0] == ("limit", "hash vcbox calls -1")


def test_the_ivr_asks_for_an_id_and_retries_three_times() -> None:
    first = route("90000")
    assert ("playback", "ivr/welcome.wav") in first
    assert ("transfer", "m${vcbox_digits} XML vcbox_ivr") in first
    assert ("set", "vcbox_tries=1") in first
    joined = route("m123456", "vcbox_ivr", tries=1)
    assert ("conference", "123456@default") in joined
    again = route("m99", "vcbox_ivr", tries=1)
    assert again[0] == ("playback", "ivr/invalid-meeting-id.wav")
    assert ("set", "vcbox_tries=2") in again
    last = route("m99", "vcbox_ivr", tries=3)
    assert last == [("playback", "ivr/invalid-meeting-id.wav"),
                    ("playback", "ivr/goodbye.wav"), ("hangup", "NORMAL_CLEARING")]
    nothing = route("m", "vcbox_ivr", tries=1)
    assert ("set", "vcbox_tries=2") in nothing and not any(
        data == "ivr/invalid-meeting-id.wav" for _, data in nothing)


def test_meet_now_starts_an_instant_meeting_and_tells_its_id() -> None:
    steps = route("90001")
    said = steps.index(("say", "zh number iterated 765432"))
    assert steps.index(("playback", "ivr/your-meeting-id.wav")) < said
    assert said < steps.index(("conference", "765432@default"))


def web_call(destination: str, token: str, joins: Any) -> list[tuple[str, str]]:
    return actions(dialplan.route(Call(dialplan.WEB_CONTEXT, destination, "", 0, token),
                                  site(redeem_join=joins.redeem)))


def test_a_browser_join_needs_its_one_time_token_for_that_meeting() -> None:
    from controlplane.web_join import WebJoins

    joins = WebJoins()
    token = joins.mint("234567", "Alice 访客", "web")
    steps = web_call("234567", token, joins)
    # admitted by the control plane: no password prompt, the token's name on the member
    assert ("set", "conference_enforce_security=false") in steps
    assert ("set_profile_var", "caller_id_name=Alice 访客") in steps
    assert ("conference", "234567@one_plus_n+4321") in steps
    # counted against the license like any caller (site: 10 licensed calls)
    assert any(app == "limit" and data.startswith("hash vcbox calls 10 ")
               for app, data in steps), steps
    refused = [("respond", "403 Forbidden")]
    assert web_call("234567", token, joins) == refused          # used once
    other = joins.mint("123456", "Bob", "web")
    assert web_call("234567", other, joins) == refused          # another meeting's token
    assert web_call("234567", "", joins) == refused             # none
    assert web_call("1001", joins.mint("1001", "x", "web"), joins) == refused  # no meeting
