"""The MCU (Janus) as the dashboard sees it (SPEC A8, DESIGN D5): its live sessions and
handles, and what its event handler tells the control plane.

Two sources, each for what it is good at:
- the Admin API (`list_sessions`, `list_handles`) is the truth about what runs now; the
  counts of GET /api/v1/status come from it, asked on each (cached) status poll. When
  Janus cannot be asked there are no counts (None), never zeros.
- Janus's HTTP event handler (janus.eventhandler.sampleevh) posts every session, handle,
  plugin, WebRTC and core event to the control plane (POST /janus/events). `McuEvents`
  keeps, in memory and bounded, the sessions and handles those events describe (with
  each handle's plugin, which the Admin API gives only one handle at a time) and the last
  events, and hands each event to its listeners (call records, SPEC K3, may follow them).
  Events are lost when the control plane is away (Janus retries 5 times, then drops
  them), so they complete the Admin API's answer, never replace it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from controlplane.drivers.janus import JanusError

log = logging.getLogger(__name__)

# Janus's event types (src/events.h: JANUS_EVENT_TYPE_*).
SESSION, HANDLE, EXTERNAL, JSEP, WEBRTC, MEDIA, PLUGIN, TRANSPORT, CORE = (
    1, 2, 4, 8, 16, 32, 64, 128, 256)
TYPE_NAMES = {SESSION: "session", HANDLE: "handle", EXTERNAL: "external", JSEP: "jsep",
              WEBRTC: "webrtc", MEDIA: "media", PLUGIN: "plugin", TRANSPORT: "transport",
              CORE: "core"}
# Janus's error code for a session that is gone (JANUS_ERROR_SESSION_NOT_FOUND).
SESSION_NOT_FOUND = 458
# What the event bookkeeping keeps at most.
KEEP_EVENTS = 50
MAX_SESSIONS = 10_000
MAX_HANDLES_PER_SESSION = 100
# The session list of GET /api/v1/status/mcu: at most this many sessions are described.
MAX_LISTED = 200


class Admin(Protocol):
    def sessions(self) -> list[int]: ...

    def handles(self, session: int) -> list[int]: ...

    def handle_info(self, session: int, handle: int) -> dict[str, Any]: ...


class BadEvents(ValueError):
    """A post that is not a Janus event (or a list of them)."""


@dataclass(frozen=True)
class McuStatus:
    sessions: int
    handles: int

    def as_dict(self) -> dict[str, Any]:
        return {"reachable": True, **asdict(self)}


def _handles_of(admin: Admin, session: int) -> list[int] | None:
    """The session's handles; None when the session ended since it was listed."""
    try:
        return admin.handles(session)
    except JanusError as exc:
        if exc.code == SESSION_NOT_FOUND:
            return None
        raise


def status(admin: Admin) -> McuStatus | None:
    """Sessions and handles now (Admin API), or None when Janus does not answer."""
    try:
        sessions = admin.sessions()
        handles = 0
        alive = 0
        for session in sessions:
            found = _handles_of(admin, session)
            if found is not None:
                alive += 1
                handles += len(found)
    except (JanusError, TypeError, ValueError):
        return None
    return McuStatus(sessions=alive, handles=handles)


def session_list(admin: Admin, plugin_of: Callable[[int], str | None],
                 limit: int = MAX_LISTED) -> dict[str, Any] | None:
    """The sessions now, each {id, handles: [{id, plugin}]}, the first `limit` of them
    ("truncated" says when there are more); None when Janus does not answer. A handle's
    plugin comes from the events when they named it, else from handle_info."""
    try:
        sessions = admin.sessions()
        items = []
        for session in sessions[:limit]:
            handles = _handles_of(admin, session)
            if handles is None:
                continue
            described = []
            for handle in handles:
                plugin = plugin_of(handle)
                if plugin is None:
                    try:
                        plugin = str(admin.handle_info(session, handle).get("plugin", ""))
                    except JanusError:  # detached meanwhile
                        continue
                described.append({"id": handle, "plugin": plugin})
            items.append({"id": session, "handles": described})
    except (JanusError, TypeError, ValueError):
        return None
    return {"items": items, "total": len(sessions), "truncated": len(sessions) > limit}


