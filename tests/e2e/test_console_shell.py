"""The console's frame and first impression (issue 12, items 1, 5 and 6) in a real Chromium
at 1440x900, in zh-CN and in English:

- the sidebar is the admin guide's menu (首页; 系统状态; 系统管理 with 系统设置, 系统维护 and
  系统日志; 账号管理; 会议室管理; 会议管理; 会议统计), its entries in the guide's order,
  an entry shown exactly when its page exists; clicking each one (opening its group)
  opens that page (200), titled like the entry, the entry highlighted and its groups open;
- an unknown URL is a 404 page inside the frame (menu and header) in the UI language, with
  a link home; an unknown API URL stays a JSON 404; before login an unknown page URL shows
  the login page, after which the framed 404 follows;
- no page asks for a file that is not there (the favicon included);
- the dashboard shows the overview cards (online users, live meetings, concurrent licenses
  used/licensed, license expiry), says in words that FreeSWITCH is not reachable instead of
  a made-up 0, and lists the services with translated states and reasons: no internal
  word, path, errno or English service text.
Screenshots: /tmp/vcbox-shots/shell-*.png.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Response, expect

from controlplane.i18n import translate
from tests.conftest import ADMIN_PASSWORD, Client, Server
from tests.license_keys import licensed_server

Tree = list[tuple[str, Any]]  # (msgid, path) or (msgid, Tree)

# The admin guide's menu (YMS1000 admin guide: 第三章 to 第七章 and the "点击 A->B" paths),
# with the path of each page in vcbox. 系统管理 holds 通话设置 and 许可证 itself
# ("点击系统管理->通话设置", "点击系统管理->许可证"); the guide's third level (网络设置 ->
# 基础设置/服务设置/端口设置, 服务器日志 -> 日志服务器设置/操作日志/系统日志) is flattened.
GUIDE_MENU: Tree = [
    ("Home", "/"),
    ("System status", [
        ("System info", "/status/system"),
        ("Online users", "/status/online-users"),
        ("Live meetings", "/status/meetings"),
    ]),
    ("System management", [
        ("Call settings", "/settings/call"),
        ("System settings", [
            ("Network settings", "/settings/network"),
            ("Service settings", "/settings/services"),
            ("Port settings", "/settings/ports"),
            ("Time / time zone", "/settings/time"),
            ("SMTP mail settings", "/settings/smtp"),
            ("Disk space", "/settings/disk"),
        ]),
        ("System maintenance", [
            ("Device upgrade", "/maintenance/firmware"),
            ("Backup / restore", "/maintenance/backup"),
            ("System upgrade", "/maintenance/upgrade"),
            ("Restart / factory reset", "/maintenance/restart"),
        ]),
        ("Logs", [
            ("Remote syslog", "/settings/syslog"),
            ("Operation log", "/logs/operation"),
            ("System logs", "/logs/system"),
            ("Terminal logs", "/logs/terminals"),
        ]),
        ("License", "/settings/license"),
    ]),
    ("Accounts", "/accounts"),
    ("Meeting rooms", "/rooms"),
    ("Meetings", "/meetings"),
    ("Meeting statistics", "/statistics"),
]
# What an administrator must never read (issue 12, item 3).
FORBIDDEN = ("sip_port", "/etc/", "/var/", "/usr/", "Errno", "errno", "reloadxml",
             "not installed", "Traceback", "systemctl", "undefined", "NaN", "null", "None",
             "[object", "ESL", "freeswitch", "janus", "coturn", "nginx", "chrony", ".conf")
# English service words seen in the zh-CN UI before.
ENGLISH_ONLY = ("not installed", "skipped", "running", "failed", "stopped", "checked",
                "unreachable", "Not Found", "Connection refused", "absent", "ok", "fail")
LANGS = ("zh_CN", "en")


def t(lang: str, msgid: str, **values: Any) -> str:
    """What the page shows for msgid in lang, its {name} placeholders filled in."""
    return re.sub(r"\{(\w+)\}", lambda m: str(values[m[1]]), translate(lang, msgid))


def leaves(tree: Tree) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for msgid, rest in tree:
        out += leaves(rest) if isinstance(rest, list) else [(msgid, rest)]
    return out


def expected_menu(tree: Tree, lang: str, exists: set[str]) -> list:
    """The guide's menu in lang, pruned to the pages that exist (a group left empty goes)."""
    out: list = []
    for msgid, rest in tree:
        if isinstance(rest, list):
            children = expected_menu(rest, lang, exists)
            if children:
                out.append([t(lang, msgid), children])
        elif rest in exists:
            out.append([t(lang, msgid), rest])
    return out


