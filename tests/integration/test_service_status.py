"""The dashboard's service status (SPEC: every service) says when FreeSWITCH was skipped
at build: the freeswitch role leaves a local fact, the control plane reads it."""

from __future__ import annotations

import json
from pathlib import Path

from controlplane.drivers.freeswitch import FACT as FREESWITCH_FACT
from tests.conftest import configured_server


def test_skipped_freeswitch_is_reported_with_the_builds_reason(tmp_path: Path) -> None:
    fact = tmp_path / "data" / "root" / FREESWITCH_FACT
    fact.parent.mkdir(parents=True)
    reason = "no package source configured (vcbox_freeswitch_deb_dir or ...)"
    fact.write_text(json.dumps({"installed": False, "reason": reason}))
    with configured_server(tmp_path) as srv:
        client = srv.client()
        assert client.login().status_code == 200
        components = client.get("/api/v1/status").json()["components"]
        assert components["freeswitch"] == {
            "status": "absent", "reason": f"FreeSWITCH is not installed: {reason}",
            "reason_id": "skipped_at_build"}
        # Away from the appliance nothing of these runs here: their configs are checked.
        assert {name: components[name] for name in
                ("janus", "coturn", "nginx", "chrony", "ssh", "firewall")} == {
            name: {"status": "checked", "reason_id": "not_run_here"} for name in
            ("janus", "coturn", "nginx", "chrony", "ssh", "firewall")}
        home = client.get("/").text  # zh-CN by default; the page's strings are JSON there
        assert json.dumps("构建本系统时未配置 FreeSWITCH 软件包来源")[1:-1] in home
