"""Sign-in pages, the setup wizard and the account-name rule (issue 12, item 5) in a real
Chromium.

- After a password reset by mail (A4) the login page says the password was changed.
- An expired session (A7) returns to the login page with "登录已过期，请重新登录"; a first
  visit and a logout show no such message.
- Account names take the room names' characters (full-width brackets included) and the
  e-mail is optional in the create dialog, as in the import (R5, E2, E3).
- The wizard's license step offers the 14-day trial (L1); an empty serial is a skip, not a
  finished step; the administrator step can be skipped only when an administrator exists
  (A1, A6), and the server refuses the skip with a message on the password field.

The control plane runs in this process (create_app served by wsgiref in a thread, as in the
integration suite) so that the test can read the captcha the way a person reads its image
and shorten the idle limit through its configuration. Texts are the zh-CN catalog's.
Screenshots (1440x900): /tmp/vcbox-shots/auth-*.png, wizard-license*.png.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import BrowserContext, Page, Response, expect

from controlplane.i18n import translate
from tests.conftest import ADMIN_PASSWORD, Client
from tests.integration import conftest as integration

# The integration suite's fixtures (its conftest is not visible from here).
pki = integration.pki
smtp_servers = integration.smtp_servers
smtp = integration.smtp
inproc = integration.inproc

LANG = "zh_CN"
IDLE_S = 3
NEW_PASSWORD = "Reset#pw42"
VIEWPORT = {"width": 1440, "height": 900}
RESET_LINK = re.compile(r"https?://\S+/reset/[A-Za-z0-9_-]+")
EXPIRED = "Your session has expired. Please log in again."
CHANGED = "Your password has been changed. Log in with the new password."


def t(msgid: str, **values: Any) -> str:
    """What the page shows for msgid: the zh-CN catalog's text, {name} filled in."""
    return re.sub(r"\{(\w+)\}", lambda m: str(values[m[1]]), translate(LANG, msgid))


def answer(path: str, method: str):
    return lambda r: r.url.split("?")[0].endswith(path) and r.request.method == method


def shot(page: Page, path: Path) -> None:
    page.screenshot(path=path, animations="disabled")


def new_page(context: BrowserContext) -> tuple[Page, list[str]]:
    page = context.new_page()
    page.set_viewport_size(VIEWPORT)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return page, errors


def make_admin(app: integration.InProcess, email: str = "admin@example.com") -> Client:
    res = requests.post(app.url + "/api/v1/setup/admin", timeout=30,
                        json={"password": ADMIN_PASSWORD, "email": email})
    assert res.status_code == 200, res.text
    client = app.client()
    assert client.login().status_code == 200
    return client


def submit_login(page: Page, password: str) -> Response:
    page.fill("#username", "admin")
    page.fill("#password", password)
    with page.expect_response(answer("/api/v1/session", "POST")) as info:
        page.click("#login-submit")
    return info.value


def no_notice(page: Page) -> None:
    expect(page.locator("#form-login")).to_be_visible()
    expect(page.locator("#login-notice")).to_have_count(0)


# -- A4: after a reset by mail, the login page says so -----------------------------------

def test_login_page_says_the_password_was_changed(
        inproc, smtp: integration.SmtpServers, pki: integration.Pki,
        monkeypatch: pytest.MonkeyPatch, context: BrowserContext, shots: Path) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.ca))  # the mail leaves from this process
    app = inproc()
    client = make_admin(app)
    res = client.put("/api/v1/settings/smtp", json=smtp.starttls.settings("tls"))
    assert res.status_code == 200, res.text
    assert client.delete("/api/v1/session").status_code == 200
    page, errors = new_page(context)

    page.goto(app.url + "/login")
    no_notice(page)
    page.click("#forgot-link")
    page.wait_for_url(app.url + "/forgot")
    form = page.locator("#form-forgot")
    form.locator('[name="email"]').fill("admin@example.com")
    expect(page.locator("#captcha-id")).not_to_have_value("")
    cid = page.locator("#captcha-id").input_value()
    form.locator('[name="captcha"]').fill(app.services.captchas.answer_for(cid))
    with page.expect_response(answer("/api/v1/password-reset", "POST")) as info:
        form.locator('[type="submit"]').click()
    assert info.value.status == 200, info.value.text()
    expect(page.locator("#forgot-done")).to_be_visible()
    [mail] = smtp.starttls.wait(1)
    link = RESET_LINK.search(mail.message.get_content())
    assert link, mail.message.get_content()

    page.goto(link[0])
    form = page.locator("#form-reset")
    form.locator('[name="new_password"]').fill(NEW_PASSWORD)
    form.locator('[name="confirm_password"]').fill(NEW_PASSWORD)
    with page.expect_response(lambda r: "/api/v1/password-reset/" in r.url
                              and r.request.method == "POST") as info:
        form.locator('[type="submit"]').click()
    assert info.value.status == 200, info.value.text()
    page.wait_for_url(re.compile(re.escape(app.url) + r"/login\b.*"))
    notice = page.locator("#login-notice")
    expect(notice).to_be_visible()
    expect(notice).to_have_text(t(CHANGED))
    expect(notice).to_have_class(re.compile(r"\balert-success\b"))
    shot(page, shots / "auth-password-changed.png")

    # The new password works; the notice was for this visit only.
    res = submit_login(page, NEW_PASSWORD)
    assert res.status == 200, res.text()
    page.wait_for_url(app.url + "/")
    expect(page.locator("#sys-version")).to_be_visible()
    page.click("#user-menu")
    page.click("#menu-logout")
    page.wait_for_url(app.url + "/login")
    no_notice(page)
    assert not errors, errors


