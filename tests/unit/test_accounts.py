"""Enterprise accounts (E1-E8) in the domain layer: a1-hash, passwords never stored, the
10,000 limit, search, all-or-nothing import naming every bad row, callbacks, the index."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from controlplane import accounts as accounts_mod
from controlplane.accounts import MAX_ACCOUNTS, Accounts, a1_hash, generate_password
from controlplane.errors import Conflict, NotFound, ValidationError
from controlplane.settings import Settings
from controlplane.store import Documents

DOMAIN = "vcbox.local"  # the network section's default


class StubLicenses:
    def __init__(self, valid: bool = True) -> None:
        self.ok = valid

    def valid(self) -> bool:
        return self.ok


class StubMailer:
    """Records what would go out; fails for addresses listed in `refuse`."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []
        self.refuse: dict[str, str] = {}

    def send_many(self, mails: list[tuple[str, str, str]], language: str) -> list[str | None]:
        results: list[str | None] = []
        for to, subject, body in mails:
            if to in self.refuse:
                results.append(self.refuse[to])
            else:
                self.sent.append((to, subject, body))
                results.append(None)
        return results


class Recorder:
    def __init__(self, accounts: Accounts) -> None:
        self.changed: list[str] = []
        self.deleted: list[set[str]] = []
        accounts.on_change.append(self.changed.append)
        accounts.on_delete.append(self.deleted.append)


@pytest.fixture
def docs(tmp_path: Path) -> Documents:
    return Documents(tmp_path / "documents.json")


@pytest.fixture
def licenses() -> StubLicenses:
    return StubLicenses()


@pytest.fixture
def mailer() -> StubMailer:
    return StubMailer()


@pytest.fixture
def accounts(docs: Documents, licenses: StubLicenses, mailer: StubMailer) -> Accounts:
    return Accounts(docs, Settings(docs), licenses, mailer, clock=lambda: 1_700_000_000.0)


def new(accounts: Accounts, account: str = "1001", name: str = "Alice",
        email: str = "alice@example.com") -> tuple[dict[str, Any], str]:
    return accounts.create({"name": name, "account": account, "email": email})


def stored(docs: Documents) -> dict[str, dict[str, Any]]:
    return json.loads(docs.storage.path.read_text())["accounts"]


def fill(docs: Documents, count: int, start: int = 0) -> None:
    """count accounts written straight into the store in one batch (cheap)."""
    with docs.batch() as batch:
        rows = batch.rows(accounts_mod.TABLE)
        for i in range(start, start + count):
            number = f"{i:04d}"
            rows[number] = {"account": number, "name": f"User {number}",
                            "email": f"user{number}@example.com", "created": 1.0 + i,
                            "domain": DOMAIN, "a1_hash": a1_hash(number, DOMAIN, "Secret12")}


def row(number: int, account: str, name: str = "Bob", email: str = "",
        password: str = "Pass-1234") -> dict[str, Any]:
    return {"row": number, "name": name, "account": account, "email": email,
            "password": password}


# -- passwords and hashes ----------------------------------------------------------------

def test_a1_hash_is_md5_of_account_domain_password(accounts: Accounts, docs: Documents) -> None:
    item, password = new(accounts)
    expected = hashlib.md5(f"1001:{DOMAIN}:{password}".encode()).hexdigest()
    assert stored(docs)["1001"]["a1_hash"] == expected
    assert stored(docs)["1001"]["domain"] == DOMAIN
    assert accounts.directory_entry("1001", DOMAIN).a1_hash == expected
    assert item == {"account": "1001", "name": "Alice", "email": "alice@example.com",
                    "created": 1_700_000_000.0, "created_time": item["created_time"],
                    "needs_reset": False}
    assert "a1_hash" not in item and "password" not in item


def test_generated_passwords_follow_r1() -> None:
    seen = set()
    for _ in range(300):
        password = generate_password()
        assert 6 <= len(password) <= 16
        assert re.fullmatch(r"[A-Za-z0-9]+", password)
        assert not set(password) & set("0Oo1lI")
        assert re.search(r"[a-z]", password) and re.search(r"[A-Z]", password)
        assert re.search(r"[0-9]", password)
        seen.add(password)
    assert len(seen) == 300


