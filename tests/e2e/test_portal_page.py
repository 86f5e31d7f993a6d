"""The user portal (/portal; issue 14 must-show 1, SPEC Q5) in a real Chromium, zh-CN.

A licensed server with four accounts (one without e-mail), a VMR of the first and a video
room, sending mail to the test SMTP server (aiosmtpd, STARTTLS). The user signs in on the
page with the account's own password, sees the VMR's dial strings, books a meeting with two
accounts and the video room (found by search in the dialog), and the invitations arrive
with an .ics that the `icalendar` library reads as METHOD:REQUEST; changing it sends
SEQUENCE + 1; booking the same room at that time is refused with the conflict named under
the rooms; cancelling it (after the confirm question) sends METHOD:CANCEL.
Screenshots: /tmp/vcbox-shots/portal-*.png."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import icalendar
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.conftest import Client, Server
from tests.e2e.conftest import shown
from tests.integration import conftest as integration
from tests.license_keys import licensed_server

pki = integration.pki
smtp_servers = integration.smtp_servers
smtp = integration.smtp

LANG = "zh_CN"
PEOPLE = (("3001", "李雷", "lilei@example.com"), ("3002", "韩梅梅", "hanmeimei@example.com"),
          ("3003", "张晓明", "xiaoming@example.com"), ("3004", "王芳", ""))


def t(msgid: str, **values: Any) -> str:
    return shown(LANG, msgid, **values)


@pytest.fixture
def lab(tmp_path: Path, pki: integration.Pki,
        smtp: integration.SmtpServers) -> Iterator[tuple[Server, dict[str, str], Any]]:
    sink = smtp.starttls
    with licensed_server(tmp_path, ssl_cert_file=str(pki.ca)) as srv:
        admin: Client = srv.client()
        assert admin.login().status_code == 200
        assert admin.put("/api/v1/settings/smtp", json=sink.settings("tls")).status_code == 200
        passwords = {}
        for account, name, email in PEOPLE:
            res = admin.post("/api/v1/accounts", json={"account": account, "name": name,
                                                       "email": email})
            assert res.status_code == 201, res.text
            passwords[account] = res.json()["password"]
        assert admin.post("/api/v1/meetings", json={
            "kind": "vmr", "subject": "李雷的会议室", "organizer": "3001", "id": "600100",
            "password": "2468"}).status_code == 201
        assert admin.post("/api/v1/rooms", json={"name": "A 座 301", "kind": "video",
                                                 "bound_account": "3004"}).ok
        yield srv, passwords, sink


def calendars(sink: Any, count: int) -> dict[str, icalendar.Calendar]:
    received = sink.wait(count, timeout=15)
    assert len(received) >= count, [r.rcpt_tos for r in received]
    out = {}
    for item in received[-count:]:
        [part] = [p for p in item.message.iter_attachments()
                  if p.get_content_type() == "text/calendar"]
        out[item.rcpt_tos[0]] = icalendar.Calendar.from_ical(part.get_content())
    return out


def event(cal: icalendar.Calendar) -> icalendar.Event:
    [found] = cal.walk("VEVENT")
    return found


def pick_person(page: Page, text: str, account: str) -> None:
    page.fill("#b-people", text)
    page.locator(f'#b-found [data-account="{account}"]').click()
    expect(page.locator("#b-chosen")).to_contain_text(account)


def test_book_change_and_cancel_a_meeting_in_the_portal(
        lab: tuple[Server, dict[str, str], Any], context: BrowserContext,
        shots: Path) -> None:
    srv, passwords, sink = lab
    page = context.new_page()
    page.set_viewport_size({"width": 1440, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(srv.url + "/portal")
    # A wrong password is said on the page; the right one signs in.
    page.fill("#portal-account", "3001")
    page.fill("#portal-password", "not-the-password")
    page.click("#portal-submit")
    expect(page.locator('#form-portal-login [data-role="error"]')).to_contain_text(
        t("Wrong user name or password. %(left)s attempts left.").replace("%(left)s", "4"))
    page.screenshot(path=shots / "portal-login-zh.png", animations="disabled")
    page.fill("#portal-password", passwords["3001"])
    page.click("#portal-submit")
    expect(page.locator("#portal-vmrs")).to_contain_text("600100**2468@")
    expect(page.locator("#portal-who")).to_contain_text("李雷")
    expect(page.locator("#portal-meetings tbody")).to_contain_text(
        t("No meetings yet: book one with the button above."))

    day = (dt.date.today() + dt.timedelta(days=3)).isoformat()
    page.click("#portal-book")
    expect(page.locator("#dlg-booking")).to_be_visible()
    page.fill("#b-subject", "季度评审")
    page.fill("#b-start", f"{day}T10:00")
    page.fill("#b-duration", "60")
    page.locator("#b-duration").dispatch_event("change")
    pick_person(page, "韩梅", "3002")
    pick_person(page, "3003", "3003")
    room = page.locator("#b-rooms .form-check", has_text="A 座 301")
    expect(room).to_contain_text(t("Free"))
    room.locator("input").check()
    page.screenshot(path=shots / "portal-booking-zh.png", animations="disabled")
    page.click("#b-submit")
    expect(page.locator("#dlg-booking")).to_be_hidden()
    row = page.locator("#portal-meetings tbody tr", has_text="季度评审")
    expect(row).to_contain_text(f"{day} 10:00")
    expect(row).to_contain_text("A 座 301")
    page.screenshot(path=shots / "portal-meetings-zh.png", animations="disabled")

    invited = calendars(sink, 3)
    assert set(invited) == {"lilei@example.com", "hanmeimei@example.com",
                            "xiaoming@example.com"}
    first = event(invited["hanmeimei@example.com"])
    assert invited["hanmeimei@example.com"]["method"] == "REQUEST"
    assert str(first["summary"]) == "季度评审" and int(first["sequence"]) == 0
    uid = str(first["uid"])

    # A change: the start moves an hour; everyone gets SEQUENCE 1 of the same event.
    sink.received.clear()
    row.locator('[data-action="edit"]').click()
    expect(page.locator("#b-subject")).to_have_value("季度评审")
    page.fill("#b-start", f"{day}T11:00")
    page.click("#b-submit")
    expect(page.locator("#dlg-booking")).to_be_hidden()
    expect(row).to_contain_text(f"{day} 11:00")
    changed = calendars(sink, 3)
    for cal in changed.values():
        assert cal["method"] == "REQUEST"
        assert str(event(cal)["uid"]) == uid and int(event(cal)["sequence"]) == 1

    # The room at the same time: refused, the meeting holding it named under the rooms.
    page.click("#portal-book")
    page.fill("#b-subject", "撞车")
    page.fill("#b-start", f"{day}T11:30")
    page.locator("#b-start").dispatch_event("change")
    room = page.locator("#b-rooms .form-check", has_text="A 座 301")
    expect(room).to_contain_text("季度评审")
    room.locator("input").check()
    page.click("#b-submit")
    conflict = page.locator('#form-booking [data-error-for="rooms"]')
    expect(conflict).to_contain_text("季度评审")
    expect(conflict).to_contain_text("A 座 301")
    page.screenshot(path=shots / "portal-conflict-zh.png", animations="disabled")
    page.locator("#dlg-booking .btn-secondary").click()
    expect(page.locator("#dlg-booking")).to_be_hidden()

    # Cancel after the confirm question: METHOD:CANCEL to everyone.
    sink.received.clear()
    row.locator('[data-action="cancel"]').click()
    expect(page.locator("#dlg-confirm")).to_contain_text("季度评审")
    page.locator('#dlg-confirm [data-role="ok"]').click()
    expect(page.locator("#portal-meetings tbody tr", has_text="季度评审")).to_have_count(0)
    cancelled = calendars(sink, 3)
    for cal in cancelled.values():
        assert cal["method"] == "CANCEL" and str(event(cal)["uid"]) == uid
        assert int(event(cal)["sequence"]) == 2
    assert not errors, errors
    # Signing out ends the session: the page is the sign-in form again.
    page.click("#portal-logout")
    expect(page.locator("#form-portal-login")).to_be_visible()
    assert re.search(r"/portal$", page.url)
