"""M1, M2, A4: mail through real SMTP servers (aiosmtpd) with STARTTLS and implicit TLS,
certificates verified against a CA made for the test, and the password reset by mail."""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from controlplane.i18n import translate
from tests.conftest import ADMIN_PASSWORD, Client, Server, configured_server, free_port
from tests.integration.conftest import SMTP_PASSWORD, InProcess, Pki, SmtpServers

EN = {"vcbox_lang": "en"}


@pytest.fixture
def mail_admin(tmp_path: Path, pki: Pki) -> Iterator[tuple[Server, Client]]:
    """A configured server that trusts the test CA (and only through SSL_CERT_FILE)."""
    with configured_server(tmp_path, ssl_cert_file=str(pki.ca)) as srv:
        client = srv.client()
        client.cookies.set("vcbox_lang", "en")
        assert client.login().status_code == 200
        yield srv, client


def put_smtp(client: Client, settings: dict) -> dict:
    res = client.put("/api/v1/settings/smtp", json=settings)
    assert res.status_code == 200, res.text
    return res.json()


@pytest.mark.parametrize("security", ["tls", "ssl"])
def test_test_mail_arrives(mail_admin, smtp: SmtpServers, security: str) -> None:
    _, client = mail_admin
    sink = smtp.starttls if security == "tls" else smtp.ssl
    saved = put_smtp(client, sink.settings(security))
    assert saved["security"] == security and saved["port"] == sink.port
    res = client.post("/api/v1/settings/smtp/test", json={"to": "Ops@Example.com"})
    assert res.status_code == 200, res.text
    assert res.json()["ok"] is True
    assert res.json()["message"] == "Test mail settings succeeded."
    [mail] = sink.wait(1)
    assert mail.rcpt_tos == ["ops@example.com"]
    assert mail.mail_from == "vcbox@example.com"
    assert mail.message["From"] == "vcbox@example.com"
    assert mail.message["To"] == "ops@example.com"
    assert mail.message["Subject"] == "vcbox test mail"
    assert "SMTP settings work" in mail.message.get_content()
    assert mail.encrypted and mail.authenticated
    assert not smtp.ssl.received if security == "tls" else not smtp.starttls.received


def test_test_mail_subject_follows_the_language(mail_admin, smtp: SmtpServers) -> None:
    _, client = mail_admin
    put_smtp(client, smtp.starttls.settings("tls"))
    client.cookies.set("vcbox_lang", "zh_CN")
    assert client.post("/api/v1/settings/smtp/test",
                       json={"to": "ops@example.com"}).status_code == 200
    [mail] = smtp.starttls.wait(1)
    assert mail.message["Subject"] == translate("zh_CN", "vcbox test mail")


def test_wrong_smtp_password_reports_the_servers_reply(mail_admin, smtp: SmtpServers) -> None:
    _, client = mail_admin
    put_smtp(client, smtp.starttls.settings("tls", password="not-the-password"))
    res = client.post("/api/v1/settings/smtp/test", json={"to": "ops@example.com"})
    assert res.status_code == 502
    assert res.json()["error_id"] == "upstream_failed"
    assert re.search(r"\b535\b", res.json()["message"]), res.json()
    # A sentence first, then the server's own reply on its own line.
    sentence, reply = res.json()["message"].split("\n")
    assert sentence == "The SMTP server refused the user name or password."
    assert reply.startswith("Server reply: 535 ")
    assert not smtp.starttls.received


def test_a_closed_port_is_said_in_words(mail_admin) -> None:
    _, client = mail_admin
    port = free_port()  # nothing listens there
    put_smtp(client, {"server": "127.0.0.1", "port": port, "security": "none",
                      "sender": "vcbox@example.com"})
    res = client.post("/api/v1/settings/smtp/test", json={"to": "ops@example.com"})
    assert res.status_code == 502
    assert res.json()["message"] == (
        f"Cannot connect to the SMTP server 127.0.0.1:{port}: the connection was refused.")
    client.cookies.set("vcbox_lang", "zh_CN")
    res = client.post("/api/v1/settings/smtp/test", json={"to": "ops@example.com"})
    assert res.json()["message"] == f"无法连接到 SMTP 服务器 127.0.0.1:{port}：连接被拒绝。"
    # The operation log keeps the same words.
    entry = client.get("/api/v1/operation-log", params={"limit": 1}).json()["items"][0]
    assert (entry["action"], entry["result"]) == ("test_mail", "failure")
    assert entry["detail"] == res.json()["message"]


