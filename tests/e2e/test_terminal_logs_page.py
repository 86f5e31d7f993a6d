"""系统日志 -> 终端日志 in a real Chromium over a real FreeSWITCH (SPEC O4, guide 终端日志):

- off and empty, the list says the logs are off and how to turn them on;
- the switch turned on asks first with the guide's bandwidth warning (cancel keeps it off,
  OK turns it on, as GET /api/v1/settings/terminal-logs then says); off applies at once;
  a refused change is shown under the switch, which keeps the saved setting;
- SIPp terminals register through FreeSWITCH from two addresses (one un-registers again):
  a row for each IP appears without a reload, with account, name, model, software version
  and online/offline; the model select (built from the data), the status select and the
  search narrow the list;
- export: "today" downloads the terminal's log holding its REGISTER exchange; a reversed
  range of dates is refused in the dialog with the API's words, a mended one downloads.
Screenshots: /tmp/vcbox-shots/terminal-logs-*.png."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Download, Page, Route, expect

from controlplane.i18n import translate
from tests.e2e.conftest import shown, signed_in_page
from tests.integration.test_presence_real import T49
from tests.integration.test_terminal_logs_real import VC400, Box
from tests.integration.test_terminal_logs_real import box as terminal_logs_box
from tests.sipp import Terminal, register_scenario

LANG = "zh_CN"
WIDE = "#tlogs .table-responsive, #tlogs-switch-card, #tlogs-rows td"
box = terminal_logs_box
CONFIRM_ON = ("Terminal logs use some bandwidth once on; with many terminals they may "
              "affect the server's performance. Turn terminal logs on?")


def t(msgid: str, **values: Any) -> str:
    return shown(LANG, msgid, **values)


@dataclass
class Elsewhere(Terminal):
    """A terminal at another loopback address (a second terminal IP, a second log)."""

    address: str = "127.0.0.2"

    def argv(self, *args: Any, **kwargs: Any) -> list[str]:
        argv = super().argv(*args, **kwargs)
        argv[argv.index("-i") + 1] = self.address
        return argv


def register(terminal: Terminal, user_agent: str, expires: int = 120) -> None:
    done = terminal.run(f"register-{expires}", register_scenario(200, user_agent, expires))
    assert done.returncode == 0, done.stdout + done.stderr


def enabled(box: Box) -> bool:
    res = box.admin.get("/api/v1/settings/terminal-logs")
    assert res.status_code == 200, res.text
    return res.json()["enabled"]


def downloaded(download: Download) -> str:
    return Path(download.path()).read_text(encoding="utf-8")


def overflowing(page: Page, selector: str) -> list[str]:
    """What of selector is wider than its box (a clipped or scrolled column)."""
    return page.evaluate("""sel => [...document.querySelectorAll(sel)]
        .filter(el => el.scrollWidth > el.clientWidth + 1)
        .map(el => `${el.id || el.className}: ${el.scrollWidth} > ${el.clientWidth}`)""",
                         selector)


@pytest.fixture
def page(box: Box, context: BrowserContext) -> Iterator[Page]:
    with signed_in_page(box.server, context) as page:
        yield page


def test_the_terminal_logs_page(page: Page, box: Box, shots: Path) -> None:
    assert enabled(box) is False
    page.goto(box.server.url + "/logs/terminals")
    expect(page.locator("main h1")).to_have_text(t("Terminal logs"))
    expect(page.locator("aside a.active")).to_have_text(t("Terminal logs"))
    switch, state = page.locator("#tlogs-enabled"), page.locator("#tlogs-state")
    expect(switch).to_be_enabled()
    expect(switch).not_to_be_checked()
    expect(state).to_have_text(t("Logging off"))
    expect(page.locator("#tlogs-switch-card")).to_contain_text(t(
        "Terminal logs use some bandwidth once on; with many terminals they may affect the"
        " server's performance."))
    # Off and nothing logged: the list says so, and how to turn them on.
    off = page.locator("#tlogs-rows [data-role=off]")
    expect(off).to_contain_text(t("Terminal logs are off"))
    expect(off).to_contain_text(t(
        "Once they are on, the registration and subscription messages of every registered"
        " terminal are kept here, one log per IP address."))
    expect(off.locator("[data-role=enable]")).to_have_text(t("Enable terminal logs"))
    page.screenshot(path=shots / "terminal-logs-off-zh.png", animations="disabled")

    # On asks first, with the guide's warning: cancel keeps them off.
    confirm = page.locator("#dlg-confirm")
    switch.click()
    expect(confirm).to_be_visible()
    expect(confirm.locator("[data-role=message]")).to_have_text(t(CONFIRM_ON))
    page.screenshot(path=shots / "terminal-logs-confirm.png", animations="disabled")
    confirm.locator("[data-role=cancel]").click()
    expect(confirm).to_be_hidden()
    expect(switch).not_to_be_checked()
    assert enabled(box) is False
    # OK turns them on (from the empty state's button this time: the same question).
    off.locator("[data-role=enable]").click()
    expect(confirm.locator("[data-role=message]")).to_have_text(t(CONFIRM_ON))
    confirm.locator("[data-role=ok]").click()
    expect(switch).to_be_checked()
    expect(state).to_have_text(t("Logging on"))
    expect(page.locator("#toasts")).to_contain_text(t("Terminal logs are on."))
    assert enabled(box) is True
    expect(page.locator("#tlogs-rows [data-role=none-yet]")).to_contain_text(
        t("No terminal logs yet"))

    # Two terminals register through FreeSWITCH; the one at 127.0.0.2 leaves again.
    register(Terminal(box.folder / "e2e-4101", "4101", box.passwords["4101"], box.domain),
             VC400)
    other = Elsewhere(box.folder / "e2e-4102", "4102", box.passwords["4102"], box.domain)
    register(other, T49)
    register(other, T49, expires=0)
    rows = page.locator("#tlogs-rows tr[data-id]")
    first = page.locator('#tlogs-rows tr[data-id="127.0.0.1"]')
    second = page.locator('#tlogs-rows tr[data-id="127.0.0.2"]')
    expect(rows).to_have_count(2, timeout=15_000)  # the page refreshes its list itself
    expect(second).to_contain_text(t("Offline"), timeout=15_000)
    for text in ("127.0.0.1", "4101", "李雷", "VC400", "63.345.0.40", t("Online")):
        expect(first).to_contain_text(text)
    for text in ("4102", "韩梅梅", "VP-T49", "51.80.0.100"):
        expect(second).to_contain_text(text)
    expect(first.locator("td").last.locator("[data-role=export]")).to_have_attribute(
        "title", t("Export log"))
    expect(page.locator("#tlogs-count")).to_have_text(
        t("{total} in all, {shown} shown", total=2, shown=2))

    # Filters and search narrow the list.
    model, status, search = (page.locator("#tlogs-model"), page.locator("#tlogs-status"),
                             page.locator("#tlogs-search"))
    expect(model.locator("option")).to_have_text([t("All models"), "VC400", "VP-T49"])
    expect(status.locator("option")).to_have_text(
        [t("All statuses"), t("Online"), t("Offline")])
    narrowed = t("{total} in all, {filtered} match, {shown} shown", total=2, filtered=1,
                 shown=1)
    for select, value, left in ((model, "VP-T49", second), (status, "online", first),
                                (status, "offline", second)):
        select.select_option(value)
        expect(rows).to_have_count(1)
        expect(left).to_be_visible()
        expect(page.locator("#tlogs-count")).to_have_text(narrowed)
        select.select_option("")
        expect(rows).to_have_count(2)
    model.select_option("VC400")
    status.select_option("offline")
    expect(page.locator("#tlogs-rows")).to_contain_text(t("Nothing matches the search."))
    model.select_option("")
    status.select_option("")
    for needle, left in (("李", first), ("4102", second)):
        search.fill(needle)
        search.press("Enter")
        expect(rows).to_have_count(1)
        expect(left).to_be_visible()
    search.fill("9999")
    search.press("Enter")
    expect(page.locator("#tlogs-rows")).to_contain_text(t("Nothing matches the search."))
    search.fill("")
    expect(rows).to_have_count(2)
    search.blur()
    assert overflowing(page, WIDE) == []
    page.screenshot(path=shots / "terminal-logs-zh.png", full_page=True, animations="disabled")

    # Export today's log: a file holding the REGISTER exchange of that terminal only.
    dialog = page.locator("#dlg-tlogs-export")
    first.locator("[data-role=export]").click()
    expect(dialog).to_be_visible()
    expect(dialog.locator(".modal-title")).to_have_text(
        t("Export the terminal log of {ip}", ip="127.0.0.1"))
    expect(dialog.locator("[data-role=terminal]")).to_have_text(
        t("{name} ({account}), {model}", name="李雷", account="4101", model="VC400"))
    expect(dialog.locator("[data-days].active")).to_have_text(t("Today"))
    with page.expect_download() as info:
        dialog.locator("[type=submit]").click()
    text = downloaded(info.value)
    assert info.value.suggested_filename.startswith("terminal-127.0.0.1-")
    assert "\nREGISTER sip:" in text and "SIP/2.0 200 OK" in text, text[:500]
    assert f"User-Agent: {VC400}" in text and T49 not in text
    expect(dialog).to_be_hidden()

    # A reversed range: the API's words in the dialog, and no file.
    today = box.admin.get("/api/v1/status").json()["clock"][:10]
    downloads: list[Download] = []
    page.on("download", lambda d: downloads.append(d))
    second.locator("[data-role=export]").click()
    expect(dialog.locator(".modal-title")).to_have_text(
        t("Export the terminal log of {ip}", ip="127.0.0.2"))
    dialog.locator("#tlogs-since").fill(today)
    dialog.locator("#tlogs-until").fill("2020-01-01")
    expect(dialog.locator("[data-days].active")).to_have_count(0)
    dialog.locator("[type=submit]").click()
    expect(dialog.locator("#tlogs-dates-error")).to_have_text(
        t("The start date is after the end date."))
    expect(dialog.locator("#tlogs-since")).to_have_class(
        "form-control is-invalid")
    expect(dialog.locator("#tlogs-until")).to_have_class("form-control is-invalid")
    expect(dialog).to_be_visible()
    page.screenshot(path=shots / "terminal-logs-export.png", animations="disabled")
    assert downloads == []
    # Mended, it downloads that terminal's log of the range.
    dialog.locator("#tlogs-until").fill(today)
    expect(dialog.locator("#tlogs-dates-error")).to_be_hidden()
    with page.expect_download() as info:
        dialog.locator("[type=submit]").click()
    text = downloaded(info.value)
    assert f"User-Agent: {T49}" in text and "Expires: 0" in text and VC400 not in text
    expect(dialog).to_be_hidden()

    # A refused change is shown under the switch, which keeps the saved setting.
    refusal = translate(LANG, "The change was not applied: the %(service)s refused it. The "
                        "previous settings are still in effect; the operation log has the "
                        "details.", service="SIP/IVR")

    def refuse(route: Route) -> None:
        if route.request.method != "PUT":
            route.continue_()
            return
        route.fulfill(status=502, content_type="application/json", body=json.dumps(
            {"error_id": "apply_failed", "message": refusal, "details": {}}))

    page.route("**/api/v1/settings/terminal-logs", refuse)
    switch.click()
    expect(confirm).to_be_hidden()  # off is not asked
    expect(page.locator("#tlogs-switch-error")).to_have_text(refusal)
    expect(switch).to_be_checked()
    assert enabled(box) is True
    page.unroute("**/api/v1/settings/terminal-logs")

    # Off applies at once; the logs stay listed, to be exported.
    switch.click()
    expect(switch).not_to_be_checked()
    expect(state).to_have_text(t("Logging off"))
    expect(page.locator("#tlogs-switch-error")).to_be_hidden()
    expect(confirm).to_be_hidden()
    assert enabled(box) is False
    expect(rows).to_have_count(2)

    # In English at 1280 px the page still fits (the English words are longer).
    page.context.add_cookies([{"name": "vcbox_lang", "value": "en", "url": box.server.url}])
    page.set_viewport_size({"width": 1280, "height": 800})
    page.reload()
    expect(page.locator("main h1")).to_have_text("Terminal logs")
    expect(rows).to_have_count(2)
    expect(state).to_have_text("Logging off")
    page.screenshot(path=shots / "terminal-logs-en.png", animations="disabled")
    assert overflowing(page, WIDE) == []
