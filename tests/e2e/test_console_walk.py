"""The console walk of issue 12's must-show list, in a real Chromium at 1440x900.

A licensed, configured server with accounts (more than one page), rooms, meetings and
operation-log entries made through the API. The walk follows the sidebar as the page draws
it (every entry, every group), in zh-CN and then in English, and on each page:
- the page answers 200 and shows its title inside the app frame;
- its visible text holds no internal key, file path, errno, English service text or unfilled
  placeholder (FORBIDDEN, and in zh-CN also ENGLISH_ONLY);
- a list page's select-all box ticks every selectable row of the page, and its count line
  names the rows shown and the total the API answered.
Screenshots: /tmp/vcbox-shots/walk-<lang>-<page>.png (saved by the test, for people).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.conftest import Client, Server
from tests.e2e.conftest import signed_in_page
from tests.license_keys import licensed_server

# Words that must never reach an administrator: internal keys, paths, errnos, service
# output, the JavaScript of an unfilled value.
FORBIDDEN = (
    "sip_port", "tls_port", "rtp_", "_min", "_max", "/etc/", "/var/", "/usr/", "Errno",
    "errno", "reloadxml", "not installed", "Traceback", "systemctl", "undefined", "NaN",
    "[object", "null", "None", ".xml", ".conf", "%(", "{total}", "{filtered}", "{shown}",
    "msgid", "ESL", "freeswitch",
)
# English service texts that were seen in the zh-CN UI before (issue 12, item 3).
ENGLISH_ONLY = ("inactive", "running", "failed", "unknown", "active", "Service actions",
                "files changed", "Not Found", "Connection refused")
ACCOUNTS = 27   # more than one page of 20
ROOMS = 4


def slug(path: str) -> str:
    return path.strip("/").replace("/", "-") or "home"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with licensed_server(tmp_path_factory.mktemp("console-walk")) as srv:
        api = srv.client()
        assert api.login().status_code == 200
        for n in range(ACCOUNTS):
            res = api.post("/api/v1/accounts", json={
                "name": f"用户{n:02d}", "account": f"{5000 + n}",
                "email": f"u{n}@example.com"})
            assert res.status_code == 201, res.text
        for n in range(ROOMS):
            res = api.post("/api/v1/rooms", json={"name": f"会议室{n}", "kind": "normal"})
            assert res.status_code == 200, res.text
        for n in range(3):
            res = api.post("/api/v1/meetings", json={
                "kind": "vmr", "subject": f"例会{n}", "organizer": "5000"})
            assert res.status_code == 201, res.text
        # an entry or two of every kind in the operation log: a save, a failed login
        res = api.get("/api/v1/settings/call")
        assert res.status_code == 200, res.text
        assert api.put("/api/v1/settings/call", json=res.json()).status_code == 200
        assert srv.client().login(password="Wrong#pass1").status_code == 401
        yield srv


@pytest.fixture
def page(server: Server, context: BrowserContext) -> Iterator[Page]:
    with signed_in_page(server, context) as page:
        yield page


def menu(page: Page) -> list[str]:
    """Every page the sidebar links to, in its order."""
    hrefs = page.locator("aside a[href]").evaluate_all(
        "els => els.map(e => e.getAttribute('href'))")
    return list(dict.fromkeys(h for h in hrefs if h and h.startswith("/")))


def visible_text(page: Page) -> str:
    """What the administrator can read: the body's text, plus placeholders, titles and
    the labels of the select boxes."""
    return page.evaluate("""() => {
        const parts = [document.body.innerText];
        for (const el of document.querySelectorAll('[placeholder],[title]')) {
            if (el.offsetParent === null) continue;
            parts.push(el.getAttribute('placeholder') || '', el.getAttribute('title') || '');
        }
        return parts.join('\\n');
    }""")


def bad_words(text: str, lang: str) -> list[str]:
    found = [w for w in FORBIDDEN if w in text]
    if lang == "zh_CN":
        found += [w for w in ENGLISH_ONLY if re.search(rf"\b{re.escape(w)}\b", text)]
    return found


def check_list(page: Page, api: Client) -> None:
    """select-all ticks every row of the page; the count line names rows shown and total."""
    head = page.locator("main thead input[type=checkbox]")
    if head.count() == 0:
        return
    table = head.first.locator("xpath=ancestor::table")
    rows = table.locator("tbody tr")
    boxes = table.locator("tbody input[type=checkbox]:not(:disabled)")
    expect(rows.first).to_be_visible()
    shown = rows.count()
    empty = table.locator("tbody tr td[colspan]").count()
    if empty:
        return
    head.first.check()
    assert boxes.count() > 0
    assert all(boxes.nth(i).is_checked() for i in range(boxes.count())), \
        "select-all left rows of the page unticked"
    head.first.uncheck()
    assert not any(boxes.nth(i).is_checked() for i in range(boxes.count()))
    count = page.locator("main [id$='-count']").first
    numbers = [int(n) for n in re.findall(r"\d+", count.inner_text().replace(",", ""))]
    assert shown in numbers, \
        f"count line {count.inner_text()!r} does not name the {shown} rows shown"


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_every_menu_page_reads_plainly(page: Page, server: Server, lang: str,
                                       shots: Path) -> None:
    page.context.add_cookies([{"name": "vcbox_lang", "value": lang, "url": server.url}])
    res = page.goto(server.url + "/")
    assert res is not None and res.status == 200
    paths = menu(page)
    assert len(paths) >= 10, paths
    api = server.client()
    assert api.login().status_code == 200
    problems: dict[str, list[str]] = {}
    for path in paths:
        res = page.goto(server.url + path)
        assert res is not None and res.status == 200, f"{path}: {res and res.status}"
        page.wait_for_load_state("networkidle")
        expect(page.locator("main h1")).not_to_be_empty()
        expect(page.locator(f'aside a[href="{path}"]')).to_have_class(re.compile(r"\bactive\b"))
        page.screenshot(path=shots / f"walk-{lang}-{slug(path)}.png", full_page=True,
                        animations="disabled")
        words = bad_words(visible_text(page), lang)
        if words:
            problems[path] = words
        check_list(page, api)
    assert not problems, f"internal words on the pages: {problems}"