def test_certificate_not_signed_by_a_trusted_ca(mail_admin, smtp: SmtpServers) -> None:
    _, client = mail_admin
    put_smtp(client, smtp.rogue.settings("tls"))
    res = client.post("/api/v1/settings/smtp/test", json={"to": "ops@example.com"})
    assert res.status_code == 502
    assert res.json()["error_id"] == "upstream_failed"
    assert "certificate" in res.json()["message"].lower(), res.json()
    assert res.json()["message"].startswith("The SMTP server's certificate is not trusted")
    assert not smtp.rogue.received
    # Turning verification off (an operator's explicit choice) lets it through.
    put_smtp(client, {"verify_certificate": False})
    assert client.post("/api/v1/settings/smtp/test",
                       json={"to": "ops@example.com"}).status_code == 200
    assert len(smtp.rogue.wait(1)) == 1


def test_mail_to_an_unencrypted_port_is_refused_by_a_starttls_server(
        mail_admin, smtp: SmtpServers) -> None:
    _, client = mail_admin
    # security none against a server that requires STARTTLS: its refusal (530) comes back.
    put_smtp(client, smtp.starttls.settings("none", username=""))
    res = client.post("/api/v1/settings/smtp/test", json={"to": "ops@example.com"})
    assert res.status_code == 502
    assert re.search(r"\b530\b", res.json()["message"]), res.json()
    assert "STARTTLS" in res.json()["message"]
    assert not smtp.starttls.received


def test_unsaved_overrides_do_not_change_the_stored_settings(mail_admin,
                                                             smtp: SmtpServers) -> None:
    server, client = mail_admin
    put_smtp(client, smtp.starttls.settings("tls"))
    before = client.get("/api/v1/settings/smtp").json()
    documents = (server.data / "documents.json").read_bytes()

    # Overrides that work: the mail goes through the implicit-TLS server instead.
    res = client.post("/api/v1/settings/smtp/test", json={
        "to": "ops@example.com", "port": smtp.ssl.port, "security": "ssl",
        "sender": "other@example.com"})
    assert res.status_code == 200, res.text
    [mail] = smtp.ssl.wait(1)
    assert mail.mail_from == "other@example.com"
    # Overrides that fail: a wrong password.
    res = client.post("/api/v1/settings/smtp/test",
                      json={"to": "ops@example.com", "password": "wrong"})
    assert res.status_code == 502
    # Invalid overrides: 400 per field, nothing sent.
    res = client.post("/api/v1/settings/smtp/test",
                      json={"to": "not an address", "port": 0, "security": "starttls"})
    assert res.status_code == 400
    assert {"to"} <= set(res.json()["details"])
    res = client.post("/api/v1/settings/smtp/test", json={"to": "a@example.com", "port": 0})
    assert res.status_code == 400
    assert set(res.json()["details"]) == {"port"}

    assert client.get("/api/v1/settings/smtp").json() == before
    assert (server.data / "documents.json").read_bytes() == documents
    assert not smtp.starttls.received
    # The stored settings (password included) still work.
    assert client.post("/api/v1/settings/smtp/test",
                       json={"to": "ops@example.com"}).status_code == 200
    assert len(smtp.starttls.wait(1)) == 1


def test_get_never_returns_the_smtp_password(mail_admin, smtp: SmtpServers) -> None:
    _, client = mail_admin
    saved = put_smtp(client, smtp.starttls.settings("tls"))
    for doc in (saved, client.get("/api/v1/settings/smtp").json()):
        assert "password" not in doc
        assert doc["password_set"] is True
        assert SMTP_PASSWORD not in str(doc)
    # A PUT without the password keeps it; an empty one clears it.
    assert put_smtp(client, {"sender": "noreply@example.com"})["password_set"] is True
    assert client.post("/api/v1/settings/smtp/test",
                       json={"to": "ops@example.com"}).status_code == 200
    assert smtp.starttls.wait(1)[0].mail_from == "noreply@example.com"
    assert put_smtp(client, {"password": ""})["password_set"] is False
    res = client.put("/api/v1/settings/smtp", json={"password": "p" * 129})
    assert res.status_code == 400
    assert set(res.json()["details"]) == {"password"}
    assert client.get("/api/v1/settings/smtp").json()["password_set"] is False


