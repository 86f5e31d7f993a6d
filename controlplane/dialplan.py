"""FreeSWITCH's dialplan, answered live over mod_xml_curl (DESIGN D4): what a dialled
number does, decided at call time from the store (no reloadxml when an account or a
meeting changes).

In the "default" context (the one the directory gives every authenticated account):
- a 4-digit account number (E2) rings all of that account's registered devices
  (`user/<account>@<domain>`); no registered device: 480 Temporarily Unavailable; a busy
  or declining callee gives its own answer (486, 603) through the bridge's cause;
- a meeting ID (Q3) joins that meeting's conference; `ID**password` joins without the
  password prompt when the password is right; a wrong or missing one gets the prompt
  (mod_conference's pin prompt: 3 tries, then goodbye);
- the IVR access number asks for a meeting ID (# ends it) and transfers to the "vcbox_ivr"
  context as `m<digits>`, answered here again: a meeting joins as above, anything else
  is "not valid" and asked again, 3 tries in all;
- the Meet Now number starts an instant meeting of the caller and tells its new ID;
- anything else is answered 404 Not Found.

In the "vcbox_web" context (FreeSWITCH's loopback-only profile of the browser joins, which
Janus's SIP plugin calls: controlplane.web_join), a meeting ID joins that meeting only with
the one-time join token the control plane minted for it (X-Vcbox-Join), without the
password prompt and under the token's display name; everything else there is refused (403).

Before a meeting is joined: without a valid license the caller hears that the service is
not licensed (L4); a scheduled meeting before start - early join (C4) tells its start
time, after its end that it has ended; over the licensed concurrency (calls counted by
FreeSWITCH's limit) the call is answered without video (audio-only, L4). Prompts come from
vcbox's own files (controlplane.prompts) in the C5 language.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import quoteattr

from controlplane import meetings as mtg

CONTEXT = "default"
IVR_CONTEXT = "vcbox_ivr"
# Where FreeSWITCH's limit sends a call over the licensed concurrency (L4): "a<dialled>".
AUDIO_CONTEXT = "vcbox_audio"
# Browser joins through Janus (sip_profiles/vcbox_web.xml).
WEB_CONTEXT = "vcbox_web"
# FreeSWITCH counts the calls (mod_hash's limit, released at hangup): every meeting
# participant and every P2P call's caller is one; max -1 counts without a limit.
LIMIT = "hash vcbox calls"
IVR_TRIES = 3
# Bridge failures after which the call goes on to the 480 below; other causes (busy,
# declined) end the call with the callee's own answer.
UNREACHABLE_CAUSES = "USER_NOT_REGISTERED,SUBSCRIBER_ABSENT,NO_USER_RESPONSE"
# Audio-only calls (over the licensed concurrency): the answer offers these codecs only.
AUDIO_CODECS = "OPUS,G722,PCMA,PCMU"
# mod_conference profiles (conference.conf.xml) by meeting layout.
PROFILES = {"equal": "default", "1+n": "one_plus_n"}
PIN_SEPARATOR = "**"

Actions = list[tuple[str, str]]


@dataclass(frozen=True)
class Call:
    """One dialplan lookup: what was dialled, where, by whom."""

    context: str
    destination: str
    caller: str = ""   # the authenticated account (variable_user_name)
    tries: int = 0     # IVR attempts so far (variable_vcbox_tries)
    join_token: str = ""  # a browser join's token (variable_sip_h_X-Vcbox-Join)


@dataclass
class Site:
    """What routing reads from the rest of the control plane."""

    domain: Callable[[], str]
    is_account: Callable[[str], bool]
    find_meeting: Callable[[str], Mapping[str, Any] | None] = lambda _id: None
    call_settings: Callable[[], Mapping[str, Any]] = dict
    licensed_calls: Callable[[], int] = lambda: 0   # 0: no valid license
    now: Callable[[], dt.datetime] = dt.datetime.now
    start_instant: Callable[[str], Mapping[str, Any]] | None = None
    account_name: Callable[[str], str] = lambda _account: ""
    # A browser join's token for a meeting ID -> its grant (name, number), once; or None.
    redeem_join: Callable[[str, str], Any] = lambda _token, _meeting_id: None


def _document(context: str, name: str, destination: str, actions: Actions) -> str:
    body = "".join(f"          <action application={quoteattr(app)} data={quoteattr(data)}/>\n"
                   for app, data in actions)
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n'
        '<document type="freeswitch/xml">\n'
        '  <section name="dialplan" description="vcbox">\n'
        f"    <context name={quoteattr(context)}>\n"
        f"      <extension name={quoteattr(name)}>\n"
        f'        <condition field="destination_number" '
        f"expression={quoteattr('^' + _literal(destination) + '$')}>\n"
        f"{body}"
        "        </condition>\n"
        "      </extension>\n"
        "    </context>\n"
        "  </section>\n"
        "</document>\n"
    )


def _literal(text: str) -> str:
    """A regular expression matching exactly `text` (PCRE metacharacters escaped)."""
    return "".join("\\" + c if not c.isalnum() else c for c in text)


def _language(settings: Mapping[str, Any]) -> str:
    return "en" if settings.get("ivr_language") == "en" else "zh"


def _prompts(settings: Mapping[str, Any]) -> Actions:
    """Answer, with the C5 language's prompts (a change applies to the next call)."""
    return [("set", f"sound_prefix=${{sounds_dir}}/vcbox/{_language(settings)}"),
            ("answer", ""), ("sleep", "500")]


