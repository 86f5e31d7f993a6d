"""Figure 5: calls into a meeting through vcbox's live dialplan, beside the same calls into
a static XML dialplan, in one run (issue 11).

Live: the control plane (10,000 accounts imported, a license, one VMR meeting) runs
FreeSWITCH as its child. FreeSWITCH asks the control plane over mod_xml_curl for the
caller (directory: the REGISTER's and INVITE's digest auth; FreeSWITCH keeps the entry in
its user cache, api_freeswitch.USER_CACHE_MS, flushed at every account change) and for
the dialled number (dialplan: controlplane.dialplan, live from the store), and posts each
call's record at hangup (mod_json_cdr → the CDR inbox, fsynced).
Static: the same rendered FreeSWITCH configuration; the directory is a file of the same
users with the same answers, cacheable alike (bench/sip_register.py builds it), its SIP,
event-socket and RTP ports moved (STATIC_PORTS), the dialplan a file whose "default" context has
the one extension the live dialplan answered for the meeting ID (its document, taken from
the live gateway before the live run: controlplane.dialplan.route's output as FreeSWITCH
got it, so both runs execute the same actions). With nothing left for mod_xml_curl to ask
it is not loaded, and mod_json_cdr keeps its records on disk (no url: nobody to post
to). It runs alone, beside the live one: no control plane of its own.

The actions are the live dialplan's for a VMR without a password: set vcbox_meeting, the
prompt language, limit (the licensed calls), answer, sleep 500 ms (the prompts'
lead-in), conference <id>@default. Both runs execute exactly these.

In both runs the callers register first (SIPp, once each), as terminals do before they
call. Then SIPp calls the meeting ID from them in turn (INVITE, 407, INVITE with
credentials, 100/180/183, 200, ACK, HOLD_MS without media, BYE, 200), at most CONCURRENT
calls at a time, new calls as fast as they end. Call setup time is SIPp's response time
from the first INVITE to the 200; calls/s is the sustained rate of 200s, between the
10th and the 90th percentile answer (STEADY: the first CONCURRENT calls start together,
and the last end alone).

Both runs should be limited by the machine, not by the bench: FreeSWITCH's rendered
sessions-per-second (30, switch.conf) is lifted over ESL (`fsctl sps`), and CONCURRENT
sets the ceiling CONCURRENT / (HOLD_MS + setup + BYE), about 190 calls/s at a 0.25 s setup
and a 0.1 s BYE, above the 110-150 calls/s either run reaches on 2 cores (SIPp,
FreeSWITCH and, live, the control plane share them, 80-99 % busy). CONCURRENT stays under
half the licensed concurrency, so the live dialplan never takes its audio-only branch.

One round's rate moves by 10-30 % from round to round on a shared machine, in spells
longer than a round. So both FreeSWITCHes run throughout and the rounds alternate, live
and static, the order swapped each pair: the figure is the median of ROUNDS pairs' live
calls/s over static calls/s (target >= 0.9). Seven pairs, not five: in about one run of
five, two or three pairs in a row fell to 0.75-0.85 with FreeSWITCH's CPU per call up on
whichever side was slow (contention inside FreeSWITCH, not the control plane, whose share
stayed 1.0-1.6 ms per call), and a median of five then followed them. The CPU
milliseconds per call by process (of each dialplan's median round) say where the
difference goes.
"""

from __future__ import annotations

import base64
import csv
import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.accounts import (
    ACCOUNTS,
    BATCH,
    Session,
    license_env,
    percentile,
    xlsx,
    xml_curl_credentials,
)
from bench.harness import BenchError, Options, Result, Server, cpu_seconds, fmt_ms
from bench.sip_register import (
    FIXED_PORTS,
    call_port_taken,
    make_static,
    register_all,
    users_file,
    wait_ready,
)
from controlplane.drivers.esl import EslError
from controlplane.drivers.processes import (
    FREESWITCH_DIR,
    freeswitch_argv,
    freeswitch_esl,
    freeswitch_prepare,
)
from tests.sipp import call_scenario

