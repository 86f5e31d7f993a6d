"""The shared list (static/list.js, views/_list.html) and the accounts and rooms pages on it,
in a real Chromium at 1440x900 (issue 12, bugs 1-4): select-all ticks every row of the page,
the count line names the rows shown, the page size and the sortable headers load what they
say, the video-room dialog lists accounts before anything is typed, and a password reset in
the edit dialog keeps the edits typed there. Each of these failed on the pages before they
moved onto the shared list. The UI is zh-CN: texts come from the catalog, never typed here.
Screenshots: /tmp/vcbox-shots/lists-*.png.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import requests
from playwright.sync_api import BrowserContext, Page, expect

from controlplane.i18n import translate
from tests.conftest import ADMIN_PASSWORD, Client
from tests.integration import conftest as integration

inproc = integration.inproc

LANG = "zh_CN"
VIEWPORT = {"width": 1440, "height": 900}
N_ACCOUNTS = 25
CHECKED_BOXES = "#accounts-rows input[data-role=select]:checked"


def t(msgid: str, **values: Any) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: str(values[m[1]]), translate(LANG, msgid))


def answer(path: str, method: str = "GET"):
    return lambda r: r.url.split("?")[0].endswith(path) and r.request.method == method


def admin(app: integration.InProcess) -> Client:
    res = requests.post(app.url + "/api/v1/setup/admin", timeout=30,
                        json={"password": ADMIN_PASSWORD, "email": "admin@example.com"})
    assert res.status_code == 200, res.text
    client = app.client()
    assert client.login().status_code == 200
    assert client.post("/api/v1/license/trial").status_code == 200
    return client


def seed_accounts(client: Client, n: int = N_ACCOUNTS) -> list[dict[str, Any]]:
    made = []
    for i in range(n):
        # Names sort differently from the numbers: the name order is tested below.
        doc = {"name": f"用户{(i * 7) % n:02d}", "account": f"{5000 + i}",
               "email": f"u{5000 + i}@example.com"}
        res = client.post("/api/v1/accounts", json=doc)
        assert res.status_code == 201, res.text
        made.append(doc)
    return made


def open_page(context: BrowserContext, app: integration.InProcess, path: str
              ) -> tuple[Page, list[str]]:
    page = context.new_page()
    page.set_viewport_size(VIEWPORT)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(app.url + path)
    page.fill("#username", "admin")
    page.fill("#password", ADMIN_PASSWORD)
    # The login page answers at the page's own URL: wait for the page that replaces it
    # (and its first list load), not for the URL.
    with page.expect_navigation(), page.expect_response(answer("/api/v1/session", "POST")
                                                        ) as info:
        page.click("#login-submit")
    assert info.value.status == 200, info.value.text()
    page.wait_for_load_state("networkidle")
    expect(page.locator("#form-login")).to_have_count(0)
    return page, errors


def rows(page: Page, list_name: str) -> list[str]:
    """The data-id of each row shown, in order."""
    page.wait_for_load_state("networkidle")
    return page.locator(f"#{list_name}-rows tr[data-id]").evaluate_all(
        "trs => trs.map(tr => tr.dataset.id)")


def test_select_all_ticks_every_row_and_the_count_names_the_rows_shown(
        inproc, context: BrowserContext, shots: Path) -> None:
    app = inproc()
    seed_accounts(admin(app))
    page, errors = open_page(context, app, "/accounts")
    count = page.locator("#accounts-count")
    expect(page.locator("#accounts-rows tr[data-id]")).to_have_count(20)
    expect(count).to_have_text(t("{total} in all, {shown} shown", total=N_ACCOUNTS, shown=20))

    # Select-all ticks all 20 rows (before, each row's handler reset the header box and
    # only the first row stayed ticked); the batch buttons and the note follow.
    head = page.locator("#accounts-all")
    head.check()
    expect(page.locator(CHECKED_BOXES)).to_have_count(20)
    expect(page.locator("#accounts-selected")).to_have_text(t("{n} selected", n=20))
    expect(page.locator("#accounts-delete")).to_be_enabled()
    expect(page.locator("#accounts-mail")).to_be_enabled()
    # One row unticked: the header box is half-ticked, not ticked.
    page.locator("#accounts-rows input[data-role=select]").nth(3).uncheck()
    assert head.evaluate("b => [b.checked, b.indeterminate]") == [False, True]
    expect(page.locator("#accounts-selected")).to_have_text(t("{n} selected", n=19))
    page.screenshot(path=shots / "lists-accounts-selected.png", animations="disabled")
    head.check()
    head.uncheck()
    expect(page.locator(CHECKED_BOXES)).to_have_count(0)
    expect(page.locator("#accounts-delete")).to_be_disabled()

    # The last page holds 5 rows, and the count line says 5.
    page.locator("#accounts-pages button", has_text="2").click()
    expect(page.locator("#accounts-rows tr[data-id]")).to_have_count(N_ACCOUNTS - 20)
    expect(count).to_have_text(t("{total} in all, {shown} shown", total=N_ACCOUNTS,
                                 shown=N_ACCOUNTS - 20))
    # The page size: 10 rows, three pages; the page still starts at row 21 (now page 3).
    with page.expect_response(answer("/api/v1/accounts")) as info:
        page.select_option("#accounts-size", "10")
    assert "limit=10" in info.value.url and "offset=20" in info.value.url
    expect(page.locator("#accounts-rows tr[data-id]")).to_have_count(5)
    expect(page.locator("#accounts-pages [aria-current=page]")).to_have_text("3")
    page.locator("#accounts-pages button", has_text="1").click()
    expect(page.locator("#accounts-rows tr[data-id]")).to_have_count(10)
    expect(count).to_have_text(t("{total} in all, {shown} shown", total=N_ACCOUNTS, shown=10))
    expect(page.locator("#accounts-pages button.page-link", has_text=re.compile(r"^\d+$"))
           ).to_have_count(3)
    # A search: the count says how many match and how many are shown.
    page.fill("#accounts-search", "用户0")
    page.press("#accounts-search", "Enter")
    expect(page.locator("#accounts-rows tr[data-id]")).to_have_count(10)
    expect(count).to_have_text(t("{total} in all, {filtered} match, {shown} shown",
                                 total=N_ACCOUNTS, filtered=10, shown=10))
    page.fill("#accounts-search", "无此人")
    page.press("#accounts-search", "Enter")
    expect(page.locator("#accounts-rows")).to_have_text(t("Nothing matches the search."))
    assert not errors, errors


def test_headers_sort_the_list(inproc, context: BrowserContext) -> None:
    app = inproc()
    made = seed_accounts(admin(app))
    page, errors = open_page(context, app, "/accounts")
    by_number = [d["account"] for d in made]
    by_name = [d["account"] for d in sorted(made, key=lambda d: d["name"])]
    assert rows(page, "accounts") == by_number[:20]
    name = page.locator("#accounts-table th[data-sort=name]")
    with page.expect_response(answer("/api/v1/accounts")) as info:
        name.click()
    assert "order=name" in info.value.url and "direction=asc" in info.value.url
    expect(name).to_have_attribute("aria-sort", "ascending")
    assert rows(page, "accounts") == by_name[:20]
    with page.expect_response(answer("/api/v1/accounts")):
        name.click()
    expect(name).to_have_attribute("aria-sort", "descending")
    assert rows(page, "accounts") == by_name[::-1][:20]
    expect(page.locator("#accounts-table th[data-sort=account]")).to_have_attribute(
        "aria-sort", "none")
    assert not errors, errors


def test_video_room_dialog_lists_the_accounts_before_anything_is_typed(
        inproc, context: BrowserContext, shots: Path) -> None:
    app = inproc()
    seed_accounts(admin(app), 3)
    page, errors = open_page(context, app, "/rooms")
    page.click("#rooms-add")
    dialog = page.locator("#dlg-room")
    expect(dialog).to_be_visible()
    expect(page.locator("#room-kind-normal")).to_be_checked()
    with page.expect_response(answer("/api/v1/accounts")):
        page.locator("label[for=room-kind-video]").click()
    options = page.locator("#room-account option:not([disabled])")
    expect(options).to_have_count(3)
    expect(options.first).to_have_attribute("value", "5000")
    page.screenshot(path=shots / "lists-video-room-dialog.png", animations="disabled")
    # And it binds: pick one, save, and the list shows it on the video tab.
    page.fill("#room-name", "一号会议室（视频）")
    page.select_option("#room-account", "5001")
    with page.expect_response(answer("/api/v1/rooms", "POST")) as info:
        dialog.locator("[type=submit]").click()
    assert info.value.ok, info.value.text()
    assert info.value.json()["bound_account"] == "5001"
    assert not errors, errors


def test_password_reset_keeps_the_unsaved_edits_of_the_dialog(
        inproc, context: BrowserContext, shots: Path) -> None:
    app = inproc()
    client = admin(app)
    seed_accounts(client, 2)
    page, errors = open_page(context, app, "/accounts")
    page.locator('#accounts-rows tr[data-id="5001"] [data-role=edit]').click()
    edit = page.locator("#dlg-account-edit")
    expect(edit).to_be_visible()
    page.fill("#account-edit-name", "王五（已改名）")
    page.fill("#account-edit-email", "wangwu@example.com")
    page.click("#account-reset")
    page.locator(".modal.show [data-role=ok]").click()
    result = page.locator("#dlg-result")
    expect(result).to_be_visible()
    expect(result.locator('[data-field="password"]')).not_to_be_empty()
    expect(result.locator(".modal-title")).to_have_text(t("Password reset"))
    # Mail can go to the e-mail the account has (stored), so the dialog offers it.
    expect(result.locator("[data-role=send]")).to_be_visible()
    page.screenshot(path=shots / "lists-reset-result.png", animations="disabled")
    result.locator("[data-role=close]").click()
    # Back to the edit dialog with what was typed, not yet saved.
    expect(edit).to_be_visible()
    expect(page.locator("#account-edit-name")).to_have_value("王五（已改名）")
    expect(page.locator("#account-edit-email")).to_have_value("wangwu@example.com")
    assert client.get("/api/v1/accounts/5001").json()["name"] != "王五（已改名）"
    with page.expect_response(answer("/api/v1/accounts/5001", "PUT")) as info:
        edit.locator("[type=submit]").click()
    assert info.value.status == 200, info.value.text()
    saved = client.get("/api/v1/accounts/5001").json()
    assert (saved["name"], saved["email"]) == ("王五（已改名）", "wangwu@example.com")
    assert not errors, errors
