"""Janus and coturn run by the control plane's own drivers, on files it rendered under a
temp ROOT. They listen on fixed loopback ports (Janus 8088/7088, coturn 3478/5349/5766),
so only one such stack runs at a time; every process is stopped by its PID afterwards.

A test module makes its fixture with `media_stack(tmp_path)` (a context manager).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controlplane.app import Services
from controlplane.config import Config
from controlplane.drivers import processes
from tests.components import require

FIXED_PORTS = {8088: "Janus API", 7088: "Janus Admin API", 3478: "TURN", 5349: "TURN TLS",
               5766: "TURN CLI"}


def port_free(port: int, kind: int = socket.SOCK_STREAM) -> bool:
    with socket.socket(socket.AF_INET, kind) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass
class MediaStack:
    config: Config
    services: Services

    @property
    def root(self) -> Path:
        return self.config.root

    @property
    def drivers(self) -> dict[str, Any]:
        return self.services.applier.drivers

    def context(self) -> dict[str, Any]:
        return self.services.applier.context()

    def prepared(self, section: str, data: dict[str, Any]) -> dict[str, Any]:
        """The whole validated document a partial settings change gives."""
        return self.services.settings.prepare(section, data).new

    def file(self, path: str) -> bytes:
        return (self.root / path).read_bytes()


@contextmanager
def media_stack(tmp_path: Path) -> Iterator[MediaStack]:
    require("janus", "turnserver", "turnutils_uclient")
    taken = [f"{port} ({name})" for port, name in FIXED_PORTS.items()
             if not port_free(port) or not port_free(port, socket.SOCK_DGRAM)]
    assert not taken, f"ports in use by something else: {', '.join(taken)}"
    config = Config(data_dir=tmp_path / "data", root=tmp_path / "root",
                    local_services=("janus", "coturn"))
    services = Services.open(config)
    applier = services.applier
    applier.drivers = processes.drivers(config, applier.state)
    try:
        yield MediaStack(config, services)
    finally:
        applier.shutdown()
        services.close()
