"""E3, E8 through the real server with an activated license: the template download, imports
of 1,000 accounts from .xls and from .xlsx, all-or-nothing with a per-row error list,
1,001 rows refused, re-imports that update changed rows, hostile uploads, "save and send
mail" with per-recipient results, and the operation log."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import xlrd
import xlwt

from controlplane.account_import import HEADER
from tests.conftest import Client, Server, configured_server
from tests.integration.conftest import Pki, SmtpServers
from tests.license_keys import licensed_server

XLS = "application/vnd.ms-excel"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def people(count: int, start: int, tag: str = "User") -> list[list[Any]]:
    return [[f"{tag} {i}", str(start + i), f"{tag.lower()}{start + i}@example.com",
             f"Secret-{i:04d}"] for i in range(count)]


def make_xls(rows: list[list[Any]]) -> bytes:
    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("Accounts")
    for r, values in enumerate([list(HEADER), *rows]):
        for c, value in enumerate(values):
            sheet.write(r, c, value)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def make_xlsx(rows: list[list[Any]]) -> bytes:
    book = openpyxl.Workbook()
    for values in [list(HEADER), *rows]:
        book.active.append(values)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def upload(client: Client, data: bytes, name: str = "accounts.xlsx", mime: str = XLSX,
           **form: str):
    return client.post("/api/v1/accounts/import", files={"file": (name, data, mime)},
                       data=form)


def total(client: Client) -> int:
    res = client.get("/api/v1/accounts", params={"limit": 1})
    assert res.status_code == 200, res.text
    return res.json()["total"]


@pytest.fixture(scope="module")
def licensed(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[Server]:
    """One server for the module, licensed; tests use their own account ranges."""
    with licensed_server(tmp_path_factory.mktemp("import"), ssl_cert_file=str(pki.ca)) as srv:
        yield srv


@pytest.fixture
def admin(licensed: Server) -> Client:
    client = licensed.client()
    client.cookies.set("vcbox_lang", "en")
    assert client.login().status_code == 200
    return client


def test_template_download_parses_back_with_the_fixed_header(admin: Client) -> None:
    res = admin.get("/api/v1/accounts/template")
    assert res.status_code == 200
    assert res.headers["Content-Type"] == XLS
    assert res.headers["Content-Disposition"] == 'attachment; filename="accounts-template.xls"'
    sheet = xlrd.open_workbook(file_contents=res.content).sheet_by_index(0)
    assert sheet.row_values(0) == list(HEADER) and sheet.nrows == 1
    # The empty template itself imports nothing, with a reason.
    refused = upload(admin, res.content, "accounts-template.xls", XLS)
    assert refused.status_code == 400 and "file" in refused.json()["details"]
    # Filled in with a spreadsheet program (here: xlrd's reading, xlwt's writing), it imports.
    book = xlwt.Workbook()
    out = book.add_sheet("Accounts")
    for c, value in enumerate(sheet.row_values(0)):
        out.write(0, c, value)
    for c, value in enumerate(["Filled In", "7001", "filled@example.com", "Secret-7001"]):
        out.write(1, c, value)
    data = io.BytesIO()
    book.save(data)
    res = upload(admin, data.getvalue(), "filled.xls", XLS)
    assert res.status_code == 200, res.text
    assert res.json()["created"] == 1


@pytest.mark.parametrize(("make", "name", "mime", "start"),
                         [(make_xls, "accounts.xls", XLS, 2000),
                          (make_xlsx, "accounts.xlsx", XLSX, 3000)], ids=["xls", "xlsx"])
def test_1000_accounts_are_imported(admin: Client, make, name: str, mime: str,
                                    start: int) -> None:
    before = total(admin)
    data = make(people(1000, start))
    began = time.perf_counter()
    res = upload(admin, data, name, mime)
    took = time.perf_counter() - began
    assert res.status_code == 200, res.text
    body = res.json()
    assert (body["created"], body["updated"], body["unchanged"]) == (1000, 0, 0)
    assert len(body["accounts"]) == 1000 and "password" not in body["accounts"][0]
    assert took < 5, f"importing 1,000 rows took {took:.2f} s"
    assert total(admin) == before + 1000
    found = admin.get("/api/v1/accounts", params={"search": f"user{start + 999}@"}).json()
    assert [i["account"] for i in found["items"]] == [str(start + 999)]
    assert found["items"][0]["name"] == "User 999"


def test_bad_rows_import_nothing_and_each_is_named(admin: Client) -> None:
    before = total(admin)
    rows = people(20, 4000)
    rows[3][1] = "40x3"             # row 5: not 4 digits
    rows[8][2] = "someone@"         # row 10: not an e-mail
    rows[12][3] = "short"           # row 14: password under 6 characters
    rows[15][1] = rows[1][1]        # row 17: account of row 3 again
    res = upload(admin, make_xlsx(rows))
    assert res.status_code == 400
    body = res.json()
    assert body["error_id"] == "invalid_input"
    assert set(body["details"]) == {"rows.5.account", "rows.10.email", "rows.14.password",
                                    "rows.3.account", "rows.17.account"}
    assert "4 digits" in body["details"]["rows.5.account"]
    assert "more than once" in body["details"]["rows.17.account"]
    assert total(admin) == before
    assert admin.get("/api/v1/accounts/4000").status_code == 404


def test_1001_rows_are_refused_whole(admin: Client) -> None:
    before = total(admin)
    res = upload(admin, make_xls(people(1001, 5000)), "big.xls", XLS)
    assert res.status_code == 400
    detail = res.json()["details"]["file"]
    assert "1000" in detail and "1001" in detail
    assert total(admin) == before


def test_a_reimport_updates_the_changed_rows(admin: Client) -> None:
    rows = people(30, 6000)
    assert upload(admin, make_xls(rows), "first.xls", XLS).json()["created"] == 30
    created = admin.get("/api/v1/accounts/6005").json()["created"]
    rows[5][0], rows[5][2] = "Changed Name", "changed@example.com"
    rows[6][3] = "Other-Pass"
    rows.append(["Newcomer", "6030", "", "Secret-new"])
    res = upload(admin, make_xlsx(rows), "second.xlsx")  # the same list, now as .xlsx
    assert res.status_code == 200, res.text
    body = res.json()
    assert (body["created"], body["updated"], body["unchanged"]) == (1, 2, 28)
    status = {item["account"]: item["status"] for item in body["accounts"]}
    assert status["6005"] == status["6006"] == "updated" and status["6030"] == "created"
    item = admin.get("/api/v1/accounts/6005").json()
    assert (item["name"], item["email"], item["created"]) == (
        "Changed Name", "changed@example.com", created)


def test_hostile_and_wrong_uploads_are_refused(admin: Client) -> None:
    before = total(admin)
    text = b"name,account,email,password\nAnn,1001,ann@example.com,Secret-1\n"
    res = upload(admin, text, "accounts.xlsx")
    assert res.status_code == 400 and "Excel" in res.json()["details"]["file"]
    big = admin.post("/api/v1/accounts/import",
                     files={"file": ("big.xlsx", b"PK\x03\x04" + b"\x00" * (6 << 20), XLSX)})
    assert big.status_code == 413 and big.json()["error_id"] == "too_large"
    missing = admin.post("/api/v1/accounts/import", files={"other": ("a.xls", b"x", XLS)})
    assert missing.status_code == 400 and "file" in missing.json()["details"]
    json_body = admin.post("/api/v1/accounts/import", json={"file": "x"})
    assert json_body.status_code == 400 and "file" in json_body.json()["details"]
    header_only = make_xlsx([])
    assert upload(admin, header_only).status_code == 400
    assert total(admin) == before


def test_import_needs_a_session_and_the_csrf_token(licensed: Server, admin: Client) -> None:
    data = make_xlsx(people(1, 8000))
    anonymous = licensed.client()
    assert upload(anonymous, data).status_code == 401
    no_token = licensed.client()
    assert no_token.login().status_code == 200
    no_token.csrf = ""
    assert upload(no_token, data).status_code == 403
    assert admin.get("/api/v1/accounts/8000").status_code == 404


def test_imports_are_in_the_operation_log(admin: Client) -> None:
    def imports() -> list[dict]:
        items = admin.get("/api/v1/operation-log", params={"limit": 100}).json()["items"]
        return [i for i in items if i["action"] == "import_accounts"]

    assert upload(admin, make_xlsx(people(2, 8100))).status_code == 200
    logged = imports()
    assert logged[0]["result"] == "success"
    assert upload(admin, b"not a spreadsheet").status_code == 400
    # The refused file is an input error (400, the page says why), not a failed operation.
    assert imports() == logged


def test_save_and_send_mail_reports_each_recipient(admin: Client, smtp: SmtpServers) -> None:
    res = admin.put("/api/v1/settings/smtp", json=smtp.starttls.settings("tls"))
    assert res.status_code == 200, res.text
    rows = [["Mail One", "8201", "one@example.com", "Secret-one"],
            ["Mail Two", "8202", "two@example.com", "Secret-two"],
            ["No Mail", "8203", "", "Secret-three"]]
    res = upload(admin, make_xlsx(rows), send_mail="true")
    assert res.status_code == 200, res.text
    mail = res.json()["mail"]
    assert (mail["sent"], mail["failed"], mail["without_email"]) == (2, 0, 1)
    assert {r["account"]: r["ok"] for r in mail["results"]} == {"8201": True, "8202": True}
    received = smtp.starttls.wait(2)
    assert sorted(m.rcpt_tos[0] for m in received) == ["one@example.com", "two@example.com"]
    bodies = {m.rcpt_tos[0]: m.message.get_body().get_content() for m in received}
    assert "Secret-one" in bodies["one@example.com"]  # the password from the file
    # Mail that cannot go out does not undo the import: each failure is reported.
    admin.put("/api/v1/settings/smtp", json=smtp.starttls.settings("tls", password="wrong!"))
    res = upload(admin, make_xlsx([["Mail Four", "8204", "four@example.com", "Secret-4"]]),
                 send_mail="true")
    assert res.status_code == 200, res.text
    mail = res.json()["mail"]
    assert (mail["sent"], mail["failed"]) == (0, 1) and mail["results"][0]["error"]
    assert admin.get("/api/v1/accounts/8204").status_code == 200


def test_without_a_license_nothing_is_imported(tmp_path: Path) -> None:
    with configured_server(tmp_path) as srv:
        client = srv.client()
        client.cookies.set("vcbox_lang", "en")
        assert client.login().status_code == 200
        res = upload(client, make_xlsx(people(3, 9000)))
        assert res.status_code == 409, res.text
        assert "license" in res.json()["message"].lower()
        assert total(client) == 0


def test_the_accounts_page_has_the_import_dialog(admin: Client) -> None:
    page = admin.get("/accounts")
    assert page.status_code == 200, page.text
    html = page.text
    for marker in ('id="btn-import"', 'id="dlg-account-import"', 'id="import-file"',
                   'href="/api/v1/accounts/template"', 'data-role="save-send"',
                   'data-role="confirm"', 'data-role="row-errors"',
                   'src="/static/account_import.js"', "Save and send mail"):
        assert marker in html, marker
    script = admin.get("/static/account_import.js")
    assert script.status_code == 200 and "/api/v1/accounts/import" in script.text
