"""Helpers shared by the settings tests: what is under ROOT, and the stored settings as the
API shows them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, NamedTuple

from tests.conftest import Client

# The sections a service reads (SPEC §9); smtp is the control plane's own.
RENDERED_SECTIONS = ("call", "network", "services", "ports", "time", "syslog")
# Keys of a GET or PUT answer that are not settings (they change by themselves, are
# derived, or say what a save did).
ANSWER_KEYS = frozenset({"server_time", "pending_confirm", "warnings", "applied", "message"})


# Runtime state that services and their config checkers keep under ROOT (pid files,
# scratch configs, logs), as they do under /run and /var/log on the appliance: not
# configuration, and rewritten by every check.
RUNTIME = ("run/", "var/log/")


class Stat(NamedTuple):
    content: bytes
    inode: int
    mtime_ns: int


def snapshot(root: Path) -> dict[str, Stat]:
    """Every file under ROOT but RUNTIME: path relative to ROOT -> content, inode and
    mtime. A symbolic link (etc/localtime) is a file whose content is "-> target"."""
    files: dict[str, Stat] = {}
    for folder, _dirs, names in os.walk(root):
        for name in names:
            path = Path(folder) / name
            if path.relative_to(root).as_posix().startswith(RUNTIME):
                continue
            st = path.lstat()
            if path.is_symlink():
                content = b"-> " + os.fsencode(os.readlink(path))
            else:
                content = path.read_bytes()
            files[path.relative_to(root).as_posix()] = Stat(content, st.st_ino, st.st_mtime_ns)
    return files


def contents(snap: dict[str, Stat]) -> dict[str, bytes]:
    return {path: stat.content for path, stat in snap.items()}


def changed_paths(before: dict[str, Stat], after: dict[str, Stat]) -> set[str]:
    """Files whose content differs, that appeared, or that went away."""
    def content(snap: dict[str, Stat], path: str) -> bytes | None:
        stat = snap.get(path)
        return None if stat is None else stat.content

    return {path for path in before.keys() | after.keys()
            if content(before, path) != content(after, path)}


def settings_doc(client: Client, section: str) -> dict[str, Any]:
    """A section as GET shows it, without the keys that are not settings."""
    res = client.get(f"/api/v1/settings/{section}")
    assert res.status_code == 200, res.text
    return {k: v for k, v in res.json().items() if k not in ANSWER_KEYS}


def all_settings(client: Client) -> dict[str, dict[str, Any]]:
    return {section: settings_doc(client, section) for section in RENDERED_SECTIONS}


def root_of(server: Any) -> Path:
    """ROOT of a test server ($VCBOX_DATA/root: conftest does not set VCBOX_ROOT)."""
    return Path(server.env.get("VCBOX_ROOT") or server.data / "root")


def put(api: Client, section: str, data: dict[str, Any], confirm: bool = True):
    """PUT a settings section, confirming the restart unless told not to."""
    return api.put(f"/api/v1/settings/{section}",
                   json={**data, "confirm": True} if confirm else data)


def put_ok(api: Client, section: str, data: dict[str, Any]) -> dict[str, Any]:
    res = put(api, section, data)
    assert res.status_code == 200, f"PUT {section} {data}: {res.text}"
    return res.json()