NAME = "meeting_calls"
TITLE = "calls into a meeting via the live dialplan vs a static XML dialplan"
TARGET_RATIO = 0.9
CALLS = 2_000            # per round
ROUNDS = 7               # pairs of rounds (live, static): the figure is the median pair
CONCURRENT = 250         # calls in flight (and conference members) at most
RATE = 5000              # offered per second: far above what one FreeSWITCH answers
HOLD_MS = 1000           # ACK to BYE: the caller is in the conference for ~0.5 s of it
SPS = 10_000             # sessions per second FreeSWITCH accepts during the runs
LICENSED_CALLS = 600     # bench/accounts.license_env's license for this bench
ORGANIZER = "0000"
STEADY = (0.1, 0.9)      # the answers the rate is taken over
STATIC_SIP_PORT = 5070
# (file under the FreeSWITCH folder, pattern, replacement): the static FreeSWITCH's ports
STATIC_PORTS = (
    ("sip_profiles/internal.xml", r'name="sip-port" value="\d+"',
     f'name="sip-port" value="{STATIC_SIP_PORT}"'),
    ("sip_profiles/internal.xml", r'name="tls-sip-port" value="\d+"',
     'name="tls-sip-port" value="5071"'),
    ("autoload_configs/event_socket.conf.xml", r'name="listen-port" value="\d+"',
     'name="listen-port" value="8022"'),
    ("autoload_configs/switch.conf.xml", r'name="rtp-start-port" value="\d+"',
     'name="rtp-start-port" value="40000"'),
    ("autoload_configs/switch.conf.xml", r'name="rtp-end-port" value="\d+"',
     'name="rtp-end-port" value="47999"'),
)


@dataclass(frozen=True)
class Run:
    calls_per_s: float
    p50_s: float
    p99_s: float
    succeeded: int
    failed: int        # SIPp's count: at saturation a few BYEs of either run go unanswered
    unanswered: int    # calls that never got their 200: the figure is invalid with any
    cpu_s: dict[str, float] = field(default_factory=dict)  # by process, during the calls

    def cpu_line(self) -> str:
        """CPU milliseconds per answered call, by process."""
        calls = max(1, self.succeeded)
        return ", ".join(f"{name} {seconds * 1000 / calls:.1f}"
                         for name, seconds in self.cpu_s.items())


def child_pid(parent: int, name: str) -> int:
    """The pid of the parent's child process called name (0: none)."""
    for children in Path(f"/proc/{parent}/task").glob("*/children"):
        for pid in children.read_text().split():
            try:
                if Path(f"/proc/{pid}/comm").read_text().strip() == name:
                    return int(pid)
            except OSError:
                continue
    return 0


def scenario(meeting_id: str) -> str:
    """tests/sipp.call_scenario, timed from the first INVITE to the 200 ("setup")."""
    text = call_scenario(meeting_id, 200, talk_ms=HOLD_MS, media=False)
    first, answer = '<send retrans="500">', '<recv response="200" rrs="true"/>'
    if text.count(answer) != 1 or first not in text:
        raise BenchError("tests/sipp.call_scenario changed shape: cannot time its setup")
    text = text.replace(first, '<send retrans="500" start_rtd="setup">', 1)
    return text.replace(answer, '<recv response="200" rrs="true" rtd="setup"/>')


def live_extension(server: Server, meeting_id: str, caller: str) -> ET.Element:
    """The dialplan context the live gateway answers for a call to the meeting ID (the
    form fields controlplane.web.api_freeswitch reads from mod_xml_curl's post)."""
    port = int(server.extra_env["VCBOX_DIRECTORY_PORT"])
    form = urllib.parse.urlencode({
        "section": "dialplan", "Hunt-Context": "default",
        "Hunt-Destination-Number": meeting_id, "variable_user_name": caller,
        "Caller-Caller-ID-Number": caller}).encode()
    auth = base64.b64encode(xml_curl_credentials(server).encode()).decode()
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/freeswitch/xml", data=form, method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded",
                 "Authorization": f"Basic {auth}"})
    with urllib.request.urlopen(req, timeout=10) as res:
        text = res.read().decode("utf-8")
    context = ET.fromstring(text).find("section/context")  # noqa: S314 - our own server
    apps = [a.get("application") for a in context.iter("action")] \
        if context is not None else []
    if context is None or "conference" not in apps or "playback" in apps[:apps.index(
            "conference")]:
        raise BenchError(f"the live dialplan does not put {meeting_id} into its meeting "
                         f"at once:\n{text[:1500]}")
    return context


