"""Batch import files (E3, E8): the template, reading .xls and .xlsx made here with xlwt and
openpyxl, the limits (1,000 rows, 5 MB, zip bombs, far-away cells), the fixed header, cells
as text, and all-or-nothing imports through the real Accounts with a per-row error list."""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import xlrd
import xlwt

from controlplane import account_import as ai
from controlplane.accounts import Accounts
from controlplane.config import Config
from controlplane.errors import TooLarge, ValidationError
from controlplane.license import Licenses
from controlplane.mail import Mailer
from controlplane.settings import Settings
from controlplane.store import Documents

HEADER = list(ai.HEADER)


def people(count: int, start: int = 1000) -> list[list[Any]]:
    return [[f"User {i}", str(start + i), f"user{i}@example.com", f"Secret-{i:04d}"]
            for i in range(count)]


def make_xls(rows: list[list[Any]], header: list[Any] | None = None) -> bytes:
    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("Accounts")
    for r, values in enumerate([header or HEADER, *rows]):
        for c, value in enumerate(values):
            if value is not None:
                sheet.write(r, c, value)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def make_xlsx(rows: list[list[Any]], header: list[Any] | None = None,
              formats: dict[str, str] | None = None) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    for values in [header or HEADER, *rows]:
        sheet.append(values)
    for ref, number_format in (formats or {}).items():
        sheet[ref].number_format = number_format
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def refused(data: bytes) -> str:
    """The message a file is refused with (the "file" detail, untranslated)."""
    with pytest.raises(ValidationError) as exc:
        ai.read(data)
    detail = exc.value.details["file"]
    return detail[0] % detail[1] if isinstance(detail, tuple) else detail


def text(message: Any) -> str:
    return message[0] % message[1] if isinstance(message, tuple) else message


class License:
    """A license that is always valid (the license itself is tested elsewhere)."""

    def __init__(self, docs: Documents, config: Config) -> None:
        self.real = Licenses(docs, config)

    def valid(self) -> bool:
        return True

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


@pytest.fixture
def accounts(tmp_path: Path):
    docs = Documents(tmp_path / "documents.json")
    config = Config(data_dir=tmp_path, root=tmp_path / "root")
    settings = Settings(docs)
    yield Accounts(docs, settings, License(docs, config), Mailer(settings))
    docs.close()


# -- the template ---------------------------------------------------------------------

def test_template_is_an_xls_with_the_fixed_header_only() -> None:
    data = ai.template()
    assert data.startswith(ai.OLE2_MAGIC)
    sheet = xlrd.open_workbook(file_contents=data).sheet_by_index(0)
    assert sheet.nrows == 1
    assert sheet.row_values(0) == HEADER
    assert "file has no accounts" in refused(data)


def test_header_words_in_either_language_are_recognised() -> None:
    for header in (["Name", "Account", "E-mail", "Password"],
                   ["名称", "账号", "邮箱", "密码"],
                   ["*姓名", "*帐号", "邮箱地址", "*密码"],
                   ["NAME (名称)", "account", "email", " password "]):
        sheet = ai.read(make_xlsx(people(1), header=header))
        assert [r["account"] for r in sheet.rows] == ["1000"]


@pytest.mark.parametrize("header", [
    ["Account", "Name", "E-mail", "Password"],       # columns swapped
    ["名称 Name", "账号 Account", "密码 Password"],    # a column missing
    ["User", "Number", "Mail", "Secret"],             # someone else's words
])
def test_a_wrong_header_is_refused(header: list[str]) -> None:
    assert "header row" in refused(make_xlsx(people(2), header=header))
    assert "header row" in refused(make_xls(people(2), header=header))


def test_a_file_without_header_row_is_refused() -> None:
    # The accounts start in row 1: the first account is taken for a header and refused.
    book = openpyxl.Workbook()
    for values in people(3):
        book.active.append(values)
    out = io.BytesIO()
    book.save(out)
    assert "header row" in refused(out.getvalue())


# -- reading rows -----------------------------------------------------------------------

@pytest.mark.parametrize("make", [make_xls, make_xlsx], ids=["xls", "xlsx"])
def test_1000_rows_are_read_with_their_row_numbers(make) -> None:
    start = time.perf_counter()
    sheet = ai.read(make(people(1000)))
    assert time.perf_counter() - start < 2
    assert len(sheet.rows) == 1000 and not sheet.problems
    assert sheet.rows[0] == {"row": 2, "name": "User 0", "account": "1000",
                             "email": "user0@example.com", "password": "Secret-0000"}
    assert sheet.rows[-1]["row"] == 1001 and sheet.rows[-1]["account"] == "1999"


@pytest.mark.parametrize("make", [make_xls, make_xlsx], ids=["xls", "xlsx"])
def test_1001_rows_are_refused_whole(make) -> None:
    message = refused(make(people(1001)))
    assert "at most 1000 accounts" in message and "has 1001" in message


