"""Figure 2: one settings change planned, rendered and committed, without the time the
services take to restart (their drivers do nothing here). Target: median <= 200 ms."""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path

from bench.harness import Options, Result, fmt_ms

NAME = "settings_apply"
TITLE = "settings change: plan + render + commit"
TARGET_MEDIAN_S = 0.200
CHANGES = 40


class NoRestart:
    """A driver that takes the action at once: the figure leaves restart time out."""

    def run(self, verb: str, arg: str = "") -> str:
        return "done"

    def status(self) -> str:
        return "ok"


def run(options: Options) -> Result:
    from controlplane.apply import Applier
    from controlplane.apply.targets import SERVICE_ORDER
    from controlplane.config import Config
    from controlplane.oplog import OperationLog
    from controlplane.settings import Settings
    from controlplane.store import Documents, History

    tmp = Path(tempfile.mkdtemp(prefix="vcbox-bench-"))
    history = History(tmp / "history.sqlite3")
    try:
        config = Config(data_dir=tmp, root=tmp / "root")
        docs = Documents(tmp / "documents.json")
        settings = Settings(docs)
        drivers = {name: NoRestart() for name in SERVICE_ORDER}
        applier = Applier(config, docs, settings, OperationLog(history), drivers)
        applier.apply()  # the first render writes every file
        values = [("call", {"max_video_resolution": "1080p30"}),
                  ("call", {"max_video_resolution": "720p30"}),
                  ("services", {"sip_port": 5070}), ("services", {"sip_port": 5060}),
                  ("ports", {"mcu": {"min": 51000, "max": 59999}}),
                  ("ports", {"mcu": {"min": 50000, "max": 59999}})]
        timings = []
        for i in range(CHANGES):
            section, data = values[i % len(values)]
            start = time.perf_counter()
            plan, result = applier.change(settings.prepare(section, data))
            timings.append(time.perf_counter() - start)
            if not result.ok or not plan.files:
                raise RuntimeError(f"change {section} {data} did not apply: {result.failed}")
        median = statistics.median(timings)
        p90 = sorted(timings)[int(len(timings) * 0.9)]
        passed = median <= TARGET_MEDIAN_S
        line = (f"{NAME}  {TITLE}  {CHANGES} changes  median {fmt_ms(median)}  "
                f"p90 {fmt_ms(p90)}  max {fmt_ms(max(timings))}  "
                f"(target median <= {fmt_ms(TARGET_MEDIAN_S)}: {'PASS' if passed else 'FAIL'})")
        problems = [] if passed else [f"median {fmt_ms(median)}"]
        return Result(NAME, line, passed, problems=problems)
    finally:
        history.close()
        shutil.rmtree(tmp, ignore_errors=True)