def sidebar(page: Page) -> list:
    """The sidebar as drawn: [label, href] for a link, [label, [...]] for a group."""
    return page.evaluate("""() => {
        const walk = ul => [...ul.children].map(li => {
            const a = li.querySelector(':scope > a');
            if (a) return [a.innerText.trim(), a.getAttribute('href')];
            const b = li.querySelector(':scope > button');
            return [b.innerText.trim(), walk(li.querySelector(':scope > .collapse > ul'))];
        });
        return walk(document.querySelector('aside nav > ul'));
    }""")


def bad_words(text: str, lang: str) -> list[str]:
    found = [w for w in FORBIDDEN if w in text]
    if lang == "zh_CN":
        found += [w for w in ENGLISH_ONLY if re.search(rf"\b{re.escape(w)}\b", text, re.I)]
    return found


def visible_text(page: Page, selector: str = "body") -> str:
    """The text an administrator can read there, tooltips and placeholders included."""
    return page.evaluate("""sel => {
        const root = document.querySelector(sel);
        const parts = [root.innerText];
        for (const el of root.querySelectorAll('[placeholder],[title]')) {
            if (el.offsetParent === null) continue;
            parts.push(el.getAttribute('placeholder') || '', el.getAttribute('title') || '');
        }
        return parts.join('\\n');
    }""", selector)


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with licensed_server(tmp_path_factory.mktemp("console-shell")) as srv:
        yield srv


@pytest.fixture
def api(box: Server) -> Client:
    client = box.client()
    assert client.login().status_code == 200
    return client


def failures(page: Page) -> list[str]:
    """Every response of the page with a status of 400 or more, as "status url"."""
    seen: list[str] = []

    def record(res: Response) -> None:
        if res.status >= 400:
            seen.append(f"{res.status} {res.url}")

    page.on("response", record)
    return seen


def signed_in(context: BrowserContext, box: Server, lang: str) -> Page:
    client = box.client()
    assert client.login().status_code == 200
    context.add_cookies([{"name": c.name, "value": c.value or "", "url": box.url}
                         for c in client.cookies])
    context.add_cookies([{"name": "vcbox_lang", "value": lang, "url": box.url}])
    page = context.new_page()
    page.set_viewport_size({"width": 1440, "height": 900})
    return page


@pytest.fixture
def errors() -> list[str]:
    return []


