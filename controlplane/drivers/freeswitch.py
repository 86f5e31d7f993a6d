"""FreeSWITCH's service actions (DESIGN D3, D4) over its event socket.

The verbs of apply/targets.py RULES:

- "reloadxml": `api reloadxml`. FreeSWITCH answers "+OK [Success]" or "+OK [<why the
  XML did not load>]" (still +OK), so success is the "[Success]".
- "profile_restart": `api sofia profile internal restart reloadxml`, answered "Reload
  XML [Success]" and "restarting: internal". A profile up for less than 3 s refuses
  ("must be up for at least 3 seconds"): waited for and tried once more. The restart
  itself runs in the background: the action is done once `sofia status` lists the
  profile RUNNING again (a change right after would otherwise find no profile).
- "reload <module>": `api reload <module>`, answered one line per step; any "-ERR" line
  (unloading, loading) is a failure.
- "restart": `systemctl restart freeswitch` on the appliance (systemd mode), then
  waits until the event socket answers again. In local mode with "freeswitch" in
  VCBOX_LOCAL_SERVICES, FreeSWITCH is a child process of the control plane
  (processes.LocalProcess, started with the other services at start-up) and restarting
  restarts it. Elsewhere FreeSWITCH is not vcbox's to restart: the outcome says so.

Before any verb the rendered XML must parse (processes.freeswitch_check): FreeSWITCH
would otherwise drop a broken file and run on without it.

FreeSWITCH not reachable over ESL (not installed, or not running) skips the action,
visibly: the files are written and a FreeSWITCH that starts later reads them. When it
answers with an error, the action fails with FreeSWITCH's words (ActionFailed), and
apply puts the previous files back.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

from controlplane.config import Config
from controlplane.drivers.esl import Esl, EslError, EslUnreachable
from controlplane.drivers.processes import (
    FREESWITCH_DIR,
    SPECS,
    ConfigProblem,
    LocalProcess,
    freeswitch_check,
    profile_running,
)
from controlplane.drivers.services import ActionFailed, Driver
from controlplane.drivers.system_services import find_program, systemctl, unit_status

PROFILE = "internal"
UNIT = "freeswitch"
_MODULE = re.compile(r"^mod_[a-z0-9_]+$")
_PROFILE_TOO_YOUNG = re.compile(r"must be up for at least \d+ seconds?.*?wait (\d+) second",
                                re.S | re.I)
STATUS_TIMEOUT_S = 2.0
# A restarted profile is back within a second or two; the action waits for it.
PROFILE_UP_S = 15.0


# What the freeswitch role leaves on the host (roles/freeswitch, vcbox_freeswitch_fact).
FACT = "etc/ansible/facts.d/vcbox_freeswitch.fact"


def skipped_at_build(config: Config) -> str:
    """The image build's words when it skipped FreeSWITCH (its role's fact), or ""."""
    try:
        fact = json.loads((config.root / FACT).read_text())
    except (OSError, ValueError):
        fact = {}
    if isinstance(fact, dict) and fact.get("installed") is False:
        return fact.get("reason") or "skipped at build"
    return ""


def absent_reason(config: Config) -> str:
    """Why FreeSWITCH is absent: the image build's own words when it skipped it."""
    skipped = skipped_at_build(config)
    if skipped:
        return f"FreeSWITCH is not installed: {skipped}"
    return "FreeSWITCH is not installed (no ESL connection)"


class _Skipped(Exception):
    pass


