"""Polling (SPEC C3): when a meeting has more video participants than its layout has
slots, who is on screen rotates every `polling_interval_s`; rule "all" rotates everyone,
"keep_speaker" keeps the speaker on screen and rotates the others.

How FreeSWITCH 1.10's mixer (video-mode mux) places members, and what polling builds on:

- A member with video takes a free slot of the canvas as it joins; once every slot is
  taken, later members have none and are not seen, whoever speaks (an N x N grid has no
  floor slot; a 1+N layout's large slot is the video floor holder's). No listing names a
  member's slot in a plain layout: `conference <name> json_list` / `xml_list` / `list`
  give members, their video, the floors; the canvas is readable with `conference <name>
  vid-write-png <file>`.
- A slot with a reservation id (conference_layouts.conf.xml: every slot of a "-poll"
  layout has one, p1, p2, ... in slot order) takes only the member given that id with
  `conference <name> vid-res-id <member> pK`, and a member with an id goes into no other
  slot. `vid-res-id <member> clear` takes it away. Each vid-res-id detaches the member
  from its slot (it re-attaches within a frame), and giving a member the id it already
  has *clears* it: commands are sent for changes only. `conference <name> list` shows a
  member's id among its flags ("hear|speak|video|res-id:p3"): in a -poll layout, the slot
  it shows in; no res-id, no slot.
- `conference <name> vid-layout <layout>` changes the layout (all slots re-filled).
- FreeSWITCH moves both floors off a member that gets a reservation id (the video floor
  is refused to it: conference_video_set_floor_holder), so while polling the floors drift
  to members off screen, and pinning the floor holder would chase them. The speaker that
  keep_speaker keeps is the member that last started talking (`start-talking` events,
  "talking" in `list`), whom reservations do not touch; before polling starts it is the
  audio floor holder. In a 1+N layout the speaker gets the large slot (p1).

So: while the video members fit, nothing is done. When they exceed the slots, the meeting
switches to its layout's "-poll" variant and the members of the current window get the
ids of the slots they show in, the others none; each interval the window moves on (the
members shown longest make room for those waiting longest; a member that stays keeps its
slot). When they fit again, the meeting goes back to its layout and every id is cleared.

The pure part (cell_count, next_rotation, commands) decides; Poller drives it over the
event socket: members from `conference::maintenance` events (add-member, del-member,
start-talking, floor-change, conference-destroy) and, on start and on every (re)connect,
from `conference json_list` and `conference <name> list` (reservations already given
included); one timer thread per conference that polls.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from controlplane.drivers.esl import CONNECTED, Esl, EslError, EslEvent, EslReplyError

log = logging.getLogger(__name__)

RULES = ("all", "keep_speaker")
POLL_SUFFIX = "-poll"
EVENT = "conference::maintenance"
MIN_INTERVAL_S = 0.2   # the settings allow 5 s and more; tests use shorter ones

_GRID = re.compile(r"(\d)x(\d)")
_ONE_PLUS = re.compile(r"1up_top_left\+(\d+)")


# -- layouts ---------------------------------------------------------------------------------

def layout_name(setting: str) -> str:
    """A conference_layouts.conf name for a layout as the call settings write it:
    "4x4" stays, "1+7" is "1up_top_left+7"."""
    if setting.startswith("1+"):
        return "1up_top_left+" + setting[2:]
    return setting


def cell_count(layout: str) -> int:
    """How many slots the layout (conference_layouts.conf.xml) has."""
    layout = layout_name(layout).removesuffix(POLL_SUFFIX)
    if (m := _GRID.fullmatch(layout)) and m[1] == m[2]:
        return int(m[1]) ** 2
    if m := _ONE_PLUS.fullmatch(layout):
        return int(m[1]) + 1
    raise ValueError(f"unknown layout {layout!r}")


def floor_cell(layout: str) -> int | None:
    """The slot of the video floor holder (slot 1 of 1+N, and of 1x1), or None."""
    layout = layout_name(layout).removesuffix(POLL_SUFFIX)
    return 1 if layout == "1x1" or _ONE_PLUS.fullmatch(layout) else None


def poll_layout(layout: str) -> str:
    """The layout's variant whose slots have reservation ids p1, p2, ..."""
    return layout_name(layout).removesuffix(POLL_SUFFIX) + POLL_SUFFIX