@pytest.fixture(params=LANGS)
def lang(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def page(context: BrowserContext, box: Server, lang: str, errors: list[str]) -> Iterator[Page]:
    page = signed_in(context, box, lang)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    assert not errors, f"JavaScript errors on the page: {errors}"


def test_the_menu_is_the_guides_and_every_entry_opens_its_page(
        page: Page, box: Server, api: Client, lang: str, shots: Path) -> None:
    exists = {path for _, path in leaves(GUIDE_MENU)
              if api.get(path).status_code == 200}
    assert {"/", "/settings/call", "/settings/license", "/accounts"} <= exists, exists
    missing = {path for _, path in leaves(GUIDE_MENU)} - exists
    for path in missing:  # not built yet: no dead link, and the URL is the framed 404
        assert api.get(path).status_code == 404, path

    res = page.goto(box.url + "/")
    assert res is not None and res.status == 200
    assert sidebar(page) == expected_menu(GUIDE_MENU, lang, exists)
    # On the dashboard no group is open: the menu fits the screen.
    expect(page.locator("aside .collapse.show")).to_have_count(0)

    links = page.locator("aside nav a[href]")
    for i in range(links.count()):
        link = links.nth(i)
        label, href = link.inner_text().strip(), link.get_attribute("href")
        # Open the groups above the entry, as a person would, then click it.
        for toggle in link.locator("xpath=ancestor::li/button[@data-bs-toggle]").all():
            if toggle.get_attribute("aria-expanded") != "true":
                toggle.click()
        expect(link).to_be_visible()
        with page.expect_navigation() as nav:
            link.click()
        res = nav.value
        assert res is not None and res.status == 200, (href, res and res.status)
        expect(page.locator("main h1").first).to_have_text(label)
        expect(page).to_have_title(re.compile("^" + re.escape(label) + " "))
        active = page.locator("aside nav a.active")
        expect(active).to_have_count(1)
        expect(active).to_have_attribute("href", href)
        expect(active).to_be_visible()  # its groups are open
        expect(active).to_have_attribute("aria-current", "page")
        links = page.locator("aside nav a[href]")
    page.goto(box.url + "/settings/smtp")
    page.wait_for_load_state("networkidle")
    page.screenshot(path=shots / f"shell-menu-{lang}.png",
                    animations="disabled")


def test_an_unknown_url_is_a_404_page_in_the_frame(page: Page, box: Server, lang: str,
                                                   shots: Path) -> None:
    res = page.goto(box.url + "/settings/no-such-page")
    assert res is not None and res.status == 404
    assert "text/html" in res.headers["content-type"]
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN" if lang == "zh_CN" else "en")
    expect(page.locator("aside nav a[href='/accounts']")).to_be_attached()
    expect(page.locator("#user-menu")).to_contain_text("admin")
    expect(page.locator("main h1")).to_have_text(t(lang, "Page not found"))
    expect(page).to_have_title(re.compile("^" + re.escape(t(lang, "Page not found"))))
    expect(page.locator("main")).to_contain_text(t(lang, "The page you asked for does not "
                                                         "exist. Check the address, or "
                                                         "choose a page from the menu."))
    expect(page.locator("aside nav a.active")).to_have_count(0)
    assert not bad_words(visible_text(page), lang)
    page.screenshot(path=shots / f"shell-404-{lang}.png", animations="disabled")
    home = page.locator("main a#go-home")
    expect(home).to_have_text(t(lang, "Back to the home page"))
    with page.expect_navigation() as nav:
        home.click()
    assert nav.value is not None and nav.value.status == 200
    assert page.url == box.url + "/"
    expect(page.locator("#sys-version")).to_be_visible()

    # The API keeps its JSON 404, in the admin's language; a missing asset stays a plain 404.
    client = box.client()
    assert client.login().status_code == 200
    answer = client.get("/api/v1/no-such-thing", cookies={"vcbox_lang": lang})
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.json() == {"error_id": "not_found", "details": {},
                             "message": t(lang, "There is no such API resource.")}
    asset = client.get("/static/no-such-file.js")
    assert asset.status_code == 404 and "<aside" not in asset.text


def test_an_unknown_url_before_login_shows_the_login_page(browser: Browser, box: Server,
                                                         errors: list[str]) -> None:
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    try:
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        res = page.goto(box.url + "/no/such/page")
        assert res is not None and res.status == 401
        expect(page.locator("#form-login")).to_be_visible()
        expect(page.locator("aside")).to_have_count(0)
        page.fill("#username", "admin")
        page.fill("#password", ADMIN_PASSWORD)
        with page.expect_navigation() as nav:
            page.click("#login-submit")
        assert nav.value is not None and nav.value.status == 404
        assert page.url == box.url + "/no/such/page"
        expect(page.locator("main h1")).to_have_text(t("zh_CN", "Page not found"))
    finally:
        context.close()
    assert not errors, errors


def test_no_page_asks_for_a_missing_file(browser: Browser, box: Server,
                                         errors: list[str]) -> None:
    """/favicon.ico was a 404 on every page (issue 12, item 5)."""
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    try:
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        failed = failures(page)
        page.goto(box.url + "/login")
        page.wait_for_load_state("networkidle")
        icon = page.locator("head link[rel='icon']")
        expect(icon).to_have_count(1)
        href = icon.get_attribute("href")
        assert href
        for url in (href, "/favicon.ico"):
            res = page.request.get(box.url + url)
            assert res.status == 200, (url, res.status)
            assert res.headers["content-type"].startswith("image/"), res.headers
            assert len(res.body()) > 100
        page.fill("#username", "admin")
        page.fill("#password", ADMIN_PASSWORD)
        with page.expect_navigation():
            page.click("#login-submit")
        for path in ("/", "/settings/call", "/accounts", "/no-such-page"):
            page.goto(box.url + path)
            page.wait_for_load_state("networkidle")
        expected = [f"404 {box.url}/no-such-page"]  # the page itself, nothing it loads
        assert failed == expected
    finally:
        context.close()
    assert not errors, errors


def test_the_dashboard_overview_and_services_read_plainly(
        page: Page, box: Server, api: Client, lang: str, shots: Path) -> None:
    lic = api.get("/api/v1/license").json()
    status = api.get("/api/v1/status").json()
    res = page.goto(box.url + "/")
    assert res is not None and res.status == 200
    expect(page.locator("main h1")).to_have_text(t(lang, "Home"))
    rows = page.locator("#components tr")
    expect(rows.first).to_be_visible()
    expect(rows).to_have_count(len(status["components"]))
    page.wait_for_function(
        "() => { const c = Chart.getChart('disk-chart'); return c && !Chart.animator.running(c); }")

    cards = {name: page.locator(f"#stat-{name}") for name in
             ("online-users", "live-meetings", "licenses", "expiry")}
    for card in cards.values():
        expect(card).to_be_visible()
        expect(card.locator("[data-role=value]")).not_to_have_text("—")
    expect(cards["online-users"]).to_contain_text(t(lang, "Online users"))
    expect(cards["live-meetings"]).to_contain_text(t(lang, "Live meetings"))
    expect(cards["licenses"]).to_contain_text(t(lang, "Concurrent licenses"))
    expect(cards["expiry"]).to_contain_text(t(lang, "License expires"))

    # No FreeSWITCH runs beside the tests: the page says so instead of showing 0.
    assert not status["live"]["reachable"], status["live"]
    unreachable = t(lang, "FreeSWITCH cannot be reached: no live figures.")
    for name in ("online-users", "live-meetings"):
        expect(cards[name]).to_contain_text(unreachable)
        expect(cards[name].locator("[data-role=value]")).not_to_have_text(re.compile(r"\d"))
    expect(cards["licenses"].locator("[data-role=value]")).to_have_text(
        f"— / {lic['concurrency']}")
    expect(cards["expiry"].locator("[data-role=value]")).to_have_text(lic["expires"])
    expect(cards["expiry"]).to_contain_text(t(lang, "{days} days left", days=lic["days_left"]))
    # The cards link to their pages where the page exists, never to a missing one.
    targets = {"online-users": "/status/online-users", "live-meetings": "/status/meetings",
               "licenses": "/settings/license", "expiry": "/settings/license"}
    for name, path in targets.items():
        link = cards[name].locator("a")
        if api.get(path).status_code == 200:
            expect(link).to_have_attribute("href", path)
        else:
            expect(link).to_have_count(0)

    states = {t(lang, m) for m in ("Running", "Failed", "Stopped", "Not installed",
                                   "Not configured", "Config checked")}
    for i in range(rows.count()):
        badge = rows.nth(i).locator(".badge")
        assert badge.inner_text() in states, badge.inner_text()
        assert rows.nth(i).locator("td").first.inner_text().strip()
    # A service that does not run here says why, in words of the UI language.
    checked = [n for n, c in status["components"].items() if c["status"] == "checked"]
    assert checked, status["components"]
    expect(page.locator(f"#components tr[data-name='{checked[0]}'] td").nth(2)).to_have_text(
        t(lang, "This development machine does not run the service; its configuration "
                "was checked."))
    text = visible_text(page, "main")
    assert not bad_words(text, lang), (bad_words(text, lang), text)
    page.screenshot(path=shots / f"shell-dashboard-{lang}.png", animations="disabled")
    page.screenshot(path=shots / f"shell-dashboard-{lang}-full.png", full_page=True,
                    animations="disabled")


def test_the_status_api_keeps_machine_readable_codes(api: Client) -> None:
    body = api.get("/api/v1/status").json()
    assert body["live"] == {"reachable": False}
    assert body["license"]["status"] == "active" and body["license"]["concurrency"] == 100
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", body["clock"])
    for name, component in body["components"].items():
        assert component["status"] in {"ok", "fail", "stopped", "absent", "checked",
                                       "not_configured"}, (name, component)
        if component["status"] in {"absent", "checked", "not_configured"}:
            assert component["reason_id"], (name, component)


def test_before_setup_an_unknown_url_leads_to_the_wizard(server: Server) -> None:
    """As every page does before an administrator exists (SessionAuth)."""
    client = server.client()
    res = client.get("/no-such-page")
    assert res.status_code == 303 and res.headers["location"].endswith("/setup")
    assert client.get("/api/v1/no-such-thing").status_code == 404
