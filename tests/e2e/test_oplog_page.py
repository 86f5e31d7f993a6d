"""Issue 12, item 4: the operation log (O2) reads plainly, in a real Chromium.

A licensed server whose log holds a dozen varied entries made through the real API (the
admin logs in; saves call, service, SMTP, log-server and network settings, one of them
first refused for want of the guide's confirm and one with a wrong value; creates an
account and a room; changes the e-mail; someone fails to log in). On the page:
- a date range given in reverse is refused at the date fields, in the admin's language,
  and nothing is loaded;
- objects are named in words (网络设置, not `network`) and details are sentences: no
  settings key, file path or service name of the system in the visible text;
- the 操作 and 结果 columns keep their width, the time stays on one line and long details
  wrap inside their column, at 1280 and at 1440 pixels wide;
- the confirm prompt and the wrong value left no "failed" entry.
Screenshots: /tmp/vcbox-shots/oplog-*.png.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Request, expect

from controlplane.i18n import translate
from tests.conftest import Client, Server
from tests.license_keys import licensed_server

LANG = "zh_CN"
# What the page must never show: settings keys and section ids, file paths, program
# names and their output, JavaScript's words for a missing value.
FORBIDDEN = ("sip_port", "sip_tls_port", "polling_interval_s", "network", "services",
             "syslog", "smtp", "call", "/etc/", "etc/", ".conf", ".xml", "freeswitch",
             "rsyslog", "nftables", "turnserver", "reloadxml", "Errno", "undefined", "null",
             "NaN", "[object", "%(", "{total}", "{filtered}")
# English words of the system seen in the zh-CN log before.
ENGLISH_ONLY = ("Success", "Failure", "failure", "success", "checked", "files changed",
                "Configuration", "no match")


def t(message: Any, **params: Any) -> str:
    """The zh-CN catalog's text for a msgid (the page's language)."""
    return translate(LANG, message, **params)


def seed(api: Client, srv: Server) -> None:
    """The entries, through the API the pages use."""
    res = api.put("/api/v1/settings/call", json={"polling_interval_s": 20})
    assert res.status_code == 200, res.text
    # Refused for want of the guide's confirm, then confirmed.
    res = api.put("/api/v1/settings/services", json={"sip_tls_port": 5062})
    assert res.status_code == 409, res.text
    res = api.put("/api/v1/settings/services", json={"sip_tls_port": 5062, "confirm": True})
    assert res.status_code == 200, res.text
    # A wrong value: the page shows it at the field; it is no operation.
    assert api.put("/api/v1/settings/services", json={"sip_port": 0}).status_code == 400
    res = api.put("/api/v1/settings/smtp", json={
        "server": "smtp.example.com", "port": 587, "sender": "vc@example.com",
        "password": "Mail#pass1"})
    assert res.status_code == 200, res.text
    res = api.put("/api/v1/settings/syslog", json={"server": "192.0.2.10"})
    assert res.status_code == 200, res.text
    res = api.put("/api/v1/settings/network", json={"domain": "vc.example.com",
                                                    "confirm": True})
    assert res.status_code == 200, res.text
    res = api.post("/api/v1/accounts", json={"name": "张三", "account": "5001",
                                             "email": "zhang@example.com"})
    assert res.status_code == 201, res.text
    res = api.post("/api/v1/rooms", json={"name": "一号会议室", "kind": "normal"})
    assert res.status_code == 200, res.text
    res = api.put("/api/v1/admin/email", json={"current_email": "admin@example.com",
                                               "new_email": "ops@example.com"})
    assert res.status_code == 200, res.text
    assert srv.client().login(password="Wrong#pass1").status_code == 401


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with licensed_server(tmp_path_factory.mktemp("oplog-page")) as srv:
        api = srv.client()
        assert api.login().status_code == 200
        seed(api, srv)
        yield srv


def new_page(server: Server, browser: Browser, width: int, height: int = 900,
             lang: str = LANG) -> Page:
    api = server.client()
    assert api.login().status_code == 200
    ctx = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
    ctx.set_default_timeout(10_000)
    ctx.add_cookies([{"name": c.name, "value": c.value or "", "url": server.url}
                     for c in api.cookies]
                    + [{"name": "vcbox_lang", "value": lang, "url": server.url}])
    return ctx.new_page()


@pytest.fixture
def page(server: Server, browser: Browser, shots: Path) -> Iterator[Page]:
    page = new_page(server, browser, 1440)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield page
    except Exception:
        page.screenshot(path=shots / "oplog-failure.png", full_page=True)
        raise
    finally:
        page.context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def open_log(page: Page, server: Server) -> None:
    res = page.goto(server.url + "/logs/operation")
    assert res is not None and res.status == 200
    expect(page.locator("#oplog-rows tr").first).to_be_visible()


def show_all(page: Page) -> None:
    with page.expect_response(lambda r: "/api/v1/operation-log" in r.url) as info:
        page.click("#oplog-range [data-range='all']")
    assert info.value.status == 200
    page.wait_for_function("document.querySelectorAll('#oplog-rows tr').length > 12")
    page.wait_for_timeout(300)  # the buttons' colour transitions, for the screenshots


def rows(page: Page) -> list[list[str]]:
    return page.locator("#oplog-rows tr").evaluate_all(
        "trs => trs.map(tr => [...tr.cells].map(td => td.innerText.trim()))")


def column(page: Page, label: str) -> int:
    heads = page.locator("#oplog-table thead th, table:has(#oplog-rows) thead th")
    labels = [h.strip() for h in heads.all_inner_texts()]
    assert label in labels, labels
    return labels.index(label)


def visible_text(page: Page) -> str:
    return page.locator("main").inner_text()


def bad_words(text: str) -> list[str]:
    words = FORBIDDEN + ENGLISH_ONLY
    return [w for w in words if re.search(rf"(?<![A-Za-z]){re.escape(w)}(?![A-Za-z])", text)]


# -- a reversed date range ---------------------------------------------------------------

def test_a_reversed_date_range_is_refused_at_the_date_fields(page: Page,
                                                             server: Server) -> None:
    open_log(page, server)
    before = rows(page)
    today = dt.date.today()
    page.fill("#oplog-since", today.isoformat())
    page.fill("#oplog-until", (today - dt.timedelta(days=2)).isoformat())
    asked: list[Request] = []
    page.on("request", lambda r: asked.append(r)
            if "/api/v1/operation-log" in r.url else None)
    page.click("#oplog-dates")
    message = page.get_by_text(t("The start date is after the end date."), exact=True)
    expect(message).to_be_visible()
    # At the date fields: just below them, the fields marked.
    field = page.locator("#oplog-until").bounding_box()
    box = message.bounding_box()
    assert field and box and 0 <= box["y"] - (field["y"] + field["height"]) < 40, (field, box)
    expect(page.locator("#oplog-since")).to_have_class(re.compile(r"\bis-invalid\b"))
    expect(page.locator("#oplog-until")).to_have_class(re.compile(r"\bis-invalid\b"))
    # Nothing loaded: the list is the one before.
    page.wait_for_timeout(300)
    assert not asked, [r.url for r in asked]
    assert rows(page) == before
    # Corrected, the message goes and the range loads.
    page.fill("#oplog-until", today.isoformat())
    with page.expect_response(lambda r: "/api/v1/operation-log" in r.url) as info:
        page.click("#oplog-dates")
    assert info.value.status == 200
    expect(message).to_be_hidden()
    expect(page.locator("#oplog-since")).not_to_have_class(re.compile(r"\bis-invalid\b"))


# -- words, not keys -----------------------------------------------------------------------

def test_objects_and_details_are_in_words(page: Page, server: Server, shots: Path) -> None:
    open_log(page, server)
    show_all(page)
    page.screenshot(path=shots / "oplog-zh-1440x900.png")
    page.screenshot(path=shots / "oplog-zh.png", full_page=True)
    table = rows(page)
    target, action, result, detail = (column(page, t(label)) for label in
                                      ("Target", "Action", "Result", "Details"))
    targets = {r[target] for r in table}
    for name in ("Call settings", "Service settings", "SMTP mail settings", "Remote syslog",
                 "Network settings"):
        assert t(name) in targets, (name, targets)
    assert not targets & {"call", "services", "smtp", "syslog", "network", "license"}
    # A settings save says which settings changed, by their labels.
    call = next(r for r in table if r[target] == t("Call settings")
                and r[action] == t("Change settings"))
    assert t("Automatic picture switching interval (seconds)") in call[detail], call
    smtp = next(r for r in table if r[target] == t("SMTP mail settings"))
    assert t("SMTP server") in smtp[detail] and "Mail#pass1" not in smtp[detail], smtp
    # The confirm prompt and the wrong value are no failed operation.
    failed = [r for r in table if r[result] == t("Failure")]
    assert [r[action] for r in failed] == [t("Failed login")], failed
    found = bad_words(visible_text(page))
    assert not found, f"internal words on the page: {found}\n{visible_text(page)}"
    # What the programs said (here: the files written) is folded away under the sentence.
    applied = page.locator("#oplog-rows tr", has_text=t("Apply configuration")).filter(
        has_text=t("Service settings"))
    folded = applied.locator("details")
    expect(folded.locator("summary")).to_have_text(t("Technical details"))
    folded.locator("summary").click()
    expect(folded.locator("pre")).to_contain_text("etc/freeswitch/vars.xml")
    applied.scroll_into_view_if_needed()
    page.screenshot(path=shots / "oplog-zh-technical.png")


def test_the_english_page_is_in_english(server: Server, browser: Browser,
                                        shots: Path) -> None:
    page = new_page(server, browser, 1440, lang="en")
    try:
        open_log(page, server)
        show_all(page)
        page.screenshot(path=shots / "oplog-en.png", full_page=True)
        text = visible_text(page)
        assert "Network settings" in text and "Change settings" in text
        assert not re.search(r"[\u4e00-\u9fff]", text.replace("张三", "").replace(
            "一号会议室", "")), text
    finally:
        page.context.close()


# -- fixed column widths -------------------------------------------------------------------

MEASURE = """([action, result, time, detail]) => {
  const table = document.getElementById('oplog-rows').closest('table');
  const lines = (el) => {
    const r = document.createRange(); r.selectNodeContents(el);
    const boxes = [...r.getClientRects()].filter((b) => b.width > 0);
    const tops = new Set(boxes.map((b) => Math.round(b.top)));
    return tops.size;
  };
  const cells = (i) => [...table.querySelectorAll('tbody tr')].map((tr) => tr.cells[i]);
  const fits = (td) => td.scrollWidth <= td.clientWidth + 1;
  return {
    head: [action, result, time].map((i) => lines(table.tHead.rows[0].cells[i])),
    action: cells(action).map((td) => [lines(td), fits(td), td.getBoundingClientRect().width]),
    result: cells(result).map((td) => [lines(td), fits(td), td.getBoundingClientRect().width]),
    time: cells(time).map((td) => [lines(td), fits(td)]),
    detail: cells(detail).map((td) => [lines(td), fits(td)]),
    overflow: table.scrollWidth - table.parentElement.clientWidth,
  };
}"""


@pytest.mark.parametrize("width", [1280, 1440])
def test_action_and_result_keep_their_width(server: Server, browser: Browser, width: int,
                                            shots: Path) -> None:
    page = new_page(server, browser, width)
    try:
        open_log(page, server)
        show_all(page)
        page.screenshot(path=shots / f"oplog-columns-{width}.png", full_page=True)
        index = [column(page, t(label)) for label in ("Action", "Result", "Time", "Details")]
        m = page.evaluate(MEASURE, index)
        assert m["head"] == [1, 1, 1], m["head"]
        for name in ("action", "result", "time"):
            bad = [c for c in m[name] if c[0] != 1 or not c[1]]
            assert not bad, f"{name} cells wrapped or squeezed at {width}px: {m[name]}"
        # Fixed: the columns keep their width whatever the rows say (here: none).
        heads = page.locator("#oplog-rows").locator("xpath=ancestor::table//thead//th")
        widths = [heads.nth(i).bounding_box()["width"] for i in index]
        with page.expect_response(lambda r: "/api/v1/operation-log" in r.url):
            page.fill("#oplog-search", "nobody-at-all")
            page.press("#oplog-search", "Enter")
        expect(page.locator("#oplog-rows tr")).to_have_count(1)
        after = [heads.nth(i).bounding_box()["width"] for i in index]
        assert all(abs(a - b) <= 1 for a, b in zip(widths, after, strict=True)), (widths, after)
        # Long details wrap inside their column; the table fits the page.
        assert all(c[1] for c in m["detail"]), m["detail"]
        assert any(c[0] > 1 for c in m["detail"]), "no detail wraps: too short to tell"
        assert m["overflow"] <= 1, m["overflow"]
    finally:
        page.context.close()
