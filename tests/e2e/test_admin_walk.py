"""The must-show administrator walk (SPEC §1: A1, A2, A3, A5, A7, A8) in a real Chromium.

One sequential walk against a fresh `python -m controlplane serve`, with the idle and
lockout times shortened through configuration only (VCBOX_SESSION_IDLE_S, VCBOX_LOCKOUT_S).
The UI defaults to zh-CN, so elements are found by id/name and checked by state; texts
are compared only with what the API itself answered, or after switching to English.
Screenshots go to /tmp/vcbox-shots (outside the repository) for people to look at.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from playwright.sync_api import BrowserContext, Page, Response, expect

from tests.conftest import ADMIN_PASSWORD, Server, make_server

IDLE_S = 4
LOCKOUT_S = 5
NEW_PASSWORD = "Chang3d#pw"
WRONG_PASSWORD = "Wrong#pass1"
INVALID = re.compile(r"\bis-invalid\b")


def is_login(res: Response) -> bool:
    return res.url.endswith("/api/v1/session") and res.request.method == "POST"


def submit_login(page: Page, password: str) -> Response:
    """Fill the login form as admin and submit it; the API's answer."""
    page.fill("#username", "admin")
    page.fill("#password", password)
    with page.expect_response(is_login) as info:
        page.click("#login-submit")
    return info.value


def login(page: Page, password: str) -> None:
    res = submit_login(page, password)
    assert res.status == 200, res.text()
    expect(page.locator("#sys-version")).to_be_visible()


def logout(page: Page, srv: Server) -> None:
    page.click("#user-menu")
    with page.expect_response(lambda r: r.url.endswith("/api/v1/session")
                              and r.request.method == "DELETE") as info:
        page.click("#menu-logout")
    assert info.value.status == 200
    page.wait_for_url(srv.url + "/login")
    expect(page.locator("#form-login")).to_be_visible()


def wizard(page: Page, srv: Server, shots: Path) -> None:
    """A1: `/` on a fresh appliance leads to the wizard; network and time steps (skipped),
    admin step, SMTP step, finish."""
    page.goto(srv.url + "/")
    page.wait_for_url(srv.url + "/setup")
    network = page.locator('section[data-step="network"]')
    expect(network).to_be_visible()
    expect(page.locator('#form-network [name="domain"]')).not_to_have_value("")  # loaded
    expect(page.locator("#wizard-back")).to_be_disabled()  # the first step
    page.screenshot(path=shots / "wizard-network.png", full_page=True)
    page.click("#wizard-skip")
    time_step = page.locator('section[data-step="time"]')
    expect(time_step).to_be_visible()
    expect(network).to_be_hidden()
    page.screenshot(path=shots / "wizard-time.png", full_page=True)
    page.click("#wizard-skip")

    admin = page.locator('section[data-step="admin"]')
    expect(admin).to_be_visible()
    expect(page.locator("#wizard-skip")).to_be_disabled()  # the admin cannot be skipped
    confirm = page.locator("#wizard-confirm")
    confirm_text = confirm.inner_text()
    page.screenshot(path=shots / "wizard-admin.png")

    form = page.locator("#form-admin")
    form.locator('[name="password"]').fill(ADMIN_PASSWORD)
    form.locator('[name="confirm_password"]').fill(ADMIN_PASSWORD + "x")
    form.locator('[name="email"]').fill("admin@example.com")
    with page.expect_response(lambda r: r.url.endswith("/api/v1/setup/admin")) as info:
        confirm.click()
    assert info.value.status == 400
    mismatch = info.value.json()["details"]["confirm_password"]
    confirm_input = form.locator('[name="confirm_password"]')
    expect(confirm_input).to_have_class(INVALID)
    feedback = form.locator('[name="confirm_password"] + .invalid-feedback')
    expect(feedback).to_be_visible()
    expect(feedback).to_have_text(mismatch)
    expect(form.locator('[name="password"]')).not_to_have_class(INVALID)
    expect(admin).to_be_visible()  # still on the admin step
    page.screenshot(path=shots / "wizard-admin-error.png")

    confirm_input.fill(ADMIN_PASSWORD)
    with page.expect_response(lambda r: r.url.endswith("/api/v1/setup/admin")) as info:
        confirm.click()
    assert info.value.status == 200, info.value.text()
    # The license step (A1 step 4) may be skipped.
    expect(page.locator('section[data-step="license"]')).to_be_visible()
    expect(admin).to_be_hidden()
    page.click("#wizard-skip")
    expect(page.locator('section[data-step="smtp"]')).to_be_visible()
    expect(page.locator("#form-smtp [name='port']")).not_to_have_value("")  # loaded
    expect(page.locator("#wizard-skip")).to_be_enabled()
    # The SMTP step is the last one: the last step is marked and Confirm became "finish".
    expect(page.locator("#wizard-steps li").last).to_have_class(re.compile(r"\bactive\b"))
    expect(confirm).not_to_have_text(confirm_text)
    page.screenshot(path=shots / "wizard-smtp.png")

    page.click("#wizard-skip")
    page.wait_for_url(srv.url + "/")
    expect(page.locator("#sys-version")).to_be_visible()
    expect(page.locator("#components tr").first).to_be_visible()  # status loaded
    page.wait_for_function(  # the disk chart has finished its opening animation
        "() => { const c = Chart.getChart('disk-chart'); return c && !Chart.animator.running(c); }")
    page.screenshot(path=shots / "dashboard.png", full_page=True)


