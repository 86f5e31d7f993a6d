"""Who is online (controlplane.presence): the device models of the guide from their
User-Agents, FreeSWITCH's registration listing, and the state its events keep. The real
FreeSWITCH's words are checked in tests/integration/test_presence_real.py."""

from __future__ import annotations

from controlplane import presence
from controlplane.drivers.esl import EslEvent

LISTING = """
Registrations:
=================================================================================================
Call-ID:    \tabc-1@10.0.0.5
User:       \t3001@vc.example.com
Contact:    \t"3001" <sip:3001@10.0.0.5:5062;transport=tcp;fs_nat=no>
Agent:      \tYealink VC400 63.345.0.40 & more
Status:     \tRegistered(TCP)(unknown) EXP(2026-12-03 07:00:00) EXPSECS(118)
Ping-Status:\tReachable
Host:       \tvcbox
IP:         \t10.0.0.5
Port:       \t5062
Auth-User:  \t3001
Auth-Realm: \tvc.example.com
MWI-Account:\t3001@vc.example.com

Call-ID:    \tdef-2
User:       \t3002@vc.example.com
Contact:    \t"" <sip:3002@10.0.0.6:5060>
Agent:      \tSomePhone/1.0
Status:     \tRegistered(UDP)(unknown) EXP(2026-12-03 07:00:00) EXPSECS(30)
Host:       \tvcbox
IP:         \t10.0.0.6
Port:       \t5060

Total items returned: 2
=================================================================================================
"""


def test_the_guide_models_and_their_versions_come_from_the_user_agent() -> None:
    assert presence.device_of("Yealink VC400 63.345.0.40") == ("VC400", "63.345.0.40")
    assert presence.device_of("Yealink VC120 63.30.0.5") == ("VC120", "63.30.0.5")
    assert presence.device_of("Yealink VC110 40.23.0.70") == ("VC110", "40.23.0.70")
    assert presence.device_of("Yealink VC Desktop 1.28.0.22") == ("VC Desktop", "1.28.0.22")
    assert presence.device_of("Yealink SIP-VP-T49G 51.80.0.100") == ("VP-T49", "51.80.0.100")
    # Anything else is shown as it was sent.
    assert presence.device_of("baresip v3.10.1 (x86_64/linux)") == (
        "baresip v3.10.1 (x86_64/linux)", "")
    assert presence.device_of("") == ("", "")


def test_the_listing_gives_each_registration_with_its_time_left() -> None:
    first, second = presence.parse_registrations(LISTING, now=1000.0)
    assert (first.call_id, first.account, first.realm) == (
        "abc-1@10.0.0.5", "3001", "vc.example.com")
    assert (first.model, first.version, first.ip, first.port, first.transport) == (
        "VC400", "63.345.0.40", "10.0.0.5", "5062", "TCP")
    assert first.expires_at == 1118.0
    assert (second.account, second.transport, second.expires_at) == ("3002", "UDP", 1030.0)
    assert second.model == "SomePhone/1.0"
    assert presence.parse_registrations("\n0 total.\n", 0) == []


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Esl:
    """Answers the registration listing (what the real one says is tested elsewhere)."""

    def __init__(self, listing: str) -> None:
        self.listing = listing

    def api(self, command: str, timeout: float | None = None) -> str:
        assert command == "sofia status profile internal reg"
        return self.listing


def event(name: str, **headers: str) -> EslEvent:
    return EslEvent({"Event-Name": "CUSTOM", "Event-Subclass": name,
                     "profile-name": "internal", **headers})


def test_events_keep_the_devices_and_an_expired_one_goes_at_once() -> None:
    clock = Clock()
    seen: list[str] = []
    state = presence.Presence(Esl(LISTING), clock=clock)
    state.on_change.append(seen.append)
    state.refresh()
    assert state.synced and sorted(state.by_account()) == ["3001", "3002"]
    assert sorted(seen) == ["3001", "3002"]
    # A second device of 3001 registers; 3002 un-registers.
    state._on_event(event("sofia::register", **{
        "call-id": "xyz-3", "from-user": "3001", "from-host": "vc.example.com",
        "user-agent": "Yealink VC Desktop 1.28.0.22", "network-ip": "10.0.0.9",
        "network-port": "5060", "expires": "60", "contact": "<sip:3001@10.0.0.9>"}))
    state._on_event(event("sofia::unregister", **{"call-id": "def-2", "from-user": "3002"}))
    # An un-REGISTER sent in a new dialog names the address, not the call-id.
    state._on_event(event("sofia::unregister", **{
        "call-id": "other", "from-user": "3001", "network-ip": "10.0.0.7",
        "network-port": "5060"}))
    devices = state.by_account()
    assert list(devices) == ["3001"]
    assert [d.model for d in devices["3001"]] == ["VC400", "VC Desktop"]
    assert state.model_of("3001") == "VC400"
    # Another profile's events are not this one's.
    state._on_event(event("sofia::register", **{
        "profile-name": "external", "call-id": "e-1", "from-user": "9", "expires": "60"}))
    assert list(state.by_account()) == ["3001"]
    # The VC Desktop's 60 s run out (FreeSWITCH would say so up to half a minute later).
    clock.now += 61
    assert [d.model for d in state.devices()] == ["VC400"]
    state._on_event(event("sofia::expire", **{"call-id": "abc-1@10.0.0.5", "user": "3001"}))
    assert state.devices() == []
    # A refresh keeps the time a device already known registered.
    state.refresh()
    assert {d.registered_at for d in state.devices()} == {clock.now}


def test_a_register_in_a_new_dialog_from_the_same_address_replaces_the_old_one() -> None:
    """FreeSWITCH keeps one registration a contact: a terminal that registers again in a
    new dialog (it restarted, or FreeSWITCH did) is one device, not two (found by
    tests/reliability/test_freeswitch_kill.py)."""
    state = presence.Presence(Esl(LISTING), clock=Clock())
    state.refresh()
    state._on_event(event("sofia::register", **{
        "call-id": "abc-9", "from-user": "3001", "from-host": "vc.example.com",
        "user-agent": "Yealink VC400 63.345.0.40", "network-ip": "10.0.0.5",
        "network-port": "5062", "expires": "60"}))
    # Another address of the same account is another device.
    state._on_event(event("sofia::register", **{
        "call-id": "abc-10", "from-user": "3001", "from-host": "vc.example.com",
        "user-agent": "Yealink VC Desktop 1.28.0.22", "network-ip": "10.0.0.9",
        "network-port": "5062", "expires": "60"}))
    assert sorted(d.call_id for d in state.by_account()["3001"]) == ["abc-10", "abc-9"]
