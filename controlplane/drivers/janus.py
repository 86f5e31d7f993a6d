"""Janus (DESIGN D5): its Admin API and Janus API over HTTP with requests.

Every request carries a fresh transaction and the secret; every answer is checked for
both kinds of failure Janus reports: `"janus": "error"` (core) and
`plugindata.data.error_code` (a plugin's own error).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

import requests


class JanusError(Exception):
    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"Janus error {code}: {reason}" if code is not None else reason)
        self.code, self.reason = code, reason


def transaction() -> str:
    return secrets.token_urlsafe(12)


def check(answer: Any) -> dict[str, Any]:
    """The answer itself, or JanusError with Janus's own code and reason."""
    if not isinstance(answer, dict):
        raise JanusError(None, f"not a Janus answer: {answer!r:.200}")
    if answer.get("janus") == "error":
        error = answer.get("error") or {}
        raise JanusError(error.get("code"), str(error.get("reason", "unknown error")))
    data = (answer.get("plugindata") or {}).get("data") or {}
    if isinstance(data, dict) and data.get("error_code"):
        raise JanusError(data["error_code"], str(data.get("error", "plugin error")))
    return answer


def _post(url: str, body: dict[str, Any], timeout: float) -> dict[str, Any]:
    try:
        res = requests.post(url, json=body, timeout=timeout)
        return check(res.json())
    except requests.RequestException as exc:
        raise JanusError(None, f"{url}: {exc}") from exc
    except ValueError as exc:
        raise JanusError(None, f"{url}: not JSON ({exc})") from exc


class JanusAdmin:
    """The Admin API (`admin_secret`), e.g. http://127.0.0.1:7088/admin."""

    def __init__(self, url: str, admin_secret: str, timeout: float = 2.0) -> None:
        self.url, self.secret, self.timeout = url.rstrip("/"), admin_secret, timeout

    def request(self, janus: str, path: str = "", **fields: Any) -> dict[str, Any]:
        body = {"janus": janus, "transaction": transaction(), "admin_secret": self.secret,
                **fields}
        return _post(self.url + path, body, self.timeout)

    def info(self) -> dict[str, Any]:
        """server_info: version, local-ip, public-ip (NAT 1:1), plugins, transports ..."""
        return self.request("info")

    def sessions(self) -> list[int]:
        return list(self.request("list_sessions").get("sessions", []))

    def handles(self, session: int) -> list[int]:
        """list_handles of one session (JanusError 458, no such session, once it is gone)."""
        return list(self.request("list_handles", f"/{session}").get("handles", []))

    def handle_info(self, session: int, handle: int) -> dict[str, Any]:
        return self.request("handle_info", f"/{session}/{handle}").get("info", {})


class JanusSession:
    """One Janus API session (`api_secret`), e.g. http://127.0.0.1:8088/janus."""

    def __init__(self, url: str, api_secret: str, timeout: float = 5.0) -> None:
        self.url, self.secret, self.timeout = url.rstrip("/"), api_secret, timeout
        self.id: int | None = None

    def _send(self, janus: str, path: str = "", **fields: Any) -> dict[str, Any]:
        body = {"janus": janus, "transaction": transaction(), "apisecret": self.secret,
                **fields}
        return _post(self.url + path, body, self.timeout)

    def create(self) -> JanusSession:
        self.id = int(self._send("create")["data"]["id"])
        return self

    def attach(self, plugin: str) -> int:
        return int(self._send("attach", f"/{self.id}", plugin=plugin)["data"]["id"])

    def message(self, handle: int, body: dict[str, Any],
                jsep: dict[str, Any] | None = None) -> dict[str, Any]:
        """The answer: "success" (with plugindata) for synchronous requests, "ack" for
        asynchronous ones whose result comes as an event (see `wait_event`)."""
        extra = {"jsep": jsep} if jsep is not None else {}
        return self._send("message", f"/{self.id}/{handle}", body=body, **extra)

    def keepalive(self) -> None:
        self._send("keepalive", f"/{self.id}")

    def events(self, max_events: int = 10, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Long-poll for pending events (Janus answers a keepalive after 30 s; timeout
        cuts the wait shorter)."""
        try:
            res = requests.get(f"{self.url}/{self.id}",
                               params={"apisecret": self.secret, "maxev": max_events},
                               timeout=(self.timeout, timeout))
            answer = res.json()
        except (requests.RequestException, ValueError) as exc:
            raise JanusError(None, f"{self.url}/{self.id}: {exc}") from exc
        events = answer if isinstance(answer, list) else [answer]
        return [check(event) for event in events if event.get("janus") != "keepalive"]

    def wait_event(self, match: Callable[[dict[str, Any]], bool],
                   timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            for event in self.events(timeout=left):
                if match(event):
                    return event
        raise JanusError(None, f"no matching event within {timeout:g} s")

    def destroy(self) -> None:
        if self.id is not None:
            self._send("destroy", f"/{self.id}")
            self.id = None
