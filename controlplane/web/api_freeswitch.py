"""The mod_xml_curl gateway (SPEC §9, DESIGN D4): FreeSWITCH asks here for its directory.

Not a browser route: no session and no CSRF token, but only this host's FreeSWITCH may
ask (loopback, and not through the local nginx, which passes the real client address in
X-Real-IP) and only with the HTTP basic credentials rendered into xml_curl.conf.xml
(user "freeswitch", the appliance secret xml_curl_password).

Directory lookups (sip_auth when a terminal registers or calls, user_call when a call is
bridged to a user, message-count ...) are answered from the accounts' in-memory index
with the account's a1-hash, never a clear password, and max-registrations-per-extension
(E1: 5 devices), which sofia reads from the user's params. Dialplan lookups are answered
by controlplane.dialplan (accounts, meetings, the access numbers; anything else is 404).
Everything else (gateway and network-list scans, unknown users; configuration is not
bound to the gateway) gets FreeSWITCH's "not found" document, after which FreeSWITCH
uses its own files.

POST /freeswitch/cdr takes mod_json_cdr's call records (same credentials, the JSON as
the body) into the CDR inbox (controlplane.cdr); an answer other than 200 makes FreeSWITCH
keep the record in its err-log-dir, from where it is collected later.
"""

from __future__ import annotations

import base64
import functools
import hmac
import ipaddress
import logging
import sqlite3
from collections.abc import Callable
from urllib.parse import unquote_plus

from bottle import Bottle, HTTPResponse, request

from controlplane import cdr, dialplan, secrets, web_join
from controlplane.accounts import MAX_DEVICES
from controlplane.app import Services
from controlplane.web.gateway_listener import REASONS, Handler, Route

log = logging.getLogger(__name__)

USER = "freeswitch"
XML_HEADERS = {"Content-Type": "text/xml; charset=utf-8"}
NOT_FOUND = (
    '<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n'
    '<document type="freeswitch/xml">\n'
    '  <section name="result">\n'
    '    <result status="not found"/>\n'
    '  </section>\n'
    '</document>\n'
)
# How a call to user/<id>@<domain> reaches the user's registered devices.
DIAL_STRING = ("{^^:sip_invite_domain=${dialed_domain}:presence_id=${dialed_user}@"
               "${dialed_domain}}${sofia_contact(*/${dialed_user}@${dialed_domain})}")
# Scans of the whole directory that the index does not answer (sofia then reads files).
SCANS = frozenset({"gateways", "network-list", "publish-vm"})
# How long FreeSWITCH keeps a directory entry it was given (its user cache): the REGISTERs
# and INVITEs of a registered device are answered from memory. Every account change
# flushes the entry at once (controlplane.app), and a new ESL link flushes them all (a
# change made while the link was down); this bounds what a missed flush could leave.
USER_CACHE_MS = 300_000
# The form fields the answer depends on (a sip_auth post has about 40).
FIELDS = frozenset({"section", "purpose", "user", "domain", "key_value",
                    "Hunt-Destination-Number", "Hunt-Context", "variable_user_name",
                    "variable_vcbox_tries", "Caller-Caller-ID-Number",
                    web_join.JOIN_VARIABLE})
MAX_FORM_BYTES = 64 * 1024


_FIELD_KEYS = tuple((name, b"&" + name.encode() + b"=") for name in sorted(FIELDS))


def form_fields(raw: bytes) -> dict[str, str]:
    """The fields of FIELDS from an urlencoded body, first occurrence of each.

    Only these are looked up, by a search in the raw body (their names need no
    unquoting): parsing the whole form costs more than the rest of the lookup, which is
    on the path of every SIP registration and call.
    """
    body = b"&" + raw
    found: dict[str, str] = {}
    for name, key in _FIELD_KEYS:
        start = body.find(key)
        if start < 0:
            continue
        start += len(key)
        end = body.find(b"&", start)
        value = body[start:] if end < 0 else body[start:end]
        found[name] = unquote_plus(value.decode("latin-1"), encoding="utf-8",
                                   errors="replace")
    return found


def xml_attr(value: str) -> str:
    """A value for a double-quoted XML attribute."""
    return (value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&apos;").replace("\n", "&#10;")
            .replace("\r", "&#13;").replace("\t", "&#9;"))