def test_clear_passwords_are_never_stored(accounts: Accounts, docs: Documents) -> None:
    _, first = new(accounts)
    _, reset = accounts.reset_password("1001")
    imported = "Imp0rted-Pw"
    accounts.import_rows([row(2, "1002", password=imported)])
    text = docs.storage.path.read_text()
    assert first != reset
    for password in (first, reset, imported):
        assert password not in text
    for doc in stored(docs).values():
        assert set(doc) == {"account", "name", "email", "created", "domain", "a1_hash"}
    # The hash is the reset password's now: the first one no longer works.
    assert stored(docs)["1001"]["a1_hash"] == a1_hash("1001", DOMAIN, reset)


# -- create, validation, license, limit ----------------------------------------------------

def test_create_checks_every_field(accounts: Accounts, docs: Documents) -> None:
    with pytest.raises(ValidationError) as err:
        accounts.create({"name": "", "account": "12a4", "email": "not-a-mail", "x": 1})
    assert set(err.value.details) == {"name", "account", "email", "x"}
    with pytest.raises(ValidationError) as err:
        accounts.create({"name": "A" * 129, "account": "12345", "email": "a<b@example.com"})
    assert set(err.value.details) == {"name", "account", "email"}
    with pytest.raises(ValidationError) as err:
        accounts.create({"name": "Alice"})
    assert set(err.value.details) == {"account"}  # the e-mail is optional (as in E3)
    with pytest.raises(ValidationError) as err:
        accounts.create({"name": 'Jane "JD"\n', "account": "1001"})
    assert set(err.value.details) == {"name"}
    assert accounts.count() == 0
    assert "accounts" not in json.loads(docs.storage.path.read_text() or "{}")


def test_create_and_import_share_the_name_and_email_rules(accounts: Accounts) -> None:
    """R5 (one name rule with rooms) and the e-mail optional, in create as in import."""
    item, _ = accounts.create({"name": "张三（销售部）", "account": "1001"})
    assert (item["name"], item["email"]) == ("张三（销售部）", "")
    item, _ = accounts.create({"name": "李四（前台）", "account": "1002", "email": ""})
    assert item["email"] == ""
    accounts.import_rows([row(2, "1003", name="王五（财务）")])
    assert accounts.get("1003")["name"] == "王五（财务）" and accounts.get("1003")["email"] == ""
    for bad in ('Jane "JD"', "a\\b", "two\nlines"):
        with pytest.raises(ValidationError) as err:
            accounts.create({"name": bad, "account": "1009"})
        assert set(err.value.details) == {"name"}
        with pytest.raises(ValidationError) as err:
            accounts.import_rows([row(2, "1009", name=bad)])
        assert set(err.value.details) == {"rows.2.name"}
    assert accounts.count() == 3


def test_create_refuses_a_duplicate(accounts: Accounts) -> None:
    new(accounts)
    with pytest.raises(ValidationError) as err:
        new(accounts, name="Mallory", email="m@example.com")
    assert set(err.value.details) == {"account"}
    assert accounts.get("1001")["name"] == "Alice"


def test_create_needs_a_valid_license(accounts: Accounts, licenses: StubLicenses,
                                      docs: Documents) -> None:
    licenses.ok = False
    with pytest.raises(Conflict) as err:
        new(accounts)
    assert err.value.message == "No valid license: activate one before creating accounts."
    assert accounts.count() == 0
    with pytest.raises(Conflict):
        accounts.import_rows([row(2, "1001")])
    assert accounts.count() == 0
    # Without a license, what exists can still be edited, reset and deleted.
    licenses.ok = True
    new(accounts)
    licenses.ok = False
    accounts.update("1001", {"name": "Alice B"})
    accounts.reset_password("1001")
    accounts.import_rows([row(2, "1001", name="Alice C")])  # updates only: no license needed
    assert accounts.get("1001")["name"] == "Alice C"
    assert accounts.delete_many(["1001"]) == ["1001"]


def test_at_most_ten_thousand_accounts(docs: Documents, licenses: StubLicenses,
                                       mailer: StubMailer) -> None:
    fill(docs, MAX_ACCOUNTS - 1)                      # 0000 ... 9998
    accounts = Accounts(docs, Settings(docs), licenses, mailer)
    assert accounts.count() == MAX_ACCOUNTS - 1
    new(accounts, account="9999")
    assert accounts.count() == MAX_ACCOUNTS
    with pytest.raises(Conflict) as err:
        accounts.create({"name": "One more", "account": "9998", "email": "x@example.com"})
    assert err.value.params == {"max": "10,000", "count": MAX_ACCOUNTS}
    # Updates by import are fine at the limit.
    result = accounts.import_rows([row(2, "0001", name="Changed")])
    assert result["updated"] == 1 and accounts.get("0001")["name"] == "Changed"
    # Deleting makes room again.
    accounts.delete_many(["0001", "0002"])
    new(accounts, account="0002")
    assert accounts.count() == MAX_ACCOUNTS - 1


