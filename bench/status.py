"""Figure 1: GET /api/v1/status with an admin session, under wrk (DESIGN D1)."""

from __future__ import annotations

import time

from bench.harness import (
    SESSION_COOKIE,
    BenchError,
    Options,
    Result,
    Server,
    call,
    cpu_seconds,
    fmt_ms,
    run_wrk,
)

NAME = "status"
TITLE = "GET /api/v1/status"
PATH = "/api/v1/status"
TARGET_RPS = 5000.0
TARGET_P99_S = 0.020
WARMUP_S = 2.0


def run(options: Options) -> Result:
    with Server() as server:
        print(f"  server pid {server.pid} on {server.base_url}", flush=True)
        cookie = server.admin_session()
        headers = {"Cookie": f"{SESSION_COOKIE}={cookie}"}
        status, _, body = call("GET", server.base_url + PATH, headers=headers)
        if status != 200:
            raise BenchError(f"GET {PATH} with the session answered {status}: {body}")
        url = server.base_url + PATH
        warm = min(WARMUP_S, options.duration)
        print(f"  warm-up {warm:.0f} s ...", flush=True)
        run_wrk(url, warm, options.connections, options.threads, headers)
        print(f"  wrk -t{options.threads} -c{options.connections} -d{options.duration:.0f}s "
              f"--latency {url}", flush=True)
        cpu0, wall0 = cpu_seconds(server.pid), time.monotonic()
        wrk = run_wrk(url, options.duration, options.connections, options.threads, headers)
        cpu1, wall = cpu_seconds(server.pid), time.monotonic() - wall0
        if cpu0 is not None and cpu1 is not None:
            print(f"  server process CPU {100 * (cpu1 - cpu0) / wall:.0f}% of one core "
                  f"(gevent: one core at most)", flush=True)

    problems = wrk.problems
    valid = not problems
    passed = valid and wrk.requests_per_s >= TARGET_RPS and wrk.p99_s <= TARGET_P99_S
    verdict = "PASS" if passed else ("INVALID" if not valid else "FAIL")
    line = (f"{NAME}  {TITLE}  {options.connections} conns  {wrk.requests_per_s:.0f} req/s  "
            f"p50 {fmt_ms(wrk.p50_s)}  p99 {fmt_ms(wrk.p99_s)}  "
            f"(target >= {TARGET_RPS:.0f} req/s, p99 <= {TARGET_P99_S * 1000:.0f} ms: "
            f"{verdict})")
    if valid and not passed:
        if wrk.requests_per_s < TARGET_RPS:
            problems.append(f"{wrk.requests_per_s:,.0f} req/s < {TARGET_RPS:,.0f}")
        if wrk.p99_s > TARGET_P99_S:
            problems.append(f"p99 {fmt_ms(wrk.p99_s)} > {TARGET_P99_S * 1000:.0f} ms")
    return Result(NAME, line, passed, valid, problems)