def _goodbye() -> Actions:
    return [("playback", "ivr/goodbye.wav"), ("hangup", "NORMAL_CLEARING")]


def _say_time(language: str, moment: dt.datetime) -> Actions:
    hour, minute = moment.hour, moment.minute
    if language == "zh":  # 十点三十分
        return [("say", f"zh number pronounced {hour}"), ("playback", "ivr/hour.wav"),
                ("say", f"zh number pronounced {minute}"), ("playback", "ivr/minute.wav")]
    if minute == 0:  # ten o'clock
        return [("say", f"en number pronounced {hour}"), ("playback", "ivr/hour.wav")]
    return [("say", f"en number pronounced {hour}"),  # ten thirty
            ("say", f"en number pronounced {minute}")]


def _no_dollar(text: str) -> str:
    """Text for a set's value: printable, no $ (FreeSWITCH would expand it)."""
    return "".join(ch for ch in text if ch.isprintable()).replace("$", "＄")[:200]


def record_variables(meeting: Mapping[str, Any]) -> Actions:
    """What the call records read from this leg's CDR (controlplane.call_records): the
    meeting as it is held, whatever becomes of it later."""
    return [("set", f"vcbox_meeting_kind={meeting.get('kind', 'instant')}"),
            ("set", f"vcbox_organizer={meeting.get('organizer', '')}"),
            ("set", "vcbox_subject=" + _no_dollar(str(meeting.get("subject", ""))))]


def _join(site: Site, meeting: Mapping[str, Any], pin: str | None, dialled: str,
          audio_only: bool = False) -> Actions:
    """Admit the caller into the meeting's conference, or tell why not."""
    settings = site.call_settings()
    language = _language(settings)
    if site.licensed_calls() <= 0:
        return [*_prompts(settings), ("playback", "ivr/not-licensed.wav"), *_goodbye()]
    state = mtg.admission(meeting, site.now(), int(settings.get("early_join_min", 10)))
    if state == "early":
        start = dt.datetime.fromisoformat(meeting["start"])
        return [*_prompts(settings), ("playback", "ivr/not-started.wav"),
                *_say_time(language, start), *_goodbye()]
    if state == "ended":
        return [*_prompts(settings), ("playback", "ivr/meeting-ended.wav"), *_goodbye()]
    actions: Actions = [("set", f"vcbox_meeting={meeting['id']}"), *record_variables(meeting)]
    if audio_only:  # before the answer: late negotiation takes this codec list
        actions += [("set", f"absolute_codec_string={AUDIO_CODECS}"),
                    ("set", "vcbox_audio_only=true")]
    else:  # over the licensed calls, FreeSWITCH sends the call to the audio-only join
        actions.append(("limit", f"{LIMIT} {site.licensed_calls()} a{dialled} XML "
                                 f"{AUDIO_CONTEXT}"))
    actions += _prompts(settings)
    if audio_only:
        actions.append(("playback", "ivr/audio-only.wav"))
    target = f"{meeting['id']}@{PROFILES.get(meeting.get('layout', 'equal'), 'default')}"
    password = meeting.get("password") or ""
    if password:
        if pin == password:  # dialled ID**password: no prompt
            actions.append(("set", "conference_enforce_security=false"))
        target += f"+{password}"
    actions += [("conference", target), *_goodbye()]
    return actions


