"""The web admin: JSON API under /api/v1, server-rendered pages and static assets."""

from __future__ import annotations

from bottle import Bottle

from controlplane.app import Services


def install(app: Bottle, services: Services) -> None:
    from controlplane.web import (
        api_admin,
        api_oplog,
        api_session,
        api_settings,
        api_setup,
        api_status,
        openapi,
        pages,
        plugins,
        static,
    )

    plugins.install(app, services)
    for module in (api_status, api_setup, api_session, api_admin, api_settings, api_oplog,
                   openapi, pages, static):
        module.routes(app, services)
