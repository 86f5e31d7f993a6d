"""The control plane's header reader (controlplane.http_headers) answers gevent's WSGI
handler as http.client's parser did for well-formed requests, and refuses what it should."""

from __future__ import annotations

from io import BytesIO

from gevent.pywsgi import headers_factory

from controlplane.http_headers import MAX_HEADERS, MAX_LINE, read_headers

BLOCK = (b"Host: 127.0.0.1:8080\r\n"
         b"User-Agent: wrk\r\n"
         b"Cookie: vcbox_session=abc; vcbox_lang=zh_CN\r\n"
         b"content-type: application/json; charset=utf-8\r\n"
         b"Content-Length: 17\r\n"
         b"X-CSRF-Token:   t0ken \t\r\n"
         b"Accept-Language: zh-CN,zh;q=0.9\r\n"
         b"Accept-Language: en\r\n"
         b"\r\n"
         b'{"name": "x"}....')


def test_as_http_client_read_it() -> None:
    ours, theirs = read_headers(BytesIO(BLOCK)), headers_factory(BytesIO(BLOCK))
    assert ours.status == theirs.status == ""
    # pywsgi strips the values it takes from these lines (trailing blanks included).
    def lines(h: object) -> list[str]:
        return [line.strip() for line in h.headers]  # type: ignore[attr-defined]
    assert lines(ours) == lines(theirs)
    for name in ("host", "CONTENT-LENGTH", "Content-Type", "accept-language", "missing"):
        assert ours.get(name) == theirs.get(name), name
    assert ours.get("x-csrf-token") == theirs.get("x-csrf-token").strip() == "t0ken"
    assert ours.typeheader == theirs.typeheader == "application/json; charset=utf-8"
    assert ours.getheader("missing", "d") == "d"
    del ours["content-length"]
    del ours["not-there"]
    assert ours.get("Content-Length") is None and "Host" in ours


def test_the_body_is_left_in_the_stream() -> None:
    stream = BytesIO(BLOCK)
    read_headers(stream)
    assert stream.read() == b'{"name": "x"}....'
    bare = BytesIO(b"Host: a\n\nrest")  # bare LF line ends
    assert read_headers(bare).get("host") == "a" and bare.read() == b"rest"


def test_bad_blocks_are_refused() -> None:
    for block in (b"Host a\r\n\r\n",  # no colon
                  b": value\r\n\r\n",  # no name
                  b"Bad Name: x\r\n\r\n",  # a space in the name
                  b"Host : x\r\n\r\n",  # a space before the colon (RFC 9112 5.1)
                  b"Host: a\r\n folded\r\n\r\n",  # obs-fold
                  b"X: " + b"a" * MAX_LINE + b"\r\n\r\n",
                  b"".join(b"X-%d: v\r\n" % n for n in range(MAX_HEADERS + 1)) + b"\r\n"):
        assert read_headers(BytesIO(block)).status, block[:40]
    ok = b"".join(b"X-%d: v\r\n" % n for n in range(MAX_HEADERS)) + b"\r\n"
    assert not read_headers(BytesIO(ok)).status
