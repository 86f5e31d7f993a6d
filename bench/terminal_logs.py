"""Figure 7: what the terminal logs cost (SPEC O4, issue 13 item 4): a re-registration
storm through the real FreeSWITCH with sofia's SIP capture off and on, in one run.

The design measured: sofia's own capture (HEP v3 over UDP, `capture-server` in
sofia.conf.xml) to the control plane's loopback listener (controlplane.server's
capture_listener → controlplane.terminal_logs), switched with `sofia global capture
on|off` by the settings API (PUT /api/v1/settings/terminal-logs {"enabled": ...}), as an
administrator switches it.

The control plane (ACCOUNTS accounts imported, a license) runs FreeSWITCH as its child.
A storm is SIPp re-registering every account once (REGISTER, 401, REGISTER with digest
credentials, 200), at most CONCURRENT at a time, as fast as FreeSWITCH answers. Each
account keeps its Call-ID and contact from storm to storm (SIPp's -cid_str and one
local port), so after a warm-up storm every REGISTER refreshes a registration that
FreeSWITCH has, as terminals do. Rounds alternate, capture off and on, the order of
each pair swapped, ROUNDS pairs: what slows the shared machine for a while slows both
rounds of a pair. Per round:

  - registrations/s (successes over SIPp's run) and REGISTER→200 latency (SIPp's
    response time from the first REGISTER to the 200; p50/p99 over every round of a
    side), and the share of REGISTERs SIPp had to send again. In such a refresh storm
    FreeSWITCH stops answering for about 1.5 s now and then, capture on or off (not in
    a storm of new registrations): about 5 % of REGISTERs are resent after T1 (500 ms)
    and again after 1 s, so the p99 of both sides is that retransmission time;
  - FreeSWITCH's and the control plane's CPU seconds (utime + stime of their PIDs from
    /proc, all threads) per 1000 registrations, from the storm's start to SETTLE_S after
    its end (the listener drains what is queued in that time);
  - bytes the terminal-log folder grew by, and log entries, per registration;
  - HEP datagrams per registration: the network namespace's UDP datagrams delivered
    (/proc/net/snmp InDatagrams) less the SIP ones SIPp counts sent and received (its
    final message table, retransmissions included), plus those dropped at the
    listener's socket (the drops column of /proc/net/udp: its receive buffer was
    full). Off, it must come out at 0 (nothing is sent): that is the check that the
    count is the namespace's own (run in a network namespace of its own, `unshare
    --net`, or another program's UDP counts too).

Goals, each ON figure against the OFF figures of the same run:

  (a) FreeSWITCH CPU per registration ON <= 1.25 x OFF (median of the pairs). Terminal
      logs are a diagnostic an administrator switches on to look into a terminal, often
      while the box is busy; a quarter more of FreeSWITCH's own registration work is
      what may be spent on it. sofia's capture is one copy and one sendto a message: if
      it costs more, the design is wrong (a siptrace to the event socket, say, costs an
      ESL event a message).
  (b) REGISTER→200 p99 ON <= 2 x OFF and the rate ON >= 0.8 x OFF (over all rounds of
      a side): the terminals of a storm (every terminal back after a power cut) are all
      registered again within a fifth more time, and the slowest wait at most twice
      as long (a p50 of tens of milliseconds is far from T1 either way; the p99 is
      FreeSWITCH's stalls, above). On 2 cores SIPp, FreeSWITCH and
      the control plane share the CPUs, so the control plane's writing takes from
      FreeSWITCH's answers: the worst case; an appliance has more cores than this.
  (c) the control plane's CPU ON - OFF <= 1.0 s per 1000 registrations (1 ms each): at
      10,000 terminals re-registering every 10 minutes (17/s) that is under 2 % of one
      core.
  (d) no HEP datagram lost at the listener, every one that reached it logged (at
      least the 4 messages of each registration: the log is complete, or it is no
      help), nothing sent or logged while off.

Also printed: the disk the logs take at 10,000 terminals re-registering hourly.
"""

from __future__ import annotations

import csv
import re
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.accounts import BATCH, Session, license_env, percentile, verdict, xlsx
from bench.harness import BenchError, Options, Result, Server, cpu_seconds, fmt_ms
from bench.meeting_calls import child_pid
from bench.sip_register import (
    FIXED_PORTS,
    SCENARIO,
    call_port_taken,
    users_file,
    wait_ready,
)
from controlplane.terminal_logs import FOLDER
from tests.sipp import free_sip_port