def lockout(page: Page, srv: Server, shots: Path) -> None:
    """A3: five wrong passwords lock the user (423) until the lockout time has passed."""
    page.screenshot(path=shots / "login.png")
    error = page.locator("#login-error")
    expect(error).to_be_hidden()
    for attempt in range(1, 6):
        res = submit_login(page, WRONG_PASSWORD)
        assert res.status == (423 if attempt == 5 else 401), (attempt, res.text())
        expect(error).to_be_visible()
        expect(error).to_have_text(res.json()["message"])
    locked_at = time.monotonic()
    page.screenshot(path=shots / "login-locked.png")

    res = submit_login(page, ADMIN_PASSWORD)  # the right password, but locked
    assert res.status == 423, res.text()
    assert int(res.headers["retry-after"]) <= LOCKOUT_S + 1
    expect(error).to_be_visible()
    expect(error).to_have_text(res.json()["message"])
    expect(page.locator("#form-login")).to_be_visible()

    time.sleep(max(0.0, LOCKOUT_S + 0.3 - (time.monotonic() - locked_at)))  # let the lock end
    res = submit_login(page, ADMIN_PASSWORD)
    assert res.status == 200, res.text()
    page.wait_for_url(srv.url + "/")
    expect(page.locator("#sys-version")).to_be_visible()


def change_password(page: Page, srv: Server) -> None:
    """A5: the user menu's dialog refuses a wrong current password, then changes it."""
    page.click("#user-menu")
    page.click("#menu-password")
    dialog = page.locator("#dlg-password")
    expect(dialog).to_be_visible()
    form = page.locator("#form-password")
    current = form.locator('[name="current_password"]')
    current.fill(WRONG_PASSWORD)
    form.locator('[name="new_password"]').fill(NEW_PASSWORD)
    form.locator('[name="confirm_password"]').fill(NEW_PASSWORD)
    url = srv.url + "/api/v1/admin/password"
    with page.expect_response(url) as info:
        form.locator('[type="submit"]').click()
    assert info.value.status == 400, info.value.text()
    expect(current).to_have_class(INVALID)
    feedback = form.locator('[name="current_password"] + .invalid-feedback')
    expect(feedback).to_be_visible()
    expect(feedback).to_have_text(info.value.json()["details"]["current_password"])
    expect(dialog).to_be_visible()

    current.fill(ADMIN_PASSWORD)
    with page.expect_response(url) as info:
        form.locator('[type="submit"]').click()
    assert info.value.status == 200, info.value.text()
    expect(dialog).to_be_hidden()
    expect(current).not_to_have_class(INVALID)

    logout(page, srv)
    res = submit_login(page, ADMIN_PASSWORD)
    assert res.status == 401, res.text()
    expect(page.locator("#login-error")).to_have_text(res.json()["message"])
    login(page, NEW_PASSWORD)
    page.wait_for_url(srv.url + "/")


def idle_expiry(page: Page, srv: Server) -> None:
    """A7: an idle session ends; the page's own timer reloads into the login page, and a
    navigation after the idle time gets the login page (401), never the dashboard."""
    # The dashboard is open and left alone: its background polls are not activity.
    with page.expect_response(lambda r: r.url == srv.url + "/" and r.request.method == "GET",
                              timeout=(IDLE_S + 5) * 1000) as info:
        pass
    assert info.value.status == 401
    expect(page.locator("#form-login")).to_be_visible()
    expect(page.locator("#sys-version")).to_have_count(0)
    assert page.url == srv.url + "/"

    # Logging in from that page returns to where the user was.
    login(page, NEW_PASSWORD)
    assert page.url == srv.url + "/"
    # Navigate away (no page JS runs), let the idle time pass, come back.
    page.goto("about:blank")
    time.sleep(IDLE_S + 0.5)
    res = page.goto(srv.url + "/")
    assert res is not None and res.status == 401
    expect(page.locator("#form-login")).to_be_visible()
    expect(page.locator("#sys-version")).to_have_count(0)


def language(page: Page, srv: Server, context: BrowserContext, shots: Path) -> None:
    """A2: the login page's language select switches to English and back to zh-CN."""
    page.goto(srv.url + "/login")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("#lang-select")).to_have_value("zh_CN")
    zh_text = page.locator("#login-submit").inner_text()
    with page.expect_navigation():
        page.select_option("#lang-select", "en")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#lang-select")).to_have_value("en")
    expect(page.locator("#login-submit")).to_have_text("Log in")
    expect(page.locator('label[for="username"]')).to_have_text("User name")
    expect(page.locator('label[for="remember"]')).to_have_text("Remember me")
    assert {c["name"]: c["value"] for c in context.cookies()}["vcbox_lang"] == "en"
    page.screenshot(path=shots / "login-en.png")

    with page.expect_navigation():
        page.select_option("#lang-select", "zh_CN")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("#lang-select")).to_have_value("zh_CN")
    expect(page.locator("#login-submit")).to_have_text(zh_text)
    assert {c["name"]: c["value"] for c in context.cookies()}["vcbox_lang"] == "zh_CN"


def test_admin_walk(tmp_path: Path, context: BrowserContext, shots: Path) -> None:
    srv = make_server(tmp_path, vcbox_session_idle_s=str(IDLE_S),
                      vcbox_lockout_s=str(LOCKOUT_S)).start()
    (shots / "failure.png").unlink(missing_ok=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        wizard(page, srv, shots)             # 1. first run
        logout(page, srv)                    # 2. log out, lock out, log in
        lockout(page, srv, shots)
        change_password(page, srv)           # 3. change password
        idle_expiry(page, srv)               # 4. idle expiry
        language(page, srv, context, shots)  # 5. language switch
    except Exception:
        page.screenshot(path=shots / "failure.png", full_page=True)
        raise
    finally:
        srv.stop()
    assert not errors, f"JavaScript errors on the pages: {errors}"
