"""Issue 12: the settings pages as one settings-form shape, in plain language.

A configured server whose process runs in UTC (TZ=UTC) while its settings keep the
default time zone (Beijing, UTC+08:00), and a browser in yet another zone (Los Angeles),
at 1440x900 in zh-CN. The bugs of the walk-through, each seen in the page:
- a field conflict names the other field by its label and a range by its guide name; it
  clears once the value is corrected (the other side of the conflict too), and a save
  says what it did in words, never files or service output;
- the network page has the guide's NIC selector (网卡设置), offering the interfaces the
  network driver sees, and the choice reaches the rendered interface file;
- the time page shows the server's time in the configured zone (not the process's, not
  the browser's), ticking;
- a failed test mail says why in a sentence (with the SMTP server's own reply when there
  is one) and leaves no empty alert behind.
Screenshots: /tmp/vcbox-shots/forms-*.png.
"""

from __future__ import annotations

import datetime as dt
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Page, Response, expect

from controlplane.i18n import translate
from tests.conftest import Server, configured_server, free_port
from tests.integration import conftest as integration
from tests.integration.conftest import SMTP_USER, Pki

# The integration suite's certificates and SMTP servers (its conftest is not visible here).
pki = integration.pki
smtp_servers = integration.smtp_servers
smtp = integration.smtp

LANG = "zh_CN"
INVALID = re.compile(r"\bis-invalid\b")
# What no settings page may show (issue 12, item 3).
FORBIDDEN = ("sip_port", "sip_tls_port", "http_port", "ivr", "turn", "mcu", "/etc/",
             "etc/", ".network", ".conf", "Errno", "errno", "reloadxml", "restart:",
             "Connection refused", "files changed", "Service actions", "freeswitch",
             "janus", "coturn", "nginx", "%(")


def t(message: Any, **params: Any) -> str:
    """What the page shows for a msgid (or (msgid, params)): the zh-CN catalog's text."""
    return translate(LANG, message, **params)


def put_answer(section: str):
    return lambda r: (r.url.endswith(f"/api/v1/settings/{section}")
                      and r.request.method == "PUT")


def save(page: Page, form: str, section: str) -> Response:
    with page.expect_response(put_answer(section)) as info:
        page.click(f"#{form} [type='submit']")
    return info.value


def visible_text(page: Page) -> str:
    return page.locator("main").inner_text()


# ... nor JavaScript's words for a missing value, nor English service words in zh-CN.
FORBIDDEN_ANY = ("undefined", "NaN", "null", "[object", "_min", "_max", ".xml", "ESL",
                 "{count}", "{name}")
ENGLISH_ONLY = ("not installed", "running", "failed", "inactive", "checked", "skipped",
                "Saved", "Close")


def assert_plain(page: Page, lang: str = LANG) -> None:
    text = visible_text(page)
    words = FORBIDDEN + FORBIDDEN_ANY + (ENGLISH_ONLY if lang == LANG else ())
    found = [w for w in words
             if re.search(rf"(?<![A-Za-z]){re.escape(w)}(?![A-Za-z])", text)]
    assert not found, f"internal words on the page: {found}\n{text}"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[Server]:
    with configured_server(tmp_path_factory.mktemp("settings-forms"), tz="UTC",
                           ssl_cert_file=str(pki.ca)) as srv:
        yield srv


@pytest.fixture
def page(server: Server, browser: Browser, shots: Path) -> Iterator[Page]:
    api = server.client()
    assert api.login().status_code == 200
    ctx = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN",
                              timezone_id="America/Los_Angeles")
    ctx.set_default_timeout(10_000)
    ctx.add_cookies([{"name": c.name, "value": c.value or "", "url": server.url}
                     for c in api.cookies])
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield page
    except Exception:
        page.screenshot(path=shots / "forms-failure.png", full_page=True)
        raise
    finally:
        ctx.close()
    assert not errors, f"JavaScript errors on the pages: {errors}"


def open_page(page: Page, server: Server, path: str) -> None:
    res = page.goto(server.url + path)
    assert res is not None and res.status == 200


# -- conflicts in words, and errors that go once corrected -----------------------------