def user_document(domain: str, account: str, name: str, a1_hash: str) -> str:
    """The directory entry of one account."""
    d, a, name = xml_attr(domain), xml_attr(account), xml_attr(name)
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n'
        '<document type="freeswitch/xml">\n'
        '  <section name="directory">\n'
        f'    <domain name="{d}">\n'
        '      <params>\n'
        f'        <param name="dial-string" value="{xml_attr(DIAL_STRING)}"/>\n'
        '      </params>\n'
        '      <groups>\n'
        '        <group name="default">\n'
        '          <users>\n'
        f'            <user id="{a}" cacheable="{USER_CACHE_MS}">\n'
        '              <params>\n'
        f'                <param name="a1-hash" value="{xml_attr(a1_hash)}"/>\n'
        '                <param name="max-registrations-per-extension" '
        f'value="{MAX_DEVICES}"/>\n'
        '              </params>\n'
        '              <variables>\n'
        '                <variable name="user_context" value="default"/>\n'
        f'                <variable name="effective_caller_id_name" value="{name}"/>\n'
        f'                <variable name="effective_caller_id_number" value="{a}"/>\n'
        '              </variables>\n'
        '            </user>\n'
        '          </users>\n'
        '        </group>\n'
        '      </groups>\n'
        '    </domain>\n'
        '  </section>\n'
        '</document>\n'
    )


Answer = tuple[int, dict[str, str], bytes]
STATUS_LINES = {code: f"{code} {reason}" for code, reason in REASONS.items()}


def _client_is_local(environ: dict) -> bool:
    remote = environ.get("REMOTE_ADDR", "")
    forwarded = environ.get("HTTP_X_REAL_IP")
    try:
        if not ipaddress.ip_address(remote).is_loopback:
            return False
        # Through the local nginx the real client is in X-Real-IP.
        return not forwarded or ipaddress.ip_address(forwarded.strip()).is_loopback
    except ValueError:
        return False


@functools.lru_cache(maxsize=16384)
def user_bytes(domain: str, account: str, name: str, a1_hash: str) -> bytes:
    """The encoded entry, cached by what it shows (strings hash once)."""
    return user_document(domain, account, name, a1_hash).encode("utf-8")


def _text(status: int, body: str, **headers: str) -> Answer:
    return status, {"Content-Type": "text/plain", **headers}, body.encode()


def content_length(environ: dict) -> int:
    try:
        return int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def gateway_guard(services: Services, user: str = USER,
                  credential: str = "xml_curl_password",
                  realm: str = "vcbox xml_curl") -> Callable[[dict], Answer | None]:
    """Who may post to the FreeSWITCH gateway routes: this host's FreeSWITCH with the
    rendered credentials (user, and the appliance secret named `credential`; another
    service's posts use it with their own). The refusal to send, or None when the request
    may go on."""
    docs = services.docs
    secrets.ensure(docs)
    expected_header: dict[str, str] = {}

    def credentials_ok(header: str) -> bool:
        password = docs.peek(secrets.DOC).get(credential) or ""
        if not password:
            return False
        if expected_header.get("password") != password:
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            expected_header.update(password=password, header=f"Basic {token}")
        return hmac.compare_digest(header.encode(), expected_header["header"].encode())

    def refusal(environ: dict) -> Answer | None:
        if not _client_is_local(environ):
            return _text(403, "forbidden\n")
        if not credentials_ok(environ.get("HTTP_AUTHORIZATION", "")):
            return _text(401, "unauthorized\n",
                         **{"WWW-Authenticate": f'Basic realm="{realm}", charset="UTF-8"'})
        return None

    return refusal


def dialplan_site(services: Services) -> dialplan.Site:
    settings, licenses = services.settings, services.licenses
    return dialplan.Site(
        domain=lambda: settings.value("network", "domain"),
        is_account=services.accounts.exists,
        find_meeting=services.meetings.find,
        call_settings=lambda: settings.stored("call"),
        licensed_calls=licenses.concurrency,
        now=services.meetings.now,
        start_instant=services.meetings.start_instant,
        account_name=lambda number: getattr(services.accounts.find(number), "name", ""),
        redeem_join=services.web_joins.redeem,
    )


