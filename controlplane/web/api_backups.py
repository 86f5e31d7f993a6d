"""Backups (SPEC B1, B2; §9 Maintenance): list, create now, download, upload, restore,
delete. A restore answers 409 confirm_required without "confirm": true (the guide's
"确认还原？"); once it is done everyone is signed out (the page goes to the login)."""

from __future__ import annotations

from bottle import Bottle, HTTPResponse, request, response, static_file

from controlplane import backups as bk
from controlplane.app import Services
from controlplane.apply import words
from controlplane.errors import ConfirmRequired, TooLarge, ValidationError
from controlplane.i18n import N_, translate
from controlplane.rules import FieldError
from controlplane.web import context
from controlplane.web.api_account_import import LengthRequired
from controlplane.web.context import body, body_text_target, query_int

ENVELOPE_BYTES = 64 * 1024
RESTORE_CONFIRM = N_("Restore this backup?")  # the guide: 确认还原？
# The apply's file step, which words.SERVICES does not name (it is no service).
FILES_STEP = N_("writing the configuration files")


def _names(data: dict) -> list[str]:
    names = data.get("names")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names) \
            or len(names) > 1000:
        raise ValidationError(details={"names": N_("A list of backup names.")})
    return names


def routes(app: Bottle, services: Services) -> None:
    backups = services.backups

    @app.get("/api/v1/backups",
             summary="The backups, newest first (search, limit, offset) -> {items: [{name,"
             " size, created, created_time}], total, filtered, default_name}")
    def list_backups():
        q = request.query
        found = backups.find_all()
        needle = (q.getunicode("search", "") or "").strip().casefold()
        items = [i for i in found["items"] if needle in i["name"].casefold()]
        offset = query_int("offset", q.get("offset", ""), 0, 0, 10**9)
        limit = query_int("limit", q.get("limit", ""), 20, 1, 1000)
        return {"items": items[offset:offset + limit], "total": found["total"],
                "filtered": len(items),
                # B2: what "create backup" fills in, on the appliance's clock
                "default_name": bk.default_name(services.licenses.now())}

    @app.post("/api/v1/backups", audit="create_backup", audit_target=body_text_target("name"),
              summary='Create a backup now (optional {"name"}; default Backup + the time)')
    def create_backup():
        name = body().get("name")
        try:
            made = backups.create(name if name not in (None, "") else None)
        except FieldError as exc:
            raise ValidationError(details={"name": exc.message}) from None
        response.status = 201
        return made

    @app.post("/api/v1/backups/upload", audit="upload_backup",
              audit_target=context.upload_target(bk.MAX_UPLOAD_BYTES),
              summary="Upload a backup (multipart file): checked completely (format,"
              " checksums, no links or paths out) before it is kept")
    def upload_backup():
        if request.chunked or request.content_length < 0:
            raise LengthRequired()
        if request.content_length > bk.MAX_UPLOAD_BYTES + ENVELOPE_BYTES:
            raise TooLarge(N_("The file is larger than %(mb)s MB."),
                           mb=bk.MAX_UPLOAD_BYTES // (1024 * 1024))
        try:
            upload = request.files.get("file")
        except Exception as exc:  # a broken multipart body
            raise ValidationError(details={"file": N_("The upload could not be read.")}) \
                from exc
        if upload is None:
            raise ValidationError(details={"file": N_("Choose a backup file.")})
        response.status = 201
        return backups.store_upload(upload.file, upload.raw_filename or "")

    @app.get("/api/v1/backups/<name>", summary="Download a backup (.tar.gz)")
    def download_backup(name: str):
        path = backups.path_of(name)
        res = static_file(path.name, root=str(path.parent), download=path.name,
                          mimetype="application/gzip")
        if isinstance(res, HTTPResponse):
            res.set_header("Cache-Control", "no-store")
        return res

    @app.delete("/api/v1/backups/<name>", audit="delete_backups",
                audit_target=lambda kw: kw["name"], summary="Delete a backup")
    def delete_backup(name: str):
        backups.path_of(name)  # 404 when absent
        return {"deleted": backups.delete_many([name])}

    @app.post("/api/v1/backups/delete", audit="delete_backups",
              audit_target=lambda kw: ", ".join(_names(body()))[:500],
              summary='Delete many backups {"names": [...]} (absent ones are fine)')
    def delete_backups():
        return {"deleted": backups.delete_many(_names(body()))}

    @app.post("/api/v1/backups/<name>/restore", audit="restore_backup",
              audit_target=lambda kw: kw["name"],
              summary='Restore a backup {"confirm": true}: checked completely, then the data'
              " swapped and every config applied (the data from before put back when that"
              " fails); everyone is signed out")
    def restore_backup(name: str):
        data = body()
        backups.path_of(name)  # 404 before the question
        if data.get("confirm") is not True:
            raise ConfirmRequired(RESTORE_CONFIRM)
        try:
            return backups.restore(name, context.username(), context.client_ip())
        except bk.RestoreFailed as exc:
            step = exc.params.get("step", "")
            words_of_step = (translate(context.lang(), FILES_STEP) if step == "files"
                             else words.service_name(step, context.lang()))
            raise bk.RestoreFailed(step=words_of_step,
                                   output=exc.params.get("output", "")) from exc
