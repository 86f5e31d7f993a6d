"""A request's header block, read for gevent's WSGI handler without the email package.

gevent's pywsgi hands the header lines to http.client.parse_headers, which runs them
through email.feedparser: a tenth of the control plane's CPU under the soak (bench/soak.py,
py-spy), for a dozen short lines. RequestHeaders reads the same block and answers what
pywsgi asks of it (get, del, typeheader, getheader, headers, status), with the limits
http.client keeps (a line of 64 KiB, 100 headers) and stricter where RFC 9112 allows a
server to be: a line without a colon, a name with spaces, or a folded (obs-fold) line is
refused with 400 ("status"), not guessed at."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

MAX_LINE = 65536  # http.client._MAXLINE
MAX_HEADERS = 100  # http.client._MAXHEADERS
_TOKEN_BAD = frozenset(' \t"(),/:;<=>?@[\\]{}')


class RequestHeaders:
    """The header fields in order; names compared without case, as HTTP does."""

    __slots__ = ("fields", "status")

    def __init__(self, fields: list[tuple[str, str]] | None = None, status: str = "") -> None:
        self.fields = fields or []
        self.status = status  # why the block is refused; "" when it is not

    def get(self, name: str, default: str | None = None) -> str | None:
        name = name.lower()
        for key, value in self.fields:
            if key.lower() == name:
                return value
        return default

    getheader = get

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __delitem__(self, name: str) -> None:
        name = name.lower()
        self.fields = [(k, v) for k, v in self.fields if k.lower() != name]

    @property
    def typeheader(self) -> str | None:
        return self.get("content-type")

    @property
    def headers(self) -> Iterator[str]:
        """The raw lines, as pywsgi builds the WSGI environ's HTTP_* keys from them."""
        for key, value in self.fields:
            yield f"{key}: {value}\r\n"


def read_headers(rfile: BinaryIO, *_: object) -> RequestHeaders:
    """The header block up to its empty line; status says why it is refused, if it is."""
    fields: list[tuple[str, str]] = []
    while True:
        raw = rfile.readline(MAX_LINE + 1)
        if len(raw) > MAX_LINE:
            return RequestHeaders(status="Line too long")
        if raw in (b"\r\n", b"\n", b""):
            return RequestHeaders(fields)
        if len(fields) >= MAX_HEADERS:
            return RequestHeaders(status="Too many headers")
        line = raw.decode("iso-8859-1").rstrip("\r\n")
        name, colon, value = line.partition(":")
        if not colon or not name or line[0] in " \t" or any(c in _TOKEN_BAD for c in name):
            return RequestHeaders(status="Invalid header line")
        fields.append((name, value.strip(" \t")))
