"""The must-show accounts walk (issue 4; SPEC E1-E8) in a real Chromium.

A configured server with a real license serial activated and its SMTP settings pointing at
an aiosmtpd server (STARTTLS with AUTH, certificate of a test CA that the server trusts
through SSL_CERT_FILE only). The administrator logs in through the login page, creates an
account and sees its generated details, sends them by mail (aiosmtpd receives the account
and the password that was shown), finds the account by part of its name, imports three
accounts from the page's own template filled in here, and deletes them in one batch after
the guide's confirm question. The UI is zh-CN: the texts the page shows are compared with
the catalog's (controlplane.i18n.translate), never typed in here.
Screenshots: /tmp/vcbox-shots/accounts-*.png.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import xlrd
import xlwt
from playwright.sync_api import BrowserContext, Locator, Page, Response, expect

from controlplane.account_import import HEADER
from controlplane.i18n import translate
from tests.conftest import ADMIN_PASSWORD, Client, Server, create_admin, make_server
from tests.integration import conftest as integration
from tests.license_keys import activate, make_keys

# The integration suite's certificates and SMTP servers (its conftest is not visible here).
pki = integration.pki
smtp_servers = integration.smtp_servers
smtp = integration.smtp

LANG = "zh_CN"
# Already there before the walk, so that the search has something to filter out.
SEEDED = [("李雷", "3001", "lilei@example.com"), ("韩梅梅", "3002", "hanmeimei@example.com")]
CREATED = {"name": "张晓明", "account": "3101", "email": "xiaoming.zhang@example.com"}
IMPORTED = [["王芳", "3201", "wangfang@example.com", "Import-Pw1"],
            ["李娜", "3202", "lina@example.com", "Import-Pw2"],
            ["刘洋", "3203", "", "Import-Pw3"]]


def t(msgid: str, **values: Any) -> str:
    """What the page shows for msgid: the zh-CN catalog's text with the page script's own
    {name} placeholders filled in."""
    return re.sub(r"\{(\w+)\}", lambda m: str(values[m[1]]), translate(LANG, msgid))


def answer(path: str, method: str):
    return lambda r: r.url.split("?")[0].endswith(path) and r.request.method == method


def listed(api: Client) -> set[str]:
    res = api.get("/api/v1/accounts", params={"limit": 1000})
    assert res.status_code == 200, res.text
    return {item["account"] for item in res.json()["items"]}


def shot(page: Page, path: Path, full_page: bool = False) -> None:
    """A screenshot with Bootstrap's fades run to their end (no half-faded dialogs)."""
    page.screenshot(path=path, full_page=full_page, animations="disabled")


def closed(page: Page, dialog: Locator) -> None:
    """The dialog and its backdrop are gone (the backdrop fades out after the dialog)."""
    expect(dialog).to_be_hidden()
    expect(page.locator(".modal-backdrop")).to_have_count(0)


def row(page: Page, account: str) -> Locator:
    return page.locator(f'#accounts-rows tr[data-id="{account}"]')


def log_in(page: Page, srv: Server) -> None:
    """/accounts without a session shows the login page; after it, the accounts page."""
    res = page.goto(srv.url + "/accounts")
    assert res is not None and res.status == 401
    page.fill("#username", "admin")
    page.fill("#password", ADMIN_PASSWORD)
    with page.expect_response(answer("/api/v1/accounts", "GET")) as listing:
        with page.expect_response(answer("/api/v1/session", "POST")) as info:
            page.click("#login-submit")
        assert info.value.status == 200, info.value.text()
    assert listing.value.status == 200
    page.wait_for_url(srv.url + "/accounts")
    for _, account, _ in SEEDED:
        expect(row(page, account)).to_be_visible()