# -- A7: an expired session says so; a first visit does not -------------------------------

def test_expired_session_returns_to_login_with_the_message(
        inproc, context: BrowserContext, shots: Path) -> None:
    app = inproc(session_idle_s=IDLE_S)
    make_admin(app)
    page, errors = new_page(context)

    # A first visit (no session cookie): the login page, without the message.
    res = page.goto(app.url + "/")
    assert res is not None and res.status == 401
    no_notice(page)
    page.goto(app.url + "/login")
    no_notice(page)

    # Logged in and left alone: the page's idle timer reloads it into the login page.
    assert submit_login(page, ADMIN_PASSWORD).status == 200
    page.wait_for_url(app.url + "/")
    expect(page.locator("#sys-version")).to_be_visible()
    with page.expect_response(lambda r: r.url == app.url + "/" and r.request.method == "GET",
                              timeout=(IDLE_S + 8) * 1000) as info:
        pass
    assert info.value.status == 401
    notice = page.locator("#login-notice")
    expect(notice).to_be_visible()
    expect(notice).to_have_text(t(EXPIRED))
    expect(page.locator("#sys-version")).to_have_count(0)
    shot(page, shots / "auth-session-expired.png")
    # Said once: the stale cookie is gone, a reload is a first visit again.
    page.reload()
    no_notice(page)

    # An API call that finds the session expired (no page timer involved: the page's
    # clock is stopped) reloads into the login page with the same message.
    page.clock.install()
    assert submit_login(page, ADMIN_PASSWORD).status == 200
    page.wait_for_url(app.url + "/")
    expect(page.locator("#sys-version")).to_be_visible()
    page.clock.pause_at(time.time() + 1)  # from here on no page timer fires
    time.sleep(IDLE_S + 0.5)
    with page.expect_response(lambda r: r.url == app.url + "/" and r.request.method == "GET"
                              ) as info:
        page.evaluate("vcbox.api('GET', '/api/v1/admin').catch(() => null)")
    assert info.value.status == 401
    expect(page.locator("#login-notice")).to_have_text(t(EXPIRED))

    # Logging out is not an expiry.
    assert submit_login(page, ADMIN_PASSWORD).status == 200
    expect(page.locator("#sys-version")).to_be_visible()
    page.click("#user-menu")
    page.click("#menu-logout")
    page.wait_for_url(app.url + "/login")
    no_notice(page)
    assert not errors, errors


# -- R5: one name rule, the e-mail optional ---------------------------------------------

def test_account_with_full_width_brackets_and_no_email(
        inproc, context: BrowserContext, shots: Path) -> None:
    app = inproc()
    client = make_admin(app)
    assert client.post("/api/v1/license/trial").status_code == 200
    page, errors = new_page(context)
    res = page.goto(app.url + "/accounts")
    assert res is not None and res.status == 401
    assert submit_login(page, ADMIN_PASSWORD).status == 200
    page.wait_for_url(app.url + "/accounts")

    name = "张三（销售部）"
    page.click("#accounts-add")
    dialog = page.locator(".modal.show")
    expect(dialog).to_be_visible()
    form = dialog.locator("form").filter(has=page.locator('[name="account"]'))
    form.locator('[name="name"]').fill(name)
    form.locator('[name="account"]').fill("1001")
    form.locator('[name="email"]').fill("")
    with page.expect_response(answer("/api/v1/accounts", "POST")) as info:
        form.locator('[type="submit"]').click()
    assert info.value.status == 201, info.value.text()
    made = info.value.json()
    assert made["name"] == name and made["email"] == ""
    expect(page.locator("tbody tr", has_text=name)).to_be_visible()
    expect(page.locator(".modal.show")).to_contain_text(made["password"])  # the details
    listed = client.get("/api/v1/accounts", params={"search": "销售部"}).json()["items"]
    assert [(a["account"], a["name"], a["email"]) for a in listed] == [("1001", name, "")]
    shot(page, shots / "auth-account-no-email.png")
    assert not errors, errors


