"""Figure 3: enterprise accounts at their limit (E1: 10,000), through a real server.

  (a) an import of 1,000 rows from an .xlsx through POST /api/v1/accounts/import <= 2 s
      (each of the ten imports that load the 10,000 accounts is timed; the slowest counts),
  (b) GET /api/v1/accounts?search=... with 10,000 accounts: p50 <= 10 ms over 200 requests,
  (c) the control plane's resident memory (VmRSS) with 10,000 accounts loaded <= 150 MB,
  (d) POST /freeswitch/xml directory lookups (the sip_auth form FreeSWITCH posts, with the
      basic credentials of the rendered xml_curl.conf.xml) under wrk: >= 5,000/s, p99 <= 5 ms.
"""

from __future__ import annotations

import base64
import datetime as dt
import http.client
import io
import json
import re
import shutil
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.harness import (
    SESSION_COOKIE,
    BenchError,
    Options,
    Result,
    Server,
    cpu_seconds,
    fmt_ms,
    free_port,
    parse_wrk,
)

NAME = "accounts"
TITLE = "10,000 accounts: import, search, memory, FreeSWITCH directory"
ACCOUNTS = 10_000
BATCH = 1_000
SEARCHES = 200
TARGET_IMPORT_S = 2.0
TARGET_SEARCH_P50_S = 0.010
TARGET_RSS_MB = 150.0
TARGET_RPS = 5000.0
TARGET_P99_S = 0.005
WARMUP_S = 2.0
XML_CURL_CONF = Path("etc/freeswitch/autoload_configs/xml_curl.conf.xml")

# A sip_auth lookup as FreeSWITCH's mod_xml_curl posts it when a terminal registers
# (the shape of its REQUEST_PARAMS event; the values vary per request below).
SIP_AUTH_FORM = (
    "hostname=vcbox&section=directory&tag_name=domain&key_name=name&key_value={domain}"
    "&Event-Name=REQUEST_PARAMS&Core-UUID=3b1f5a4e-7f1c-4d7e-9a43-8d1c2f0e9b11"
    "&FreeSWITCH-Hostname=vcbox&FreeSWITCH-Switchname=vcbox&FreeSWITCH-IPv4=127.0.0.1"
    "&FreeSWITCH-IPv6=%3A%3A1&Event-Date-Local=2026-01-01%2012%3A00%3A00"
    "&Event-Date-GMT=Thu,%2001%20Jan%202026%2004%3A00%3A00%20GMT"
    "&Event-Date-Timestamp=1767240000000000&Event-Calling-File=sofia_reg.c"
    "&Event-Calling-Function=sofia_reg_parse_auth&Event-Calling-Line-Number=2900"
    "&Event-Sequence=1234&action=sip_auth&sip_profile=internal"
    "&sip_user_agent=Yealink%20SIP-VC400%2063.345.0.10&sip_auth_username={user}"
    "&sip_auth_realm={domain}&sip_auth_nonce=1f5a4e7c-2d3b-11ef-9a43-8d1c2f0e9b11"
    "&sip_auth_uri=sip%3A{domain}&sip_contact_user={user}&sip_contact_host=192.0.2.10"
    "&sip_to_user={user}&sip_to_host={domain}&sip_via_protocol=udp&sip_from_user={user}"
    "&sip_from_host={domain}&sip_call_id=8a1c2f0e9b11%40192.0.2.10"
    "&sip_request_host={domain}&sip_auth_qop=auth&sip_auth_cnonce=0a4f113b"
    "&sip_auth_nc=00000001&sip_auth_response=6629fae49393a05397450978507c4ef1"
    "&sip_auth_method=REGISTER&client_port=5060&key=id&user={user}&domain={domain}"
    "&ip=192.0.2.10"
)

WRK_SCRIPT = """-- POST /freeswitch/xml sip_auth lookups, cycling through the accounts.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic %(auth)s"
local template = "%(form)s"
local accounts = %(accounts)d
local counter = 0
function setup(thread)
  thread:set("offset", counter * 7919)
  counter = counter + 1
end
function init(args)
  counter = offset or 0
end
function request()
  counter = counter + 1
  local user = string.format("%%04d", counter %% accounts)
  local body = template:gsub("{user}", user)
  return wrk.format(nil, nil, nil, body)
end
"""


