"""Disk space (SPEC D1-D3, §9 `GET /api/v1/disk`): the storage path's used and free space
with each part's use and quota, the server's folders to choose the storage path from, and
"clean now" per part and per server-log sub-part (409 confirm_required without
"confirm": true: the guide's 该操作将删除[××]，确定操作？). The settings themselves are
the `disk` section of /api/v1/settings."""

from __future__ import annotations

from bottle import Bottle, request

from controlplane import disk
from controlplane.app import Services
from controlplane.errors import ConfirmRequired
from controlplane.i18n import N_
from controlplane.web.context import _, body

CLEAN_CONFIRM = N_("This deletes [%(what)s]. Continue?")


def _target(kw: dict) -> str:
    return ".".join(["disk", kw["part"], *([kw["sub"]] if kw.get("sub") else [])])


def routes(app: Bottle, services: Services) -> None:
    files = services.disk

    @app.get("/api/v1/disk",
             summary="The storage path's space {path, total, used, free, percent,"
             " alert_mail, alert_percent, capacity_gb, parts_used} and each part {part, used,"
             " quota_gb, default_gb, min_gb[, subparts: [{sub, used, percent, quota}]]}"
             " (bytes; quotas in GB), and alert_over: whether the use is above the"
             " alert's percentage since the quota job last looked (its mail sent once)")
    def disk_report():
        alert = services.docs.get(disk.ALERT_DOC) or {}
        return {**files.report(services.settings.stored("disk")),
                "alert_over": bool(alert.get("over"))}

    @app.get("/api/v1/disk/browse",
             summary="The folders in a server folder under the allowed roots (?path=; the"
             " roots themselves without it) -> {path, parent, items: [{name, path}], roots};"
             " a path outside them (.., a link that leads out) is a field error")
    def disk_browse():
        return files.browse(request.query.getunicode("path", "") or "")

    def clean(part: str, sub: str | None):
        disk.check_part(part, sub)
        what = _(disk.LABELS[part]) + (f" / {disk.SUB_LABELS[sub]}" if sub else "")
        if body().get("confirm") is not True:
            raise ConfirmRequired(CLEAN_CONFIRM, what=what)
        return files.clean(part, sub)

    @app.post("/api/v1/disk/<part>/clean", audit="clean_disk", audit_target=_target,
              summary='Clean now {"confirm": true}: delete the part\'s files (never the'
              " latest firmware of a model, nor a file being written) -> {part, sub,"
              " deleted, freed}; 409 confirm_required without confirm")
    def clean_part(part: str):
        return clean(part, None)

    @app.post("/api/v1/disk/<part>/<sub>/clean", audit="clean_disk", audit_target=_target,
              summary='Clean now one sub-part of the server logs (web, freeswitch, mcu,'
              ' turn) {"confirm": true} -> {part, sub, deleted, freed}')
    def clean_sub(part: str, sub: str):
        return clean(part, sub)
