"""License keys and serials for tests: a key pair of their own, and serials signed with it.

    keys = make_keys(tmp_path)                         # tmp_path/license/{private,public}.pem
    srv = make_server(tmp_path, **keys.env)            # or inproc(**keys.config)
    serial = keys.serial()                             # valid from yesterday for a year
    client.post("/api/v1/license", json={"serial": serial})

or, for a server or client that is already up and logged in: `activate(client, keys)`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from controlplane import license as lic


@dataclass(frozen=True)
class LicenseKeys:
    private: Path
    public: Path
    key: Ed25519PrivateKey

    @property
    def env(self) -> dict[str, str]:
        """Keyword arguments for make_server/configured_server: the server trusts this key."""
        return {"vcbox_license_pubkey": str(self.public)}

    @property
    def config(self) -> dict[str, str]:
        """Config fields (the integration suite's inproc(**config)): the app trusts this key."""
        return {"license_pubkey": str(self.public)}

    def serial(self, serial: str = "TEST-0001", concurrency: int = 100,
               valid_from: dt.date | str | None = None, expires: dt.date | str | None = None,
               days: int = 365) -> str:
        """A serial signed with this key; by default valid from yesterday for `days` days."""
        today = dt.date.today()
        start = valid_from or today - dt.timedelta(days=1)
        end = expires or today + dt.timedelta(days=days)
        return lic.issue(self.key, serial, concurrency, str(start), str(end))


def make_keys(folder: Path) -> LicenseKeys:
    """A fresh Ed25519 key pair in folder/license (made by the same code as the CLI)."""
    private, public = lic.keygen(folder / "license")
    return LicenseKeys(private, public, lic.load_private_key(private))


def activate(client: Any, keys: LicenseKeys, **terms: Any) -> dict[str, Any]:
    """Activate a fresh serial through the API with a logged-in tests.conftest.Client."""
    res = client.post("/api/v1/license", json={"serial": keys.serial(**terms)})
    assert res.status_code == 200, res.text
    return res.json()


@contextmanager
def licensed_server(folder: Path, **env: str) -> Iterator[Any]:
    """A started, configured server with a license activated through the API; stopped
    after. env: extra environment (e.g. ssl_cert_file for SMTP with the test CA)."""
    from tests.conftest import configured_server

    keys = make_keys(folder)
    with configured_server(folder, **env, **keys.env) as srv:
        client = srv.client()
        assert client.login().status_code == 200
        activate(client, keys)
        yield srv
