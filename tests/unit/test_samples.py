"""The dashboard's host samples (SPEC A8, controlplane/samples.py): rates between two
readings, a day of samples kept as they are and older ones averaged by 5 minutes for 7
days, the series of each chart range; and the parsing behind 系统信息 (S1)."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from controlplane import samples, sysinfo
from controlplane.drivers.network import link_dns, nameservers
from controlplane.errors import ValidationError
from controlplane.samples import (
    AVERAGE_KEEP_S,
    BUCKET_S,
    RAW_KEEP_S,
    HostMonitor,
    HostSampler,
    Reading,
    Sample,
    SampleStore,
)
from controlplane.store import History

NOW = 1_800_000_000.0  # a multiple of 300 s (and of 1800 s)
DAY = 86400.0


def reading(mono: float, busy: float, total: float, **nics: tuple[int, int]) -> Reading:
    return Reading(t=NOW + mono, mono=mono, cpu_busy=busy, cpu_total=total, memory=42.04,
                   disk=17.26, nics=nics)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SampleStore]:
    history = History(tmp_path / "history.sqlite3")
    yield SampleStore(history)
    history.close()


def flat(t: float, value: float, **nics: tuple[float, float]) -> Sample:
    """A sample whose every figure is value (rx/tx: the NICs' sum when given)."""
    rx = sum(n[0] for n in nics.values()) if nics else value
    tx = sum(n[1] for n in nics.values()) if nics else value
    return Sample(t=t, cpu=value, memory=value, rx_bps=rx, tx_bps=tx, disk=value, nics=nics)


def test_a_sample_is_the_rate_between_two_readings() -> None:
    before = reading(100.0, busy=50.0, total=200.0, eth0=(1_000, 5_000), eth1=(0, 0))
    after = reading(110.0, busy=65.0, total=240.0, eth0=(21_000, 6_000), eth1=(500, 100),
                    wlan0=(9_999, 9_999))
    sample = samples.sample_between(before, after)
    assert sample is not None
    assert sample.t == NOW + 110.0
    assert sample.cpu == 37.5  # 15 busy of 40 CPU seconds
    assert (sample.memory, sample.disk) == (42.0, 17.3)
    # bytes per second over the 10 s; a NIC in one reading only is not counted
    assert sample.nics == {"eth0": (2000.0, 100.0), "eth1": (50.0, 10.0)}
    assert (sample.rx_bps, sample.tx_bps) == (2050.0, 110.0)


def test_a_counter_that_went_back_counts_as_nothing_moved() -> None:
    before = reading(0.0, 0.0, 10.0, eth0=(10_000, 10_000))
    after = reading(10.0, 5.0, 20.0, eth0=(100, 20_000))  # NIC made anew: rx restarted
    sample = samples.sample_between(before, after)
    assert sample is not None and sample.nics == {"eth0": (0.0, 1000.0)}


def test_no_time_between_readings_makes_no_sample() -> None:
    assert samples.sample_between(reading(5.0, 1, 2), reading(5.0, 1, 2)) is None


def test_the_first_reading_only_primes_the_sampler() -> None:
    readings = iter([reading(0.0, 0.0, 100.0), reading(10.0, 25.0, 200.0)])
    sampler = HostSampler(lambda: next(readings))
    assert sampler.sample() is None
    second = sampler.sample()
    assert second is not None and second.cpu == 25.0


def test_the_host_is_read_for_real(tmp_path: Path) -> None:
    """psutil on this machine: percentages in range, the loopback left out."""
    sampler = HostSampler(lambda: samples.read_host(tmp_path))
    assert sampler.sample() is None
    time.sleep(0.2)
    sample = sampler.sample()
    assert sample is not None
    for value in (sample.cpu, sample.memory, sample.disk):
        assert 0.0 <= value <= 100.0
    assert sample.memory > 0 and sample.disk > 0
    assert "lo" not in sample.nics
    assert sample.rx_bps >= 0 and sample.tx_bps >= 0


def test_averages_are_weighted_by_the_samples_they_hold() -> None:
    mean = samples.average([
        {"cpu": 10, "memory": 10, "rx_bps": 10, "tx_bps": 10, "disk": 10,
         "nics": {"eth0": (10, 20)}},
        {"cpu": 40, "memory": 40, "rx_bps": 40, "tx_bps": 40, "disk": 40, "n": 2,
         "nics": {"eth0": (40, 50), "eth1": (3, 3)}},
    ])
    assert mean["n"] == 3
    assert mean["cpu"] == mean["disk"] == 30.0
    assert mean["nics"] == {"eth0": [30.0, 40.0], "eth1": [2.0, 2.0]}


def seed(store: SampleStore, start: float, end: float, step: float = 10.0,
         value=lambda t: 50.0) -> int:
    made, t = [], start
    while t < end:
        made.append(flat(t, value(t), eth0=(value(t), 1.0)))
        t += step
    store.add(*made)
    return len(made)


def test_a_day_is_kept_as_sampled_and_older_samples_become_5_minute_averages(
        store: SampleStore) -> None:
    # two days of samples every 10 s; within each 5 minutes the CPU climbs 0..29
    seed(store, NOW - 2 * DAY, NOW, value=lambda t: (t % BUCKET_S) / 10)
    rolled = store.roll(NOW)
    h = store.history
    cutoff = NOW - RAW_KEEP_S
    assert rolled == DAY / 10
    assert h.scalar("SELECT MIN(t) FROM host_samples") == cutoff
    assert h.scalar("SELECT COUNT(*) FROM host_samples") == DAY / 10
    assert h.scalar("SELECT COUNT(*) FROM host_samples_5m") == DAY / BUCKET_S
    rows = h.query("SELECT * FROM host_samples_5m ORDER BY t")
    assert rows[0]["t"] == NOW - 2 * DAY and rows[-1]["t"] == cutoff - BUCKET_S
    for row in rows:
        assert row["n"] == 30
        assert row["cpu"] == row["disk"] == 14.5  # the mean of 0..29
        assert json.loads(row["nics"]) == {"eth0": [14.5, 1.0]}
    # rolling again changes nothing; a bucket not complete yet stays as it is
    assert store.roll(NOW + 60) == 0
    assert store.roll(NOW + BUCKET_S) == 30
    assert h.scalar("SELECT COUNT(*) FROM host_samples_5m") == DAY / BUCKET_S + 1


def test_averages_older_than_7_days_go(store: SampleStore) -> None:
    seed(store, NOW - AVERAGE_KEEP_S - DAY, NOW - AVERAGE_KEEP_S + DAY, step=60.0)
    store.roll(NOW)
    oldest = store.history.scalar("SELECT MIN(t) FROM host_samples_5m")
    assert oldest == NOW - AVERAGE_KEEP_S
    assert store.history.scalar("SELECT COUNT(*) FROM host_samples") == 0


def test_samples_of_a_bucket_already_averaged_are_merged_in(store: SampleStore) -> None:
    """A clock set back: samples arrive for a 5-minute bucket already averaged."""
    bucket = NOW - 2 * DAY
    seed(store, bucket, bucket + BUCKET_S, value=lambda t: 10.0)   # 30 samples at 10
    store.roll(NOW)
    seed(store, bucket, bucket + 100, value=lambda t: 50.0)        # 10 more at 50
    store.roll(NOW)
    row = store.history.query("SELECT * FROM host_samples_5m")
    assert len(row) == 1 and row[0]["n"] == 40 and row[0]["cpu"] == 20.0


def test_the_last_hour_is_every_sample(store: SampleStore) -> None:
    seed(store, NOW - 2 * 3600, NOW + 1, value=lambda t: t - NOW)
    answer = store.find_all("1h", NOW, interval_s=10.0)
    assert answer["interval_s"] == 10.0 and answer["range"] == "1h"
    items = answer["items"]
    assert len(items) == 361
    assert items[0]["t"] == NOW - 3600 and items[-1]["t"] == NOW
    assert set(items[0]) == {"t", "cpu", "memory", "rx_bps", "tx_bps", "disk"}
    assert items[-1]["cpu"] == 0.0 and items[0]["cpu"] == -3600.0


def test_a_day_and_a_week_are_averages_across_both_tables(store: SampleStore) -> None:
    # 8 days at one sample a minute: CPU 20 until 3 days ago, then 80
    seed(store, NOW - 8 * DAY, NOW, step=60.0,
         value=lambda t: 20.0 if t < NOW - 3 * DAY else 80.0)
    store.roll(NOW)
    assert store.history.scalar("SELECT COUNT(*) FROM host_samples_5m") > 0
    day = store.find_all("24h", NOW)
    assert day["interval_s"] == BUCKET_S
    assert len(day["items"]) == DAY / BUCKET_S
    assert {item["cpu"] for item in day["items"]} == {80.0}
    week = store.find_all("7d", NOW)
    assert week["interval_s"] == 1800
    items = week["items"]
    assert len(items) == 7 * DAY / 1800
    assert items[0]["t"] == NOW - 7 * DAY
    steps = {b["t"] - a["t"] for a, b in zip(items, items[1:], strict=False)}
    assert steps == {1800.0}
    by_time = {item["t"]: item["cpu"] for item in items}
    assert by_time[NOW - 4 * DAY] == 20.0 and by_time[NOW - DAY] == 80.0
    # the 5-minute averages (older than a day) and the samples join without a step
    assert by_time[NOW - DAY - 1800] == by_time[NOW - DAY + 1800] == 80.0


def test_one_nic_can_be_asked_for(store: SampleStore) -> None:
    store.add(flat(NOW - 20, 0, eth0=(100.0, 10.0), eth1=(1.0, 2.0)))
    store.add(flat(NOW - 10, 0, eth1=(3.0, 4.0)))
    items = store.find_all("1h", NOW, nic="eth0")["items"]
    assert [(i["rx_bps"], i["tx_bps"]) for i in items] == [(100.0, 10.0), (0.0, 0.0)]
    assert [i["rx_bps"] for i in store.find_all("1h", NOW)["items"]] == [101.0, 3.0]
    assert [i["rx_bps"] for i in store.find_all("24h", NOW, nic="eth1")["items"]] == [2.0]


@pytest.mark.parametrize("name", ["", "2h", "1H", "all"])
def test_an_unknown_range_is_refused(store: SampleStore, name: str) -> None:
    with pytest.raises(ValidationError) as err:
        store.find_all(name, NOW)
    assert set(err.value.details) == {"range"}


@pytest.mark.parametrize("nic", ['eth0"]', "a b", "x" * 16, "$.x"])
def test_a_nic_name_that_cannot_be_one_is_refused(store: SampleStore, nic: str) -> None:
    with pytest.raises(ValidationError) as err:
        store.find_all("1h", NOW, nic=nic)
    assert set(err.value.details) == {"nic"}


def test_the_monitor_stores_each_sample_and_rolls_now_and_then(store: SampleStore) -> None:
    clock = [NOW]
    readings = iter(reading(10.0 * n, 10.0 * n, 100.0 * n) for n in range(100))
    monitor = HostMonitor(store, HostSampler(lambda: next(readings)), clock=lambda: clock[0],
                          roll_every_s=60)
    store.add(flat(NOW - 3 * DAY, 5.0))  # old: averaged at the first roll
    assert monitor.tick() is None        # primes
    assert store.history.scalar("SELECT COUNT(*) FROM host_samples") == 0
    store.add(flat(NOW - 3 * DAY + 1, 5.0))
    for _ in range(3):
        clock[0] += 10
        assert monitor.tick() is not None
    # the second old sample waits for the next roll (60 s after the first)
    assert store.history.scalar("SELECT COUNT(*) FROM host_samples") == 4
    clock[0] += 30
    monitor.tick()
    assert store.history.scalar("SELECT COUNT(*) FROM host_samples") == 4
    assert store.history.scalar("SELECT n FROM host_samples_5m") == 2


# -- 系统信息 (S1) -----------------------------------------------------------------------

X86 = """processor\t: 0
vendor_id\t: GenuineIntel
model\t\t: 85
model name\t: Intel(R) Xeon(R) Gold 6230   CPU @ 2.10GHz
"""
ARM = """processor\t: 0
BogoMIPS\t: 108.00
Hardware\t: BCM2835
Model\t\t: Raspberry Pi 4 Model B Rev 1.4
"""


def test_the_cpu_model_is_read_from_cpuinfo() -> None:
    assert sysinfo.cpu_model(X86) == "Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz"
    assert sysinfo.cpu_model(ARM) == "Raspberry Pi 4 Model B Rev 1.4"
    assert sysinfo.cpu_model("processor : 0\n") == ""


def test_the_os_name_and_the_build_time(tmp_path: Path) -> None:
    assert sysinfo.os_name('ID=debian\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n') == \
        "Debian GNU/Linux 12 (bookworm)"
    assert sysinfo.build_time(tmp_path) is None  # a development tree
    (tmp_path / "manifest.json").write_text(json.dumps(
        {"name": "vcbox", "version": "1.2.0", "build_time": "2026-11-30T16:05:00Z"}))
    assert sysinfo.build_time(tmp_path) == "2026-11-30T16:05:00Z"
    shanghai = dt.timezone(dt.timedelta(hours=8))
    assert sysinfo.wall_clock("2026-11-30T16:05:00Z", shanghai) == "2026-12-01 00:05:00"
    assert sysinfo.wall_clock("yesterday", shanghai) is None


def test_name_servers_of_resolv_conf_and_of_networkd(tmp_path: Path) -> None:
    text = ("# Generated\nnameserver 10.0.0.53\nsearch example.com\n"
            "nameserver 1.1.1.1 # backup\nnameserver 10.0.0.53\n")
    assert nameservers(text) == ["10.0.0.53", "1.1.1.1"]
    (tmp_path / "2").write_text("# This is private data.\nADMIN_STATE=configured\n"
                                "DNS=192.168.1.1 8.8.8.8#dns.google\nNTP=\n")
    assert link_dns(2, tmp_path) == ["192.168.1.1", "8.8.8.8"]
    assert link_dns(3, tmp_path) == []