def test_test_mail_without_a_server(mail_admin) -> None:
    _, client = mail_admin
    res = client.post("/api/v1/settings/smtp/test", json={"to": "ops@example.com"})
    assert res.status_code == 409
    assert res.json()["error_id"] == "conflict"


# -- A4: forgotten password, in-process so that the test can read the captcha -----------

RESET_LINK = re.compile(r"(https?://\S+)/reset/([A-Za-z0-9_-]+)")


@pytest.fixture
def reset_app(inproc: Callable[..., InProcess], smtp: SmtpServers, pki: Pki,
              monkeypatch: pytest.MonkeyPatch) -> InProcess:
    # The mail leaves from this process: it trusts the test CA the way the server does.
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.ca))
    app = inproc()
    res = requests.post(app.url + "/api/v1/setup/admin", timeout=30,
                        json={"password": ADMIN_PASSWORD, "email": "Admin@Example.com"})
    assert res.status_code == 200
    client = app.client()
    assert client.login().status_code == 200
    put_smtp(client, smtp.starttls.settings("tls"))
    assert client.delete("/api/v1/session").status_code == 200
    return app


def captcha(app: InProcess, session: requests.Session) -> tuple[str, str]:
    res = session.get(app.url + "/api/v1/captcha", timeout=30)
    assert res.status_code == 200
    assert "no-store" in res.headers["Cache-Control"]
    image = res.json()["image"]
    prefix = "data:image/png;base64,"
    assert image.startswith(prefix)
    png = base64.b64decode(image[len(prefix):], validate=True)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(png) > 500
    cid = res.json()["id"]
    return cid, app.services.captchas.answer_for(cid)  # as a person reads the image


def ask_reset(app: InProcess, username: str, email: str, wrong_captcha: bool = False,
              ) -> requests.Response:
    browser = requests.Session()
    cid, text = captcha(app, browser)
    answer = ("A" if text[0] != "A" else "B") + text[1:] if wrong_captcha else text.lower()
    return browser.post(app.url + "/api/v1/password-reset", timeout=30, json={
        "username": username, "email": email, "captcha_id": cid, "captcha": answer})


def set_password(app: InProcess, token: str, password: str, confirm: str | None = None,
                 ) -> requests.Response:
    return requests.post(f"{app.url}/api/v1/password-reset/{token}", timeout=30, json={
        "new_password": password, "confirm_password": password if confirm is None else confirm})


def login(app: InProcess, password: str) -> int:
    return app.client().login(password=password).status_code