def test_a_port_conflict_names_the_range_and_clears_once_corrected(
        server: Server, page: Page, shots: Path) -> None:
    open_page(page, server, "/settings/ports")
    form = page.locator("#form-ports")
    low, high = form.locator('[name="ivr.min"]'), form.locator('[name="ivr.max"]')
    expect(low).to_have_value("30000")
    high.fill("38500")  # into the TURN range
    res = save(page, "form-ports", "ports")
    assert res.status == 400, res.text()
    ivr, turn = form.locator('[data-error-for="ivr"]'), form.locator('[data-error-for="turn"]')
    overlap = "Overlaps the range of the %(other)s."
    expect(ivr).to_have_text(t(overlap, other=t("TURN service ports")))
    expect(turn).to_have_text(t(overlap, other=t("IVR ports")))
    expect(high).to_have_class(INVALID)
    expect(form.locator('[name="turn.min"]')).to_have_class(INVALID)
    expect(page.locator("#dlg-confirm")).to_be_hidden()
    assert_plain(page)
    page.screenshot(path=shots / "forms-ports-conflict.png", full_page=True)

    # Corrected: both sides of the conflict go, and nothing is left red.
    high.fill("37999")
    high.press("Tab")
    expect(ivr).to_be_hidden()
    expect(turn).to_be_hidden()
    expect(form.locator(".is-invalid")).to_have_count(0)

    # A range over a port the services use names that port's field; one over a port the
    # appliance keeps for itself names what uses it.
    low.fill("5000")
    high.fill("6500")
    assert save(page, "form-ports", "ports").status == 400
    expect(ivr).to_have_text(t("Contains port %(port)s, set as the %(other)s.", port=5060,
                               other=t("SIP UDP/TCP port")))
    low.fill("8000")
    high.fill("9100")
    assert save(page, "form-ports", "ports").status == 400
    expect(ivr).to_have_text(t("Contains port %(port)s, used by the appliance's %(other)s.",
                               port=8021, other=t("SIP/IVR service control interface")))
    assert_plain(page)


def test_service_ports_name_each_other_by_label_and_a_save_says_what_it_did(
        server: Server, page: Page) -> None:
    open_page(page, server, "/settings/services")
    form = page.locator("#form-services")
    tls = form.locator('[name="sip_tls_port"]')
    expect(tls).to_have_value("5061")
    tls.fill("5060")
    res = save(page, "form-services", "services")
    assert res.status == 400, res.text()
    used = "Already used by the %(other)s."
    expect(form.locator('[name="sip_tls_port"] + .invalid-feedback')).to_have_text(
        t(used, other=t("SIP UDP/TCP port")))
    expect(form.locator('[name="sip_port"] + .invalid-feedback')).to_have_text(
        t(used, other=t("SIP TLS port")))
    assert_plain(page)
    tls.fill("5071")
    tls.press("Tab")
    expect(form.locator(".is-invalid")).to_have_count(0)

    # Saved through the guide's question; the toast says which service restarted, the
    # page lists no files and no service output.
    with page.expect_response(lambda r: put_answer("services")(r) and r.status == 200) as info:
        page.click("#form-services [type='submit']")
        page.locator('#dlg-confirm [data-role="ok"]').click()
    answer = info.value.json()
    expect(page.locator("#toasts .toast").last).to_have_text(answer["message"])
    # Here the services do not run (their configuration is checked): the toast says so
    # and names them in words; on the appliance it says which restarted.
    assert t("SIP/IVR service") in answer["message"], answer["message"]
    assert answer["message"].startswith(t("Saved. Not running on this machine, so only "
                                          "their new configuration was checked: "
                                          "%(services)s.", services="")[:10])
    expect(form.locator('[data-role="applied"]')).to_have_count(0)
    assert_plain(page)
    # The details are in the operation log, in words.
    api = server.client()
    assert api.login().status_code == 200
    entries = api.get("/api/v1/operation-log", params={"limit": 5}).json()["items"]
    applied = next(e for e in entries if e["action"] == "apply")
    assert t("%(service)s: configuration checked (it does not run on this machine).",
             service=t("SIP/IVR service")) in applied["detail"], applied["detail"]
    assert "freeswitch profile_restart" not in applied["detail"]
    # The files written are the technical details, apart from the sentences.
    assert "sip_profiles/internal.xml" in applied["detail_technical"], applied
    assert ".xml" not in applied["detail"]
    assert api.put("/api/v1/settings/services",
                   json={"sip_tls_port": 5061, "confirm": True}).status_code == 200


