"""The "network apply" action: make the live network match the settings being applied,
and roll it back unless the administrator confirms in time (SPEC N5).

Where it acts comes from config.network_live: "off" (files only: development), "host"
(the appliance), or "netns:<name>" (a namespace, for tests). The persistent side is the
rendered systemd-networkd files.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from controlplane.cached import Cached
from controlplane.config import Config
from controlplane.drivers.network import (
    NetworkDriver,
    NetworkError,
    Rollback,
    link_dns,
    nameservers,
)
from controlplane.drivers.services import ActionFailed, Driver
from controlplane.sections.network import NICS, ifnames

# systemd-resolved's list of the servers it asks (/etc/resolv.conf names its stub).
RESOLVED_UPSTREAM = Path("/run/systemd/resolve/resolv.conf")
RESOLVED_STUBS = ("127.0.0.53", "127.0.0.54")
# 系统信息 reads the NICs at most this often (a netlink dump per poll cost the status soak
# its p99); a network apply or rollback reads them back at once.
NIC_DETAILS_TTL_S = 5.0


class NetworkApply:
    def __init__(self, config: Config, state: Any) -> None:
        self.config, self.state = config, state
        mode = config.network_live
        self.live = mode != "off"
        netns = mode.partition(":")[2] if mode.startswith("netns:") else None
        # On the appliance networkd owns /etc/resolv.conf; elsewhere it is under ROOT.
        resolv = None if mode == "host" else config.root / "etc" / "resolv.conf"
        self.driver = NetworkDriver({"lan": config.lan_ifname, "wan": config.wan_ifname},
                                    netns=netns, resolv_conf=resolv)
        self.rollback = Rollback(self.driver)
        # Called after an unconfirmed change was undone (the applier restores settings).
        self.on_rollback: Callable[[], None] | None = None
        self._details = Cached(NIC_DETAILS_TTL_S, self._read_details, name="nic-details")

    def run(self, verb: str, arg: str = "") -> str:
        if not self.live:
            return "files written; the live network is not changed here (VCBOX_NETWORK_LIVE)"
        doc = self.state.settings["network"]
        # The NICs the settings chose (the NIC selector), else the configured ones.
        self.driver.ifnames = ifnames(doc, self.default_ifnames)
        try:
            snapshot = self.driver.snapshot()
            self.driver.apply(doc)
        except NetworkError as exc:
            raise ActionFailed("network", verb, str(exc)) from exc
        finally:
            self._details.invalidate()
        if getattr(self.state, "confirm_network", True):
            # The count starts when the whole apply is done (Applier.apply).
            self.rollback.arm(snapshot, self.config.network_confirm_s, self._rolled_back,
                              start=False)
            return f"applied; confirm within {self.config.network_confirm_s} s or it is undone"
        return "applied"

    @property
    def default_ifnames(self) -> dict[str, str]:
        """The interface of each nic when the settings name none (VCBOX_LAN_IF/_WAN_IF)."""
        return dict(zip(NICS, (self.config.lan_ifname, self.config.wan_ifname), strict=True))

    def interfaces(self) -> list[dict[str, Any]]:
        """The interfaces the NIC selector offers: those of the namespace this driver acts
        in (the host's on the appliance, and where the live network is off)."""
        return self.driver.links()

    def nic_details(self) -> list[dict[str, Any]]:
        """系统信息's NICs (S1): the namespace's interfaces (details()) with the DNS servers
        each uses: on the appliance networkd's per-link servers, else (and where networkd
        has none for a link) the resolver's, for a NIC with an address (one without
        resolves nothing). At most NIC_DETAILS_TTL_S old."""
        return [dict(item) for item in self._details()]

    def _read_details(self) -> list[dict[str, Any]]:
        items = self.driver.details()
        shared = self.resolver_dns()
        for item in items:
            own = link_dns(item["index"]) if self.config.network_live == "host" else []
            item["dns"] = own or (shared if item["addresses"] else [])
        return items

    def resolver_dns(self) -> list[str]:
        """The name servers of the resolv.conf that holds for the namespace acted in:
        resolved's upstream list before the stub's on the appliance; the one vcbox writes
        under ROOT for a test namespace; the host's where the live network is off."""
        mode = self.config.network_live
        if mode == "host":
            files = [RESOLVED_UPSTREAM, Path("/etc/resolv.conf")]
        elif mode.startswith("netns:"):
            files = [self.config.root / "etc" / "resolv.conf"]
        else:
            files = [Path("/etc/resolv.conf")]
        for path in files:
            try:
                servers = nameservers(path.read_text())
            except OSError:
                continue
            servers = [s for s in servers if s not in RESOLVED_STUBS]
            if servers:
                return servers
        return []

    def _rolled_back(self) -> None:
        self._details.invalidate()
        if self.on_rollback is not None:
            self.on_rollback()

    def confirm(self) -> bool:
        return self.rollback.confirm()

    def start_countdown(self) -> None:
        self.rollback.start()

    @property
    def pending(self) -> bool:
        return self.rollback.pending

    def status(self) -> str:
        return "ok" if self.live else "checked"


def drivers(config: Config, state: Any) -> dict[str, Driver]:
    return {"network": NetworkApply(config, state)}
