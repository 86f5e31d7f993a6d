"""The host: its use over time for the dashboard's charts (A8, controlplane.samples) and
系统信息 (S1, controlplane.sysinfo)."""

from __future__ import annotations

import logging
import time
from typing import Any

from bottle import Bottle, request

from controlplane import samples, sysinfo
from controlplane.app import Services
from controlplane.drivers.network import NetworkError

log = logging.getLogger(__name__)


def routes(app: Bottle, services: Services) -> None:
    store = samples.SampleStore(services.history)
    network = services.applier.drivers.get("network")
    details = getattr(network, "nic_details", None)

    def nics() -> list[dict[str, Any]] | None:
        if details is None:
            return None
        try:
            return details()
        except NetworkError as exc:
            log.warning("system info: the NICs cannot be read: %s", exc)
            return None

    @app.get("/api/v1/status/samples",
             summary="The host's CPU, memory, network (bytes/s, all NICs but the loopback, or"
             " ?nic=<name>) and data-disk use over a range (range: 1h|24h|7d) -> {items:"
             " [{t, cpu, memory, rx_bps, tx_bps, disk}], interval_s}")
    def host_samples():
        q = request.query
        return store.find_all(q.get("range", "") or "1h", time.time(),
                              interval_s=services.config.sample_interval_s,
                              nic=q.getunicode("nic", "") or "")

    @app.get("/api/v1/status/system",
             summary="System info: software version and build time, server (host name, CPU,"
             " memory, disk), license summary, and each NIC (addresses, gateway, MAC, DNS)")
    def system_info():
        return sysinfo.system_info(services.config.data_dir, services.licenses.current(),
                                   nics(), services.licenses.zone())