def reservation(cell: int) -> str:
    return f"p{cell}"


# -- the pure part -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Member:
    id: int
    video: bool = True


@dataclass(frozen=True)
class Rotation:
    """Who is on screen while polling: cells maps member id -> slot (1-based; the slot
    with reservation id p<slot>); order holds the rotating members, the next to be
    shown first; pinned: the speaker kept on screen (keep_speaker)."""

    polling: bool = False
    order: tuple[int, ...] = ()
    cells: Mapping[int, int] = field(default_factory=dict)
    pinned: int | None = None

    def shown(self) -> set[int]:
        return set(self.cells)


IDLE = Rotation()


def next_rotation(members: Sequence[Member], floor: int | None, cells: int, rule: str,
                  prev: Rotation = IDLE, advance: bool = False,
                  floor_slot: int | None = None) -> Rotation:
    """The next rotation of a conference.

    members: those in the conference (join order); floor: the speaker's id;
    cells: the layout's slot count; rule: "all" or "keep_speaker"; prev: the rotation
    in force; advance: the interval is up (move the window on) rather than a member
    change (keep the window, fill slots that emptied); floor_slot: the layout's floor
    slot (floor_cell), where keep_speaker puts the speaker.
    """
    if rule not in RULES:
        raise ValueError(f"unknown polling rule {rule!r}")
    video = [m.id for m in members if m.video]
    if len(video) <= cells:
        return IDLE
    pinned = floor if rule == "keep_speaker" and floor in video else None
    rotating = [m for m in video if m != pinned]
    # The queue: members already in it keep their turn, newcomers (and a speaker that
    # lost the floor) wait at the end, in join order.
    known = [m for m in prev.order if m in rotating] if prev.polling else []
    if prev.polling:
        # Members on screen now but not in the queue (the former pinned speaker) go
        # behind those waiting.
        known += [m for m in rotating if m not in known and m in prev.cells]
    order = known + [m for m in rotating if m not in known]
    slots = cells - (1 if pinned is not None else 0)
    if advance and prev.polling:
        # Those shown move to the back: the ones waiting come first.
        order = order[slots:] + order[:slots]
    window = order[:slots]
    shown = ([pinned] if pinned is not None else []) + window
    assigned: dict[int, int] = {}
    reserved = floor_slot if pinned is not None and floor_slot is not None else None
    if reserved is not None:
        assigned[pinned] = reserved  # type: ignore[index]
    for member in shown:
        if member in assigned:
            continue
        cell = prev.cells.get(member) if prev.polling else None
        if cell is not None and 1 <= cell <= cells and cell != reserved \
                and cell not in assigned.values():
            assigned[member] = cell
    free = iter(c for c in range(1, cells + 1)
                if c not in assigned.values() and c != reserved)
    for member in shown:
        if member not in assigned:
            assigned[member] = next(free)
    return Rotation(True, tuple(order), assigned, pinned)


def commands(conference: str, layout: str, prev: Rotation, new: Rotation,
             present: Iterable[int], prev_layout: str | None = None) -> list[str]:
    """The api commands that take FreeSWITCH from prev to new. layout: the meeting's
    layout (its -poll variant while polling); prev_layout: the one prev was made for,
    when the meeting changed layouts meanwhile; present: the members still there (no
    command for those that left)."""
    here = set(present)
    out: list[str] = []
    target = poll_layout(layout)
    if new.polling and (not prev.polling or poll_layout(prev_layout or layout) != target):
        out.append(f"conference {conference} vid-layout {target}")
    if not new.polling:
        if not prev.polling:
            return []
        out.append(f"conference {conference} vid-layout {layout_name(layout)}")
    before = prev.cells if prev.polling else {}
    after = new.cells
    for member in sorted(before):
        if member not in after and member in here:
            out.append(f"conference {conference} vid-res-id {member} clear")
    for member, cell in sorted(after.items(), key=lambda item: item[1]):
        if before.get(member) != cell:
            out.append(f"conference {conference} vid-res-id {member} {reservation(cell)}")
    return out


# -- reading FreeSWITCH -------------------------------------------------------------------------

@dataclass
class Listing:
    """One conference as FreeSWITCH lists it."""

    name: str
    uuid: str
    members: list[Member]
    floor: int | None = None      # the audio floor holder
    talking: int | None = None    # a member talking now
    cells: dict[int, int] = field(default_factory=dict)  # reservations already given


