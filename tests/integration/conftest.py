"""Fixtures of the integration suite: real SMTP servers (aiosmtpd) with certificates made
here, and the control plane served in-process (for tests that must see its Services)."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.conftest import Client, Server, free_port

SMTP_USER = "mailer"
SMTP_PASSWORD = "Sm7p-s3cret!"


# -- certificates ----------------------------------------------------------------------

@dataclass(frozen=True)
class Pki:
    ca: Path          # the CA the control plane is told to trust (SSL_CERT_FILE)
    cert: Path        # server certificate for 127.0.0.1 / localhost, signed by ca
    key: Path
    rogue_cert: Path  # the same names, signed by a CA nobody trusts
    rogue_key: Path


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))


def _ca(cn: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn)).issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, key_cert_sign=True, crl_sign=True,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _leaf(ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate,
          ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost")).issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    pem = serialization.Encoding.PEM
    ca_key, ca_cert = _ca("vcbox test CA")
    key, cert = _leaf(ca_key, ca_cert)
    rogue_ca_key, rogue_ca_cert = _ca("untrusted test CA")
    rogue_key, rogue_cert = _leaf(rogue_ca_key, rogue_ca_cert)
    pki = Pki(folder / "ca.pem", folder / "server.pem", folder / "server.key",
              folder / "rogue.pem", folder / "rogue.key")
    pki.ca.write_bytes(ca_cert.public_bytes(pem))
    pki.cert.write_bytes(cert.public_bytes(pem) + ca_cert.public_bytes(pem))
    _write_key(key, pki.key)
    pki.rogue_cert.write_bytes(rogue_cert.public_bytes(pem) + rogue_ca_cert.public_bytes(pem))
    _write_key(rogue_key, pki.rogue_key)
    return pki


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


# -- SMTP servers ----------------------------------------------------------------------

@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    encrypted: bool
    authenticated: bool


@dataclass
class SmtpSink:
    """An aiosmtpd server on 127.0.0.1 that keeps what it receives."""

    name: str
    port: int = 0
    received: list[Received] = field(default_factory=list)
    controller: Controller | None = None

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802
        encrypted = server.transport.get_extra_info("ssl_object") is not None
        self.received.append(Received(
            envelope.mail_from, list(envelope.rcpt_tos),
            email.message_from_bytes(envelope.original_content or envelope.content,
                                     policy=email.policy.default),
            encrypted, bool(session.authenticated)))
        return "250 Message accepted for delivery"

    def wait(self, count: int = 1, timeout: float = 5) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.received

    def settings(self, security: str, **extra: Any) -> dict[str, Any]:
        """The vcbox SMTP settings document that sends through this server."""
        return {"server": "127.0.0.1", "port": self.port, "security": security,
                "sender": "vcbox@example.com", "username": SMTP_USER,
                "password": SMTP_PASSWORD, "verify_certificate": True, **extra}


def _authenticator(server, session, envelope, mechanism, auth_data) -> AuthResult:
    ok = (isinstance(auth_data, LoginPassword) and auth_data.login == SMTP_USER.encode()
          and auth_data.password == SMTP_PASSWORD.encode())
    # handled=False: aiosmtpd answers the client itself (535 on failure).
    return AuthResult(success=ok, handled=False)


def _start(sink: SmtpSink, **kwargs: Any) -> SmtpSink:
    sink.port = free_port()
    sink.controller = Controller(sink, hostname="127.0.0.1", port=sink.port,
                                 server_hostname="smtp.test", authenticator=_authenticator,
                                 **kwargs)
    sink.controller.start()
    return sink


@dataclass(frozen=True)
class SmtpServers:
    starttls: SmtpSink  # STARTTLS required, AUTH only after TLS
    ssl: SmtpSink       # implicit TLS (SMTPS)
    rogue: SmtpSink     # STARTTLS with a certificate not signed by the trusted CA

    def all(self) -> tuple[SmtpSink, ...]:
        return (self.starttls, self.ssl, self.rogue)


@pytest.fixture(scope="session")
def smtp_servers(pki: Pki) -> Iterator[SmtpServers]:
    started: list[SmtpSink] = []
    try:
        starttls = _start(SmtpSink("starttls"), tls_context=server_context(pki.cert, pki.key),
                          require_starttls=True, auth_require_tls=True, auth_required=True)
        started.append(starttls)
        # Implicit TLS: aiosmtpd only counts STARTTLS as TLS, and this link is encrypted
        # from the first byte, so AUTH is allowed without STARTTLS here (and offered, not
        # required: aiosmtpd warns about "AUTH required without TLS" otherwise).
        implicit = _start(SmtpSink("ssl"), ssl_context=server_context(pki.cert, pki.key),
                          auth_require_tls=False)
        started.append(implicit)
        rogue = _start(SmtpSink("rogue"),
                       tls_context=server_context(pki.rogue_cert, pki.rogue_key),
                       require_starttls=True, auth_require_tls=True, auth_required=True)
        started.append(rogue)
        yield SmtpServers(starttls, implicit, rogue)
    finally:
        for sink in started:
            assert sink.controller is not None
            sink.controller.stop()


@pytest.fixture
def smtp(smtp_servers: SmtpServers) -> SmtpServers:
    """The session's SMTP servers, with empty mailboxes."""
    for sink in smtp_servers.all():
        sink.received.clear()
    return smtp_servers


# -- the control plane in-process ------------------------------------------------------

class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@dataclass
class InProcess:
    """create_app(...) served by wsgiref in a thread; services is the app's Services."""

    url: str
    services: Any
    httpd: WSGIServer
    thread: threading.Thread

    def client(self) -> Client:
        return Client(self.url)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(10)
        self.services.close()


@pytest.fixture
def inproc(tmp_path: Path) -> Iterator[Callable[..., InProcess]]:
    """Factory: inproc(**config) serves a fresh app (Config fields as keywords)."""
    from controlplane.app import create_app
    from controlplane.config import Config

    running: list[InProcess] = []

    def start(**options: Any) -> InProcess:
        port = free_port()
        data = tmp_path / f"inproc-{len(running)}"
        config = Config(data_dir=data, root=data / "root", listen_port=port, **options)
        app = create_app(config)
        httpd = make_server("127.0.0.1", port, app, server_class=_ThreadingWSGIServer,
                            handler_class=_QuietHandler)
        thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                  name=f"vcbox-inproc-{port}", daemon=True)
        thread.start()
        proc = InProcess(f"http://127.0.0.1:{port}", app.config["vcbox.services"], httpd,
                         thread)
        running.append(proc)
        return proc

    yield start
    for proc in running:
        proc.stop()


# -- one configured server per module, for the settings tests ---------------------------

@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    from tests.conftest import configured_server

    with configured_server(tmp_path_factory.mktemp("settings")) as server:
        yield server


@pytest.fixture(scope="module")
def api(srv: Server) -> Client:
    client = srv.client()
    assert client.login().status_code == 200
    return client


@pytest.fixture(scope="module")
def root(srv: Server) -> Path:
    from tests.integration.settings_cases import root_of

    return root_of(srv)


@pytest.fixture(scope="module")
def initial(api: Client) -> dict[str, dict[str, Any]]:
    """The settings before any test of the module ran (the defaults)."""
    from tests.integration.settings_cases import all_settings

    return all_settings(api)
