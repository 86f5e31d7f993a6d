"""系统维护 -> 备份/还原 (/maintenance/backup; issue 15, SPEC B1/B2) in a real Chromium, zh-CN.

The administrator creates a backup with the guide's default name (Backup + the time),
sees it listed, downloads it (the archive verifies), uploads it back under another name,
sees a file that is not a vcbox backup refused in the upload dialog with nothing kept,
changes the automatic backup settings (saved: GET /api/v1/settings/backup-schedule) and
deletes backups after the confirm question; restores one from the list and one uploaded
with 立即还原, each after "确认还原？", signs in again and finds the backup's data.
Screenshots: /tmp/vcbox-shots/backup-*.png."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

from playwright.sync_api import Page, expect

from controlplane import backups as bk
from tests.conftest import ADMIN_PASSWORD, Client, Server
from tests.e2e.conftest import shown

LANG = "zh_CN"


def t(msgid: str, **values: object) -> str:
    return shown(LANG, msgid, **values)


def test_backups_from_the_page(page: Page, lab: tuple[Server, Client], shots: Path,
                               tmp_path: Path) -> None:
    srv, client = lab
    page.goto(srv.url + "/maintenance/backup")
    expect(page.locator("#backups-auto")).to_contain_text(t("Sunday"))
    expect(page.locator("#backups-rows")).to_contain_text(t("No backups yet."))

    page.click("#backups-create")
    name_box = page.locator("#backup-name")
    expect(name_box).to_have_value(re.compile(r"^Backup\d{14}$"))
    name = name_box.input_value()
    # On the appliance's clock (Beijing by default), as the list shows the times.
    beijing = dt.datetime.now(dt.timezone(dt.timedelta(hours=8)))
    assert abs(dt.datetime.strptime(name[6:], "%Y%m%d%H%M%S") - beijing.replace(
        tzinfo=None)) < dt.timedelta(minutes=2)
    page.locator("#form-backup-create [type=submit]").click()
    # The dialog closes when the backup is written (store and databases copied and
    # packed: over 5 s on a busy CI machine).
    expect(page.locator("#dlg-backup-create")).to_be_hidden(timeout=20000)
    row = page.locator(f'#backups-rows tr[data-id="{name}"]')
    expect(row).to_be_visible()

    with page.expect_download() as download:
        row.locator('[data-role="download"]').click()
    saved = tmp_path / "download.tar.gz"
    download.value.save_as(saved)
    assert set(bk.verify(saved).files) == set(bk.MEMBERS)

    # Not a backup: refused in the dialog, nothing kept.
    junk = tmp_path / "notes.tar.gz"
    junk.write_bytes(b"not a backup at all")
    page.click("#backups-upload")
    page.set_input_files("#backup-file", str(junk))
    page.locator("#form-backup-upload [type=submit]").click()
    expect(page.locator('#form-backup-upload [data-error-for="file"]')).to_contain_text(
        "vcbox")
    page.screenshot(path=shots / "backup-upload-refused.png", animations="disabled")
    assert [i["name"] for i in client.get("/api/v1/backups").json()["items"]] == [name]
    # The downloaded one, under another name: checked and kept.
    other = tmp_path / "from-other-box.tar.gz"
    shutil.copy(saved, other)
    page.set_input_files("#backup-file", str(other))
    page.locator("#form-backup-upload [type=submit]").click()
    expect(page.locator("#dlg-backup-upload")).to_be_hidden()
    expect(page.locator('#backups-rows tr[data-id="from-other-box"]')).to_be_visible()

    # Automatic backup: every month on the 15th at 03:30, 5 kept.
    page.click("#backups-schedule")
    dialog = page.locator("#dlg-backup-schedule")
    expect(dialog).to_be_visible()
    dialog.locator('[name="cycle"]').select_option("monthly")
    dialog.locator('[name="day"]').select_option("15")
    dialog.locator('[name="time"]').fill("03:30")
    dialog.locator('[name="keep"]').fill("5")
    page.screenshot(path=shots / "backup-schedule.png", animations="disabled")
    dialog.locator("[type=submit]").click()
    expect(dialog).to_be_hidden()
    assert client.get("/api/v1/settings/backup-schedule").json() == {
        "enabled": True, "cycle": "monthly", "day": 15, "time": "03:30", "keep": 5}
    expect(page.locator("#backups-auto")).to_contain_text("03:30")
    page.screenshot(path=shots / "backup-list.png", animations="disabled")

    page.locator("#backups-all").check()
    page.click("#backups-delete")
    page.locator('#dlg-confirm [data-role="ok"]').click()
    expect(page.locator("#backups-rows")).to_contain_text(t("No backups yet."))
    assert client.get("/api/v1/backups").json()["total"] == 0


def account_numbers(client: Client) -> list[str]:
    return [a["account"] for a in client.get("/api/v1/accounts",
                                             params={"limit": 1000}).json()["items"]]


def restored_and_signed_out(page: Page, shots: Path, shot: str) -> None:
    """The guide's question answered yes; the result said; on to the login page."""
    confirm = page.locator("#dlg-confirm")
    expect(confirm).to_be_visible()
    expect(confirm.locator('[data-role="message"]')).to_have_text(t("Restore this backup?"))
    confirm.locator('[data-role="ok"]').click()
    result = page.locator("#dlg-result")
    expect(result).to_be_visible(timeout=60_000)
    expect(result.locator('[data-role="body"]')).to_contain_text(t(
        "The backup is restored. Everyone is signed out: sign in again, with the "
        "administrator password the backup holds."))
    page.screenshot(path=shots / shot, animations="disabled")
    result.locator('[data-role="close"]').click()
    expect(page).to_have_url(re.compile(r"/login$"))


