"""coturn (DESIGN D6): TURN REST credentials, and its telnet CLI on 127.0.0.1:5766.

Credentials follow the TURN REST scheme coturn checks with `use-auth-secret`: the
username is "expiry:user" (expiry in Unix seconds), the password is
base64(HMAC-SHA1(static-auth-secret, username)).

The CLI is plain text over TCP: a banner ending in "Enter password: ", then a "> "
prompt after each command. Every read is under a timeout.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import re
import socket
import time
from collections.abc import Callable

PROMPT = b"> "
PASSWORD_PROMPT = b"Enter password: "


class CoturnError(Exception):
    """The CLI could not be reached or refused us."""


def rest_credentials(secret: str, user: str, ttl_s: int,
                     now: float | None = None) -> tuple[str, str]:
    """(username, password) valid for ttl_s seconds from now."""
    expiry = int(now if now is not None else time.time()) + int(ttl_s)
    username = f"{expiry}:{user}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode("ascii")


def parse_pc(text: str) -> dict[str, list[str]]:
    """The `pc` (print configuration) output as {name: [values]} ("min-port": ["40000"])."""
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        name, sep, value = line.strip().partition(": ")
        if sep and name and not name.startswith("("):
            out.setdefault(name, []).append(value.strip())
    return out


# `ps` and `pu` end with "  Total sessions: N" (or "... for realm R: N" after `sr R`), and
# `pu` lists "    user: <name>, N sessions" before it (turn_admin_server.c print_sessions).
_TOTAL = re.compile(r"^\s*Total sessions(?: for [^:]*)?: (\d+)\s*$", re.M)
_USER = re.compile(r"^\s*user: <(.*)>, (\d+) sessions\s*$", re.M)


def parse_total_sessions(text: str) -> int:
    """The session count of a `ps` or `pu` output; ValueError when it has none."""
    found = _TOTAL.findall(text)
    if len(found) != 1:
        raise ValueError(f"no single 'Total sessions' line in {text[-200:]!r}")
    return int(found[0])


def parse_users(text: str) -> dict[str, int]:
    """The `pu` output as {TURN username: its sessions}."""
    return {user: int(count) for user, count in _USER.findall(text)}


class CoturnCli:
    """One CLI session per command: connect, log in, run it, quit."""

    def __init__(self, host: str = "127.0.0.1", port: int = 5766, password: str = "",
                 timeout: float = 3.0) -> None:
        self.host, self.port, self.password, self.timeout = host, port, password, timeout

    def command(self, cmd: str) -> str:
        """The command's output (without the prompt)."""
        deadline = time.monotonic() + self.timeout
        try:
            with socket.create_connection((self.host, self.port), timeout=self.timeout) as sock:
                banner = self._read_until(sock, _asks_password_or_prompt, deadline)
                if _asks_password(banner):
                    sock.sendall(self.password.encode() + b"\r\n")
                    answer = self._read_until(sock, _asks_password_or_prompt, deadline)
                    if not answer.endswith(PROMPT):
                        raise CoturnError(f"CLI {self.host}:{self.port}: password refused")
                sock.sendall(cmd.encode() + b"\r\n")
                out = self._read_until(sock, lambda buf: buf.endswith(PROMPT), deadline)
                with contextlib.suppress(OSError):
                    sock.sendall(b"quit\r\n")
        except OSError as exc:
            raise CoturnError(f"CLI {self.host}:{self.port}: {exc}") from exc
        return out[: -len(PROMPT)].decode("utf-8", "replace").strip("\r\n")

    def _read_until(self, sock: socket.socket, done: Callable[[bytes], bool],
                    deadline: float) -> bytes:
        buf = b""
        while not done(buf):
            left = deadline - time.monotonic()
            if left <= 0:
                raise CoturnError(f"CLI {self.host}:{self.port}: no prompt within "
                                  f"{self.timeout:g} s")
            sock.settimeout(left)
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                raise CoturnError(f"CLI {self.host}:{self.port}: connection closed")
            buf += chunk
        return buf


def _asks_password(buf: bytes) -> bool:
    return buf.rstrip(b"\r\n").endswith(PASSWORD_PROMPT)


def _asks_password_or_prompt(buf: bytes) -> bool:
    return _asks_password(buf) or buf.endswith(PROMPT)
