"""A dedicated listener for FreeSWITCH's posts to the control plane: mod_xml_curl's
directory and dialplan lookups and mod_json_cdr's call records.

Every SIP registration and call asks the directory and the dialplan, and every hangup
posts a record, so these requests skip the WSGI stack: this is a minimal HTTP/1.1 server
on gevent (keep-alive, Content-Length bodies only) that hands each request to the same
handler as its web route (api_freeswitch.FAST_ROUTES). It listens on 127.0.0.1 only;
xml_curl.conf.xml and json_cdr.conf.xml point FreeSWITCH at it.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable

from gevent.server import StreamServer

log = logging.getLogger(__name__)

MAX_HEAD = 16 * 1024
IDLE_TIMEOUT_S = 30
REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
           404: "Not Found", 405: "Method Not Allowed", 411: "Length Required",
           413: "Request Entity Too Large", 503: "Service Unavailable"}

Handler = Callable[[dict, Callable[[int], bytes]], tuple[int, dict[str, str], bytes]]
Route = tuple[Handler, int]  # the handler and the largest body it takes


class _Closed(Exception):
    pass


def _response(status: int, headers: dict[str, str], body: bytes, keep_alive: bool) -> bytes:
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, '')}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append(f"Content-Length: {len(body)}")
    if not keep_alive:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class GatewayListener:
    def __init__(self, routes: dict[str, Route], host: str, port: int) -> None:
        self.routes = routes
        self.server = StreamServer((host, port), self._connection)

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        self.server.stop(timeout=2)

    @property
    def port(self) -> int:
        return self.server.server_port

    def _connection(self, sock: socket.socket, address: tuple) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(IDLE_TIMEOUT_S)
        buffer = b""
        try:
            while True:
                while b"\r\n\r\n" not in buffer:
                    if len(buffer) > MAX_HEAD:
                        sock.sendall(_response(400, {}, b"header too large\n", False))
                        return
                    buffer += self._recv(sock)
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                status, environ, keep_alive, length = self._parse(head, address[0])
                route = self.routes.get(environ.get("PATH_INFO", ""))
                if environ and route is None:
                    status = 404
                elif status == 200 and length > route[1]:
                    status = 413
                if status != 200:
                    sock.sendall(_response(status, {}, REASONS[status].encode() + b"\n", False))
                    return
                while len(buffer) < length:
                    buffer += self._recv(sock)
                body, buffer = buffer[:length], buffer[length:]
                code, headers, payload = route[0](environ, lambda n, b=body: b[:n])
                sock.sendall(_response(code, headers, payload, keep_alive))
                if not keep_alive:
                    return
        except (_Closed, OSError):
            return
        except Exception:
            log.exception("gateway listener: unexpected error")

    @staticmethod
    def _recv(sock: socket.socket) -> bytes:
        data = sock.recv(65536)
        if not data:
            raise _Closed()
        return data

    @staticmethod
    def _parse(head: bytes, remote: str) -> tuple[int, dict, bool, int]:
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            return 400, {}, False, 0
        method, target, version = parts
        environ: dict[str, str] = {"REQUEST_METHOD": method, "PATH_INFO": target.split("?")[0],
                                   "REMOTE_ADDR": remote}
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                return 400, {}, False, 0
            headers[name.strip().lower()] = value.strip()
        if method != "POST":
            return 405, environ, False, 0
        if "transfer-encoding" in headers or not headers.get("content-length", "").isdigit():
            return 411, environ, False, 0
        length = int(headers["content-length"])
        for name in ("authorization", "x-real-ip"):
            if name in headers:
                environ["HTTP_" + name.upper().replace("-", "_")] = headers[name]
        environ["CONTENT_LENGTH"] = str(length)
        connection = headers.get("connection", "").lower()
        keep_alive = connection != "close" and (version == "HTTP/1.1"
                                                or connection == "keep-alive")
        return 200, environ, keep_alive, length
