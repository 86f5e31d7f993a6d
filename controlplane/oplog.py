"""Operation log (O2): who did what, from where, when, and how it ended."""

from __future__ import annotations

import csv
import io
import time
from dataclasses import dataclass
from typing import Any

from controlplane.i18n import N_
from controlplane.store import History

# Action ids -> msgids for display (translated by the web layer).
ACTIONS: dict[str, str] = {
    "login": N_("Log in"),
    "login_failed": N_("Failed login"),
    "lockout": N_("User locked"),
    "logout": N_("Log out"),
    "session_expired": N_("Session expired"),
    "setup_admin": N_("Set up administrator"),
    "change_password": N_("Change password"),
    "change_email": N_("Change e-mail"),
    "password_reset_request": N_("Request password reset"),
    "password_reset": N_("Reset password"),
    "update_settings": N_("Change settings"),
    "test_mail": N_("Send test mail"),
    "update_setup": N_("Setup wizard"),
    "apply": N_("Apply configuration"),
    "confirm_network": N_("Confirm network change"),
    "activate_license": N_("Activate license"),
    "start_trial": N_("Start trial license"),
    "create_account": N_("Create account"),
    "update_account": N_("Edit account"),
    "reset_account_password": N_("Reset account password"),
    "delete_accounts": N_("Delete accounts"),
    "send_account_mail": N_("Send account mail"),
    "import_accounts": N_("Import accounts"),
    "create_room": N_("Create meeting room"),
    "update_room": N_("Edit meeting room"),
    "delete_rooms": N_("Delete meeting rooms"),
    "create_meeting": N_("Create meeting"),
    "update_meeting": N_("Edit meeting"),
    "delete_meetings": N_("Delete meetings"),
}

SUCCESS = "success"
FAILURE = "failure"


@dataclass(frozen=True)
class Query:
    since: float | None = None
    until: float | None = None
    search: str = ""
    limit: int | None = 50
    offset: int = 0


class OperationLog:
    def __init__(self, history: History, clock=time.time) -> None:
        self.history = history
        self.clock = clock

    def record(self, username: str, ip: str, action: str, target: str = "",
               result: str = SUCCESS, detail: str = "") -> None:
        self.history.execute(
            "INSERT INTO oplog (ts, username, ip, action, target, result, detail)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (self.clock(), username, ip, action, target, result, detail[:500]),
        )

    @staticmethod
    def _where(query: Query) -> tuple[str, list[Any]]:
        clauses, params = [], []
        if query.since is not None:
            clauses.append("ts >= ?")
            params.append(query.since)
        if query.until is not None:
            clauses.append("ts < ?")
            params.append(query.until)
        if query.search:
            clauses.append("instr(lower(username), lower(?)) > 0")
            params.append(query.search)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def find_all(self, query: Query) -> dict[str, Any]:
        where, params = self._where(query)
        total = self.history.scalar("SELECT count(*) FROM oplog")
        filtered = self.history.scalar(f"SELECT count(*) FROM oplog{where}", params)  # noqa: S608
        sql = f"SELECT * FROM oplog{where} ORDER BY ts DESC, id DESC"  # noqa: S608
        if query.limit is not None:
            sql += " LIMIT ? OFFSET ?"
            params = [*params, query.limit, query.offset]
        items = [dict(row) for row in self.history.query(sql, params)]
        return {"items": items, "total": total, "filtered": filtered}


def to_csv(rows: list[dict[str, Any]], headers: list[str], columns: list[str]) -> bytes:
    """CSV in UTF-8 with a BOM, so that Excel shows Chinese text."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(headers)
    for row in rows:
        writer.writerow([_csv_safe(row.get(col, "")) for col in columns])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _csv_safe(value: Any) -> Any:
    # A cell starting with = + - @ is a formula to Excel: neutralise it.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