# -- talking to the server -----------------------------------------------------------------
class Session:
    """A logged-in admin on one keep-alive connection (cookie + CSRF token)."""

    def __init__(self, server: Server) -> None:
        self.server = server
        cookie, self.csrf = server.admin_login()
        self.cookie = f"{SESSION_COOKIE}={cookie}; vcbox_lang=en"
        self.conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)

    def request(self, method: str, path: str, body: bytes | None = None,
                content_type: str = "application/json") -> tuple[int, Any]:
        headers = {"Cookie": self.cookie, "Accept": "application/json"}
        if method != "GET":
            headers["X-CSRF-Token"] = self.csrf
        if body is not None:
            headers["Content-Type"] = content_type
        self.conn.request(method, path, body=body, headers=headers)
        res = self.conn.getresponse()
        raw = res.read()
        try:
            return res.status, json.loads(raw)
        except ValueError:
            return res.status, raw.decode("utf-8", "replace")

    def json(self, method: str, path: str, data: Any = None) -> Any:
        status, body = self.request(method, path,
                                    None if data is None else json.dumps(data).encode())
        if status != 200:
            raise BenchError(f"{method} {path} answered {status}: {body}")
        return body

    def upload(self, path: str, name: str, data: bytes) -> tuple[int, Any]:
        boundary = uuid.uuid4().hex
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                f"filename=\"{name}\"\r\nContent-Type: application/vnd.openxmlformats-"
                f"officedocument.spreadsheetml.sheet\r\n\r\n").encode() + data + (
                    f"\r\n--{boundary}--\r\n").encode()
        return self.request("POST", path, body, f"multipart/form-data; boundary={boundary}")

    def close(self) -> None:
        self.conn.close()


def license_env(folder: Path, calls: int = 100) -> tuple[dict[str, str], str]:
    """A key pair of the bench's own, the env that makes the server trust it, and a serial."""
    from controlplane import license as lic

    private, public = lic.keygen(folder / "license")
    today = dt.date.today()
    serial = lic.issue(lic.load_private_key(private), "BENCH-0001", calls,
                       str(today - dt.timedelta(days=1)), str(today + dt.timedelta(days=30)))
    return {"VCBOX_LICENSE_PUBKEY": str(public)}, serial


