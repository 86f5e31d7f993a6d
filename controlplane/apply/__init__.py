"""Apply (DESIGN D3): settings -> rendered files under ROOT -> service actions.

`Applier.plan` is pure; `Applier.apply` commits a plan (files written atomically,
actions deduplicated and ordered, previous files restored when an action fails) and
records the outcome in the operation log. A settings change is stored only once the
services took it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from controlplane import oplog, secrets
from controlplane.apply import assets, words
from controlplane.apply.commit import Result, commit
from controlplane.apply.context import build, media_ip
from controlplane.apply.plan import Plan, make_plan, read_current
from controlplane.apply.render import TEMPLATES, render_all
from controlplane.apply.targets import Action
from controlplane.config import Config
from controlplane.drivers.services import Driver
from controlplane.errors import StorageFull, VcboxError
from controlplane.i18n import N_
from controlplane.oplog import OperationLog
from controlplane.settings import Change, Settings
from controlplane.store import Documents


class ApplyFailed(VcboxError):
    status = 502
    error_id = "apply_failed"
    message = N_("The change was not applied: %(service)s refused it (%(output)s). "
                 "The previous settings are still in effect.")


class State:
    """What the drivers may read while an apply runs: the settings being applied."""

    def __init__(self) -> None:
        self.settings: dict[str, Any] = {}
        # False while a rollback re-applies the old network: no new confirm timer.
        self.confirm_network = True


def events_for(change: Change) -> list[Action]:
    """Actions a change needs that no file expresses."""
    new, old = change.new, change.old
    if change.section == "time" and new["source"] == "manual" and (
            new["manual_datetime"] != old["manual_datetime"] or old["source"] != "manual"):
        return [Action("clock", "set_time", new["manual_datetime"])]
    if change.section == "terminal-logs" and new["enabled"] != old["enabled"]:
        return [Action("freeswitch", "capture", "on" if new["enabled"] else "off")]
    return []


class Applier:
    def __init__(self, config: Config, docs: Documents, settings: Settings,
                 log: OperationLog, drivers: Mapping[str, Driver] | None = None,
                 templates: Path = TEMPLATES) -> None:
        from controlplane.drivers.registry import build_drivers

        self.config, self.docs, self.settings, self.log = config, docs, settings, log
        self.templates = templates
        self.state = State()
        self.drivers = dict(drivers) if drivers is not None else build_drivers(config,
                                                                                 self.state)
        self.lock = threading.RLock()
        network = self.drivers.get("network")
        if network is not None and hasattr(network, "on_rollback"):
            network.on_rollback = self._network_rolled_back
        self._network_before: dict[str, Any] | None = None
        # The media address of the files under ROOT (after the last good apply).
        self.media_ip: str | None = None

    def context(self, overrides: Mapping[str, dict[str, Any]] | None = None) -> dict[str, Any]:
        return build(self.settings.all(overrides), secrets.ensure(self.docs), self.config)

    def plan(self, overrides: Mapping[str, dict[str, Any]] | None = None,
             events: Iterable[Action] = (), ctx: Mapping[str, Any] | None = None) -> Plan:
        rendered = render_all(ctx if ctx is not None else self.context(overrides),
                              self.templates)
        return make_plan(rendered, read_current(self.config.root, rendered), events)

    def apply(self, overrides: Mapping[str, dict[str, Any]] | None = None,
              events: Iterable[Action] = (), actor: str = "", ip: str = "",
              target: str = "") -> tuple[Plan, Result]:
        with self.lock:
            assets.ensure(self.config.root)
            self.state.settings = self.settings.all(overrides)
            ctx = self.context(overrides)
            plan = self.plan(overrides, events, ctx)
            result = commit(plan, self.config.root, self.drivers)
            if result.ok:
                self.media_ip = ctx["vcbox_media_ip"]
            # N5: the time to confirm a network change counts from the answer on.
            for driver in self.drivers.values():
                start = getattr(driver, "start_countdown", None)
                if start is not None:
                    start()
            # A start-up render is not an administrator's action: logged only if it failed.
            # The details say what ran, put into words when the log is read.
            if not plan.empty and (target != "startup" or not result.ok):
                self.log.record(actor, ip, "apply",
                                target or ",".join(f.path for f in plan.files[:3]),
                                oplog.SUCCESS if result.ok else oplog.FAILURE,
                                words.details(plan, result))
            return plan, result

    def startup(self) -> Result:
        """Render from the store and make sure every service runs (at control-plane start)."""
        with self.lock:
            plan, result = self.apply(actor="vcbox", ip="local", target="startup")
            for driver in self.drivers.values():
                start = getattr(driver, "ensure_running", None)
                if start is not None:
                    start()
            return result

    def follow_lan_address(self) -> bool:
        """Re-render when the LAN's DHCP address is not the one the services were given
        (VCBOX_MEDIA_IP=lan): a new lease, or the first one after start-up."""
        with self.lock:
            current = media_ip(self.config, self.settings.all()["network"])
            if current == self.media_ip:
                return False
            self.apply(actor="vcbox", ip="local", target="lan-address")
            return True

    def shutdown(self) -> None:
        """Stop what this process started (local mode's child processes)."""
        for driver in self.drivers.values():
            stop = getattr(driver, "stop", None)
            if stop is not None:
                stop()

    def change(self, change: Change, actor: str = "", ip: str = "") -> tuple[Plan, Result]:
        """Apply a prepared settings change and store it once the services took it."""
        with self.lock:
            plan, result = self.apply({change.section: change.new}, events_for(change),
                                      actor, ip, change.section)
            if result.full:
                raise StorageFull()
            if not result.ok:
                failed = result.failed
                raise ApplyFailed(service=failed.service if failed else "?",
                                  output=failed.output if failed else "?")
            # Kept until confirmed: an unconfirmed change goes back to these (N5). While an
            # earlier change is pending, the settings before that one stay the target.
            if (change.section == "network"
                    and any(a.service == "network" for a in plan.actions)
                    and (self._network_before is None or not self.network_pending())):
                self._network_before = change.old
            self.settings.save(change)
            return plan, result

    def hold_network(self, plan: Plan, before: dict[str, Any]) -> None:
        """A whole store applied anew (a backup restored) changed the live network: like a
        settings change it needs the administrator's confirm (N5), else it goes back to
        `before` (the settings too)."""
        with self.lock:
            if (any(a.service == "network" for a in plan.actions)
                    and (self._network_before is None or not self.network_pending())):
                self._network_before = before

    def network_pending(self) -> bool:
        network = self.drivers.get("network")
        return bool(getattr(network, "pending", False))

    def confirm_network(self) -> bool:
        """The administrator reached the appliance after a network change: keep it."""
        network = self.drivers.get("network")
        confirmed = bool(network is not None and hasattr(network, "confirm")
                         and network.confirm())
        if confirmed:
            self._network_before = None
        return confirmed

    def _network_rolled_back(self) -> None:
        """The live network went back: put the settings and the files back too."""
        with self.lock:
            before = self._network_before
            self._network_before = None
            if before is None:
                return
            change = Change("network", self.settings.stored("network"), before)
            self.settings.save(change)
            self.state.confirm_network = False
            try:
                self.apply(actor="vcbox", ip="local", target="network rollback")
            finally:
                self.state.confirm_network = True
