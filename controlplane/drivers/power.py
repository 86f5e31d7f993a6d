"""The machine itself (SPEC G3, DESIGN D7): rebooting it, and which services run as the
control plane's own child processes where there is no machine of its own to reboot.

- "systemd" (the appliance): `systemctl reboot`, which systemd carries out after the
  call returned (the control plane is stopped with every other unit).
- "local" (`make run`, tests): the services the control plane started itself (local
  mode's FreeSWITCH, Janus, coturn and nginx, as VCBOX_LOCAL_SERVICES chooses) are what
  a reboot restarts; controlplane.maintenance.Reboot does it through their drivers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from controlplane.drivers.processes import LocalProcess
from controlplane.drivers.system_services import SYSTEMCTL_TIMEOUT_S, LocalNginx, run_command

# The order a start brings them up in (FreeSWITCH first: Janus's SIP plugin registers
# with it); others after, by name.
ORDER = ("freeswitch", "janus", "coturn", "nginx")


def reboot_host() -> tuple[int, str]:
    """`systemctl reboot`: (exit status, its words)."""
    return run_command(["systemctl", "reboot"], timeout=SYSTEMCTL_TIMEOUT_S)


def is_child(driver: Any) -> bool:
    """Whether the driver runs its service as a child process of the control plane
    (FreeSWITCH's driver holds its process apart from its ESL link)."""
    return (isinstance(driver, LocalProcess | LocalNginx)
            or isinstance(getattr(driver, "process", None), LocalProcess))


def child_services(drivers: Mapping[str, Any]) -> list[str]:
    """The services that run as child processes here, in their start order."""
    names = [name for name, driver in drivers.items() if is_child(driver)]
    return sorted(names, key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))
