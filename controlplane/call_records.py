"""Call records and meeting statistics (SPEC K1-K3), derived from FreeSWITCH's own call
records (mod_json_cdr, one per A leg: see controlplane/cdr.py) as they are kept.

A *call record* is what the guide's 会议统计 lists: one meeting held (every leg that was in
one run of a meeting's conference, keyed by FreeSWITCH's conference UUID) or one
point-to-point call (keyed by its A leg). Each leg is a participant with its join and
leave times. What a record says comes from the CDR itself: the dialplan puts the
meeting's ID, kind, subject and organizer on the channel (vcbox_meeting*, K3: never from
what the web UI did), so an instant meeting forgotten at its end, or a meeting edited
later, still reads as it was held.

Concurrency is counted as the license counts it (L4, dialplan.LIMIT): every meeting
participant and every P2P caller is one call. The peak of each UTC day is kept (day_peak)
and brought up to date in the transaction that adds the legs of that day, so the
statistics never sweep a year of calls; a period's peak is exact (its partial days at
the edges are swept).
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

P2P, INSTANT, SCHEDULED, VMR = "p2p", "instant", "scheduled", "vmr"
KINDS = (P2P, INSTANT, SCHEDULED, VMR)
DAY = 86400
_ACCOUNT = re.compile(r"^\d{4}$")

# calls.sqlite3's user_version i -> i+1 (the cdr table itself is controlplane/cdr.py's).
SCHEMA: list[str] = [
    """
    CREATE TABLE call (
        key TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        meeting_id TEXT NOT NULL,
        subject TEXT NOT NULL,
        organizer TEXT NOT NULL,
        start REAL NOT NULL,
        end REAL NOT NULL,
        members INTEGER NOT NULL
    );
    CREATE INDEX call_start ON call(start);
    CREATE INDEX call_kind_start ON call(kind, start);
    CREATE TABLE leg (
        uuid TEXT PRIMARY KEY,
        call_key TEXT NOT NULL,
        number TEXT NOT NULL,
        name TEXT NOT NULL,
        user_agent TEXT NOT NULL,
        joined REAL NOT NULL,
        left REAL NOT NULL,
        how TEXT NOT NULL,
        counted INTEGER NOT NULL
    );
    CREATE INDEX leg_call ON leg(call_key);
    CREATE INDEX leg_joined ON leg(counted, joined);
    CREATE TABLE day_peak (day INTEGER PRIMARY KEY, peak INTEGER NOT NULL);
    CREATE TABLE call_meta (name TEXT PRIMARY KEY, value REAL NOT NULL);
    -- the CDRs kept before there were call records are derived once (see migrate)
    INSERT INTO call_meta (name, value) VALUES ('derive_all', 1);
    """,
]


@dataclass(frozen=True)
class Leg:
    """One participant of a call record."""

    uuid: str
    call_key: str
    kind: str
    meeting_id: str
    subject: str
    organizer: str
    number: str       # the account (or caller number) of the participant
    name: str
    user_agent: str
    joined: float
    left: float
    how: str = "in"   # in: dialled in; room / invite: called out; callee: a P2P callee
    counted: bool = True


def _epoch(variables: Mapping[str, Any], name: str) -> float:
    """A time of the channel in seconds (its microsecond variable when there is one)."""
    for key, scale in ((f"{name}_uepoch", 1e6), (f"{name}_epoch", 1.0)):
        try:
            value = float(variables.get(key) or 0) / scale
        except (TypeError, ValueError):
            continue
        if value > 0:
            return value
    return 0.0


def _text(variables: Mapping[str, Any], *names: str) -> str:
    for name in names:
        value = variables.get(name)
        if isinstance(value, str) and value:
            return value
    return ""


def legs_of(record: Mapping[str, Any]) -> list[Leg]:
    """The participants a CDR adds to the call records: a meeting leg that was in a
    conference, or both sides of an answered P2P call; none for the rest (IVR calls that
    never reached a meeting, unanswered or refused calls)."""
    variables = record.get("variables")
    if not isinstance(variables, dict):
        return []
    uuid = _text(variables, "uuid").lower()
    answered, ended = _epoch(variables, "answer"), _epoch(variables, "end")
    if not uuid or not answered or ended < answered:
        return []
    agent = _text(variables, "sip_user_agent")
    meeting = _text(variables, "vcbox_meeting")
    conference = _text(variables, "conference_uuid").lower()
    if meeting and conference:
        how = _text(variables, "vcbox_call_out") or "in"
        if how == "in":
            number = _text(variables, "user_name", "sip_from_user", "caller_id_number")
            name = _text(variables, "effective_caller_id_name", "caller_id_name")
        else:  # called out: the account dialled
            number = _text(variables, "dialed_user", "callee_id_number")
            name = _text(variables, "callee_id_name")
        kind = _text(variables, "vcbox_meeting_kind")
        return [Leg(uuid, conference, kind if kind in KINDS else INSTANT, meeting,
                    _text(variables, "vcbox_subject") or meeting,
                    _text(variables, "vcbox_organizer"), number, name or number, agent,
                    answered, ended, how)]
    callee = _text(variables, "dialed_user")
    if _text(variables, "last_app") == "bridge" and _ACCOUNT.match(callee):
        caller = _text(variables, "user_name", "sip_from_user")
        caller_name = _text(variables, "effective_caller_id_name") or caller
        callee_name = _text(variables, "vcbox_callee_name") or callee
        subject = f"{caller_name} → {callee_name}"
        peer = _text(variables, "bridge_uuid").lower() or f"{uuid}-callee"
        return [Leg(uuid, uuid, P2P, "", subject, caller, caller, caller_name, agent,
                    answered, ended),
                Leg(peer, uuid, P2P, "", subject, caller, callee, callee_name, "",
                    answered, ended, "callee", counted=False)]
    return []


# -- writing (inside the CDR inbox's transaction) --------------------------------------------
def migrate(db: sqlite3.Connection) -> None:
    """Bring the tables up to date, each step with its version in one transaction."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    for number, step in enumerate(SCHEMA[version:], start=version + 1):
        db.executescript(f"BEGIN IMMEDIATE;\n{step}\nPRAGMA user_version = {number};\nCOMMIT;")


