"""System upgrade from the web admin (SPEC G1; §9 POST /api/v1/system/upgrade): the
version and build time, an uploaded release bundle verified before anything changes
(409 confirm_required with the bundle's version without the form field confirm=true),
then controlplane/upgrade_run.py's runner, and its progress, task by task."""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from pathlib import Path
from typing import Any

from bottle import Bottle, request, response

from controlplane import __version__, release, sysinfo, upgrade, upgrade_run
from controlplane import license as license_mod
from controlplane.app import Services
from controlplane.errors import ConfirmRequired, Conflict, InvalidUpload, ValidationError
from controlplane.i18n import N_, translate
from controlplane.web import context
from controlplane.web.context import uploaded_file

UPGRADE_CONFIRM = N_("Upgrade the system to version %(version)s?")
OWN_RELEASE = Path(upgrade_run.__file__).resolve().parent.parent


class InvalidRelease(InvalidUpload):
    error_id = "invalid_release"
    what_it_is_not = N_("This file is not a vcbox release that can be installed (%(why)s).")


def routes(app: Bottle, services: Services) -> None:
    config = services.config
    progress = upgrade_run.Progress(config.data_dir)

    def unavailable() -> str | None:
        """Why this control plane cannot upgrade itself (None: it can)."""
        if config.service_mode != "systemd" or not config.app_link.is_symlink() \
                or shutil.which("systemd-run") is None:
            return N_("A system upgrade runs on an installed appliance; this control plane"
                      " runs from a source checkout (make run), which git updates.")
        return None

    def public_key() -> Any:
        path = config.release_key_path
        return license_mod.load_public_key(path) if path.exists() else None

    @app.get("/api/v1/system/upgrade",
             summary="The running version and build time, whether this host can upgrade"
             " itself (unavailable: why not), whether bundles must be signed, and the last"
             " upgrade {id, state: running|done|failed|interrupted, from, to, failed_step,"
             " error, steps: [{name, status, message}]}")
    def upgrade_state():
        reason = unavailable()
        return {"version": __version__, "build_time": sysinfo.build_time(OWN_RELEASE),
                "available": reason is None,
                "unavailable": translate(context.lang(), reason) if reason else None,
                "signature_required": config.release_key_path.exists(),
                "run": shown_run(progress.shown())}

    def shown_run(run: dict[str, Any] | None) -> dict[str, Any] | None:
        """The run with its task names (and failed step) in the admin's language; each
        step keeps its Ansible name as `task`."""
        if run is None:
            return None
        lang = context.lang()

        def name(text: str) -> str:
            return upgrade_run.shown_name(text, lambda msgid: translate(lang, msgid))

        steps = [{**s, "task": s["name"], "name": name(s["name"])} for s in run["steps"]]
        failed = run.get("failed_step")
        return {**run, "steps": steps, "failed_step": name(failed) if failed else failed}

    @app.post("/api/v1/system/upgrade", audit="upgrade_system",
              audit_target=context.upload_target(upgrade.MAX_BUNDLE_BYTES),
              summary="Upload a release bundle (multipart file; confirm=true): verified"
              " (manifest, checksums, the release key's signature where one is configured,"
              " no downgrade) before anything changes, then installed by the upgrade"
              " playbook (202). 409 confirm_required with the bundle's version without"
              " confirm")
    def start_upgrade():
        reason = unavailable()
        if reason is not None:
            raise Conflict(reason)
        if progress.busy():
            raise Conflict(N_("An upgrade is already running."))
        upload = uploaded_file(upgrade.MAX_BUNDLE_BYTES, N_("Choose a release bundle."))
        incoming = progress.folder / upgrade_run.INCOMING
        shutil.rmtree(incoming, ignore_errors=True)
        incoming.mkdir(parents=True, mode=0o700)
        path = incoming / f"{uuid.uuid4().hex}.tar.gz"
        upload.save(str(path))
        try:
            try:
                manifest = release.verify(path, upgrade.MAX_BUNDLE_BYTES,
                                          public_key=public_key())
            except release.ReleaseError as exc:
                raise InvalidRelease(exc.reason) from None
            if release.parse_version(manifest.version) == release.parse_version(__version__):
                raise ValidationError(details={"file": (
                    N_("Version %(version)s is already installed."),
                    {"version": manifest.version})})
            if not release.is_upgrade(__version__, manifest.version):
                raise ValidationError(details={"file": (
                    N_("Version %(version)s is older than the installed %(current)s:"
                       " downgrades are refused."),
                    {"version": manifest.version, "current": __version__})})
            if request.forms.get("confirm") != "true":
                raise ConfirmRequired(UPGRADE_CONFIRM, version=manifest.version,
                                      build_time=manifest.build_time)
        except BaseException:
            shutil.rmtree(incoming, ignore_errors=True)
            raise
        run = progress.begin(__version__, manifest.version, manifest.build_time)
        probe = f"http://{config.listen_host}:{config.listen_port}/api/v1/setup"
        rc = upgrade_run.launch([sys.executable, "-m", "controlplane", "upgrade-run",
                                 "--bundle", str(path), "--probe-url", probe],
                                OWN_RELEASE, dict(os.environ))
        if rc != 0:
            progress.update(state="failed", failed_step=upgrade_run.STEP_UNPACK,
                            error=f"systemd-run exited with {rc}")
            shutil.rmtree(incoming, ignore_errors=True)
            raise Conflict(N_("The upgrade could not be started."))
        response.status = 202
        return {**run, "steps": []}
