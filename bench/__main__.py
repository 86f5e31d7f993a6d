"""python -m bench [--only NAME] [--duration S] [--connections N]

Exit status 0 when every figure run met its target, 1 otherwise (or when a figure is
invalid or could not be measured).
"""

from __future__ import annotations

import argparse
import signal
import sys
import traceback

from bench import (
    accounts,
    call_records,
    media_capacity,
    meeting_calls,
    settings_apply,
    sip_register,
    soak,
    status,
    terminal_logs,
)
from bench.harness import BenchError, Options, Result, load_line, machine_line

# One module per figure, in the order they run. Later figures append here.
FIGURES = [status, settings_apply, accounts, sip_register, meeting_calls, call_records,
           terminal_logs, media_capacity, soak]


def main(argv: list[str] | None = None) -> int:
    names = [figure.NAME for figure in FIGURES]
    parser = argparse.ArgumentParser(prog="python -m bench",
                                     description="vcbox benchmark figures (not tests)")
    parser.add_argument("--only", metavar="NAME", choices=names,
                        help="run only this figure: " + ", ".join(names))
    parser.add_argument("--duration", type=float, default=10.0, metavar="S",
                        help="seconds of measurement per figure (default 10)")
    parser.add_argument("--connections", type=int, default=32, metavar="N",
                        help="concurrent connections (default 32)")
    args = parser.parse_args(argv)
    if args.duration < 1 or args.connections < 1:
        parser.error("--duration and --connections must be at least 1")
    options = Options(duration=args.duration, connections=args.connections,
                      threads=min(2, args.connections))

    # SIGTERM unwinds like Ctrl-C: the finally blocks stop wrk and the server.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    print(machine_line(), flush=True)
    results: list[Result] = []
    for figure in FIGURES:
        if args.only and args.only != figure.NAME:
            continue
        print(f"[{figure.NAME}] {figure.TITLE}  ({load_line()})", flush=True)
        try:
            result = figure.run(options)
        except (BenchError, OSError) as exc:
            result = Result(figure.NAME, f"{figure.NAME}  {figure.TITLE}  ERROR: {exc}",
                            passed=False, valid=False, problems=[str(exc).splitlines()[0]])
        except Exception:
            traceback.print_exc()
            result = Result(figure.NAME, f"{figure.NAME}  {figure.TITLE}  ERROR (see above)",
                            passed=False, valid=False, problems=["unexpected error"])
        print(result.line, flush=True)
        if not result.valid:
            print(f"  figure {result.name} is INVALID: " + "; ".join(result.problems),
                  flush=True)
        results.append(result)

    failed = [r for r in results if not r.passed]
    if failed:
        print("\nmissed: " + ", ".join(
            f"{r.name} ({'invalid: ' if not r.valid else ''}{'; '.join(r.problems)})"
            for r in failed))
        return 1
    print(f"\nall {len(results)} figure(s) met their targets")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        sys.exit(130)