def create_and_mail(page: Page, sink: integration.SmtpSink, shots: Path) -> None:
    """E2, E5: create an account; its generated details; "send mail" delivers them."""
    shot(page, shots / "accounts-list.png", full_page=True)
    page.click("#accounts-add")
    form = page.locator("#form-account-create")
    expect(form).to_be_visible()
    form.locator('[name="name"]').fill(CREATED["name"])
    form.locator('[name="account"]').fill(CREATED["account"])
    form.locator('[name="email"]').fill(CREATED["email"])
    shot(page, shots / "accounts-create.png")
    with page.expect_response(answer("/api/v1/accounts", "POST")) as info:
        form.locator('[type="submit"]').click()
    res: Response = info.value
    assert res.status == 201, res.text()
    made = res.json()

    details = page.locator("#dlg-result")
    expect(details).to_be_visible()
    expect(form).to_be_hidden()
    expect(details.locator('[data-role="title"]')).to_have_text(t("Account created"))
    field = lambda name: details.locator(f'[data-field="{name}"]')  # noqa: E731
    expect(field("account")).to_have_text(CREATED["account"])
    expect(field("name")).to_have_text(CREATED["name"])
    expect(field("email")).to_have_text(CREATED["email"])
    expect(field("password")).to_be_visible()
    expect(field("password")).to_have_text(made["password"])
    shown = field("password").inner_text()
    assert re.fullmatch(r"[A-Za-z0-9]{6,16}", shown), shown
    expect(row(page, CREATED["account"])).to_be_visible()  # the list reloaded behind it
    shot(page, shots / "accounts-created.png")

    sink.received.clear()
    with page.expect_response(answer("/api/v1/accounts/mail", "POST")) as info:
        details.locator('[data-role="send"]').click()
    assert info.value.status == 200, info.value.text()
    assert info.value.request.post_data_json == {
        "accounts": [CREATED["account"]], "passwords": {CREATED["account"]: shown}}
    result = details.locator('[data-role="mail"]')
    expect(result).to_be_visible()
    expect(result).to_have_class(re.compile(r"\balert-success\b"))
    expect(result).to_have_text(t("The mail has been sent to {email}.", email=CREATED["email"]))
    # Sent: the mail is not offered again, and the dialog's one button reads "Done".
    expect(details.locator('[data-role="send"]')).to_have_count(0)
    expect(details.locator(".modal-footer button:visible")).to_have_text([t("Done")])
    shot(page, shots / "accounts-mail-sent.png")

    [mail] = sink.wait(1)
    assert mail.rcpt_tos == [CREATED["email"]]
    assert mail.encrypted and mail.authenticated
    assert mail.message["To"] == CREATED["email"]
    assert CREATED["account"] in mail.message["Subject"]
    text = mail.message.get_content()
    for expected in (CREATED["name"], CREATED["account"], shown):
        assert expected in text, text

    details.locator('[data-role="close"]').click()
    closed(page, details)
    expect(field("password")).to_have_count(0)  # forgotten with the dialog


def search(page: Page, shots: Path) -> None:
    """E1: part of the name filters the table to the account; an empty search shows all."""
    box = page.locator("#accounts-search")
    box.fill(CREATED["name"][1:])
    with page.expect_response(answer("/api/v1/accounts", "GET")) as info:
        box.press("Enter")
    assert "search=" in info.value.url and info.value.json()["filtered"] == 1
    expect(page.locator("#accounts-rows tr")).to_have_count(1)
    expect(row(page, CREATED["account"])).to_be_visible()
    expect(page.locator("#accounts-count")).to_have_text(
        t("{total} in all, {filtered} match, {shown} shown", total=len(SEEDED) + 1,
          filtered=1, shown=1))
    shot(page, shots / "accounts-search.png", full_page=True)

    box.fill("")
    with page.expect_response(answer("/api/v1/accounts", "GET")):
        page.click("#accounts-search-btn")
    expect(page.locator("#accounts-rows tr")).to_have_count(len(SEEDED) + 1)


