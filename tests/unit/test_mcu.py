"""The MCU's figures (controlplane.mcu): Janus's events as its HTTP event handler posts
them (shapes captured from Janus 1.1.2), kept bounded, and the Admin API's sessions and
handles, with no figures at all when Janus cannot be asked."""

from __future__ import annotations

from typing import Any

import pytest

from controlplane import mcu
from controlplane.drivers.janus import JanusError
from controlplane.mcu import BadEvents, McuEvents

S1, S2 = 3038887703231791, 5511
H1, H2, H3 = 1058191475089869, 7001, 7002


def created(session: int) -> dict[str, Any]:
    return {"emitter": "vcbox", "type": 1, "timestamp": 1796316528098369,
            "session_id": session,
            "event": {"name": "created", "transport": {"transport": "janus.transport.http",
                                                       "id": "6117827512811076244"}}}


def ended(session: int, name: str = "destroyed") -> dict[str, Any]:
    return {"emitter": "vcbox", "type": 1, "session_id": session, "event": {"name": name}}


def handle(session: int, handle_id: int, name: str = "attached",
           plugin: str = "janus.plugin.videoroom") -> dict[str, Any]:
    return {"emitter": "vcbox", "type": 2, "timestamp": 1796316528100338,
            "session_id": session, "handle_id": handle_id,
            "event": {"name": name, "plugin": plugin}}


def core(status: str) -> dict[str, Any]:
    return {"emitter": "vcbox", "type": 256, "subtype": 1, "event": {"status": status}}


def test_sessions_and_handles_follow_the_events() -> None:
    events = McuEvents(clock=lambda: 1000.0)
    assert events.take([core("started")]) == 1
    assert events.take([created(S1)]) == 1
    assert events.take(handle(S1, H1)) == 1  # one object: grouping off
    assert events.take([created(S2), handle(S2, H2, plugin="janus.plugin.sip"),
                        handle(S2, H3)]) == 3
    snap = events.snapshot()
    assert (snap["received"], snap["sessions"], snap["handles"]) == (6, 2, 3)
    assert snap["last_at"] == 1000.0
    assert events.plugin_of(H2) == "janus.plugin.sip"
    assert snap["last"][0] == {"received": 1000.0, "type": "handle", "session_id": S2,
                               "handle_id": H3, "name": "attached",
                               "plugin": "janus.plugin.videoroom"}
    assert snap["last"][-1] == {"received": 1000.0, "type": "core", "status": "started"}

    # As Janus sends them: the session's end before its handles' detach.
    events.take([ended(S2), handle(S2, H2, "detached", "janus.plugin.sip"),
                 handle(S2, H3, "detached")])
    events.take([handle(S1, H1, "detached")])
    snap = events.snapshot()
    assert (snap["sessions"], snap["handles"]) == (1, 0)
    assert events.plugin_of(H2) is None and events.plugin_of(H1) is None
    events.take([ended(S1, "timeout")])
    assert events.snapshot()["sessions"] == 0


def test_a_handle_of_a_session_created_before_we_listened_counts() -> None:
    events = McuEvents()
    events.take([handle(S1, H1)])
    assert (events.snapshot()["sessions"], events.snapshot()["handles"]) == (1, 1)


def test_janus_starting_or_stopping_forgets_every_session() -> None:
    for status in ("started", "shutdown"):
        events = McuEvents()
        events.take([created(S1), handle(S1, H1)])
        events.take([core(status)])
        snap = events.snapshot()
        assert (snap["sessions"], snap["handles"]) == (0, 0)
        assert events.plugin_of(H1) is None


def test_what_is_kept_is_bounded() -> None:
    events = McuEvents(keep=5, max_sessions=3)
    events.take([created(n) for n in range(1, 11)])
    events.take([handle(99, 1)])  # a fourth session: not kept
    snap = events.snapshot()
    assert snap["received"] == 11 and snap["sessions"] == 3
    assert len(snap["last"]) == 5 and snap["last"][0]["session_id"] == 99
    assert len(events.snapshot(last=2)["last"]) == 2
    events.take([handle(1, h) for h in range(mcu.MAX_HANDLES_PER_SESSION + 5)])
    assert events.snapshot()["handles"] == mcu.MAX_HANDLES_PER_SESSION