NAME = "terminal_logs"
TITLE = "terminal-log capture (sofia HEP → control plane) on vs off: re-registration storm"
ACCOUNTS = 2_000      # per storm: each re-registers once
ROUNDS = 5            # pairs of rounds (off, on): the figures are medians of the pairs
CONCURRENT = 50
RATE = 5000           # offered per second: far above what one FreeSWITCH answers
SETTLE_S = 1.0        # after a storm, inside the CPU window: the listener drains
SWITCH_SETTLE_S = 0.5  # after switching, outside it
HEP_PORT = 9060       # controlplane.config's default
MESSAGES = 4          # REGISTER, 401, REGISTER, 200
TARGET_FS_CPU = 1.25
TARGET_P99 = 2.0
TARGET_RATE = 0.8
TARGET_CP_CPU_S = 1.0  # extra seconds per 1000 registrations
TERMINALS, PER_DAY = 10_000, 24  # the disk line: terminals, registrations each a day
# A row of SIPp's final message table: message, arrow, [B-|E-RTDn,] Messages, Retrans.
_SIPP_ROW = re.compile(r"^\s*\S+\s+(-+>|<-+)\s+(?:[BE]-RTD\d+\s+)?(\d+)\s+(\d+)", re.M)


@dataclass
class Round:
    capture: bool
    registrations: int
    failures: int
    elapsed_s: float
    latencies: list[float] = field(repr=False)
    fs_cpu_s: float
    cp_cpu_s: float
    log_bytes: int
    logged: int
    udp_in: int
    hep_lost: int        # dropped at the listener's socket (its receive buffer was full)
    udp_lost: int        # every UDP receive error of the namespace, those included
    sip_datagrams: int
    retransmitted: int   # REGISTERs SIPp sent again (no answer within 500 ms, T1)

    @property
    def rate(self) -> float:
        return self.registrations / self.elapsed_s if self.elapsed_s else 0.0

    def per_1000(self, seconds: float) -> float:
        return seconds * 1000 / max(1, self.registrations)

    @property
    def hep_delivered(self) -> int:
        return self.udp_in - self.sip_datagrams

    @property
    def hep(self) -> float:
        """HEP datagrams sofia sent per registration: delivered or dropped."""
        return (self.hep_delivered + self.hep_lost) / max(1, self.registrations)


def udp_counters() -> dict[str, int]:
    """This network namespace's UDP counters (/proc/net/snmp)."""
    lines = [line.split() for line in Path("/proc/net/snmp").read_text().splitlines()
             if line.startswith("Udp:")]
    if len(lines) < 2:
        raise BenchError("no Udp counters in /proc/net/snmp")
    return dict(zip(lines[0][1:], (int(v) for v in lines[1][1:]), strict=False))


def socket_drops(port: int) -> int:
    """Datagrams dropped at the UDP socket bound to 127.0.0.1:port (/proc/net/udp's
    drops column), 0 when there is none."""
    local = f"0100007F:{port:04X}"
    for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
        fields = line.split()
        if len(fields) > 12 and fields[1] == local:
            return int(fields[12])
    return 0


