"""会议统计 in a real Chromium (issue 13, SPEC K1, K2): the period's figures, the records
by type tab and period, search, a record's participants, and the export of the shown
list. The call records here are CDRs as FreeSWITCH 1.10's mod_json_cdr posts them, put in
the CDR inbox before the server starts (a year of history cannot be made with real calls
in a test; the same records made by real calls through FreeSWITCH:
tests/integration/test_meetings_real.py and test_freeswitch_real.py).
Screenshots: /tmp/vcbox-shots/statistics-*.png."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from controlplane.cdr import CdrInbox
from tests.conftest import Server, create_admin, make_server
from tests.e2e.conftest import shown, signed_in_page
from tests.unit.test_call_records import meeting_cdr, p2p_cdr

LANG = "zh_CN"
NOW = time.time()
DAY = 86400.0


def t(msgid: str, **values: Any) -> str:
    return shown(LANG, msgid, **values)


def history() -> list[dict[str, Any]]:
    """Two months ago: a VMR meeting of three; last week: a scheduled meeting of two and
    an instant one; yesterday: a P2P call."""
    out = []
    for n, account in enumerate(("3001", "3002", "3003")):
        out.append(meeting_cdr(f"aaaaaaaa-000{n}", "c-old", account, NOW - 60 * DAY + n,
                               NOW - 60 * DAY + 1800, kind="vmr", meeting="612345"))
    for n, account in enumerate(("3001", "3002")):
        out.append(meeting_cdr(f"bbbbbbbb-000{n}", "c-week", account, NOW - 7 * DAY + 60 * n,
                               NOW - 7 * DAY + 3600, kind="scheduled", meeting="712345",
                               vcbox_subject="季度预算评审"))
    out.append(meeting_cdr("cccccccc-0001", "c-instant", "3004", NOW - 6 * DAY,
                           NOW - 6 * DAY + 300, kind="instant", meeting="812345",
                           vcbox_subject="3004"))
    out.append(p2p_cdr("dddddddd-0001", "3001", "3002", NOW - DAY, NOW - DAY + 95))
    return out


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = make_server(tmp_path)
    inbox = CdrInbox(srv.data)
    for record in history():
        inbox.put(json.dumps(record).encode())
    inbox.close()
    srv.start()
    try:
        create_admin(srv.url)
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def page(server: Server, context: BrowserContext) -> Iterator[Page]:
    with signed_in_page(server, context) as page:
        yield page


def figure(page: Page, name: str):
    return page.locator(f'[data-figure="{name}"] [data-role=value]')


def test_the_figures_records_and_details_of_a_period(page: Page, server: Server,
                                                     shots: Path) -> None:
    page.goto(server.url + "/statistics")
    expect(page.locator("main h1")).to_have_text(t("Meeting statistics"))
    rows = page.locator("#records-rows tr[data-id]")
    # The last month: the scheduled, instant and P2P records, newest first.
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text(t("Point-to-point call"))
    expect(rows.nth(0)).to_contain_text("Caller → Callee")
    expect(rows.nth(2)).to_contain_text("季度预算评审")
    expect(rows.nth(2)).to_contain_text(t("{n} people", n=2))
    for name, value in (("p2p", "1"), ("instant", "1"), ("scheduled", "1"), ("vmr", "0"),
                        ("peak_ever", "3"), ("peak", "2")):
        expect(figure(page, name)).to_have_text(value)
    expect(page.locator("#records-count")).to_contain_text("3")
    page.screenshot(path=str(shots / "statistics-month.png"), full_page=True)

    # 近三个月: the VMR meeting of three too, and its peak.
    page.get_by_role("button", name=t("Last 3 months")).click()
    expect(rows).to_have_count(4)
    expect(figure(page, "vmr")).to_have_text("1")
    expect(figure(page, "peak")).to_have_text("3")

    # A type tab, then a search by meeting ID.
    page.locator('#records-tabs [data-kind="scheduled"]').click()
    expect(rows).to_have_count(1)
    page.locator('#records-tabs [data-kind=""]').click()
    expect(rows).to_have_count(4)
    page.fill("#records-search", "6123")
    page.press("#records-search", "Enter")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("612345")

    # 查看: who joined and left when, on which device.
    rows.first.locator("[data-role=view]").click()
    dialog = page.locator("#dlg-record")
    expect(dialog).to_be_visible()
    people = dialog.locator("[data-role=participants] tr")
    expect(people).to_have_count(3)
    expect(people.first).to_contain_text("3001")
    expect(people.first).to_contain_text("VC400")
    expect(people.first).to_contain_text(t("Dialled in"))
    page.wait_for_timeout(400)  # the dialog's fade-in
    page.screenshot(path=str(shots / "statistics-record.png"))
    dialog.get_by_role("button", name=t("Close")).last.click()

    # 导出记录: the list as shown (period, type, search), in the admin's language.
    with page.expect_download() as done:
        page.click("#records-export")
    text = Path(done.value.path()).read_text(encoding="utf-8-sig")
    [head, *lines] = list(csv.reader(io.StringIO(text)))
    assert head[:3] == [t("Subject"), t("Type"), t("Meeting ID")]
    assert [line[2] for line in lines] == ["612345"] and lines[0][1] == t("VMR")