@pytest.mark.parametrize("make", [make_xls, make_xlsx], ids=["xls", "xlsx"])
def test_blank_rows_are_ignored_and_rows_keep_their_numbers(make) -> None:
    rows = [*people(2), [None, None, None, None], ["", " ", None, ""], *people(1, 3000)]
    rows += [[None] * 4] * 50 + [["", "", "", ""]] * 20  # trailing blank rows
    sheet = ai.read(make(rows))
    assert [(r["row"], r["account"]) for r in sheet.rows] == [(2, "1000"), (3, "1001"),
                                                               (6, "3000")]
    # 1,000 accounts and any number of blank rows after them are fine.
    assert len(ai.read(make(people(1000) + [[None] * 4] * 300)).rows) == 1000


@pytest.mark.parametrize("make", [make_xls, make_xlsx], ids=["xls", "xlsx"])
def test_numbers_typed_as_numbers_become_text(make) -> None:
    rows = [["Ann", 1001, "ann@example.com", 123456],
            ["Bob", 1002.0, "bob@example.com", "00123456"],   # text keeps its zeros
            ["Cy", "0013", "", 98765432.0],                   # account typed as text
            [2024, 1004, "dee@example.com", "Passw0rd"]]      # a number as a name
    sheet = ai.read(make(rows))
    assert not sheet.problems
    assert [(r["name"], r["account"], r["email"], r["password"]) for r in sheet.rows] == [
        ("Ann", "1001", "ann@example.com", "123456"),
        ("Bob", "1002", "bob@example.com", "00123456"),
        ("Cy", "0013", "", "98765432"),
        ("2024", "1004", "dee@example.com", "Passw0rd")]


@pytest.mark.parametrize("make", [make_xls, make_xlsx], ids=["xls", "xlsx"])
def test_an_account_that_lost_its_leading_zeros_is_named(make) -> None:
    sheet = ai.read(make([["Ann", 12, "", "Secret-1"], ["Bob", 1002, "", "Secret-2"]]))
    assert list(sheet.problems) == ["rows.2.account"]
    assert "leading zeros" in text(sheet.problems["rows.2.account"])


def test_a_zero_padded_number_format_counts_as_lost_zeros() -> None:
    # Excel shows 0012 and 00123456, but the cells hold 12 and 123456.
    data = make_xlsx([["Ann", 12, "", 123456], ["Bob", 1234, "", 123456]],
                     formats={"B2": "0000", "D2": "00000000", "D3": "00000000"})
    sheet = ai.read(data)
    assert sorted(sheet.problems) == ["rows.2.account", "rows.2.password", "rows.3.password"]


def test_formulas_are_never_evaluated() -> None:
    # openpyxl saves formulas without a cached value: the cell counts as empty.
    data = make_xlsx([["=\"Ann\"&\"ie\"", "=1000+1", "=A2", "Secret-1"]])
    assert ai.read(data).rows == [{"row": 2, "name": "", "account": "", "email": "",
                                   "password": "Secret-1"}]


def test_error_cells_and_dates_are_named() -> None:
    import datetime as dt

    data = make_xlsx([["Ann", "#N/A", "", "Secret-1"], ["Bob", dt.date(2024, 1, 2), "", "x"]])
    problems = ai.read(data).problems
    assert sorted(problems) == ["rows.2.account", "rows.3.account"]
    assert "#N/A" in text(problems["rows.2.account"])
    assert "date" in text(problems["rows.3.account"])


# -- hostile files ----------------------------------------------------------------------

def test_content_decides_the_format_not_the_name(tmp_path: Path) -> None:
    fake = tmp_path / "accounts.xlsx"
    fake.write_text("name,account,email,password\nAnn,1001,ann@example.com,Secret-1\n")
    assert "not an Excel file" in refused(fake.read_bytes())
    html = b"<html><table><tr><td>Ann</td></tr></table></html>"  # web "xls" exports
    assert "not an Excel file" in refused(html)
    assert "not an Excel file" in refused(b"\x00" * 100)
    # A zip that is no workbook (a .docx, say).
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("word/document.xml", "<w:document/>")
    assert "not an Excel file" in refused(out.getvalue())
    # An .xls sent as .xlsx and the other way round: read by what they are.
    assert len(ai.read(make_xls(people(3))).rows) == 3
    assert ai.detect(make_xls(people(1))) == "xls"
    assert ai.detect(make_xlsx(people(1))) == "xlsx"


