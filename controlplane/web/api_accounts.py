"""Enterprise accounts (E1-E8): list and search, create, edit, password reset, delete one
or many, and the account mail to one or many with per-recipient results."""

from __future__ import annotations

from typing import Any

from bottle import Bottle, request, response

from controlplane import rules
from controlplane.app import Services
from controlplane.errors import NotFound, ValidationError, VcboxError
from controlplane.i18n import N_
from controlplane.web import context
from controlplane.web.context import _, body, query_int

MAX_LIMIT = 1000
AUDIT_LISTED = 20


def _send_flag(data: dict[str, Any]) -> bool:
    flag = data.pop("send_mail", False)
    if not isinstance(flag, bool):
        raise ValidationError(details={"send_mail": N_("Must be true or false.")})
    return flag


def _body_accounts() -> str:
    """The audit target of a request whose body lists accounts (never raises)."""
    try:
        data = request.json
        accounts = [str(a) for a in data.get("accounts", [])] if isinstance(data, dict) else []
    except Exception:
        return ""
    listed = ",".join(accounts[:AUDIT_LISTED])
    more = len(accounts) - AUDIT_LISTED
    return f"{listed} (+{more})" if more > 0 else listed


def _body_account() -> str:
    try:
        data = request.json
        return str(data.get("account", "")) if isinstance(data, dict) else ""
    except Exception:
        return ""


def routes(app: Bottle, services: Services) -> None:
    accounts = services.accounts

    def portal_url() -> str:
        return services.config.public_url.rstrip("/") + "/" if services.config.public_url \
            else accounts.portal_url()

    def mail_results(numbers: list[str], passwords: dict[str, str] | None) -> dict[str, Any]:
        results = accounts.send_mail(numbers, context.lang(), passwords, portal_url())
        for item in results:
            item["error"] = _(item["error"]) if item["error"] else None
        failed = sum(1 for item in results if not item["ok"])
        return {"results": results, "sent": len(results) - failed, "failed": failed}

    def mail_one(number: str, password: str | None) -> dict[str, Any]:
        """The mail after a create / edit / reset: a failure is reported, not raised (the
        change itself is done)."""
        try:
            result = mail_results([number], {number: password} if password else None)
            return result["results"][0]
        except VcboxError as exc:
            return {"account": number, "email": "", "ok": False,
                    "error": _(exc.message, **exc.params)}

    @app.get("/api/v1/accounts",
             summary="Accounts (search, limit, offset, order, direction) -> {items, total,"
             " filtered}")
    def list_accounts():
        q = request.query
        return accounts.find_all(
            search=q.getunicode("search", "") or "",
            limit=query_int("limit", q.get("limit", ""), 20, 1, MAX_LIMIT),
            offset=query_int("offset", q.get("offset", ""), 0, 0, 10**9),
            order=q.get("order", "") or "account",
            direction=q.get("direction", "") or "asc",
        )

    @app.post("/api/v1/accounts", audit="create_account",
              audit_target=lambda kw: _body_account(),
              summary="Create an account {name, account, email, send_mail?}: the answer holds"
              " the generated password (shown once)")
    def create_account():
        data = body()
        send = _send_flag(data)
        item, password = accounts.create(data)
        answer = {**item, "password": password, "server": accounts.server_info()}
        if send:
            answer["mail"] = mail_one(item["account"], password)
        response.status = 201
        return answer

    @app.post("/api/v1/accounts/delete", audit="delete_accounts",
              audit_target=lambda kw: _body_accounts(),
              summary='Delete many accounts {"accounts": [...]} (absent ones are fine)')
    def delete_accounts():
        data = body()
        return {"deleted": accounts.delete_many(data.get("accounts"))}

    @app.post("/api/v1/accounts/mail", audit="send_account_mail",
              audit_target=lambda kw: _body_accounts(),
              summary='Send the account mail {"accounts": [...], "passwords"?: {account:'
              ' password}}: a result per recipient; a password goes out only if it is the'
              " account's")
    def send_mail():
        data = body()
        unknown = set(data) - {"accounts", "passwords"}
        if unknown:
            raise ValidationError(details={k: N_("Unknown field.") for k in unknown})
        return mail_results(data.get("accounts"), data.get("passwords"))

    @app.get("/api/v1/accounts/<account>", summary="One account")
    def get_account(account: str):
        return accounts.get(account)

    @app.put("/api/v1/accounts/<account>", audit="update_account",
             summary="Edit name and e-mail {name?, email?, send_mail?} (the account number is"
             " read-only)")
    def update_account(account: str):
        data = body()
        send = _send_flag(data)
        item = accounts.update(account, data)
        if send:
            item["mail"] = mail_one(account, None)
        return item

    @app.delete("/api/v1/accounts/<account>", audit="delete_accounts",
                summary="Delete one account (deleting an absent one is fine)")
    def delete_account(account: str):
        if not accounts.exists(account):
            try:
                rules.account(account)
            except rules.FieldError as exc:
                raise NotFound(N_("No such account: %(account)s."), account=account) from exc
        return {"deleted": accounts.delete_many([account])}

    @app.post("/api/v1/accounts/<account>/password", audit="reset_account_password",
              summary="Reset the password {send_mail?}: the answer holds the new password"
              " (shown once)")
    def reset_password(account: str):
        data = body()
        send = _send_flag(data)
        if data:
            raise ValidationError(details={k: N_("Unknown field.") for k in data})
        item, password = accounts.reset_password(account)
        answer = {**item, "password": password, "server": accounts.server_info()}
        if send:
            answer["mail"] = mail_one(account, password)
        return answer
