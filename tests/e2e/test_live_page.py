"""系统状态 -> 实时会议 in a real Chromium over a real FreeSWITCH (issue 13, SPEC S3): two
SIPp callers join a VMR while the page stays open; the meeting appears within the page's
refresh, the dialog shows its participants, its mute button mutes in FreeSWITCH, and
ending it (after the confirm question) empties the page, all without a reload.
Screenshots: /tmp/vcbox-shots/live-*.png."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.e2e.conftest import shown, signed_in_page
from tests.integration.test_meetings_real import Box, calling, meeting, speaking
from tests.integration.test_meetings_real import box as meetings_box
from tests.waiting import wait_for

LANG = "zh_CN"
box = meetings_box


def t(msgid: str, **values: Any) -> str:
    return shown(LANG, msgid, **values)


@pytest.fixture
def page(box: Box, context: BrowserContext) -> Iterator[Page]:
    with signed_in_page(box.server, context) as page:
        yield page


def test_the_page_follows_a_meeting_and_moderates_it(page: Page, box: Box,
                                                      shots: Path) -> None:
    room = meeting(box, subject="产品周会", organizer="3001")
    page.goto(box.server.url + "/status/meetings")
    expect(page.locator("main h1")).to_have_text(t("Live meetings"))
    expect(page.locator("#live-rows")).to_contain_text(t("No meeting is running."))
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))
    with calling(box, "3001", room["id"], talk_ms=60000), \
            calling(box, "3002", room["id"], talk_ms=60000):
        row = page.locator(f'#live-rows tr[data-id="{room["id"]}"]')
        expect(row).to_contain_text(t("{n} people", n=2), timeout=10000)
        expect(row).to_contain_text("产品周会")
        expect(row).to_contain_text("User 3001 (3001)")
        expect(row).to_contain_text(t("VMR"))
        page.screenshot(path=shots / "live-list.png", animations="disabled")

        row.locator("[data-role=view]").click()
        dialog = page.locator("#dlg-live-meeting")
        expect(dialog).to_be_visible()
        member = dialog.locator('tbody tr[data-account="3002"]')
        expect(member).to_contain_text(t("Unmuted"))
        member.locator("[data-role=mute]").click()
        wait_for(lambda: speaking(box, room["id"]).get("3002") is False,
                 what="3002 muted in FreeSWITCH")
        expect(member).to_contain_text(t("Muted"))
        page.screenshot(path=shots / "live-meeting.png", animations="disabled")

        dialog.locator("[data-role=end]").click()
        page.locator("#dlg-confirm [data-role=ok]").click()
        expect(dialog).to_be_hidden()
        expect(page.locator("#live-rows")).to_contain_text(t("No meeting is running."),
                                                          timeout=10000)
        wait_for(lambda: room["id"] not in box.esl.api("show channels"), what="hung up")
    assert navigations == [], f"the page was reloaded: {navigations}"
