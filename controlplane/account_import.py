"""Batch import of accounts from a spreadsheet (E3, E8): the template, and reading uploads.

Uploads are hostile: the format is found from the content (never the file name), the size,
the zip container of an .xlsx and the number of rows and columns read are capped before
anything large is built, formulas are never evaluated (a formula cell counts with the value
the spreadsheet program saved, or as empty), and every cell becomes text by fixed rules.
What the rows *mean* (valid accounts, e-mails, passwords, duplicates) is decided by
Accounts.import_rows; this module only turns a file into rows {row, name, account, email,
password}, where row is the spreadsheet's own row number (1 is the header).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import re
import struct
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from controlplane.errors import Message, TooLarge, ValidationError
from controlplane.i18n import N_

MAX_BYTES = 5 * 1024 * 1024        # the upload itself
MAX_ROWS = 1000                    # data rows per import (E3)
MAX_SCAN_ROWS = 10 * MAX_ROWS      # rows looked at, blank ones included
MAX_CELL_CHARS = 1000              # longer text is cut here (the rules refuse it anyway)
# The .xlsx zip: entries and their total uncompressed size. A template with 1,000 rows is
# about 100 KB unzipped; Excel's own extras (styles, theme) add a few hundred KB.
MAX_ZIP_ENTRIES = 200
MAX_ZIP_BYTES = 10 * 1024 * 1024
MAX_SHARED_STRINGS_BYTES = 4 * 1024 * 1024
# The .xls workbook stream: xlrd keeps every cell slot up to the last used column of each
# row, and every shared string, in memory; a few MB of records could claim hundreds of MB.
MAX_XLS_SLOTS = 200_000
MAX_XLS_STRINGS = 100_000

FIELDS = ("name", "account", "email", "password")
# The fixed header row (E3): both UI languages in one cell, so that one template serves both.
HEADER = ("名称 Name", "账号 Account", "邮箱 E-mail", "密码 Password")
# What a header cell may say, once lower-cased with blanks and marks such as * ( ) : removed:
# the Chinese word, the English word, or both in either order.
_HEADER_WORDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "name": (("名称", "姓名", "用户名称"), ("name",)),
    "account": (("账号", "帐号", "账户", "帐户"), ("account",)),
    "email": (("邮箱", "邮箱地址", "电子邮箱", "个人邮箱", "邮件地址"),
              ("email", "emailaddress", "mail")),
    "password": (("密码",), ("password",)),
}
_HEADER_NOISE = re.compile(r"[\s*:：()（）\[\]【】_\-./]+")

OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"

_ZEROS_FORMAT = re.compile(r'^(?:0+|"?0+"?)$')


def _header_names() -> dict[str, str]:
    known: dict[str, str] = {}
    for name, (zh, en) in _HEADER_WORDS.items():
        for word in zh + en:
            known[word] = name
        for a in zh:
            for b in en:
                known[a + b] = name
                known[b + a] = name
    return known


_KNOWN_HEADERS = _header_names()


class FileRefused(ValidationError):
    """The file as a whole cannot be imported; details name "file"."""

    error_id = "import_refused"

    def __init__(self, message: str, **params: Any) -> None:
        detail: Message = (message, params) if params else message
        super().__init__(message, details={"file": detail}, **params)


# -- the template ----------------------------------------------------------------------

def template() -> bytes:
    """The import template: an .xls (BIFF8, what the guide's appliance hands out) holding
    only the fixed header row; the account and password columns are formatted as text, so
    that 0012 typed there keeps its zeros."""
    import xlwt

    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("Accounts")
    head = xlwt.easyxf("font: bold on; pattern: pattern solid, fore_colour gray25;"
                       " align: horiz center")
    text = xlwt.easyxf(num_format_str="@")
    widths = (24, 16, 36, 20)
    for col, (title, width) in enumerate(zip(HEADER, widths, strict=True)):
        sheet.write(0, col, title, head)
        sheet.col(col).width = 256 * width
        if FIELDS[col] in ("account", "password"):
            sheet.col(col).set_style(text)
    sheet.set_panes_frozen(True)
    sheet.set_horz_split_pos(1)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# -- reading an upload -----------------------------------------------------------------

def detect(data: bytes) -> str:
    """ "xls" or "xlsx" from the file's first bytes (and the zip's table of contents)."""
    if data.startswith(OLE2_MAGIC):
        return "xls"
    if data.startswith(ZIP_MAGIC):
        _check_zip(data)
        return "xlsx"
    raise FileRefused(N_("This is not an Excel file: use the template (.xls or .xlsx)."))


def _check_zip(data: bytes) -> None:
    """Refuse a zip that would unpack into too much before openpyxl opens it."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
            if len(entries) > MAX_ZIP_ENTRIES:
                raise FileRefused(N_("The file holds too many parts to be a spreadsheet."))
            # zipfile never unpacks more than an entry's declared size (a liar fails its
            # CRC check), so the declared sizes bound what opening the workbook can cost.
            strings = sum(e.file_size for e in entries
                          if "sharedstrings" in e.filename.lower())
            if (sum(e.file_size for e in entries) > MAX_ZIP_BYTES
                    or strings > MAX_SHARED_STRINGS_BYTES):
                raise FileRefused(N_("The spreadsheet unpacks to more than %(mb)s MB."),
                                  mb=MAX_ZIP_BYTES // (1024 * 1024))
            names = {e.filename for e in entries}
            if "xl/workbook.bin" in names:
                raise FileRefused(N_("Binary workbooks (.xlsb) are not supported: save the "
                                     "file as .xlsx or .xls."))
            if "xl/workbook.xml" not in names:
                raise FileRefused(
                    N_("This is not an Excel file: use the template (.xls or .xlsx)."))
            for entry in entries:
                # No DTDs: entity tricks have no place in a spreadsheet.
                if entry.filename.endswith((".xml", ".rels")):
                    with archive.open(entry) as part:
                        if b"<!DOCTYPE" in part.read(2048).upper():
                            raise FileRefused(N_("The file could not be read as a "
                                                 "spreadsheet."))
    except FileRefused:
        raise
    except Exception as exc:  # a broken zip: zipfile raises many kinds (encrypted entries,
        # unknown compression, bad offsets ...)
        raise FileRefused(N_("The file could not be read as a spreadsheet.")) from exc


# BIFF records that hold one cell (row and column in their first 4 bytes), and MULRK.
_BIFF_CELLS = frozenset({0x0203, 0x027E, 0x00FD, 0x0204, 0x0205, 0x0006, 0x0206, 0x0406,
                         0x00D6})
_BIFF_MULRK, _BIFF_BOF, _BIFF_SST = 0x00BD, 0x0809, 0x00FC


def _check_biff(data: bytes) -> None:
    """Walk the workbook stream's records and refuse what would unpack into too much."""
    from xlrd.compdoc import CompDoc

    try:
        doc = CompDoc(data, logfile=io.StringIO())
        mem, base, size = doc.locate_named_stream("Workbook")
        if mem is None:
            mem, base, size = doc.locate_named_stream("Book")
    except Exception as exc:
        raise FileRefused(N_("The file could not be read as an Excel workbook (is it "
                             "password-protected?).")) from exc
    if mem is None:
        raise FileRefused(N_("The file could not be read as an Excel workbook (is it "
                             "password-protected?)."))
    widths: dict[tuple[int, int], int] = {}
    sheet, pos, end = 0, base, min(base + size, len(mem))
    while pos + 4 <= end:
        opcode, length = struct.unpack_from("<HH", mem, pos)
        pos += 4
        if pos + length > end:
            break
        if opcode == _BIFF_BOF:
            sheet += 1
        elif opcode in _BIFF_CELLS and length >= 4:
            row, col = struct.unpack_from("<HH", mem, pos)
            if col >= widths.get((sheet, row), 0):
                widths[(sheet, row)] = col + 1
        elif opcode == _BIFF_MULRK and length >= 6:
            (row,) = struct.unpack_from("<H", mem, pos)
            (last,) = struct.unpack_from("<H", mem, pos + length - 2)
            if last >= widths.get((sheet, row), 0):
                widths[(sheet, row)] = last + 1
        elif opcode == _BIFF_SST and length >= 8:
            (unique,) = struct.unpack_from("<i", mem, pos + 4)
            if unique > MAX_XLS_STRINGS:
                raise FileRefused(N_("The spreadsheet holds too many cells to be read."))
        pos += length
    if sum(widths.values()) > MAX_XLS_SLOTS:
        raise FileRefused(N_("The spreadsheet holds too many cells to be read."))


Cell = tuple[Any, str]  # (value, kind): kind is text, number, bool, date, error or empty


def _xls_rows(data: bytes) -> Iterator[tuple[int, list[Cell]]]:
    import xlrd

    _check_biff(data)
    rows: list[tuple[int, list[Cell]]] = []
    book = None
    try:
        book = xlrd.open_workbook(file_contents=data, on_demand=True, logfile=io.StringIO(),
                                  verbosity=0, formatting_info=False, ragged_rows=True)
        if book.nsheets < 1:
            raise FileRefused(N_("The workbook has no sheet."))
        sheet = book.sheet_by_index(0)  # on demand: the sheet is parsed here
        kinds = {xlrd.XL_CELL_TEXT: "text", xlrd.XL_CELL_NUMBER: "number",
                 xlrd.XL_CELL_DATE: "date", xlrd.XL_CELL_BOOLEAN: "bool",
                 xlrd.XL_CELL_ERROR: "error"}
        for index in range(min(sheet.nrows, MAX_SCAN_ROWS + 1)):
            cells: list[Cell] = []
            for col in range(min(sheet.row_len(index), len(FIELDS))):
                cell = sheet.cell(index, col)
                kind = kinds.get(cell.ctype, "empty")
                value = cell.value
                if kind == "date":
                    try:
                        value = xlrd.xldate.xldate_as_datetime(value, book.datemode)
                    except Exception:
                        kind = "number"
                cells.append((value, kind))
            rows.append((index + 1, cells))
        if sheet.nrows > MAX_SCAN_ROWS + 1:
            rows.append((sheet.nrows, [("", "overflow")]))
    except FileRefused:
        raise
    except Exception as exc:
        # Password-protected .xlsx files are OLE2 containers too, as are Word files.
        raise FileRefused(N_("The file could not be read as an Excel workbook (is it "
                             "password-protected?).")) from exc
    finally:
        if book is not None:
            book.release_resources()
    return iter(rows)


def _xlsx_rows(data: bytes) -> Iterator[tuple[int, list[Cell]]]:
    import openpyxl

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True,
                                          keep_links=False, rich_text=False)
    except FileRefused:
        raise
    except Exception as exc:
        raise FileRefused(N_("The file could not be read as a spreadsheet.")) from exc
    try:
        if not book.worksheets:
            raise FileRefused(N_("The workbook has no sheet."))
        sheet = book.worksheets[0]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                rows = sheet.iter_rows(min_row=1, max_row=MAX_SCAN_ROWS + 2, min_col=1,
                                       max_col=len(FIELDS))
                for index, row in enumerate(rows, start=1):
                    if index > MAX_SCAN_ROWS + 1:
                        yield index, [("", "overflow")]
                        return
                    yield index, [_xlsx_cell(cell) for cell in row]
        except FileRefused:
            raise
        except Exception as exc:
            raise FileRefused(N_("The file could not be read as a spreadsheet.")) from exc
    finally:
        book.close()


