"""Operation log (O2): who did what, from where, when, and how it ended.

An entry is stored in codes and put into words when it is read, in the reader's language
(the page and its CSV export agree with the UI language, whoever wrote the entry):
- action: an id of ACTIONS;
- target: for the actions of OBJECT_ACTIONS an id of the system's objects (OBJECTS: a
  settings section, the license ...), else a name of the admin's data (a user name, an
  account, a room), shown as it is;
- detail: a coded Detail (messages as msgids with their parameters, and a program's own
  words kept apart), or plain text (entries written before the codes, an upstream's words).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from controlplane.errors import Message
from controlplane.i18n import N_, normalize, translate
from controlplane.sections.base import Term
from controlplane.store import History, storage_full

log = logging.getLogger(__name__)

# Action ids -> msgids for display (translated by the web layer).
ACTIONS: dict[str, str] = {
    "login": N_("Log in"),
    "login_failed": N_("Failed login"),
    "lockout": N_("User locked"),
    "portal_login": N_("User portal sign-in"),
    "portal_login_failed": N_("Failed user portal sign-in"),
    "portal_logout": N_("User portal sign-out"),
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
    "create_backup": N_("Create backup"),
    "upload_backup": N_("Upload backup"),
    "restore_backup": N_("Restore backup"),
    "delete_backups": N_("Delete backups"),
    "factory_reset": N_("Factory reset"),
    "reboot": N_("Restart the system"),
    "upgrade_system": N_("System upgrade"),
    "upload_firmware": N_("Upload terminal firmware"),
    "set_latest_firmware": N_("Set the latest firmware"),
    "delete_firmware": N_("Delete terminal firmware"),
    "update_terminals": N_("Update terminals now"),
    "clean_disk": N_("Clean disk space"),
    "mute_member": N_("Mute a participant"),
    "unmute_member": N_("Unmute a participant"),
    "kick_member": N_("Remove a participant"),
    "lock_meeting": N_("Lock a meeting"),
    "unlock_meeting": N_("Unlock a meeting"),
    "end_meeting": N_("End a meeting"),
    "invite_to_meeting": N_("Invite to a meeting"),
    "join_meeting": N_("Join a meeting from a browser"),
    "export_system_logs": N_("Export system logs"),
}

SUCCESS = "success"
FAILURE = "failure"
RESULTS: dict[str, str] = {SUCCESS: N_("Success"), FAILURE: N_("Failure")}

# The objects of the system an entry can name, by the id it is recorded with.
OBJECTS: dict[str, str] = {
    "call": N_("Call settings"),
    "network": N_("Network settings"),
    "services": N_("Service settings"),
    "ports": N_("Port settings"),
    "time": N_("Time / time zone"),
    "smtp": N_("SMTP mail settings"),
    "syslog": N_("Remote syslog"),
    "terminal-logs": N_("Terminal logs"),
    "backup-schedule": N_("Automatic backup"),
    "disk": N_("Disk space"),
    # What "clean now" cleaned (controlplane.web.api_disk: disk.<part>[.<sub-part>]).
    "disk.records": N_("Meeting records"),
    "disk.server_logs": N_("Server logs"),
    "disk.server_logs.web": N_("Server logs: Web"),
    "disk.server_logs.freeswitch": N_("Server logs: FreeSWITCH"),
    "disk.server_logs.mcu": N_("Server logs: MCU"),
    "disk.server_logs.turn": N_("Server logs: TURN Server"),
    "disk.terminal_logs": N_("Terminal logs"),
    "disk.backups": N_("Backup space"),
    "disk.firmware": N_("Device firmware"),
    "license": N_("License"),
    "trial": N_("Trial license"),
    # What the control plane applied by itself.
    "startup": N_("Start of the control plane"),
    "lan-address": N_("New LAN address (DHCP)"),
    "network rollback": N_("Unconfirmed network change undone"),
    "restore": N_("Restore of a backup"),  # controlplane.backups.RESTORE_TARGET
    "restore rollback": N_("Failed restore undone"),  # ... ROLLBACK_TARGET
    "factory reset": N_("Factory reset"),  # controlplane.maintenance.RESET_TARGET
    "factory reset rollback": N_("Failed factory reset undone"),  # ... ROLLBACK_TARGET
    # What a factory reset cleared (its entry's target: maintenance.RESET_OBJECTS).
    "reset-settings": N_("Clear only the configuration of the system settings"),
    "reset-all": N_("Clear all user data"),
}
# The actions whose target is such an object (the others name the admin's data).
OBJECT_ACTIONS = frozenset({"update_settings", "update_setup", "apply", "confirm_network",
                            "test_mail", "activate_license", "start_trial", "factory_reset",
                            "clean_disk"})
# An object-action's target that is no known object (an apply from the command line).
OTHER_OBJECT = N_("Configuration of the services")

# The settings a save changed, by section and key: the labels of their pages.
SETTING_LABELS: dict[str, dict[str, str]] = {
    "call": {
        "max_video_resolution": N_("Max video resolution"),
        "max_content_resolution": N_("Max content resolution"),
        "equal_layout": N_("Equal mode"),
        "one_plus_n_layout": N_("1+N mode"),
        "polling_interval_s": N_("Automatic picture switching interval (seconds)"),
        "polling_rule": N_("Polling rule"),
        "early_join_min": N_("Early join time"),
        "ivr_language": N_("IVR language"),
        "max_uplink_kbps": N_("Max per-call uplink bandwidth"),
        "max_downlink_kbps": N_("Max per-call downlink bandwidth"),
        "ivr_number": N_("IVR access number"),
        "meet_now_number": N_("Meet Now number"),
    },
    "network": {
        "domain": N_("Local domain"),
        "lan": N_("LAN settings"),
        "wan": N_("WAN settings"),
        "nat": N_("Static NAT"),
        "routes": N_("Route rules"),
    },
    "services": {
        "http_port": N_("HTTP listening port"),
        "http_nat_port": N_("HTTP NAT mapping"),
        "https_enabled": N_("Enable HTTPS"),
        "https_port": N_("HTTPS listening port"),
        "https_nat_port": N_("HTTPS NAT mapping"),
        "ssh_enabled": N_("Enable SSH"),
        "ssh_port": N_("SSH port"),
        "sip_port": N_("SIP UDP/TCP port"),
        "sip_tls_port": N_("SIP TLS port"),
    },
    "ports": {
        "ivr": N_("IVR ports"),
        "turn": N_("TURN service ports"),
        "mcu": N_("MCU ports"),
    },
    "time": {
        "dst": N_("Daylight saving time"),
        "source": N_("Time source"),
        "sntp_server": N_("SNTP server"),
        "timezone": N_("Time zone"),
        "manual_datetime": N_("Date and time"),
    },
    "smtp": {
        "server": N_("SMTP server"),
        "sender": N_("Sender address"),
        "username": N_("User name"),
        "password": N_("Password"),
        "port": N_("Port"),
        "security": N_("Secure connection type"),
        "verify_certificate": N_("Verify the server certificate"),
    },
    "syslog": {
        "server": N_("Server address"),
        "port": N_("Port"),
        "transport": N_("Transport protocol"),
    },
    "terminal-logs": {"enabled": N_("Terminal logs")},
    "disk": {"path": N_("Default storage path"), "alert_mail": N_("Mail on high disk use"),
             "quotas": N_("Disk space quotas"),
             "server_logs_split": N_("Share of each server log")},
    "backup-schedule": {"enabled": N_("Automatic backup"), "cycle": N_("Repeat cycle"),
                        "day": N_("Day"), "time": N_("Time"), "keep": N_("Backups kept")},
}
OTHER_SETTING = N_("other settings")
CHANGED = N_("Changed: %(fields)s.")
NOTHING_CHANGED = N_("Nothing changed.")
MAX_DETAIL = 4000   # characters of a coded detail
MAX_TECHNICAL = 1500  # ... of which a program's own words


@dataclass(frozen=True)
class Detail:
    """An entry's details in codes, put into words when read.

    messages: msgids, or (msgid, params) pairs; a Term parameter (a field's label, a
    service's name) is translated with the message, a list of Terms becomes a list in
    words ("A、B" in Chinese). technical: a program's own words (a service's output, the
    configuration files written), kept as they are and shown apart from the sentence."""

    messages: tuple[Message, ...] = ()
    technical: str = ""


def changed_settings(section: str, keys: Iterable[str]) -> Detail:
    """The detail of a settings save: which settings changed, by their labels (never
    their values)."""
    labels = SETTING_LABELS.get(section, {})
    names = list(dict.fromkeys(Term(labels.get(k, OTHER_SETTING)) for k in keys))
    if not names:
        return Detail((NOTHING_CHANGED,))
    return Detail(((CHANGED, {"fields": names}),))


def _encode_value(value: Any) -> Any:
    if isinstance(value, Term):
        return {"t": str(value)}
    if isinstance(value, (list, tuple)):
        return {"l": [_encode_value(v) for v in value]}
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def _encode_message(message: Message) -> list[Any]:
    if isinstance(message, tuple):
        msgid, params = message
        return [str(msgid), {str(k): _encode_value(v) for k, v in params.items()}]
    return [str(message), {}]


def encode(detail: Detail) -> str:
    """The stored text of a detail (JSON, bounded: the program's words are cut first);
    nothing for an empty one."""
    if not detail.messages and not detail.technical:
        return ""
    messages = [_encode_message(m) for m in detail.messages]
    technical = detail.technical[:MAX_TECHNICAL]
    text = json.dumps({"m": messages, "x": technical}, ensure_ascii=False)
    while len(text) > MAX_DETAIL and messages:
        messages.pop()
        text = json.dumps({"m": messages, "x": technical}, ensure_ascii=False)
    return text


def decode(text: str) -> Detail | None:
    """The Detail of a stored text, or None for plain text."""
    if not text.startswith('{"m"'):
        return None
    try:
        doc = json.loads(text)
        messages = tuple((str(msgid), dict(params)) for msgid, params in doc["m"])
        return Detail(messages, str(doc.get("x", "")))
    except (ValueError, KeyError, TypeError):
        return None


def _join(names: Sequence[str], language: str) -> str:
    return ("、" if normalize(language) == "zh_CN" else ", ").join(names)


def _words(value: Any, language: str) -> Any:
    if isinstance(value, Mapping) and "t" in value:
        return translate(language, str(value["t"]))
    if isinstance(value, Mapping) and "l" in value:
        return _join([str(_words(v, language)) for v in value["l"]], language)
    return value


def describe(text: str, language: str) -> tuple[str, str]:
    """A stored detail in words of `language`: (the sentences, a program's own words)."""
    detail = decode(text)
    if detail is None:
        return text, ""
    sentences = []
    for message in detail.messages:
        msgid, params = message if isinstance(message, tuple) else (message, {})
        words = {k: _words(v, language) for k, v in params.items()}
        sentence = translate(language, msgid, **words).strip()
        if sentence:
            # A sentence starts with a capital ("firewall: ..." when a name starts it).
            sentences.append(sentence[:1].upper() + sentence[1:])
    sep = "" if normalize(language) == "zh_CN" else " "
    return sep.join(sentences), detail.technical


def object_name(action: str, target: str, language: str) -> str:
    """An entry's target in words: an object of the system by its name, the admin's own
    data (a user name, an account, a room) as it is."""
    if action not in OBJECT_ACTIONS:
        return target
    return translate(language, OBJECTS.get(target, OTHER_OBJECT))


def in_words(entry: Mapping[str, Any], language: str) -> dict[str, Any]:
    """A stored entry with its words: action_text, target_text, result_text, detail (the
    sentences) and detail_technical, in `language`."""
    detail, technical = describe(entry.get("detail") or "", language)
    action = entry["action"]
    return {
        **entry,
        "action_text": translate(language, ACTIONS.get(action, N_("Other operation"))),
        "target_text": object_name(action, entry.get("target") or "", language),
        "result_text": translate(language, RESULTS.get(entry["result"], entry["result"])),
        "detail": detail,
        "detail_technical": technical,
    }


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
               result: str = SUCCESS, detail: str | Detail = "") -> None:
        """detail: a Detail (put into words when read), or plain text (at most 500
        characters; words that need no translation)."""
        text = encode(detail) if isinstance(detail, Detail) else detail[:500]
        try:
            self.history.execute(
                "INSERT INTO oplog (ts, username, ip, action, target, result, detail)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (self.clock(), username, ip, action, target, result, text),
            )
        except Exception as exc:
            # A full disk must not turn a done (or refused) action into a failure, nor
            # keep the administrator from signing in to free space: the entry goes to the
            # program's log instead.
            if not storage_full(exc):
                raise
            log.warning(
                "operation log full, entry not kept: %s %s %s %s %s", username, ip, action,
                target, result)

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
        writer.writerow([csv_safe(row.get(col, "")) for col in columns])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def csv_safe(value: Any) -> Any:
    # A cell starting with = + - @ is a formula to Excel: neutralise it.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