def directory_handler(services: Services) -> Handler:
    """The whole endpoint as a function of the WSGI environ and a body reader, so that the
    server can serve it before the web framework (it is on every SIP registration)."""
    accounts = services.accounts
    refusal = gateway_guard(services)
    site = dialplan_site(services)

    def xml(body: str) -> Answer:
        return 200, XML_HEADERS, body.encode("utf-8")

    def handle(environ: dict, read_body: Callable[[int], bytes]) -> Answer:
        refused = refusal(environ)
        if refused is not None:
            return refused
        length = content_length(environ)
        if length > MAX_FORM_BYTES:
            return _text(413, "too large\n")
        form = form_fields(read_body(length) if length > 0 else b"")
        if form.get("section") == "dialplan":
            tries = form.get("variable_vcbox_tries") or "0"
            return xml(dialplan.route(dialplan.Call(
                form.get("Hunt-Context") or "", form.get("Hunt-Destination-Number") or "",
                form.get("variable_user_name") or form.get("Caller-Caller-ID-Number") or "",
                int(tries) if tries.isdigit() else 0,
                form.get(web_join.JOIN_VARIABLE) or ""), site))
        if form.get("section") != "directory" or form.get("purpose") in SCANS:
            return xml(NOT_FOUND)
        user = form.get("user") or ""
        domain = form.get("domain") or form.get("key_value") or ""
        item = accounts.directory_entry(user, domain) if user and domain else None
        if item is None:
            return xml(NOT_FOUND)
        return 200, XML_HEADERS, user_bytes(item.domain, item.account, item.name,
                                            item.a1_hash)

    return handle


def cdr_handler(services: Services) -> Handler:
    """POST /freeswitch/cdr as a function of the WSGI environ and a body reader (one
    record at every hangup: served before the web framework, like the directory)."""
    refusal = gateway_guard(services)

    def handle(environ: dict, read_body: Callable[[int], bytes]) -> Answer:
        refused = refusal(environ)
        if refused is not None:
            return refused
        length = content_length(environ)
        # the JSON itself, as mod_json_cdr posts it with encode=false
        if length > cdr.MAX_RECORD_BYTES:
            return _text(413, "too large\n")
        raw = read_body(length) if length > 0 else b""
        try:
            services.cdr_writes.put(raw)  # answered when the record is on disk
        except cdr.BadRecord as exc:
            return _text(400, f"{exc}\n")
        except (OSError, sqlite3.Error):
            # not kept: FreeSWITCH tries again, then keeps it in its err-log-dir
            log.exception("call record not kept")
            return _text(503, "not kept\n")
        return _text(200, "ok\n")

    return handle


# path: (the handler's maker, the largest body it takes)
FAST_ROUTES = {"/freeswitch/xml": (directory_handler, MAX_FORM_BYTES),
               "/freeswitch/cdr": (cdr_handler, cdr.MAX_RECORD_BYTES)}


def fast_routes(services: Services) -> dict[str, Route]:
    return {path: (make(services), limit) for path, (make, limit) in FAST_ROUTES.items()}


def fast_path(app: Callable, services: Services) -> Callable:
    """WSGI middleware: FreeSWITCH's posts (directory and dialplan lookups, call records)
    go straight to their handlers."""
    handlers = fast_routes(services)

    def wsgi(environ: dict, start_response: Callable) -> list[bytes]:
        route = handlers.get(environ.get("PATH_INFO", ""))
        if route is not None and environ.get("REQUEST_METHOD") == "POST":
            status, headers, body = route[0](environ, environ["wsgi.input"].read)
            start_response(STATUS_LINES[status],
                           [*headers.items(), ("Content-Length", str(len(body)))])
            return [body]
        return app(environ, start_response)

    return wsgi


def routes(app: Bottle, services: Services) -> None:
    handle = directory_handler(services)

    @app.post("/freeswitch/xml", auth="public", csrf=False,
              summary="mod_xml_curl gateway (FreeSWITCH only: loopback and HTTP basic auth):"
              " directory lookups answered with the account's a1-hash")
    def xml_curl():
        status, headers, body = handle(request.environ, lambda n: request.body.read(n))
        return HTTPResponse(body, status, headers)

    take_cdr = cdr_handler(services)

    @app.post("/freeswitch/cdr", auth="public", csrf=False,
              summary="mod_json_cdr's call records (FreeSWITCH only: loopback and HTTP basic"
              " auth), the JSON as the body: kept in the CDR inbox, once per call")
    def json_cdr():
        status, headers, body = take_cdr(request.environ, lambda n: request.body.read(n))
        return HTTPResponse(body, status, headers)
