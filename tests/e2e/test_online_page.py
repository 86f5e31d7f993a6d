"""系统状态 -> 在线用户 in a real Chromium over a real FreeSWITCH (issue 13, SPEC S2): SIPp
terminals register and un-register while the page stays open; the page follows within its
refresh without being reloaded, and 查看 shows the devices' models, versions and addresses.
Screenshots: /tmp/vcbox-shots/online-*.png."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.e2e.conftest import shown, signed_in_page
from tests.integration.test_presence_real import DESKTOP, T49, VC400, Box, device, register
from tests.integration.test_presence_real import box as presence_box

LANG = "zh_CN"
box = presence_box


def t(msgid: str, **values: Any) -> str:
    return shown(LANG, msgid, **values)


@pytest.fixture
def page(box: Box, context: BrowserContext) -> Iterator[Page]:
    with signed_in_page(box.server, context) as page:
        yield page


def test_the_page_follows_registrations_without_a_reload(page: Page, box: Box,
                                                        shots: Path) -> None:
    page.goto(box.server.url + "/status/online-users")
    expect(page.locator("main h1")).to_have_text(t("Online users"))
    expect(page.locator("#online-rows")).to_contain_text(t("No one is online."))
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))

    desk, laptop, phone = (device(box, "4001", 5311), device(box, "4001", 5312),
                           device(box, "4002", 5313))
    register(desk, VC400)
    register(laptop, DESKTOP)
    register(phone, T49)
    rows = page.locator("#online-rows tr[data-id]")
    expect(rows).to_have_count(2, timeout=8000)
    first = page.locator('#online-rows tr[data-id="4001"]')
    expect(first).to_contain_text("王小明")
    expect(first).to_contain_text(t("Online"))
    expect(first).to_contain_text("VC400")
    expect(first).to_contain_text("VC Desktop")
    expect(page.locator("#online-count")).to_have_text(
        t("{total} in all, {shown} shown", total=2, shown=2))
    page.screenshot(path=shots / "online-list.png", animations="disabled")

    first.locator("[data-role=view]").click()
    dialog = page.locator("#dlg-online-devices")
    expect(dialog).to_be_visible()
    expect(dialog.locator(".modal-title")).to_have_text(
        t("Devices of {name} ({account})", name="王小明", account="4001"))
    devices = dialog.locator("tbody tr")
    expect(devices).to_have_count(2)
    expect(dialog).to_contain_text("63.345.0.40")
    expect(dialog).to_contain_text("127.0.0.1:5311")
    page.screenshot(path=shots / "online-devices.png", animations="disabled")
    # One device goes while the dialog is open: the dialog follows too.
    register(laptop, DESKTOP, expires=0)
    expect(devices).to_have_count(1, timeout=8000)
    dialog.locator(".btn-close").click()

    register(desk, VC400, expires=0)
    expect(rows).to_have_count(1, timeout=8000)
    expect(page.locator('#online-rows tr[data-id="4002"]')).to_contain_text("VP-T49")
    register(phone, T49, expires=0)
    expect(page.locator("#online-rows")).to_contain_text(t("No one is online."), timeout=8000)
    assert navigations == [], f"the page was reloaded: {navigations}"