def test_the_limit_counts_what_an_import_adds(accounts: Accounts, monkeypatch) -> None:
    # Four digits give exactly 10,000 numbers, so the real limit can only be met, never
    # passed: check the rule itself with a smaller limit.
    monkeypatch.setattr(accounts_mod, "MAX_ACCOUNTS", 3)
    new(accounts, "1001")
    new(accounts, "1002", email="b@example.com")
    with pytest.raises(Conflict):
        accounts.import_rows([row(2, "1001"), row(3, "1003"), row(4, "1004")])
    assert accounts.count() == 2 and accounts.get("1001")["name"] == "Alice"
    result = accounts.import_rows([row(2, "1001"), row(3, "1002"), row(4, "1003")])
    assert (result["created"], result["updated"]) == (1, 2)
    with pytest.raises(Conflict):
        new(accounts, "1004")


# -- list and search -----------------------------------------------------------------------

def test_search_is_a_case_insensitive_substring_of_name_account_or_email(
        accounts: Accounts) -> None:
    new(accounts, "1001", "Alice Wang", "alice@example.com")
    new(accounts, "1002", "王小明", "xiaoming@corp.example")
    new(accounts, "2001", "Bob", "BOB@Example.org")
    new(accounts, "3100", "Carol", "carol@example.com")

    def accounts_of(search: str, **kw: Any) -> list[str]:
        return [i["account"] for i in accounts.find_all(search, **kw)["items"]]

    assert accounts_of("") == ["1001", "1002", "2001", "3100"]
    assert accounts_of("ALICE") == ["1001"]
    assert accounts_of("小明") == ["1002"]
    assert accounts_of("100") == ["1001", "1002", "3100"]
    assert accounts_of("00") == ["1001", "1002", "2001", "3100"]
    assert accounts_of("example.org") == ["2001"]
    assert accounts_of("corp") == ["1002"]
    assert accounts_of("nobody") == []
    page = accounts.find_all("example", limit=2, offset=1)
    assert [i["account"] for i in page["items"]] == ["1002", "2001"]
    assert (page["total"], page["filtered"]) == (4, 4)
    assert accounts.find_all("a", limit=1)["filtered"] == 4
    assert accounts_of("", order="name") == ["1001", "2001", "3100", "1002"]
    assert accounts_of("", order="name", direction="desc")[0] == "1002"
    with pytest.raises(ValidationError):
        accounts.find_all(order="a1_hash")


def test_search_at_ten_thousand_accounts(docs: Documents, licenses: StubLicenses,
                                         mailer: StubMailer) -> None:
    # How fast: bench/accounts.py (speed is measured there, not in tests).
    fill(docs, MAX_ACCOUNTS)
    accounts = Accounts(docs, Settings(docs), licenses, mailer)
    for needle in ["user", "99", "example.com", "nomatch", "0042", "", "USER 12"]:
        assert accounts.find_all(needle, limit=20)["total"] == MAX_ACCOUNTS
    assert accounts.find_all("0042")["filtered"] == 1
    assert accounts.find_all("USER 12")["filtered"] == 100  # User 1200 ... User 1299


# -- edit, reset, delete, callbacks --------------------------------------------------------

def test_update_changes_name_and_email_only(accounts: Accounts) -> None:
    new(accounts)
    calls = Recorder(accounts)
    item = accounts.update("1001", {"name": "Alice Wang", "email": "AW@Example.com"})
    assert (item["name"], item["email"]) == ("Alice Wang", "aw@example.com")
    assert calls.changed == ["1001"]
    # Sending the (same) account number along is fine; changing it is not.
    accounts.update("1001", {"account": "1001", "name": "Alice Wang"})
    assert calls.changed == ["1001"]  # nothing changed: no flush
    with pytest.raises(ValidationError) as err:
        accounts.update("1001", {"account": "1002"})
    assert set(err.value.details) == {"account"}
    with pytest.raises(ValidationError) as err:
        accounts.update("1001", {"name": "", "email": "bad", "password": "x"})
    assert set(err.value.details) == {"name", "email", "password"}
    with pytest.raises(NotFound):
        accounts.update("1009", {"name": "X"})
    assert accounts.get("1001")["name"] == "Alice Wang"