def test_the_last_events_keep_a_summary_not_the_payload() -> None:
    events = McuEvents()
    big = {"type": 64, "session_id": S1, "handle_id": H1,
           "event": {"plugin": "janus.plugin.videoroom", "data": {"x": "y" * 10_000}}}
    webrtc = {"type": 16, "session_id": S1, "handle_id": H1,
              "event": {"connection": "webrtcup"}}
    events.take([big, webrtc, {"type": 4096, "event": "odd"}])
    last = events.snapshot()["last"]
    assert last[0] == {"received": last[0]["received"], "type": "4096"}
    assert last[1]["connection"] == "webrtcup" and last[1]["type"] == "webrtc"
    assert last[2]["plugin"] == "janus.plugin.videoroom" and "data" not in last[2]


@pytest.mark.parametrize("batch", [[], {}, [{"type": "1"}], ["x"], "text", 3,
                                   [created(S1), {"no": "type"}]])
def test_what_is_not_events_is_refused_whole(batch: Any) -> None:
    events = McuEvents()
    with pytest.raises(BadEvents):
        events.take(batch)
    assert events.snapshot()["received"] == 0 and events.snapshot()["sessions"] == 0


def test_listeners_get_every_event_and_their_failures_stay_theirs() -> None:
    events = McuEvents()
    seen: list[int] = []
    events.listeners.append(lambda e: seen.append(e["type"]))

    def broken(_event: dict[str, Any]) -> None:
        raise RuntimeError("boom")

    events.listeners.insert(0, broken)
    assert events.take([created(S1), handle(S1, H1)]) == 2
    assert seen == [1, 2]
    assert events.snapshot()["sessions"] == 1


class FakeAdmin:
    """The Admin API: sessions -> handles; `gone` sessions end between the two calls."""

    def __init__(self, sessions: dict[int, list[int]], gone: frozenset[int] = frozenset(),
                 plugins: dict[int, str] | None = None, down: bool = False) -> None:
        self.data, self.gone, self.plugins, self.down = sessions, gone, plugins or {}, down
        self.infos: list[int] = []

    def sessions(self) -> list[int]:
        if self.down:
            raise JanusError(None, "http://127.0.0.1:7088/admin: connection refused")
        return list(self.data)

    def handles(self, session: int) -> list[int]:
        if session in self.gone:
            raise JanusError(458, "No such session")
        return self.data[session]

    def handle_info(self, session: int, handle_id: int) -> dict[str, Any]:
        self.infos.append(handle_id)
        if handle_id not in self.plugins:
            raise JanusError(459, "No such handle")
        return {"plugin": self.plugins[handle_id]}


def test_status_counts_the_sessions_and_handles_janus_has() -> None:
    admin = FakeAdmin({S1: [H1], S2: [H2, H3], 9: []}, gone=frozenset({9}))
    assert mcu.status(admin) == mcu.McuStatus(sessions=2, handles=3)
    assert mcu.status(admin).as_dict() == {"reachable": True, "sessions": 2, "handles": 3}
    assert mcu.status(FakeAdmin({})) == mcu.McuStatus(sessions=0, handles=0)


def test_no_figures_when_janus_cannot_be_asked() -> None:
    assert mcu.status(FakeAdmin({}, down=True)) is None
    assert mcu.session_list(FakeAdmin({}, down=True), lambda _: None) is None

    class Refusing(FakeAdmin):
        def handles(self, session: int) -> list[int]:
            raise JanusError(403, "Unauthorized request (wrong or missing secret/token)")

    assert mcu.status(Refusing({S1: [H1]})) is None


def test_the_session_list_names_each_handles_plugin() -> None:
    events = McuEvents()
    events.take([created(S1), handle(S1, H1)])
    # H2's plugin is not in the events (attached before we listened): handle_info says;
    # H3 is detached meanwhile; session 9 ended.
    admin = FakeAdmin({S1: [H1], S2: [H2, H3], 9: [1]}, gone=frozenset({9}),
                      plugins={H2: "janus.plugin.sip"})
    listed = mcu.session_list(admin, events.plugin_of)
    assert listed == {"items": [
        {"id": S1, "handles": [{"id": H1, "plugin": "janus.plugin.videoroom"}]},
        {"id": S2, "handles": [{"id": H2, "plugin": "janus.plugin.sip"}]}],
        "total": 3, "truncated": False}
    assert admin.infos == [H2, H3]
    assert mcu.session_list(admin, events.plugin_of, limit=1) == {
        "items": [{"id": S1, "handles": [{"id": H1, "plugin": "janus.plugin.videoroom"}]}],
        "total": 3, "truncated": True}
