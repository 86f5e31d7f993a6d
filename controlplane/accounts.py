"""Enterprise accounts (SPEC E1-E8): the SIP accounts terminals and users sign in with.

One document per account in the "accounts" table, keyed by the account number. The
clear password is never stored: only FreeSWITCH's a1-hash, md5("account:domain:password"),
for the domain that was current when the password was set. A password generated or
imported is handed back once (in the answer to create / reset / import) and may go out
in the account mail; nothing else ever sees it.

The a1-hash depends on the local domain (network.domain). When the domain changes the
stored hashes no longer match what terminals compute, and they cannot be recomputed
without the passwords: such accounts are listed with needs_reset=true, the directory
stops answering for them, and a password reset (or a re-import) brings them back.

Reads (lists, search, the FreeSWITCH directory) come from an in-memory index that is
loaded once and replaced, copy-on-write, under the store's writer lock after every
write, so readers never take a lock and never see a half-applied change.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import hashlib
import logging
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from controlplane import rules
from controlplane.errors import Conflict, Message, NotFound, ValidationError
from controlplane.i18n import N_, translate
from controlplane.license import Licenses
from controlplane.mail import Mailer
from controlplane.sections.network import lan_address
from controlplane.settings import Settings
from controlplane.store import Documents
from controlplane.timezones import local_time

log = logging.getLogger(__name__)

TABLE = "accounts"
MAX_ACCOUNTS = 10_000          # E1
MAX_IMPORT_ROWS = 1000         # E3
MAX_DEVICES = 5                # E1: registrations per account (the directory tells sofia)
PASSWORD_LENGTH = 10           # R1: 6-16
# Letters and digits without the ones people misread (0/O/o, 1/l/I).
_LOWER = "abcdefghijkmnpqrstuvwxyz"
_UPPER = "ABCDEFGHJKLMNPQRSTUVWXYZ"
_DIGITS = "23456789"
PASSWORD_ALPHABET = _LOWER + _UPPER + _DIGITS
ORDERS = ("account", "name", "email", "created")
SORT_FIELDS = {"order": rules.one_of(*ORDERS), "direction": rules.one_of("asc", "desc")}


def a1_hash(account: str, domain: str, password: str) -> str:
    """FreeSWITCH's a1-hash user param: md5 of "user:realm:password" in hex (SIP digest
    authentication, RFC 2617, is md5 by definition)."""
    return hashlib.md5(f"{account}:{domain}:{password}".encode()).hexdigest()  # noqa: S324


def generate_password(length: int = PASSWORD_LENGTH) -> str:
    """A random password of R1's length with a lower-case letter, an upper-case letter and
    a digit, from an alphabet without look-alike characters."""
    while True:
        value = "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(length))
        if (any(c in _LOWER for c in value) and any(c in _UPPER for c in value)
                and any(c in _DIGITS for c in value)):
            return value


@dataclass(frozen=True, slots=True)
class Account:
    """One account as stored (and as the index holds it). Never mutated: replaced."""

    account: str
    name: str
    email: str
    created: float
    domain: str
    a1_hash: str

    @property
    def haystack(self) -> str:
        return f"{self.name}\n{self.account}\n{self.email}".lower()

    def doc(self) -> dict[str, Any]:
        return {"account": self.account, "name": self.name, "email": self.email,
                "created": self.created, "domain": self.domain, "a1_hash": self.a1_hash}

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Account:
        return cls(str(doc["account"]), str(doc.get("name", "")), str(doc.get("email", "")),
                   float(doc.get("created", 0)), str(doc.get("domain", "")),
                   str(doc.get("a1_hash", "")))

    def public(self, domain: str, zone: dt.tzinfo | None = None) -> dict[str, Any]:
        """What the API shows: never the hash; the creation time on the wall clock of
        zone (the appliance's)."""
        return {"account": self.account, "name": self.name, "email": self.email,
                "created": self.created, "created_time": local_time(self.created, zone),
                "needs_reset": self.domain != domain}


SEPARATOR = "\0"
SEARCHES_KEPT = 64


@dataclass(frozen=True, slots=True)
class _Index:
    by_account: dict[str, Account]
    ordered: tuple[Account, ...]      # by account number
    haystacks: tuple[str, ...]        # lower-cased "name\naccount\nemail", same order
    # The haystacks joined by NUL, and where each starts: a search is str.find over one
    # string (C speed), not a Python loop over 10,000 accounts.
    blob: str = ""
    starts: tuple[int, ...] = ()
    # The last searches' answers (paging through one search repeats it): an index is
    # never changed, a change of the accounts makes a new one.
    found: dict[str, tuple[Account, ...]] = dataclasses.field(
        default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, by_account: dict[str, Account]) -> _Index:
        ordered = tuple(sorted(by_account.values(), key=lambda a: a.account))
        haystacks = tuple(a.haystack.replace(SEPARATOR, "") for a in ordered)
        starts, at = [], 0
        for hay in haystacks:
            starts.append(at)
            at += len(hay) + 1
        return cls(by_account, ordered, haystacks, SEPARATOR.join(haystacks), tuple(starts))

    def matching(self, needle: str) -> list[Account]:
        """The accounts whose haystack holds needle (lower-cased), in account order."""
        needle = needle.replace(SEPARATOR, "")
        if not needle:
            return list(self.ordered)
        known = self.found.get(needle)
        if known is None:
            if len(self.found) >= SEARCHES_KEPT:
                self.found.clear()
            known = self.found[needle] = tuple(self._scan(needle))
        return list(known)

    def _scan(self, needle: str) -> list[Account]:
        found: list[Account] = []
        blob, starts = self.blob, self.starts
        pos = blob.find(needle)
        while pos != -1:
            i = bisect.bisect_right(starts, pos) - 1
            found.append(self.ordered[i])
            if i + 1 >= len(starts):
                break
            pos = blob.find(needle, starts[i + 1])
        return found


def _cell(value: Any) -> str:
    """A spreadsheet cell as text: numbers typed into a cell come as 1001 or 1001.0."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    return value if isinstance(value, str) else str(value)


def _accounts_list(value: Any, field: str = "accounts") -> list[str]:
    """A JSON list of account numbers (R4), duplicates dropped, order kept."""
    if not isinstance(value, list) or not value:
        raise ValidationError(details={field: N_("Choose at least one account.")})
    if len(value) > MAX_ACCOUNTS:
        raise ValidationError(details={field: (N_("At most %(max)s accounts at once."),
                                               {"max": MAX_ACCOUNTS})})
    details: dict[str, Message] = {}
    clean: list[str] = []
    for i, item in enumerate(value):
        try:
            clean.append(rules.account(item))
        except rules.FieldError as exc:
            details[f"{field}.{i}"] = exc.message
    if details:
        raise ValidationError(details=details)
    return list(dict.fromkeys(clean))


class Accounts:
    def __init__(self, docs: Documents, settings: Settings, licenses: Licenses,
                 mailer: Mailer, clock=time.time,
                 zone: Callable[[], dt.tzinfo] | None = None) -> None:
        self.docs, self.settings, self.licenses, self.mailer = docs, settings, licenses, mailer
        self.clock = clock
        # The appliance's time zone, for the times shown (None: the host's).
        self.zone = zone or (lambda: None)
        # Called with an account number after it changed or was deleted (FreeSWITCH cache).
        self.on_change: list[Callable[[str], None]] = []
        # Called with the account numbers just deleted (room bindings).
        self.on_delete: list[Callable[[set[str]], None]] = []
        self._index = self._load()

    # -- index and store -------------------------------------------------------------

    def _load(self) -> _Index:
        with self.docs.lock:
            rows = self.docs.storage.read().get(TABLE, {})
            return _Index.of({str(doc["account"]): Account.from_doc(doc)
                              for doc in rows.values() if doc.get("account")})

    def reload(self) -> None:
        """Read the table again (after a restore replaced the store underneath)."""
        self._index = self._load()

    def _commit(self, upserts: Iterable[Account] = (), deletes: Iterable[str] = ()) -> None:
        """Write the changes in one atomic step and swap in the new index.

        Callers hold docs.lock around their checks and this call. Unchanged documents
        are shared between the old and the new table (documents are never mutated in
        place), so a write costs a shallow copy, not a deep copy, of 10,000 documents.
        """
        upserts, deletes = list(upserts), set(deletes)
        if not upserts and not deletes:
            return
        with self.docs.batch() as batch:
            rows = dict(self.docs.storage.read().get(TABLE, {}))
            for key in deletes:
                rows.pop(key, None)
            for item in upserts:
                rows[item.account] = item.doc()
            batch.changed[TABLE] = rows
        by_account = dict(self._index.by_account)
        for key in deletes:
            by_account.pop(key, None)
        for item in upserts:
            by_account[item.account] = item
        self._index = _Index.of(by_account)

    def _notify_change(self, accounts: Iterable[str]) -> None:
        for account in accounts:
            for callback in self.on_change:
                try:
                    callback(account)
                except Exception:
                    log.exception("account change callback failed for %s", account)

    # -- reads -----------------------------------------------------------------------

    def domain(self) -> str:
        return self.settings.value("network", "domain")

    def count(self) -> int:
        return len(self._index.ordered)

    def find(self, account: str) -> Account | None:
        return self._index.by_account.get(account)

    def exists(self, account: str) -> bool:
        return account in self._index.by_account

    def name_of(self, account: str) -> str:
        """The account's name; "" for an account not (or no longer) in the store."""
        found = self._index.by_account.get(account)
        return found.name if found is not None else ""

    def get(self, account: str) -> dict[str, Any]:
        item = self.find(account) if isinstance(account, str) else None
        if item is None:
            raise NotFound(N_("No such account: %(account)s."), account=account)
        return item.public(self.domain(), self.zone())

    def find_all(self, search: str = "", limit: int | None = 20, offset: int = 0,
                 order: str = "account", direction: str = "asc") -> dict[str, Any]:
        """{items, total, filtered}: search is a case-insensitive substring of the name,
        the account or the e-mail."""
        rules.validate({"order": order, "direction": direction}, SORT_FIELDS)
        index = self._index
        needle = (search or "").strip().lower()
        found = index.matching(needle) if needle else list(index.ordered)
        if order != "account":
            found.sort(key=lambda a: (getattr(a, order), a.account))
        if direction == "desc":
            found.reverse()
        end = None if limit is None else offset + limit
        domain, zone = self.domain(), self.zone()
        return {"items": [a.public(domain, zone) for a in found[offset:end]],
                "total": len(index.ordered), "filtered": len(found)}

    def directory_entry(self, account: str, domain: str) -> Account | None:
        """The account FreeSWITCH may authenticate in domain (the current one), or None."""
        item = self._index.by_account.get(account)
        if item is None or item.domain.lower() != domain.lower():
            return None
        if domain.lower() != self.domain().lower():
            return None
        return item

    # -- writes ----------------------------------------------------------------------

    def _require_license(self) -> None:
        if not self.licenses.valid():
            raise Conflict(N_("No valid license: activate one before creating accounts."))

    def _require_room(self, adding: int) -> None:
        if self.count() + adding > MAX_ACCOUNTS:
            raise Conflict(N_("At most %(max)s accounts are allowed; there are %(count)s."),
                           max=f"{MAX_ACCOUNTS:,}", count=self.count())

    def create(self, data: Any) -> tuple[dict[str, Any], str]:
        """E2: a new account with a generated password; (the account, the password).

        The e-mail is optional, as in the import (E3): without one the account's details
        cannot be mailed, only shown."""
        optional_email = rules.Field(rules.optional_email, required=False)
        clean = rules.validate(data, {"name": rules.account_name, "account": rules.account,
                                      "email": optional_email})
        clean.setdefault("email", "")
        self._require_license()
        password = generate_password()
        with self.docs.lock:
            self._require_room(1)
            if self.exists(clean["account"]):
                raise ValidationError(details={"account": N_("This account already exists.")})
            domain = self.domain()
            item = Account(clean["account"], clean["name"], clean["email"], self.clock(),
                           domain, a1_hash(clean["account"], domain, password))
            self._commit([item])
        self._notify_change([item.account])
        return item.public(domain, self.zone()), password

    def update(self, account: str, data: Any) -> dict[str, Any]:
        """E6: name and e-mail; the account number is read-only."""
        current = self.find(account)
        if current is None:
            raise NotFound(N_("No such account: %(account)s."), account=account)
        if isinstance(data, Mapping) and "account" in data:
            if data["account"] != account:
                raise ValidationError(details={
                    "account": N_("The account number cannot be changed.")})
            data = {k: v for k, v in data.items() if k != "account"}
        clean = rules.validate(data, {"name": rules.account_name,
                                      "email": rules.optional_email}, partial=True)
        with self.docs.lock:
            current = self.find(account)
            if current is None:
                raise NotFound(N_("No such account: %(account)s."), account=account)
            item = Account(account, clean.get("name", current.name),
                           clean.get("email", current.email), current.created,
                           current.domain, current.a1_hash)
            changed = item != current
            if changed:
                self._commit([item])
        if changed:
            self._notify_change([account])
        return item.public(self.domain(), self.zone())

    def reset_password(self, account: str) -> tuple[dict[str, Any], str]:
        """E6: a new generated password (for the current domain); (the account, it)."""
        password = generate_password()
        with self.docs.lock:
            current = self.find(account)
            if current is None:
                raise NotFound(N_("No such account: %(account)s."), account=account)
            domain = self.domain()
            item = Account(account, current.name, current.email, current.created, domain,
                           a1_hash(account, domain, password))
            self._commit([item])
        self._notify_change([account])
        return item.public(domain, self.zone()), password

    def delete_many(self, accounts: Any) -> list[str]:
        """E7: delete these accounts (absent ones are fine); the ones that were deleted."""
        wanted = _accounts_list(accounts)
        with self.docs.lock:
            gone = [a for a in wanted if self.exists(a)]
            self._commit(deletes=gone)
        if gone:
            for callback in self.on_delete:
                try:
                    callback(set(gone))
                except Exception:
                    log.exception("account delete callback failed")
            self._notify_change(gone)
        return gone

    def import_rows(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        """E3/E8: create or update accounts from spreadsheet rows, all or nothing.

        Each row has name, account, email, password and "row" (its row number in the
        spreadsheet, used in the error keys "rows.<row>.<field>"). Every bad row is named
        in one ValidationError; nothing is written unless every row is good.
        """
        if not isinstance(rows, list) or not rows:
            raise ValidationError(N_("The file has no accounts."))
        if len(rows) > MAX_IMPORT_ROWS:
            raise ValidationError(N_("At most %(max)s accounts per import; the file has "
                                     "%(count)s."), max=MAX_IMPORT_ROWS, count=len(rows))
        checks = {"name": rules.account_name, "account": rules.account,
                  "email": rules.optional_email, "password": rules.login_password}
        details: dict[str, Message] = {}
        clean_rows: list[tuple[Any, dict[str, str]]] = []
        seen: dict[str, list[Any]] = {}
        for i, row in enumerate(rows):
            row = row if isinstance(row, Mapping) else {}
            number = row.get("row", i + 1)
            clean: dict[str, str] = {}
            for field, check in checks.items():
                value = _cell(row.get(field))
                if value.strip() == "" and field != "email":
                    details[f"rows.{number}.{field}"] = N_("Required.")
                    continue
                try:
                    clean[field] = check(value)
                except rules.FieldError as exc:
                    details[f"rows.{number}.{field}"] = exc.message
            if "account" in clean:
                seen.setdefault(clean["account"], []).append(number)
            clean_rows.append((number, clean))
        for account, numbers in seen.items():
            if len(numbers) > 1:
                for number in numbers:
                    details.setdefault(f"rows.{number}.account", (
                        N_("Account %(account)s is in the file more than once (rows "
                           "%(rows)s)."), {"account": account,
                                           "rows": ", ".join(map(str, numbers))}))
        if details:
            raise ValidationError(N_("The file has errors: nothing was imported."),
                                  details=details)

        with self.docs.lock:
            domain = self.domain()
            now = self.clock()
            new = [c for _, c in clean_rows if not self.exists(c["account"])]
            if new:
                self._require_license()
                self._require_room(len(new))
            upserts: list[Account] = []
            report: list[dict[str, Any]] = []
            counts = {"created": 0, "updated": 0, "unchanged": 0}
            for _, c in clean_rows:
                current = self.find(c["account"])
                item = Account(c["account"], c["name"], c["email"],
                               current.created if current else now, domain,
                               a1_hash(c["account"], domain, c["password"]))
                status = ("created" if current is None
                          else "unchanged" if item == current else "updated")
                counts[status] += 1
                if status != "unchanged":
                    upserts.append(item)
                report.append({**item.public(domain, self.zone()), "status": status})
            self._commit(upserts)
        self._notify_change(item.account for item in upserts)
        return {**counts, "accounts": report}

    # -- mail ------------------------------------------------------------------------

    def server_info(self) -> dict[str, Any]:
        """Where terminals and users reach the appliance (for the mail and the UI)."""
        network = self.settings.stored("network")
        services = self.settings.stored("services")
        public_ip = network["nat"]["public_ip"] if network["nat"]["enabled"] else ""
        domain = network["domain"]
        address = lan_address(network) or public_ip or domain
        return {"domain": domain, "address": address, "sip_port": services["sip_port"],
                "sip_tls_port": services["sip_tls_port"]}

    def portal_url(self) -> str:
        """The web address users open, from the services settings."""
        info = self.server_info()
        services = self.settings.stored("services")
        if services["https_enabled"]:
            port = services["https_port"]
            return f"https://{info['address']}" + ("" if port == 443 else f":{port}") + "/"
        port = services["http_port"]
        return f"http://{info['address']}" + ("" if port == 80 else f":{port}") + "/"

    def mail_text(self, item: Account, language: str, password: str | None,
                  portal_url: str) -> tuple[str, str]:
        info = self.server_info()
        values = {"name": item.name, "account": item.account, "domain": info["domain"],
                  "address": info["address"], "port": info["sip_port"],
                  "portal": portal_url, "devices": MAX_DEVICES}
        subject = translate(language, N_("Your video conferencing account %(account)s"),
                            account=item.account)
        if password is not None:
            body = translate(language, N_(
                "Hello %(name)s,\n\n"
                "here are the details of your video conferencing account.\n\n"
                "Account: %(account)s\n"
                "Password: %(password)s\n"
                "SIP server (domain): %(domain)s\n"
                "Server address: %(address)s, SIP port %(port)s\n"
                "Web portal: %(portal)s\n\n"
                "Sign in on your video terminal or in the web portal with this account and "
                "password; up to %(devices)s devices can be signed in at the same time.\n"
                "Keep this mail private."), password=password, **values)
        else:
            body = translate(language, N_(
                "Hello %(name)s,\n\n"
                "here are the details of your video conferencing account.\n\n"
                "Account: %(account)s\n"
                "SIP server (domain): %(domain)s\n"
                "Server address: %(address)s, SIP port %(port)s\n"
                "Web portal: %(portal)s\n\n"
                "Sign in on your video terminal or in the web portal with this account and "
                "your password; up to %(devices)s devices can be signed in at the same time.\n"
                "If you do not know your password, ask your administrator to reset it."),
                **values)
        return subject, body

    def send_mail(self, accounts: Any, language: str,
                  passwords: Mapping[str, str] | None = None,
                  portal_url: str = "") -> list[dict[str, Any]]:
        """E5: the account mail to each account's e-mail, in the admin's language; with the
        password only where it is given (right after create / reset / import).

        One result per account, in order: {account, email, ok, error} (error: a msgid or
        the SMTP server's own words). A password that does not match the account's hash
        is refused for that recipient. Raises Conflict before sending anything when SMTP
        is not set up.
        """
        wanted = _accounts_list(accounts)
        if passwords is not None and not isinstance(passwords, Mapping):
            raise ValidationError(details={"passwords": N_("Must be an object.")})
        passwords = passwords or {}
        portal_url = portal_url or self.portal_url()
        results: list[dict[str, Any]] = []
        outgoing: list[tuple[int, str, str, str]] = []
        for account in wanted:
            item = self.find(account)
            if item is None:
                results.append({"account": account, "email": "", "ok": False,
                                "error": N_("No such account.")})
                continue
            if not item.email:
                results.append({"account": account, "email": "", "ok": False,
                                "error": N_("This account has no e-mail address.")})
                continue
            password = passwords.get(account)
            if password is not None and (not isinstance(password, str) or a1_hash(
                    account, item.domain, password) != item.a1_hash):
                # Only the account's real password goes out (the caller may be a browser
                # handing back the password it was shown).
                results.append({"account": account, "email": item.email, "ok": False,
                                "error": N_("The password does not match the account.")})
                continue
            subject, body = self.mail_text(item, language, password, portal_url)
            results.append({"account": account, "email": item.email, "ok": True,
                            "error": None})
            outgoing.append((len(results) - 1, item.email, subject, body))
        if outgoing:
            errors = self.mailer.send_many([(to, subject, body)
                                            for _, to, subject, body in outgoing], language)
            for (position, *_), error in zip(outgoing, errors, strict=True):
                if error is not None:
                    results[position].update(ok=False, error=error)
        return results