def test_callbacks_follow_every_change(accounts: Accounts) -> None:
    calls = Recorder(accounts)
    new(accounts, "1001")
    new(accounts, "1002", email="b@example.com")
    accounts.reset_password("1002")
    accounts.import_rows([row(2, "1003"), row(3, "1001", name="Alice")])
    assert calls.changed == ["1001", "1002", "1002", "1003", "1001"]
    calls.changed.clear()
    # Desired state: absent accounts are fine, and are not reported.
    assert accounts.delete_many(["1001", "1003", "4444", "1001"]) == ["1001", "1003"]
    assert calls.deleted == [{"1001", "1003"}]
    assert calls.changed == ["1001", "1003"]
    assert accounts.delete_many(["1001"]) == []
    assert calls.deleted == [{"1001", "1003"}]
    assert accounts.directory_entry("1001", DOMAIN) is None
    with pytest.raises(NotFound):
        accounts.get("1001")
    with pytest.raises(ValidationError) as err:
        accounts.delete_many(["1002", "12"])
    assert set(err.value.details) == {"accounts.1"}
    assert accounts.exists("1002")


def test_a_failing_callback_does_not_undo_the_change(accounts: Accounts) -> None:
    def boom(_: Any) -> None:
        raise RuntimeError("FreeSWITCH is away")

    accounts.on_change.append(boom)
    accounts.on_delete.append(boom)
    new(accounts)
    assert accounts.delete_many(["1001"]) == ["1001"]
    assert accounts.count() == 0