def udp_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class LogFolder:
    """The terminal-log folder's growth: bytes, and entries ("----- " heads)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.sizes: dict[Path, int] = {}

    def total(self) -> int:
        if not self.folder.is_dir():
            return 0
        return sum(p.stat().st_size for p in self.folder.rglob("*") if p.is_file())

    def new_entries(self) -> int:
        count = 0
        for path in self.folder.rglob("*.log") if self.folder.is_dir() else []:
            old = self.sizes.get(path, 0)
            with open(path, "rb") as log:
                log.seek(old)
                new = log.read()
            self.sizes[path] = old + len(new)
            count += new.count(b"\n----- ") + (new.startswith(b"----- ") and old == 0)
        return count


def refresh(scenario: str, n: int) -> str:
    """The register scenario of the n-th storm: the same Call-ID as the storms before,
    so the CSeqs go on from theirs (sofia answers a repeated CSeq 482 Request merged)."""
    for cseq in (2, 1):
        text = scenario.replace(f"CSeq: {cseq} REGISTER", f"CSeq: {2 * n + cseq} REGISTER")
        if text.count(f"CSeq: {2 * n + cseq} REGISTER") != 1 or text == scenario and n:
            raise BenchError("tests/sipp.register_scenario changed shape: no CSeq to count")
        scenario = text
    return scenario


def storm(folder: Path, users: Path, label: str, number: int, sip_port: int,
          capture: bool, pids: dict[str, int], logs: LogFolder) -> Round:
    """SIPp re-registers the first ACCOUNTS users once from sip_port (the number-th
    storm); what it cost."""
    work = folder / label
    work.mkdir()
    scenario = work / "register.xml"
    scenario.write_text(refresh(SCENARIO, number))
    sipp = shutil.which("sipp")
    if sipp is None:
        raise BenchError("sipp is not installed (Debian: sip-tester; scripts/setup.sh)")
    argv = [sipp, "127.0.0.1:5060", "-sf", str(scenario), "-inf", str(users),
            "-m", str(ACCOUNTS), "-r", str(RATE), "-l", str(CONCURRENT), "-i", "127.0.0.1",
            "-p", str(sip_port), "-cid_str", "vcbox-bench-%u@%s", "-nostdin",
            "-timeout", "300", "-trace_rtt", "-rtt_freq", "1", "-recv_timeout", "10000"]
    bytes_before = logs.total()
    logs.new_entries()
    cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    udp_before, drops_before = udp_counters(), socket_drops(HEP_PORT)
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, cwd=work)
    elapsed = time.perf_counter() - started
    time.sleep(SETTLE_S)
    cpu = {}
    for name, pid in pids.items():
        now, then = cpu_seconds(pid), cpu_before[name]
        if now is None or then is None:
            raise BenchError(f"{name} (pid {pid}) is gone")
        cpu[name] = now - then
    udp_after, drops_after = udp_counters(), socket_drops(HEP_PORT)
    summary = done.stdout
    found = re.findall(r"Successful call\s+\|\s+\d+\s+\|\s+(\d+)", summary)
    failed = re.findall(r"Failed call\s+\|\s+\d+\s+\|\s+(\d+)", summary)
    successes = int(found[-1]) if found else 0
    failures = int(failed[-1]) if failed else ACCOUNTS - successes
    table = summary.rsplit("Messages  Retrans", 1)[-1] if "Messages  Retrans" in summary \
        else ""
    rows = _SIPP_ROW.findall(table)
    sip = sum(int(m) + int(r) for _, m, r in rows)
    resent = sum(int(r) for arrow, _, r in rows if arrow.endswith(">"))
    times = []
    for path in work.glob("register_*_rtt.csv"):
        with open(path, newline="") as f:
            for row in csv.reader(f, delimiter=";"):
                if len(row) >= 2 and row[1].replace(".", "", 1).isdigit():
                    times.append(float(row[1]) / 1000)
    if not successes or not times or not sip:
        raise BenchError(f"{label}: SIPp registered nobody (exit {done.returncode}):\n"
                         f"{summary[-1500:]}\n{done.stderr[-800:]}")
    return Round(capture, successes, failures, elapsed, times, cpu["FreeSWITCH"],
                 cpu["control plane"], logs.total() - bytes_before, logs.new_entries(),
                 udp_after["InDatagrams"] - udp_before["InDatagrams"],
                 drops_after - drops_before,
                 udp_after["RcvbufErrors"] - udp_before["RcvbufErrors"], sip, resent)


def switch(session: Session, on: bool) -> None:
    session.json("PUT", "/api/v1/settings/terminal-logs", {"enabled": on})
    time.sleep(SWITCH_SETTLE_S)


def run(options: Options) -> Result:
    taken = [p for p in FIXED_PORTS if call_port_taken(p)]
    if taken:
        raise BenchError(f"FreeSWITCH's fixed ports are in use: {taken}")
    if not udp_free(HEP_PORT):
        raise BenchError(f"the terminal logs' capture port (UDP {HEP_PORT}) is in use")
    if shutil.which("freeswitch") is None:
        raise BenchError("freeswitch is not installed (scripts/setup.sh installs it from "
                         "../shared/freeswitch/debs)")
    folder = Path(tempfile.mkdtemp(prefix="vcbox-bench-tlogs-"))
    rounds: list[Round] = []
    try:
        env, serial = license_env(folder)
        env.update(VCBOX_LOCAL_SERVICES="freeswitch", VCBOX_DIRECTORY_PORT="8089",
                   VCBOX_HEP_PORT=str(HEP_PORT))
        with Server(env, start_timeout=90) as server:
            assert server.data_dir is not None
            session = Session(server)
            try:
                session.json("POST", "/api/v1/license", {"serial": serial})
                for first in range(0, ACCOUNTS, BATCH):
                    status, body = session.upload("/api/v1/accounts/import",
                                                  f"b{first}.xlsx", xlsx(first, BATCH))
                    if status != 200 or body.get("created") != BATCH:
                        raise BenchError(f"import answered {status}: {str(body)[:300]}")
                domain = session.json("GET", "/api/v1/settings/network")["domain"]
                wait_ready(server.data_dir / "root")
                users = users_file(folder, domain)
                pids = {"FreeSWITCH": child_pid(server.pid, "freeswitch"),
                        "control plane": server.pid}
                if not pids["FreeSWITCH"]:
                    raise BenchError("no FreeSWITCH child of the control plane")
                sip_port = free_sip_port()
                logs = LogFolder(server.data_dir / FOLDER)
                print(f"  control plane pid {server.pid}, FreeSWITCH pid "
                      f"{pids['FreeSWITCH']}, {ACCOUNTS:,} accounts, SIPp from "
                      f"127.0.0.1:{sip_port}", flush=True)
                # Warm-up: every account registered (FreeSWITCH has each user cached and
                # each registration stored); then both sides re-register alike.
                storm(folder, users, "warm-up", 0, sip_port, False, pids, logs)
                state = False
                for n in range(1, ROUNDS + 1):
                    for capture in (False, True) if n % 2 else (True, False):
                        if capture != state:
                            switch(session, capture)
                            state = capture
                        rounds.append(storm(folder, users,
                                            f"{'on' if capture else 'off'}-{n}",
                                            len(rounds) + 1, sip_port, capture, pids,
                                            logs))
                switch(session, False)
            finally:
                session.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return figures(rounds)


def figures(rounds: list[Round]) -> Result:
    off = [r for r in rounds if not r.capture]
    on = [r for r in rounds if r.capture]
    for label, side_rounds in (("off", off), ("on ", on)):
        print(f"  capture {label} by round: " + " | ".join(
            f"{r.rate:,.0f} reg/s, FS {r.per_1000(r.fs_cpu_s):.2f} s, CP "
            f"{r.per_1000(r.cp_cpu_s):.2f} s, resent {r.retransmitted}"
            for r in side_rounds), flush=True)
    pairs = list(zip(off, on, strict=True))
    fs_ratio = statistics.median(
        on_.fs_cpu_s / on_.registrations / (off_.fs_cpu_s / off_.registrations)
        if off_.fs_cpu_s else float("inf") for off_, on_ in pairs)
    # The rate over all of a side's rounds: a round's rate moves with how many of
    # FreeSWITCH's stalls fell into it (two or three in a round of 2,000).
    rate_ratio = (sum(r.registrations for r in on) / sum(r.elapsed_s for r in on)) / (
        sum(r.registrations for r in off) / sum(r.elapsed_s for r in off))
    cp_extra = statistics.median(on_.per_1000(on_.cp_cpu_s) - off_.per_1000(off_.cp_cpu_s)
                                 for off_, on_ in pairs)

    def side(rs: list[Round]) -> dict[str, float]:
        regs = sum(r.registrations for r in rs)
        times = [t for r in rs for t in r.latencies]
        return {"rate": regs / sum(r.elapsed_s for r in rs),
                "p50": percentile(times, 0.5), "p90": percentile(times, 0.9),
                "p99": percentile(times, 0.99),
                "fs": statistics.median(r.per_1000(r.fs_cpu_s) for r in rs),
                "cp": statistics.median(r.per_1000(r.cp_cpu_s) for r in rs),
                "bytes": sum(r.log_bytes for r in rs) / regs,
                "logged": sum(r.logged for r in rs),
                "delivered": sum(r.hep_delivered for r in rs),
                "hep": statistics.median(r.hep for r in rs),
                "hep_lost": sum(r.hep_lost for r in rs),
                "udp_lost": sum(r.udp_lost for r in rs),
                "resent": sum(r.retransmitted for r in rs) / (2 * regs) * 100,
                "failed": sum(r.failures for r in rs), "regs": regs}

    a, b = side(off), side(on)
    p99_ratio = b["p99"] / a["p99"] if a["p99"] else float("inf")
    # (d): nothing lost at the listener, every datagram that reached it in the log (1 %
    # for what the count itself may miss), nothing sent or logged while off.
    complete = abs(b["logged"] - b["delivered"]) <= 0.01 * max(1, b["delivered"])
    checks = {
        "a": fs_ratio <= TARGET_FS_CPU,
        "b": p99_ratio <= TARGET_P99 and rate_ratio >= TARGET_RATE,
        "c": cp_extra <= TARGET_CP_CPU_S,
        "d": (b["hep_lost"] == 0 and complete and a["logged"] == 0 and a["bytes"] == 0
              and b["hep"] >= MESSAGES),
    }
    day_mb = b["bytes"] * TERMINALS * PER_DAY / 1e6
    problems = [f"({k}) missed" for k, ok in checks.items() if not ok]
    invalid = []
    if a["failed"] or b["failed"]:
        invalid.append(f"failed registrations: off {a['failed']}, on {b['failed']}")
    if abs(a["hep"]) > 0.5:
        invalid.append(f"capture off counts {a['hep']:.2f} HEP datagrams per registration: "
                       "the UDP counters are not this bench's own (run it in a network "
                       "namespace of its own: unshare --net)")
    valid = not invalid
    overall = "PASS" if all(checks.values()) and valid else "FAIL" if valid else "INVALID"
    line = "\n".join([
        f"{NAME}  {TITLE}  (goals (a)-(d): {overall})",
        f"  {ROUNDS} pairs of rounds of {ACCOUNTS:,} re-registrations, {CONCURRENT} at a "
        f"time; each ON figure beside its OFF reference (same run)",
        f"  registrations/s          ON {b['rate']:,.0f}   OFF {a['rate']:,.0f}   "
        f"(ON/OFF {rate_ratio:.2f}; target >= {TARGET_RATE})",
        f"  REGISTER→200 p50         ON {fmt_ms(b['p50'])}   OFF {fmt_ms(a['p50'])};  "
        f"p90 ON {fmt_ms(b['p90'])}   OFF {fmt_ms(a['p90'])}",
        f"  REGISTER→200 p99         ON {fmt_ms(b['p99'])}   OFF {fmt_ms(a['p99'])}   "
        f"(ON/OFF {p99_ratio:.2f}; target <= {TARGET_P99}) {verdict(checks['b'])}; "
        f"REGISTERs resent ON {b['resent']:.1f} %   OFF {a['resent']:.1f} %",
        f"  FreeSWITCH CPU s/1000 reg      ON {b['fs']:.3f}   OFF {a['fs']:.3f}   "
        f"(ON/OFF by pair, median {fs_ratio:.2f}; target <= {TARGET_FS_CPU}) "
        f"{verdict(checks['a'])}",
        f"  control plane CPU s/1000 reg   ON {b['cp']:.3f}   OFF {a['cp']:.3f}   "
        f"(ON-OFF by pair, median {cp_extra:+.3f}; target <= +{TARGET_CP_CPU_S}) "
        f"{verdict(checks['c'])}",
        f"  terminal-log bytes per reg     ON {b['bytes']:,.0f}   OFF {a['bytes']:,.0f}   "
        f"(≈ {day_mb:,.0f} MB/day at {TERMINALS:,} terminals registering {PER_DAY}x a "
        f"day)",
        f"  HEP datagrams per reg          ON {b['hep']:.2f}   OFF {a['hep']:.2f}; "
        f"lost at the listener ON {b['hep_lost']} of {b['hep_lost'] + b['delivered']:,} "
        f"(all UDP receive errors {b['udp_lost']}); logged ON {b['logged']:,} of "
        f"{b['delivered']:,} delivered, OFF {a['logged']}  (target: none lost, all "
        f"logged, nothing while off) {verdict(checks['d'])}",
    ])
    return Result(NAME, line, all(checks.values()) and valid, valid, problems + invalid)
