"""The host's use over time for the dashboard's charts (SPEC A8): CPU, memory, network and
data-disk use, sampled every few seconds (psutil) and kept in the history database.

- A `Reading` is what the host's counters say at one moment; two readings make a
  `Sample` (CPU busy share and bytes per second are rates between them).
- `SampleStore` keeps every sample of the last day (`host_samples`) and, for older ones,
  their averages by 5 minutes (`host_samples_5m`, with the number of samples averaged)
  for 7 days; `roll()` moves complete 5-minute buckets over and drops what is too old.
- `find_all(range)` answers a chart's series: the samples themselves for the last hour,
  averages by 5 minutes for a day, by 30 minutes for a week (weighted by the samples
  each average holds, so the two tables join up without a step).

Memory use is psutil's (total - available) / total: what the programs hold and the
kernel cannot give back; the network counts every interface but the loopback.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controlplane.errors import N_, ValidationError
from controlplane.store.history import History, transaction

SAMPLE_INTERVAL_S = 10.0
RAW_KEEP_S = 24 * 3600
BUCKET_S = 300
AVERAGE_KEEP_S = 7 * 24 * 3600
ROLL_EVERY_S = 60.0
FIELDS = ("cpu", "memory", "rx_bps", "tx_bps", "disk")
# range -> (seconds shown, seconds per point; 0: every sample)
RANGES: dict[str, tuple[int, int]] = {"1h": (3600, 0), "24h": (24 * 3600, BUCKET_S),
                                      "7d": (7 * 24 * 3600, 1800)}
LOOPBACK = "lo"
_NIC_NAME = re.compile(r"^[A-Za-z0-9_.:@-]{1,15}$")


@dataclass(frozen=True)
class Reading:
    """The host's counters at one moment."""

    t: float                    # wall clock (epoch s): when the sample is said to be
    mono: float                 # monotonic clock: what rates are taken over
    cpu_busy: float             # CPU seconds busy since boot, all cores
    cpu_total: float            # CPU seconds in all, all cores
    memory: float               # % in use
    disk: float                 # % of the data disk in use
    nics: Mapping[str, tuple[int, int]] = field(default_factory=dict)  # bytes rx, tx


@dataclass(frozen=True)
class Sample:
    t: float
    cpu: float                  # % busy, all cores
    memory: float               # % in use
    rx_bps: float               # bytes per second received, all NICs but the loopback
    tx_bps: float               # bytes per second sent
    disk: float                 # % of the data disk in use
    nics: Mapping[str, tuple[float, float]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"t": self.t, "cpu": self.cpu, "memory": self.memory, "rx_bps": self.rx_bps,
                "tx_bps": self.tx_bps, "disk": self.disk,
                "nics": {name: list(pair) for name, pair in self.nics.items()}}


def rates(before: Mapping[str, tuple[int, int]], after: Mapping[str, tuple[int, int]],
          seconds: float) -> dict[str, tuple[float, float]]:
    """Bytes per second of each NIC in both readings. A counter that went back (the NIC
    was made anew, a 32-bit counter wrapped) counts as nothing moved."""
    out = {}
    for name in sorted(set(before) & set(after)):
        rx, tx = (after[name][i] - before[name][i] for i in (0, 1))
        out[name] = (max(rx, 0) / seconds, max(tx, 0) / seconds)
    return out


def sample_between(before: Reading, after: Reading) -> Sample | None:
    """The sample two readings make; None when no time passed between them."""
    seconds = after.mono - before.mono
    if seconds <= 0:
        return None
    total = after.cpu_total - before.cpu_total
    busy = after.cpu_busy - before.cpu_busy
    cpu = min(max(busy / total * 100, 0.0), 100.0) if total > 0 else 0.0
    nics = rates(before.nics, after.nics, seconds)
    return Sample(t=after.t, cpu=round(cpu, 1), memory=round(after.memory, 1),
                  rx_bps=round(sum(rx for rx, _ in nics.values()), 1),
                  tx_bps=round(sum(tx for _, tx in nics.values()), 1),
                  disk=round(after.disk, 1),
                  nics={name: (round(rx, 1), round(tx, 1)) for name, (rx, tx) in nics.items()})


