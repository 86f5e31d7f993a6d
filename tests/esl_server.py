"""A FreeSWITCH inbound event socket for tests (DESIGN §4): what mod_event_socket says on
the wire, and ways to make it misbehave.

- connect: `Content-Type: auth/request`
- `auth <password>`: `command/reply` `+OK accepted`, or `-ERR invalid` followed by a
  disconnect notice and the socket closed; any other command before auth gets the
  disconnect notice too (as FreeSWITCH does)
- `api <cmd>`: `api/response` with a Content-Length in bytes; the body comes from
  `api_handler(cmd)` (default: `responses` by the whole command, then by its first
  word, else FreeSWITCH's "-ERR <name> Command not found!")
- `bgapi <cmd>`: `+OK Job-UUID: <uuid>`, then a BACKGROUND_JOB event with the result
- `event plain <names>` (CUSTOM <subclasses>): `+OK event listener enabled plain`; then
  `push_event` sends `text/event-plain` frames (url-encoded headers, outer
  Content-Length first as FreeSWITCH writes it) to the connections subscribed
- `exit`: `+OK bye`, the disconnect notice, close; anything else: `-ERR command not
  found`

Every command received is recorded (`commands`, `wait_for`). `inject(prefix, kind)`
makes the next matching command(s) misbehave: "drop" (close after reading it, before
any reply), "truncate" (headers and half the body, then close), "silent" (never
answer, keep the socket open) or "delay" (answer after `seconds`).
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote

GOODBYE = b"Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"
DEFAULT_RESPONSES = {
    "status": "UP 0 years, 0 days, 0 hours, 3 minutes, 12 seconds, 0 milliseconds, "
              "0 microseconds\nFreeSWITCH (Version 1.10.12 -release 64bit) is ready\n",
    "reloadxml": "+OK [Success]\n",
}


@dataclass
class Fault:
    prefix: str
    kind: str            # drop | truncate | silent | delay
    seconds: float = 0.0
    count: int = 1


def event_plain(headers: dict[str, str], body: str = "") -> bytes:
    """An event serialized like switch_event_serialize(): values url-encoded."""
    head = dict(headers)
    raw_body = body.encode()
    if raw_body:
        head["Content-Length"] = str(len(raw_body))
    text = "".join(f"{k}: {quote(str(v), safe='')}\n" for k, v in head.items())
    return text.encode() + b"\n" + raw_body


def frame(headers: list[tuple[str, str]], body: bytes = b"") -> bytes:
    lines = "".join(f"{k}: {v}\n" for k, v in headers)
    return lines.encode() + b"\n" + body


class _Client:
    def __init__(self, server: EslServer, sock: socket.socket) -> None:
        self.server, self.sock = server, sock
        self.authed = False
        self.events: set[str] = set()
        self.all_events = False
        self.write_lock = threading.Lock()

    def send(self, data: bytes) -> None:
        with self.write_lock:
            self.sock.sendall(data)

    def wants(self, headers: dict[str, str]) -> bool:
        if not self.authed:
            return False
        name = headers.get("Event-Name", "")
        if self.all_events:
            return True
        if name == "CUSTOM":
            return headers.get("Event-Subclass", "") in self.events
        return name in self.events

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self.sock.close()


class _Handler(socketserver.BaseRequestHandler):
    server: _TcpServer

    def handle(self) -> None:
        self.server.owner.serve_client(self.request)


class _TcpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: EslServer


@dataclass
class EslServer:
    password: str = "ClueCon"
    port: int = 0
    host: str = "127.0.0.1"
    responses: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_RESPONSES))
    api_handler: Callable[[str], str] | None = None
    commands: list[str] = field(default_factory=list)
    connections: int = 0     # accepted TCP connections
    logins: int = 0          # successful auths
    faults: list[Fault] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Condition()
        self._clients: list[_Client] = []
        self._tcp: _TcpServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> EslServer:
        self._stopping.clear()
        self._tcp = _TcpServer((self.host, self.port), _Handler)
        self._tcp.owner = self
        self.port = self._tcp.server_address[1]
        self._thread = threading.Thread(target=self._tcp.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True,
                                        name=f"esl-server-{self.port}")
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and close every client socket (the port can be reused)."""
        self._stopping.set()
        if self._tcp is not None:
            self._tcp.shutdown()
            self._tcp.server_close()
            self._tcp = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        self.drop_clients()

    def __enter__(self) -> EslServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def drop_clients(self) -> None:
        """Close every client connection now (as if FreeSWITCH went away)."""
        with self._lock:
            clients, self._clients = list(self._clients), []
        for client in clients:
            client.close()

    # -- recording and scripting -----------------------------------------------------------

    def received(self) -> list[str]:
        with self._lock:
            return list(self.commands)

    def wait_for(self, match: str | Callable[[str], bool], timeout: float = 5.0) -> str:
        """The first received command equal to / starting with `match` (or satisfying
        it); AssertionError after timeout."""
        test = match if callable(match) else (lambda c: c == match or c.startswith(match))
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                for command in self.commands:
                    if test(command):
                        return command
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no command {match!r} within {timeout} s; "
                                         f"got {self.commands}")
                self._lock.wait(left)

    def wait_logins(self, count: int, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        with self._lock:
            while self.logins < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{self.logins} logins, expected {count}")
                self._lock.wait(left)

    def inject(self, prefix: str, kind: str, seconds: float = 0.0, count: int = 1) -> None:
        assert kind in ("drop", "truncate", "silent", "delay"), kind
        with self._lock:
            self.faults.append(Fault(prefix, kind, seconds, count))

    def _fault_for(self, command: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if command.startswith(fault.prefix) and fault.count > 0:
                    fault.count -= 1
                    return fault
        return None

    def push_event(self, headers: dict[str, str], body: str = "") -> int:
        """Send an event to every connection subscribed to it; how many got it."""
        payload = event_plain(headers, body)
        data = frame([("Content-Length", str(len(payload))),
                      ("Content-Type", "text/event-plain")], payload)
        sent = 0
        with self._lock:
            clients = [c for c in self._clients if c.wants(headers)]
        for client in clients:
            with contextlib.suppress(OSError):
                client.send(data)
                sent += 1
        return sent

    def subscribers(self) -> int:
        with self._lock:
            return sum(1 for c in self._clients if c.authed and (c.events or c.all_events))

    # -- one connection --------------------------------------------------------------------

    def serve_client(self, sock: socket.socket) -> None:
        client = _Client(self, sock)
        with self._lock:
            self.connections += 1
            self._clients.append(client)
            self._lock.notify_all()
        stream = sock.makefile("rb")
        try:
            client.send(frame([("Content-Type", "auth/request")]))
            while not self._stopping.is_set():
                command = self._read_command(stream)
                if command is None:
                    return
                with self._lock:
                    self.commands.append(command)
                    self._lock.notify_all()
                if not self._answer(client, command):
                    return
        except OSError:
            return
        finally:
            with self._lock:
                if client in self._clients:
                    self._clients.remove(client)
            with contextlib.suppress(OSError):
                stream.close()
            client.close()

    @staticmethod
    def _read_command(stream) -> str | None:
        lines: list[str] = []
        while True:
            line = stream.readline()
            if not line:
                return None
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            if not text:
                if lines:
                    return "\n".join(lines)
                continue
            lines.append(text)

    def _answer(self, client: _Client, command: str) -> bool:
        """Reply to one command; False when the connection is to end."""
        reply = self._reply_text
        if not client.authed:
            if command.startswith("auth "):
                if command[5:].strip() == self.password:
                    client.authed = True
                    with self._lock:
                        self.logins += 1
                        self._lock.notify_all()
                    client.send(reply("+OK accepted"))
                    return True
                client.send(reply("-ERR invalid"))
            client.send(self._goodbye())
            return False

        fault = self._fault_for(command)
        if fault is not None:
            if fault.kind == "drop":
                return False
            if fault.kind == "silent":
                self._stopping.wait()
                return False
            if fault.kind == "delay":
                time.sleep(fault.seconds)

        verb, _, rest = command.partition(" ")
        if verb == "api":
            body = self._api(rest).encode("utf-8")
            data = frame([("Content-Type", "api/response"),
                          ("Content-Length", str(len(body)))], body)
            if fault is not None and fault.kind == "truncate":
                client.send(data[: len(data) - max(1, len(body) // 2)])
                return False
            client.send(data)
        elif verb == "bgapi":
            job = str(uuid.uuid4())
            client.send(frame([("Content-Type", "command/reply"),
                               ("Reply-Text", f"+OK Job-UUID: {job}"), ("Job-UUID", job)]))
            result = self._api(rest)
            threading.Thread(target=self.push_event, daemon=True, args=(
                {"Event-Name": "BACKGROUND_JOB", "Job-UUID": job,
                 "Job-Command": rest.partition(" ")[0],
                 "Job-Command-Arg": rest.partition(" ")[2]}, result)).start()
        elif verb == "event":
            fmt, _, names = rest.partition(" ")
            if fmt != "plain":
                client.send(reply("-ERR invalid event format"))
                return True
            custom = False
            for name in names.split():
                if custom:
                    client.events.add(name)
                elif name == "CUSTOM":
                    custom = True
                elif name == "ALL":
                    client.all_events = True
                else:
                    client.events.add(name)
            client.send(reply("+OK event listener enabled plain"))
        elif verb == "noevents":
            client.events.clear()
            client.all_events = False
            client.send(reply("+OK no longer listening for events"))
        elif verb == "exit":
            client.send(reply("+OK bye"))
            client.send(self._goodbye())
            return False
        else:
            client.send(reply("-ERR command not found"))
        return True

    def _api(self, command: str) -> str:
        if self.api_handler is not None:
            return self.api_handler(command)
        name = command.partition(" ")[0]
        for key in (command, name):  # the whole command first, then its name
            if key in self.responses:
                return self.responses[key]
        return f"-ERR {name} Command not found!\n"

    @staticmethod
    def _reply_text(text: str) -> bytes:
        return frame([("Content-Type", "command/reply"), ("Reply-Text", text)])

    @staticmethod
    def _goodbye() -> bytes:
        return frame([("Content-Type", "text/disconnect-notice"),
                      ("Content-Disposition", "disconnect"),
                      ("Content-Length", str(len(GOODBYE)))], GOODBYE)
