"""The CDR inbox: FreeSWITCH's call records as mod_json_cdr posts them (SPEC K1-K3).

Each record is kept once per call, as posted, in `<data>/cdr/inbox/<uuid>.json` (written
to a temporary name, fsynced, then linked: a reader never sees half a record); a record posted again
(FreeSWITCH retries, or its err-log-dir is replayed) replaces nothing. Call records and
meeting statistics read from here.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from pathlib import Path
from typing import Any

MAX_RECORD_BYTES = 1024 * 1024
_UUID = re.compile(r"^[0-9A-Fa-f-]{8,64}$")


class BadRecord(ValueError):
    """Not a call record this inbox can take (the words say why)."""


def record_uuid(record: Any) -> str:
    """The call's UUID: variables.uuid (mod_json_cdr's record of the channel)."""
    if not isinstance(record, dict):
        raise BadRecord("a call record is a JSON object")
    variables = record.get("variables")
    uuid = variables.get("uuid") if isinstance(variables, dict) else None
    if not isinstance(uuid, str) or not _UUID.match(uuid):
        raise BadRecord("the record has no call UUID (variables.uuid)")
    return uuid.lower()


def parse_record(data: bytes) -> Any:
    """A record as mod_json_cdr posts it (encode=false, encode-values=false): the JSON
    cJSON printed, its values plain text, escaped as JSON escapes them."""
    try:
        return json.loads(data.decode("utf-8"))
    except ValueError as exc:
        raise BadRecord(f"not JSON: {exc}") from None


class CdrInbox:
    def __init__(self, data_dir: Path) -> None:
        self.folder = data_dir / "cdr" / "inbox"

    def put(self, data: bytes) -> tuple[str, bool]:
        """Keep one record, as it was posted; (its call UUID, whether it was new)."""
        if len(data) > MAX_RECORD_BYTES:
            raise BadRecord("the record is too large")
        record = parse_record(data)
        uuid = record_uuid(record)
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{uuid}.json"
        if path.exists():
            return uuid, False
        tmp = self.folder / f".{uuid}.{secrets.token_hex(4)}.tmp"
        with open(tmp, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(tmp, path)  # never over a record that arrived meanwhile
            new = True
        except FileExistsError:
            new = False
        finally:
            tmp.unlink()
        return uuid, new

    def get(self, uuid: str) -> dict[str, Any] | None:
        try:
            return json.loads((self.folder / f"{uuid.lower()}.json").read_text("utf-8"))
        except (OSError, ValueError):
            return None

    def uuids(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        return sorted(p.stem for p in self.folder.glob("*.json"))
