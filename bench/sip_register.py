"""Figure 4: SIP REGISTER with digest auth through vcbox's live directory, beside the same
FreeSWITCH answering from a static XML directory of the same 10,000 users, in one run.

Live: the control plane (10,000 accounts imported) runs FreeSWITCH as its child; every
authenticated REGISTER makes FreeSWITCH ask the control plane over mod_xml_curl.
Static: the same rendered FreeSWITCH configuration, its xml_curl binding left to the
dialplan, and a directory file with the same users, a1-hashes and params; the control
plane is not running. SIPp registers each of the 10,000 users once (REGISTER, 401,
REGISTER with credentials, 200), at most CONCURRENT at a time, as fast as FreeSWITCH
answers; its response times (first REGISTER to the 200) give the p99.

The figure is live registrations/s over static registrations/s (target >= 0.9).
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from bench.accounts import ACCOUNTS, BATCH, Session, license_env, xlsx
from bench.harness import BenchError, Options, Result, Server, fmt_ms
from controlplane.accounts import MAX_DEVICES, a1_hash
from controlplane.drivers.processes import (
    FREESWITCH_DIR,
    freeswitch_argv,
    freeswitch_probe,
)
from controlplane.web.api_freeswitch import DIAL_STRING, USER_CACHE_MS, xml_attr
from tests.sipp import register_scenario

NAME = "sip_register"
TITLE = "SIP REGISTER (digest) via the live directory vs a static XML directory"
TARGET_RATIO = 0.9
CONCURRENT = 50
RATE = 5000           # offered per second: far above what one FreeSWITCH answers
FIXED_PORTS = (5060, 5061, 8021, 8089)
START_TIMEOUT_S = 60.0


def password(n: int) -> str:
    """The password bench/accounts.py's spreadsheets give account n."""
    return f"Pw-{n:04d}-{n * 7 % 997:03d}"


SCENARIO = register_scenario(200, user_agent="vcbox-bench", expires=300, timed=True)


def users_file(folder: Path, domain: str) -> Path:
    path = folder / "users.csv"
    lines = ["SEQUENTIAL"] + [
        f"{n:04d};{domain};[authentication username={n:04d} password={password(n)}]"
        for n in range(ACCOUNTS)]
    path.write_text("\n".join(lines) + "\n")
    return path


def static_directory(domain: str) -> str:
    """The live directory's answers for every account, as one static domain file."""
    users = "".join(
        f'        <user id="{n:04d}" cacheable="{USER_CACHE_MS}">\n'
        "          <params>\n"
        f'            <param name="a1-hash" value="{a1_hash(f"{n:04d}", domain, password(n))}"/>\n'
        f'            <param name="max-registrations-per-extension" value="{MAX_DEVICES}"/>\n'
        "          </params>\n"
        "          <variables>\n"
        '            <variable name="user_context" value="default"/>\n'
        f'            <variable name="effective_caller_id_name" value="User {n:04d}"/>\n'
        f'            <variable name="effective_caller_id_number" value="{n:04d}"/>\n'
        "          </variables>\n"
        "        </user>\n" for n in range(ACCOUNTS))
    return (f'<include>\n  <domain name="{xml_attr(domain)}">\n    <params>\n'
            f'      <param name="dial-string" value="{xml_attr(DIAL_STRING)}"/>\n'
            "    </params>\n    <groups>\n      <group name=\"default\">\n      <users>\n"
            f"{users}      </users>\n      </group>\n    </groups>\n  </domain>\n</include>\n")


def make_static(live_root: Path, root: Path, domain: str) -> None:
    """The live root's FreeSWITCH config, answering the directory from a file."""
    shutil.copytree(live_root / FREESWITCH_DIR, root / FREESWITCH_DIR)
    shutil.copytree(live_root / "etc/vcbox/tls", root / "etc/vcbox/tls")  # sofia's TLS
    conf = root / FREESWITCH_DIR
    for path in conf.rglob("*.xml"):  # log and CDR folders name the live root
        path.write_text(path.read_text().replace(str(live_root), str(root)))
    main = conf / "freeswitch.xml"
    text = main.read_text()
    text = text.replace("</document>", '  <section name="directory" description="static">\n'
                        '    <X-PRE-PROCESS cmd="include" data="directory/*.xml"/>\n'
                        "  </section>\n</document>")
    main.write_text(text)
    (conf / "directory").mkdir()
    (conf / "directory" / "vcbox.xml").write_text(static_directory(domain))
    curl = conf / "autoload_configs" / "xml_curl.conf.xml"
    curl.write_text(re.sub(r'bindings="[^"]*"', 'bindings="dialplan"', curl.read_text()))