def add_static_dialplan(root: Path, context: ET.Element) -> None:
    """Give the static root (sip_register.make_static's) its dialplan as a file, and
    nothing to ask over HTTP."""
    conf = root / FREESWITCH_DIR
    main = conf / "freeswitch.xml"
    main.write_text(main.read_text().replace(
        "</document>", '  <section name="dialplan" description="static">\n'
        '    <X-PRE-PROCESS cmd="include" data="dialplan/*.xml"/>\n'
        "  </section>\n</document>"))
    (conf / "dialplan").mkdir()
    (conf / "dialplan" / "default.xml").write_text(
        "<include>\n" + ET.tostring(context, encoding="unicode") + "\n</include>\n")
    modules = conf / "autoload_configs" / "modules.conf.xml"
    text, found = re.subn(r'\s*<load module="mod_xml_curl"/>', "", modules.read_text())
    if found != 1:
        raise BenchError("modules.conf.xml: no mod_xml_curl to unload")
    modules.write_text(text)
    cdr = conf / "autoload_configs" / "json_cdr.conf.xml"
    text, found = re.subn(r'\s*<param name="url" [^>]*/>', "", cdr.read_text())
    if found != 1:
        raise BenchError("json_cdr.conf.xml: no url to drop")
    cdr.write_text(text)


def lift_throttle(root: Path) -> None:
    esl = freeswitch_esl(root, timeout=5.0)
    try:
        out = esl.api(f"fsctl sps {SPS}")
    except EslError as exc:
        raise BenchError(f"fsctl sps over ESL: {exc}") from exc
    finally:
        esl.close()
    if "-ERR" in out:
        raise BenchError(f"fsctl sps {SPS}: {out.strip()}")
    time.sleep(1.2)  # FreeSWITCH refills the current second's allowance once a second


def call_all(folder: Path, users: Path, meeting_id: str, label: str, sip_port: int,
             pids: dict[str, int]) -> Run:
    """SIPp makes CALLS calls to the meeting at 127.0.0.1:sip_port, CONCURRENT at a time;
    the CPU seconds the processes of pids spend meanwhile."""
    work = folder / label
    work.mkdir()
    path = work / "call.xml"
    path.write_text(scenario(meeting_id))
    sipp = shutil.which("sipp")
    if sipp is None:
        raise BenchError("sipp is not installed (Debian: sip-tester; scripts/setup.sh)")
    argv = [sipp, f"127.0.0.1:{sip_port}", "-sf", str(path), "-inf", str(users),
            "-m", str(CALLS), "-r", str(RATE), "-l", str(CONCURRENT), "-i", "127.0.0.1",
            "-p", "0", "-nostdin", "-timeout", "300", "-trace_rtt",
            "-rtt_freq", "1", "-recv_timeout", "10000", "-trace_err",
            "-error_file", str(work / "errors.log")]
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, cwd=work)
    cpu: dict[str, float] = {}
    for name, pid in pids.items():
        now, then = cpu_seconds(pid), before[name]
        if now is not None and then is not None:
            cpu[name] = now - then
    summary = done.stdout
    (work / "summary.txt").write_text(summary)  # SIPp's counters, failures by reason
    found = re.findall(r"Successful call\s+\|\s+\d+\s+\|\s+(\d+)", summary)
    failed = re.findall(r"Failed call\s+\|\s+\d+\s+\|\s+(\d+)", summary)
    successes = int(found[-1]) if found else 0
    failures = int(failed[-1]) if failed else CALLS - successes
    answered: list[tuple[float, float]] = []  # (when, setup seconds)
    for rtt in work.glob("call_*_rtt.csv"):
        with open(rtt, newline="") as f:
            for row in csv.reader(f, delimiter=";"):
                try:
                    answered.append((float(row[0]), float(row[1]) / 1000))  # ms
                except (IndexError, ValueError):
                    continue  # the header
    if not successes or len(answered) < 10:
        errors = work / "errors.log"
        tail = errors.read_text(errors="replace")[-1500:] if errors.exists() else ""
        raise BenchError(f"{label}: no call got into the meeting (SIPp exit "
                         f"{done.returncode}):\n{summary[-1500:]}\n{done.stderr[-800:]}\n"
                         f"{tail}")
    answered.sort()
    # The sustained rate: between the first and the last STEADY share of the answers
    # (the first CONCURRENT calls start at once; the last ones end alone).
    first, last = int(len(answered) * STEADY[0]), int(len(answered) * STEADY[1]) - 1
    span = (answered[last][0] - answered[first][0]) / 1000  # SIPp's dates: ms since start
    times = [setup for _, setup in answered]
    return Run((last - first) / span if span > 0 else 0.0, percentile(times, 0.5),
               percentile(times, 0.99), successes, failures, CALLS - len(answered), cpu)