def sign_in_again(page: Page, srv: Server) -> None:
    page.fill("#username", "admin")
    page.fill("#password", ADMIN_PASSWORD)
    page.click("#login-submit")
    expect(page).not_to_have_url(re.compile(r"/login$"))
    page.goto(srv.url + "/maintenance/backup")


def test_restore_from_the_list_and_from_an_upload(page: Page, lab: tuple[Server, Client],
                                                  shots: Path, tmp_path: Path) -> None:
    """B2: 还原 on a row of the list ("确认还原？"), and 上传备份数据 -> 立即还原 with a
    file from the administrator's computer; each time the data of the backup comes back
    and everyone signs in again."""
    srv, client = lab
    assert client.post("/api/v1/backups", json={"name": "before-change"}).status_code == 201
    saved = tmp_path / "from-my-pc.tar.gz"
    saved.write_bytes(client.get("/api/v1/backups/before-change").content)
    before = account_numbers(client)
    res = client.post("/api/v1/accounts", json={"name": "Late", "account": "3801",
                                                "email": "late@example.com"})
    assert res.status_code == 201, res.text

    # From the list: the question can be answered no (nothing happens) ...
    page.goto(srv.url + "/maintenance/backup")
    row = page.locator('#backups-rows tr[data-id="before-change"]')
    row.locator('[data-role="restore"]').click()
    page.locator('#dlg-confirm [data-role="cancel"]').click()
    expect(page.locator("#dlg-confirm")).to_be_hidden()
    assert "3801" in account_numbers(client)
    # ... or yes.
    row.locator('[data-role="restore"]').click()
    restored_and_signed_out(page, shots, "backup-restored.png")
    assert client.get("/api/v1/accounts").status_code == 401  # signed out, the API too
    assert client.login().status_code == 200
    assert account_numbers(client) == before

    # From an upload: 立即还原 in the upload dialog keeps the file, then restores it.
    res = client.post("/api/v1/accounts", json={"name": "Later", "account": "3802",
                                                "email": "later@example.com"})
    assert res.status_code == 201, res.text
    sign_in_again(page, srv)
    page.click("#backups-upload")
    restore_now = page.locator("#backup-restore-now")
    expect(restore_now).to_have_text(t("Restore now"))
    page.set_input_files("#backup-file", str(saved))
    page.screenshot(path=shots / "backup-upload-restore.png", animations="disabled")
    restore_now.click()
    expect(page.locator("#dlg-backup-upload")).to_be_hidden()
    restored_and_signed_out(page, shots, "backup-restored-upload.png")
    assert client.login().status_code == 200
    assert account_numbers(client) == before
    assert {"before-change", "from-my-pc"} <= {
        i["name"] for i in client.get("/api/v1/backups").json()["items"]}
    actions = [e["action"] for e in client.get("/api/v1/operation-log").json()["items"]]
    assert "restore_backup" in actions