def _xlsx_cell(cell: Any) -> Cell:
    value = getattr(cell, "value", None)
    if value is None:
        return None, "empty"
    kind = getattr(cell, "data_type", "s")
    if kind == "e":
        return value, "error"
    if isinstance(value, bool):
        return value, "bool"
    if isinstance(value, int | float):
        number_format = ""
        with contextlib.suppress(AttributeError, IndexError, KeyError):
            number_format = cell.number_format or ""
        return (value, number_format), "number"
    if isinstance(value, dt.datetime | dt.date | dt.time | dt.timedelta):
        return value, "date"
    return str(value), "text"


# -- cells to text ---------------------------------------------------------------------

def _number_text(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _cell_text(column: str, cell: Cell) -> tuple[str, Message | None]:
    """A cell as the text of a column, or an error for that cell."""
    value, kind = cell
    if kind == "empty":
        return "", None
    if kind == "error":
        return "", (N_("The cell holds a spreadsheet error (%(code)s)."),
                    {"code": _error_code(value)})
    if kind == "text":
        text = str(value)
        if column != "password":
            text = text.strip()
        return text[:MAX_CELL_CHARS], None
    if kind == "bool":
        return ("TRUE" if value else "FALSE"), None
    if kind == "date":
        if column in ("account", "password"):
            return "", N_("The cell holds a date: format the column as text and type the "
                          "value again.")
        return (value.isoformat(sep=" ") if isinstance(value, dt.datetime)
                else str(value)), None
    # A number: integral values lose their ".0"; leading zeros are gone for good.
    number, number_format = value if isinstance(value, tuple) else (value, "")
    text = _number_text(number)
    if column in ("account", "password"):
        integral = text.lstrip("-").isdigit()
        padded = bool(_ZEROS_FORMAT.match(number_format.strip())) and len(
            number_format.strip().strip('"')) > len(text)
        short = column == "account" and integral and len(text) < 4
        if integral and (padded or short):
            return text, N_("The cell is a number, so its leading zeros are lost: format the "
                            "column as text and type the value again (for example 0012).")
    return text, None


def _error_code(value: Any) -> str:
    if isinstance(value, int):  # xlrd: a code
        import xlrd

        return xlrd.error_text_from_code.get(value, "#ERR")
    return str(value)[:16]


def _is_blank(cells: list[Cell]) -> bool:
    for value, kind in cells:
        if kind == "empty":
            continue
        if kind == "text" and not str(value).strip():
            continue
        return False
    return True


def _check_header(cells: list[Cell]) -> None:
    found = []
    for col in range(len(FIELDS)):
        value, kind = cells[col] if col < len(cells) else (None, "empty")
        word = _HEADER_NOISE.sub("", str(value).lower()) if kind == "text" else ""
        found.append(_KNOWN_HEADERS.get(word))
    if found != list(FIELDS):
        raise FileRefused(N_("The first row must be the template's header row: Name, "
                             "Account, E-mail, Password. Download the template and copy "
                             "the accounts into it."))


@dataclass
class Sheet:
    """The data rows of an upload, and the cells that could not become text."""

    rows: list[dict[str, Any]]
    problems: dict[str, Message] = field(default_factory=dict)


def read(data: bytes) -> Sheet:
    """The data rows of an uploaded spreadsheet: [{row, name, account, email, password}].

    Raises TooLarge for a file over MAX_BYTES, and ValidationError naming "file" for a file
    that is not a usable spreadsheet. Cells that cannot become text (a number that lost its
    leading zeros, an error value) are listed in problems as "rows.<row>.<field>".
    """
    if len(data) > MAX_BYTES:
        raise TooLarge(N_("The file is larger than %(mb)s MB."),
                       mb=MAX_BYTES // (1024 * 1024))
    if not data:
        raise FileRefused(N_("The file is empty."))
    kind = detect(data)
    rows_of = _xls_rows if kind == "xls" else _xlsx_rows
    sheet = Sheet([])
    header_seen = False
    count = 0
    for number, cells in rows_of(data):
        if cells and cells[0][1] == "overflow":
            raise FileRefused(N_("An import takes at most %(max)s accounts; this file has "
                                 "more than %(count)s rows."),
                              max=MAX_ROWS, count=MAX_SCAN_ROWS)
        if not header_seen:
            _check_header(cells)
            header_seen = True
            continue
        if _is_blank(cells):
            continue  # blank rows, trailing ones above all, are no accounts
        count += 1
        if count > MAX_ROWS:
            continue  # count on, for the message
        cells = cells + [(None, "empty")] * (len(FIELDS) - len(cells))
        row: dict[str, Any] = {"row": number}
        for name, cell in zip(FIELDS, cells, strict=False):
            row[name], problem = _cell_text(name, cell)
            if problem is not None:
                sheet.problems[f"rows.{number}.{name}"] = problem
        sheet.rows.append(row)
    if not header_seen:
        raise FileRefused(N_("The file is empty: it has no header row and no accounts."))
    if count > MAX_ROWS:
        raise FileRefused(N_("An import takes at most %(max)s accounts; this file has "
                             "%(count)s. Split it into several files."),
                          max=MAX_ROWS, count=count)
    if not sheet.rows:
        raise FileRefused(N_("The file has no accounts below its header row."))
    return sheet


# A cell value every rule refuses: it stands in for cells that could not become text.
_REFUSED = "\x00"


def _row_order(key: str) -> tuple[int, int, str]:
    parts = key.split(".")
    if len(parts) == 3 and parts[0] == "rows" and parts[1].isdigit():
        column = FIELDS.index(parts[2]) if parts[2] in FIELDS else len(FIELDS)
        return int(parts[1]), column, key
    return -1, 0, key


def import_file(accounts: Any, data: bytes) -> dict[str, Any]:
    """E3/E8: read the upload and import its rows (all or nothing); see import_sheet."""
    return import_sheet(accounts, read(data))


def import_sheet(accounts: Any, sheet: Sheet) -> dict[str, Any]:
    """Hand the rows to accounts.import_rows: {created, updated, unchanged, accounts}.

    When some cells could not become text, the rows still go through import_rows with those
    cells replaced by a value no rule accepts, so that it names every other bad row too and
    writes nothing; the error lists both, sorted by row.
    """
    if not sheet.problems:
        return accounts.import_rows(sheet.rows)
    stand_in = [{**row, **{name: _REFUSED for name in FIELDS
                           if f"rows.{row['row']}.{name}" in sheet.problems}}
                for row in sheet.rows]
    try:
        accounts.import_rows(stand_in)
    except ValidationError as exc:
        details = {**exc.details, **sheet.problems}
    else:  # pragma: no cover - import_rows refuses every stand-in value
        raise RuntimeError("import_rows accepted a refused cell")
    rows = {key.split(".")[1] for key in details if key.startswith("rows.")}
    raise ValidationError(N_("The file has errors: nothing was imported."),
                          details={k: details[k] for k in sorted(details, key=_row_order)},
                          count=len(rows))