def parse_json_list(text: str) -> list[Listing]:
    """`conference json_list`: every conference, its uuid and members (join order)."""
    text = text.strip()
    if not text.startswith("["):
        return []  # "-ERR No active conferences." and the like
    out = []
    for conf in json.loads(text):
        members = [Member(int(m["id"]), bool(m.get("flags", {}).get("has_video")))
                   for m in conf.get("members", []) if m.get("type") == "caller"]
        members.sort(key=lambda m: m.id)
        out.append(Listing(conf["conference_name"], conf.get("conference_uuid", ""),
                           members))
    return out


def parse_list(text: str) -> dict[int, set[str]]:
    """`conference <name> list`: member id -> its flags ("hear", "speak", "talking",
    "video", "floor", "vid-floor", "res-id:p3", ...), the fourth field from the end
    (caller names may hold ';')."""
    out: dict[int, set[str]] = {}
    for line in text.splitlines():
        parts = line.split(";")
        if len(parts) >= 9 and parts[0].isdigit():
            out[int(parts[0])] = set(parts[-4].split("|"))
    return out


def parse_floor(text: str, flag: str = "floor") -> int | None:
    """The member of `conference <name> list` with this flag: "floor" (the audio floor),
    "vid-floor" (the video floor), "talking"."""
    return next((m for m, flags in parse_list(text).items() if flag in flags), None)


def reservations(flags: Mapping[int, set[str]]) -> dict[int, int]:
    """member id -> slot, from the "res-id:pK" flags of parse_list."""
    out = {}
    for member, names in flags.items():
        for name in names:
            if name.startswith("res-id:p") and name[8:].isdigit():
                out[member] = int(name[8:])
    return out


# -- the controller -------------------------------------------------------------------------------

@dataclass
class _Conference:
    name: str
    uuid: str
    members: dict[int, Member] = field(default_factory=dict)
    floor: int | None = None         # the speaker (see the module's docstring)
    rotation: Rotation = IDLE
    layout: str = ""                 # the layout the rotation was made for
    changed: bool = True
    gone: bool = False
    wake: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None


Settings = Callable[[], Mapping[str, Any]]
LayoutOf = Callable[[str], str | None]
Listener = Callable[[str, Rotation], None]


