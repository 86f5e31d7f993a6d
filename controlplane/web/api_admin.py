"""The administrator's own account: password and e-mail (A5)."""

from __future__ import annotations

from bottle import Bottle

from controlplane.app import Services
from controlplane.web import context
from controlplane.web.context import body


def routes(app: Bottle, services: Services) -> None:
    auth = services.auth

    @app.get("/api/v1/admin", summary="The administrator's user name and e-mail")
    def admin():
        return auth.public_admin()

    @app.put("/api/v1/admin/password", audit="change_password",
             audit_target=lambda kw: context.username(),
             summary="Change the password (current, new, confirm); other sessions end")
    def change_password():
        auth.change_password(context.session(), body())
        return {"ok": True}

    @app.put("/api/v1/admin/email", audit="change_email",
             audit_target=lambda kw: context.username(),
             summary="Change the registered e-mail (current, new)")
    def change_email():
        auth.change_email(body())
        return auth.public_admin()