def read_host(disk_path: Path) -> Reading:
    """The host's counters now (psutil: /proc on Linux)."""
    import psutil

    times = psutil.cpu_times()
    # Linux counts guest time inside user time; iowait is idle time (as psutil itself).
    total = sum(times) - getattr(times, "guest", 0.0) - getattr(times, "guest_nice", 0.0)
    idle = times.idle + getattr(times, "iowait", 0.0)
    nics = {name: (c.bytes_recv, c.bytes_sent)
            for name, c in psutil.net_io_counters(pernic=True).items() if name != LOOPBACK}
    return Reading(t=time.time(), mono=time.monotonic(), cpu_busy=total - idle,
                   cpu_total=total, memory=psutil.virtual_memory().percent,
                   disk=psutil.disk_usage(str(disk_path)).percent, nics=nics)


class HostSampler:
    """Samples from consecutive readings: the first reading only primes it."""

    def __init__(self, read: Callable[[], Reading]) -> None:
        self.read = read
        self.last: Reading | None = None

    def sample(self) -> Sample | None:
        reading = self.read()
        before, self.last = self.last, reading
        return sample_between(before, reading) if before is not None else None


def average(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The weighted average of samples or averages (weight: "n", 1 when absent), their
    NICs' too (a NIC missing from a row counts for that row's weight as nothing)."""
    rows = list(rows)
    weight = sum(row.get("n", 1) for row in rows)
    out: dict[str, Any] = {"n": weight}
    for name in FIELDS:
        out[name] = sum(row[name] * row.get("n", 1) for row in rows) / weight
    nics: dict[str, list[float]] = {}
    for row in rows:
        for nic, (rx, tx) in row.get("nics", {}).items():
            acc = nics.setdefault(nic, [0.0, 0.0])
            acc[0] += rx * row.get("n", 1)
            acc[1] += tx * row.get("n", 1)
    out["nics"] = {nic: [rx / weight, tx / weight] for nic, (rx, tx) in sorted(nics.items())}
    return out


def bucket_of(t: float, size: int = BUCKET_S) -> float:
    return float(math.floor(t / size) * size)


def check_range(name: str) -> tuple[int, int]:
    if name not in RANGES:
        raise ValidationError(details={"range": (N_("Choose one of: %(choices)s."),
                                                 {"choices": ", ".join(RANGES)})})
    return RANGES[name]


def check_nic(name: str) -> str:
    if not _NIC_NAME.match(name):
        raise ValidationError(details={"nic": N_("Choose a NIC from the list.")})
    return name


class SampleStore:
    """The samples in the history database."""

    def __init__(self, history: History) -> None:
        self.history = history

    def add(self, *added: Sample) -> None:
        """Store samples (in one transaction)."""
        self.history.executemany(
            "INSERT INTO host_samples (t, cpu, memory, rx_bps, tx_bps, disk, nics)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(s.t, s.cpu, s.memory, s.rx_bps, s.tx_bps, s.disk,
              json.dumps({k: list(v) for k, v in s.nics.items()}, separators=(",", ":")))
             for s in added])

    def roll(self, now: float) -> int:
        """Samples older than a day, by complete 5-minute buckets, become their averages
        (merged with an average already there: a clock set back); averages older than 7
        days go. Returns how many samples were averaged."""
        cutoff = bucket_of(now - RAW_KEEP_S)
        h = self.history
        with h.lock, transaction(h.db, "BEGIN IMMEDIATE"):
            rows = h.db.execute(
                "SELECT t, cpu, memory, rx_bps, tx_bps, disk, nics FROM host_samples"
                " WHERE t < ? ORDER BY t", (cutoff,)).fetchall()
            buckets: dict[float, list[dict[str, Any]]] = {}
            for row in rows:
                buckets.setdefault(bucket_of(row["t"]), []).append(_row(row))
            for start, members in buckets.items():
                kept = h.db.execute("SELECT * FROM host_samples_5m WHERE t = ?",
                                    (start,)).fetchone()
                if kept is not None:
                    members.append({**_row(kept), "n": kept["n"]})
                mean = average(members)
                h.db.execute(
                    "INSERT OR REPLACE INTO host_samples_5m"
                    " (t, n, cpu, memory, rx_bps, tx_bps, disk, nics)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (start, mean["n"], *(round(mean[f], 2) for f in FIELDS),
                     json.dumps(mean["nics"], separators=(",", ":"))))
            h.db.execute("DELETE FROM host_samples WHERE t < ?", (cutoff,))
            h.db.execute("DELETE FROM host_samples_5m WHERE t < ?",
                         (bucket_of(now - AVERAGE_KEEP_S),))
        return len(rows)

    def find_all(self, range_name: str, now: float, interval_s: float = SAMPLE_INTERVAL_S,
                 nic: str = "") -> dict[str, Any]:
        """{"items": [{t, cpu, memory, rx_bps, tx_bps, disk}], "interval_s"}: the series of
        a range ("1h", "24h", "7d"), oldest first. nic: rx_bps/tx_bps of that NIC only (0
        where it was not there)."""
        span, step = check_range(range_name)
        since = now - span
        if nic:
            check_nic(nic)
            rx, tx = (f"COALESCE(json_extract(nics, '$.\"{nic}\"[{i}]'), 0)" for i in (0, 1))
        else:
            rx, tx = "rx_bps", "tx_bps"
        columns = f"cpu, memory, {rx} AS rx_bps, {tx} AS tx_bps, disk"
        if not step:
            rows = self.history.query(
                f"SELECT t, {columns} FROM host_samples WHERE t >= ? ORDER BY t",  # noqa: S608
                (since,))
            items = [dict(row) for row in rows]
            interval = interval_s
        else:
            means = ", ".join(f"SUM({f} * w) / SUM(w) AS {f}" for f in FIELDS)
            rows = self.history.query(
                f"SELECT CAST(t / {step} AS INTEGER) * {step} AS b, {means} FROM ("  # noqa: S608
                f" SELECT t, 1 AS w, {columns} FROM host_samples WHERE t >= ?"
                f" UNION ALL SELECT t, n AS w, {columns} FROM host_samples_5m WHERE t >= ?"
                ") GROUP BY b ORDER BY b", (bucket_of(since, step), bucket_of(since, step)))
            items = [{"t": float(row["b"]), **{f: row[f] for f in FIELDS}} for row in rows]
            interval = step
        for item in items:
            for f in FIELDS:
                item[f] = round(item[f], 1)
        return {"items": items, "interval_s": interval, "range": range_name}


def _row(row: Any) -> dict[str, Any]:
    return {"t": row["t"], **{f: row[f] for f in FIELDS},
            "nics": {k: tuple(v) for k, v in json.loads(row["nics"] or "{}").items()}}


class HostMonitor:
    """The sampler's job: one sample per tick into the store, a roll now and then."""

    def __init__(self, store: SampleStore, sampler: HostSampler,
                 clock: Callable[[], float] = time.time, roll_every_s: float = ROLL_EVERY_S
                 ) -> None:
        self.store, self.sampler, self.clock = store, sampler, clock
        self.roll_every_s = roll_every_s
        self.rolled_at: float | None = None

    def tick(self) -> Sample | None:
        sample = self.sampler.sample()
        if sample is not None:
            self.store.add(sample)
        now = self.clock()
        if self.rolled_at is None or abs(now - self.rolled_at) >= self.roll_every_s:
            self.store.roll(now)
            self.rolled_at = now
        return sample
