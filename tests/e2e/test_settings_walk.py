"""The must-show settings walk (SPEC §4.0 C1-C3, §4.2 P3, §0 R8) in a real Chromium.

A configured server; the administrator logs in through the login page and changes call
settings (saved, and in the rendered FreeSWITCH conference profile), gets the content
resolution warning, changes the SIP port through the guide's restart question (cancel
changes nothing, OK renders the new port into the SIP profile) and sees a bad port
refused under its input in Chinese. Along the way the other settings pages are opened
for their screenshots (/tmp/vcbox-shots/settings-*.png).
"""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import BrowserContext, Page, Response, expect

from controlplane import timezones
from tests.conftest import ADMIN_PASSWORD, Client, Server, create_admin, make_server

RESTART_TEXT = "该操作会重启视频会议服务，确定操作？"
DELETE_ROUTE_TEXT = "删除该路由配置，确定删除？"
INVALID = re.compile(r"\bis-invalid\b")
CHINESE = re.compile(r"[\u4e00-\u9fff]")


def settings_put(section: str):
    return lambda r: (r.url.endswith(f"/api/v1/settings/{section}")
                      and r.request.method == "PUT")


def save(page: Page, form: str, section: str) -> Response:
    with page.expect_response(settings_put(section)) as info:
        page.click(f"#{form} [type='submit']")
    return info.value


def open_settings(page: Page, srv: Server, path: str) -> None:
    """A settings page by its address (the menu itself is walked by test_console_walk)."""
    res = page.goto(srv.url + path)
    assert res is not None and res.status == 200


def log_in(page: Page, srv: Server) -> None:
    """Open a settings page without a session: the login page, then back to that page."""
    res = page.goto(srv.url + "/settings/call")
    assert res is not None and res.status == 401
    page.fill("#username", "admin")
    page.fill("#password", ADMIN_PASSWORD)
    with page.expect_response(lambda r: r.url.endswith("/api/v1/session")) as info:
        page.click("#login-submit")
    assert info.value.status == 200, info.value.text()
    expect(page.locator("#form-call")).to_be_visible()


def call_settings(page: Page, srv: Server, api: Client, shots: Path) -> None:
    form = page.locator("#form-call")
    video = form.locator('[name="max_video_resolution"]')
    expect(video).to_have_value("720p30")  # loaded from the API
    page.screenshot(path=shots / "settings-call.png", full_page=True)

    video.select_option("1080p30")
    form.locator('[name="equal_layout"]').select_option("7x7")
    res = save(page, "form-call", "call")
    assert res.status == 200, res.text()
    # The toast says what the save did in words; no file list on the page.
    expect(page.locator("#toasts .toast").last).to_have_text(res.json()["message"])
    expect(form.locator('[data-role="applied"]')).to_have_count(0)
    doc = api.get("/api/v1/settings/call").json()
    assert (doc["max_video_resolution"], doc["equal_layout"]) == ("1080p30", "7x7")
    conference = (srv.data / "root/etc/freeswitch/autoload_configs/conference.conf.xml").read_text()
    assert '<param name="video-canvas-size" value="1920x1080"/>' in conference
    assert '<param name="video-layout-name" value="7x7"/>' in conference

    # C2: a content resolution above 1080P/5FPS warns as soon as it is chosen.
    warning = form.locator('[data-warning-for="max_content_resolution"]')
    expect(warning).to_be_hidden()
    form.locator('[name="max_content_resolution"]').select_option("1080p30")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text(CHINESE)
    page.screenshot(path=shots / "settings-call-warning.png", full_page=True)
    res = save(page, "form-call", "call")
    assert res.status == 200, res.text()
    expect(warning).to_have_text(res.json()["warnings"]["max_content_resolution"])
    assert api.get("/api/v1/settings/call").json()["max_content_resolution"] == "1080p30"


def sip_port(page: Page, srv: Server, api: Client, shots: Path) -> None:
    open_settings(page, srv, "/settings/services")
    form = page.locator("#form-services")
    port = form.locator('[name="sip_port"]')
    expect(port).to_have_value("5060")
    profile = srv.data / "root/etc/freeswitch/sip_profiles/internal.xml"
    assert '<param name="sip-port" value="5060"/>' in profile.read_text()
    dialog = page.locator("#dlg-confirm")

    # A restart-class change asks the guide's question; Cancel changes nothing.
    port.fill("5070")
    res = save(page, "form-services", "services")
    assert res.status == 409 and res.json()["error_id"] == "confirm_required", res.text()
    expect(dialog).to_be_visible()
    expect(dialog.locator('[data-role="message"]')).to_have_text(RESTART_TEXT)
    page.screenshot(path=shots / "settings-services-confirm.png")
    dialog.locator('[data-role="cancel"]').click()
    expect(dialog).to_be_hidden()
    assert api.get("/api/v1/settings/services").json()["sip_port"] == 5060
    assert '<param name="sip-port" value="5060"/>' in profile.read_text()

    # Again, and OK: the new port is stored and rendered into the SIP profile.
    with page.expect_response(lambda r: settings_put("services")(r) and r.status == 200) as info:
        page.click("#form-services [type='submit']")
        expect(dialog.locator('[data-role="message"]')).to_have_text(RESTART_TEXT)
        dialog.locator('[data-role="ok"]').click()
    assert info.value.request.post_data_json["confirm"] is True
    expect(dialog).to_be_hidden()
    expect(page.locator("#toasts .toast").last).to_be_visible()
    assert api.get("/api/v1/settings/services").json()["sip_port"] == 5070
    assert '<param name="sip-port" value="5070"/>' in profile.read_text()
    expect(port).to_have_value("5070")

    # R8: a port out of range is refused under its input, in Chinese; nothing changes.
    port.fill("70000")
    res = save(page, "form-services", "services")
    assert res.status == 400, res.text()
    message = res.json()["details"]["sip_port"]
    assert CHINESE.search(message), message
    expect(port).to_have_class(INVALID)
    feedback = form.locator('[name="sip_port"] + .invalid-feedback')
    expect(feedback).to_be_visible()
    expect(feedback).to_have_text(message)
    expect(dialog).to_be_hidden()
    page.screenshot(path=shots / "settings-services-error.png", full_page=True)
    assert api.get("/api/v1/settings/services").json()["sip_port"] == 5070
    assert '<param name="sip-port" value="5070"/>' in profile.read_text()


