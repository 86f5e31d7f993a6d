"""The web admin: JSON API under /api/v1, server-rendered pages and static assets."""

from __future__ import annotations

from bottle import Bottle

from controlplane.app import Services


def install(app: Bottle, services: Services) -> None:
    from controlplane.web import (
        api_account_import,
        api_accounts,
        api_admin,
        api_backups,
        api_call_records,
        api_disk,
        api_firmware,
        api_freeswitch,
        api_host,
        api_janus,
        api_join,
        api_license,
        api_live_meetings,
        api_meetings,
        api_oplog,
        api_portal,
        api_presence,
        api_rooms,
        api_session,
        api_settings,
        api_setup,
        api_status,
        api_system,
        api_system_logs,
        api_terminal_logs,
        api_turn,
        api_upgrade,
        metrics,
        openapi,
        pages,
        plugins,
        static,
    )

    plugins.install(app, services)
    for module in (api_status, api_host, api_setup, api_session, api_admin, api_settings, api_oplog,
                   api_license, api_accounts, api_account_import, api_rooms, api_meetings,
                   api_freeswitch, api_presence, api_live_meetings, api_turn, api_call_records,
                   api_terminal_logs, api_janus, api_portal, api_backups, api_join, api_firmware,
                   api_disk,
                   api_system, api_system_logs, api_upgrade, metrics,
                   openapi, pages, static):
        module.routes(app, services)