class FreeSwitch:
    name = "freeswitch"

    def __init__(self, config: Config, esl: Esl, program: str | None,
                 restart_wait_s: float = 60.0, poll_s: float = 0.5,
                 sleep: Callable[[float], None] = time.sleep,
                 process: LocalProcess | None = None) -> None:
        self.config, self.esl, self.program = config, esl, program
        self.process = process
        self.systemd = config.service_mode == "systemd"
        self.restart_wait_s, self.poll_s, self.sleep = restart_wait_s, poll_s, sleep

    # -- the Driver interface ----------------------------------------------------------------

    def run(self, verb: str, arg: str = "") -> str:
        if self.program is not None and (self.config.root / FREESWITCH_DIR).is_dir():
            try:
                freeswitch_check(self.config.root)
            except (ConfigProblem, OSError) as exc:
                raise ActionFailed(self.name, verb, f"config check: {exc}") from exc
        try:
            if verb == "reloadxml":
                return self._reloadxml()
            if verb == "profile_restart":
                return self._profile_restart(arg or PROFILE)
            if verb == "reload":
                return self._reload(arg)
            if verb == "restart":
                return self._restart()
            if verb == "capture":
                return self._capture(arg)
        except _Skipped as skipped:
            return f"skipped: {skipped}"
        raise ActionFailed(self.name, verb, f"unknown action {verb!r}")

    @property
    def reason(self) -> str:
        return absent_reason(self.config) if self.program is None else ""

    def ensure_running(self) -> str:
        return self.process.ensure_running() if self.process else "not run by vcbox here"

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def status(self) -> str:
        if self.process is not None:
            return self.process.status()
        try:
            self.esl.api("status", timeout=STATUS_TIMEOUT_S)
            return "ok"
        except EslUnreachable:
            if self.systemd and self.program is not None:
                return unit_status(UNIT)
            return "absent" if self.program is None else "stopped"
        except EslError:
            return "fail"

    # -- actions -------------------------------------------------------------------------------

    def _reloadxml(self) -> str:
        out = self._api("reloadxml", "reloadxml")
        if "[Success]" not in out:
            raise ActionFailed(self.name, "reloadxml", out.strip() or "no answer text")
        return f"reloadxml: {_first_line(out)}"

    def _profile_restart(self, profile: str) -> str:
        command = f"sofia profile {profile} restart reloadxml"
        out = self._api("profile_restart", command)
        young = _PROFILE_TOO_YOUNG.search(out)
        if young:
            # Two applies within seconds: sofia wants the profile up for 3 s first.
            self.sleep(min(int(young.group(1)), 10) + 0.2)
            out = self._api("profile_restart", command)
        words = out.strip()
        if words.startswith(f"Invalid Profile [{profile}]"):
            return self._profile_start(profile, words)
        reload = re.search(r"Reload XML \[([^\]]*)\]", words)
        if f"restarting: {profile}" not in words or (reload and reload.group(1) != "Success"):
            raise ActionFailed(self.name, "profile_restart", words or "no answer text")
        self._wait_profile_running(profile)
        return f"{command}: " + "; ".join(words.splitlines())

    def _profile_start(self, profile: str, restart_answer: str) -> str:
        """The profile is not there (it could not start on the files before, e.g. on a
        port another program holds): read the files again and start it."""
        reload = self._api("profile_restart", "reloadxml")
        if "[Success]" not in reload:
            raise ActionFailed(self.name, "profile_restart", reload.strip())
        command = f"sofia profile {profile} start"
        out = self._api("profile_restart", command).strip()
        try:
            self._wait_profile_running(profile)
        except ActionFailed as exc:
            raise ActionFailed(self.name, "profile_restart",
                               f"{restart_answer}; {command}: {out}; {exc.output}") from exc
        return f"{command}: {out}"

    def _wait_profile_running(self, profile: str = PROFILE) -> None:
        deadline = time.monotonic() + PROFILE_UP_S
        while not profile_running(self._api("profile_restart", "sofia status"), profile):
            if time.monotonic() + self.poll_s > deadline:
                raise ActionFailed(self.name, "profile_restart",
                                   f"SIP profile {profile} is not running "
                                   f"{PROFILE_UP_S:g} s after its restart (a port it cannot "
                                   "take, or an address not on this host)")
            self.sleep(self.poll_s)

    def _capture(self, state: str) -> str:
        """sofia's SIP capture to the terminal-log listener (O4), on or off."""
        if state not in ("on", "off"):
            raise ActionFailed(self.name, "capture", f"not on or off: {state!r}")
        out = self._api("capture", f"sofia global capture {state}").strip()
        if not out.startswith("+OK"):
            raise ActionFailed(self.name, "capture", out or "no answer text")
        return f"sofia global capture {state}: {out}"

    def _reload(self, module: str) -> str:
        if not _MODULE.match(module):
            raise ActionFailed(self.name, "reload", f"not a module name: {module!r}")
        out = self._api("reload", f"reload {module}")
        errors = [line for line in out.splitlines() if line.startswith("-ERR")]
        if errors:
            raise ActionFailed(self.name, "reload", out.strip())
        return f"reload {module}: " + "; ".join(out.strip().splitlines())

    def _restart(self) -> str:
        if self.process is not None:
            return self.process.run("restart")
        if not self.systemd:
            try:
                self.esl.api("status", timeout=STATUS_TIMEOUT_S)
            except EslUnreachable as exc:
                raise _Skipped(self._unreachable(exc)) from exc
            except EslError:
                pass
            raise _Skipped("FreeSWITCH is not run by vcbox here (service mode "
                           f"{self.config.service_mode!r}); restart it to read the new files")
        if self.program is None:
            raise _Skipped("FreeSWITCH is not installed here")
        systemctl(self.name, "restart", "restart", UNIT)
        # Restarted means answering again: a FreeSWITCH that came up without its event
        # socket (or not at all) fails the action, and apply restores the old files.
        started = time.monotonic()
        deadline = started + self.restart_wait_s
        last = ""
        while True:
            try:
                self.esl.api("status", timeout=min(STATUS_TIMEOUT_S, self.restart_wait_s))
                return f"restarted {UNIT}; ESL answered after {time.monotonic() - started:.1f} s"
            except EslError as exc:
                last = exc.reason
            if time.monotonic() + self.poll_s > deadline:
                raise ActionFailed(self.name, "restart",
                                   f"{UNIT} restarted but its event socket did not answer "
                                   f"within {self.restart_wait_s:g} s: {last}")
            self.sleep(self.poll_s)

    # -- helpers -------------------------------------------------------------------------------

    def _api(self, verb: str, command: str) -> str:
        deadline = 0.0
        while True:
            try:
                return self.esl.api(command)
            except EslUnreachable as exc:
                if self.process is None or self.process.pid is None:
                    raise _Skipped(self._unreachable(exc)) from exc
                # Our own FreeSWITCH runs: the link is between retries (after a restart
                # it waits out its backoff). Wait for it rather than skip the action.
                deadline = deadline or (time.monotonic() + self.esl.backoff_max
                                        + STATUS_TIMEOUT_S)
                if time.monotonic() > deadline:
                    raise ActionFailed(self.name, verb, f"FreeSWITCH runs (pid "
                                       f"{self.process.pid}) but its event socket does "
                                       f"not answer: {exc.reason}") from exc
                self.sleep(self.poll_s)
            except EslError as exc:
                raise ActionFailed(self.name, verb, exc.reason) from exc

    def _unreachable(self, exc: EslError) -> str:
        if self.program is None:
            return "FreeSWITCH not reachable over ESL (not installed here)"
        return (f"FreeSWITCH not reachable over ESL ({exc.reason}); it reads the new files "
                "when it starts")


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or [""])[0]


def drivers(config: Config, state: Any, esl: Esl) -> dict[str, Driver]:
    """{"freeswitch": its driver}, acting over this ESL connection. A build that skipped
    FreeSWITCH (its role's fact) has none, whatever else is on the host."""
    program = None if skipped_at_build(config) else find_program("freeswitch")
    process = None
    if (program is not None and config.service_mode == "local"
            and "freeswitch" in config.local_services):
        process = LocalProcess(SPECS["freeswitch"], config.root, program)
    return {"freeswitch": FreeSwitch(config, esl, program, process=process)}