# -- A1, A6, L1: the wizard's administrator and license steps ---------------------------

ADMIN_REQUIRED = "The administrator password cannot be skipped: without it nobody can log in."


STEPS = ("network", "time", "admin", "license", "smtp")  # A1; quick settings alike (A6)


def steps(page: Page, app: integration.InProcess) -> dict[str, list[str]]:
    """The wizard's step list: step -> the classes of its entry (active, done, skipped)."""
    items = page.locator("#wizard-steps li")
    expect(items.first).to_be_visible()
    return {name: (items.nth(i).get_attribute("class") or "").split()
            for i, name in enumerate(STEPS[:items.count()])}


def to_license_step(page: Page, app: integration.InProcess) -> None:
    """First run: skip network and time, create the administrator; the license step."""
    page.goto(app.url + "/")
    page.wait_for_url(app.url + "/setup")
    expect(page.locator('section[data-step="network"]')).to_be_visible()
    page.click("#wizard-skip")
    expect(page.locator('section[data-step="time"]')).to_be_visible()
    page.click("#wizard-skip")
    expect(page.locator('section[data-step="admin"]')).to_be_visible()
    form = page.locator("#form-admin")
    form.locator('[name="password"]').fill(ADMIN_PASSWORD)
    form.locator('[name="confirm_password"]').fill(ADMIN_PASSWORD)
    with page.expect_response(answer("/api/v1/setup/admin", "POST")) as info:
        page.click("#wizard-confirm")
    assert info.value.status == 200, info.value.text()
    expect(page.locator('section[data-step="license"]')).to_be_visible()


def test_wizard_license_step_offers_the_trial(inproc, context: BrowserContext,
                                              shots: Path) -> None:
    app = inproc()
    page, errors = new_page(context)
    to_license_step(page, app)
    license_step = page.locator('section[data-step="license"]')
    trial = page.locator("#wizard-trial")
    expect(trial).to_be_visible()
    expect(trial).to_have_text(t("Start the 14-day trial"))
    shot(page, shots / "wizard-license.png")

    trial.click()
    confirm = page.locator("#dlg-confirm")
    expect(confirm.locator('[data-role="message"]')).to_have_text(
        t("The 14-day trial can be used only once. Start it now?"))
    with page.expect_response(answer("/api/v1/license/trial", "POST")) as info:
        confirm.locator('[data-role="ok"]').click()
    assert info.value.status == 200, info.value.text()
    # Started: the step is done and the wizard goes on; back on it, no second trial.
    expect(page.locator('section[data-step="smtp"]')).to_be_visible()
    assert steps(page, app)["license"] == ["done"]
    page.click("#wizard-back")
    expect(license_step).to_be_visible()
    expect(trial).to_be_hidden()
    expect(license_step.locator('[data-role="license-current"]')).to_contain_text(
        t("Trial license"))
    shot(page, shots / "wizard-license-trial.png")
    assert not errors, errors


def test_wizard_empty_serial_is_a_skip(inproc, context: BrowserContext) -> None:
    app = inproc()
    page, errors = new_page(context)
    to_license_step(page, app)
    state = steps(page, app)
    assert state["network"] == ["skipped"] and state["time"] == ["skipped"]
    assert state["admin"] == ["done"]
    page.click("#wizard-confirm")  # the serial left empty
    expect(page.locator('section[data-step="smtp"]')).to_be_visible()
    assert steps(page, app)["license"] == ["skipped"]
    assert requests.get(app.url + "/api/v1/setup", timeout=30).ok
    assert not errors, errors


