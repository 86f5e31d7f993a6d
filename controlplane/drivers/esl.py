"""FreeSWITCH's event socket (DESIGN D4): an inbound ESL client.

The protocol: FreeSWITCH greets with `Content-Type: auth/request`; the client answers
`auth <password>`; every command is one line ended by a blank line and is answered in
order by `command/reply` (Reply-Text: +OK ... or -ERR ...) or, for `api`, by
`api/response` whose body is Content-Length *bytes*. After `event plain <names>`,
events arrive as `text/event-plain` frames whose body is "Name: url-encoded value"
lines (and an event body when the event itself has a Content-Length). FreeSWITCH says
goodbye with `text/disconnect-notice`.

Own client rather than greenswitch (0.0.19), whose design defeats a wrapper:

- It binds a connection to the gevent hub of the thread that connected: its reader is
  a greenlet there. Used from another thread (the threaded test servers, or any
  thread in a process without monkey-patching) every command waits for a reply that
  nobody reads, until its timeout.
- When the socket closes in the middle of a body, its `_read_socket` loops on empty
  reads without ever yielding: the process spins at 100 % CPU and no gevent.Timeout
  can fire (measured: a hang until killed).
- After a timed-out command its reply queue stays misaligned (the next command gets
  the late answer), and pending commands are never failed when the socket drops.

This client uses the standard library's socket and threading. Under the server's
`gevent.monkey.patch_all()` those are gevent's sockets, greenlets and locks, so it is
cooperative there; in plain processes (tests) it uses real threads. Either way every
command runs against a deadline (socket timeouts and Event.wait), so a dead socket
costs at most the timeout, never a hang.

- Connects lazily (first command, or `subscribe`), re-subscribes on every connection.
- After a failed connect, later attempts wait with exponential backoff (backoff_min
  doubling to backoff_max); while waiting, commands fail at once with EslUnreachable
  (cheap when FreeSWITCH is not installed). After a dropped connection the next
  command reconnects at once; the keeper backs off the same way when connections
  keep dropping right after login.
- After `on_event`/`subscribe`, a keeper thread reconnects by itself, so events
  resume after FreeSWITCH restarts; handlers run on one dispatcher thread, and a
  handler's exception is logged, never fatal to the loop. The pseudo-events
  `esl::connected` and `esl::disconnected` tell handlers about the link itself (e.g.
  to re-read state missed while disconnected).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import IO
from urllib.parse import unquote

log = logging.getLogger(__name__)

MAX_HEADER_LINE = 64 * 1024
MAX_BODY = 64 * 1024 * 1024
CONNECTED = "esl::connected"
DISCONNECTED = "esl::disconnected"
ANY = "*"


class EslError(Exception):
    """A command did not succeed; `reason` says why in words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class EslUnreachable(EslError):
    """No connection: refused, not answering the greeting, or waiting to retry."""


class EslAuthError(EslError):
    """FreeSWITCH refused the password."""


class EslTimeout(EslError):
    """No answer within the timeout (the connection is dropped then)."""


class EslReplyError(EslError):
    """FreeSWITCH answered -ERR (or -USAGE): `reason` is its words."""


@dataclass
class EslEvent:
    """One event: its headers (url-decoded) and its body, if it has one."""

    headers: dict[str, str]
    body: str = ""

    @property
    def name(self) -> str:
        """The Event-Name, or for CUSTOM events their subclass (`sofia::register`)."""
        name = self.headers.get("Event-Name", "")
        if name == "CUSTOM":
            return self.headers.get("Event-Subclass", name)
        return name

    def get(self, key: str, default: str | None = None) -> str | None:
        return self.headers.get(key, default)

    def __getitem__(self, key: str) -> str:
        return self.headers[key]


# -- wire format -------------------------------------------------------------------------

