"""Meeting rooms (R-1): normal rooms (a name) and video rooms (a name + the enterprise
account their video terminal registers with).

Stored in the documents table "rooms", one document per room:
  {"id": str, "name": str, "kind": "normal" | "video", "bound_account": str, "created": float}

Choices the guide leaves open:
- `id` is generated (16 hex digits), never reused, and stable across renames; the tinydb
  document ids underneath are an implementation detail.
- Names (R7: 1-255 characters, trimmed) are unique per kind, case-insensitively: a normal
  and a video room may share a name, two video rooms may not.
- The kind is chosen when the room is created and cannot be changed (the guide's edit
  dialogs only change the name and, for video rooms, the account).
- A video room is created bound to an existing account; one account binds at most one
  video room. When accounts are deleted (unbind_accounts), their rooms stay and show as
  unbound (bound_account ""), to be bound again by an edit; an edit cannot unbind a room
  (sending "" for an unbound room's account is no change, so its name can be edited).
- The device model of a room is that of its bound account's registered terminal, which
  only live registration state knows: `device_model_of(account) -> str` is injected by
  whoever owns that state (it answers "" until then).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from controlplane import rules
from controlplane.errors import Conflict, NotFound, ValidationError
from controlplane.i18n import N_
from controlplane.rules import Field, FieldError
from controlplane.store import Documents

TABLE = "rooms"
NORMAL, VIDEO = "normal", "video"
KINDS = (NORMAL, VIDEO)
ORDERS = ("created", "name", "kind", "bound_account")
LIST_FIELDS = {"kind": rules.one_of("all", *KINDS), "order": rules.one_of(*ORDERS),
               "direction": rules.one_of("asc", "desc")}


class AccountDirectory(Protocol):
    def exists(self, account: str) -> bool: ...


def _kind(value: Any) -> str:
    return rules.one_of(*KINDS)(value)


def _account_or_empty(value: Any) -> str:
    if value == "":
        return ""
    return rules.account(value)


def _fold(value: str) -> str:
    return value.casefold()


class Rooms:
    def __init__(self, docs: Documents, accounts: AccountDirectory, clock=time.time) -> None:
        self.docs, self.accounts, self.clock = docs, accounts, clock
        # The device model registered by an account's terminal ("" when unknown).
        self.device_model_of: Callable[[str], str] = lambda account: ""

    # -- reading -------------------------------------------------------------------------

    def _rows(self) -> Mapping[str, dict[str, Any]]:
        """The stored rooms by tinydb id, without a copy: never mutate."""
        return self.docs.storage.read().get(TABLE, {})

    def _public(self, room: Mapping[str, Any]) -> dict[str, Any]:
        account = room.get("bound_account", "")
        return {
            "id": room["id"],
            "name": room["name"],
            "kind": room["kind"],
            "bound_account": account,
            "device_model": (self.device_model_of(account) or "") if account else "",
            "created": room["created"],
        }

    def find(self, room_id: str) -> dict[str, Any] | None:
        for room in self._rows().values():
            if room["id"] == room_id:
                return self._public(room)
        return None

    def get(self, room_id: str) -> dict[str, Any]:
        room = self.find(room_id)
        if room is None:
            raise NotFound(N_("No such meeting room."))
        return room

    def find_all(self, kind: str = "all", search: str = "", limit: int | None = 50,
                 offset: int = 0, order: str = "created",
                 direction: str = "desc") -> dict[str, Any]:
        """{items, total, filtered, counts}: total counts the rooms of `kind`, filtered
        those that also match `search` (a substring of the name, the bound account or its
        device model, case-insensitive); counts gives the rooms of each kind (tabs)."""
        rules.validate({"kind": kind, "order": order, "direction": direction}, LIST_FIELDS)
        rooms = [self._public(r) for r in self._rows().values()]
        counts = {"all": len(rooms), NORMAL: 0, VIDEO: 0}
        for room in rooms:
            counts[room["kind"]] += 1
        if kind != "all":
            rooms = [r for r in rooms if r["kind"] == kind]
        total = len(rooms)
        needle = _fold(search.strip())
        if needle:
            rooms = [r for r in rooms if any(needle in _fold(r[key]) for key in
                                             ("name", "bound_account", "device_model"))]

        def sort_key(room: dict[str, Any]) -> tuple:
            value = room[order]
            return (_fold(value) if isinstance(value, str) else value, room["created"],
                    _fold(room["name"]), room["id"])

        rooms.sort(key=sort_key, reverse=direction == "desc")
        end = None if limit is None else offset + limit
        return {"items": rooms[offset:end], "total": total, "filtered": len(rooms),
                "counts": counts}

    # -- checks --------------------------------------------------------------------------

    def _check_unique(self, rows: Mapping[str, dict[str, Any]], kind: str, name: str,
                      bound_account: str, room_id: str = "") -> None:
        details: dict[str, Any] = {}
        for other in rows.values():
            if other["id"] == room_id:
                continue
            if other["kind"] == kind and _fold(other["name"]) == _fold(name):
                details["name"] = (N_("A normal room with this name already exists.")
                                   if kind == NORMAL else
                                   N_("A video room with this name already exists."))
            if bound_account and other.get("bound_account") == bound_account:
                details["bound_account"] = (
                    N_("Account %(account)s is already bound to the room %(room)s."),
                    {"account": bound_account, "room": other["name"]})
        if details:
            raise Conflict(details=details)

    def _check_account(self, account: str) -> None:
        if not self.accounts.exists(account):
            raise ValidationError(details={"bound_account": (
                N_("There is no account %(account)s."), {"account": account})})

    # -- writing -------------------------------------------------------------------------

    def create(self, data: Any) -> dict[str, Any]:
        clean = rules.validate(data, {
            "name": rules.room_name,
            "kind": _kind,
            "bound_account": Field(_account_or_empty, required=False),
        })
        kind, account = clean["kind"], clean.get("bound_account", "")
        if kind == NORMAL and account:
            raise ValidationError(details={
                "bound_account": N_("Only video rooms are bound to an account.")})
        if kind == VIDEO and not account:
            raise ValidationError(details={
                "bound_account": N_("Choose the account of the room's video terminal.")})
        with self.docs.batch() as batch:
            rows = batch.rows(TABLE)
            if account:
                self._check_account(account)
            self._check_unique(rows, kind, clean["name"], account)
            ids = {r["id"] for r in rows.values()}
            room_id = secrets.token_hex(8)
            while room_id in ids:
                room_id = secrets.token_hex(8)
            room = {"id": room_id, "name": clean["name"], "kind": kind,
                    "bound_account": account, "created": self.clock()}
            key = str(max((int(k) for k in rows), default=0) + 1)
            rows[key] = room
        return self._public(room)

    def update(self, room_id: str, data: Any) -> dict[str, Any]:
        """Change the name and, for a video room, the bound account. The kind may be sent
        (the UI sends the whole form) but must not change."""
        clean = rules.validate(data, {
            "name": rules.room_name,
            "kind": _kind,
            "bound_account": _account_or_empty,
        }, partial=True)
        with self.docs.batch() as batch:
            rows = batch.rows(TABLE)
            key = next((k for k, r in rows.items() if r["id"] == room_id), None)
            if key is None:
                raise NotFound(N_("No such meeting room."))
            room = rows[key]
            if clean.get("kind", room["kind"]) != room["kind"]:
                raise ValidationError(details={
                    "kind": N_("The kind of a room cannot be changed.")})
            account = clean.get("bound_account")
            if account is not None:
                if room["kind"] == NORMAL and account:
                    raise ValidationError(details={
                        "bound_account": N_("Only video rooms are bound to an account.")})
                if room["kind"] == VIDEO and not account and room["bound_account"]:
                    raise ValidationError(details={
                        "bound_account": N_("Choose the account of the room's video terminal.")})
                if account and account != room["bound_account"]:
                    self._check_account(account)
            name = clean.get("name", room["name"])
            new_account = room["bound_account"] if account is None else account
            self._check_unique(rows, room["kind"], name, new_account, room_id)
            room["name"], room["bound_account"] = name, new_account
        return self._public(room)

    def delete_many(self, ids: Iterable[str]) -> list[str]:
        """Delete the rooms with these ids (desired state: unknown ids are fine). Returns
        the ids that were deleted."""
        wanted = set(ids)
        if not wanted:
            return []
        deleted: list[str] = []
        with self.docs.batch() as batch:
            rows = batch.rows(TABLE)
            for key in [k for k, r in rows.items() if r["id"] in wanted]:
                deleted.append(rows.pop(key)["id"])
        return deleted

    def unbind_accounts(self, accounts: set[str]) -> list[str]:
        """Clear the bindings of these (deleted) accounts; returns the ids of the rooms that
        were bound to one. Must run outside the caller's docs.batch() (after it commits)."""
        if not accounts:
            return []
        unbound: list[str] = []
        with self.docs.batch() as batch:
            rows = batch.rows(TABLE)
            for room in rows.values():
                if room.get("bound_account") and room["bound_account"] in accounts:
                    room["bound_account"] = ""
                    unbound.append(room["id"])
        return unbound

    def bound_rooms(self) -> dict[str, str]:
        """account -> id of the video room it is bound to."""
        return {r["bound_account"]: r["id"] for r in self._rows().values()
                if r.get("bound_account")}


def parse_ids(data: Any) -> list[str]:
    """The {"ids": [...]} body of a batch delete."""
    def ids(value: Any) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise FieldError(N_("A list of room ids."))
        if len(value) > 10000:
            raise FieldError(N_("At most %(max)s items."), max=10000)
        return value

    return rules.validate(data, {"ids": ids})["ids"]