def test_a_failed_write_leaves_store_and_index_unchanged(accounts: Accounts,
                                                         docs: Documents,
                                                         monkeypatch) -> None:
    new(accounts)
    before = docs.storage.path.read_bytes()

    def broken(data: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(docs.storage, "write", broken)
    with pytest.raises(OSError):
        new(accounts, "1002")
    with pytest.raises(OSError):
        accounts.delete_many(["1001"])
    assert accounts.count() == 1 and not accounts.exists("1002")
    assert docs.storage.path.read_bytes() == before


def test_the_index_is_rebuilt_from_the_store(accounts: Accounts, docs: Documents,
                                             licenses: StubLicenses,
                                             mailer: StubMailer) -> None:
    new(accounts, "1001")
    new(accounts, "1002", email="b@example.com")
    accounts.delete_many(["1001"])
    again = Accounts(Documents(docs.storage.path), Settings(docs), licenses, mailer)
    assert [i["account"] for i in again.find_all()["items"]] == ["1002"]
    assert again.directory_entry("1002", DOMAIN) == accounts.directory_entry("1002", DOMAIN)


# -- the domain ------------------------------------------------------------------------------

def test_a_domain_change_asks_for_a_password_reset(accounts: Accounts, docs: Documents) -> None:
    new(accounts)
    Settings(docs).put("network", {"domain": "vc.example.com"})
    assert accounts.get("1001")["needs_reset"] is True
    # The stored hash is for the old domain: FreeSWITCH gets no answer for either.
    assert accounts.directory_entry("1001", "vc.example.com") is None
    assert accounts.directory_entry("1001", DOMAIN) is None
    item, password = accounts.reset_password("1001")
    assert item["needs_reset"] is False
    entry = accounts.directory_entry("1001", "VC.example.com")
    assert entry is not None and entry.a1_hash == a1_hash("1001", "vc.example.com", password)


# -- import ----------------------------------------------------------------------------------

def test_import_is_all_or_nothing_and_names_every_bad_row(accounts: Accounts,
                                                          docs: Documents) -> None:
    new(accounts, "1001")
    calls = Recorder(accounts)
    before = docs.storage.path.read_bytes()
    rows = [
        row(2, "2001", name="Good One"),
        row(3, "20x1"),                                   # R4
        row(4, "2003", name="", password=""),             # name and password required
        row(5, "2004", email="no-at-sign"),               # R3
        row(6, "2005", password="12345"),                 # R1: too short
        row(7, "2006", password="x" * 17),                # R1: too long
        row(8, "2007", name="N" * 129),                   # R5
        row(9, "2002"),                                   # a duplicate in the file ...
        row(10, "2002", name="Twice"),                    # ... named in both rows
        row(11, "2008", name="Fine Too", email="ok@example.com"),
    ]
    with pytest.raises(ValidationError) as err:
        accounts.import_rows(rows)
    assert set(err.value.details) == {
        "rows.3.account", "rows.4.name", "rows.4.password", "rows.5.email",
        "rows.6.password", "rows.7.password", "rows.8.name", "rows.9.account",
        "rows.10.account"}
    message, params = err.value.details["rows.9.account"]
    assert params == {"account": "2002", "rows": "9, 10"}
    assert docs.storage.path.read_bytes() == before
    assert accounts.count() == 1 and calls.changed == []


def test_import_takes_spreadsheet_numbers_and_refuses_too_many_rows(accounts: Accounts) -> None:
    result = accounts.import_rows([{"row": 2, "name": "Num", "account": 1001.0,
                                    "email": None, "password": 12345678}])
    assert result["created"] == 1
    entry = accounts.directory_entry("1001", DOMAIN)
    assert entry.a1_hash == a1_hash("1001", DOMAIN, "12345678")
    with pytest.raises(ValidationError):
        accounts.import_rows([row(i + 2, f"{i:04d}") for i in range(1001)])
    with pytest.raises(ValidationError):
        accounts.import_rows([])


def test_re_import_updates_changed_rows(accounts: Accounts, docs: Documents) -> None:
    calls = Recorder(accounts)
    first = accounts.import_rows([
        row(2, "3001", name="Ann", email="ann@example.com", password="Ann-pass1"),
        row(3, "3002", name="Ben", email="", password="Ben-pass1"),
        row(4, "3003", name="Cat", email="cat@example.com", password="Cat-pass1"),
    ])
    assert (first["created"], first["updated"], first["unchanged"]) == (3, 0, 0)
    assert [a["status"] for a in first["accounts"]] == ["created"] * 3
    assert calls.changed == ["3001", "3002", "3003"]
    created = stored(docs)["3001"]["created"]
    calls.changed.clear()
    second = accounts.import_rows([
        row(2, "3001", name="Ann", email="ann@example.com", password="Ann-pass1"),
        row(3, "3002", name="Ben Li", email="ben@example.com", password="Ben-pass1"),
        row(4, "3003", name="Cat", email="cat@example.com", password="Cat-pass2"),
        row(5, "3004", name="Dan", password="Dan-pass1"),
    ])
    assert (second["created"], second["updated"], second["unchanged"]) == (1, 2, 1)
    assert {a["account"]: a["status"] for a in second["accounts"]} == {
        "3001": "unchanged", "3002": "updated", "3003": "updated", "3004": "created"}
    assert sorted(calls.changed) == ["3002", "3003", "3004"]
    assert accounts.get("3002")["email"] == "ben@example.com"
    assert stored(docs)["3003"]["a1_hash"] == a1_hash("3003", DOMAIN, "Cat-pass2")
    assert stored(docs)["3001"]["created"] == created


# -- mail --------------------------------------------------------------------------------------

def test_account_mail_per_recipient(accounts: Accounts, mailer: StubMailer) -> None:
    _, password = new(accounts, "1001", "Alice", "alice@example.com")
    new(accounts, "1002", "Bob", "bob@example.com")
    accounts.import_rows([row(2, "1003", name="Nomail")])
    mailer.refuse["bob@example.com"] = "550 mailbox unavailable"
    results = accounts.send_mail(["1001", "1002", "1003", "4040"], "en",
                                 passwords={"1001": password}, portal_url="https://vc/")
    assert [(r["account"], r["ok"]) for r in results] == [
        ("1001", True), ("1002", False), ("1003", False), ("4040", False)]
    assert results[1]["error"] == "550 mailbox unavailable"
    assert results[2]["error"] == "This account has no e-mail address."
    assert results[3]["error"] == "No such account."
    [(to, subject, body)] = mailer.sent
    assert to == "alice@example.com" and "1001" in subject
    for text in ("Alice", "1001", password, DOMAIN, "https://vc/"):
        assert text in body
    # Without a password (a plain "send mail"), none is in the mail.
    mailer.sent.clear()
    accounts.send_mail(["1001"], "en")
    assert password not in mailer.sent[0][2] and "reset" in mailer.sent[0][2]
    # A password that is not the account's never goes out.
    mailer.sent.clear()
    [result] = accounts.send_mail(["1001"], "en", passwords={"1001": "Guessed-123"})
    assert not result["ok"] and mailer.sent == []
    with pytest.raises(ValidationError):
        accounts.send_mail([], "en")