def other_pages(page: Page, srv: Server, api: Client, context: BrowserContext,
                shots: Path) -> None:
    """The remaining pages render, load their section and take their screenshots."""
    open_settings(page, srv, "/settings/network")
    form = page.locator("#form-network")
    expect(form.locator('[name="domain"]')).not_to_have_value("")
    expect(form.locator('[name="lan.address"]')).to_be_disabled()  # DHCP
    expect(form.locator('[data-role="routes-on"]')).to_be_hidden()  # one NIC only
    form.locator('[name="wan.enabled"]').check()
    expect(form.locator('[data-role="routes-on"]')).to_be_visible()
    form.locator('[data-role="add-route"]').click()
    form.locator('[name="routes.0.destination"]').fill("10.20.0.0")
    form.locator('[name="routes.0.netmask"]').fill("255.255.0.0")
    gateway = form.locator('[name="routes.0.gateway"]')
    gateway.fill("192.168.1.300")
    form.locator("#f-lan-static").check()  # static, without an address
    address = form.locator('[name="lan.address"]')
    expect(address).to_be_enabled()
    # Nested keys land under their own inputs: lan.address, routes.0.gateway.
    res = save(page, "form-network", "network")
    assert res.status == 400, res.text()
    details = res.json()["details"]
    for name in ("lan.address", "routes.0.gateway"):
        expect(form.locator(f'[name="{name}"]')).to_have_class(INVALID)
        expect(form.locator(f'[name="{name}"] + .invalid-feedback')).to_have_text(details[name])
    expect(gateway).to_be_visible()  # its row opened for editing
    page.screenshot(path=shots / "settings-network.png", full_page=True)
    assert api.get("/api/v1/settings/network").json()["lan"]["dhcp"] is True
    form.locator('[data-role="delete-route"]').click()
    dialog = page.locator("#dlg-confirm")
    expect(dialog.locator('[data-role="message"]')).to_have_text(DELETE_ROUTE_TEXT)
    dialog.locator('[data-role="ok"]').click()
    expect(form.locator('tr[data-role="route"]')).to_have_count(0)
    expect(dialog).to_be_hidden()

    open_settings(page, srv, "/settings/ports")
    expect(page.locator('#form-ports [name="ivr.min"]')).to_have_value("30000")
    page.screenshot(path=shots / "settings-ports.png", full_page=True)

    open_settings(page, srv, "/settings/time")
    clock = page.locator('#form-time [data-role="server-time"]')
    expect(clock).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$"))
    shown = clock.inner_text()
    expect(clock).not_to_have_text(shown, timeout=3000)  # it ticks
    zone = page.locator("#form-time [name='timezone']")
    expect(zone).to_have_value(timezones.DEFAULT)
    expect(zone.locator("option")).to_have_count(len(timezones.ZONES))
    page.screenshot(path=shots / "settings-time.png", full_page=True)

    open_settings(page, srv, "/settings/syslog")
    expect(page.locator('#form-syslog [name="port"]')).to_have_value("514")
    page.screenshot(path=shots / "settings-syslog.png", full_page=True)

    # English, the second UI language.
    context.add_cookies([{"name": "vcbox_lang", "value": "en", "url": srv.url}])
    page.goto(srv.url + "/settings/call")
    expect(page.locator('label[for="f-max_video_resolution"]')).to_have_text("Max video resolution")
    expect(page.locator('#form-call [name="max_video_resolution"]')).to_have_value("1080p30")
    page.screenshot(path=shots / "settings-call-en.png", full_page=True)


def test_settings_walk(tmp_path: Path, context: BrowserContext, shots: Path) -> None:
    srv = make_server(tmp_path).start()
    (shots / "settings-failure.png").unlink(missing_ok=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        create_admin(srv.url)
        api = srv.client()
        assert api.login().status_code == 200
        log_in(page, srv)
        call_settings(page, srv, api, shots)
        sip_port(page, srv, api, shots)
        other_pages(page, srv, api, context, shots)
    except Exception:
        page.screenshot(path=shots / "settings-failure.png", full_page=True)
        raise
    finally:
        srv.stop()
    assert not errors, f"JavaScript errors on the pages: {errors}"
