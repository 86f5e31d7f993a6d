"""Crash safety of the documents store (DESIGN D2): a writer SIGKILLed at any moment
leaves a store that loads and holds every write it acknowledged."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from controlplane.store import Documents
from controlplane.store.documents import SCHEMA_VERSION

REPO = Path(__file__).resolve().parents[2]
WRITER = Path(__file__).with_name("_crash_writer.py")
ROUND_SPAN = 100000  # as in _crash_writer.py
ROUNDS = 25


def _start_writer(path: Path, round_no: int) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, str(WRITER), str(path), str(round_no)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO,
    )


def _acks(lines: list[str]) -> list[tuple[int, int]]:
    """(kind, id) of each complete acknowledgement line."""
    acks = []
    for line in lines:
        if line.endswith("\n") and line.startswith("ack "):
            _, kind, doc_id = line.split()
            acks.append((int(kind), int(doc_id)))
    return acks


def _run_round(path: Path, round_no: int, rng: random.Random) -> list[tuple[int, int]]:
    """Start a writer, SIGKILL it after a random number of acks plus a random delay."""
    proc = _start_writer(path, round_no)
    try:
        ready = proc.stdout.readline()
        assert ready == "ready\n", f"writer failed to open the store: {proc.stderr.read()}"
        target = rng.randint(0, 60)
        lines: list[str] = []
        while len(lines) < target:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
        time.sleep(rng.uniform(0, 0.004))
        proc.send_signal(signal.SIGKILL)
        # Everything the child printed before it died was acknowledged.
        lines.extend(proc.stdout.readlines())
        proc.wait(10)
        stderr = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL, f"writer died on its own: {stderr}"
    return _acks(lines)


def test_sigkill_at_random_moments_never_loses_an_acknowledged_write(tmp_path: Path) -> None:
    seed = int(os.environ.get("VCBOX_CRASH_SEED") or time.time_ns() % 2**32)
    rng = random.Random(seed)
    path = tmp_path / "documents.json"
    # What a fresh open has shown once must stay there in every later round.
    durable: dict[str, set[int]] = {"inserted": set(), "batch": set()}
    last_put: int | None = None
    total_acks = 0
    for round_no in range(ROUNDS):
        ctx = f"seed={seed} round={round_no}"
        acks = _run_round(path, round_no, rng)
        total_acks += len(acks)
        # Acks come in order; the write after the last ack may or may not have landed.
        assert [doc_id for _, doc_id in acks] == [
            round_no * ROUND_SPAN + i for i in range(len(acks))], ctx
        in_flight = round_no * ROUND_SPAN + len(acks)
        in_flight_kind = len(acks) % 3

        raw = json.loads(path.read_bytes().decode("utf-8"))  # valid JSON, valid UTF-8
        assert isinstance(raw, dict), ctx
        docs = Documents(path)
        try:
            assert docs.schema_version == SCHEMA_VERSION, ctx
            inserted = {doc["id"] for doc in docs.table("inserted").all()}
            batch_a = {doc["id"] for doc in docs.table("batch_a").all()}
            batch_b = {doc["id"] for doc in docs.table("batch_b").all()}
            last = docs.get("last")
        finally:
            docs.close()

        want_inserted = durable["inserted"] | {i for k, i in acks if k == 0}
        want_batch = durable["batch"] | {i for k, i in acks if k == 1}
        assert want_inserted <= inserted, f"{ctx}: lost {sorted(want_inserted - inserted)}"
        assert inserted - want_inserted <= ({in_flight} if in_flight_kind == 0 else set()), ctx
        # A batch writes both tables in one step: never one without the other.
        assert batch_a == batch_b, f"{ctx}: torn batch {sorted(batch_a ^ batch_b)}"
        assert want_batch <= batch_a, f"{ctx}: lost {sorted(want_batch - batch_a)}"
        assert batch_a - want_batch <= ({in_flight} if in_flight_kind == 1 else set()), ctx

        acked_puts = [i for k, i in acks if k == 2]
        want_last = acked_puts[-1] if acked_puts else last_put
        allowed_last = {want_last} | ({in_flight} if in_flight_kind == 2 else set())
        assert (last["id"] if last else None) in allowed_last, f"{ctx}: last={last}"

        durable = {"inserted": inserted, "batch": batch_a}
        last_put = last["id"] if last else None

    # The store grew across the rounds and the kills did hit while writing.
    assert total_acks > ROUNDS, f"seed={seed}: only {total_acks} acknowledged writes"
    assert len(durable["inserted"]) + len(durable["batch"]) >= total_acks * 2 // 3 - ROUNDS


def test_leftover_temp_file_does_not_break_loading(tmp_path: Path) -> None:
    path = tmp_path / "documents.json"
    docs = Documents(path)
    docs.table("rooms").insert({"name": "会议室 A"})
    docs.put("settings.smtp", {"server": "smtp.example.com"})
    docs.close()
    before = path.read_bytes()
    # What a writer killed between open() and rename() leaves behind: a torn temp file.
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(before[: len(before) // 2])

    docs = Documents(path)
    assert docs.table("rooms").all() == [{"name": "会议室 A"}]
    assert docs.get("settings.smtp") == {"server": "smtp.example.com"}
    assert path.read_bytes() == before  # opening did not touch the store
    # The next write goes through the same temp name and succeeds.
    docs.table("rooms").insert({"name": "Room B"})
    docs.close()
    assert not tmp.exists()
    raw = json.loads(path.read_text(encoding="utf-8"))
    assert sorted(doc["name"] for doc in raw["rooms"].values()) == ["Room B", "会议室 A"]


def test_store_written_by_a_killed_writer_opens_in_the_next_writer(tmp_path: Path) -> None:
    """The writer itself reopens the store after every kill (no parent in between)."""
    path = tmp_path / "documents.json"
    rng = random.Random(7)
    acked: list[tuple[int, int]] = []
    for round_no in range(3):
        acked += _run_round(path, round_no, rng)
    docs = Documents(path)
    inserted = {doc["id"] for doc in docs.table("inserted").all()}
    docs.close()
    assert {i for k, i in acked if k == 0} <= inserted
