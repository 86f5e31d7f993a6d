"""Terminal firmware (SPEC U1, §9): list, upload (or check a file first), replace, latest
per model, delete one or many, update now (409 confirm_required without "confirm": true);
and the files terminals fetch without a session: /firmware/<model folder>/<file> and
/provisioning/<model folder>.cfg."""

from __future__ import annotations

from typing import Any

from bottle import Bottle, HTTPResponse, request, response, static_file

from controlplane import firmware as fw
from controlplane.app import Services
from controlplane.errors import ConfirmRequired, NotFound, Unavailable, ValidationError
from controlplane.i18n import N_
from controlplane.presence import PROFILE
from controlplane.timezones import local_time
from controlplane.web.context import body, query_int, upload_target, uploaded_file

UPDATE_CONFIRM = N_("Update every registered %(model)s whose version differs to %(version)s?")
TRUE = ("1", "true", "on", "yes")


def _names(data: dict[str, Any]) -> list[str]:
    names = data.get("names")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValidationError(details={"names": N_("A list of file names.")})
    return names


def routes(app: Bottle, services: Services) -> None:
    files = services.firmware

    @app.get("/api/v1/firmware", summary="Firmware files {items: [{name, model, version,"
             " size, uploaded, uploaded_time, latest}], total, filtered, counts}"
             " newest first (search; kind: a model or all; offset, limit), and the models"
             " [{model, registered, outdated, latest}] with their registered devices and"
             " those whose version differs from the latest")
    def list_firmware():
        q = request.query
        kind = q.getunicode("kind", "") or ""
        found = files.find_all(search=q.getunicode("search", "") or "",
                               model="" if kind in ("", "all") else kind)
        offset = query_int("offset", q.get("offset", ""), 0, 0, 10**9)
        limit = query_int("limit", q.get("limit", ""), 100, 1, 1000)
        zone = services.licenses.zone()
        found["items"] = [{**i, "uploaded_time": local_time(i["uploaded"], zone)}
                          for i in found["items"][offset: offset + limit]]
        found["models"] = fw.models(services.presence.devices(), found.pop("latest"))
        return found

    @app.post("/api/v1/firmware", audit="upload_firmware",
              audit_target=upload_target(fw.MAX_BYTES),
              summary="Upload a .rom file (multipart file; model when its name names none;"
              " replace=<file> replaces that non-latest file; ?check=1 only says the model"
              " and version it would get, nothing kept). A new file becomes its model's"
              " latest")
    def upload_firmware():
        upload = uploaded_file(fw.MAX_BYTES, N_("Choose a firmware file (.rom)."))
        check = (request.query.get("check") or "").lower() in TRUE
        model = request.forms.getunicode("model", "") or None
        replace = request.forms.getunicode("replace", "") or None
        made = files.add(upload.file, upload.raw_filename or "", model=model,
                         replace=replace, check_only=check)
        response.status = 200 if check or replace else 201
        return made

    @app.post("/api/v1/firmware/<name>/latest", audit="set_latest_firmware",
              audit_target=lambda kw: kw["name"],
              summary='Set or clear the latest firmware of its model {"latest": bool}')
    def latest_firmware(name: str):
        latest = body().get("latest")
        if not isinstance(latest, bool):
            raise ValidationError(details={"latest": N_("true or false.")})
        return files.set_latest(name, latest)

    @app.delete("/api/v1/firmware/<name>", audit="delete_firmware",
                audit_target=lambda kw: kw["name"],
                summary="Delete a firmware file (not the latest of its model)")
    def delete_firmware(name: str):
        files.find(name)
        return {"deleted": files.delete_many([name])}

    @app.post("/api/v1/firmware/delete", audit="delete_firmware",
              audit_target=lambda kw: ", ".join(_names(body()))[:500],
              summary='Delete firmware files {"names": [...]}; none when one is a latest')
    def delete_many_firmware():
        return {"deleted": files.delete_many(_names(body()))}

    @app.post("/api/v1/firmware/<model>/update", audit="update_terminals",
              audit_target=lambda kw: kw["model"],
              summary='Update now {"confirm": true}: the model\'s provisioning file names its'
              " latest firmware, and every registered device of that model whose version"
              " differs gets a SIP NOTIFY check-sync -> {model, version, notified: [...],"
              " up_to_date}. 409 confirm_required without confirm")
    def update_now(model: str):
        item = files.latest_of(model)
        if body().get("confirm") is not True:
            raise ConfirmRequired(UPDATE_CONFIRM, model=model, version=item["version"])
        files.write_provisioning(model, services.accounts.portal_url())
        of_model = fw.of_model(services.presence.devices(), model)
        outdated = fw.outdated(of_model, model, item["version"])
        notified = []
        for device in outdated:
            try:
                services.esl.api(f"sofia profile {PROFILE} check_sync {device.call_id}")
            except Exception as exc:  # noqa: BLE001 -- FreeSWITCH away: say so
                raise Unavailable(reason=str(exc)) from exc
            notified.append({"account": device.account, "ip": device.ip,
                             "version": device.version})
        return {"model": model, "version": item["version"], "notified": notified,
                "up_to_date": len(of_model) - len(outdated)}

    # -- what terminals fetch (no session: a provisioning server's files) ----------------

    @app.get("/firmware/<folder>/<name>", auth="public", name="firmware_file")
    def firmware_file(folder: str, name: str):
        model = next((m for m, f in fw.MODELS.items() if f == folder), None)
        if model is None:
            raise NotFound(N_("No such firmware file."))
        path = files.path_of(model, name)
        return static_file(path.name, root=str(path.parent),
                           mimetype="application/octet-stream")

    @app.get("/provisioning/<name>", auth="public", name="provisioning_file")
    def provisioning_file(name: str):
        path = files.provisioning / name
        if path.parent != files.provisioning or not path.is_file():
            raise NotFound(N_("No such provisioning file."))
        res = static_file(path.name, root=str(path.parent), mimetype="text/plain")
        if isinstance(res, HTTPResponse):
            res.set_header("Cache-Control", "no-store")
        return res
