"""Figure 6: call records at a year of a busy appliance (issue 13, K1-K2), through a real
server with a real FreeSWITCH, each figure beside the raw SQLite query in the same run.

The call-record database is made before the server starts: RECORDS call records over the
last 12 months in time order (40 % point-to-point calls of two, the rest meetings of one
to four participants), written by controlplane.call_records.add, the code that takes in
FreeSWITCH's CDRs, so the day peaks are as the inbox keeps them.

  (a) the last month's first page (GET /api/v1/call-records?months=1): p50 <= 10 ms;
  (b) the 12-month statistics (GET /api/v1/call-records/stats?months=12): p50 <= 100 ms;
  (c) the CSV export of EXPORT_ROWS records (the newest): <= 2 s, the whole download;
  (d) an ESL event storm: EVENTS_PER_S sofia::register events a second fired into the
      real FreeSWITCH (ESL sendevent from a second connection; FreeSWITCH delivers them to
      the control plane's subscription) for STORM_S seconds while GET /api/v1/online-users
      and the last month's page are asked on: p99 <= 50 ms during the storm, beside the
      same requests' p99 before it; every device of the storm must be online after it
      (the events were handled, not dropped).
Raw: the same reads by call_records on a sqlite3 connection of this process (no server,
no HTTP), on the same database.
"""

from __future__ import annotations

import http.client
import random
import shutil
import socket
import sqlite3
import statistics
import tempfile
import threading
import time
import xml.etree.ElementTree as ET  # noqa: N817
from pathlib import Path

from bench.accounts import Session, license_env, percentile, verdict
from bench.harness import BenchError, Options, Result, Server, fmt_ms
from bench.sip_register import FIXED_PORTS, call_port_taken, wait_ready
from controlplane import call_records as cr

NAME = "call_records"
TITLE = "1,000,000 call records: page, statistics, export, ESL storm"
RECORDS = 1_000_000
EXPORT_ROWS = 100_000
PAGE_REQUESTS = 200
STATS_REQUESTS = 30
EVENTS_PER_S = 1000
STORM_S = 10.0
STORM_DEVICES = 2000
TARGET_PAGE_P50_S = 0.010
TARGET_STATS_P50_S = 0.100
TARGET_EXPORT_S = 2.0
TARGET_STORM_P99_S = 0.050
YEAR = 365 * 86400.0


def build(path: Path, now: float, records: int = RECORDS) -> float:
    """The database of `records` call records ending now; seconds it took."""
    started = time.perf_counter()
    rnd = random.Random(13)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")  # made once for the bench; the inbox fsyncs
    db.execute("CREATE TABLE IF NOT EXISTS cdr (uuid TEXT PRIMARY KEY, received REAL NOT "
               "NULL, record BLOB NOT NULL)")
    cr.migrate(db)
    step = YEAR / records
    legs: list[cr.Leg] = []
    for n in range(records):
        start = now - YEAR + n * step
        length = rnd.uniform(60, 3600)
        key = f"call-{n:07d}"
        if rnd.random() < 0.4:
            caller, callee = f"{rnd.randrange(1000, 9999)}", f"{rnd.randrange(1000, 9999)}"
            subject = f"User {caller} → User {callee}"
            legs += [cr.Leg(f"{key}-a", key, cr.P2P, "", subject, caller, caller,
                            f"User {caller}", "Yealink VC400 63.345.0.10", start,
                            start + length),
                     cr.Leg(f"{key}-b", key, cr.P2P, "", subject, caller, callee,
                            f"User {callee}", "", start, start + length, "callee", False)]
        else:
            kind = rnd.choice((cr.INSTANT, cr.SCHEDULED, cr.VMR))
            meeting = f"{rnd.randrange(100000, 999999)}"
            organizer = f"{rnd.randrange(1000, 9999)}"
            for m in range(rnd.randint(1, 4)):
                legs.append(cr.Leg(f"{key}-{m}", key, kind, meeting, f"Meeting {n}",
                                   organizer, f"{rnd.randrange(1000, 9999)}", "Member",
                                   "Yealink VC120 63.345.0.10", start + m, start + length))
        if len(legs) >= 20_000:
            db.execute("BEGIN")
            cr.add(db, legs)
            db.execute("COMMIT")
            legs = []
    db.execute("BEGIN")
    cr.add(db, legs)
    db.execute("DELETE FROM call_meta WHERE name = 'derive_all'")
    db.execute("COMMIT")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return time.perf_counter() - started


