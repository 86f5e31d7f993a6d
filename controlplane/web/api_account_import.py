"""Batch import of accounts (E3, E8): the template download and the upload."""

from __future__ import annotations

from typing import Any

from bottle import Bottle, HTTPResponse, request

from controlplane import account_import
from controlplane.app import Services
from controlplane.errors import LengthRequired, VcboxError  # noqa: F401 (api_backups)
from controlplane.i18n import N_
from controlplane.web import context
from controlplane.web.context import _

TEMPLATE_NAME = "accounts-template.xls"
TRUE = ("1", "true", "on", "yes")


def _upload() -> tuple[bytes, bool]:
    """The uploaded file (multipart field "file") and the send_mail flag, read with limits:
    nothing larger than the limit is ever read from the connection."""
    upload = context.uploaded_file(account_import.MAX_BYTES, N_("Choose a file to import."))
    flag = request.forms.get("send_mail", "")
    data = upload.file.read(account_import.MAX_BYTES + 1)
    return data, str(flag).strip().lower() in TRUE


def _send_mail(services: Services, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The account mail, with the password from the file, to each imported row with an
    e-mail; the import stands whatever happens here."""
    with_email = [row for row in rows if row.get("email")]
    mail: dict[str, Any] = {"sent": 0, "failed": 0, "without_email": len(rows) - len(with_email),
                            "results": [], "error": None}
    if not with_email:
        return mail
    passwords = {row["account"]: row["password"] for row in with_email}
    public = services.config.public_url
    try:
        results = services.accounts.send_mail([row["account"] for row in with_email],
                                              context.lang(), passwords=passwords,
                                              portal_url=public.rstrip("/") + "/" if public
                                              else "")
    except VcboxError as exc:
        mail["error"] = _(exc.message, **exc.params)
        mail["failed"] = len(with_email)
        return mail
    for item in results:
        if item.get("error"):
            item["error"] = _(item["error"])
    mail["results"] = results
    mail["sent"] = sum(1 for item in results if item.get("ok"))
    mail["failed"] = len(results) - mail["sent"]
    return mail


def routes(app: Bottle, services: Services) -> None:
    @app.get("/api/v1/accounts/template",
             summary="The account import template (.xls with the fixed header row)")
    def account_import_template():
        return HTTPResponse(account_import.template(), 200, {
            "Content-Type": "application/vnd.ms-excel",
            "Content-Disposition": f'attachment; filename="{TEMPLATE_NAME}"',
        })

    @app.post("/api/v1/accounts/import", audit="import_accounts",
              audit_target=lambda kwargs: "",
              summary="Import accounts from an .xls or .xlsx (multipart field file, optional"
              " send_mail=true): all or nothing, with a message per bad row and column"
              " (details rows.<row>.<field>); existing accounts are updated")
    def import_accounts():
        data, send_mail = _upload()
        sheet = account_import.read(data)
        result = account_import.import_sheet(services.accounts, sheet)
        if send_mail:
            imported = {item["account"] for item in result.get("accounts", [])}
            rows = [row for row in sheet.rows if row["account"] in imported]
            result["mail"] = _send_mail(services, rows)
        return result