def wait_ready(root: Path, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    reason = "not asked yet"
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            log = root / "var/log/freeswitch/freeswitch.log"
            tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
            raise BenchError(f"FreeSWITCH exited with {proc.returncode}:\n{tail}")
        try:
            reason = freeswitch_probe(root)
        except Exception as exc:  # Refused: the rendered password was not taken
            raise BenchError(f"FreeSWITCH refused: {exc}") from exc
        if not reason:
            return
        time.sleep(0.2)
    raise BenchError(f"FreeSWITCH not ready after {START_TIMEOUT_S:.0f} s: {reason}")


def register_all(folder: Path, users: Path, label: str, count: int = ACCOUNTS,
                 sip_port: int = 5060) -> tuple[float, float, int]:
    """SIPp registers the first count users once with the FreeSWITCH at 127.0.0.1:sip_port:
    (registrations/s, p99 seconds, failures)."""
    work = folder / label
    work.mkdir()
    scenario = work / "register.xml"
    scenario.write_text(SCENARIO)
    sipp = shutil.which("sipp")
    if sipp is None:
        raise BenchError("sipp is not installed (Debian: sip-tester; scripts/setup.sh)")
    argv = [sipp, f"127.0.0.1:{sip_port}", "-sf", str(scenario), "-inf", str(users),
            "-m", str(count), "-r", str(RATE), "-l", str(CONCURRENT), "-i", "127.0.0.1",
            "-p", "0", "-nostdin", "-timeout", "300", "-trace_rtt", "-rtt_freq", "1",
            "-recv_timeout", "10000"]
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, cwd=work)
    elapsed = time.perf_counter() - started
    summary = done.stdout
    found = re.findall(r"Successful call\s+\|\s+\d+\s+\|\s+(\d+)", summary)
    failed = re.findall(r"Failed call\s+\|\s+\d+\s+\|\s+(\d+)", summary)
    successes = int(found[-1]) if found else 0
    failures = int(failed[-1]) if failed else count - successes
    times = []
    for path in work.glob("register_*_rtt.csv"):
        with open(path, newline="") as f:
            for row in csv.reader(f, delimiter=";"):
                if len(row) >= 2 and row[1].replace(".", "", 1).isdigit():
                    times.append(float(row[1]) / 1000)
    if not successes or not times:
        raise BenchError(f"{label}: SIPp registered nobody (exit {done.returncode}):\n"
                         f"{summary[-1500:]}\n{done.stderr[-800:]}")
    times.sort()
    p99 = times[min(len(times) - 1, int(0.99 * len(times)))]
    return successes / elapsed, p99, failures


def run(options: Options) -> Result:
    taken = [p for p in FIXED_PORTS if call_port_taken(p)]
    if taken:
        raise BenchError(f"FreeSWITCH's fixed ports are in use: {taken}")
    if shutil.which("freeswitch") is None:
        raise BenchError("freeswitch is not installed (scripts/setup.sh installs it from "
                         "../shared/freeswitch/debs)")
    folder = Path(tempfile.mkdtemp(prefix="vcbox-bench-sip-"))
    try:
        env, serial = license_env(folder)
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
            finally:
                session.close()
            wait_ready(live_root)
            users = users_file(folder, domain)
            print(f"  live: control plane pid {server.pid}, {ACCOUNTS:,} accounts", flush=True)
            live = register_all(folder, users, "live")
            static_root = folder / "static-root"
            make_static(live_root, static_root, domain)
        static = static_run(static_root, folder, users)
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    ratio = live[0] / static[0]
    ok = ratio >= TARGET_RATIO
    lines = [f"live directory (mod_xml_curl → control plane)  {live[0]:,.0f} reg/s  "
             f"p99 {fmt_ms(live[1])}  failed {live[2]}",
             f"static XML directory (same users)             {static[0]:,.0f} reg/s  "
             f"p99 {fmt_ms(static[1])}  failed {static[2]}"]
    for line in lines:
        print("  " + line, flush=True)
    problems = [] if ok else [f"live/static {ratio:.2f} < {TARGET_RATIO}"]
    if live[2] or static[2]:
        problems.append(f"failed registrations: live {live[2]}, static {static[2]}")
    valid = not (live[2] or static[2])
    line = (f"{NAME}  {TITLE}  live/static {ratio:.2f}  ({ACCOUNTS:,} users, "
            f"{CONCURRENT} at a time)  (target >= {TARGET_RATIO}: "
            f"{'PASS' if ok and valid else 'FAIL' if valid else 'INVALID'})")
    return Result(NAME, line, ok and valid, valid, problems)


def static_run(root: Path, folder: Path, users: Path) -> tuple[float, float, int]:
    binary = shutil.which("freeswitch")
    assert binary is not None
    for sub in ("var/log/freeswitch", "var/lib/freeswitch/db", "run/freeswitch",
                "var/cache/freeswitch", "var/lib/freeswitch/storage",
                "var/lib/freeswitch/recordings"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    with open(folder / "static-freeswitch.log", "wb") as out:
        proc = subprocess.Popen(freeswitch_argv(root, binary), stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_ready(root, proc)
        print(f"  static: FreeSWITCH pid {proc.pid} alone", flush=True)
        return register_all(folder, users, "static")
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def call_port_taken(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0

