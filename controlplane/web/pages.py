"""Server-rendered pages (DESIGN D8). Each page is a thin shell over the JSON API."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from bottle import Bottle, redirect, request
from jinja2 import Environment, FileSystemLoader, select_autoescape

from controlplane import __version__, disk, firmware, maintenance, timezones
from controlplane.app import Services
from controlplane.apply import words
from controlplane.drivers import power
from controlplane.i18n import LANGUAGES, translations
from controlplane.web import context, nav

VIEWS = Path(__file__).parent / "views"


@cache
def environment(language: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(VIEWS)),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    env.filters["tojson_attr"] = lambda v: json.dumps(v, ensure_ascii=False)
    return env


def render(name: str, **values: Any) -> str:
    language = context.lang()
    session = context.session()
    pages = request.environ["bottle.app"].config.get("vcbox.pages", set())
    values.setdefault("menu", nav.visible(pages))
    values.setdefault("active", nav.active(values["menu"], request.path))
    if session is not None:
        services = request.environ["bottle.app"].config["vcbox.services"]
        values.setdefault("idle_timeout_s", services.auth.idle_limit(session))
    return environment(language).get_template(name).render(
        lang=language,
        html_lang="zh-CN" if language == "zh_CN" else "en",
        languages=LANGUAGES,
        version=__version__,
        session=session,
        path=request.path,
        pages=pages,
        **values,
    )


def render_login(expired: bool = False) -> str:
    return render("login.html", notice="expired" if expired else "")


def render_not_found() -> str:
    """The 404 page inside the app frame (menu and header), in the UI language."""
    return render("404.html", active="")


def routes(app: Bottle, services: Services) -> None:
    pages: set[str] = app.config.setdefault("vcbox.pages", set())

    def page(path: str, template: str, values: dict[str, Any] | None = None, **options: Any):
        pages.add(path)

        def show(**kwargs: Any) -> str:
            return render(template, **(values or {}), **kwargs)

        show.__name__ = "page_" + template.replace(".html", "")
        app.route(path, "GET", show, page=True, **options)

    page("/", "home.html")
    @app.get("/login", page=True, auth="public")
    def login_page():
        if context.session() is not None:
            redirect("/")
        return render("login.html")

    page("/forgot", "forgot.html", auth="public")

    @app.get("/portal", page=True, auth="public")
    def portal_page():
        found = request.environ.get("vcbox.portal_session")
        return render("portal.html", portal_account=found.username if found else "",
                      portal_csrf=found.csrf if found else "",
                      idle_timeout_s=services.config.session_idle_s if found else 0)
    app.route("/reset/<token>", "GET", lambda token: render("reset.html", token=token),
              page=True, auth="public", name="page_reset")
    # The time zone select (T1) lists the guide's Appendix A, labelled in the UI language.
    zones = {"zones": timezones.ZONES}
    page("/setup", "setup.html", zones, auth="setup")
    page("/settings/call", "call.html")
    page("/settings/license", "license.html")
    page("/settings/network", "network.html")
    page("/settings/services", "services.html")
    page("/settings/ports", "ports.html")
    page("/settings/time", "time.html", zones)
    page("/settings/smtp", "smtp.html")
    page("/settings/syslog", "syslog.html")
    page("/settings/disk", "disk.html",
         {"parts": [(p, disk.LABELS[p]) for p in disk.PARTS],
          "subparts": list(disk.SUB_LABELS.items())})
    page("/logs/operation", "oplog.html")
    page("/logs/system", "system_logs.html")
    page("/logs/terminals", "terminal_logs.html")
    page("/maintenance/backup", "backup.html")
    # G2, G3: what each reset mode keeps and loses; what a reboot restarts here.
    page("/maintenance/restart", "restart.html", {
        "reset_modes": [(m, maintenance.KEPT[m], maintenance.LOST[m]) for m in maintenance.MODES],
        "reboot_mode": "system" if services.config.service_mode == "systemd" else "services",
        "reboot_services": [words.SERVICES.get(s, s)
                            for s in power.child_services(services.applier.drivers)]})
    page("/maintenance/upgrade", "upgrade.html")
    page("/maintenance/firmware", "firmware.html",
         {"models": [(model, model) for model in firmware.MODELS]})
    page("/status/system", "system.html")
    page("/status/online-users", "online.html")
    page("/status/meetings", "live.html")
    page("/statistics", "statistics.html")
    page("/accounts", "accounts.html")
    page("/rooms", "rooms.html")
    page("/meetings", "meetings.html", zones)