def test_wizard_admin_step_skippable_only_with_an_admin(inproc, context: BrowserContext,
                                                        shots: Path) -> None:
    app = inproc()
    page, errors = new_page(context)
    page.goto(app.url + "/setup")
    page.click("#wizard-skip")
    page.click("#wizard-skip")
    admin = page.locator('section[data-step="admin"]')
    expect(admin).to_be_visible()
    # First run: it cannot be skipped, the page says why, and so does the server, on the
    # password field.
    expect(page.locator("#wizard-skip")).to_be_disabled()
    res = requests.post(app.url + "/api/v1/setup/admin/skip", timeout=30)
    assert res.status_code == 400, res.text
    assert res.json()["details"] == {"password": t(ADMIN_REQUIRED)}
    expect(admin.locator('[data-role="admin-required"]')).to_have_text(t(ADMIN_REQUIRED))
    shot(page, shots / "wizard-admin-first-run.png")

    # With an administrator (quick settings, A6: the guide's steps 3-11): skippable.
    make_admin(app)
    assert submit_login_page(page, app).status == 200
    page.click("#quick-settings")
    page.wait_for_url(app.url + "/setup")
    expect(page.locator('section[data-step="network"]')).to_be_visible()
    expect(page.locator("#wizard-steps li")).to_have_count(len(STEPS))
    page.click("#wizard-skip")
    page.click("#wizard-skip")
    expect(admin).to_be_visible()
    expect(page.locator("#wizard-skip")).to_be_enabled()
    expect(admin.locator('[data-role="admin-required"]')).to_be_hidden()
    expect(admin.locator('[name="email"]')).to_have_value("admin@example.com")
    expect(admin.locator('[name="current_password"]')).to_be_visible()
    shot(page, shots / "wizard-admin-quick.png")
    with page.expect_response(answer("/api/v1/setup/admin/skip", "POST")) as info:
        page.click("#wizard-skip")
    assert info.value.status == 200, info.value.text()
    expect(page.locator('section[data-step="license"]')).to_be_visible()
    assert steps(page, app)["admin"] == ["skipped"]

    # Back on it, Confirm changes the e-mail, behind the current password.
    page.click("#wizard-back")
    expect(admin).to_be_visible()
    form = page.locator("#form-admin")
    form.locator('[name="email"]').fill("ops@example.com")
    form.locator('[name="current_password"]').fill("Wrong#123")
    with page.expect_response(answer("/api/v1/setup/admin", "PUT")) as info:
        page.click("#wizard-confirm")
    assert info.value.status == 400
    current = form.locator('[name="current_password"]')
    expect(current).to_have_class(re.compile(r"\bis-invalid\b"))
    expect(form.locator('[name="current_password"] + .invalid-feedback')).to_have_text(
        t("The current password is wrong."))
    current.fill(ADMIN_PASSWORD)
    expect(current).not_to_have_class(re.compile(r"\bis-invalid\b"))
    with page.expect_response(answer("/api/v1/setup/admin", "PUT")) as info:
        page.click("#wizard-confirm")
    assert info.value.status == 200, info.value.text()
    expect(page.locator('section[data-step="license"]')).to_be_visible()
    assert steps(page, app)["admin"] == ["done"]
    assert app.services.auth.public_admin()["email"] == "ops@example.com"
    assert not errors, errors


def submit_login_page(page: Page, app: integration.InProcess) -> Response:
    page.goto(app.url + "/login")
    res = submit_login(page, ADMIN_PASSWORD)
    page.wait_for_url(app.url + "/")
    return res


def test_account_without_email_details_offer_only_close(
        inproc, context: BrowserContext) -> None:
    app = inproc()
    client = make_admin(app)
    assert client.post("/api/v1/license/trial").status_code == 200
    page, _ = new_page(context)
    page.goto(app.url + "/accounts")
    assert submit_login(page, ADMIN_PASSWORD).status == 200
    page.wait_for_url(app.url + "/accounts")
    page.click("#accounts-add")
    form = page.locator(".modal.show form").filter(has=page.locator('[name="account"]'))
    form.locator('[name="name"]').fill("李四（前台）")
    form.locator('[name="account"]').fill("1002")
    with page.expect_response(answer("/api/v1/accounts", "POST")) as info:
        form.locator('[type="submit"]').click()
    assert info.value.status == 201, info.value.text()
    result = page.locator(".modal.show")
    expect(result).to_contain_text(info.value.json()["password"])
    # Without an e-mail the details cannot be mailed: the dialog offers only to close it.
    expect(result.locator(".modal-footer button:visible:enabled")).to_have_text(
        [t("Close")], timeout=3000)
