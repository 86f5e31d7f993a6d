"""Browser fixtures for the end-to-end walks: one headless Debian Chromium per session,
a fresh browser context (cookies, storage) per test. Playwright's own browser downloads
are never used: the system Chromium (scripts/setup.sh installs it) drives the walk."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from tests.conftest import CHROMIUM, CHROMIUM_ARGS, Client, Server  # noqa: F401

# Screenshots for people to look at; deliberately outside the repository.
SHOTS = Path(os.environ.get("VCBOX_SHOTS", "/tmp/vcbox-shots"))


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    ctx.set_default_timeout(10_000)
    yield ctx
    ctx.close()


@pytest.fixture
def shots() -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS


@contextmanager
def signed_in_page(server: Server, context: BrowserContext) -> Iterator[Page]:
    """A 1440x900 page of context with the administrator's session (logged in through
    the API); JavaScript errors on it fail the test when it ends."""
    client = server.client()
    assert client.login().status_code == 200
    context.add_cookies([{"name": c.name, "value": c.value or "", "url": server.url}
                         for c in client.cookies])
    page = context.new_page()
    page.set_viewport_size({"width": 1440, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[tuple[Server, Client]]:
    """A licensed server of its own and the administrator's API client (a module that
    needs another server defines its own `lab`)."""
    from tests.license_keys import licensed_server

    with licensed_server(tmp_path) as srv:
        client = srv.client()
        assert client.login().status_code == 200
        yield srv, client


@pytest.fixture
def page(lab: tuple[Server, Client], context: BrowserContext) -> Iterator[Page]:
    """A signed-in page on `lab`'s server."""
    with signed_in_page(lab[0], context) as page:
        yield page


def shown(lang: str, msgid: str, **values: object) -> str:
    """What a page shows for msgid in lang: the catalog's text, the page script's own
    {name} placeholders filled in."""
    from controlplane.i18n import translate

    return re.sub(r"\{(\w+)\}", lambda m: str(values[m[1]]), translate(lang, msgid))