def read_frame(stream: IO[bytes]) -> tuple[dict[str, str], bytes]:
    """One frame: its headers, and the Content-Length bytes after them.

    EOFError when the connection ends (before or inside a frame), ValueError when what
    arrives is not ESL.
    """
    headers: dict[str, str] = {}
    while True:
        line = stream.readline(MAX_HEADER_LINE)
        if not line:
            raise EOFError("connection closed")
        if not line.endswith(b"\n"):
            if len(line) >= MAX_HEADER_LINE:
                raise ValueError("header line too long")
            raise EOFError("connection closed in the middle of a header")
        line = line.rstrip(b"\r\n")
        if not line:
            if headers:
                break
            continue  # blank lines between frames
        key, sep, value = line.decode("utf-8", "replace").partition(":")
        if not sep:
            raise ValueError(f"not an ESL header: {line[:80]!r}")
        headers[key.strip()] = value.strip()
    body = b""
    if "Content-Length" in headers:
        try:
            length = int(headers["Content-Length"])
        except ValueError:
            raise ValueError(f"bad Content-Length {headers['Content-Length']!r}") from None
        if not 0 <= length <= MAX_BODY:
            raise ValueError(f"Content-Length {length} out of range")
        body = stream.read(length) if length else b""
        if len(body) < length:
            raise EOFError(f"connection closed in the middle of a body "
                           f"({len(body)} of {length} bytes)")
    return headers, body


def parse_event(body: bytes) -> EslEvent:
    """A text/event-plain body: url-encoded "Name: value" lines, a blank line, and the
    event's own body when its headers carry a Content-Length."""
    head, _, rest = body.partition(b"\n\n")
    headers: dict[str, str] = {}
    for raw in head.decode("utf-8", "replace").split("\n"):
        key, sep, value = raw.rstrip("\r").partition(": ")
        if sep or key:
            headers[key] = unquote(value)
    text = ""
    if "Content-Length" in headers:
        with contextlib.suppress(ValueError):
            text = rest[: int(headers["Content-Length"])].decode("utf-8", "replace")
    return EslEvent(headers, text)


def event_command(names: Iterable[str]) -> str:
    """`event plain ...` for these names: subclasses (with "::") follow CUSTOM, as
    FreeSWITCH ignores a subclass anywhere else."""
    plain, custom = [], []
    for name in names:
        if name == "CUSTOM":
            continue
        target = custom if "::" in name else plain
        if name not in target:
            target.append(name)
    return " ".join(["event plain", *plain, *(["CUSTOM", *custom] if custom else [])])


def failed_reply(text: str) -> bool:
    return text.startswith(("-ERR", "-USAGE"))


# -- the client ----------------------------------------------------------------------------

@dataclass
class _Reply:
    headers: dict[str, str]
    body: bytes


@dataclass
class _Waiter:
    """A command on the wire, waiting for its reply."""

    done: threading.Event = field(default_factory=threading.Event)
    reply: _Reply | None = None
    error: EslError | None = None

    def set(self, reply: _Reply | None = None, error: EslError | None = None) -> None:
        if not self.done.is_set():
            self.reply, self.error = reply, error
            self.done.set()


class _Connection:
    def __init__(self, sock: socket.socket, stream: IO[bytes]) -> None:
        self.sock, self.stream = sock, stream
        self.waiter: _Waiter | None = None
        self.closed = False
        self.started = time.monotonic()
        self.proven = False  # a command got its answer on it

    def shutdown(self) -> None:
        """Wake the reader (it sees EOF) and release the socket."""
        self.closed = True
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self.sock.close()


Handler = Callable[[EslEvent], object]