def timed(fn, times: int) -> list[float]:
    out = []
    for _ in range(times):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def raw_figures(path: Path, since_month: float, since_year: float, since_export: float
                ) -> dict[str, float]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        page = timed(lambda: cr.find(db, cr.Query(since=since_month, limit=20)), PAGE_REQUESTS)
        stats = timed(lambda: cr.stats(db, since_year, None), STATS_REQUESTS)
        export = timed(lambda: sum(1 for _ in cr.rows(db, cr.Query(since=since_export))), 1)
    finally:
        db.close()
    return {"page": statistics.median(page), "stats": statistics.median(stats),
            "export": export[0]}


class Esl:
    """A second event-socket connection, for sendevent (the rendered password)."""

    def __init__(self, root: Path) -> None:
        conf = root / "etc/freeswitch/autoload_configs/event_socket.conf.xml"
        params = {p.get("name"): p.get("value", "")
                  for p in ET.parse(conf).iter("param")}  # noqa: S314 - our own file
        self.sock = socket.create_connection(("127.0.0.1", int(params["listen-port"])), 10)
        self.file = self.sock.makefile("rb")
        self._read()  # auth/request
        self.sock.sendall(f"auth {params['password']}\n\n".encode())
        if b"+OK" not in self._read():
            raise BenchError("the event socket refused the rendered password")
        self.replies = 0
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _read(self) -> bytes:
        head = b""
        while True:
            line = self.file.readline()
            if not line:
                raise BenchError("the event socket closed")
            if line == b"\n":
                return head
            head += line

    def _drain(self) -> None:
        try:
            while True:
                if b"+OK" in self._read():
                    self.replies += 1
        except (BenchError, OSError, ValueError):
            pass

    def register(self, n: int) -> None:
        account = 5000 + n % (STORM_DEVICES // 2)
        self.sock.sendall((
            "sendevent CUSTOM\nEvent-Subclass: sofia::register\nprofile-name: internal\n"
            f"from-user: {account}\nfrom-host: vcbox.local\ncall-id: storm-{n % STORM_DEVICES}\n"
            "expires: 3600\nuser-agent: Yealink SIP-VC400 63.345.0.10\n"
            f"network-ip: 192.0.2.{n % 250 + 1}\nnetwork-port: 5060\n"
            f"contact: <sip:{account}@192.0.2.1:5060>\n\n").encode())

    def close(self) -> None:
        self.sock.close()


def ask(server: Server, cookie: str, paths: list[str], stop: threading.Event,
        out: list[float]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    n = 0
    while not stop.is_set():
        path = paths[n % len(paths)]
        n += 1
        t0 = time.perf_counter()
        conn.request("GET", path, headers={"Cookie": cookie})
        res = conn.getresponse()
        res.read()
        if res.status != 200:
            raise BenchError(f"GET {path} answered {res.status} during the storm")
        out.append(time.perf_counter() - t0)
        time.sleep(0.005)
    conn.close()


def run(options: Options) -> Result:
    taken = [p for p in FIXED_PORTS if call_port_taken(p)]
    if taken:
        raise BenchError(f"FreeSWITCH's fixed ports are in use: {taken}")
    if shutil.which("freeswitch") is None:
        raise BenchError("freeswitch is not installed (scripts/setup.sh installs it)")
    folder = Path(tempfile.mkdtemp(prefix="vcbox-bench-records-"))
    data = folder / "data"
    data.mkdir()
    try:
        now = time.time()
        made_s = build(data / "calls.sqlite3", now)
        print(f"  {RECORDS:,} call records made in {made_s:.0f} s", flush=True)
        env, serial = license_env(folder)
        env.update(VCBOX_LOCAL_SERVICES="freeswitch", VCBOX_DIRECTORY_PORT="8089",
                   VCBOX_DATA=str(data))
        with Server(env, start_timeout=90) as server:
            session = Session(server)
            try:
                session.json("POST", "/api/v1/license", {"serial": serial})
                wait_ready(data / "root")
                month = "/api/v1/call-records?months=1&limit=20"
                page = timed(lambda: session.json("GET", month), PAGE_REQUESTS)
                year = "/api/v1/call-records/stats?months=12"
                stats = timed(lambda: session.json("GET", year), STATS_REQUESTS)
                first = session.json("GET", month)["items"]
                since_month = time.mktime(time.strptime(
                    session.json("GET", "/api/v1/call-records/stats?months=1")["since"],
                    "%Y-%m-%d"))
                # The newest EXPORT_ROWS records: from the start of the last of them.
                db = sqlite3.connect(f"file:{data / 'calls.sqlite3'}?mode=ro", uri=True)
                since_export = db.execute("SELECT start FROM call ORDER BY start DESC "
                                          "LIMIT 1 OFFSET ?", (EXPORT_ROWS - 1,)).fetchone()[0]
                db.close()
                t0 = time.perf_counter()
                status, body = session.request(
                    "GET", f"/api/v1/call-records?format=csv&since={since_export}")
                export_s = time.perf_counter() - t0
                exported = len(body.splitlines()) - 1 if isinstance(body, str) else -1
                raw = raw_figures(data / "calls.sqlite3", since_month, now - YEAR,
                                  since_export)
                storm = storm_figures(server, session, data / "root")
            finally:
                session.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    problems = []
    if not first:
        problems.append("the last month's page was empty")
    if status != 200 or exported != EXPORT_ROWS:
        problems.append(f"the export answered {status} with {exported} rows")
    if storm["online"] != STORM_DEVICES // 2:
        problems.append(f"after the storm {storm['online']} accounts were online, not "
                        f"{STORM_DEVICES // 2}: events were lost")
    page_p50, stats_p50 = statistics.median(page), statistics.median(stats)
    checks = [page_p50 <= TARGET_PAGE_P50_S, stats_p50 <= TARGET_STATS_P50_S,
              export_s <= TARGET_EXPORT_S, storm["p99"] <= TARGET_STORM_P99_S]
    line = "\n".join([
        f"{NAME}  {TITLE}",
        f"  (a) last month's page p50 {fmt_ms(page_p50)} (target <= "
        f"{fmt_ms(TARGET_PAGE_P50_S)}) {verdict(checks[0])}; raw SQLite "
        f"{fmt_ms(raw['page'])}",
        f"  (b) 12-month statistics p50 {fmt_ms(stats_p50)}, p95 "
        f"{fmt_ms(percentile(stats, 0.95))} (target <= {fmt_ms(TARGET_STATS_P50_S)}) "
        f"{verdict(checks[1])}; raw SQLite {fmt_ms(raw['stats'])}",
        f"  (c) CSV export of {exported:,} rows {export_s:.2f} s (target <= "
        f"{TARGET_EXPORT_S:.0f} s) {verdict(checks[2])}; raw SQLite read {raw['export']:.2f} s",
        f"  (d) ESL storm {storm['rate']:,.0f} events/s for {STORM_S:.0f} s (FreeSWITCH "
        f"answered {storm['sent']:,} sendevents): API p99 {fmt_ms(storm['p99'])} over "
        f"{storm['requests']} requests (target <= {fmt_ms(TARGET_STORM_P99_S)}) "
        f"{verdict(checks[3])}; before the storm p99 {fmt_ms(storm['quiet_p99'])}; "
        f"{storm['online']:,} accounts online after it",
    ])
    return Result(NAME, line, passed=all(checks) and not problems, valid=not problems,
                  problems=problems)


def storm_figures(server: Server, session: Session, root: Path) -> dict[str, float]:
    cookie = session.cookie
    paths = ["/api/v1/online-users?limit=20", "/api/v1/call-records?months=1&limit=20"]

    def window(seconds: float, during=None) -> list[float]:
        stop, out = threading.Event(), []
        asker = threading.Thread(target=ask, args=(server, cookie, paths, stop, out))
        asker.start()
        try:
            if during is None:
                time.sleep(seconds)
            else:
                during()
        finally:
            stop.set()
            asker.join()
        return out

    quiet = window(3.0)
    esl = Esl(root)
    sent = 0
    started = time.perf_counter()

    def fire() -> None:
        nonlocal sent
        while (elapsed := time.perf_counter() - started) < STORM_S:
            due = int(elapsed * EVENTS_PER_S) + 1
            while sent < due:
                esl.register(sent)
                sent += 1
            time.sleep(0.002)

    during = window(0, fire)
    rate = sent / (time.perf_counter() - started)
    deadline = time.monotonic() + 30
    online = -1
    while time.monotonic() < deadline:
        online = session.json("GET", "/api/v1/online-users?limit=1")["total"]
        if online >= STORM_DEVICES // 2:
            break
        time.sleep(0.5)
    replies = esl.replies
    esl.close()
    return {"p99": percentile(during, 0.99), "quiet_p99": percentile(quiet, 0.99),
            "requests": len(during), "rate": rate, "sent": replies, "online": online}
