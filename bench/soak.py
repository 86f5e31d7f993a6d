"""Figure: the control plane under a soak (issue 16 item 2): 32 admin clients for 10 minutes
while SIP terminals register, calls come and go in a meeting and FreeSWITCH sends an event
storm; memory must stay flat and every route group's p99 within the goals of the earlier
figures.

The control plane (10,000 accounts imported, a license, a VMR, 20 rooms) runs FreeSWITCH
as its child (local mode), as on the appliance; being FreeSWITCH's, its fixed ports
(5060, 5061, 8021, 8089) must be free: run it by hand inside a network namespace of its
own (`unshare --net bash -c 'ip link set lo up; .venv/bin/python -m bench.soak'`).

The admin clients are wrk connections with the admin's session, closed loop (a request as
soon as the last answer came, as bench/status.py's), in three route groups each cycling
its paths: lists (12 connections: accounts, search, rooms, meetings, call records,
operation log, online users, live meetings), details (10: an account, the VMR, a room,
the call settings, the license, the administrator) and status (10: /api/v1/status and
/api/v1/status/system). First every account registers once (SIPp, digest, through the
live directory, as fast as FreeSWITCH answers; REG_EXPIRES outlasts the soak), so the
control plane holds the 10,000 terminals of a full box from the reference on. Then, all
through the soak:
- SIP registrations: SIPp registers the 10,000 accounts again in turn (REG_RATE a second,
  each replacing the account's registration from the same address);
- meetings: SIPp calls the VMR (CALL_RATE a second, each caller in the conference for
  HOLD_MS: conference::maintenance events, CDRs posted at hangup), and an admin writer
  books and cancels a scheduled meeting and renames the VMR every second;
- an ESL event storm: FreeSWITCH is told (`sendevent`) STORM_RATE sofia::register and
  sofia::unregister events a second for a pool of STORM_DEVICES devices, which it hands
  to the control plane's subscription like its own.

Reference, measured in the same run: the same three wrk groups for REFERENCE_S on the same
server before the background load starts (quiet), printed beside the soak's figures. The
control plane's RSS is taken when the background load is in full swing (start: every
account registered, the reference run) and when the soak's wrk ends (end); the target is
growth <= 5 %. p99 goals: status 20 ms (bench/status.py), details 20 ms (one
document, as status), lists 50 ms (bench/call_records.py's p99 of list pages during a
CDR storm).

Duration: SOAK_S (600 s; VCBOX_BENCH_SOAK_S, or `python -m bench.soak --duration S`,
`--short` for 60 s).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from bench.accounts import ACCOUNTS, BATCH, Session, license_env, rss_mb, xlsx
from bench.harness import (
    SESSION_COOKIE,
    BenchError,
    Options,
    Result,
    Server,
    WrkResult,
    cpu_seconds,
    fmt_ms,
    load_line,
    machine_line,
    parse_wrk,
)
from bench.meeting_calls import lift_throttle, scenario
from bench.sip_register import CONCURRENT, FIXED_PORTS, call_port_taken, users_file, wait_ready
from controlplane.drivers.processes import FREESWITCH_DIR
from tests.sipp import register_scenario

NAME = "soak"
TITLE = "32 admin clients while SIP registrations, meetings and an ESL event storm run"
SOAK_S = float(os.environ.get("VCBOX_BENCH_SOAK_S") or 600)
SHORT_S = 60.0
REFERENCE_S = 15.0
TARGET_RSS_GROWTH = 0.05
LICENSED_CALLS = 100
ORGANIZER = "0000"
ROOMS = 20
REG_RATE = 20            # REGISTERs (with their digest challenge) a second
FILL_RATE = 2000         # offered a second while every account registers once, first
# Longer than the soak: the 10,000 registrations of the fill stay, the soak's refresh them
# (from the same address, replacing them), and the population is whole and constant.
REG_EXPIRES = 3600
REGISTER = register_scenario(200, user_agent="vcbox-bench", expires=REG_EXPIRES)
CALL_RATE = 1            # calls into the VMR a second
HOLD_MS = 8000           # each caller's time in the conference: ~8 members at a time
STORM_RATE = 200         # ESL events a second
STORM_DEVICES = 500
SAMPLE_S = 5.0           # RSS samples
PATH_S = 3.0             # each path of a group alone, where the group missed even quiet
PROBES = 9               # GETs of each path one after another, before the reference
STORM_AGENT = "Yealink VC400 63.345.0.10"


@dataclass(frozen=True)
class Group:
    name: str
    connections: int
    goal_p99_s: float
    paths: tuple[str, ...]


def groups(meeting_id: str, room_id: str) -> list[Group]:
    return [
        Group("lists", 12, 0.050, (
            "/api/v1/accounts?limit=20", "/api/v1/accounts?search=User%2012&limit=20",
            "/api/v1/rooms", "/api/v1/meetings", "/api/v1/call-records?limit=20",
            "/api/v1/operation-log?limit=20", "/api/v1/online-users?limit=20",
            "/api/v1/meetings/live")),
        Group("details", 10, 0.020, (
            "/api/v1/accounts/0042", "/api/v1/accounts/7311", f"/api/v1/meetings/{meeting_id}",
            f"/api/v1/rooms/{room_id}", "/api/v1/settings/call", "/api/v1/license",
            "/api/v1/admin")),
        Group("status", 10, 0.020, ("/api/v1/status", "/api/v1/status/system")),
    ]


WRK_SCRIPT = """-- cycles through the group's paths (one Lua state per wrk thread)
local paths = {%s}
local i = 0
request = function()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i])
end
"""


def wrk_groups(folder: Path, url: str, cookie: str, chosen: list[Group],
               seconds: float) -> dict[str, WrkResult]:
    """One wrk per group, all at once, for `seconds`."""
    wrk = shutil.which("wrk")
    if not wrk:
        raise BenchError("wrk is not installed (Debian: apt-get install wrk)")
    procs = {}
    for group in chosen:
        script = folder / f"wrk-{group.name}.lua"
        script.write_text(WRK_SCRIPT % ", ".join(json.dumps(p) for p in group.paths))
        out = open(folder / f"wrk-{group.name}.out", "w+")  # noqa: SIM115 - closed below
        procs[group.name] = (subprocess.Popen(
            [wrk, "-t1", f"-c{group.connections}", f"-d{max(1, round(seconds))}s",
             "--latency", "--timeout", "10s", "-s", str(script),
             "-H", f"Cookie: {SESSION_COOKIE}={cookie}; vcbox_lang=en", url],
            stdout=out, stderr=subprocess.STDOUT), out)
    results = {}
    for name, (proc, out) in procs.items():
        try:
            proc.wait(timeout=seconds + 60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        out.seek(0)
        text = out.read()
        out.close()
        if proc.returncode != 0:
            raise BenchError(f"wrk ({name}) exited with {proc.returncode}:\n{text[-1500:]}")
        results[name] = parse_wrk(text)
    return results


def same_session(first: Session) -> Session:
    """Another keep-alive connection with the admin session of `first` (Session's own
    constructor creates the administrator, which only the first may)."""
    other = Session.__new__(Session)
    other.server, other.cookie, other.csrf = first.server, first.cookie, first.csrf
    other.conn = http.client.HTTPConnection("127.0.0.1", first.server.port, timeout=60)
    return other


# -- the background load -------------------------------------------------------------------
class Sipp:
    """A SIPp run in the background (its own work folder), stopped by its PID."""

    def __init__(self, folder: Path, label: str, scenario_xml: str, users: Path, rate: int,
                 count: int, limit: int) -> None:
        self.work = folder / label
        self.work.mkdir()
        (self.work / "scenario.xml").write_text(scenario_xml)
        sipp = shutil.which("sipp")
        if sipp is None:
            raise BenchError("sipp is not installed (Debian: sip-tester; scripts/setup.sh)")
        self.out = open(self.work / "stdout.txt", "w+")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sipp, "127.0.0.1:5060", "-sf", str(self.work / "scenario.xml"), "-inf",
             str(users), "-m", str(count), "-r", str(rate), "-l", str(limit), "-i",
             "127.0.0.1", "-p", "0", "-nostdin", "-timeout", str(int(count / rate) + 120),
             "-recv_timeout", "10000"], cwd=self.work, stdout=self.out,
            stderr=subprocess.STDOUT)

    def wait(self, timeout: float) -> tuple[int, int]:
        """Until SIPp has made all its calls (stopped after timeout): stop()'s counters."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=timeout)
        return self.stop()

    def stop(self) -> tuple[int, int]:
        """(successful, failed) calls of SIPp's last counters."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGUSR1)  # SIPp's soft exit: no new calls
            try:
                self.proc.wait(timeout=HOLD_MS / 1000 + 15)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.out.seek(0)
        text = self.out.read()
        self.out.close()
        ok = re.findall(r"Successful call\s+\|\s+\d+\s+\|\s+(\d+)", text)
        failed = re.findall(r"Failed call\s+\|\s+\d+\s+\|\s+(\d+)", text)
        return int(ok[-1]) if ok else 0, int(failed[-1]) if failed else 0


@dataclass
class Storm:
    """sofia::register / unregister events through FreeSWITCH's event socket (sendevent),
    STORM_RATE a second, from a thread."""

    root: Path
    domain: str
    sent: int = 0
    refused: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    error: str = ""

    def _connect(self) -> socket.socket:
        params = {p.get("name"): p.get("value", "") for p in ET.parse(  # noqa: S314 - ours
            self.root / FREESWITCH_DIR / "autoload_configs" / "event_socket.conf.xml"
        ).iter("param")}
        sock = socket.create_connection(("127.0.0.1", int(params.get("listen-port") or 8021)),
                                        timeout=10)
        self._read(sock)  # auth/request
        sock.sendall(f"auth {params.get('password', '')}\n\n".encode())
        if "+OK" not in self._read(sock):
            raise BenchError("the event socket refused the rendered password")
        return sock

    def _read(self, sock: socket.socket) -> str:
        data = b""
        while not data.endswith(b"\n\n"):
            chunk = sock.recv(1)
            if not chunk:
                raise OSError("the event socket closed")
            data += chunk
        return data.decode("utf-8", "replace")

    def event(self, n: int) -> bytes:
        device = n % STORM_DEVICES
        kind = "register" if (n // STORM_DEVICES) % 2 == 0 else "unregister"
        account = f"{(device * 17) % ACCOUNTS:04d}"
        headers = {
            "Event-Subclass": f"sofia::{kind}", "profile-name": "internal",
            "from-user": account, "from-host": self.domain, "username": account,
            "call-id": f"soak-storm-{device}", "contact": f'"{account}" <sip:{account}@'
            f"10.9.{device // 250}.{device % 250 + 1}:5062>", "expires": "300",
            "user-agent": STORM_AGENT, "network-ip": f"10.9.{device // 250}.{device % 250 + 1}",
            "network-port": "5062"}
        return ("sendevent CUSTOM\n" + "".join(f"{k}: {v}\n" for k, v in headers.items())
                + "\n").encode()

    def run(self) -> None:
        try:
            sock = self._connect()
            started, n = time.monotonic(), 0
            while not self.stop.is_set():
                sock.sendall(self.event(n))
                if "+OK" in self._read(sock):
                    self.sent += 1
                else:
                    self.refused += 1
                n += 1
                ahead = n / STORM_RATE - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
            sock.close()
        except (OSError, BenchError) as exc:
            self.error = str(exc)


@dataclass
class Writer:
    """An admin who books and cancels a scheduled meeting and renames the VMR every
    second (store writes, invitations, the live dialplan's index)."""

    admin: Session
    meeting_id: str
    done: int = 0
    failed: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        session = same_session(self.admin)
        try:
            n = 0
            while not self.stop.wait(1.0):
                n += 1
                start = (dt.datetime.now() + dt.timedelta(days=1 + n % 30)).replace(
                    microsecond=0, second=0)
                status, body = session.request("POST", "/api/v1/meetings", json.dumps({
                    "kind": "scheduled", "subject": f"Soak {n}", "organizer": ORGANIZER,
                    "start": start.isoformat(), "duration_min": 30,
                    "participants": [f"{n % ACCOUNTS:04d}"]}).encode())
                if status != 201:
                    self.failed.append(f"POST /api/v1/meetings {status}: {str(body)[:200]}")
                    continue
                status, body = session.request("DELETE", f"/api/v1/meetings/{body['id']}")
                if status not in (200, 204):
                    self.failed.append(f"DELETE a meeting {status}: {str(body)[:200]}")
                status, body = session.request(
                    "PUT", f"/api/v1/meetings/{self.meeting_id}",
                    json.dumps({"subject": f"Soak VMR {n}"}).encode())
                if status != 200:
                    self.failed.append(f"PUT the VMR {status}: {str(body)[:200]}")
                self.done += 1
        except (OSError, ValueError) as exc:
            self.failed.append(str(exc))
        finally:
            session.close()


class Rss:
    """The control plane's RSS every SAMPLE_S, from a thread."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(SAMPLE_S):
            try:
                self.samples.append(rss_mb(self.pid))
            except (OSError, BenchError):
                return


# -- the figure ----------------------------------------------------------------------------
def prepare(session: Session) -> tuple[str, str, str]:
    """Accounts, rooms and the VMR: (domain, VMR id, a room id)."""
    for first in range(0, ACCOUNTS, BATCH):
        status, body = session.upload("/api/v1/accounts/import", f"b{first}.xlsx",
                                      xlsx(first, BATCH))
        if status != 200 or body.get("created") != BATCH:
            raise BenchError(f"import answered {status}: {str(body)[:300]}")
    room_id = ""
    for n in range(ROOMS):
        status, room = session.request("POST", "/api/v1/rooms", json.dumps(
            {"name": f"Room {n}", "kind": "normal"}).encode())
        if status not in (200, 201):
            raise BenchError(f"POST /api/v1/rooms answered {status}: {room}")
        room_id = room_id or str(room["id"])
    status, meeting = session.request("POST", "/api/v1/meetings", json.dumps(
        {"kind": "vmr", "subject": "Soak VMR", "organizer": ORGANIZER}).encode())
    if status != 201:
        raise BenchError(f"POST /api/v1/meetings answered {status}: {meeting}")
    domain = session.json("GET", "/api/v1/settings/network")["domain"]
    return domain, str(meeting["id"]), room_id


def figure_line(name: str, quiet: WrkResult, soak: WrkResult, goal: float) -> tuple[str, bool]:
    ok = soak.p99_s <= goal and not soak.problems
    trouble = "  " + "; ".join(soak.problems) if soak.problems else ""
    return (f"  {name:8} quiet {quiet.requests_per_s:7,.0f} req/s p99 {fmt_ms(quiet.p99_s):>9}"
            f"  | soak {soak.requests_per_s:7,.0f} req/s p50 {fmt_ms(soak.p50_s):>9} p99 "
            f"{fmt_ms(soak.p99_s):>9}  (goal p99 <= {fmt_ms(goal)}: "
            f"{'PASS' if ok else 'FAIL'}){trouble}", ok)


def run(options: Options, seconds: float = SOAK_S) -> Result:
    taken = [p for p in FIXED_PORTS if call_port_taken(p)]
    if taken:
        raise BenchError(f"FreeSWITCH's fixed ports are in use: {taken} (run the soak in a "
                         "network namespace of its own: unshare --net)")
    for tool in ("freeswitch", "sipp", "wrk"):
        if shutil.which(tool) is None:
            raise BenchError(f"{tool} is not installed (scripts/setup.sh)")
    folder = Path(tempfile.mkdtemp(prefix="vcbox-bench-soak-"))
    try:
        return measure(folder, seconds)
    finally:
        if os.environ.get("VCBOX_BENCH_KEEP"):
            print(f"  kept {folder} (VCBOX_BENCH_KEEP): wrk's and SIPp's output")
        else:
            shutil.rmtree(folder, ignore_errors=True)


def measure(folder: Path, seconds: float) -> Result:
    env, serial = license_env(folder, LICENSED_CALLS)
    env.update(VCBOX_LOCAL_SERVICES="freeswitch", VCBOX_DIRECTORY_PORT="8089")
    with Server(env, start_timeout=90) as server:
        assert server.data_dir is not None
        root = server.data_dir / "root"
        admin = Session(server)
        admin.json("POST", "/api/v1/license", {"serial": serial})
        domain, meeting_id, room_id = prepare(admin)
        cookie = admin.cookie.split(";")[0].split("=", 1)[1]
        wait_ready(root)
        lift_throttle(root)
        users = users_file(folder, domain)
        began = time.monotonic()
        filled = Sipp(folder, "fill", REGISTER, users, FILL_RATE, ACCOUNTS,
                      CONCURRENT).wait(ACCOUNTS / 20)
        online = admin.json("GET", "/api/v1/online-users?limit=1").get("total", 0)
        print(f"  fill: every account registered once, {filled[0]:,} ok / {filled[1]:,} "
              f"failed in {time.monotonic() - began:.0f} s; {online:,} accounts online",
              flush=True)
        if online < ACCOUNTS * 0.99:
            raise BenchError(f"after the fill only {online:,} of {ACCOUNTS:,} accounts are "
                             "online")
        chosen = groups(meeting_id, room_id)
        slow = []
        for group in chosen:
            for path in group.paths:
                took = []
                for _ in range(PROBES):
                    started = time.perf_counter()
                    status, body = admin.request("GET", path)
                    took.append(time.perf_counter() - started)
                    if status != 200:
                        raise BenchError(f"GET {path} answered {status}: {str(body)[:300]}")
                median = sorted(took)[len(took) // 2]
                if median > group.goal_p99_s / 4:
                    slow.append(f"{path} {fmt_ms(median)}")
        if slow:
            print(f"  slow alone (median of {PROBES} GETs one after another, over a quarter "
                  "of the group's goal): " + ", ".join(slow), flush=True)
        print(f"  control plane pid {server.pid} on {server.base_url}: {ACCOUNTS:,} accounts, "
              f"{ROOMS} rooms, VMR {meeting_id}; FreeSWITCH its child", flush=True)
        print(f"  reference: the {len(chosen)} route groups for {REFERENCE_S:.0f} s, nothing "
              "else running", flush=True)
        quiet = wrk_groups(folder, server.base_url, cookie, chosen, REFERENCE_S)
        for group in chosen:
            if quiet[group.name].p99_s > group.goal_p99_s:
                # Where the time goes: each path of the group alone, the group's connections.
                for n, path in enumerate(group.paths):
                    one = Group(f"{group.name}-{n}", group.connections, group.goal_p99_s,
                                (path,))
                    alone = wrk_groups(folder, server.base_url, cookie, [one], PATH_S)[one.name]
                    print(f"    {group.name} over its goal even quiet; {path} alone: "
                          f"{alone.requests_per_s:,.0f} req/s p99 {fmt_ms(alone.p99_s)}",
                          flush=True)

        rss = Rss(server.pid)
        storm = Storm(root, domain)
        writer = Writer(admin, meeting_id)
        threads = [threading.Thread(target=t.run, daemon=True, name=type(t).__name__)
                   for t in (rss, storm, writer)]
        span = seconds + 30
        registrar = Sipp(folder, "register", REGISTER, users, REG_RATE,
                         int(REG_RATE * span), 50)
        caller = Sipp(folder, "calls", scenario(meeting_id), users, CALL_RATE,
                      int(CALL_RATE * span), 4 * CALL_RATE * HOLD_MS // 1000 + 10)
        try:
            for thread in threads:
                thread.start()
            time.sleep(5)  # the background load in full swing
            rss_start = rss_mb(server.pid)
            cpu0, wall0 = cpu_seconds(server.pid), time.monotonic()
            print(f"  soak: {seconds:.0f} s, {sum(g.connections for g in chosen)} wrk "
                  f"connections; SIPp {REG_RATE} REGISTER/s and {CALL_RATE} call/s "
                  f"({HOLD_MS} ms in the VMR); ESL storm {STORM_RATE} events/s; a writer "
                  f"1 booking/s  ({load_line()})", flush=True)
            soak = wrk_groups(folder, server.base_url, cookie, chosen, seconds)
            rss_end = rss_mb(server.pid)
            cpu1, wall = cpu_seconds(server.pid), time.monotonic() - wall0
            seen = admin.json("GET", "/api/v1/online-users?limit=1")
            live = admin.json("GET", "/api/v1/meetings/live")
        finally:
            for part in (rss, storm, writer):
                part.stop.set()
            registered = registrar.stop()
            called = caller.stop()
            for thread in threads:
                thread.join(15)
            admin.close()

    growth = (rss_end - rss_start) / rss_start
    rss_ok = growth <= TARGET_RSS_GROWTH
    lines, oks = [], []
    for group in chosen:
        line, ok = figure_line(group.name, quiet[group.name], soak[group.name],
                               group.goal_p99_s)
        lines.append(line)
        oks.append(ok)
    for line in lines:
        print(line, flush=True)
    samples = rss.samples or [rss_start]
    print(f"  RSS of the control plane: start {rss_start:.1f} MB, end {rss_end:.1f} MB "
          f"({growth:+.1%}; min {min(samples):.1f}, max {max(samples):.1f} over "
          f"{len(samples)} samples)  (target growth <= {TARGET_RSS_GROWTH:.0%}: "
          f"{'PASS' if rss_ok else 'FAIL'})", flush=True)
    if cpu0 is not None and cpu1 is not None:
        print(f"  control plane CPU {100 * (cpu1 - cpu0) / wall:.0f}% of one core", flush=True)
    print(f"  background: REGISTER {registered[0]:,} ok / {registered[1]:,} failed; calls "
          f"{called[0]:,} ok / {called[1]:,} failed; ESL events {storm.sent:,} sent"
          f"{f', {storm.refused} refused' if storm.refused else ''}"
          f"{f' (storm stopped: {storm.error})' if storm.error else ''}; writer "
          f"{writer.done:,} rounds, {len(writer.failed)} failed; at the end "
          f"{seen.get('reachable') and 'FreeSWITCH reachable' or 'FreeSWITCH UNREACHABLE'}, "
          f"{seen.get('total', 0):,} accounts online (SIPp's and the storm's), "
          f"{len(live.get('items', []))} live meeting(s)", flush=True)
    problems = []
    valid_checks = {
        "no REGISTER succeeded": registered[0] == 0,
        "no call succeeded": called[0] == 0,
        f"the ESL storm did not run ({storm.error or 'nothing sent'})": storm.sent == 0,
        f"the writer failed: {writer.failed[:2]}": bool(writer.failed),
    }
    problems += [what for what, bad in valid_checks.items() if bad]
    valid = not problems and all(not soak[g.name].problems for g in chosen)
    for group, ok in zip(chosen, oks, strict=True):
        if not ok:
            problems.append(f"{group.name} p99 {fmt_ms(soak[group.name].p99_s)} > "
                            f"{fmt_ms(group.goal_p99_s)}" if not soak[group.name].problems
                            else f"{group.name}: " + "; ".join(soak[group.name].problems))
    if not rss_ok:
        problems.append(f"RSS growth {growth:+.1%} > {TARGET_RSS_GROWTH:.0%}")
    passed = valid and rss_ok and all(oks)
    worst = ", ".join(f"{g.name} p99 {fmt_ms(soak[g.name].p99_s)}" for g in chosen)
    line = (f"{NAME}  {TITLE}  {seconds:.0f} s  RSS {growth:+.1%}  {worst}  "
            f"(targets: RSS growth <= {TARGET_RSS_GROWTH:.0%}, p99 within the earlier "
            f"figures' goals: {'PASS' if passed else 'INVALID' if not valid else 'FAIL'})")
    return Result(NAME, line, passed, valid, problems)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=TITLE)
    parser.add_argument("--duration", type=float, default=SOAK_S, metavar="S",
                        help=f"seconds of soak (default {SOAK_S:.0f})")
    parser.add_argument("--short", action="store_true",
                        help=f"the short form: {SHORT_S:.0f} s")
    args = parser.parse_args(argv)
    seconds = SHORT_S if args.short else args.duration
    if seconds < 10:
        parser.error("--duration must be at least 10")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    print(machine_line(), flush=True)
    print(f"[{NAME}] {TITLE}  ({load_line()})", flush=True)
    try:
        result = run(Options(), seconds)
    except (BenchError, OSError) as exc:
        result = Result(NAME, f"{NAME}  {TITLE}  ERROR: {exc}", passed=False, valid=False,
                        problems=[str(exc).splitlines()[0]])
    print(result.line, flush=True)
    if result.problems:
        print("  missed: " + "; ".join(result.problems), flush=True)
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