def test_broken_files_are_refused_not_crashed_on() -> None:
    xlsx, xls = make_xlsx(people(5)), make_xls(people(5))
    assert "could not be read" in refused(xlsx[: len(xlsx) // 2])
    assert "could not be read" in refused(xls[:600])
    assert "could not be read" in refused(ai.OLE2_MAGIC + b"\x00" * 4000)


def test_an_empty_or_too_large_file_is_refused() -> None:
    assert "empty" in refused(b"")
    with pytest.raises(TooLarge):
        ai.read(make_xlsx(people(3)) + b"\x00" * ai.MAX_BYTES)


def bomb(entries: dict[str, bytes]) -> bytes:
    """A valid small workbook with some parts replaced or added."""
    source = zipfile.ZipFile(io.BytesIO(make_xlsx(people(2))))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for info in source.infolist():
            if info.filename not in entries:
                z.writestr(info.filename, source.read(info.filename))
        for name, data in entries.items():
            z.writestr(name, data)
    return out.getvalue()


def test_a_zip_bomb_is_refused_fast() -> None:
    # 64 MB of shared strings that deflate to 64 KB.
    strings = (b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
               + b"<si><t>" + b"A" * (64 * 1024 * 1024) + b"</t></si></sst>")
    data = bomb({"xl/sharedStrings.xml": strings})
    del strings
    assert len(data) < ai.MAX_BYTES
    start = time.perf_counter()
    assert "unpacks to more than" in refused(data)
    assert time.perf_counter() - start < 0.5


def test_a_zip_with_too_many_parts_or_a_dtd_is_refused() -> None:
    many = bomb({f"xl/media/image{i}.png": b"x" for i in range(ai.MAX_ZIP_ENTRIES)})
    assert "too many parts" in refused(many)
    laughs = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
              b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
              b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
              b"<si><t>&lol2;</t></si></sst>")
    with pytest.raises(ValidationError):
        ai.detect(bomb({"xl/sharedStrings.xml": laughs}))  # before openpyxl sees it


def test_an_xls_with_far_away_cells_is_refused_fast() -> None:
    # One cell in the last column of every row: xlrd would keep 16 million cell slots.
    book = xlwt.Workbook()
    sheet = book.add_sheet("Accounts")
    for col, title in enumerate(HEADER):
        sheet.write(0, col, title)
    for row in range(1, 65536):
        sheet.write(row, 255, 1)
    out = io.BytesIO()
    book.save(out)
    start = time.perf_counter()
    assert "too many cells" in refused(out.getvalue())
    assert time.perf_counter() - start < 1


def test_many_blank_rows_do_not_hide_accounts_below_them() -> None:
    # More rows than are ever looked at: refused, never silently cut.
    rows = [[None] * 4] * ai.MAX_SCAN_ROWS + people(1)
    assert "more than" in refused(make_xlsx(rows))


# -- importing: all or nothing, every bad row named ------------------------------------

@pytest.mark.parametrize("make", [make_xls, make_xlsx], ids=["xls", "xlsx"])
def test_1000_accounts_are_imported(accounts: Accounts, make) -> None:
    result = ai.import_file(accounts, make(people(1000)))
    assert (result["created"], result["updated"], result["unchanged"]) == (1000, 0, 0)
    assert accounts.count() == 1000
    assert accounts.get("1999")["email"] == "user999@example.com"


@pytest.mark.parametrize("make", [make_xls, make_xlsx], ids=["xls", "xlsx"])
def test_bad_rows_import_nothing_and_are_all_named(accounts: Accounts, make) -> None:
    rows = people(10)
    rows[2][1] = "10a5"                 # row 4: bad account
    rows[5][2] = "not-an-email"         # row 7: bad e-mail
    rows[7][3] = "abc"                  # row 9: short password
    rows[9][1] = rows[0][1]             # row 11: the account of row 2 again
    with pytest.raises(ValidationError) as exc:
        ai.import_file(accounts, make(rows))
    details = exc.value.details
    assert set(details) == {"rows.4.account", "rows.7.email", "rows.9.password",
                            "rows.2.account", "rows.11.account"}
    assert "4 digits" in text(details["rows.4.account"])
    assert "e-mail" in text(details["rows.7.email"])
    assert "6 to 16" in text(details["rows.9.password"])
    assert "more than once" in text(details["rows.11.account"])
    assert accounts.count() == 0


def test_cells_that_cannot_become_text_are_named_with_the_other_bad_rows(
        accounts: Accounts) -> None:
    rows = people(4)
    rows[0][1] = 12                     # row 2: 0012 typed as a number
    rows[2][2] = "bad@"                 # row 4: bad e-mail
    with pytest.raises(ValidationError) as exc:
        ai.import_file(accounts, make_xlsx(rows))
    details = exc.value.details
    assert list(details) == ["rows.2.account", "rows.4.email"]  # sorted by row
    assert "leading zeros" in text(details["rows.2.account"])
    assert exc.value.params["count"] == 2
    assert accounts.count() == 0


def test_a_reimport_updates_the_changed_rows(accounts: Accounts) -> None:
    rows = people(20)
    assert ai.import_file(accounts, make_xls(rows))["created"] == 20
    before = accounts.find("1003")
    rows[3][0], rows[3][2] = "Renamed", "renamed@example.com"
    rows[4][3] = "New-Pass-4"
    result = ai.import_file(accounts, make_xlsx(rows))
    assert (result["created"], result["updated"], result["unchanged"]) == (0, 2, 18)
    after = accounts.find("1003")
    assert (after.name, after.email, after.created) == (
        "Renamed", "renamed@example.com", before.created)
    assert accounts.count() == 20
