"""系统日志 -> 系统日志 in a real Chromium (SPEC O3, guide 系统日志): the four log types
(all chosen: green), today by default; a reversed range is refused at the date fields in
the admin's language and nothing downloads; with FreeSWITCH and TURN chosen and the dates
of today the browser downloads one zip holding just their logs; a range with no logs says
so. Screenshots: /tmp/vcbox-shots/system-logs-*.png."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.conftest import Client, Server
from tests.e2e.conftest import shown, signed_in_page

LANG = "zh_CN"


def t(msgid: str, **values: object) -> str:
    return shown(LANG, msgid, **values)


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def page(configured: Server, context: BrowserContext) -> Iterator[Page]:
    with signed_in_page(configured, context) as page:
        yield page


def test_the_system_logs_page(page: Page, configured: Server, admin: Client,
                              shots: Path) -> None:
    today = dt.date.fromisoformat(admin.get("/api/v1/logs/system/files",
                                            params={"days": "1"}).json()["until"])
    root = configured.data / "root"
    write(root / "var/log/freeswitch/freeswitch.log",
          f"{today.isoformat()} 09:00:00.000001 [INFO] switch_core.c:1 up\n")
    write(root / "var/log/vcbox/coturn.log", f"{today.isoformat()}T08:00:00 : relay\n")
    write(root / "var/log/vcbox/janus.log", "Janus up\n")

    page.goto(configured.url + "/logs/system")
    expect(page.locator("main h1")).to_have_text(t("System logs"))
    expect(page.locator("aside a.active")).to_have_text(t("System logs"))
    for value in ("web", "freeswitch", "mcu", "turn"):
        expect(page.locator(f"#slogs-part-{value}")).to_be_checked()
    expect(page.locator("#slogs-days .active")).to_have_text(t("Today"))
    expect(page.locator("#slogs-form")).to_contain_text(t("Log type"))
    expect(page.locator("#slogs-form")).to_contain_text(
        t("SIP registration, calls, IVR and the video mixer"))
    expect(page.locator("#slogs-export")).to_have_text(t("Export"))
    page.screenshot(path=shots / "system-logs-zh.png", full_page=True, animations="disabled")

    # A reversed range: refused at the dates, in the admin's words; no download.
    page.fill("#slogs-since", "2026-02-02")
    page.fill("#slogs-until", "2026-02-01")
    expect(page.locator("#slogs-days .active")).to_have_count(0)
    page.click("#slogs-export")
    expect(page.locator("#slogs-dates-error")).to_have_text(
        t("The start date is after the end date."))
    expect(page.locator("#slogs-since")).to_have_class(lambda_has("is-invalid"))
    page.screenshot(path=shots / "system-logs-reversed.png", animations="disabled")

    # No type chosen: said at the types.
    for value in ("web", "freeswitch", "mcu", "turn"):
        page.locator(f"label[for=slogs-part-{value}]").click()
    page.click("#slogs-export")
    expect(page.locator("#slogs-parts-error")).to_have_text(t("Choose at least one log."))

    # FreeSWITCH and TURN, the dates of today: one zip with just their logs.
    page.locator("label[for=slogs-part-freeswitch]").click()
    page.locator("label[for=slogs-part-turn]").click()
    page.fill("#slogs-since", today.isoformat())
    page.fill("#slogs-until", today.isoformat())
    expect(page.locator("#slogs-dates-error")).to_be_hidden()
    with page.expect_download() as caught:
        page.click("#slogs-export")
    download = caught.value
    day = today.strftime("%Y%m%d")
    assert download.suggested_filename == f"vcbox-logs-{day}-{day}.zip"
    z = zipfile.ZipFile(io.BytesIO(Path(download.path()).read_bytes()))
    assert z.namelist() == ["manifest.txt", "freeswitch/freeswitch.log",
                            "turn/coturn/coturn.log"]
    assert "FreeSWITCH, TURN" in z.read("manifest.txt").decode()
    expect(page.locator("#slogs-status")).to_have_text(t(
        "{count} files, {size}: the download starts.", count=2,
        size=f"{sum(i.file_size for i in z.infolist()[1:])} B"))
    page.screenshot(path=shots / "system-logs-export.png", animations="disabled")

    # Only Web, in a month before the server existed: nothing, and it says so (today the
    # Web part holds the control plane's own log).
    page.locator("label[for=slogs-part-freeswitch]").click()
    page.locator("label[for=slogs-part-turn]").click()
    page.locator("label[for=slogs-part-web]").click()
    page.fill("#slogs-since", "2026-01-01")
    page.fill("#slogs-until", "2026-01-31")
    page.click("#slogs-export")
    expect(page.locator("#slogs-status")).to_have_text(
        t("There are no logs of the chosen types in this time range."))


def lambda_has(cls: str):
    import re

    return re.compile(rf"(^|\s){cls}(\s|$)")