@dataclass
class Side:
    """One of the two FreeSWITCHes the rounds alternate between."""
    label: str
    sip_port: int
    pids: dict[str, int]
    runs: list[Run] = field(default_factory=list)

    def median(self) -> Run:
        """The median round by calls/s, with every round's failures."""
        middle = sorted(self.runs, key=lambda r: r.calls_per_s)[len(self.runs) // 2]
        return dataclasses.replace(middle, failed=sum(r.failed for r in self.runs),
                                   unanswered=sum(r.unanswered for r in self.runs))


def paired_rounds(folder: Path, users: Path, meeting_id: str, live: Side,
                  static: Side) -> list[float]:
    """ROUNDS pairs of rounds, one into each FreeSWITCH, the pair's order swapped each
    time; each pair's live/static ratio. Both FreeSWITCHes run throughout, so what slows
    the shared machine for a while slows both rounds of a pair."""
    ratios = []
    for n in range(1, ROUNDS + 1):
        for side in (live, static) if n % 2 else (static, live):
            side.runs.append(call_all(folder, users, meeting_id, f"{side.label}-{n}",
                                      side.sip_port, side.pids))
        ratios.append(live.runs[-1].calls_per_s / static.runs[-1].calls_per_s
                      if static.runs[-1].calls_per_s else 0.0)
    for side in (live, static):
        print(f"  {side.label}: rounds " + ", ".join(f"{r.calls_per_s:,.1f}"
                                                   for r in side.runs) + " calls/s",
              flush=True)
        # a drift over the rounds shows here first: where each round's CPU went
        print(f"  {side.label}: CPU ms per call by round: "
              + " | ".join(r.cpu_line() for r in side.runs), flush=True)
    print("  live/static by pair: " + ", ".join(f"{r:.2f}" for r in ratios), flush=True)
    return ratios


def shift_ports(root: Path) -> None:
    """The static FreeSWITCH's SIP, TLS, event-socket and RTP ports, clear of the live
    one's (both run at once)."""
    conf = root / FREESWITCH_DIR
    for name, pattern, value in STATIC_PORTS:
        path = conf / name
        text, found = re.subn(pattern, value, path.read_text())
        if found != 1:
            raise BenchError(f"{name}: {pattern} not found once ({found})")
        path.write_text(text)


@contextmanager
def freeswitch_alone(root: Path, log: Path) -> Iterator[int]:
    """FreeSWITCH from the static root, without a control plane: its pid."""
    binary = shutil.which("freeswitch")
    assert binary is not None
    for sub in ("var/log/freeswitch", "var/lib/freeswitch/db", "run/freeswitch",
                "var/cache/freeswitch", "var/lib/freeswitch/storage",
                "var/lib/freeswitch/recordings", "var/log/freeswitch/json_cdr",
                "var/log/freeswitch/conference_cdr"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    freeswitch_prepare(root)  # the IVR prompts under ROOT, as the control plane links them
    with open(log, "wb") as out:
        proc = subprocess.Popen(freeswitch_argv(root, binary), stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_ready(root, proc)
        yield proc.pid
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def run(options: Options) -> Result:
    taken = [p for p in FIXED_PORTS if call_port_taken(p)]
    if taken:
        raise BenchError(f"FreeSWITCH's fixed ports are in use: {taken}")
    if shutil.which("freeswitch") is None:
        raise BenchError("freeswitch is not installed (scripts/setup.sh installs it from "
                         "../shared/freeswitch/debs)")
    if CONCURRENT * 2 > LICENSED_CALLS:
        raise BenchError("CONCURRENT must stay under half the licensed concurrency")
    folder = Path(tempfile.mkdtemp(prefix="vcbox-bench-meeting-"))
    try:
        env, serial = license_env(folder, LICENSED_CALLS)
        env.update(VCBOX_LOCAL_SERVICES="freeswitch", VCBOX_DIRECTORY_PORT="8089")
        with Server(env, start_timeout=90) as server:
            assert server.data_dir is not None
            live_root = server.data_dir / "root"
            session = Session(server)
            try:
                session.json("POST", "/api/v1/license", {"serial": serial})
                for first in range(0, ACCOUNTS, BATCH):
                    status, body = session.upload("/api/v1/accounts/import",
                                                  f"b{first}.xlsx", xlsx(first, BATCH))
                    if status != 200 or body.get("created") != BATCH:
                        raise BenchError(f"import answered {status}: {str(body)[:300]}")
                domain = session.json("GET", "/api/v1/settings/network")["domain"]
                status, meeting = session.request("POST", "/api/v1/meetings", json.dumps(
                    {"kind": "vmr", "subject": "Bench", "organizer": ORGANIZER}).encode())
                if status != 201:
                    raise BenchError(f"POST /api/v1/meetings answered {status}: {meeting}")
                meeting_id = str(meeting["id"])
            finally:
                session.close()
            wait_ready(live_root)
            context = live_extension(server, meeting_id, ORGANIZER)
            users = users_file(folder, domain)
            lift_throttle(live_root)
            live = Side("live", 5060, {"control plane": server.pid,
                                       "FreeSWITCH": child_pid(server.pid, "freeswitch")})
            print(f"  live: control plane pid {server.pid}, {ACCOUNTS:,} accounts, "
                  f"meeting {meeting_id}", flush=True)
            register_all(folder, users, "live-register", CALLS)
            static_root = folder / "static-root"
            make_static(live_root, static_root, domain)
            add_static_dialplan(static_root, context)
            shift_ports(static_root)
            with freeswitch_alone(static_root, folder / "static-freeswitch.log") as pid:
                lift_throttle(static_root)
                static = Side("static", STATIC_SIP_PORT, {"FreeSWITCH": pid})
                print(f"  static: FreeSWITCH pid {pid} alone, SIP port {STATIC_SIP_PORT}",
                      flush=True)
                register_all(folder, users, "static-register", CALLS, STATIC_SIP_PORT)
                ratios = paired_rounds(folder, users, meeting_id, live, static)
    finally:
        if os.environ.get("VCBOX_BENCH_KEEP"):
            print(f"  kept {folder} (VCBOX_BENCH_KEEP): SIPp's logs of every round")
        else:
            shutil.rmtree(folder, ignore_errors=True)

    ratio = sorted(ratios)[len(ratios) // 2]
    ok = ratio >= TARGET_RATIO
    for label, figures in (("live dialplan (mod_xml_curl → control plane)", live.median()),
                           ("static XML dialplan (same actions)          ", static.median())):
        print(f"  {label}  {figures.calls_per_s:,.1f} calls/s  setup p50 "
              f"{fmt_ms(figures.p50_s)}  p99 {fmt_ms(figures.p99_s)}  "
              f"unanswered {figures.unanswered}, failed {figures.failed}  "
              f"(CPU ms per call: {figures.cpu_line()})", flush=True)
    problems = [] if ok else [f"live/static {ratio:.2f} < {TARGET_RATIO}"]
    unanswered = {side.label: sum(r.unanswered for r in side.runs) for side in (live, static)}
    valid = not any(unanswered.values())
    if not valid:
        problems.append(f"calls never answered: live {unanswered['live']}, "
                        f"static {unanswered['static']}")
    line = (f"{NAME}  {TITLE}  live/static {ratio:.2f}  (median of {ROUNDS} pairs of rounds "
            f"of {CALLS:,} calls, {CONCURRENT} at a time, {HOLD_MS} ms each)  "
            f"(target >= {TARGET_RATIO}: "
            f"{'PASS' if ok and valid else 'FAIL' if valid else 'INVALID'})")
    return Result(NAME, line, ok and valid, valid, problems)