def derive_pending(db: sqlite3.Connection, records: Iterable[bytes]) -> bool:
    """After the tables were made: the call records of the CDRs kept before (records:
    all of them, as kept), in the caller's transaction. False when there was nothing to do."""
    if db.execute("DELETE FROM call_meta WHERE name = 'derive_all'").rowcount != 1:
        return False
    add(db, [leg for data in records for leg in legs_of(json.loads(data))])
    return True


def _days(start: float, end: float) -> range:
    return range(math.floor(start / DAY), math.floor(max(end, start) / DAY) + 1)


def _longest(db: sqlite3.Connection) -> float:
    row = db.execute("SELECT value FROM call_meta WHERE name = 'longest'").fetchone()
    return row[0] if row else 0.0


def add(db: sqlite3.Connection, legs: Iterable[Leg]) -> int:
    """Add legs not seen before to their call records (the caller's transaction); the
    number added. The peaks of the days they touch are brought up to date."""
    added, days = 0, set()
    longest = _longest(db)
    for leg in legs:
        if db.execute("INSERT OR IGNORE INTO leg (uuid, call_key, number, name, user_agent,"
                      " joined, left, how, counted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                      (leg.uuid, leg.call_key, leg.number, leg.name, leg.user_agent,
                       leg.joined, leg.left, leg.how, int(leg.counted))).rowcount != 1:
            continue
        added += 1
        db.execute(
            "INSERT INTO call (key, kind, meeting_id, subject, organizer, start, end, members)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, 1) ON CONFLICT(key) DO UPDATE SET"
            " start = min(start, excluded.start), end = max(end, excluded.end),"
            " members = members + 1,"
            " organizer = CASE organizer WHEN '' THEN excluded.organizer ELSE organizer END",
            (leg.call_key, leg.kind, leg.meeting_id, leg.subject, leg.organizer,
             leg.joined, leg.left))
        if leg.counted:
            days.update(_days(leg.joined, leg.left))
            longest = max(longest, leg.left - leg.joined)
    if added:
        db.execute("INSERT INTO call_meta (name, value) VALUES ('longest', ?) "
                   "ON CONFLICT(name) DO UPDATE SET value = excluded.value", (longest,))
        db.executemany("INSERT INTO day_peak (day, peak) VALUES (?, ?) ON CONFLICT(day) "
                       "DO UPDATE SET peak = excluded.peak",
                       [(day, peak_between(db, day * DAY, (day + 1) * DAY, longest))
                        for day in sorted(days)])
    return added


def peak_between(db: sqlite3.Connection, since: float, until: float,
                 longest: float | None = None) -> int:
    """The most calls at one moment in [since, until): a sweep over the legs then."""
    if until <= since:
        return 0
    longest = _longest(db) if longest is None else longest
    rows = db.execute("SELECT joined, left FROM leg WHERE counted = 1 AND joined < ? "
                      "AND joined >= ? AND left > ?", (until, since - longest, since))
    changes: list[tuple[float, int]] = []
    for joined, left in rows:
        changes.append((max(joined, since), 1))
        changes.append((min(left, until), -1))
    changes.sort()  # at one instant a leave (-1) comes before a join
    peak = now = 0
    for _, step in changes:
        now += step
        peak = max(peak, now)
    return peak


