"""Disk full on the data dir (issue 16 item 3): the control plane's data dir is a small
tmpfs (mounted in a private mount namespace that only the server and a holder process
see, so nothing is left mounted whatever happens to the test), filled to the last page.
Every write is then refused with 507 storage_full and a message in the administrator's
language, nothing on disk changes (the documents file is byte for byte the same, no temp
file is left, the databases pass their integrity check), reads and signing in still
work, and once space returns the same writes succeed; a restart on the same disk finds
everything that was acknowledged."""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from controlplane.errors import StorageFull
from controlplane.i18n import translate
from tests.components import require
from tests.conftest import REPO, Client, Server, create_admin, make_server
from tests.license_keys import activate, make_keys
from tests.reliability.conftest import Tally, rounds
from tests.reliability.stores import problems

SHORT_ROUNDS = 3
DISK_SIZE = "24m"


@contextmanager
def small_disk(folder: Path) -> Iterator[int]:
    """A tmpfs on folder in a mount namespace of its own, held by a sleeping process whose
    pid is yielded (`nsenter --target <pid> --mount` runs a program there); the namespace,
    and the tmpfs with it, goes when that process is killed."""
    folder.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c",
         f'mount -t tmpfs -o size={DISK_SIZE},mode=0700 vcbox-test-data "$0"'
         ' && echo mounted && exec sleep 3600', str(folder)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        line = holder.stdout.readline().strip()
        assert line == "mounted", f"tmpfs not mounted: {line} {holder.stderr.read()}"
        yield holder.pid
    finally:
        holder.kill()
        holder.wait()


def fill(path: Path) -> int:
    """Write path until the disk has no room left, in ever smaller pieces; its size."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    size = 0
    try:
        for chunk in (1 << 20, 1 << 16, 1 << 12, 1 << 9, 1):
            block = b"\0" * chunk
            while True:
                try:
                    size += os.write(fd, block)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC, exc
                    break
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)
    return size


def writes(n: int, salt: int) -> list[tuple[str, str, dict]]:
    """Round n's writes: an account, a room, two settings sections."""
    return [("post", "/api/v1/accounts", {"name": f"Full {n}", "account": f"{2000 + n}"}),
            ("post", "/api/v1/rooms", {"name": f"Full room {n}", "kind": "normal"}),
            ("put", "/api/v1/settings/syslog", {"port": 2000 + salt}),
            ("put", "/api/v1/settings/smtp", {"sender": f"full{salt}@example.com"})]


def present(admin: Client, acked: dict[str, list]) -> list[str]:
    lost = [f"account {a}" for a in acked["accounts"]
            if admin.get(f"/api/v1/accounts/{a}").status_code != 200]
    lost += [f"room {r}" for r in acked["rooms"]
             if admin.get(f"/api/v1/rooms/{r}").status_code != 200]
    if acked["syslog"] and admin.get("/api/v1/settings/syslog").json()["port"] \
            != acked["syslog"][-1]:
        lost.append("syslog port")
    if acked["smtp"] and admin.get("/api/v1/settings/smtp").json()["sender"] \
            != acked["smtp"][-1]:
        lost.append("smtp sender")
    return lost


def test_disk_full_refuses_writes_and_recovers(tmp_path: Path, tally: Tally) -> None:
    require("nsenter", "mount")
    keys = make_keys(tmp_path)
    srv: Server = make_server(tmp_path, **keys.env)
    acked: dict[str, list] = {"accounts": [], "rooms": [], "syslog": [], "smtp": []}
    zh = translate("zh_CN", StorageFull.message)
    en = translate("en", StorageFull.message)
    assert zh != en
    with small_disk(srv.data) as holder:
        inside = Path(f"/proc/{holder}/root") / srv.data.relative_to("/")
        srv.wrapper = ("nsenter", f"--target={holder}", "--mount", f"--wd={REPO}")
        srv.start()
        try:
            create_admin(srv.url)
            admin = srv.client()
            assert admin.login().status_code == 200
            activate(admin, keys)
            english = srv.client()
            english.cookies.set("vcbox_lang", "en")
            assert english.login().status_code == 200
            for n in range(rounds(SHORT_ROUNDS)):
                before = (inside / "documents.json").read_bytes()
                filler = inside / f"filler-{n}"
                tally.note("bytes filled", fill(filler))
                tally.faults += 1
                # Refused, in the administrator's language (zh_CN unless chosen otherwise).
                for k, (method, url, doc) in enumerate(writes(n, 2 * n)):
                    client = english if k % 2 else admin
                    res = getattr(client, method)(url, json=doc)
                    assert res.status_code == 507, (url, res.status_code, res.text)
                    body = res.json()
                    assert body["error_id"] == "storage_full", body
                    assert body["message"] == (en if k % 2 else zh), body
                    tally.note("writes refused")
                # Nothing changed or was left half-written; reads and sign-in work.
                assert (inside / "documents.json").read_bytes() == before
                bad = problems(inside)
                tally.corrupt += len(bad)
                assert not bad, bad
                assert admin.get("/api/v1/accounts").status_code == 200
                assert srv.client().login().status_code == 200
                assert srv.proc is not None and srv.proc.poll() is None, "the server died"

                filler.unlink()  # space returns
                for method, url, doc in writes(n, 2 * n + 1):
                    res = getattr(admin, method)(url, json=doc)
                    assert res.status_code in (200, 201), (url, res.text)
                    tally.note("writes after recovery")
                    if url.endswith("accounts"):
                        acked["accounts"].append(doc["account"])
                    elif url.endswith("rooms"):
                        acked["rooms"].append(res.json()["id"])
                    elif url.endswith("syslog"):
                        acked["syslog"].append(doc["port"])
                    else:
                        acked["smtp"].append(doc["sender"])
                lost = present(admin, acked)
                tally.checked += sum(map(len, acked.values()))
                tally.lost += len(lost)
                assert not lost, lost
                tally.rounds += 1
            # The same disk after a restart: everything acknowledged, stores sound.
            srv.restart()
            admin = srv.client()
            assert admin.login().status_code == 200
            lost = present(admin, acked)
            tally.checked += sum(map(len, acked.values()))
            tally.lost += len(lost)
            assert not lost, lost
            bad = problems(inside)
            tally.corrupt += len(bad)
            assert not bad, bad
        finally:
            srv.stop()
