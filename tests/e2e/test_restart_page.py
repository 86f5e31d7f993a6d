"""系统维护 -> 重启/恢复出厂设置 (/maintenance/restart; issue 15, SPEC G2/G3) in a real
Chromium, zh-CN.

The page shows the guide's two reset modes, each with what it keeps and what it deletes,
and the reboot card (this test server runs its services in development mode: the page
says a restart restarts its services, not the machine). 重启系统 asks "确定重启系统？",
then the page waits for the restart and lists how the services came back, and goes to the
login. 恢复出厂设置 asks "确定恢复出厂设置？": answered no, nothing happens; answered yes
in the settings-only mode, the accounts stay and the page lands on the setup wizard.
Screenshots: /tmp/vcbox-shots/restart-*.png."""

from __future__ import annotations

import re
from pathlib import Path

import requests
from playwright.sync_api import Page, expect

from controlplane import maintenance
from tests.conftest import Client, Server
from tests.e2e.conftest import shown

LANG = "zh_CN"


def t(msgid: str, **values: object) -> str:
    return shown(LANG, msgid, **values)


def test_restart_and_factory_reset_from_the_page(page: Page, lab: tuple[Server, Client],
                                                 shots: Path) -> None:
    srv, client = lab
    res = client.post("/api/v1/accounts", json={"name": "Ann", "account": "1001",
                                                "email": "ann@example.com"})
    assert res.status_code == 201, res.text
    page.goto(srv.url + "/maintenance/restart")
    expect(page.locator("h1")).to_have_text(t("Restart / factory reset"))

    # Each mode says what it keeps and what it deletes.
    for mode in maintenance.MODES:
        card = page.locator(f"#reset-{mode}")
        kept, lost = card.locator('[data-role="kept"] li'), card.locator('[data-role="lost"] li')
        expect(kept).to_have_text([t(m) for m in maintenance.KEPT[mode]])
        expect(lost).to_have_text([t(m) for m in maintenance.LOST[mode]])
    expect(page.locator("#reset-settings")).to_contain_text(
        t("Clear only the configuration of the system settings"))
    expect(page.locator("#reset-all")).to_contain_text(t("Clear all user data"))
    expect(page.locator("#reset-mode-settings")).to_be_checked()
    expect(page.locator("#reboot-embedded")).to_be_visible()
    page.screenshot(path=shots / "restart-page.png", animations="disabled", full_page=True)

    # The other mode chosen, the question answered no: nothing happens.
    page.locator("#reset-all").click()
    expect(page.locator("#reset-mode-all")).to_be_checked()
    expect(page.locator("#reset-all")).to_have_class(re.compile(r"border-danger"))
    page.click("#reset-run")
    confirm = page.locator("#dlg-confirm")
    expect(confirm).to_be_visible()
    expect(confirm.locator('[data-role="message"]')).to_have_text("确定恢复出厂设置？")
    page.screenshot(path=shots / "restart-reset-confirm.png", animations="disabled")
    confirm.locator('[data-role="cancel"]').click()
    expect(confirm).to_be_hidden()
    assert client.get("/api/v1/accounts").json()["total"] == 1

    # 重启系统: the question, then the services restart and the page lists them.
    page.click("#reboot-run")
    expect(confirm).to_be_visible()
    expect(confirm.locator('[data-role="message"]')).to_have_text("确定重启系统？")
    confirm.locator('[data-role="ok"]').click()
    result = page.locator("#dlg-result")
    expect(result).to_be_visible(timeout=60_000)
    expect(result.locator('[data-role="body"]')).to_contain_text(t(
        "No service runs as its own process here: every configuration was rendered and "
        "checked again."))
    page.screenshot(path=shots / "restart-rebooted.png", animations="disabled")
    result.locator('[data-role="close"]').click()
    # On to the login, which passes a signed-in administrator on (the session survived).
    expect(page).to_have_url(re.compile(r"/(login)?$"))

    # 恢复出厂设置, settings only: the accounts stay; the setup wizard is next.
    page.goto(srv.url + "/maintenance/restart")
    page.locator("#reset-settings").click()
    page.click("#reset-run")
    expect(confirm.locator('[data-role="message"]')).to_have_text("确定恢复出厂设置？")
    confirm.locator('[data-role="ok"]').click()
    expect(result).to_be_visible(timeout=60_000)
    expect(result.locator('[data-role="body"]')).to_contain_text(t(
        "The factory settings are restored. Everyone is signed out and there is no "
        "administrator any more: the setup wizard starts now."))
    page.screenshot(path=shots / "restart-reset-done.png", animations="disabled")
    result.locator('[data-role="close"]').click()
    expect(page).to_have_url(re.compile(r"/setup$"))
    page.screenshot(path=shots / "restart-setup-wizard.png", animations="disabled")
    assert requests.get(srv.url + "/api/v1/setup", timeout=30).json()["configured"] is False
    assert client.get("/api/v1/accounts").status_code == 401
    docs = (srv.data / "documents.json").read_text()
    assert '"1001"' in docs  # the account stayed