# -- the network page's NIC selector ----------------------------------------------------

def host_interfaces() -> list[str]:
    """The interfaces the network driver sees here (the host's: VCBOX_NETWORK_LIVE off),
    but the loopback."""
    def loopback(name: str) -> bool:
        flags = Path(f"/sys/class/net/{name}/flags").read_text()
        return bool(int(flags, 16) & 0x8)  # IFF_LOOPBACK

    return sorted(name for _, name in socket.if_nameindex() if not loopback(name))


def test_the_network_page_chooses_the_nic_of_each_interface(
        server: Server, page: Page, shots: Path) -> None:
    names = host_interfaces()
    assert names, "no network interface besides lo"
    open_page(page, server, "/settings/network")
    form = page.locator("#form-network")
    lan = form.locator('select[name="lan.ifname"]')
    expect(lan).to_be_visible()
    expect(page.locator('label[for="f-lan-ifname"]')).to_have_text(t("NIC settings"))
    values = lan.locator("option").evaluate_all("(os) => os.map((o) => o.value)")
    assert sorted(values) == names
    expect(lan).to_have_value("eth0" if "eth0" in names else names[0])
    # The WAN's NIC (eth1 by default) is listed even where this host has none, marked.
    wan = form.locator('select[name="wan.ifname"]')
    expect(wan).to_have_value("eth1")
    if "eth1" not in names:
        expect(wan.locator("option:checked")).to_have_text(
            t("{name} (not found on this server)").replace("{name}", "eth1"))
    # The routes: the shared list look, empty, with its count.
    form.locator('[name="wan.enabled"]').check()
    routes = form.locator('[data-role="routes-on"]')
    expect(routes.locator("table.table")).to_be_visible()
    expect(routes.locator('[data-role="empty"]')).to_have_text(t("No route rules"))
    expect(form.locator('[data-role="routes-count"]')).to_have_text(
        t("{count} route rules").replace("{count}", "0"))
    assert_plain(page)
    page.screenshot(path=shots / "forms-network.png", full_page=True)
    form.locator('[name="wan.enabled"]').uncheck()

    chosen = names[-1]
    lan.select_option(chosen)
    with page.expect_response(lambda r: put_answer("network")(r) and r.status == 200) as info:
        page.click("#form-network [type='submit']")
        page.locator('#dlg-confirm [data-role="ok"]').click()
    assert info.value.json()["lan"]["ifname"] == chosen
    expect(page.locator("#toasts .toast").last).to_be_visible()
    network_file = server.data / "root/etc/systemd/network/10-vcbox-lan.network"
    assert f"Name={chosen}\n" in network_file.read_text()
    page.reload()
    expect(form.locator('select[name="lan.ifname"]')).to_have_value(chosen)
    assert_plain(page)
    api = server.client()
    assert api.login().status_code == 200
    assert api.put("/api/v1/settings/network", json={
        "lan": {"ifname": ""}, "confirm": True}).status_code == 200


# -- the time page: the server's time, in the configured zone ---------------------------

def shown_time(page: Page) -> dt.datetime:
    text = page.locator('#form-time [data-role="server-time"]').inner_text()
    return dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S")


def assert_near(shown: dt.datetime, zone: str, slack_s: float = 5) -> None:
    now = dt.datetime.now(ZoneInfo(zone)).replace(tzinfo=None)
    assert abs((shown - now).total_seconds()) <= slack_s, (shown, now, zone)


def test_the_time_page_shows_the_server_time_in_the_configured_zone(
        server: Server, page: Page, shots: Path) -> None:
    open_page(page, server, "/settings/time")
    clock = page.locator('#form-time [data-role="server-time"]')
    expect(clock).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$"))
    # The process runs in UTC and the browser in Los Angeles: the page shows Beijing.
    assert_near(shown_time(page), "Asia/Shanghai")
    expect(page.locator('#form-time [data-role="server-zone"]')).to_have_text(
        "(UTC+08:00) 北京，重庆，香港特别行政区，乌鲁木齐")
    first = clock.inner_text()
    expect(clock).not_to_have_text(first, timeout=3000)  # it ticks
    assert_plain(page)
    page.screenshot(path=shots / "forms-time.png", full_page=True)

    # Another zone: once saved, the clock shows that zone's time.
    page.locator("#form-time [name='timezone']").select_option("Asia/Tokyo")
    with page.expect_response(lambda r: put_answer("time")(r) and r.status == 200):
        page.click("#form-time [type='submit']")
        page.locator('#dlg-confirm [data-role="ok"]').click()
    expect(page.locator('#form-time [data-role="server-zone"]')).to_contain_text("UTC+09:00")
    assert_near(shown_time(page), "Asia/Tokyo")
    api = server.client()
    assert api.login().status_code == 200
    assert api.put("/api/v1/settings/time", json={
        "timezone": "Asia/Shanghai", "confirm": True}).status_code == 200


