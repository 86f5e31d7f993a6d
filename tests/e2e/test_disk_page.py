"""系统设置 -> 磁盘空间设置 (/settings/disk; SPEC D1-D3) in a real Chromium, zh-CN.

The administrator sees the used/free ring chart of the storage path and each part's use,
gets a field error for a quota below its minimum, saves a quota and the server logs' split
after the guide's 确定修改磁盘设置？, chooses a storage path with Browse among the server's
folders, and cleans a part and a server-log sub-part after 该操作将删除[××]，确定操作？
Screenshots: /tmp/vcbox-shots/disk-*.png."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from controlplane import disk
from tests.conftest import Client, Server, configured_server
from tests.e2e.conftest import shown
from tests.sparse import GB, aged, sparse

LANG = "zh_CN"
INVALID = re.compile(r"\bis-invalid\b")
OLD = time.time() - 30 * 86400


def t(msgid: str, **values: object) -> str:
    return shown(LANG, msgid, **values)


def tp(msgid: str, **params: object) -> str:
    """A message with %(name)s parameters (the API's words)."""
    from controlplane.i18n import translate

    return translate(LANG, msgid, **params)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[tuple[Server, Client]]:
    with configured_server(tmp_path, vcbox_disk_check_s="0.5") as srv:
        client = srv.client()
        assert client.login().status_code == 200
        yield srv, client


def confirm(page: Page, question: str) -> None:
    dialog = page.locator("#dlg-confirm")
    expect(dialog).to_be_visible()
    expect(dialog.locator('[data-role="message"]')).to_have_text(question)
    dialog.locator('[data-role="ok"]').click()
    expect(dialog).to_be_hidden()


def test_the_disk_page(page: Page, lab: tuple[Server, Client], shots: Path) -> None:
    srv, client = lab
    records = aged(srv.data / "records", 3, GB, OLD)
    sparse(srv.data / "logs" / "web" / "app.log", GB // 2, OLD)
    sparse(srv.data / "backups" / "Backup20260101020000.tar.gz", 2 * GB, OLD)
    (srv.data / "media" / "video").mkdir(parents=True)

    page.goto(srv.url + "/settings/disk")
    expect(page.locator("main h1")).to_have_text(t("Disk space"))
    # The ring chart of the storage path: drawn, with its percentage and sizes.
    expect(page.locator("#disk-percent")).to_have_text(re.compile(r"^\d+%$"))
    assert page.locator("#disk-ring").evaluate("c => c.width > 0 && !!Chart.getChart(c)")
    assert page.locator("#disk-bars").evaluate("c => Chart.getChart(c).data.labels.length") == 5
    expect(page.locator("#disk-used")).to_have_text(re.compile(r"GB$"))
    expect(page.locator('[data-used="records"]')).to_have_text("3.0 GB")
    expect(page.locator('[data-used="backups"]')).to_have_text("2.0 GB")
    expect(page.locator('[data-min="records"]')).to_have_text(t("At least {n} GB", n=10))
    expect(page.locator("#f-path")).to_have_value(str(srv.data))
    expect(page.locator("#f-alert_mail")).to_be_checked()
    expect(page.locator("#f-quotas-records")).to_have_value("10")
    page.screenshot(path=str(shots / "disk-page.png"), full_page=True)

    # A quota below its minimum: the error under that field, nothing asked, nothing saved.
    page.fill("#f-quotas-records", "5")
    page.click("#form-disk [type='submit']")
    expect(page.locator("#f-quotas-records")).to_have_class(INVALID)
    feedback = page.locator("#f-quotas-records + .invalid-feedback")
    expect(feedback).to_have_text(tp(disk.MIN_QUOTA, min=10))
    expect(page.locator("#dlg-confirm")).to_be_hidden()
    page.screenshot(path=str(shots / "disk-error.png"), full_page=True)
    assert client.get("/api/v1/settings/disk").json()["quotas"]["records"] == 10

    # A good one, and the split (Details): the guide's question, then saved.
    page.fill("#f-quotas-records", "20")
    expect(page.locator("#f-quotas-records")).not_to_have_class(INVALID)
    page.click("#disk-details")
    expect(page.locator("#f-server_logs_split-web")).to_be_visible()
    expect(page.locator('[data-used="server_logs.web"]')).to_have_text("512.0 MB")
    page.fill("#f-server_logs_split-web", "30")  # 30 + 40 + 20 + 20 = 110
    page.click("#form-disk [type='submit']")
    slot = page.locator('[data-error-for="server_logs_split"]')
    expect(slot).to_have_text(tp("The four shares add up to %(sum)s: they must add up to 100.",
                                 sum=110))
    page.fill("#f-server_logs_split-freeswitch", "30")
    page.click("#form-disk [type='submit']")
    confirm(page, t("Change the disk settings?"))
    expect(page.locator(".toast").last).to_be_visible()
    saved = client.get("/api/v1/settings/disk").json()
    assert saved["quotas"]["records"] == 20 and saved["path"] == ""
    assert saved["server_logs_split"] == {"web": 30, "freeswitch": 30, "mcu": 20, "turn": 20}
    page.screenshot(path=str(shots / "disk-details.png"), full_page=True)

    # The storage path: Browse among the server's folders (never out of the data dir).
    page.click("#disk-browse")
    dialog = page.locator("#dlg-browse")
    expect(dialog).to_be_visible()
    expect(page.locator("#browse-path")).to_have_text(str(srv.data))
    expect(page.locator("#browse-up")).to_be_disabled()
    page.locator("#browse-list button", has_text="media").click()
    expect(page.locator("#browse-path")).to_have_text(str(srv.data / "media"))
    expect(page.locator("#browse-list")).to_contain_text("video")
    page.screenshot(path=str(shots / "disk-browse.png"))
    page.click("#browse-choose")
    expect(dialog).to_be_hidden()
    expect(page.locator("#f-path")).to_have_value(str(srv.data / "media"))
    page.click("#form-disk [type='submit']")
    confirm(page, t("Change the disk settings?"))
    deadline = time.monotonic() + 5
    while client.get("/api/v1/settings/disk").json()["path"] != str(srv.data / "media"):
        assert time.monotonic() < deadline, "the storage path was not saved"
        time.sleep(0.1)

    # Clean now: a part, then a server-log sub-part, each after the guide's question.
    page.click('[data-clean="records"]')
    confirm(page, tp("This deletes [%(what)s]. Continue?", what=t("Meeting records")))
    expect(page.locator(".toast").last).to_contain_text(
        t("Deleted {n} files ({size}).", n=3, size="3.0 GB"))
    expect(page.locator('[data-used="records"]')).to_have_text("0 GB")
    assert not any(p.exists() for p in records)
    page.click('[data-clean="server_logs"][data-sub="web"]')
    confirm(page, tp("This deletes [%(what)s]. Continue?",
                     what=f"{t('Server logs')} / Web"))
    expect(page.locator('[data-used="server_logs.web"]')).to_have_text("0 GB")
    assert not (srv.data / "logs" / "web" / "app.log").exists()
    # A question answered "cancel" deletes nothing.
    page.click('[data-clean="backups"]')
    dialog = page.locator("#dlg-confirm")
    expect(dialog).to_be_visible()
    dialog.locator('[data-role="cancel"]').click()
    expect(dialog).to_be_hidden()
    assert (srv.data / "backups" / "Backup20260101020000.tar.gz").exists()
    page.screenshot(path=str(shots / "disk-cleaned.png"), full_page=True)
