"""The upload routes (backups, firmware, release bundles, account import) refuse what they
cannot read with their own 4xx, before anything else reads the body: found by the API
fuzz (test_api_fuzz.py), where a multipart part header with a control character made the
operation log's target (the file's name, taken before the route runs) fail with a 500,
and where that target read a body the route then refused as too large (413) or without
a length (411), all of it first."""

from __future__ import annotations

import socket

import pytest

from tests.conftest import Client, Server

# (The upgrade route answers 409 from a source tree before it reads any upload: it is
# checked below for what its operation-log target reads.)
UPLOADS = ("/api/v1/backups/upload", "/api/v1/firmware", "/api/v1/accounts/import")
BOUNDARY = "b0undary"


def broken_multipart() -> bytes:
    """A part whose Content-Disposition holds a NUL (bottle refuses such a header)."""
    return (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"\x00Q\"\r\n\r\n{{}}\r\n"
            f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"a.rom\"\r\n\r\nxx\r\n--{BOUNDARY}--\r\n").encode()


@pytest.mark.parametrize("path", UPLOADS)
def test_a_broken_multipart_body_is_a_field_error(admin: Client, path: str) -> None:
    res = admin.post(path, data=broken_multipart(),
                     headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
    assert res.status_code == 400, (path, res.status_code, res.text)
    assert res.json()["error_id"] == "invalid_input"
    assert set(res.json()["details"]) == {"file"}


def raw_post(server: Server, client: Client, path: str, length: int) -> bytes:
    """POST with a Content-Length far beyond what is sent: the answer must come without
    the server waiting for the body."""
    cookies = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookies}\r\n"
            f"X-CSRF-Token: {client.csrf}\r\nContent-Length: {length}\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n\r\n"
            f"--{BOUNDARY}\r\n")
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head.encode())
        return sock.recv(4096)


@pytest.mark.parametrize("path", ("/api/v1/backups/upload", "/api/v1/firmware",
                                  "/api/v1/system/upgrade"))
def test_a_too_large_upload_is_refused_unread(admin: Client, configured: Server,
                                             path: str) -> None:
    answer = raw_post(configured, admin, path, 4 * 1024 ** 3)
    # 413; the upgrade route's 409 (not on an installed appliance) comes first from here.
    assert answer.startswith((b"HTTP/1.1 413", b"HTTP/1.1 409")), (path, answer[:200])