# -- reading ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Query:
    kind: str = ""              # one of KINDS, or "" for all
    since: float | None = None  # on the record's start
    until: float | None = None
    search: str = ""            # subject or meeting ID, a substring
    limit: int | None = 50
    offset: int = 0


COLUMNS = ("key", "kind", "meeting_id", "subject", "organizer", "start", "end", "members")
# The WHERE clauses below are fixed text (_where); every value is a bound parameter.
_SELECT = "SELECT key, kind, meeting_id, subject, organizer, start, end, members FROM call"


def _where(query: Query) -> tuple[str, list[Any]]:
    clauses, params = [], []
    if query.kind:
        clauses.append("kind = ?")
        params.append(query.kind)
    if query.since is not None:
        clauses.append("start >= ?")
        params.append(query.since)
    if query.until is not None:
        clauses.append("start < ?")
        params.append(query.until)
    if query.search:
        pattern = "%" + query.search.replace("\\", "\\\\").replace("%", "\\%").replace(
            "_", "\\_") + "%"
        clauses.append("(subject LIKE ? ESCAPE '\\' OR meeting_id LIKE ? ESCAPE '\\')")
        params += [pattern, pattern]
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def _item(row: Sequence[Any]) -> dict[str, Any]:
    item = dict(zip(COLUMNS, row, strict=True))
    item["duration_s"] = max(0, round(item["end"] - item["start"]))
    return item


def find(db: sqlite3.Connection, query: Query) -> dict[str, Any]:
    """{items (newest first), total (records of the kind), filtered}."""
    where, params = _where(query)
    page = "" if query.limit is None else f" LIMIT {int(query.limit)} OFFSET {int(query.offset)}"
    rows = db.execute(f"{_SELECT}{where} ORDER BY start DESC{page}", params).fetchall()
    kind_where, _ = _where(Query(kind=query.kind))
    total = count(db, Query(kind=query.kind))
    filtered = total if where == kind_where else count(db, query)
    return {"items": [_item(row) for row in rows], "total": total, "filtered": filtered}


def rows(db: sqlite3.Connection, query: Query, size: int = 2000) -> Iterator[dict[str, Any]]:
    """Every record the query finds, newest first, read in pieces (an export)."""
    where, params = _where(query)
    cursor = db.execute(f"{_SELECT}{where} ORDER BY start DESC", params)
    while batch := cursor.fetchmany(size):
        yield from (_item(row) for row in batch)


def get(db: sqlite3.Connection, key: str) -> dict[str, Any] | None:
    """One record with its participants in the order they joined."""
    row = db.execute(_SELECT + " WHERE key = ?", (key,)).fetchone()
    if row is None:
        return None
    item = _item(row)
    item["participants"] = [
        {"number": number, "name": name, "user_agent": agent, "joined": joined,
         "left": left, "duration_s": max(0, round(left - joined)), "how": how}
        for number, name, agent, joined, left, how in db.execute(
            "SELECT number, name, user_agent, joined, left, how FROM leg WHERE call_key = ? "
            "ORDER BY joined, counted DESC, uuid", (key,))]
    return item


def count(db: sqlite3.Connection, query: Query) -> int:
    where, params = _where(query)
    return db.execute(f"SELECT COUNT(*) FROM call{where}", params).fetchone()[0]  # noqa: S608


def stats(db: sqlite3.Connection, since: float | None, until: float | None
          ) -> dict[str, Any]:
    """K1: the records of each kind in the period, the peak concurrency ever and in the
    period."""
    ever = db.execute("SELECT COALESCE(MAX(peak), 0) FROM day_peak").fetchone()[0]
    return {
        "counts": {kind: count(db, Query(kind=kind, since=since, until=until))
                   for kind in KINDS},
        "peak_ever": ever,
        "peak": period_peak(db, since, until),
    }


def period_peak(db: sqlite3.Connection, since: float | None, until: float | None) -> int:
    """The exact peak in [since, until): whole days from day_peak, the edges swept."""
    first = db.execute("SELECT MIN(day), MAX(day) FROM day_peak").fetchone()
    if first[0] is None:
        return 0
    since = first[0] * DAY if since is None else since
    until = (first[1] + 1) * DAY if until is None else until
    if until <= since:
        return 0
    day_in, day_out = math.ceil(since / DAY), math.floor(until / DAY)
    if day_in >= day_out:   # within one day, or across one midnight
        return peak_between(db, since, until)
    whole = db.execute("SELECT COALESCE(MAX(peak), 0) FROM day_peak WHERE day >= ? "
                       "AND day < ?", (day_in, day_out)).fetchone()[0]
    return max(whole, peak_between(db, since, day_in * DAY),
               peak_between(db, day_out * DAY, until))