def import_three(page: Page, api: Client, tmp_path: Path, shots: Path) -> None:
    """E3: the page's template, filled with three accounts, imported through the dialog."""
    page.click("#btn-import")
    dialog = page.locator("#dlg-account-import")
    expect(dialog).to_be_visible()
    with page.expect_download() as info:
        dialog.locator("#import-template").click()
    download = info.value
    assert download.suggested_filename == "accounts-template.xls"
    template = tmp_path / "template.xls"
    download.save_as(template)
    sheet = xlrd.open_workbook(str(template)).sheet_by_index(0)
    header = sheet.row_values(0)
    assert tuple(header) == HEADER and sheet.nrows == 1

    book = xlwt.Workbook(encoding="utf-8")
    out = book.add_sheet(sheet.name)
    for r, values in enumerate([header, *IMPORTED]):
        for c, value in enumerate(values):
            out.write(r, c, value)
    filled = tmp_path / "accounts.xls"
    book.save(str(filled))

    dialog.locator("#import-file").set_input_files(filled)
    shot(page, shots / "accounts-import.png")
    with page.expect_response(answer("/api/v1/accounts", "GET")) as reload:
        with page.expect_response(answer("/api/v1/accounts/import", "POST")) as info:
            dialog.locator('[data-role="confirm"]').click()
        assert info.value.status == 200, info.value.text()
    assert reload.value.status == 200
    counts = info.value.json()
    assert (counts["created"], counts["updated"], counts["unchanged"]) == (3, 0, 0)
    done = dialog.locator('[data-role="done"]')
    expect(done).to_be_visible()
    expect(done).to_have_text(t("{created} created, {updated} updated, {unchanged} unchanged.",
                                created=3, updated=0, unchanged=0))
    expect(dialog.locator('[data-role="error"]')).to_be_hidden()
    expect(dialog.locator('[data-role="confirm"]')).to_be_hidden()  # no second import
    shot(page, shots / "accounts-import-done.png")
    dialog.locator('[data-role="cancel"]').click()
    closed(page, dialog)

    for name, account, email, _ in IMPORTED:
        cells = row(page, account).locator("td")
        expect(cells.nth(1)).to_have_text(name)
        expect(cells.nth(2)).to_have_text(account)
        expect(cells.nth(3)).to_have_text(email)
    expect(page.locator("#accounts-rows tr")).to_have_count(len(SEEDED) + 1 + len(IMPORTED))
    assert {a for _, a, _, _ in IMPORTED} <= listed(api)
    shot(page, shots / "accounts-imported.png", full_page=True)


def delete_batch(page: Page, api: Client, shots: Path) -> None:
    """E7: several selected, deleted together after the guide's question."""
    doomed = [account for _, account, _, _ in IMPORTED]
    delete = page.locator("#accounts-delete")
    expect(delete).to_be_disabled()
    for account in doomed:
        row(page, account).locator('input[type="checkbox"]').check()
    expect(delete).to_be_enabled()
    expect(page.locator("#accounts-selected")).to_have_text(t("{n} selected", n=len(doomed)))

    delete.click()
    dialog = page.locator("#dlg-confirm")
    expect(dialog).to_be_visible()
    question = translate(LANG, "Delete the account and its data?")
    assert question == "删除该账号及相关数据，确定删除？"
    expect(dialog.locator('[data-role="message"]')).to_have_text(question)
    shot(page, shots / "accounts-delete-confirm.png")
    with page.expect_response(answer("/api/v1/accounts", "GET")) as reload:
        with page.expect_response(answer("/api/v1/accounts/delete", "POST")) as info:
            dialog.locator('[data-role="ok"]').click()
        assert info.value.status == 200, info.value.text()
    assert reload.value.status == 200
    assert info.value.request.post_data_json == {"accounts": doomed}
    assert sorted(info.value.json()["deleted"]) == doomed
    closed(page, dialog)
    expect(page.locator("#toasts .toast").last).to_have_text(t("Deleted."))

    for account in doomed:
        expect(row(page, account)).to_have_count(0)
    kept = [a for _, a, _ in SEEDED] + [CREATED["account"]]
    for account in kept:
        expect(row(page, account)).to_be_visible()
    expect(delete).to_be_disabled()
    expect(page.locator("#accounts-selected")).to_have_text("")
    assert listed(api) == set(kept)
    shot(page, shots / "accounts-deleted.png", full_page=True)


def test_accounts_walk(tmp_path: Path, context: BrowserContext, shots: Path,
                       pki: integration.Pki, smtp: integration.SmtpServers) -> None:
    sink = smtp.starttls
    keys = make_keys(tmp_path)
    # The server trusts the test CA only through SSL_CERT_FILE; the license key likewise.
    srv = make_server(tmp_path, ssl_cert_file=str(pki.ca), **keys.env).start()
    (shots / "accounts-failure.png").unlink(missing_ok=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        create_admin(srv.url)
        api = srv.client()
        assert api.login().status_code == 200
        activate(api, keys)
        res = api.put("/api/v1/settings/smtp", json=sink.settings("tls"))
        assert res.status_code == 200, res.text
        for name, account, email in SEEDED:
            res = api.post("/api/v1/accounts", json={"name": name, "account": account,
                                                     "email": email})
            assert res.status_code == 201, res.text
        log_in(page, srv)
        create_and_mail(page, sink, shots)
        search(page, shots)
        import_three(page, api, tmp_path, shots)
        delete_batch(page, api, shots)
    except Exception:
        shot(page, shots / "accounts-failure.png", full_page=True)
        raise
    finally:
        srv.stop()
    assert not errors, f"JavaScript errors on the page: {errors}"
