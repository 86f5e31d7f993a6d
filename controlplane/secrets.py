"""Secrets the services share with the control plane, generated once per appliance.

They live in the store (never in clear in the API, never in logs, and kept out of
backups by the backup issue) and are rendered into the service configs.
"""

from __future__ import annotations

import secrets as _random
from typing import Any

from controlplane.store import Documents

DOC = "secrets"
# name -> length of the generated token
NAMES: dict[str, int] = {
    "esl_password": 24,
    "janus_api_secret": 32,
    "janus_admin_secret": 32,
    # HTTP basic password of Janus's event handler posting to the control plane
    "janus_events_password": 32,
    # signs the Janus API tokens of browser joins (janus.jcfg token_auth_secret)
    "janus_token_secret": 32,
    "turn_secret": 40,
    "turn_cli_password": 24,
    "xml_curl_password": 32,
}


def ensure(docs: Documents) -> dict[str, Any]:
    """The appliance's secrets, generating any that are missing (one atomic write)."""
    with docs.batch() as batch:
        current = dict(batch.get(DOC) or {})
        missing = [name for name in NAMES if not current.get(name)]
        for name in missing:
            current[name] = _random.token_urlsafe(NAMES[name])[: NAMES[name]]
        if missing:
            batch.put(DOC, current)
    return current