class Poller:
    """Runs polling for every conference of a FreeSWITCH.

        poller = Poller(esl, lambda: store.section("call"), layout_of=meeting_layout)
        poller.start()   # subscribes, reads the conferences, polls where needed
        ...
        poller.stop()    # ends every rotation (layouts back, reservations cleared)

    owns(conference): whether the conference is this poller's (default: all of them).
    settings(): the call settings (polling_interval_s, polling_rule, equal_layout,
    one_plus_n_layout), read at every step, so a change applies from the next one;
    layout_of(conference): the meeting's layout ("4x4", "1+7" or a layout name), None
    for the equal layout of the settings. on_change(conference, rotation) is called
    after each applied change (tests, the live page).
    """

    def __init__(self, esl: Esl, settings: Settings, layout_of: LayoutOf | None = None,
                 on_change: Listener | None = None,
                 owns: Callable[[str], bool] | None = None) -> None:
        self.esl = esl
        self.settings = settings
        self.layout_of = layout_of or (lambda name: None)
        # Which conferences are this poller's (the control plane's: its meetings); the
        # others are left alone.
        self.owns = owns or (lambda name: True)
        self.on_change = on_change
        self._lock = threading.RLock()
        self._conferences: dict[str, _Conference] = {}
        self._running = False
        self._started = False

    # -- public ------------------------------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            if self._running:
                return
            self._running = True
            first = not self._started
            self._started = True
        if first:
            self.esl.on_event(EVENT, self._on_event)
            self.esl.on_event(CONNECTED, lambda event: self.refresh())
        self.esl.subscribe(EVENT)
        with contextlib.suppress(EslError):
            self.refresh()

    def stop(self, restore: bool = True) -> None:
        """Stop every rotation; restore: put the meetings back on their layouts with no
        reservations (otherwise they stay as they are)."""
        with self._lock:
            self._running = False
            conferences = list(self._conferences.values())
        for conf in conferences:
            conf.wake.set()
        for conf in conferences:
            if conf.thread is not None and conf.thread is not threading.current_thread():
                conf.thread.join(10)
        if restore:
            for conf in conferences:
                if conf.rotation.polling and not conf.gone:
                    self._apply(conf, IDLE, conf.layout)
        with self._lock:
            self._conferences.clear()

    def rotation(self, conference: str) -> Rotation:
        with self._lock:
            conf = self._conferences.get(conference)
            return conf.rotation if conf else IDLE

    def refresh(self, conference: str | None = None) -> None:
        """Read the conferences (or one) from FreeSWITCH again, e.g. after a meeting's
        layout changed or the link came back."""
        try:
            listings = parse_json_list(self.esl.api("conference json_list"))
        except EslReplyError:  # -ERR No active conferences.
            listings = []
        if conference is not None:
            listings = [x for x in listings if x.name == conference]
        listings = [x for x in listings if self.owns(x.name)]
        names = {x.name for x in listings}
        for listing in listings:
            with contextlib.suppress(EslError):
                flags = parse_list(self.esl.api(f"conference {listing.name} list"))
                listing.cells = reservations(flags)
                talking = [m for m, f in flags.items() if "talking" in f]
                floor = [m for m, f in flags.items() if "floor" in f]
                listing.talking = talking[0] if talking else None
                # The floors are moved off members with reservations: the audio floor
                # tells the speaker only before polling (see the module's docstring).
                listing.floor = floor[0] if floor and not listing.cells else None
        with self._lock:
            if not self._running:
                return
            for name, conf in list(self._conferences.items()):
                if (conference is None or name == conference) and name not in names:
                    self._forget(conf)
            touched = []
            for listing in listings:
                fresh = listing.name not in self._conferences
                conf = self._conference(listing.name, listing.uuid)
                fresh = fresh or conf.layout == ""  # nothing applied to it yet
                conf.members = {m.id: m for m in listing.members}
                if conf.floor not in conf.members:
                    conf.floor = None
                if listing.talking is not None:
                    conf.floor = listing.talking
                elif conf.floor is None:
                    conf.floor = listing.floor
                if fresh and listing.cells and conf.thread is None:
                    # Reservations made before this poller (a restart of the control
                    # plane): the first step starts from them. Later on, FreeSWITCH has
                    # what this poller gave it; a listing read while a step runs would
                    # only be behind.
                    shown = sorted(listing.cells, key=lambda m: listing.cells[m])
                    rest = [m.id for m in listing.members if m.id not in listing.cells]
                    conf.rotation = Rotation(True, tuple(shown + rest), dict(listing.cells))
                conf.changed = True
                touched.append(conf)
        for conf in touched:
            self._kick(conf)

    # -- events -------------------------------------------------------------------------------

    def _on_event(self, event: EslEvent) -> None:
        action = event.get("Action", "")
        name = event.get("Conference-Name", "")
        if not name or action not in ("add-member", "del-member", "start-talking",
                                      "floor-change", "conference-destroy",
                                      "conference-create"):
            return
        if action != "conference-destroy" and not self.owns(name):
            return
        uuid = event.get("Conference-Unique-ID", "")
        with self._lock:
            if not self._running:
                return
            if action == "conference-destroy":
                conf = self._conferences.get(name)
                if conf is not None and (not uuid or conf.uuid in ("", uuid)):
                    self._forget(conf)
                return
            conf = self._conference(name, uuid)
            if action == "add-member":
                member = _int(event.get("Member-ID"))
                if member is not None:
                    conf.members[member] = Member(member, event.get("Video") == "true")
            elif action == "del-member":
                member = _int(event.get("Member-ID"))
                conf.members.pop(member, None)  # type: ignore[arg-type]
                if conf.floor == member:
                    conf.floor = None
            elif action == "start-talking":
                member = _int(event.get("Member-ID"))
                if member == conf.floor:
                    return
                conf.floor = member
            elif action == "floor-change":
                if conf.rotation.polling:
                    return  # moved off a reserved member, not a speaker (see above)
                conf.floor = _int(event.get("New-ID"))
            conf.changed = True
        self._kick(conf)

    def _conference(self, name: str, uuid: str) -> _Conference:
        """The model of a conference (caller holds the lock): a new one when FreeSWITCH
        made a new conference under the name (its reservations are gone with it)."""
        conf = self._conferences.get(name)
        if conf is not None and uuid and conf.uuid and conf.uuid != uuid:
            self._forget(conf)
            conf = None
        if conf is None:
            conf = self._conferences[name] = _Conference(name, uuid)
        elif uuid and not conf.uuid:
            conf.uuid = uuid
        return conf

    def _forget(self, conf: _Conference) -> None:
        conf.gone = True
        conf.wake.set()
        if self._conferences.get(conf.name) is conf:
            del self._conferences[conf.name]

    def _kick(self, conf: _Conference) -> None:
        """Wake the conference's timer thread; start one when it has to poll. The
        callables (settings, layout_of) run without the lock held."""
        with self._lock:
            if conf.gone or not self._running:
                return
            if conf.thread is not None:
                conf.wake.set()
                return
            polling = conf.rotation.polling
            videos = sum(m.video for m in conf.members.values())
        if not polling:
            try:
                if videos <= cell_count(self._layout(conf.name)):
                    return
            except ValueError:
                return
        with self._lock:
            if conf.gone or not self._running:
                return
            if conf.thread is not None:
                conf.wake.set()
                return
            conf.thread = threading.Thread(target=self._run, args=(conf,), daemon=True,
                                           name=f"polling-{conf.name}")
            conf.thread.start()

    def _layout(self, name: str) -> str:
        layout = None
        with contextlib.suppress(Exception):
            layout = self.layout_of(name)
        return layout_name(layout or str(self.settings().get("equal_layout", "4x4")))

    # -- the timer thread ---------------------------------------------------------------------

    def _interval(self) -> float:
        try:
            return max(MIN_INTERVAL_S, float(self.settings().get("polling_interval_s", 10)))
        except (TypeError, ValueError):
            return 10.0

    def _run(self, conf: _Conference) -> None:
        due = time.monotonic() + self._interval()
        advance = False
        while True:
            with self._lock:
                if not self._running or conf.gone:
                    return
                conf.wake.clear()
            polling = self._step(conf, advance)
            if not polling:
                with self._lock:
                    conf.thread = None
                    again = conf.changed  # a member change while the step ran
                if again:
                    self._kick(conf)
                return
            if advance:  # the next one an interval after this one was due
                due += self._interval()
                if due <= time.monotonic():
                    due = time.monotonic() + self._interval()
            woke = conf.wake.wait(max(due - time.monotonic(), 0))
            advance = not woke or time.monotonic() >= due

    def _step(self, conf: _Conference, advance: bool) -> bool:
        """One change of a conference's rotation; whether it polls after it."""
        settings = self.settings()
        rule = str(settings.get("polling_rule", "all"))
        if rule not in RULES:
            log.warning("polling rule %r unknown: rotating all", rule)
            rule = "all"
        layout = self._layout(conf.name)
        with self._lock:
            conf.changed = False
            members = sorted(conf.members.values(), key=lambda m: m.id)
            floor, prev, prev_layout = conf.floor, conf.rotation, conf.layout or layout
        try:
            cells = cell_count(layout)
        except ValueError:
            log.error("polling: meeting %s has the unknown layout %r", conf.name, layout)
            return False
        # After a layout change members keep the slot numbers that the new layout has
        # (reservation ids belong to the members, not to the layout).
        new = next_rotation(members, floor, cells, rule, prev, advance, floor_cell(layout))
        self._apply(conf, new, layout, prev_layout, {m.id for m in members})
        return new.polling

    def _apply(self, conf: _Conference, new: Rotation, layout: str,
               prev_layout: str | None = None, present: set[int] | None = None) -> None:
        prev = conf.rotation
        if present is None:
            present = set(conf.members)
        cmds = commands(conf.name, layout, prev, new, present, prev_layout)
        for cmd in cmds:
            try:
                self.esl.api(cmd)
            except EslError as exc:
                # A member that just left, or the conference that just ended: the next
                # event or step puts it right.
                log.info("polling %s: %s: %s", conf.name, cmd, exc.reason)
        with self._lock:
            conf.rotation = new
            conf.layout = layout
        if cmds:
            log.debug("polling %s: %s", conf.name, "; ".join(cmds))
        if self.on_change is not None and (cmds or new != prev):
            try:
                self.on_change(conf.name, new)
            except Exception:
                log.exception("polling listener failed")


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "", "none") else None
    except ValueError:
        return None
