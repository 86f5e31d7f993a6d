"""kill -9 of the control plane during writes (issue 16 item 3; DESIGN D2): a real
`python -m controlplane serve` takes writes from three clients at once (accounts, rooms,
a settings section) and is SIGKILLed at a random moment, again and again. After each kill
the stores must load and pass their integrity checks, and once the server is up again
every write it acknowledged (a 2xx) must be there: each account and room created, the
settings no older than the last change answered, every sign-in session still open, and
the operation log's entry of each acknowledged write. A write in flight at the kill may
have landed or not; either is right."""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from tests.conftest import Client, Server, create_admin, make_server
from tests.license_keys import activate, make_keys
from tests.reliability.conftest import Tally, rounds
from tests.reliability.stores import problems

SHORT_ROUNDS = 20
KILL_AFTER_S = (0.15, 1.0)  # the kill comes this long after the writers started


@dataclass
class Acked:
    """What the server acknowledged, over every round."""

    accounts: set[str] = field(default_factory=set)
    rooms: dict[str, str] = field(default_factory=dict)   # id -> name
    syslog_port: int = 514                                 # the last answered change
    tried_ports: set[int] = field(default_factory=lambda: {514})
    audited: list[tuple[str, str]] = field(default_factory=list)  # (action, target)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Writers:
    """Three clients writing until the server goes away under them."""

    def __init__(self, clients: list[Client], acked: Acked, numbers: list[int]) -> None:
        self.clients, self.acked, self.numbers = clients, acked, numbers
        self.stop = threading.Event()
        self.sent = 0
        self.errors: list[str] = []

    def _loop(self, write) -> None:
        while not self.stop.is_set():
            try:
                write()
            except requests.RequestException:
                return  # the server is gone: this round's writing is over
            except Exception as exc:  # an assertion in a writer fails the test later
                self.errors.append(repr(exc))
                return

    def _account(self) -> None:
        if self.numbers[0] > 9999:  # accounts are 4 digits: rooms and settings go on
            self.stop.wait(0.05)
            return
        number = str(self.numbers[0])
        self.numbers[0] += 1
        self.sent += 1
        res = self.clients[0].post("/api/v1/accounts",
                                   json={"name": f"Kill {number}", "account": number})
        assert res.status_code == 201, res.text
        with self.acked.lock:
            self.acked.accounts.add(number)
            self.acked.audited.append(("create_account", number))

    def _room(self) -> None:
        name = f"Room {self.numbers[1]}"
        self.numbers[1] += 1
        self.sent += 1
        res = self.clients[1].post("/api/v1/rooms", json={"name": name, "kind": "normal"})
        assert res.status_code in (200, 201), res.text
        with self.acked.lock:
            self.acked.rooms[res.json()["id"]] = name
            self.acked.audited.append(("create_room", name))

    def _settings(self) -> None:
        port = 1000 + self.numbers[2] % 60000
        self.numbers[2] += 1
        self.sent += 1
        with self.acked.lock:
            self.acked.tried_ports.add(port)
        res = self.clients[2].put("/api/v1/settings/syslog", json={"port": port})
        assert res.status_code == 200, res.text
        with self.acked.lock:
            self.acked.syslog_port = port

    def start(self) -> list[threading.Thread]:
        threads = [threading.Thread(target=self._loop, args=(w,), daemon=True)
                   for w in (self._account, self._room, self._settings)]
        for thread in threads:
            thread.start()
        return threads


def oplog_entries(data: Path) -> set[tuple[str, str]]:
    db = sqlite3.connect(f"file:{data / 'history.sqlite3'}?mode=ro", uri=True)
    try:
        return {(a, t) for a, t in db.execute(
            "SELECT action, target FROM oplog WHERE result = 'success'")}
    finally:
        db.close()


def missing(srv: Server, admin: Client, acked: Acked, clients: list[Client]) -> list[str]:
    """The acknowledged writes the restarted server does not have."""
    lost = [f"account {a}" for a in sorted(acked.accounts)
            if admin.get(f"/api/v1/accounts/{a}").status_code != 200]
    lost += [f"room {r}" for r in acked.rooms if admin.get(f"/api/v1/rooms/{r}").status_code
             != 200]
    port = admin.get("/api/v1/settings/syslog").json()["port"]
    if port not in acked.tried_ports or (port != acked.syslog_port
                                         and port < acked.syslog_port):
        lost.append(f"syslog port {port}, last acknowledged {acked.syslog_port}")
    lost += [f"session {n}" for n, c in enumerate(clients)
             if c.get("/api/v1/session").status_code != 200]
    entries = oplog_entries(srv.data)
    lost += [f"oplog {a} {t}" for a, t in acked.audited if (a, t) not in entries]
    return lost


def checked(acked: Acked, clients: list[Client]) -> int:
    return len(acked.accounts) + len(acked.rooms) + 1 + len(clients) + len(acked.audited)


def test_control_plane_killed_during_writes(tmp_path: Path, tally: Tally) -> None:
    keys = make_keys(tmp_path)
    srv = make_server(tmp_path, **keys.env).start()
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    tally.info = f"seed {seed}"
    try:
        create_admin(srv.url)
        admin = srv.client()
        assert admin.login().status_code == 200
        activate(admin, keys)
        clients = [srv.client() for _ in range(3)]
        for client in clients:
            assert client.login().status_code == 200
        acked, numbers = Acked(), [1000, 1, 0]
        for _ in range(rounds(SHORT_ROUNDS)):
            writers = Writers(clients, acked, numbers)
            threads = writers.start()
            time.sleep(rng.uniform(*KILL_AFTER_S))
            assert srv.proc is not None
            srv.proc.kill()  # SIGKILL, the server's own pid (it has no children here)
            srv.proc.wait()
            srv.proc = None
            tally.faults += 1
            writers.stop.set()
            for thread in threads:
                thread.join(30)
            assert not writers.errors, writers.errors
            tally.note("writes sent", writers.sent)

            bad = problems(srv.data, temp_files=False)
            tally.corrupt += len(bad)
            assert not bad, bad
            srv.start()
            lost = missing(srv, admin, acked, clients)
            tally.checked += checked(acked, clients)
            tally.lost += len(lost)
            assert not lost, lost
            tally.rounds += 1
        tally.note("acknowledged", len(acked.accounts) + len(acked.rooms))
    finally:
        srv.stop()