def _summary(event: dict[str, Any], received: float) -> dict[str, Any]:
    """What the last-events list keeps of one event (not whole SDPs or plugin data)."""
    kind = event.get("type")
    body = event.get("event") if isinstance(event.get("event"), dict) else {}
    out: dict[str, Any] = {"received": received, "type": TYPE_NAMES.get(kind, str(kind))}
    for key in ("session_id", "handle_id"):
        if isinstance(event.get(key), int):
            out[key] = event[key]
    if kind in (SESSION, HANDLE):
        out["name"] = str(body.get("name", ""))
    if kind in (HANDLE, PLUGIN) and body.get("plugin"):
        out["plugin"] = str(body["plugin"])
    if kind == CORE:
        out["status"] = str(body.get("status", ""))
    if kind == WEBRTC:
        for key in ("ice", "dtls", "connection"):
            if key in body:
                out[key] = str(body[key])
    return out


class McuEvents:
    """The bookkeeping of Janus's events: live sessions -> {handle: plugin}, the last
    events, counters. Thread-safe; everything kept is bounded."""

    def __init__(self, keep: int = KEEP_EVENTS, max_sessions: int = MAX_SESSIONS,
                 clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.max_sessions = max_sessions
        self.listeners: list[Callable[[dict[str, Any]], None]] = []
        self._sessions: dict[int, dict[int, str]] = {}
        self._plugins: dict[int, str] = {}  # handle -> plugin, of the live handles
        self._last: deque[dict[str, Any]] = deque(maxlen=keep)
        self._received = 0
        self._last_at: float | None = None
        self._lock = threading.Lock()

    @staticmethod
    def events_of(batch: Any) -> list[dict[str, Any]]:
        """The events of one post: sampleevh sends a list (grouping = true) or one object."""
        events = batch if isinstance(batch, list) else [batch]
        if not events or not all(isinstance(e, dict) and isinstance(e.get("type"), int)
                                 for e in events):
            raise BadEvents("not a Janus event or list of events")
        return events

    def take(self, batch: Any) -> int:
        """Take one post's events; how many there were. BadEvents for anything else."""
        events = self.events_of(batch)
        now = self.clock()
        with self._lock:
            for event in events:
                self._apply(event)
                self._last.append(_summary(event, now))
            self._received += len(events)
            self._last_at = now
            listeners = list(self.listeners)
        for event in events:
            for listener in listeners:
                try:
                    listener(event)
                except Exception:
                    log.exception("a Janus event listener failed")
        return len(events)

    def _apply(self, event: dict[str, Any]) -> None:
        kind, body = event["type"], event.get("event")
        body = body if isinstance(body, dict) else {}
        session, handle = event.get("session_id"), event.get("handle_id")
        if kind == CORE and body.get("status") in ("started", "shutdown"):
            # A Janus that (re)starts or stops has no sessions.
            self._sessions.clear()
            self._plugins.clear()
        elif kind == SESSION and isinstance(session, int):
            if body.get("name") == "created":
                if session not in self._sessions and len(self._sessions) < self.max_sessions:
                    self._sessions[session] = {}
            elif body.get("name") in ("destroyed", "timeout"):
                for gone in self._sessions.pop(session, {}):
                    self._plugins.pop(gone, None)
        elif kind == HANDLE and isinstance(session, int) and isinstance(handle, int):
            name = body.get("name")
            handles = self._sessions.get(session)
            if name == "attached":
                if handles is None and len(self._sessions) < self.max_sessions:
                    # created before the control plane listened
                    handles = self._sessions.setdefault(session, {})
                if handles is not None and len(handles) < MAX_HANDLES_PER_SESSION:
                    handles[handle] = self._plugins[handle] = str(body.get("plugin", ""))
            elif name == "detached":
                if handles is not None:
                    handles.pop(handle, None)
                self._plugins.pop(handle, None)

    def plugin_of(self, handle: int) -> str | None:
        with self._lock:
            return self._plugins.get(handle)

    def snapshot(self, last: int | None = None) -> dict[str, Any]:
        """The counters, the sessions and handles the events describe, the last events
        (newest first)."""
        with self._lock:
            events: Iterable[dict[str, Any]] = reversed(self._last)
            recent = list(events)[:last] if last is not None else list(events)
            return {"received": self._received, "last_at": self._last_at,
                    "sessions": len(self._sessions),
                    "handles": sum(len(h) for h in self._sessions.values()),
                    "last": recent}