# -- SMTP: a failed test mail in words --------------------------------------------------

def closed_port() -> int:
    port = free_port()
    with socket.socket() as s:  # nothing listens there: connect is refused
        assert s.connect_ex(("127.0.0.1", port)) != 0
    return port


def run_test_mail(page: Page) -> Response:
    page.click('#form-smtp [data-role="test"]')
    dialog = page.locator("#dlg-smtp-test")
    expect(dialog).to_be_visible()
    dialog.locator('[name="to"]').fill("ops@example.com")
    with page.expect_response(lambda r: r.url.endswith("/api/v1/settings/smtp/test")) as info:
        dialog.locator('[type="submit"]').click()
    return info.value


def no_empty_alert(page: Page) -> None:
    for alert in page.locator(".alert:visible").all():
        assert alert.inner_text().strip(), "an empty alert is shown"


def test_a_failed_test_mail_says_why_in_words(server: Server, page: Page, smtp,
                                             shots: Path) -> None:
    open_page(page, server, "/settings/smtp")
    form = page.locator("#form-smtp")
    port = closed_port()
    form.locator('[name="server"]').fill("127.0.0.1")
    form.locator('[name="sender"]').fill("vcbox@example.com")
    form.locator('[name="port"]').fill(str(port))
    res = run_test_mail(page)
    assert res.status == 502, res.text()
    result = page.locator('#dlg-smtp-test [data-role="result"]')
    expect(result).to_have_text(t("Cannot connect to the SMTP server %(server)s: %(why)s",
                                  server=f"127.0.0.1:{port}",
                                  why=t("the connection was refused.")))
    assert "Errno" not in result.inner_text()
    no_empty_alert(page)
    page.locator('#dlg-smtp-test [data-bs-dismiss="modal"]').first.click()
    expect(page.locator("#dlg-smtp-test")).to_be_hidden()
    no_empty_alert(page)
    expect(form.locator('[data-role="error"]')).to_be_hidden()

    # A server that refuses the login: the sentence, and the server's own reply.
    form.locator('[name="port"]').fill(str(smtp.starttls.port))
    form.locator('[data-role="secure"]').check()
    form.locator('[name="security"]').select_option("tls")
    form.locator('[name="port"]').fill(str(smtp.starttls.port))
    form.locator('[name="username"]').fill(SMTP_USER)
    form.locator('[name="password"]').fill("not-the-password")
    res = run_test_mail(page)
    assert res.status == 502, res.text()
    expect(result).to_contain_text(t("The SMTP server refused the user name or password."))
    expect(result).to_contain_text(re.compile(r"535"))
    expect(result.locator('[data-role="reply"]')).to_contain_text("535")
    no_empty_alert(page)
    assert_plain(page)
    page.screenshot(path=shots / "forms-smtp-failed.png")
    assert not smtp.starttls.received


# -- every settings page, in both languages ---------------------------------------------

SETTINGS_PAGES = ("/settings/call", "/settings/network", "/settings/services",
                  "/settings/ports", "/settings/time", "/settings/smtp", "/settings/syslog")


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_every_settings_page_reads_plainly(server: Server, page: Page, lang: str,
                                          shots: Path) -> None:
    page.context.add_cookies([{"name": "vcbox_lang", "value": lang, "url": server.url}])
    for path in SETTINGS_PAGES:
        open_page(page, server, path)
        form = page.locator("main form").first
        expect(form.locator('[data-role="note"]')).to_be_visible()  # the settings shape
        expect(form.locator('[data-role="error"]')).to_be_hidden()
        expect(form.locator('[type="submit"]')).to_be_visible()
        page.wait_for_load_state("networkidle")
        assert_plain(page, lang)
        page.screenshot(path=shots / f"forms-{path.rsplit('/', 1)[1]}-{lang}.png",
                        full_page=True)
