"""Ansible callback plugin: each task's start and end as a line of the upgrade's
events.jsonl (the file named by $VCBOX_UPGRADE_EVENTS; see controlplane/upgrade_run.py),
so the web admin shows an upgrade task by task while it runs. Enabled by the runner only
(ANSIBLE_CALLBACKS_ENABLED=vcbox_progress); it writes nothing without that variable."""

from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
    name: vcbox_progress
    type: notification
    short_description: vcbox upgrade progress, one JSON line per task start and end
    description: Appends to the file named by VCBOX_UPGRADE_EVENTS.
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "notification"
    CALLBACK_NAME = "vcbox_progress"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self.path = os.environ.get("VCBOX_UPGRADE_EVENTS", "")

    def _write(self, task: str, status: str, message: str = "") -> None:
        if not self.path:
            return
        line = json.dumps({"t": round(time.time(), 3), "task": task, "status": status,
                           "message": message[:2000]}, ensure_ascii=False) + "\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode("utf-8"))
        finally:
            os.close(fd)

    @staticmethod
    def _name(task) -> str:
        return task.get_name().strip() or task.action

    def v2_playbook_on_task_start(self, task, is_conditional) -> None:
        self._write(self._name(task), "running")

    def v2_playbook_on_handler_task_start(self, task) -> None:
        self._write(self._name(task), "running")

    def v2_runner_on_ok(self, result) -> None:
        self._write(self._name(result._task),
                    "changed" if result._result.get("changed") else "ok")

    def v2_runner_on_skipped(self, result) -> None:
        self._write(self._name(result._task), "skipped")

    def v2_runner_on_failed(self, result, ignore_errors=False) -> None:
        if ignore_errors:
            self._write(self._name(result._task), "ok")
            return
        found = result._result
        message = found.get("msg") or found.get("stderr") or found.get("stdout") or ""
        self._write(self._name(result._task), "failed", str(message))

    def v2_runner_on_unreachable(self, result) -> None:
        self._write(self._name(result._task), "failed", str(result._result.get("msg", "")))
