"""The meetings page (/meetings; issue 11, SPEC §10 Q1-Q3) in a real Chromium.

A licensed server with three accounts and two rooms. Through the page the administrator
adds a VMR (first with a 3-digit ID: the server's message shows under the ID field and
nothing is stored), schedules a meeting with participants and a room, sees both listed
with the tab counts, filters by tab and by search, edits the VMR, and deletes meetings one
and many after the guide's confirm question. An instant meeting, started the real way (the
dialplan gateway answering the Meet Now number), is listed but cannot be edited. The page
is zh-CN by default (its texts are compared with the catalog's, never typed in here) and
English with the vcbox_lang cookie.
Screenshots: /tmp/meetings-*.png.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from playwright.sync_api import BrowserContext, Locator, Page, expect

from controlplane import secrets
from controlplane.i18n import translate
from controlplane.store import Documents
from tests.conftest import Client, Server
from tests.license_keys import licensed_server

SHOTS = Path(os.environ.get("VCBOX_MEETING_SHOTS", "/tmp"))
ACCOUNTS = (("李雷", "3001"), ("韩梅梅", "3002"), ("张晓明", "3003"))
ROOMS = ("A 座 301", "B 座 502")


def t(lang: str, msgid: str, **values: Any) -> str:
    """What the page shows for msgid in lang, its {name} placeholders filled in."""
    return re.sub(r"\{(\w+)\}", lambda m: str(values[m[1]]), translate(lang, msgid))


def answer(path: str, method: str):
    return lambda r: r.url.split("?")[0].endswith(path) and r.request.method == method


def shot(page: Page, name: str, full_page: bool = True) -> None:
    page.screenshot(path=SHOTS / f"meetings-{name}.png", full_page=full_page,
                    animations="disabled")


def closed(page: Page, dialog: Locator) -> None:
    expect(dialog).to_be_hidden()
    expect(page.locator(".modal-backdrop")).to_have_count(0)


def row(page: Page, meeting_id: str) -> Locator:
    return page.locator(f'#meetings-rows tr[data-id="{meeting_id}"]')


def count(page: Page, kind: str) -> Locator:
    return page.locator(f'#meetings-tabs [data-count="{kind}"]')


def listed(api: Client) -> dict[str, dict]:
    res = api.get("/api/v1/meetings", params={"limit": 1000})
    assert res.status_code == 200, res.text
    return {m["id"]: m for m in res.json()["items"]}


def meet_now(server: Server, caller: str) -> None:
    """The dialplan gateway asked for the Meet Now number, as FreeSWITCH does when an
    account dials it: the caller's instant meeting is started."""
    docs = Documents(server.data / "documents.json")
    password = secrets.ensure(docs)["xml_curl_password"]
    docs.close()
    form = [("section", "dialplan"), ("Hunt-Context", "default"),
            ("Hunt-Destination-Number", "90001"), ("variable_user_name", caller)]
    res = requests.post(server.url + "/freeswitch/xml", data=urlencode(form),
                        auth=("freeswitch", password), timeout=10,
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert res.status_code == 200 and "conference" in res.text, res.text


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with licensed_server(tmp_path_factory.mktemp("meetings-page")) as srv:
        api = srv.client()
        assert api.login().status_code == 200
        for name, account in ACCOUNTS:
            res = api.post("/api/v1/accounts", json={
                "name": name, "account": account, "email": f"u{account}@example.com"})
            assert res.status_code == 201, res.text
        for name in ROOMS:
            res = api.post("/api/v1/rooms", json={"name": name, "kind": "normal"})
            assert res.status_code == 200, res.text
        yield srv


@pytest.fixture
def api(server: Server) -> Iterator[Client]:
    """A logged-in API client; every meeting is deleted after the test."""
    client = server.client()
    assert client.login().status_code == 200
    yield client
    res = client.post("/api/v1/meetings/delete", json={"ids": list(listed(client))})
    assert res.status_code == 200, res.text


@pytest.fixture
def page(server: Server, api: Client, context: BrowserContext) -> Iterator[Page]:
    """The browser with a session of its own (logged in through the API)."""
    browser = server.client()
    assert browser.login().status_code == 200
    context.add_cookies([{"name": c.name, "value": c.value or "", "url": server.url}
                         for c in browser.cookies])
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    assert not errors, f"JavaScript errors on the page: {errors}"


def open_page(page: Page, server: Server) -> None:
    with page.expect_response(answer("/api/v1/meetings", "GET")) as info:
        page.goto(server.url + "/meetings")
    assert info.value.status == 200
    expect(page.locator("#meetings-count")).not_to_be_empty()


def add_vmr(page: Page, api: Client, lang: str) -> str:
    """A VMR: a 3-digit ID is refused next to the field (nothing stored); then saved."""
    before = listed(api)
    page.click("#meetings-add-vmr")
    dialog, form = page.locator("#dlg-meeting"), page.locator("#form-meeting")
    expect(dialog).to_be_visible()
    # shown (the subject has the focus): the form is filled, typing is kept
    expect(dialog.locator('[name="subject"]')).to_be_focused()
    expect(dialog.locator('[data-role="title"]')).to_have_text(t(lang, "Add VMR"))
    expect(form.locator("#meeting-schedule-fields")).to_be_hidden()
    form.locator('[name="subject"]').fill("研发部例会")
    form.locator('[name="id"]').fill("123")
    form.locator('[name="password"]').fill("2468")
    form.locator('[name="organizer"]').fill("3001")
    with page.expect_response(answer("/api/v1/meetings", "POST")) as info:
        form.locator('[type="submit"]').click()
    assert info.value.status == 400, info.value.text()
    id_field = form.locator('[name="id"]')
    expect(id_field).to_have_class(re.compile(r"\bis-invalid\b"))
    feedback = id_field.locator("xpath=following-sibling::div[contains(@class,'invalid-feedback')]")
    expect(feedback).to_be_visible()
    expect(feedback).to_have_text(translate(lang, ("A meeting ID is %(low)s to %(high)s digits.",
                                                   {"low": 6, "high": 10})))
    expect(form.locator('[name="subject"]')).not_to_have_class(re.compile(r"\bis-invalid\b"))
    assert listed(api) == before
    shot(page, f"vmr-error-{lang}", full_page=False)

    id_field.fill("666888")
    with page.expect_response(answer("/api/v1/meetings", "GET")) as reload:
        with page.expect_response(answer("/api/v1/meetings", "POST")) as info:
            form.locator('[type="submit"]').click()
        assert info.value.status == 201, info.value.text()
    assert reload.value.status == 200
    assert info.value.request.post_data_json == {
        "kind": "vmr", "subject": "研发部例会", "id": "666888", "password": "2468",
        "organizer": "3001", "layout": "equal", "allow_guests": False}
    closed(page, dialog)
    cells = row(page, "666888").locator("td")
    expect(cells.nth(1)).to_have_text("666888")
    expect(cells.nth(2)).to_have_text("研发部例会")
    expect(cells.nth(3)).to_have_text(t(lang, "VMR"))
    expect(cells.nth(4)).to_have_text("李雷 3001")
    expect(cells.nth(5)).to_have_text(t(lang, "Always open"))
    expect(cells.nth(6)).to_have_text(t(lang, "Set"))
    expect(cells.nth(7)).to_contain_text(t(lang, "Equal mode"))
    return "666888"


def schedule(page: Page, api: Client, lang: str) -> str:
    """A scheduled meeting with two participants (typed as a list) and a room."""
    page.click("#meetings-schedule")
    dialog, form = page.locator("#dlg-meeting"), page.locator("#form-meeting")
    expect(dialog).to_be_visible()
    # shown (the subject has the focus): the form is filled, typing is kept
    expect(dialog.locator('[name="subject"]')).to_be_focused()
    expect(dialog.locator('[data-role="title"]')).to_have_text(t(lang, "Schedule meeting"))
    expect(form.locator("#meeting-schedule-fields")).to_be_visible()
    expect(form.locator('[name="start"]')).to_have_value(re.compile(r"^\d{4}-\d\d-\d\dT\d\d:[03]0$"))
    expect(form.locator('[name="duration_min"]')).to_have_value("60")
    expect(form.locator('#meeting-rooms input[type="checkbox"]')).to_have_count(len(ROOMS))
    form.locator('[name="subject"]').fill("季度评审")
    form.locator('[name="organizer"]').fill("3002")
    form.locator('[name="start"]').fill("2030-05-06T09:30")
    form.locator('[name="duration_min"]').select_option("90")
    chips = form.locator("#meeting-participants [data-account]")
    typed = form.locator("#meeting-participant-input")
    typed.fill("3001, 3003")
    typed.press("Enter")
    expect(chips).to_have_count(2)
    expect(chips.nth(0)).to_contain_text("3001 李雷")
    expect(chips.nth(1)).to_contain_text("3003 张晓明")
    expect(typed).to_have_value("")
    form.get_by_label(ROOMS[0]).check()
    shot(page, f"schedule-{lang}", full_page=False)
    with page.expect_response(answer("/api/v1/meetings", "GET")) as reload:
        with page.expect_response(answer("/api/v1/meetings", "POST")) as info:
            form.locator('[type="submit"]').click()
        assert info.value.status == 201, info.value.text()
    assert reload.value.status == 200
    sent = info.value.request.post_data_json
    made = info.value.json()
    room_id = next(r["id"] for r in api.get("/api/v1/rooms").json()["items"]
                   if r["name"] == ROOMS[0])
    assert sent == {"kind": "scheduled", "subject": "季度评审", "password": "",
                    "organizer": "3002", "layout": "equal", "start": "2030-05-06T09:30",
                    "duration_min": 90, "participants": ["3001", "3003"], "rooms": [room_id],
                    "allow_guests": False, "recurrence": None}
    assert re.fullmatch(r"[1-8]\d{5}", made["id"]), made
    closed(page, dialog)
    cells = row(page, made["id"]).locator("td")
    expect(cells.nth(3)).to_have_text(t(lang, "Scheduled meeting"))
    expect(cells.nth(5)).to_have_text("2030-05-06 09:30" + t(lang, "{h} h {m} min", h=1, m=30))
    expect(cells.nth(6)).to_have_text(t(lang, "Not set"))
    return made["id"]


def test_meetings_page_zh(page: Page, server: Server, api: Client) -> None:
    lang = "zh_CN"
    meet_now(server, "3003")
    [instant] = listed(api).values()
    assert instant["kind"] == "instant"
    open_page(page, server)

    # zh-CN labels: the title, the menu, the tabs, the columns, the join panel.
    expect(page.locator("main h1")).to_have_text(translate(lang, "Meetings"))
    assert translate(lang, "Meetings") == "会议管理"
    menu = page.locator('.app-sidebar a[href="/meetings"]')
    expect(menu).to_have_class(re.compile(r"\bactive\b"))
    expect(menu).to_have_text("会议管理")
    tabs = page.locator("#meetings-tabs [data-kind]")
    expect(tabs).to_have_text([re.compile(rf"^{t(lang, label)}\s*\d*$") for label in
                               ("All", "VMRs", "Scheduled meetings", "Instant meetings")])
    assert t(lang, "VMRs") == "虚拟会议室" and t(lang, "Scheduled meetings") == "预约会议"
    expect(page.locator("#meetings-table thead th")).to_have_text(
        ["", *(t(lang, h) for h in ("Meeting ID", "Subject", "Meeting type", "Organizer",
                                     "Meeting time", "Password", "Layout", "Actions"))])
    join = page.locator("#meetings-join")
    expect(join).to_contain_text(t(lang, "How to join"))
    expect(join.locator('[data-role="sip"]')).to_have_text(
        t(lang, "SIP terminals dial {address}, or {address_password} for a meeting with a"
                " password.", address="会议号@vcbox.local",
          address_password="会议号**密码@vcbox.local"))
    expect(join.locator('[data-role="ivr"] code')).to_have_text("90000")
    expect(join.locator('[data-role="meet-now"] code')).to_have_text("90001")

    # The instant meeting: listed, not editable.
    cells = row(page, instant["id"]).locator("td")
    expect(cells.nth(3)).to_have_text(t(lang, "Instant meeting"))
    expect(cells.nth(4)).to_have_text("张晓明 3003")
    expect(row(page, instant["id"]).locator('[data-role="edit"]')).to_be_disabled()
    expect(count(page, "instant")).to_have_text("1")

    vmr = add_vmr(page, api, lang)
    scheduled = schedule(page, api, lang)
    for kind, n in (("all", 3), ("vmr", 1), ("scheduled", 1), ("instant", 1)):
        expect(count(page, kind)).to_have_text(str(n))
    expect(page.locator("#meetings-count")).to_have_text(
        t(lang, "{total} in all, {shown} shown", total=3, shown=3))
    shot(page, f"list-{lang}")

    # Tabs and search.
    with page.expect_response(answer("/api/v1/meetings", "GET")) as info:
        page.click('#meetings-tabs [data-kind="scheduled"]')
    assert "kind=scheduled" in info.value.url
    expect(page.locator("#meetings-rows tr")).to_have_count(1)
    expect(row(page, scheduled)).to_be_visible()
    with page.expect_response(answer("/api/v1/meetings", "GET")):
        page.click('#meetings-tabs [data-kind="all"]')
    expect(page.locator("#meetings-rows tr")).to_have_count(3)
    page.fill("#meetings-search", "6668")
    with page.expect_response(answer("/api/v1/meetings", "GET")) as info:
        page.press("#meetings-search", "Enter")
    assert "search=6668" in info.value.url
    expect(page.locator("#meetings-rows tr")).to_have_count(1)
    expect(row(page, vmr)).to_be_visible()
    page.fill("#meetings-search", "")
    with page.expect_response(answer("/api/v1/meetings", "GET")):
        page.click("#meetings-search-btn")
    expect(page.locator("#meetings-rows tr")).to_have_count(3)

    # Edit the VMR: a new subject, no password.
    row(page, vmr).locator('[data-role="edit"]').click()
    dialog, form = page.locator("#dlg-meeting"), page.locator("#form-meeting")
    expect(dialog.locator('[data-role="title"]')).to_have_text(t(lang, "Edit meeting"))
    expect(form.locator('[name="subject"]')).to_have_value("研发部例会")
    expect(form.locator('[name="id"]')).to_have_value(vmr)
    expect(form.locator('[name="password"]')).to_have_value("2468")
    form.locator('[name="subject"]').fill("研发部周会")
    form.locator('[name="password"]').fill("")
    with page.expect_response(answer(f"/api/v1/meetings/{vmr}", "PUT")) as info:
        form.locator('[type="submit"]').click()
    assert info.value.status == 200, info.value.text()
    assert info.value.request.post_data_json == {
        "subject": "研发部周会", "id": vmr, "password": "", "organizer": "3001",
        "layout": "equal", "allow_guests": False}
    closed(page, dialog)
    expect(row(page, vmr).locator("td").nth(2)).to_have_text("研发部周会")
    expect(row(page, vmr).locator("td").nth(6)).to_have_text(t(lang, "Not set"))
    assert listed(api)[vmr]["password"] == ""

    # Edit the scheduled meeting: what it has is in the form.
    row(page, scheduled).locator('[data-role="edit"]').click()
    expect(form.locator('[name="start"]')).to_have_value("2030-05-06T09:30")
    expect(form.locator('[name="duration_min"]')).to_have_value("90")
    expect(form.locator("#meeting-participants [data-account]")).to_have_count(2)
    expect(form.get_by_label(ROOMS[0])).to_be_checked()
    expect(form.get_by_label(ROOMS[1])).not_to_be_checked()
    chips = form.locator("#meeting-participants [data-account]")
    chips.nth(1).get_by_role("button").click()  # the last one goes
    expect(chips).to_have_count(1)
    with page.expect_response(answer(f"/api/v1/meetings/{scheduled}", "PUT")) as info:
        form.locator('[type="submit"]').click()
    assert info.value.status == 200, info.value.text()
    closed(page, dialog)
    assert listed(api)[scheduled]["participants"] == ["3001"]

    # Delete one (the icon), then many (the selection), after the guide's question.
    confirm = page.locator("#dlg-confirm")
    row(page, vmr).locator('[data-role="delete"]').click()
    expect(confirm).to_be_visible()
    question = translate(lang, "Delete the following meetings and their data?")
    assert question == "删除下列会议及相关数据，确定删除？"
    expect(confirm.locator('[data-role="message"]')).to_have_text(f"{question} {vmr} 研发部周会")
    shot(page, f"delete-{lang}", full_page=False)
    with page.expect_response(answer("/api/v1/meetings", "GET")):
        with page.expect_response(answer("/api/v1/meetings/delete", "POST")) as info:
            confirm.locator('[data-role="ok"]').click()
        assert info.value.status == 200
    assert info.value.request.post_data_json == {"ids": [vmr]}
    closed(page, confirm)
    expect(row(page, vmr)).to_have_count(0)
    expect(count(page, "vmr")).to_have_text("0")

    delete = page.locator("#meetings-delete")
    expect(delete).to_be_disabled()
    page.check("#meetings-all")
    expect(delete).to_be_enabled()
    expect(page.locator("#meetings-selected")).to_have_text(t(lang, "{n} selected", n=2))
    delete.click()
    expect(confirm).to_be_visible()
    with page.expect_response(answer("/api/v1/meetings", "GET")), \
            page.expect_response(answer("/api/v1/meetings/delete", "POST")) as info:
        confirm.locator('[data-role="ok"]').click()
    assert info.value.status == 200
    assert sorted(info.value.request.post_data_json["ids"]) == sorted([scheduled, instant["id"]])
    closed(page, confirm)
    expect(page.locator("#meetings-rows tr")).to_have_text([t(lang, "No meetings")])
    expect(count(page, "all")).to_have_text("0")
    expect(delete).to_be_disabled()
    assert listed(api) == {}


def test_meetings_page_en(page: Page, server: Server, api: Client,
                          context: BrowserContext) -> None:
    lang = "en"
    context.add_cookies([{"name": "vcbox_lang", "value": "en", "url": server.url}])
    res = api.post("/api/v1/meetings", json={
        "kind": "scheduled", "subject": "Board meeting", "organizer": "3002",
        "start": "2030-01-02T10:00", "duration_min": 45, "participants": ["3001"],
        "layout": "1+n", "password": "8642"})
    assert res.status_code == 201, res.text
    open_page(page, server)
    expect(page.locator("main h1")).to_have_text("Meetings")
    expect(page.locator("#meetings-tabs [data-kind]")).to_have_text(
        [re.compile(rf"^{label}\s*\d*$") for label in ("All", "VMRs", "Scheduled meetings",
                                                        "Instant meetings")])
    cells = row(page, res.json()["id"]).locator("td")
    expect(cells.nth(5)).to_have_text("2030-01-02 10:0045 min")
    expect(cells.nth(7)).to_have_text("1+N mode (1+7)")
    vmr = add_vmr(page, api, lang)
    shot(page, "list-en")
    row(page, vmr).locator('[data-role="edit"]').click()
    page.locator("#dlg-meeting").wait_for(state="visible")
    page.click("#dlg-meeting .btn-secondary")
    closed(page, page.locator("#dlg-meeting"))
    schedule(page, api, lang)

    # The same room at an overlapping time: the server's message shows under the rooms.
    page.click("#meetings-schedule")
    form = page.locator("#form-meeting")
    form.locator('[name="subject"]').fill("Clash")
    form.locator('[name="organizer"]').fill("3001")
    form.locator('[name="start"]').fill("2030-05-06T10:00")
    form.get_by_label(ROOMS[0]).check()
    with page.expect_response(answer("/api/v1/meetings", "POST")) as info:
        form.locator('[type="submit"]').click()
    assert info.value.status == 409, info.value.text()
    slot = form.locator('[data-error-for="rooms"]')
    expect(slot).to_be_visible()
    expect(slot).to_have_text(translate(lang, (
        "The room %(room)s is booked for %(subject)s at that time (%(when)s).",
        {"room": ROOMS[0], "subject": "季度评审", "when": "2030-05-06 10:00"})))
    shot(page, "conflict-en", full_page=False)
    assert len(listed(api)) == 3


def test_a_weekly_series_open_to_guests(page: Page, server: Server, api: Client) -> None:
    """Repeats/until and the guests switch of the dialog (issue 14: the API's recurrence and
    allow_guests); an end before the start is refused under the until field, nothing kept."""
    lang = "zh-CN"
    open_page(page, server)
    page.click("#meetings-schedule")
    form = page.locator("#form-meeting")
    form.locator('[name="subject"]').fill("周例会")
    form.locator('[name="organizer"]').fill("3001")
    form.locator('[name="start"]').fill("2030-03-04T09:00")
    expect(page.locator("#f-until")).to_be_disabled()
    page.select_option("#f-freq", "weekly")
    page.fill("#f-until", "2030-02-01")
    form.locator('[name="allow_guests"]').check()
    with page.expect_response(answer("/api/v1/meetings", "POST")) as info:
        form.locator('[type="submit"]').click()
    assert info.value.status == 400, info.value.text()
    expect(form.locator('[data-error-for="recurrence"]')).to_be_visible()
    assert not listed(api)
    page.fill("#f-until", "2030-04-29")
    with page.expect_response(answer("/api/v1/meetings", "POST")) as info:
        form.locator('[type="submit"]').click()
    assert info.value.status == 201, info.value.text()
    made = info.value.json()
    stored = api.get(f"/api/v1/meetings/{made['id']}").json()
    assert stored["recurrence"] == {"freq": "weekly", "until": "2030-04-29"}
    assert stored["allow_guests"] is True
    closed(page, page.locator("#dlg-meeting"))
    cell = row(page, made["id"]).locator("td").nth(5)
    expect(cell).to_contain_text(t(lang, "Every week until {until}", until="2030-04-29"))
    shot(page, "series-zh", full_page=False)
    # opened again, the dialog shows the series as stored
    row(page, made["id"]).locator('[data-role="edit"]').click()
    expect(page.locator("#f-freq")).to_have_value("weekly")
    expect(page.locator("#f-until")).to_have_value("2030-04-29")
    expect(form.locator('[name="allow_guests"]')).to_be_checked()
    page.click("#dlg-meeting .btn-secondary")
    closed(page, page.locator("#dlg-meeting"))