class Esl:
    """One inbound event-socket connection to FreeSWITCH (thread- and greenlet-safe)."""

    def __init__(self, host: str, port: int, password: str, timeout: float = 5.0,
                 backoff_min: float = 0.2, backoff_max: float = 5.0, quiet: bool = False
                 ) -> None:
        self.host, self.port, self.password, self.timeout = host, port, password, timeout
        self.quiet = quiet                   # connects logged at debug level (probes)
        self.backoff_min, self.backoff_max = backoff_min, backoff_max
        self._state = threading.RLock()      # the fields below
        self._wire = threading.Lock()        # one command (or connect) on the wire at a time
        self._conn: _Connection | None = None
        self._closed = False
        self._failures = 0                   # failed connects in a row
        self._retry_at = 0.0                 # no connect before (backoff)
        self._drops = 0                      # links in a row that dropped right after login
        self._keeper_at = 0.0                # the keeper's next reconnect, after such drops
        self._last_error = ""
        self._wanted: list[str] = []         # event names to subscribe on every connection
        self._handlers: dict[str, list[Handler]] = {}
        self._events: queue.Queue[EslEvent | None] = queue.Queue()
        self._dispatcher: threading.Thread | None = None
        self._keeper: threading.Thread | None = None
        self._wake = threading.Event()

    def __repr__(self) -> str:
        return f"Esl({self.host}:{self.port}, connected={self.connected})"

    # -- public ----------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._conn is not None

    @property
    def last_error(self) -> str:
        """Why the last connect failed or the connection dropped ("" when none)."""
        return self._last_error

    def api(self, command: str, timeout: float | None = None) -> str:
        """The body of FreeSWITCH's api/response; EslReplyError when it starts -ERR."""
        reply = self._command(f"api {command}", timeout)
        body = reply.body.decode("utf-8", "replace")
        if failed_reply(body):
            raise EslReplyError(body.strip())
        return body

    def bgapi(self, command: str, timeout: float | None = None) -> str:
        """Start a background job; its Job-UUID (the result comes as BACKGROUND_JOB)."""
        reply = self._command(f"bgapi {command}", timeout)
        job = reply.headers.get("Job-UUID") or reply.headers.get(
            "Reply-Text", "").removeprefix("+OK Job-UUID: ")
        if not job:
            raise EslError(f"no Job-UUID in the reply to bgapi {command}")
        return job

    def subscribe(self, events: str | Iterable[str], timeout: float | None = None) -> None:
        """Receive these events ("HEARTBEAT sofia::register ...") on this and every later
        connection. Connects now if possible; otherwise the keeper keeps trying."""
        names = events.split() if isinstance(events, str) else list(events)
        with self._state:
            self._wanted += [n for n in names if n not in self._wanted]
            wanted = list(self._wanted)
        self._start_keeper()
        try:
            # A new connection subscribes during its login: nothing more to send then.
            self._command(event_command(wanted), timeout, unless_new=True)
        except EslUnreachable:
            self._wake.set()

    def on_event(self, name: str, callback: Handler) -> None:
        """Call callback(EslEvent) for events of this name: an Event-Name, a CUSTOM
        subclass ("sofia::register"), esl::connected / esl::disconnected, or "*"."""
        with self._state:
            self._handlers.setdefault(name, []).append(callback)
        self._start_dispatcher()
        self._start_keeper()

    def close(self) -> None:
        """Say goodbye, drop the connection and stop the threads; later commands fail."""
        with self._state:
            if self._closed:
                return
            self._closed = True  # no new connection from now on
        if self._conn is not None:
            with contextlib.suppress(EslError):
                self._command("exit", min(self.timeout, 1.0))
        with self._state:
            conn = self._conn
        if conn is not None:
            self._drop(conn, "closed")
        self._wake.set()
        self._events.put(None)
        current = threading.current_thread()
        for thread in (self._keeper, self._dispatcher):
            if thread is not None and thread is not current:
                thread.join(2)

    # -- commands --------------------------------------------------------------------------

    def _command(self, line: str, timeout: float | None, unless_new: bool = False) -> _Reply:
        if "\n" in line or "\r" in line:
            # One line per command: an argument with a newline would smuggle in another.
            raise EslError("an ESL command is a single line")
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        if not self._wire.acquire(timeout=max(timeout, 0.001)):
            raise EslTimeout(f"ESL busy: an earlier command still held the connection "
                             f"after {timeout:g} s")
        try:
            had = self._conn is not None
            conn = self._ensure(deadline)
            if unless_new and not had:
                return _Reply({"Content-Type": "command/reply", "Reply-Text": "+OK"}, b"")
            waiter = _Waiter()
            with self._state:
                if conn.closed:
                    raise EslError("FreeSWITCH connection lost before the command was sent")
                conn.waiter = waiter
            try:
                conn.sock.sendall(line.encode("utf-8") + b"\n\n")
            except OSError as exc:
                self._drop(conn, f"send failed: {exc}")
                raise EslError(f"FreeSWITCH connection lost while sending "
                               f"{_verb(line)}: {exc}") from exc
            if not waiter.done.wait(max(deadline - time.monotonic(), 0)):
                # A late reply must not answer the next command: start afresh.
                self._drop(conn, f"no reply to {_verb(line)} within {timeout:g} s")
                raise EslTimeout(f"FreeSWITCH did not answer {_verb(line)} "
                                 f"within {timeout:g} s")
            if waiter.error is not None:
                raise waiter.error
            assert waiter.reply is not None
            reply = waiter.reply
            conn.proven = True
        finally:
            self._wire.release()
        text = reply.headers.get("Reply-Text", "")
        if reply.headers.get("Content-Type") == "command/reply" and failed_reply(text):
            raise EslReplyError(text)
        return reply

    def _ensure(self, deadline: float) -> _Connection:
        """The connection, connecting first if needed (the caller holds the wire lock)."""
        with self._state:
            if self._conn is not None:
                return self._conn
            if self._closed:
                raise EslError("ESL client closed")
            wait = self._retry_at - time.monotonic()
            if wait > 0:
                raise EslUnreachable(f"{self._last_error} (next try in {wait:.1f} s)")
        try:
            conn = self._connect(deadline)
        except EslError as exc:
            with self._state:
                self._failures += 1
                self._retry_at = time.monotonic() + self._delay(self._failures)
                first = self._last_error != exc.reason
                self._last_error = exc.reason
            level = log.info if first and not self.quiet else log.debug
            level("ESL %s:%s: %s", self.host, self.port, exc.reason)
            raise
        with self._state:
            if self._closed:
                conn.shutdown()
                raise EslError("ESL client closed")
            self._conn, self._failures, self._retry_at = conn, 0, 0.0
            self._last_error = ""
            dispatch = bool(self._handlers)
        threading.Thread(target=self._read, args=(conn,), daemon=True,
                         name=f"esl-reader-{self.port}").start()
        (log.debug if self.quiet else log.info)("ESL connected to FreeSWITCH at %s:%s",
                                                self.host, self.port)
        if dispatch:
            self._events.put(EslEvent({"Event-Name": CONNECTED}))
        return conn

    def _connect(self, deadline: float) -> _Connection:
        where = f"FreeSWITCH ESL at {self.host}:{self.port}"

        def left() -> float:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            return remaining

        try:
            sock = socket.create_connection((self.host, self.port), timeout=left())
        except (TimeoutError, OSError) as exc:
            raise EslUnreachable(f"{where} not reachable: {_describe(exc)}") from exc
        stream = sock.makefile("rb")
        stage = "greeting"
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)

            def frame() -> tuple[dict[str, str], bytes]:
                sock.settimeout(left())
                return read_frame(stream)

            headers, body = frame()
            kind = headers.get("Content-Type")
            if kind == "text/rude-rejection":
                raise EslUnreachable(f"{where} refused this client: "
                                     f"{body.decode('utf-8', 'replace').strip()}")
            if kind != "auth/request":
                raise EslUnreachable(f"{where}: no event socket there (got {kind!r})")
            stage = "login"
            sock.settimeout(left())
            sock.sendall(f"auth {self.password}\n\n".encode())
            headers, _ = frame()
            text = headers.get("Reply-Text", "")
            if not text.startswith("+OK"):
                raise EslAuthError(f"{where} refused the password: {text or headers}")
            with self._state:
                wanted = list(self._wanted)
            if wanted:
                stage = "event subscription"
                sock.settimeout(left())
                sock.sendall(event_command(wanted).encode() + b"\n\n")
                headers, _ = frame()
                text = headers.get("Reply-Text", "")
                if not text.startswith("+OK"):
                    # Commands still work: keep the link, say why events will not come.
                    log.error("%s refused the event subscription %r: %s", where,
                              event_command(wanted), text)
            sock.settimeout(None)
        except TimeoutError as exc:
            _close(sock, stream)
            raise EslTimeout(f"{where}: no answer during the {stage} in time") from exc
        except (OSError, EOFError, ValueError) as exc:
            _close(sock, stream)
            raise EslUnreachable(f"{where}: connection lost during the {stage}: "
                                 f"{_describe(exc)}") from exc
        except BaseException:
            _close(sock, stream)
            raise
        return _Connection(sock, stream)

    # -- the reader, the keeper and the dispatcher -----------------------------------------

    def _read(self, conn: _Connection) -> None:
        reason = "connection closed by FreeSWITCH"
        try:
            while True:
                headers, body = read_frame(conn.stream)
                kind = headers.get("Content-Type", "")
                if kind in ("command/reply", "api/response"):
                    with self._state:
                        waiter, conn.waiter = conn.waiter, None
                    if waiter is None:
                        log.warning("ESL: a %s nobody waits for: %s", kind, headers)
                    else:
                        waiter.set(_Reply(headers, body))
                elif kind == "text/event-plain":
                    self._queue(parse_event(body))
                elif kind == "text/disconnect-notice":
                    if headers.get("Content-Disposition") == "linger":
                        continue
                    reason = ("FreeSWITCH said goodbye: "
                              + body.decode("utf-8", "replace").strip().split("\n")[0])
                    break
                elif kind == "text/rude-rejection":
                    reason = "FreeSWITCH rejected us: " + body.decode("utf-8", "replace")
                    break
                # log/data and anything else: not asked for, ignored.
        except (OSError, EOFError, ValueError) as exc:
            if not conn.closed:
                reason = f"connection lost: {_describe(exc)}"
        finally:
            self._drop(conn, reason)
            with contextlib.suppress(OSError):
                conn.stream.close()

    def _drop(self, conn: _Connection, reason: str) -> None:
        """Forget this connection (once), fail its waiting command, tell the keeper."""
        with self._state:
            if conn.closed and self._conn is not conn:
                return
            current = self._conn is conn
            if current:
                self._conn = None
                self._last_error = f"ESL connection dropped: {reason}"
                # A command may reconnect at once. The keeper backs off when links keep
                # dropping right after login (a crash loop), as after failed connects.
                now = time.monotonic()
                stable = conn.proven or now - conn.started >= self.backoff_max
                self._drops = 0 if stable else self._drops + 1
                self._keeper_at = now + (self._delay(self._drops) if self._drops else 0.0)
            waiter, conn.waiter = conn.waiter, None
            closing = self._closed
            dispatch = current and bool(self._handlers) and not closing
        conn.shutdown()
        if waiter is not None:
            waiter.set(error=EslError(f"FreeSWITCH connection lost: {reason}"))
        if current:
            (log.debug if closing else log.warning)("ESL %s:%s dropped: %s", self.host,
                                                    self.port, reason)
            if dispatch:
                self._events.put(EslEvent({"Event-Name": DISCONNECTED, "Reason": reason}))
            self._wake.set()

    def _delay(self, attempts: int) -> float:
        return min(self.backoff_max, self.backoff_min * 2 ** (attempts - 1))

    def _queue(self, event: EslEvent) -> None:
        if self._handlers:
            self._events.put(event)

    def _start_dispatcher(self) -> None:
        with self._state:
            if self._dispatcher is None and not self._closed:
                self._dispatcher = threading.Thread(target=self._dispatch, daemon=True,
                                                    name=f"esl-events-{self.port}")
                self._dispatcher.start()

    def _dispatch(self) -> None:
        while True:
            event = self._events.get()
            if event is None:
                return
            with self._state:
                handlers = [*self._handlers.get(event.name, ()), *self._handlers.get(ANY, ())]
            for handler in handlers:
                try:
                    handler(event)
                except Exception:
                    log.exception("ESL handler %r failed on %s", handler, event.name)
                except BaseException as exc:  # e.g. an escaped gevent.Timeout
                    if isinstance(exc, (KeyboardInterrupt, SystemExit)) or \
                            type(exc).__name__ == "GreenletExit":
                        raise
                    log.exception("ESL handler %r failed on %s", handler, event.name)

    def _start_keeper(self) -> None:
        with self._state:
            if self._keeper is None and not self._closed:
                self._keeper = threading.Thread(target=self._keep, daemon=True,
                                                name=f"esl-keeper-{self.port}")
                self._keeper.start()

    def _keep(self) -> None:
        """Stay connected while someone listens for events."""
        while not self._closed:
            if self._conn is not None:
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            wait = max(self._retry_at, self._keeper_at) - time.monotonic()
            if wait > 0:
                self._wake.wait(wait)
                self._wake.clear()
                continue
            if not self._wire.acquire(timeout=self.timeout):
                continue
            try:
                if self._conn is None and not self._closed:
                    self._ensure(time.monotonic() + self.timeout)
            except EslError:
                pass  # logged by _ensure; the backoff decides when to try again
            finally:
                self._wire.release()


def _verb(line: str) -> str:
    """What a command was, for messages, without arguments that may carry secrets."""
    words = line.split()
    return " ".join(words[:2]) if words[:1] in (["api"], ["bgapi"]) else (words[:1] or [""])[0]


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _close(sock: socket.socket, stream: IO[bytes]) -> None:
    with contextlib.suppress(OSError):
        stream.close()
    with contextlib.suppress(OSError):
        sock.close()