def xlsx(first: int, count: int) -> bytes:
    import openpyxl

    from controlplane.account_import import HEADER

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("Accounts")
    sheet.append(list(HEADER))
    for n in range(first, first + count):
        sheet.append([f"User {n:04d}", f"{n:04d}", f"user{n:04d}@example.com",
                      f"Pw-{n:04d}-{n * 7 % 997:03d}"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise BenchError(f"no VmRSS in /proc/{pid}/status")


def xml_curl_credentials(server: Server) -> str:
    """user:password of the rendered xml_curl.conf.xml (what FreeSWITCH sends)."""
    assert server.data_dir is not None
    path = server.data_dir / "root" / XML_CURL_CONF
    try:
        text = path.read_text()
    except OSError as exc:
        raise BenchError(f"cannot read the rendered {XML_CURL_CONF}: {exc}") from exc
    match = re.search(r'name="gateway-credentials" value="([^"]+)"', text)
    if not match:
        raise BenchError(f"no gateway-credentials in {path}")
    return match.group(1)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


# -- the figure ----------------------------------------------------------------------------
def run(options: Options) -> Result:
    if not shutil.which("wrk"):
        raise BenchError("wrk is not installed (Debian: apt-get install wrk)")
    folder = Path(tempfile.mkdtemp(prefix="vcbox-bench-keys-"))
    try:
        env, serial = license_env(folder)
        # No janus/coturn children: the figure is the control plane's.
        env["VCBOX_LOCAL_SERVICES"] = ""
        # FreeSWITCH's lookups go to the dedicated directory listener, as on the appliance.
        env["VCBOX_DIRECTORY_PORT"] = str(free_port())
        with Server(env) as server:
            print(f"  server pid {server.pid} on {server.base_url}", flush=True)
            return measure(server, serial, options, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def measure(server: Server, serial: str, options: Options, folder: Path) -> Result:
    session = Session(server)
    lines: list[str] = []
    problems: list[str] = []
    try:
        session.json("POST", "/api/v1/license", {"serial": serial})
        rss_empty = rss_mb(server.pid)

        # (a) ten imports of 1,000 new accounts each: 0000-9999.
        files = [xlsx(first, BATCH) for first in range(0, ACCOUNTS, BATCH)]
        timings = []
        for number, data in enumerate(files):
            start = time.perf_counter()
            status, body = session.upload("/api/v1/accounts/import", f"batch{number}.xlsx",
                                          data)
            timings.append(time.perf_counter() - start)
            if status != 200 or body.get("created") != BATCH:
                raise BenchError(f"import {number} answered {status}: {str(body)[:300]}")
        listed = session.json("GET", "/api/v1/accounts?limit=1")
        if listed["total"] != ACCOUNTS:
            raise BenchError(f"{listed['total']} accounts after the imports, not {ACCOUNTS}")
        # Once more, the last file unchanged: a re-import reads and compares every row.
        start = time.perf_counter()
        status, body = session.upload("/api/v1/accounts/import", "again.xlsx", files[-1])
        again = time.perf_counter() - start
        if status != 200 or body.get("unchanged") != BATCH:
            raise BenchError(f"the re-import answered {status}: {str(body)[:300]}")
        slowest = max(timings)
        ok = slowest <= TARGET_IMPORT_S
        lines.append(f"(a) import 1,000 rows (.xlsx, HTTP)  first {timings[0]:.2f} s  "
                     f"median {statistics.median(timings):.2f} s  slowest {slowest:.2f} s  "
                     f"(at 9,000 accounts: {timings[-1]:.2f} s; unchanged re-import "
                     f"{again:.2f} s)  (target <= {TARGET_IMPORT_S:.0f} s: {verdict(ok)})")
        if not ok:
            problems.append(f"import {slowest:.2f} s > {TARGET_IMPORT_S:.0f} s")

        # (b) searches: exact accounts, parts of numbers, names, e-mails, misses, all.
        terms = []
        for i in range(SEARCHES):
            n = (i * 7919) % ACCOUNTS
            terms.append([f"{n:04d}", f"{n % 1000:03d}", f"user {n:04d}", f"user{n:04d}@",
                          "example.com", "no-such-user", f"{n % 100:02d}"][i % 7])
        for term in terms[:10]:  # warm-up
            session.json("GET", f"/api/v1/accounts?search={term.replace(' ', '%20')}")
        latencies = []
        for term in terms:
            start = time.perf_counter()
            page = session.json("GET", f"/api/v1/accounts?search={term.replace(' ', '%20')}")
            latencies.append(time.perf_counter() - start)
            if term == "example.com" and page["filtered"] != ACCOUNTS:
                raise BenchError(f"search {term!r} found {page['filtered']} accounts")
        p50 = statistics.median(latencies)
        ok = p50 <= TARGET_SEARCH_P50_S
        lines.append(f"(b) GET /api/v1/accounts?search=...  {len(latencies)} requests  "
                     f"p50 {fmt_ms(p50)}  p90 {fmt_ms(percentile(latencies, 0.9))}  "
                     f"max {fmt_ms(max(latencies))}  (target p50 <= "
                     f"{TARGET_SEARCH_P50_S * 1000:.0f} ms: {verdict(ok)})")
        if not ok:
            problems.append(f"search p50 {fmt_ms(p50)}")

        # (c) memory with 10,000 accounts loaded (and the imports' parsing behind it).
        rss = rss_mb(server.pid)
        ok = rss <= TARGET_RSS_MB
        lines.append(f"(c) control-plane VmRSS with {ACCOUNTS:,} accounts  {rss:.0f} MB  "
                     f"(empty: {rss_empty:.0f} MB)  (target <= {TARGET_RSS_MB:.0f} MB: "
                     f"{verdict(ok)})")
        if not ok:
            problems.append(f"RSS {rss:.0f} MB")

        # (d) the FreeSWITCH directory under wrk.
        wrk = directory_under_wrk(server, session, options, folder)
        ok = wrk.requests_per_s >= TARGET_RPS and wrk.p99_s <= TARGET_P99_S
        invalid = wrk.problems
        lines.append(f"(d) POST /freeswitch/xml sip_auth  {options.connections} conns  "
                     f"{wrk.requests_per_s:.0f} req/s  p50 {fmt_ms(wrk.p50_s)}  "
                     f"p99 {fmt_ms(wrk.p99_s)}  (target >= {TARGET_RPS:.0f} req/s, p99 <= "
                     f"{TARGET_P99_S * 1000:.0f} ms: "
                     f"{'INVALID' if invalid else verdict(ok)})")
        if invalid:
            problems.extend(invalid)
        elif not ok:
            if wrk.requests_per_s < TARGET_RPS:
                problems.append(f"directory {wrk.requests_per_s:,.0f} req/s")
            if wrk.p99_s > TARGET_P99_S:
                problems.append(f"directory p99 {fmt_ms(wrk.p99_s)}")
    finally:
        session.close()

    for line in lines:
        print("  " + line, flush=True)
    valid = not any("responses" in p or "socket errors" in p or "no requests" in p
                    for p in problems)
    passed = not problems
    line = (f"{NAME}  {TITLE}  {sum(1 for x in lines if x.endswith('PASS)'))}/{len(lines)} "
            f"met their targets  ({'PASS' if passed else 'FAIL' if valid else 'INVALID'})")
    return Result(NAME, line, passed, valid, problems)


def directory_under_wrk(server: Server, session: Session, options: Options,
                        folder: Path):
    import subprocess

    domain = session.json("GET", "/api/v1/settings/network")["domain"]
    credentials = xml_curl_credentials(server)
    auth = base64.b64encode(credentials.encode()).decode()
    form = SIP_AUTH_FORM.replace("{domain}", domain)
    # One lookup by hand first: a found user, with its a1-hash, not FreeSWITCH's "not found".
    port = int(server.extra_env["VCBOX_DIRECTORY_PORT"])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", "/freeswitch/xml", body=form.replace("{user}", "0042"),
                     headers={"Content-Type": "application/x-www-form-urlencoded",
                              "Authorization": f"Basic {auth}"})
        res = conn.getresponse()
        text = res.read().decode("utf-8", "replace")
    finally:
        conn.close()
    if res.status != 200 or 'user id="0042"' not in text or "a1-hash" not in text:
        raise BenchError(f"POST /freeswitch/xml for 0042 answered {res.status}: {text[:300]}")
    script = folder / "directory.lua"
    script.write_text(WRK_SCRIPT % {"auth": auth, "form": form, "accounts": ACCOUNTS})
    url = f"http://127.0.0.1:{port}/freeswitch/xml"

    def wrk(duration: float):
        seconds = max(1, round(duration))
        cmd = [shutil.which("wrk") or "wrk", f"-t{options.threads}",
               f"-c{options.connections}", f"-d{seconds}s", "--latency", "-s", str(script),
               url]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60,
                             check=False)
        if out.returncode != 0:
            raise BenchError(f"wrk exited with {out.returncode}:\n{out.stdout}{out.stderr}")
        return parse_wrk(out.stdout)

    print(f"  warm-up {min(WARMUP_S, options.duration):.0f} s ...", flush=True)
    wrk(min(WARMUP_S, options.duration))
    print(f"  wrk -t{options.threads} -c{options.connections} -d{options.duration:.0f}s "
          f"--latency -s directory.lua {url}", flush=True)
    cpu0, wall0 = cpu_seconds(server.pid), time.monotonic()
    result = wrk(options.duration)
    cpu1, wall = cpu_seconds(server.pid), time.monotonic() - wall0
    if cpu0 is not None and cpu1 is not None:
        print(f"  server process CPU {100 * (cpu1 - cpu0) / wall:.0f}% of one core",
              flush=True)
    return result