def test_password_reset_by_mail(reset_app: InProcess, smtp: SmtpServers) -> None:
    app, sink = reset_app, smtp.starttls
    # A wrong captcha: 400 on that field, nothing sent; the captcha is spent.
    res = ask_reset(app, "admin", "admin@example.com", wrong_captcha=True)
    assert res.status_code == 400
    assert set(res.json()["details"]) == {"captcha"}
    browser = requests.Session()
    cid, text = captcha(app, browser)
    body = {"username": "admin", "email": "admin@example.com", "captcha_id": cid,
            "captcha": "0000" if text != "0000" else "1111"}
    assert browser.post(app.url + "/api/v1/password-reset", json=body).status_code == 400
    body["captcha"] = text
    res = browser.post(app.url + "/api/v1/password-reset", json=body)
    assert res.status_code == 400, "a captcha must not be usable twice"
    assert set(res.json()["details"]) == {"captcha"}
    res = browser.post(app.url + "/api/v1/password-reset", json={"username": "admin"})
    assert res.status_code == 400
    assert set(res.json()["details"]) == {"email", "captcha"}

    # A wrong e-mail, or a wrong user: the same answer, and no mail.
    uniform = ask_reset(app, "admin", "someone@example.com")
    assert uniform.status_code == 200
    assert ask_reset(app, "root", "admin@example.com").json() == uniform.json()
    time.sleep(0.2)
    assert not sink.received

    # The right pair (the e-mail in any case): the same answer, and the mail arrives.
    res = ask_reset(app, "admin", "ADMIN@example.com")
    assert res.status_code == 200
    assert res.json() == uniform.json()
    [mail] = sink.wait(1)
    assert mail.rcpt_tos == ["admin@example.com"]
    assert mail.mail_from == "vcbox@example.com"
    text = mail.message.get_content()
    base, token = RESET_LINK.search(text).groups()
    assert base == app.url
    assert "10" in text  # minutes the link stays valid

    # The link's page is public; the link is valid until used.
    assert requests.get(f"{app.url}/reset/{token}", timeout=30).status_code == 200
    assert requests.get(f"{app.url}/api/v1/password-reset/{token}",
                        timeout=30).json() == {"valid": True}
    # Bad input does not spend the link.
    res = set_password(app, token, "New#Pass1", "Other#Pass1")
    assert res.status_code == 400
    assert set(res.json()["details"]) == {"confirm_password"}
    assert set(set_password(app, token, "short").json()["details"]) == {"new_password"}
    assert login(app, ADMIN_PASSWORD) == 200
    # Someone else meanwhile locks the account (A3) while a session is open.
    open_session = app.client()
    assert open_session.login().status_code == 200
    assert [login(app, "Guess#000") for _ in range(5)] == [401] * 4 + [423]

    res = set_password(app, token, "New#Pass1")
    assert res.status_code == 200, res.text
    # The reset ends the lock and every session of the user.
    assert open_session.get("/api/v1/session").status_code == 401
    assert login(app, "New#Pass1") == 200
    assert login(app, ADMIN_PASSWORD) == 401
    # Once only.
    res = set_password(app, token, "Again#Pass2")
    assert res.status_code == 400
    assert res.json()["error_id"] == "invalid_input"
    assert requests.get(f"{app.url}/api/v1/password-reset/{token}",
                        timeout=30).json() == {"valid": False}
    assert login(app, "New#Pass1") == 200


def test_reset_link_expires_after_ten_minutes(reset_app: InProcess, smtp: SmtpServers) -> None:
    app = reset_app
    assert app.services.config.reset_link_s == 600
    assert ask_reset(app, "admin", "admin@example.com").status_code == 200
    [mail] = smtp.starttls.wait(1)
    _, token = RESET_LINK.search(mail.message.get_content()).groups()
    auth = app.services.auth
    real = auth.clock
    try:
        auth.clock = lambda: real() + 590
        assert requests.get(f"{app.url}/api/v1/password-reset/{token}",
                            timeout=30).json() == {"valid": True}
        auth.clock = lambda: real() + 601
        assert requests.get(f"{app.url}/api/v1/password-reset/{token}",
                            timeout=30).json() == {"valid": False}
        res = set_password(app, token, "New#Pass1")
        assert res.status_code == 400
    finally:
        auth.clock = real
    # The password did not change, and the expired link stays dead.
    assert login(app, ADMIN_PASSWORD) == 200
    assert set_password(app, token, "New#Pass1").status_code == 400


def test_reset_link_lifetime_comes_from_the_config(inproc: Callable[..., InProcess],
                                                   smtp: SmtpServers, pki: Pki,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.ca))
    app = inproc(reset_link_s=1)
    assert requests.post(app.url + "/api/v1/setup/admin", timeout=30, json={
        "password": ADMIN_PASSWORD, "email": "admin@example.com"}).status_code == 200
    client = app.client()
    assert client.login().status_code == 200
    put_smtp(client, smtp.ssl.settings("ssl"))
    assert ask_reset(app, "admin", "admin@example.com").status_code == 200
    [mail] = smtp.ssl.wait(1)
    _, token = RESET_LINK.search(mail.message.get_content()).groups()
    time.sleep(1.1)
    assert set_password(app, token, "New#Pass1").status_code == 400
    assert login(app, ADMIN_PASSWORD) == 200


def test_reset_request_is_uniform_when_the_mail_cannot_be_sent(reset_app: InProcess,
                                                               smtp: SmtpServers) -> None:
    app = reset_app
    services = app.services
    services.settings.put("smtp", {"password": "wrong"})
    uniform = ask_reset(app, "admin", "nobody@example.com")
    res = ask_reset(app, "admin", "admin@example.com")
    assert res.status_code == 200
    assert res.json() == uniform.json()
    assert not smtp.starttls.received
