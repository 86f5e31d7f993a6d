"""Which driver acts for each service, by mode: systemd on the appliance, local (child
processes and config checks under ROOT) in development and tests."""

from __future__ import annotations

from typing import Any

from controlplane.config import Config
from controlplane.drivers import clock, freeswitch, netapply, processes, system_services
from controlplane.drivers.services import Absent, Driver


def build_drivers(config: Config, state: Any) -> dict[str, Driver]:
    drivers: dict[str, Driver] = {
        "freeswitch": Absent("freeswitch", freeswitch.absent_reason(config)),
    }
    drivers.update(netapply.drivers(config, state))
    drivers.update(clock.drivers(config, state))
    drivers.update(system_services.drivers(config, state))
    drivers.update(processes.drivers(config, state))
    return drivers
