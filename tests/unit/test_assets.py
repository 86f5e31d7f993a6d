"""Files the control plane makes once (controlplane/apply/assets.py): private keys that a
service reads as its own user are shared with that user's group on the appliance."""

from __future__ import annotations

import grp
import os
import stat
from pathlib import Path

from controlplane.apply import assets


def test_keys_are_given_to_their_services_group(tmp_path: Path, monkeypatch) -> None:
    group = grp.getgrgid(os.getgid()).gr_name
    monkeypatch.setattr(assets, "KEY_READERS", (("etc/vcbox/tls/agent.pem", group),
                                                ("etc/vcbox/tls/none.key", group),
                                                ("etc/vcbox/tls/vcbox.key",
                                                 "vcbox-no-such-group")))
    assert assets.self_signed_certificate(tmp_path)
    agent = tmp_path / "etc/vcbox/tls/agent.pem"
    assert stat.S_IMODE(agent.stat().st_mode) == 0o600
    assert assets.share_keys(tmp_path) == ["etc/vcbox/tls/agent.pem"]
    assert stat.S_IMODE(agent.stat().st_mode) == 0o640
    assert agent.stat().st_gid == os.getgid()
    # A service that is not installed keeps its key private; a second run changes nothing.
    assert stat.S_IMODE((tmp_path / assets.KEY).stat().st_mode) == 0o600
    assert assets.share_keys(tmp_path) == []