def _ask_for_meeting_id(tries: int) -> Actions:
    # min max tries timeout terminators prompt invalid-prompt var regexp digit-timeout
    return [("set", f"vcbox_tries={tries}"), ("unset", "vcbox_digits"),
            ("play_and_get_digits", "1 10 1 8000 # ivr/enter-meeting-id.wav silence_stream://"
             "250 vcbox_digits ^[0-9]+$ 5000"),
            ("transfer", f"m${{vcbox_digits}} XML {IVR_CONTEXT}")]


def route(call: Call, site: Site) -> str:
    """The dialplan document for one call."""
    destination = call.destination
    if call.context == CONTEXT:
        settings = site.call_settings()
        if site.is_account(destination):
            return _document(call.context, f"account-{destination}", destination, [
                ("limit", f"{LIMIT} -1"),
                ("set", f"vcbox_callee_name={_no_dollar(site.account_name(destination))}"),
                ("set", "hangup_after_bridge=true"),
                ("set", f"continue_on_fail={UNREACHABLE_CAUSES}"),
                ("set", "call_timeout=60"),
                ("bridge", f"user/{destination}@{site.domain()}"),
                ("respond", "480 Temporarily Unavailable"),
            ])
        if destination and destination == settings.get("ivr_number"):
            return _document(call.context, "ivr", destination, [
                *_prompts(settings), ("playback", "ivr/welcome.wav"),
                *_ask_for_meeting_id(1)])
        if destination and destination == settings.get("meet_now_number"):
            return _document(call.context, "meet-now", destination,
                             _meet_now(site, call.caller))
        meeting_id, _, pin = destination.partition(PIN_SEPARATOR)
        meeting = site.find_meeting(meeting_id) if meeting_id.isdigit() else None
        if meeting is not None:
            return _document(call.context, f"meeting-{meeting_id}", destination,
                             _join(site, meeting, pin if _ else None, destination))
    elif call.context == IVR_CONTEXT and destination.startswith("m"):
        digits = destination[1:]
        meeting = site.find_meeting(digits) if digits.isdigit() else None
        if meeting is not None:
            return _document(call.context, f"ivr-meeting-{digits}", destination,
                             _join(site, meeting, None, digits))
        actions: Actions = [("playback", "ivr/invalid-meeting-id.wav")] if digits else []
        if call.tries < IVR_TRIES:
            actions += _ask_for_meeting_id(call.tries + 1)
        else:
            actions += _goodbye()
        return _document(call.context, "ivr-retry", destination, actions)
    elif call.context == WEB_CONTEXT:
        grant = site.redeem_join(call.join_token, destination) if destination.isdigit() \
            else None
        meeting = site.find_meeting(destination) if grant is not None else None
        if meeting is not None:
            return _document(call.context, f"web-{destination}", destination,
                             _web_join(site, meeting, grant.name, grant.number))
        return _document(call.context, "web-refused", destination,
                         [("respond", "403 Forbidden")])
    elif call.context == AUDIO_CONTEXT and destination.startswith("a"):
        meeting_id, _, pin = destination[1:].partition(PIN_SEPARATOR)
        meeting = site.find_meeting(meeting_id) if meeting_id.isdigit() else None
        if meeting is not None:
            return _document(call.context, f"audio-only-{meeting_id}", destination,
                             _join(site, meeting, pin if _ else None, destination[1:],
                                   audio_only=True))
    return _document(call.context, "not-found", destination, [("respond", "404 Not Found")])


def _web_join(site: Site, meeting: Mapping[str, Any], name: str, number: str) -> Actions:
    """A browser admitted by the control plane: its display name and number on the member,
    no password prompt (also after an audio-only transfer, the variable stays), then the
    join every caller gets (license count, admission, records)."""
    return [("set_profile_var", f"caller_id_name={_no_dollar(name)}"),
            ("set_profile_var", f"caller_id_number={_no_dollar(number)}"),
            ("set", "conference_enforce_security=false"),
            ("set", "vcbox_web_join=true"),
            *_join(site, meeting, None, meeting["id"])]


def _meet_now(site: Site, caller: str) -> Actions:
    settings = site.call_settings()
    if site.licensed_calls() <= 0:
        return [*_prompts(settings), ("playback", "ivr/not-licensed.wav"), *_goodbye()]
    if site.start_instant is None or not site.is_account(caller):
        return [("respond", "403 Forbidden")]
    meeting = site.start_instant(caller)
    language = _language(settings)
    join = _join(site, meeting, None, meeting["id"])
    at = next(i for i, (app, _) in enumerate(join) if app == "conference")
    return [*join[:at], ("playback", "ivr/your-meeting-id.wav"),
            ("say", f"{language} number iterated {meeting['id']}"), ("sleep", "300"),
            *join[at:]]
