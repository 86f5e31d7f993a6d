"""Shared fixtures: real control-plane servers on 127.0.0.1, and API clients."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

REPO = Path(__file__).resolve().parents[1]
ADMIN_PASSWORD = "Admin#123"


# The browser of every test that drives one (tests/e2e, tests/system): Debian's Chromium,
# one per session, shared, since Playwright's sync API runs one event loop per thread.
CHROMIUM = Path(os.environ.get("VCBOX_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest.fixture(scope="session")
def playwright() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(playwright: Any) -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/setup.sh (installs Debian chromium)")
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                         args=CHROMIUM_ARGS)
    yield browser
    browser.close()


def stop_group(proc: subprocess.Popen, grace: float = 20) -> None:
    """End a process started with start_new_session=True and everything in its group:
    SIGTERM, then SIGKILL after `grace` seconds."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """A real `python -m controlplane serve` process on a free port."""

    data: Path
    port: int
    env: dict[str, str]
    proc: subprocess.Popen | None = None
    # Run before the server's own command line (e.g. nsenter into a mount namespace).
    wrapper: tuple[str, ...] = ()
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.data / "server.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        """The environment the server runs with (also for `python -m controlplane` CLIs
        that must render exactly what the server renders)."""
        # Services run as children only where a test asks for them (VCBOX_LOCAL_SERVICES):
        # they listen on fixed ports that parallel servers would fight over; likewise the
        # directory listener.
        return {**os.environ, "VCBOX_DATA": str(self.data),
                "VCBOX_LISTEN": f"127.0.0.1:{self.port}", "VCBOX_LOCAL_SERVICES": "",
                "VCBOX_DIRECTORY_PORT": "0", **self.env}

    def start(self) -> Server:
        self.data.mkdir(parents=True, exist_ok=True)
        env = self.environment()
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([*self.wrapper, sys.executable, "-m", "controlplane",
                                          "serve"],
                                         cwd=REPO, env=env, stdout=log, stderr=log)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()}")
            try:
                requests.get(self.url + "/api/v1/setup", timeout=1)
                return self
            except requests.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError(f"server did not start: {self.log.read_text()}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self) -> Server:
        self.stop()
        return self.start()

    def client(self) -> Client:
        return Client(self.url)

    def signed_in(self, lang: str | None = None) -> Client:
        """A client of the administrator, signed in (lang: its vcbox_lang cookie)."""
        client = self.client()
        if lang is not None:
            client.cookies.set("vcbox_lang", lang)
        res = client.login()
        assert res.status_code == 200, res.text
        return client


class Client(requests.Session):
    """requests.Session that prefixes the server URL and sends the CSRF token."""

    def __init__(self, base: str) -> None:
        super().__init__()
        self.base = base
        self.csrf = ""

    def request(self, method, url, *args, **kwargs):  # type: ignore[override]
        if url.startswith("/"):
            url = self.base + url
        if self.csrf and method.upper() not in ("GET", "HEAD"):
            kwargs.setdefault("headers", {}).setdefault("X-CSRF-Token", self.csrf)
        kwargs.setdefault("timeout", 30)
        kwargs.setdefault("allow_redirects", False)
        return super().request(method, url, *args, **kwargs)

    def get(self, url, **kwargs):  # type: ignore[override]
        # requests.Session.get passes allow_redirects=True itself: keep redirects visible.
        kwargs.setdefault("allow_redirects", False)
        return self.request("GET", url, **kwargs)

    def login(self, username: str = "admin", password: str = ADMIN_PASSWORD,
              remember: bool = False) -> requests.Response:
        res = self.post("/api/v1/session",
                        json={"username": username, "password": password, "remember": remember})
        if res.status_code == 200:
            self.csrf = res.json()["csrf_token"]
        return res


def make_server(tmp_path: Path, **env: str) -> Server:
    return Server(tmp_path / "data", free_port(), {k.upper(): v for k, v in env.items()})


def create_admin(url: str) -> None:
    res = requests.post(url + "/api/v1/setup/admin",
                        json={"password": ADMIN_PASSWORD, "email": "admin@example.com"},
                        timeout=30)
    assert res.status_code == 200, res.text


@contextmanager
def configured_server(tmp_path: Path, **env: str) -> Iterator[Server]:
    """A started server with these env vars, whose administrator exists; stopped after."""
    srv = make_server(tmp_path, **env).start()
    try:
        create_admin(srv.url)
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """A started server on an empty data dir (not configured)."""
    srv = make_server(tmp_path).start()
    yield srv
    srv.stop()


@pytest.fixture
def configured(server: Server) -> Server:
    """A started server whose administrator exists (password ADMIN_PASSWORD)."""
    create_admin(server.url)
    return server


@pytest.fixture
def admin(configured: Server) -> Client:
    """A logged-in API client."""
    client = configured.client()
    assert client.login().status_code == 200
    return client
